"""Every experiment end to end in quick mode: a report with figures and a strict JSON whose
series are all there and hold finite numbers."""
import json
import math
import re

import pytest
from json_numbers import numbers

pytest.importorskip("matplotlib", reason="the experiment reports need the 'report' extra")
pytest.importorskip("umap", reason="the sparse-labels experiment needs umap-learn (the 'report' extra)")

from saeviz.experiments import (  # noqa: E402
    EXPERIMENTS,  # noqa: E402
    confidence,
    gamma,
    sparse_labels,
    structure,
)
from saeviz.experiments.__main__ import main  # noqa: E402

pytestmark = pytest.mark.slow


def run_quick(name, tmp_path, *extra):
    out = tmp_path / name
    assert main([name, "--quick", "--out", str(out), *extra]) == 0
    results = json.loads((out / "results.json").read_text())
    found = list(numbers(results))
    assert found and all(math.isfinite(v) for _, v in found), [p for p, v in found if not math.isfinite(v)]
    assert results["quick"] is True
    report = (out / "report.md").read_text()
    figures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", report)
    assert figures
    for fig in figures:
        assert (out / fig).stat().st_size > 1000
    assert "Quick run" in report and "Partial run" not in report
    return results, report


def is_summary(s, n):
    return (isinstance(s, dict) and s["n"] == n and len(s["values"]) == n
            and all(math.isfinite(v) for v in s["values"]) and s["min"] <= s["mean"] <= s["max"])


def test_every_experiment_is_registered_with_a_description():
    assert set(EXPERIMENTS) >= {"structure", "sparse_labels", "gamma", "confidence", "guided"}
    assert all(m.DESCRIPTION for m in EXPERIMENTS.values())


def test_sparse_labels(tmp_path):
    results, report = run_quick("sparse_labels", tmp_path)
    q = sparse_labels.QUICK
    assert results["complete"] and [r["seed"] for r in results["seeds"]] == list(q.seeds)
    for f in q.fractions:
        entry = results["summary"][str(f)]
        assert entry["n_labeled"] >= 2
        for m in sparse_labels.METHODS + ("aae_argmax",):
            assert is_summary(entry[m], len(q.seeds)) and 0.0 <= entry[m]["mean"] <= 1.0, m
    n = [results["summary"][str(f)]["n_labeled"] for f in q.fractions]
    assert n == sorted(n) and n[-1] == results["dataset"]["n_train"]
    for m in sparse_labels.METHODS:
        assert sparse_labels.NAMES[m] in report


def test_sparse_labels_runs_the_fractions_and_methods_asked_for(tmp_path):
    results, report = run_quick("sparse_labels", tmp_path, "--fractions", "0.1", "--methods", "aae,spreading")
    assert results["settings"]["fractions"] == [0.1]
    assert results["settings"]["methods"] == ["sae", "aae", "spreading"]  # the SAE always runs
    entry = results["summary"]["0.1"]
    assert {"sae", "aae", "aae_argmax", "spreading"} <= set(entry) and "classifier" not in entry
    assert "--fractions 0.1 --methods sae,aae,spreading" in report
    assert main(["sparse_labels", "--quick", "--methods", "sae,best", "--out", str(tmp_path / "bad")]) == 2


def test_sparse_labels_resume_runs_only_the_missing_seeds(tmp_path):
    out = tmp_path / "sl"
    assert main(["sparse_labels", "--quick", "--seeds", "1", "--out", str(out)]) == 0
    first = json.loads((out / "results.json").read_text())
    assert [r["seed"] for r in first["seeds"]] == [0]

    lines = []
    resumed = sparse_labels.run(out, quick=True, seeds=2, resume=True, log=lines.append)
    assert [r["seed"] for r in resumed["seeds"]] == [0, 1] and resumed["complete"]
    assert resumed["seeds"][0] == first["seeds"][0]  # kept as it was, not run again
    assert any("resuming: seeds [0]" in line for line in lines)
    assert sum("seed 0" in line for line in lines) == 0 and any("seed 1" in line for line in lines)
    assert resumed["seconds"] > first["seconds"]
    assert is_summary(resumed["summary"]["1.0"]["sae"], 2)

    with pytest.raises(ValueError, match="epochs"):  # other settings: nothing is mixed
        sparse_labels.run(out, quick=True, seeds=3, epochs=1, resume=True, log=lines.append)


def test_an_interrupted_sparse_labels_run_keeps_the_fractions_it_finished(tmp_path):
    """Ctrl-C during the second labeled fraction: the first one's numbers are in the report and
    results.json; --resume runs the unfinished seed again and completes the run."""
    out = tmp_path / "sl"
    lines = []

    def log(line):
        lines.append(line)
        if sum("labels:" in x for x in lines) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        sparse_labels.run(out, quick=True, seeds=1, log=log)
    first, last = sparse_labels.QUICK.fractions
    partial = json.loads((out / "results.json").read_text())
    assert not partial["complete"] and list(partial["summary"]) == [str(first)]
    assert list(partial["seeds"][0]["fractions"]) == [str(first)]
    report = (out / "report.md").read_text()
    assert "Partial run**: 0 of 1 seeds finished, seed 0 ran 1 of its 2 labeled fractions" in report
    assert f"| {100 * first:g}% |" in report and f"| {100 * last:g}% |" not in report

    resumed = sparse_labels.run(out, quick=True, seeds=1, resume=True, log=lines.append)
    assert resumed["complete"] and set(resumed["summary"]) == {str(first), str(last)}
    assert "resuming" not in " ".join(lines)  # the unfinished seed is not kept, it runs again
    assert "Partial run" not in (out / "report.md").read_text()


def test_gamma(tmp_path):
    results, _ = run_quick("gamma", tmp_path)
    q = gamma.QUICK
    assert results["complete"] and set(results["datasets"]) == set(q.datasets)
    for d in results["datasets"].values():
        s = d["summary"]
        for series in ("error", "rmse", "train_rmse"):
            assert len(s[series]) == len(q.gammas)
            assert all(is_summary(x, len(d["seeds"])) for x in s[series])
        assert all(x["mean"] > 0 for x in s["rmse"])
        assert [r["gamma"] for r in d["seeds"][0]["rows"]] == list(q.gammas)


def test_structure(tmp_path):
    results, report = run_quick("structure", tmp_path)
    assert results["complete"]
    for name, d in results["datasets"].items():
        for kind in structure.MODELS:
            for m in ("silhouette", "silhouette_2d", "svm_error"):
                assert is_summary(d["summary"][kind][m], len(structure.QUICK.seeds))
            assert -1.0 <= d["summary"][kind]["silhouette"]["mean"] <= 1.0
        assert f"structure_{name}.png" in report


def test_confidence(tmp_path):
    results, _ = run_quick("confidence", tmp_path)
    for d in results["datasets"].values():
        for m in confidence.METHODS:
            p = d["pooled"][m]
            for kind in confidence.KINDS:
                rel = p[kind]
                assert 0.0 <= rel["ece"] <= 1.0 and sum(rel["counts"]) == rel["n"] > 0
            k = len(d["classes"])
            assert p["per_class"]["n"] == k * p["top_label"]["n"]
            assert sum(p["histogram"]["counts"]) == p["top_label"]["n"]
            assert is_summary(d["summary"][m]["error"], len(d["seeds"]))


def test_guided(tmp_path):
    results, _ = run_quick("guided", tmp_path)
    assert set(results["summary"]["arms"]) == set(results["settings"]["arms"])


def test_structure_on_bodies(tmp_path, anny_cache):
    """The networks behind a fixed basis (the bodies' architecture) go through the same path."""
    results, _ = run_quick("structure", tmp_path, "--dataset", "bodies")
    d = results["datasets"]["bodies"]
    assert d["model"]["architecture"] == "basis"
    assert d["seeds"][0]["models"]["aae"]["code_dim"] == 2 + d["model"]["latent_dim"]


def test_bodies_study_reports_sae_against_plain_and_raw_vertices(tmp_path, anny_cache):
    from saeviz.experiments import bodies_study

    out = tmp_path / "bodies"
    assert main(["bodies", "--quick", "--count", "240", "--epochs", "3", "--gammas", "0", "0.5",
                 "--out", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())
    found = list(numbers(results))
    assert found and all(math.isfinite(v) for _, v in found)
    assert results["data"]["n_train"] + results["data"]["n_test"] == 240
    table = results["summary"]["gammas"]
    assert set(table) == {"0.0", "0.5"}
    for row in table.values():
        assert is_summary(row["accuracy"], 1) and 0.0 <= row["accuracy"]["mean"] <= 1.0
        assert is_summary(row["rmse"], 1) and row["rmse"]["mean"] > 0
    assert table["0.0"]["rmse_ratio"]["mean"] == pytest.approx(1.0)
    assert is_summary(results["summary"]["raw_vertices"]["accuracy"], 1)

    report = (out / "report.md").read_text()
    assert "plain autoencoder (gamma 0)" in report and "SAE, gamma 0.5" in report and "raw vertices" in report
    assert (out / bodies_study.FIGURE).stat().st_size > 1000
    command = f"python -m saeviz.experiments bodies --quick --count 240 --epochs 3 --gammas 0 0.5 --out {out}"
    assert f"`{command}`" in report
    # the report is a function of results.json alone: rewriting it gives the same text
    (out / "report.md").unlink()
    bodies_study.write_report(out, results)
    assert (out / "report.md").read_text() == report


def test_seeds_can_be_shared_between_processes():
    assert sparse_labels.settings_for(seeds=2, first_seed=3).seeds == (3, 4)
    assert sparse_labels.settings_for(first_seed=1).seeds == (1, 2, 3, 4, 5)
    assert sparse_labels.settings_for().seeds == sparse_labels.FULL.seeds


def test_bad_settings_are_refused(tmp_path, capsys):
    assert main(["sparse_labels", "--quick", "--epochs", "0", "--out", str(tmp_path / "x")]) == 2
    assert "epochs" in capsys.readouterr().err


def test_sparse_labels_takes_the_paper_datasets_and_the_label_spreading_peer():
    for name in ("mnist", "fashion-mnist", "bodies", "digits"):
        assert sparse_labels.settings_for(quick=True, dataset=name).dataset == name
    assert "spreading" in sparse_labels.METHODS
    assert sparse_labels.NAMES["spreading"] == "kNN label spreading on PCA-50"


def test_few_labels_reports_the_paper_sae_its_extensions_and_peers_per_epoch(tmp_path):
    from saeviz.experiments import few_labels

    results, report = run_quick("few_labels", tmp_path, "--epochs", "3", "--spread-every", "2")
    (seed,) = results["seeds"]
    frac = str(few_labels.QUICK.fractions[0])
    sae = seed["networks"][f"sae@{frac}"]
    assert [p["epoch"] for p in sae] == [1, 2, 3]
    assert all(f"{frac}/svm" in p and f"{frac}/knn" in p for p in sae)
    # label spreading reads the codes at epoch 2 (every 2nd) and at the last epoch only
    assert [p["epoch"] for p in sae if f"{frac}/label-spreading" in p] == [2, 3]
    self_training = seed["networks"][f"self@{frac}"]
    assert self_training[0]["pseudo_labels"] == 0 and self_training[-1]["pseudo_labels"] > 0
    assert len(seed["networks"][f"classifier@{frac}"]) == 3 and len(seed["networks"]["ae"]) == 3
    assert "recon_mse" in sae[-1] and "recon_mse" in seed["networks"]["ae"][-1]
    errors = results["summary"][frac]["errors"]
    assert set(errors) == set(few_labels.NAMES)
    for name in few_labels.NAMES.values():
        assert name in report
    assert "--spread-every 2" in report


def test_few_labels_trains_the_sae_at_the_gamma_asked_for(tmp_path):
    """``--gamma`` is the SAE's structure weight: at 0 it trains the plain AE bit for bit (same
    seed), at 0.25 something else, and the report says which gamma it used."""
    zero, _ = run_quick("few_labels", tmp_path / "zero", "--epochs", "1", "--networks", "sae,ae", "--gamma", "0")
    quarter, report = run_quick("few_labels", tmp_path / "quarter", "--epochs", "1", "--networks", "sae",
                                "--gamma", "0.25")

    def recon(results, key):
        return results["seeds"][0]["networks"][key][-1]["recon_mse"]

    frac = zero["settings"]["fractions"][0]
    assert recon(zero, f"sae@{frac}") == recon(zero, "ae")
    assert recon(quarter, f"sae@{frac}") != recon(zero, "ae")
    assert quarter["training"]["gamma"] == 0.25 and "SAE at gamma 0.25" in report and "--gamma 0.25" in report
    assert main(["few_labels", "--quick", "--gamma", "1.5", "--out", str(tmp_path / "bad")]) == 2


def test_few_labels_trains_the_structure_span_asked_for_and_reports_the_class_directions(tmp_path):
    results, report = run_quick("few_labels", tmp_path, "--epochs", "1", "--networks", "sae,ae",
                                "--structure-span", "classes")
    assert results["training"]["structure_span"] == "classes"
    assert "--structure-span classes" in report and "Structure span `classes`" in report
    assert "the same in the class directions" in report
    frac = results["settings"]["fractions"][0]
    for key in (f"sae@{frac}", "ae"):
        point = results["seeds"][0]["networks"][key][-1]
        assert -1 <= point["silhouette_classes"] <= 1 and point["silhouette_classes"] != point["silhouette"]
    paper, paper_report = run_quick("few_labels", tmp_path / "paper", "--epochs", "1", "--networks", "sae")
    assert paper["training"]["structure_span"] == "latent" and "--structure-span" not in paper_report
    with pytest.raises(SystemExit) as exit_:
        main(["few_labels", "--quick", "--structure-span", "all", "--out", str(tmp_path / "bad")])
    assert exit_.value.code == 2


@pytest.mark.parametrize("name", ["gamma", "confidence", "structure"])
def test_per_dataset_experiments_run_on_mnist_format_files(name, tmp_path, monkeypatch):
    """``--dataset mnist`` is a choice of every per-dataset experiment, and each has seeds for it
    (gamma and confidence once looked them up in a table of digits and bodies only)."""
    from idx_files import write_idx_folder

    folder = tmp_path / "mnist"
    write_idx_folder(folder, n_train=120, n_test=40, size=28)
    monkeypatch.setenv("SAEVIZ_MNIST_DIR", str(folder))
    out = tmp_path / name
    assert main([name, "--quick", "--dataset", "mnist", "--epochs", "1", "--out", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["settings"]["datasets"] == ["mnist"] and results["complete"]
    assert "--dataset mnist" in (out / "report.md").read_text()


def test_the_rerun_command_names_the_seeds_when_they_differ_from_the_plan():
    from saeviz.experiments import confidence, options, structure

    def results(settings):
        from dataclasses import asdict
        return {"settings": json.loads(json.dumps(asdict(settings))), "quick": False}

    two = options.with_overrides(confidence.FULL, seeds=2, dataset="mnist", epochs=6)
    assert options.rerun_command("confidence", results(two), confidence.FULL) == (
        "python -m saeviz.experiments confidence --dataset mnist --epochs 6 --seeds 2 --out FOLDER")
    planned = options.with_overrides(confidence.FULL, dataset="mnist")
    assert "--seeds" not in options.rerun_command("confidence", results(planned), confidence.FULL)
    three = options.with_overrides(structure.FULL, seeds=3)
    assert options.rerun_command("structure", results(three), structure.FULL).endswith("--seeds 3 --out FOLDER")
