"""Dataset loaders: digits, IDX, npz, image folders and the registry."""
from __future__ import annotations

import gzip
import json
import os
import sys
import types
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from saeviz.core.data import (
    DATASETS,
    DECOMPOSITIONS,
    Dataset,
    load_dataset,
    load_digits,
    load_image_folder,
    load_mnist_folder,
    load_npz,
    read_idx,
    registry,
)
from saeviz.core.errors import DataError

IDX_CODES = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09, np.dtype(np.int16): 0x0B,
             np.dtype(np.int32): 0x0C, np.dtype(np.float32): 0x0D, np.dtype(np.float64): 0x0E}


def idx_bytes(array: np.ndarray, code: int | None = None, dims=None, magic: bytes = b"\0\0") -> bytes:
    array = np.asarray(array)
    code = IDX_CODES[array.dtype] if code is None else code
    dims = array.shape if dims is None else dims
    header = magic + bytes([code, len(dims)]) + np.asarray(dims, dtype=">u4").tobytes()
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_idx(path: Path, array: np.ndarray, gz: bool = False, **kw) -> Path:
    data = idx_bytes(array, **kw)
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def make_mnist(folder: Path, n_train=12, n_test=5, gz=False, shape=(4, 3), seed=0, dotted=False):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    sep = "." if dotted else "-"
    data = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, *shape), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        suffix = ".gz" if gz else ""
        write_idx(folder / f"{prefix}-images{sep}idx3-ubyte{suffix}", images, gz=gz)
        write_idx(folder / f"{prefix}-labels{sep}idx1-ubyte{suffix}", labels, gz=gz)
        data[prefix] = images, labels
    return data


def save_png(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(array, dtype=np.uint8)).save(path)
    return path


def same_dataset(a: Dataset, b: Dataset) -> None:
    assert a.name == b.name and a.kind == b.kind
    np.testing.assert_array_equal(a.X, b.X)
    assert (a.y is None) == (b.y is None)
    if a.y is not None:
        np.testing.assert_array_equal(a.y, b.y)
    assert a.class_names == b.class_names
    np.testing.assert_array_equal(a.train_idx, b.train_idx)
    np.testing.assert_array_equal(a.test_idx, b.test_idx)
    assert (a.faces is None) == (b.faces is None)
    if a.faces is not None:
        np.testing.assert_array_equal(a.faces, b.faces)
    assert a.source == b.source


def check_round_trip(ds: Dataset) -> None:
    same_dataset(ds, load_dataset(ds.source))
    same_dataset(ds, load_dataset(json.loads(json.dumps(ds.source))))


# --------------------------------------------------------------------------- decompositions


def test_decompositions_partition_ten_classes():
    for dec in DECOMPOSITIONS.values():
        members = sorted(i for _, labels in dec.groups for i in labels)
        assert members == list(range(10))
    abc = DECOMPOSITIONS["abc"]
    assert abc.class_names == ("A (0,1,9)", "B (4,6,8)", "C (2,3,5,7)")
    np.testing.assert_array_equal(abc.apply(np.arange(10)), [0, 0, 2, 2, 1, 2, 1, 2, 1, 0])
    seasons = DECOMPOSITIONS["seasons"]
    assert seasons.base == "fashion"
    # top, trouser, pullover, dress, coat, sandal, shirt, sneaker, bag, ankle boot
    np.testing.assert_array_equal(seasons.apply(np.arange(10)), [0, 2, 1, 0, 1, 0, 0, 2, 2, 1])
    assert [n.split()[0] for n in seasons.class_names] == ["summer", "winter", "all-year"]
    with pytest.raises(DataError, match="0..9"):
        abc.apply(np.array([3, 10]))


# --------------------------------------------------------------------------- digits


def test_digits_abc():
    from sklearn.datasets import load_digits as sk_digits

    raw = sk_digits()
    ds = load_digits()
    assert ds.kind == "image" and ds.X.shape == (1797, 8, 8) and ds.X.dtype == np.float32
    np.testing.assert_allclose(ds.X, raw.images / 16.0, rtol=0, atol=1e-7)
    assert ds.X.min() == 0.0 and ds.X.max() == 1.0
    assert ds.class_names == ("A (0,1,9)", "B (4,6,8)", "C (2,3,5,7)")
    for digit, cls in [(0, 0), (1, 0), (9, 0), (4, 1), (6, 1), (8, 1), (2, 2), (3, 2), (5, 2), (7, 2)]:
        assert set(ds.y[raw.target == digit]) == {cls}
    assert len(np.intersect1d(ds.train_idx, ds.test_idx)) == 0
    np.testing.assert_array_equal(np.union1d(ds.train_idx, ds.test_idx), np.arange(1797))
    assert abs(len(ds.test_idx) / 1797 - 0.2) < 0.01
    # stratified by digit: every digit is in the test set in about the same proportion
    for digit in range(10):
        share = np.isin(np.flatnonzero(raw.target == digit), ds.test_idx).mean()
        assert abs(share - 0.2) < 0.02


def test_digits_ten_classes_share_the_split():
    abc, ten = load_digits("abc"), load_digits("digits")
    assert ten.class_names == tuple("0123456789")
    from sklearn.datasets import load_digits as sk_digits
    np.testing.assert_array_equal(ten.y, sk_digits().target)
    np.testing.assert_array_equal(ten.train_idx, abc.train_idx)
    other = load_digits("digits", test_fraction=0.5, seed=3)
    assert abs(len(other.test_idx) - 1797 / 2) < 10
    assert not np.array_equal(other.test_idx, ten.test_idx)


@pytest.mark.parametrize("bad", ["seasons", "abcd"])
def test_digits_bad_decomposition(bad):
    with pytest.raises(DataError, match=bad):
        load_digits(bad)


# --------------------------------------------------------------------------- IDX


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
def test_read_idx_round_trip(tmp_path, dtype, gz):
    rng = np.random.default_rng(1)
    array = (rng.normal(size=(3, 5, 2)) * 50).astype(dtype)
    path = write_idx(tmp_path / "a.idx", array, gz=gz)
    out = read_idx(path)
    assert out.dtype == np.dtype(dtype) and out.dtype.isnative
    np.testing.assert_array_equal(out, array)


def test_read_idx_gzip_detected_from_content(tmp_path):
    array = np.arange(12, dtype=np.uint8).reshape(3, 4)
    path = write_idx(tmp_path / "no-suffix", array, gz=True)
    np.testing.assert_array_equal(read_idx(path), array)


def test_read_idx_empty_dimension(tmp_path):
    out = read_idx(write_idx(tmp_path / "e", np.zeros((0, 4), np.uint8)))
    assert out.shape == (0, 4)


def test_idx_truncated_raw(tmp_path):
    path = tmp_path / "short-idx3-ubyte"
    path.write_bytes(idx_bytes(np.zeros((10, 4, 4), np.uint8))[:-7])
    with pytest.raises(DataError, match="truncated") as err:
        read_idx(path)
    assert str(path) in str(err.value)


def test_idx_truncated_header(tmp_path):
    path = tmp_path / "hdr"
    path.write_bytes(idx_bytes(np.zeros((10, 4, 4), np.uint8))[:9])
    with pytest.raises(DataError, match="truncated") as err:
        read_idx(path)
    assert str(path) in str(err.value)


def test_idx_truncated_payload_inside_valid_gzip(tmp_path):
    path = tmp_path / "short.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.zeros((10, 4, 4), np.uint8))[:-1]))
    with pytest.raises(DataError, match="truncated") as err:
        read_idx(path)
    assert str(path) in str(err.value)


def test_idx_cut_gzip_stream(tmp_path):
    rng = np.random.default_rng(0)
    data = gzip.compress(idx_bytes(rng.integers(0, 256, (50, 8, 8), dtype=np.uint8)))
    path = tmp_path / "cut.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError) as err:
        read_idx(path)
    assert str(path) in str(err.value)


def test_idx_corrupt_gzip_crc(tmp_path):
    data = bytearray(gzip.compress(idx_bytes(np.arange(200, dtype=np.uint8))))
    data[-8] ^= 0xFF  # the stored CRC-32
    path = tmp_path / "crc.gz"
    path.write_bytes(bytes(data))
    with pytest.raises(DataError) as err:
        read_idx(path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize("gz", [False, True])
def test_idx_trailing_bytes(tmp_path, gz):
    data = idx_bytes(np.zeros((3, 2), np.uint8)) + b"\x01\x02"
    path = tmp_path / "long"
    path.write_bytes(gzip.compress(data) if gz else data)
    with pytest.raises(DataError, match="extra bytes") as err:
        read_idx(path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize("magic", [b"\x01\0", b"\0\x08", b"PK"])
def test_idx_bad_magic(tmp_path, magic):
    path = write_idx(tmp_path / "bad", np.zeros(4, np.uint8), magic=magic)
    with pytest.raises(DataError, match="magic") as err:
        read_idx(path)
    assert str(path) in str(err.value)


def test_idx_unknown_type_code(tmp_path):
    path = tmp_path / "code"
    path.write_bytes(b"\0\0\x0a\x01" + np.asarray([4], ">u4").tobytes() + bytes(4))
    with pytest.raises(DataError, match="0x0A"):
        read_idx(path)


def test_idx_zero_dimensions(tmp_path):
    path = tmp_path / "nodims"
    path.write_bytes(b"\0\0\x08\x00\x05")
    with pytest.raises(DataError, match="dimensions"):
        read_idx(path)


@pytest.mark.parametrize("gz", [False, True])
def test_idx_header_claiming_terabytes(tmp_path, gz):
    dims = (0xFFFFFFFF, 0xFFFFFFFF, 255)
    data = b"\0\0\x0e\x03" + np.asarray(dims, ">u4").tobytes() + bytes(64)
    path = tmp_path / "huge"
    path.write_bytes(gzip.compress(data) if gz else data)
    with pytest.raises(DataError, match="limit") as err:
        read_idx(path)
    assert str(path) in str(err.value)


def test_idx_header_larger_than_file_but_under_limit(tmp_path):
    # 1 GiB declared, 16 bytes present: refused by the size check, nothing is allocated.
    data = b"\0\0\x08\x01" + np.asarray([1 << 30], ">u4").tobytes() + bytes(16)
    path = tmp_path / "claims-a-gigabyte"
    path.write_bytes(data)
    with pytest.raises(DataError, match="truncated"):
        read_idx(path)
    path.write_bytes(gzip.compress(data))
    with pytest.raises(DataError, match="truncated"):
        read_idx(path)


def test_idx_missing_file(tmp_path):
    with pytest.raises(DataError, match="nope"):
        read_idx(tmp_path / "nope")


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_folder(tmp_path, gz):
    data = make_mnist(tmp_path / "m", gz=gz)
    ds = load_mnist_folder(tmp_path / "m")
    assert ds.kind == "image" and ds.X.shape == (17, 4, 3) and ds.X.dtype == np.float32
    expected = np.concatenate([data["train"][0], data["t10k"][0]]).astype(np.float32) / 255
    np.testing.assert_allclose(ds.X, expected, rtol=1e-6)
    np.testing.assert_array_equal(ds.y, np.concatenate([data["train"][1], data["t10k"][1]]))
    np.testing.assert_array_equal(ds.train_idx, np.arange(12))
    np.testing.assert_array_equal(ds.test_idx, np.arange(12, 17))
    assert ds.class_names == tuple("0123456789")
    assert ds.source["variant"] == "mnist" and ds.source["decomposition"] is None
    check_round_trip(ds)


def test_mnist_folder_dotted_names(tmp_path):
    make_mnist(tmp_path, dotted=True)
    assert load_mnist_folder(tmp_path).n_samples == 17


def test_mnist_decompositions(tmp_path):
    make_mnist(tmp_path)
    abc = load_mnist_folder(tmp_path, decomposition="abc")
    assert abc.class_names == DECOMPOSITIONS["abc"].class_names
    np.testing.assert_array_equal(abc.y[:10], DECOMPOSITIONS["abc"].apply(np.arange(10)))
    fashion = load_mnist_folder(tmp_path, variant="fashion")
    assert fashion.class_names[0] == "T-shirt/top" and fashion.class_names[9] == "Ankle boot"
    seasons = load_mnist_folder(tmp_path, variant="fashion", decomposition="seasons")
    assert seasons.n_classes == 3
    np.testing.assert_array_equal(seasons.y[:10], [0, 2, 1, 0, 1, 0, 0, 2, 2, 1])
    check_round_trip(seasons)
    with pytest.raises(DataError, match="does not apply"):
        load_mnist_folder(tmp_path, variant="fashion", decomposition="abc")
    with pytest.raises(DataError, match="variant"):
        load_mnist_folder(tmp_path, variant="kmnist")


def test_mnist_missing_file(tmp_path):
    make_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte"):
        load_mnist_folder(tmp_path)


def test_mnist_label_count_mismatch(tmp_path):
    make_mnist(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(11, np.uint8))
    with pytest.raises(DataError, match="11 labels for 12 images"):
        load_mnist_folder(tmp_path)


def test_mnist_labels_out_of_range(tmp_path):
    make_mnist(tmp_path)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.array([0, 1, 2, 3, 12], np.uint8))
    with pytest.raises(DataError, match="t10k-labels"):
        load_mnist_folder(tmp_path)


def test_mnist_images_must_be_bytes(tmp_path):
    make_mnist(tmp_path)
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((12, 4, 3), np.float32))
    with pytest.raises(DataError, match="unsigned bytes"):
        load_mnist_folder(tmp_path)


# --------------------------------------------------------------------------- npz


def test_npz_vectors(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 6))
    y = np.arange(20) % 3
    path = tmp_path / "vec.npz"
    np.savez(path, X=X, y=y, class_names=np.array(["a", "b", "c"]))
    ds = load_npz(path)
    assert ds.kind == "vector" and ds.name == "vec" and ds.X.dtype == np.float32
    np.testing.assert_allclose(ds.X, X.astype(np.float32))
    np.testing.assert_array_equal(ds.y, y)
    assert ds.class_names == ("a", "b", "c")
    assert len(ds.train_idx) + len(ds.test_idx) == 20
    assert set(ds.y[ds.test_idx]) == {0, 1, 2}  # stratified: round(0.2 * 7) of each class
    assert len(ds.test_idx) == 3
    check_round_trip(ds)


def test_npz_images_and_default_class_names(tmp_path):
    X = np.random.default_rng(0).random((6, 5, 4), dtype=np.float32)
    path = tmp_path / "img.npz"
    np.savez_compressed(path, X=X, y=np.array([0, 2, 2, 0, 2, 0]))
    ds = load_npz(path)
    assert ds.kind == "image" and ds.sample_shape == (5, 4)
    # the classes are the distinct values of y (renumbered), not 0..max(y)
    assert ds.class_names == ("0", "2")
    assert ds.y.tolist() == [0, 1, 1, 0, 1, 0]
    check_round_trip(ds)


def test_npz_mesh_and_fixed_split(tmp_path):
    X = np.random.default_rng(0).normal(size=(5, 4, 3))
    faces = np.array([[0, 1, 2], [0, 2, 3]], dtype=np.int32)
    path = tmp_path / "mesh.npz"
    np.savez(path, X=X, faces=faces, train_idx=np.array([0, 2, 4]))
    ds = load_npz(path)
    assert ds.kind == "mesh" and ds.faces.shape == (2, 3) and ds.y is None
    np.testing.assert_array_equal(ds.train_idx, [0, 2, 4])
    np.testing.assert_array_equal(ds.test_idx, [1, 3])
    check_round_trip(ds)
    np.savez(path, X=X, faces=faces, train_idx=np.array([0, 1]), test_idx=np.array([4]))
    ds = load_npz(path)
    np.testing.assert_array_equal(ds.train_idx, [0, 1])
    np.testing.assert_array_equal(ds.test_idx, [4])


def test_npz_fortran_order_big_endian_and_bytes_names(tmp_path):
    X = np.asfortranarray(np.arange(24, dtype=">f8").reshape(4, 6))
    path = tmp_path / "f.npz"
    np.savez(path, X=X, y=np.array([0, 1, 0, 1], dtype=">i2"), class_names=np.array([b"no", b"yes"]))
    ds = load_npz(path)
    np.testing.assert_array_equal(ds.X, np.arange(24).reshape(4, 6))
    np.testing.assert_array_equal(ds.y, [0, 1, 0, 1])
    assert ds.class_names == ("no", "yes")


def test_npz_kind_override(tmp_path):
    path = tmp_path / "k.npz"
    np.savez(path, X=np.ones((3, 2, 2, 2)), kind=np.array("vector"))
    ds = load_npz(path)
    assert ds.kind == "vector" and ds.X.shape == (3, 8)
    np.savez(path, X=np.ones((3, 2, 2, 2)))
    with pytest.raises(DataError, match="shape"):
        load_npz(path)


class _Canary:
    """Unpickling this writes a marker file: loading must never get that far."""

    marker: Path

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_npz_object_array_refused_without_unpickling(tmp_path):
    canary = _Canary()
    canary.marker = tmp_path / "unpickled"
    obj = np.empty(3, dtype=object)
    obj[:] = [canary, canary, canary]
    path = tmp_path / "obj.npz"
    np.savez(path, X=np.ones((3, 2)), y=obj)
    with pytest.raises(DataError, match="objects") as err:
        load_npz(path)
    assert str(path) in str(err.value) and "'y'" in str(err.value)
    assert not canary.marker.exists()
    np.savez(path, X=obj)
    with pytest.raises(DataError, match="objects"):
        load_npz(path)
    assert not canary.marker.exists()


def test_npz_without_x(tmp_path):
    path = tmp_path / "nox.npz"
    np.savez(path, data=np.ones((3, 2)), labels=np.zeros(3))
    with pytest.raises(DataError, match="no array named 'X'.*data, labels") as err:
        load_npz(path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, 1e300])
def test_npz_non_finite(tmp_path, bad):
    X = np.zeros((5, 3))
    X[3, 1] = bad
    path = tmp_path / "nan.npz"
    np.savez(path, X=X)
    with pytest.raises(DataError, match="NaN or infinite.*1 samples.*index 3") as err:
        load_npz(path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize("arrays, message", [
    ({"X": np.ones((4, 2)), "y": np.zeros(3, int)}, "'y' must have shape"),
    ({"X": np.ones((4, 2)), "y": np.array([0, 1, -1, 0])}, "negative"),
    ({"X": np.ones((4, 2)), "y": np.zeros(4)}, "integers"),
    ({"X": np.ones((4, 2)), "y": np.array([0, 1, 2, 0]), "class_names": np.array(["a", "b"])}, "class names"),
    ({"X": np.ones((4, 2)), "class_names": np.array(["a", "a"])}, "repeated"),
    ({"X": np.ones((4, 2)), "faces": np.array([[0, 1, 2]])}, "faces"),
    ({"X": np.ones((4, 3, 3)), "faces": np.array([[0, 1, 3]])}, "faces"),
    ({"X": np.ones((4, 3, 3)), "faces": np.array([0, 1, 2])}, "faces"),
    ({"X": np.ones((4, 2)), "test_idx": np.array([1, 7])}, "test_idx"),
    ({"X": np.ones((4, 2)), "train_idx": np.array([0, 1]), "test_idx": np.array([1, 2])}, "share"),
    ({"X": np.ones((4, 2)), "train_idx": np.array([0, 0])}, "repeated"),
    ({"X": np.ones((4, 2)) + 1j}, "real numbers"),
    ({"X": np.array(["a", "b"])}, "real numbers"),
    ({"X": np.ones(4)}, "shape"),
    ({"X": np.ones((0, 3))}, "N >= 1"),
    ({"X": np.ones((3, 0))}, "no features"),
    ({"X": np.ones((4, 2)), "kind": np.array("movie")}, "kind"),
])
def test_npz_inconsistent_arrays(tmp_path, arrays, message):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(DataError, match=message) as err:
        load_npz(path)
    assert str(path) in str(err.value)


def test_npz_not_a_zip(tmp_path):
    path = tmp_path / "junk.npz"
    path.write_bytes(b"this is not an archive at all" * 10)
    with pytest.raises(DataError, match="not a readable .npz") as err:
        load_npz(path)
    assert str(path) in str(err.value)


def test_npz_truncated_zip(tmp_path):
    path = tmp_path / "cut.npz"
    np.savez_compressed(path, X=np.random.default_rng(0).normal(size=(100, 10)))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="corrupt or truncated") as err:
        load_npz(path)
    assert str(path) in str(err.value)


def test_npz_corrupt_member(tmp_path):
    path = tmp_path / "flip.npz"
    np.savez(path, X=np.zeros((50, 10)))  # stored uncompressed: flip a data byte
    data = bytearray(path.read_bytes())
    offset = data.index(b"\x93NUMPY") + 300
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match="corrupt") as err:
        load_npz(path)
    assert str(path) in str(err.value)


def test_npz_member_header_larger_than_data(tmp_path):
    path = tmp_path / "lies.npz"
    header = "{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000000, 3), }"
    header = header.ljust(118) + "\n"
    member = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode() + bytes(48)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("X.npy", member)
    with pytest.raises(DataError, match="declares shape") as err:
        load_npz(path)
    assert str(path) in str(err.value)


def test_npz_given_a_npy_file(tmp_path):
    path = tmp_path / "single.npz"
    with open(path, "wb") as f:
        np.save(f, np.ones((3, 2)))
    with pytest.raises(DataError, match="single .npy"):
        load_npz(path)


# --------------------------------------------------------------------------- image folders


def test_image_folder_flat(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {name: rng.integers(0, 256, (5, 4), dtype=np.uint8) for name in ["b.png", "a.png", "c.PNG"]}
    for name, a in arrays.items():
        save_png(tmp_path / "imgs" / name, a)
    (tmp_path / "imgs" / "notes.txt").write_text("ignored")
    (tmp_path / "imgs" / "._a.png").write_bytes(b"AppleDouble junk")
    ds = load_image_folder(tmp_path / "imgs")
    assert ds.kind == "image" and ds.X.shape == (3, 5, 4) and ds.y is None and ds.class_names == ()
    expected = np.stack([arrays["a.png"], arrays["b.png"], arrays["c.PNG"]]).astype(np.float32) / 255
    np.testing.assert_allclose(ds.X, expected, rtol=1e-6)
    assert ds.name == "imgs"
    check_round_trip(ds)


def test_image_folder_classes(tmp_path):
    for cls, n in [("dogs", 3), ("cats", 2), ("birds", 4)]:
        for i in range(n):
            save_png(tmp_path / cls / f"{i}.png", np.full((3, 3), 10 * i, np.uint8))
    (tmp_path / ".hidden").mkdir()
    ds = load_image_folder(tmp_path)
    assert ds.class_names == ("birds", "cats", "dogs")
    np.testing.assert_array_equal(ds.y, [0, 0, 0, 0, 1, 1, 2, 2, 2])
    np.testing.assert_allclose(ds.X[:, 0, 0], np.array([0, 10, 20, 30, 0, 10, 0, 10, 20]) / 255, rtol=1e-6)
    assert set(ds.y[ds.test_idx]) <= {0, 1, 2}
    check_round_trip(ds)


def test_image_formats_and_modes(tmp_path):
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    Image.fromarray(gray).save(tmp_path / "a.bmp")
    Image.fromarray(gray).save(tmp_path / "b.gif")
    Image.fromarray(gray).save(tmp_path / "c.tiff")
    Image.fromarray(np.stack([gray] * 3, axis=-1)).save(tmp_path / "d.png")  # RGB
    Image.fromarray(gray.astype(np.uint16) * 257).save(tmp_path / "e.png")  # 16-bit
    rgba = np.stack([gray, gray, gray, np.full_like(gray, 255)], axis=-1)
    rgba[0, 0, 3] = 0  # one transparent pixel
    Image.fromarray(rgba).save(tmp_path / "f.png")
    Image.fromarray(gray).save(tmp_path / "g.jpg", quality=95)
    ds = load_image_folder(tmp_path)
    assert ds.X.shape == (7, 3, 4)
    expected = gray.astype(np.float32) / 255
    for i in range(6):
        want = expected.copy()
        if i == 5:
            want[0, 0] = 0.0
        np.testing.assert_allclose(ds.X[i], want, atol=1e-6, err_msg=f"image {i}")
    np.testing.assert_allclose(ds.X[6], expected, atol=0.05)  # lossy JPEG


def test_image_folder_resize(tmp_path):
    save_png(tmp_path / "a.png", np.full((10, 8), 255, np.uint8))
    save_png(tmp_path / "b.png", np.zeros((4, 6), np.uint8))
    with pytest.raises(DataError, match="b.png"):
        load_image_folder(tmp_path)
    ds = load_image_folder(tmp_path, size=(5, 7))
    assert ds.X.shape == (2, 5, 7)
    np.testing.assert_allclose(ds.X[0], 1.0, atol=1e-5)
    np.testing.assert_allclose(ds.X[1], 0.0, atol=1e-5)
    assert ds.source["size"] == [5, 7]
    check_round_trip(ds)
    with pytest.raises(DataError, match="size"):
        load_image_folder(tmp_path, size=(0, 3))


def test_image_of_wrong_size_named(tmp_path):
    for name in ["a.png", "b.png", "c.png"]:
        save_png(tmp_path / name, np.zeros((4, 4), np.uint8))
    save_png(tmp_path / "b2.png", np.zeros((4, 5), np.uint8))
    with pytest.raises(DataError, match="b2.png.*5x4") as err:
        load_image_folder(tmp_path)
    assert str(tmp_path / "b2.png") in str(err.value)


def test_unreadable_image_named(tmp_path):
    save_png(tmp_path / "a.png", np.zeros((4, 4), np.uint8))
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    with pytest.raises(DataError, match="cannot read") as err:
        load_image_folder(tmp_path)
    assert str(tmp_path / "broken.jpg") in str(err.value)


def test_truncated_image_named(tmp_path):
    save_png(tmp_path / "a.png", np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8))
    data = (tmp_path / "a.png").read_bytes()
    (tmp_path / "a.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="a.png"):
        load_image_folder(tmp_path)


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symbolic links")
def test_image_symlink_loop_named(tmp_path):
    save_png(tmp_path / "a.png", np.zeros((4, 4), np.uint8))
    os.symlink(tmp_path / "loop.png", tmp_path / "loop.png")
    with pytest.raises(DataError, match="loop") as err:
        load_image_folder(tmp_path)
    assert str(tmp_path / "loop.png") in str(err.value)


def test_image_folder_layout_errors(tmp_path):
    with pytest.raises(DataError, match="no image files"):
        load_image_folder(tmp_path)
    save_png(tmp_path / "loose.png", np.zeros((2, 2), np.uint8))
    save_png(tmp_path / "cls" / "x.png", np.zeros((2, 2), np.uint8))
    with pytest.raises(DataError, match="both image files"):
        load_image_folder(tmp_path)
    (tmp_path / "loose.png").unlink()
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="empty.*without image files"):
        load_image_folder(tmp_path)
    with pytest.raises(DataError, match="not a folder"):
        load_image_folder(tmp_path / "cls" / "x.png")


# --------------------------------------------------------------------------- registry


def test_demo_datasets():
    assert DATASETS == ("digits", "digits10")
    abc, ten = (load_dataset(name) for name in DATASETS)
    assert abc.n_classes == 3 and ten.n_classes == 10
    check_round_trip(abc)
    check_round_trip(ten)
    same_dataset(load_dataset({"loader": "digits", "decomposition": "abc"}), abc)
    assert load_dataset("digits", decomposition="digits").n_classes == 10


def test_registry_paths(tmp_path, monkeypatch):
    np.savez(tmp_path / "v.npz", X=np.ones((5, 2)))
    make_mnist(tmp_path / "idx", gz=True)
    save_png(tmp_path / "flat" / "a.png", np.zeros((2, 2), np.uint8))
    save_png(tmp_path / "classes" / "One" / "a.png", np.zeros((2, 2), np.uint8))
    save_png(tmp_path / "classes" / "Two" / "a.PNG", np.zeros((2, 2), np.uint8))
    monkeypatch.chdir(tmp_path)
    for spec, loader in [("v.npz", "npz"), (tmp_path / "v.npz", "npz"), ("idx", "idx"),
                         ("flat", "images"), (str(tmp_path / "classes"), "images")]:
        ds = load_dataset(spec)
        assert ds.source["loader"] == loader
        assert os.path.isabs(ds.source["path"])
        check_round_trip(ds)
    assert load_dataset("classes").class_names == ("One", "Two")


def test_registry_idx_options_and_variant(tmp_path):
    make_mnist(tmp_path / "plain")
    make_mnist(tmp_path / "fashion-mnist")
    ds = load_dataset(tmp_path / "plain", variant="fashion", decomposition="seasons")
    assert ds.n_classes == 3 and ds.source["variant"] == "fashion"
    check_round_trip(ds)
    assert load_dataset(tmp_path / "plain").class_names[0] == "0"
    assert load_dataset(tmp_path / "fashion-mnist").class_names[0] == "T-shirt/top"


def test_registry_missing_path(tmp_path):
    missing = tmp_path / "nowhere" / "data.npz"
    with pytest.raises(DataError, match="no such file") as err:
        load_dataset(missing)
    assert str(missing) in str(err.value)
    with pytest.raises(DataError, match="nowhere"):
        load_dataset({"loader": "npz", "path": str(missing)})


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symbolic links")
def test_registry_symlink_loop(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    os.symlink(b, a)
    os.symlink(a, b)
    with pytest.raises(DataError) as err:
        load_dataset(str(a))
    assert str(a) in str(err.value)


def test_registry_bad_specs(tmp_path):
    (tmp_path / "x.csv").write_text("1,2\n")
    with pytest.raises(DataError, match="unsupported file type"):
        load_dataset(tmp_path / "x.csv")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="found no"):
        load_dataset(tmp_path / "empty")
    with pytest.raises(DataError, match="unknown dataset loader 'zarr'"):
        load_dataset({"loader": "zarr"})
    with pytest.raises(DataError, match="names no 'loader'"):
        load_dataset({"path": "x"})
    with pytest.raises(DataError, match="does not accept"):
        load_dataset("digits", colour=True)
    with pytest.raises(DataError, match="spec"):
        load_dataset(42)


def test_optional_loader_import(tmp_path, monkeypatch):
    calls = []

    def load_things(folder, scale=1.0):
        calls.append((folder, scale))
        return Dataset(name="things", X=np.ones((3, 2)) * scale, kind="vector",
                       source={"loader": "things", "path": str(folder), "scale": scale})

    module = types.ModuleType("saeviz.core.data._things_for_test")
    module.load_things = load_things
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setattr(registry, "LOADERS", dict(registry.LOADERS))
    monkeypatch.setattr(registry, "OPTIONAL_LOADERS", {
        "things": ("_things_for_test", "load_things"),
        "absent": ("_no_such_module_here", "load"),
    })
    ds = load_dataset({"loader": "things", "path": str(tmp_path), "scale": 2.0})
    assert calls == [(tmp_path, 2.0)] and ds.X.max() == 2.0
    assert registry.LOADERS["things"] is load_things
    with pytest.raises(DataError, match="not part of this installation"):
        load_dataset({"loader": "absent"})


def test_mesh_folder_dispatch(tmp_path, monkeypatch):
    (tmp_path / "a.obj").write_text("v 0 0 0\n")
    seen = []

    def fake_mesh_folder(folder, **kw):
        seen.append(folder)
        return Dataset(name="m", X=np.zeros((1, 3, 3)), kind="mesh",
                       source={"loader": "meshes", "path": str(folder)})

    monkeypatch.setattr(registry, "LOADERS", {**registry.LOADERS, "meshes": fake_mesh_folder})
    load_dataset(tmp_path)
    assert seen == [tmp_path]


# --------------------------------------------------------------------------- Dataset checks


def test_dataset_reports_non_finite_sample_count():
    X = np.zeros((6, 3))
    X[1, 0] = np.nan
    X[4, 2] = np.inf
    with pytest.raises(DataError, match="2 samples"):
        Dataset(name="d", X=X, kind="vector")


def test_dataset_checks_split_indices():
    X = np.zeros((4, 2))
    with pytest.raises(DataError, match="outside"):
        Dataset(name="d", X=X, kind="vector", train_idx=np.array([0, 4]))
    with pytest.raises(DataError, match="share"):
        Dataset(name="d", X=X, kind="vector", train_idx=np.array([0, 1]), test_idx=np.array([1]))
    ds = Dataset(name="d", X=X, kind="vector", y=np.array([0, 1, 0, 1]), class_names=["a", "b"])
    assert ds.class_names == ("a", "b")


def test_save_npz_round_trip(tmp_path):
    from saeviz.core.data import load_dataset
    from saeviz.core.data.arrays import load_npz, save_npz
    ds = load_dataset("digits")
    path = save_npz(tmp_path / "copy", ds)
    assert path.name == "copy.npz"
    back = load_npz(path)
    assert np.array_equal(back.X, ds.X) and np.array_equal(back.y, ds.y)
    assert back.class_names == ds.class_names and back.kind == "image"
    assert np.array_equal(back.train_idx, ds.train_idx) and np.array_equal(back.test_idx, ds.test_idx)
