import subprocess
import sys

import numpy as np
import pytest
from idx_files import write_idx_folder

from saeviz.cli import main


def test_help_explains_the_commands(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for word in ("train", "eval", "bodies", "digits"):
        assert word in out


@pytest.mark.slow
def test_train_then_eval(tmp_path, capsys):
    out = tmp_path / "digits"
    code = main(["train", "--dataset", "digits", "--labeled", "0.1", "--gamma", "0.5", "--epochs", "2",
                 "--arch", "mlp", "--hidden", "64", "--out", str(out), "--quiet"])
    assert code == 0
    ckpt = tmp_path / "digits.safetensors"
    assert ckpt.is_file()
    err = capsys.readouterr().err
    assert err.count("svm error (held-out)") == 2
    assert main(["eval", str(ckpt), "--json"]) == 0
    import json
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["epochs"] == 2 and 0 <= metrics["svm_error"] < 1 and metrics["rmse_test"] > 0


def test_eval_json_writes_null_for_a_metric_that_cannot_be_measured(tmp_path, capsys):
    import json

    rng = np.random.default_rng(0)
    np.savez(tmp_path / "unlabeled.npz", X=rng.normal(size=(40, 6)).astype(np.float32))
    assert main(["train", "--dataset", str(tmp_path / "unlabeled.npz"), "--labeled", "0", "--epochs", "1",
                 "--arch", "mlp", "--hidden", "8", "--out", str(tmp_path / "m"), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["eval", str(tmp_path / "m.safetensors"), "--json"]) == 0
    text = capsys.readouterr().out
    metrics = json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in JSON output"))
    assert metrics["svm_error"] is None and metrics["rmse_train"] > 0


def test_bad_input_gives_one_line_errors(tmp_path, capsys):
    assert main(["train", "--dataset", str(tmp_path / "missing.npz"), "--out", str(tmp_path / "m")]) == 2
    assert "missing.npz" in capsys.readouterr().err
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"garbage")
    assert main(["eval", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "bad.safetensors" in err and "Traceback" not in err
    with pytest.raises(SystemExit):
        main(["train", "--labeled", "1.5", "--out", "x"])
    np.savez(tmp_path / "nan.npz", X=np.array([[np.nan, 1.0], [0.0, 1.0]]))
    assert main(["train", "--dataset", str(tmp_path / "nan.npz"), "--labeled", "0", "--out", str(tmp_path / "m")]) == 2
    assert "NaN" in capsys.readouterr().err


def test_console_script_module_entry():
    res = subprocess.run([sys.executable, "-m", "saeviz", "--version"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and res.stdout.startswith("saeviz ")


def test_experiment_command_lists_and_explains(capsys):
    assert main(["experiment", "--list"]) == 0
    assert "guided" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["experiment", "guided"])  # --out is required
    assert "--out" in capsys.readouterr().err


@pytest.mark.slow
def test_bodies_command_writes_a_loadable_dataset_and_caches(tmp_path, anny_cache, monkeypatch, capsys):
    from saeviz.core.data.arrays import load_npz
    monkeypatch.setenv("SAEVIZ_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "b.npz"
    assert main(["bodies", "--count", "6", "--seed", "3", "--resolution", "full", "--out", str(out)]) == 0
    ds = load_npz(out)
    assert ds.kind == "mesh" and ds.n_samples == 6 and np.bincount(ds.y).tolist() == [3, 3]
    from saeviz.core.data import bodies

    def no_generation(*a, **k):
        raise AssertionError("the second call must be served from the cache")

    monkeypatch.setattr(bodies, "generate_bodies", no_generation)
    assert main(["bodies", "--count", "6", "--seed", "3", "--out", str(tmp_path / "c.npz")]) == 0
    assert np.array_equal(load_npz(tmp_path / "c.npz").X, ds.X)
    assert "from the cache" in capsys.readouterr().err


# -- help texts ------------------------------------------------------------------------------------
def _help(capsys, argv):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 0, argv
    captured = capsys.readouterr()
    return " ".join(captured.out.split())


def test_every_help_text_prints_cleanly(capsys):
    import argparse

    from saeviz.cli import build_parser
    from saeviz.experiments import EXPERIMENTS

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    commands = [[], *([name] for name in sub.choices if name != "experiment"), ["experiment"],
                *(["experiment", name] for name in EXPERIMENTS)]
    descriptions = [" ".join(m.DESCRIPTION.split()) for m in EXPERIMENTS.values()]
    for argv in commands:
        text = _help(capsys, [*argv, "--help"])
        assert text.startswith("usage:"), argv
        for description in descriptions:  # shown verbatim ("10% labels"), not %-formatted
            text = text.replace(description, "")
        assert "%" not in text and "{'" not in text, (argv, text)
    listing = _help(capsys, ["experiment", "--help"])
    for description in descriptions:
        assert description in listing


def test_class_groupings_offered_by_the_cli_are_the_registrys():
    from saeviz.cli import CLASS_GROUPINGS as cli_groupings
    from saeviz.core.data.registry import CLASS_GROUPINGS

    assert cli_groupings == CLASS_GROUPINGS


def test_benchmarks_help_returns_at_once_and_lists_them():
    from pathlib import Path
    root = Path(__file__).resolve().parents[1]
    res = subprocess.run([sys.executable, "-m", "benchmarks", "--help"], cwd=root, capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 0 and res.stdout.startswith("usage: python -m benchmarks")
    assert "--quick" in res.stdout and "--list" in res.stdout and "===" not in res.stdout
    res = subprocess.run([sys.executable, "-m", "benchmarks", "--list"], cwd=root, capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 0 and "===" not in res.stdout
    names = [line.split()[0] for line in res.stdout.splitlines()]
    assert "training" in names and "mds" in names
    res = subprocess.run([sys.executable, "-m", "benchmarks", "no_such_benchmark"], cwd=root,
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and "no_such_benchmark" in res.stderr and "===" not in res.stdout


# -- train: architecture, class groupings, named datasets ------------------------------------------
@pytest.mark.slow
def test_train_defaults_to_the_mlp_and_names_each_architectures_own_sizes(tmp_path, capsys):
    from saeviz.core.io.checkpoint import load_checkpoint

    assert main(["train", "--dataset", "digits", "--epochs", "1", "--out", str(tmp_path / "a"), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "digits (A/B/C)" in err and "mlp (256, 128) -> latent 10" in err
    assert load_checkpoint(tmp_path / "a.safetensors").model_config.architecture == "mlp"
    assert main(["train", "--dataset", "digits", "--classes", "ten", "--arch", "conv", "--epochs", "1",
                 "--out", str(tmp_path / "b"), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "conv channels (8, 16, 32) -> latent 10" in err and "(256, 128)" not in err
    ckpt = load_checkpoint(tmp_path / "b.safetensors")
    assert ckpt.dataset_source["decomposition"] == "digits" and len(ckpt.supervision.class_names) == 10
    # a resumed run keeps its classes
    assert main(["train", "--resume", str(tmp_path / "b.safetensors"), "--classes", "abc", "--epochs", "2",
                 "--out", str(tmp_path / "b")]) == 2
    assert "--classes" in capsys.readouterr().err


def test_train_refuses_a_grouping_that_does_not_fit(tmp_path, capsys):
    assert main(["train", "--dataset", "digits", "--classes", "seasons", "--out", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    assert "seasons" in err and "Traceback" not in err
    with pytest.raises(SystemExit):
        main(["train", "--classes", "nine", "--out", str(tmp_path / "m")])
    assert "ten" in capsys.readouterr().err


def test_train_on_mnist_by_name_finds_the_user_folder_or_says_where_to_put_it(tmp_path, monkeypatch, capsys):
    from saeviz.core.io.checkpoint import load_checkpoint

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "share"))
    monkeypatch.delenv("SAEVIZ_MNIST_DIR", raising=False)
    assert main(["train", "--dataset", "mnist", "--out", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    folder = tmp_path / "share" / "saeviz" / "datasets" / "mnist"
    assert str(folder) in err and "SAEVIZ_MNIST_DIR" in err and "Traceback" not in err
    write_idx_folder(folder)
    assert main(["train", "--dataset", "mnist", "--classes", "ten", "--labeled", "0.5", "--epochs", "1",
                 "--batch-size", "16", "--out", str(tmp_path / "m"), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "MNIST: 40 training / 20 test samples, 20 labeled" in err
    ckpt = load_checkpoint(tmp_path / "m.safetensors")
    assert ckpt.dataset_source == {"loader": "idx-named", "name": "mnist", "grouping": "ten"}
    assert main(["eval", str(tmp_path / "m.safetensors"), "--json"]) == 0  # found again by name
    assert '"svm_error"' in capsys.readouterr().out


# -- bodies: the body model's status line, then the bodies' own bar --------------------------------
def test_bodies_progress_shows_the_model_build_as_a_status_and_starts_the_bar_after_it(
        tmp_path, monkeypatch, capsys):
    import time

    from saeviz.core.data import bodies
    from saeviz.core.data.dataset import Dataset

    message = "Building the anny body model (first run only: about 2 minutes)"

    def load_bodies(count, seed, model, resolution, progress):
        progress(0, 1, message)
        time.sleep(1.2)  # the build: long enough to show in an elapsed time
        progress(1, 1, "Body model ready")
        progress(0, count, "Generating bodies")
        for done in range(1, count + 1):
            progress(done, count, "Generating bodies")
        rng = np.random.default_rng(seed)
        return Dataset(name="bodies", X=rng.normal(size=(count, 4, 3)), kind="mesh",
                       y=np.arange(count) % 2, class_names=("female", "male"),
                       faces=np.array([[0, 1, 2], [0, 2, 3]]), train_idx=np.arange(count - 2),
                       test_idx=np.arange(count - 2, count), source={"loader": "bodies", "count": count})

    monkeypatch.setattr(bodies, "load_bodies", load_bodies)
    assert main(["bodies", "--count", "6", "--out", str(tmp_path / "b.npz")]) == 0
    err = capsys.readouterr().err
    assert message in err  # the whole message, not cut
    assert f"{message}: done in 0:01" in err
    bar = [line for line in err.replace("\r", "\n").splitlines() if line.startswith("Generating bodies")][-1]
    assert "6/6" in bar and "[00:00<" in bar  # the bar's clock started after the build
    assert "s/body" not in err and "Body model ready" not in err
    assert (tmp_path / "b.npz").is_file()


def test_a_path_without_a_command_opens_it_in_the_app(tmp_path, monkeypatch, capsys):
    import saeviz.cli as cli

    opened = []
    monkeypatch.setattr(cli, "_run_app", lambda path: opened.append(path) or 0)
    data = tmp_path / "blobs.npz"
    np.savez(data, X=np.zeros((4, 3)))
    assert main([str(data)]) == 0 and opened == [str(data)]  # as `saeviz app PATH`
    assert main([]) == 0 and opened[-1] is None  # no command: the app
    assert set(cli.COMMANDS) == set(cli.build_parser()._subparsers._group_actions[0].choices)
    with pytest.raises(SystemExit) as exit_:
        main([str(tmp_path / "missing.safetensors")])  # not a file and not a command
    assert exit_.value.code == 2 and "invalid choice" in capsys.readouterr().err
