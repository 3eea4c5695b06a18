"""Label files: CSV and NPZ round trips, and errors that name the file and the line."""
from __future__ import annotations

import numpy as np
import pytest

from saeviz.core.errors import DataError
from saeviz.core.io.label_io import read_labels, write_labels

NAMES = ("A", "B", "C")


def positions_for(n_dataset, test):
    """position_of for a dataset whose samples ``test`` form the test split."""
    pos = np.full(n_dataset, -1)
    train = np.setdiff1d(np.arange(n_dataset), test)
    pos[train] = np.arange(len(train))
    return train, pos


@pytest.mark.parametrize("suffix", [".csv", ".npz"])
def test_round_trip_through_dataset_indices(tmp_path, suffix):
    train, pos = positions_for(30, [3, 7, 11])
    rng = np.random.default_rng(0)
    labels = np.where(rng.random(len(train)) < 0.5, rng.integers(0, 3, len(train)), -1)
    path = write_labels(tmp_path / f"labels{suffix}", labels, index=train, class_names=NAMES)
    got = read_labels(path, class_names=NAMES, n_dataset=30, position_of=pos)
    assert np.array_equal(got.as_array(len(train)), labels)
    assert got.n_labeled == int((labels >= 0).sum())
    assert not list(tmp_path.glob(".*.tmp"))


def test_csv_is_plain_index_label(tmp_path):
    path = write_labels(tmp_path / "l.csv", np.array([-1, 2, 0]), index=np.array([10, 11, 12]))
    assert path.read_text() == "index,label\n11,2\n12,0\n"


def test_csv_accepts_class_names_no_header_and_extra_columns(tmp_path):
    p = tmp_path / "names.csv"
    p.write_text("\ufeffindex,truth,label,codes_0\n0,1,b,0.5\n4,0,,0.1\n2,2,C,0.3\n")
    got = read_labels(p, class_names=NAMES, n_dataset=5)
    assert list(got.positions) == [0, 2, 4] and list(got.labels) == [1, 2, -1]
    q = tmp_path / "bare.csv"
    q.write_text("3,0\n1,2\n")
    got = read_labels(q, class_names=NAMES, n_dataset=5)
    assert list(got.positions) == [1, 3] and list(got.labels) == [2, 0]


@pytest.mark.parametrize("text, message", [
    ("index,label\n0,1\n1,7\n", r"line 3: label 7 is out of range"),
    ("index,label\n0,1\n\n5,x\n", r"line 4: unknown class 'x'"),
    ("index,label\n0,1\n99,0\n", r"line 3: sample 99 does not exist"),
    ("index,label\n0,1\n2.5,0\n", r"line 3: the index '2.5' is not a whole number"),
    ("index,label\n0,1\n1,0,3\n", r"line 3: expected 2 columns, got 3"),
    ("idx;lab\n", r"line 1: expected the header 'index,label'"),
    ("index,label\n1,0\n2,1\n1,2\n", r"line 4: sample 1 has label 2 here but 0 on line 2"),
    ("index,label\n3,0\n", r"line 2: sample 3 belongs to the test split"),
    ("", r"the file is empty"),
])
def test_csv_errors_name_the_file_and_line(tmp_path, text, message):
    _train, pos = positions_for(10, [3])
    p = tmp_path / "bad.csv"
    p.write_text(text)
    with pytest.raises(DataError, match=message) as info:
        read_labels(p, class_names=NAMES, n_dataset=10, position_of=pos)
    assert str(p) in str(info.value)


def test_npz_labels_match_classes_by_name(tmp_path):
    p = tmp_path / "l.npz"
    np.savez(p, index=np.array([0, 1, 2]), label=np.array([0, 1, -1]),
             class_names=np.array(["C", "A"]))
    got = read_labels(p, class_names=NAMES, n_dataset=3)
    assert list(got.labels) == [2, 0, -1]
    np.savez(p, index=np.array([0]), label=np.array([0]), class_names=np.array(["Z"]))
    with pytest.raises(DataError, match="class 'Z' of the file is not among the current classes"):
        read_labels(p, class_names=NAMES, n_dataset=3)


@pytest.mark.parametrize("arrays, message", [
    (dict(index=np.array([0, 1])), "no array named 'label'"),
    (dict(index=np.array([0, 1]), label=np.array([0.5, 1.0])), "must hold integers"),
    (dict(index=np.array([0, 1]), label=np.array([0])), "'index' has 2 entries but 'label' has 1"),
    (dict(index=np.array([0]), label=np.array([5])), "entry 0: label 5 is out of range"),
    (dict(index=np.array([0]), label=np.array([[1]])), "one-dimensional"),
])
def test_npz_errors(tmp_path, arrays, message):
    p = tmp_path / "bad.npz"
    np.savez(p, **arrays)
    with pytest.raises(DataError, match=message):
        read_labels(p, class_names=NAMES, n_dataset=3)


def test_npz_with_objects_is_refused_not_unpickled(tmp_path):
    p = tmp_path / "evil.npz"
    np.savez(p, index=np.array([0], dtype=object), label=np.array([0]))
    with pytest.raises(DataError, match="Python objects.*refused"):
        read_labels(p, class_names=NAMES, n_dataset=3)


def test_other_files_are_refused(tmp_path):
    with pytest.raises(DataError, match=r"\.csv or \.npz"):
        read_labels(tmp_path / "labels.txt", class_names=NAMES, n_dataset=3)
    with pytest.raises(DataError, match="no such file"):
        read_labels(tmp_path / "missing.csv", class_names=NAMES, n_dataset=3)
    bad = tmp_path / "damaged.npz"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(DataError, match="not a readable .npz archive"):
        read_labels(bad, class_names=NAMES, n_dataset=3)
