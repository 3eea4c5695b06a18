"""MNIST and Fashion-MNIST by name and by folder: the real files, class groupings, where files are found."""
import gzip
import hashlib
from pathlib import Path

import numpy as np
import pytest

from saeviz.core.data import load_dataset
from saeviz.core.data.named import CLASS_GROUPINGS, find_idx_dataset, search_folders
from saeviz.core.errors import DataError

ROOT = Path(__file__).resolve().parents[2]
MNIST_DIR = ROOT.parent / "shared" / "data" / "mnist"
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")

# SHA-256 of the decompressed original files (the widely published sums)
MNIST_SHA256 = {
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
}
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]

needs_mnist = pytest.mark.skipif(not MNIST_DIR.is_dir(), reason=f"MNIST files not at {MNIST_DIR}")
needs_fashion = pytest.mark.skipif(not FASHION_DIR.is_dir(), reason=f"Fashion-MNIST not at {FASHION_DIR}")


@pytest.fixture
def no_default_folders(tmp_path, monkeypatch):
    """Isolate the search from this machine's folders: an empty user data folder, no variables."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data-home"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SAEVIZ_MNIST_DIR", raising=False)
    monkeypatch.delenv("SAEVIZ_FASHION_MNIST_DIR", raising=False)


@needs_mnist
def test_the_shared_mnist_files_are_the_original_ones():
    for name, digest in MNIST_SHA256.items():
        sha = hashlib.sha256()
        with gzip.open(MNIST_DIR / f"{name}.gz", "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                sha.update(chunk)
        assert sha.hexdigest() == digest, name


@needs_mnist
def test_mnist_loads_by_path_with_the_official_split_and_counts():
    ds = load_dataset(MNIST_DIR, classes="ten")
    assert (len(ds.train_idx), len(ds.test_idx)) == (60_000, 10_000)
    assert ds.sample_shape == (28, 28) and ds.kind == "image" and ds.n_classes == 10
    assert np.bincount(ds.y[ds.train_idx], minlength=10).tolist() == MNIST_TRAIN_COUNTS
    assert np.bincount(ds.y[ds.test_idx], minlength=10).sum() == 10_000
    subset = ds.X[ds.train_idx[:500]]
    assert subset.dtype == np.float32 and 0.0 == subset.min() and subset.max() == 1.0


@needs_mnist
def test_mnist_by_name_from_the_environment_variable(no_default_folders, monkeypatch):
    monkeypatch.setenv("SAEVIZ_MNIST_DIR", str(MNIST_DIR))
    assert find_idx_dataset("mnist") == MNIST_DIR
    abc = load_dataset("mnist")  # the paper's A (0,1,9), B (4,6,8), C (2,3,5,7) by default
    assert abc.source == {"loader": "idx-named", "name": "mnist", "grouping": "abc"}
    c = MNIST_TRAIN_COUNTS
    assert np.bincount(abc.y[abc.train_idx]).tolist() == [c[0] + c[1] + c[9], c[4] + c[6] + c[8],
                                                          c[2] + c[3] + c[5] + c[7]]
    assert abc.class_names[0].startswith("A") and len(abc.test_idx) == 10_000
    again = load_dataset(abc.source)  # a checkpoint's source names the dataset, not this folder
    assert np.array_equal(again.y, abc.y)
    with pytest.raises(DataError, match="seasons"):
        load_dataset("mnist", classes="seasons")


@needs_fashion
def test_fashion_mnist_from_debians_folder(no_default_folders):
    assert find_idx_dataset("fashion-mnist") == FASHION_DIR
    ten = load_dataset("fashion-mnist:ten")
    assert (len(ten.train_idx), len(ten.test_idx)) == (60_000, 10_000)
    assert np.bincount(ten.y[ten.train_idx]).tolist() == [6000] * 10
    assert ten.class_names[0] == "T-shirt/top"
    # a folder path finds the variant from its name, and takes a grouping too
    seasons = load_dataset(FASHION_DIR, classes="seasons")
    assert seasons.n_classes == 3 and np.bincount(seasons.y[seasons.train_idx]).tolist() == [24000, 18000, 18000]


def test_a_missing_dataset_says_where_to_put_the_files(no_default_folders, tmp_path, monkeypatch):
    with pytest.raises(DataError) as exc:
        load_dataset("mnist")
    message = str(exc.value)
    expected = search_folders("mnist")[0]
    assert str(expected) in message and "SAEVIZ_MNIST_DIR" in message and "train-images-idx3-ubyte" in message
    assert str(expected).startswith(str(tmp_path / "data-home"))
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("SAEVIZ_FASHION_MNIST_DIR", str(empty))
    with pytest.raises(DataError, match="SAEVIZ_FASHION_MNIST_DIR names .*empty"):
        load_dataset("fashion-mnist")  # a variable set to a wrong folder is reported, not skipped


def test_the_user_data_folder_is_searched(no_default_folders, tmp_path):
    folder = tmp_path / "data-home" / "saeviz" / "datasets" / "mnist"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 30), ("t10k", 10)):
        images = rng.integers(0, 256, (n, 6, 6), dtype=np.uint8)
        labels = np.arange(n, dtype=np.uint8) % 10
        (folder / f"{prefix}-images-idx3-ubyte").write_bytes(
            bytes([0, 0, 8, 3]) + np.array([n, 6, 6], ">u4").tobytes() + images.tobytes())
        (folder / f"{prefix}-labels-idx1-ubyte").write_bytes(
            bytes([0, 0, 8, 1]) + np.array([n], ">u4").tobytes() + labels.tobytes())
    ds = load_dataset("mnist:ten")
    assert (len(ds.train_idx), len(ds.test_idx)) == (30, 10) and ds.sample_shape == (6, 6)


def test_class_groupings_of_the_digits_demo_and_their_errors():
    assert CLASS_GROUPINGS == ("ten", "abc", "seasons")
    assert load_dataset("digits", classes="ten").n_classes == 10
    assert load_dataset("digits:ten").source["decomposition"] == "digits"
    assert load_dataset("digits10", classes="abc").n_classes == 3
    with pytest.raises(DataError, match="does not apply"):
        load_dataset("digits", classes="seasons")
    with pytest.raises(DataError, match="GROUPING"):
        load_dataset("mnist:nine")
    with pytest.raises(DataError, match="unknown class grouping"):
        load_dataset("digits", classes="nine")


def test_a_grouping_of_other_data_is_refused(tmp_path):
    np.savez(tmp_path / "v.npz", X=np.ones((4, 3)), y=np.array([0, 1, 0, 1]))
    with pytest.raises(DataError, match="digits, MNIST and Fashion-MNIST"):
        load_dataset(tmp_path / "v.npz", classes="ten")


@needs_mnist
def test_what_the_mnist_loader_returns_is_every_byte_of_the_original_files():
    """The loaded arrays written back as IDX files have the published SHA-256 sums: no image
    or label is lost, reordered or altered by the loader (counts: 60,000 + 10,000)."""
    ds = load_dataset(MNIST_DIR, classes="ten")
    for prefix, rows in (("train", ds.train_idx), ("t10k", ds.test_idx)):
        n = len(rows)
        assert n == (60_000 if prefix == "train" else 10_000)
        pixels = np.rint(ds.X[rows] * 255)
        assert np.abs(ds.X[rows] * 255 - pixels).max() < 1e-3  # whole grey levels, scaled to [0, 1]
        images = bytes([0, 0, 8, 3]) + np.array([n, 28, 28], ">u4").tobytes() + pixels.astype(np.uint8).tobytes()
        labels = bytes([0, 0, 8, 1]) + np.array([n], ">u4").tobytes() + ds.y[rows].astype(np.uint8).tobytes()
        assert hashlib.sha256(images).hexdigest() == MNIST_SHA256[f"{prefix}-images-idx3-ubyte"]
        assert hashlib.sha256(labels).hexdigest() == MNIST_SHA256[f"{prefix}-labels-idx1-ubyte"]
