"""The guided-labeling experiment end to end, in quick mode."""
import json
import math
import re

import pytest
from json_numbers import numbers

pytest.importorskip("matplotlib", reason="the experiment reports need the 'report' extra")

from saeviz.experiments import EXPERIMENTS  # noqa: E402
from saeviz.experiments.__main__ import main  # noqa: E402
from saeviz.experiments.guided import ARMS, QUICK  # noqa: E402


@pytest.mark.slow
def test_quick_guided_experiment_writes_a_complete_report(tmp_path, capsys):
    out = tmp_path / "guided"
    assert main(["guided", "--quick", "--out", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())

    found = list(numbers(results))
    assert found and all(math.isfinite(v) for _, v in found), [p for p, v in found if not math.isfinite(v)]
    E = QUICK.epochs
    assert results["settings"]["epochs"] == E and results["quick"] is True
    assert [r["seed"] for r in results["seeds"]] == list(QUICK.seeds)
    for r in results["seeds"]:
        assert len(r["curve_initial"]) == E and 0 <= r["error_before"] <= 1
        assert set(r["arms"]) == set(ARMS)
        for arm, a in r["arms"].items():
            assert len(a["curve"]) == E
            assert a["curve"][-1] == pytest.approx(a["error_after"])
            extra = 0 if arm == "none" else QUICK.added
            assert a["n_labeled"] == r["n_labeled_initial"] + extra
            if arm != "none":
                assert len(a["picks"]["indices"]) == QUICK.added
                assert sum(a["picks"]["per_class"]) == QUICK.added
    summary = results["summary"]
    for arm in ARMS:
        s = summary["arms"][arm]["error_after"]
        assert s["n"] == len(QUICK.seeds) and len(summary["arms"][arm]["curve_mean"]) == E
    assert isinstance(summary["guided_beats_random"], bool)
    assert [w["labeled_fraction"] for w in results["sweep"]] == list(QUICK.sweep)
    for w in results["sweep"]:
        assert w["seeds"][0]["n_labeled_initial"] > results["seeds"][0]["n_labeled_initial"]
        for arm in ("random", "margin"):
            assert w["summary"]["arms"][arm]["error_after"]["n"] == len(QUICK.seeds)
    assert summary["guided_minus_random"] == pytest.approx(
        summary["arms"]["margin"]["error_after"]["mean"] - summary["arms"]["random"]["error_after"]["mean"])

    report = (out / "report.md").read_text()
    figures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", report)
    assert len(figures) >= 3
    for name in figures:
        assert (out / name).stat().st_size > 1000
    assert "margin" in report and "random" in report


def test_registry_and_command_line(tmp_path, capsys):
    assert "guided" in EXPERIMENTS and EXPERIMENTS["guided"].DESCRIPTION
    assert main(["--list"]) == 0
    assert "guided" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["guided", "--quick"])  # --out is required
    assert main(["guided", "--quick", "--labeled", "1.5", "--out", str(tmp_path / "x")]) == 2
    assert "labeled fraction" in capsys.readouterr().err


def test_guided_labeling_runs_on_mnist_format_files_with_the_papers_conv_net(tmp_path, monkeypatch):
    """``--dataset mnist`` reads the IDX files (here a small stand-in folder), groups them as
    A/B/C and trains the paper's conv net; ``--arms`` and ``--sweep ''`` keep the run short."""
    from idx_files import write_idx_folder

    folder = tmp_path / "mnist"
    write_idx_folder(folder, n_train=200, n_test=60, size=28)
    monkeypatch.setenv("SAEVIZ_MNIST_DIR", str(folder))
    out = tmp_path / "guided"
    assert main(["guided", "--quick", "--dataset", "mnist", "--epochs", "1", "--seeds", "1", "--added", "10",
                 "--labeled", "0.1", "--arms", "none,margin", "--sweep", "", "--out", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["dataset"]["classes"] == ["A (0,1,9)", "B (4,6,8)", "C (2,3,5,7)"]
    assert results["model"]["architecture"] == "conv" and results["settings"]["dataset"] == "mnist"
    (seed,) = results["seeds"]
    assert list(seed["arms"]) == ["none", "random", "margin"]  # random and margin always run
    assert seed["arms"]["margin"]["n_labeled"] == seed["n_labeled_initial"] + 10
    assert results["sweep"] == []
    report = (out / "report.md").read_text()
    assert "conv net" in report and "MNIST" in report and "8x8" not in report
    assert ("guided --quick --dataset mnist --labeled 0.1 --epochs 1 --seeds 1 --added 10 "
            "--arms none,random,margin --out FOLDER") in report  # the sweep's 10% is the start here
    assert main(["guided", "--quick", "--dataset", "mnist", "--arms", "margin,best", "--out",
                 str(tmp_path / "bad")]) == 2
