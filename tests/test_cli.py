import subprocess
import sys

import numpy as np
import pytest

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
