"""Label and class-table edits: exact undo/redo, strokes as one edit, painting during training."""
from __future__ import annotations

import numpy as np
import pytest

from saeviz.core.errors import DataError
from saeviz.core.method.config import ModelConfig, TrainConfig
from saeviz.core.method.training import Trainer
from saeviz.core.state.label_edits import (
    ClassTable,
    StrokeAccumulator,
    add_class_edit,
    delete_class_edit,
    label_edit,
    merge_classes_edit,
    recolor_class_edit,
    regroup_edit,
    rename_class_edit,
    replace_labels_edit,
    set_distances_edit,
)
from saeviz.core.state.labels import LabelStore


def make_store(n=200, k=3, seed=0, fraction=0.3):
    rng = np.random.default_rng(seed)
    labels = np.where(rng.random(n) < fraction, rng.integers(0, k, n), -1)
    return LabelStore(n, [f"c{i}" for i in range(k)], labels=labels)


def state(store):
    return (np.array(store.labels), store.class_names, store.colors, store.distances)


def assert_same_state(a, b):
    assert np.array_equal(a[0], b[0])
    assert a[1] == b[1] and a[2] == b[2]
    assert np.array_equal(a[3], b[3])


# -- label edits -------------------------------------------------------------------------------------
def test_label_edit_stores_only_the_changes_and_undoes_exactly():
    store = LabelStore(10, ["a", "b"], labels=[0, 0, 1, -1, -1, 1, 0, -1, -1, 1])
    before = np.array(store.labels)
    edit = label_edit(store, [0, 1, 3, 3, 9], 1)
    assert list(edit.indices) == [0, 1, 3]  # 9 already is 1; 3 given twice
    assert list(edit.old) == [0, 0, -1]
    edit.do(store)
    assert list(store.labels) == [1, 1, 1, 1, -1, 1, 0, -1, -1, 1]
    edit.undo(store)
    assert np.array_equal(store.labels, before)
    assert label_edit(store, [2, 5], 1) is None


def test_label_edit_keeping_labels_changes_only_the_unlabeled():
    store = LabelStore(8, ["a", "b", "c"], labels=[0, -1, 2, -1, 1, -1, 2, 0])
    edit = label_edit(store, np.arange(8), 2, keep_labels=True)
    assert list(edit.indices) == [1, 3, 5] and list(edit.old) == [-1, -1, -1]
    edit = label_edit(store, [0, 1, 2, 3], [1, 1, 1, 0], keep_labels=True)
    assert list(edit.indices) == [1, 3] and list(edit.new) == [1, 0]
    assert label_edit(store, [0, 2, 4], 1, keep_labels=True) is None  # all labeled already
    assert list(label_edit(store, [0, 2, 4], 1).indices) == [0, 2]  # without: they change


def test_label_edit_with_values_per_index_keeps_the_last_of_repeated_indices():
    store = LabelStore(5, ["a", "b", "c"])
    edit = label_edit(store, [4, 1, 4], [0, 2, 1])
    edit.do(store)
    assert list(store.labels) == [-1, 2, -1, -1, 1]


def test_label_edit_rejects_bad_input_with_a_message():
    store = LabelStore(5, ["a", "b"])
    with pytest.raises(DataError, match="out of range"):
        label_edit(store, [0], 2)
    with pytest.raises(DataError, match="sample index"):
        label_edit(store, [5], 0)
    with pytest.raises(DataError, match="integers"):
        label_edit(store, [0.5], 0)


def test_replace_labels_edit_is_the_difference():
    store = make_store()
    target = np.array(make_store(seed=1).labels)
    edit = replace_labels_edit(store, target)
    assert edit.n_changed == int(np.count_nonzero(target != store.labels))
    before = np.array(store.labels)
    edit.do(store)
    assert np.array_equal(store.labels, target)
    edit.undo(store)
    assert np.array_equal(store.labels, before)


# -- strokes ---------------------------------------------------------------------------------------------
def test_a_stroke_is_one_edit_painted_live_and_undone_to_the_labels_before_it():
    store = LabelStore(8, ["a", "b", "c"], labels=[0, 1, 2, -1, -1, 0, 1, 2])
    before = np.array(store.labels)
    acc = StrokeAccumulator()
    acc.begin(store, 2, "Brush")
    assert list(acc.add([0, 1, 3])) == [0, 1, 3]
    assert list(store.labels[[0, 1, 3]]) == [2, 2, 2]  # visible during the stroke
    assert list(acc.add([1, 3, 4, 2])) == [4]  # 1, 3 were reached before; 2 already is 2
    edit = acc.commit()
    assert not acc.active
    assert list(edit.indices) == [0, 1, 3, 4] and list(edit.old) == [0, 1, -1, -1] and edit.new == 2
    edit.undo(store)
    assert np.array_equal(store.labels, before)
    edit.do(store)
    assert list(store.labels) == [2, 2, 2, 2, 2, 0, 1, 2]


def test_cancelling_a_stroke_restores_every_label_it_touched():
    store = make_store(n=1000)
    before = np.array(store.labels)
    acc = StrokeAccumulator()
    acc.begin(store, -1, "Erase")
    rng = np.random.default_rng(3)
    for _ in range(20):
        acc.add(rng.integers(0, 1000, 50))
    assert not np.array_equal(store.labels, before)
    acc.cancel()
    assert np.array_equal(store.labels, before)
    assert not acc.active
    with pytest.raises(RuntimeError):
        acc.add([1])


def test_a_stroke_with_no_change_gives_no_edit():
    store = LabelStore(4, ["a"], labels=[0, 0, 0, 0])
    acc = StrokeAccumulator()
    acc.begin(store, 0)
    acc.add([0, 1, 2, 3])
    assert acc.commit() is None


def test_ten_thousand_points_in_one_stroke_are_one_undo_step():
    """Its time is measured by ``benchmarks/bench_labeling.py``."""
    n = 60_000
    rng = np.random.default_rng(0)
    moves = [rng.choice(n, 400, replace=False) for _ in range(50)]  # over 10,000 distinct points
    store = LabelStore(n, ["a", "b", "c"])
    acc = StrokeAccumulator()
    acc.begin(store, 1, "Brush")
    for idx in moves:
        acc.add(idx)
    edit = acc.commit()
    touched = np.unique(np.concatenate(moves))
    assert edit.n_changed == len(touched) > 9000
    after = np.array(store.labels)
    assert np.all(after[touched] == 1) and np.count_nonzero(after == 1) == len(touched)
    edit.undo(store)
    assert np.all(np.array(store.labels) == -1)
    edit.do(store)
    assert np.array_equal(np.array(store.labels), after)


# -- class-table edits --------------------------------------------------------------------------------
def test_merge_moves_the_labels_and_removes_the_sources():
    store = LabelStore(6, ["a", "b", "c", "d"], labels=[0, 1, 2, 3, -1, 2],
                       distances=[[0, 1, 2, 3], [1, 0, 4, 5], [2, 4, 0, 6], [3, 5, 6, 0]])
    before = state(store)
    edit = merge_classes_edit(store, [0, 2], target=2)
    edit.do(store)
    assert store.class_names == ("b", "c", "d")
    assert list(store.labels) == [1, 0, 1, 2, -1, 1]
    assert np.array_equal(store.distances, [[0, 4, 5], [4, 0, 6], [5, 6, 0]])
    edit.undo(store)
    assert_same_state(state(store), before)


@pytest.mark.parametrize("move_to, expected", [(None, [-1, 0, -1, 1, 0]), (2, [1, 0, 1, 1, 0])])
def test_delete_unlabels_or_moves_the_samples(move_to, expected):
    store = LabelStore(5, ["a", "b", "c"], labels=[0, 1, 0, 2, 1])
    before = state(store)
    edit = delete_class_edit(store, 0, move_to=move_to)
    edit.do(store)
    assert store.class_names == ("b", "c")
    assert list(store.labels) == expected
    edit.undo(store)
    assert_same_state(state(store), before)


def test_the_last_class_cannot_be_deleted():
    store = LabelStore(3, ["only"])
    with pytest.raises(DataError, match="at least one class"):
        delete_class_edit(store, 0)


def test_add_rename_recolour_validate_and_undo():
    store = LabelStore(4, ["a", "b"], distances=[[0, 2], [2, 0]], labels=[0, 1, -1, 0])
    before = state(store)
    add = add_class_edit(store, "c")
    add.do(store)
    assert store.class_names == ("a", "b", "c")
    assert np.array_equal(store.distances, [[0, 2, 2], [2, 0, 2], [2, 2, 0]])
    assert store.colors[2] not in before[2]
    with pytest.raises(DataError, match="already a class"):
        rename_class_edit(store, 0, "b")
    with pytest.raises(DataError, match="needs a name"):
        rename_class_edit(store, 0, "   ")
    with pytest.raises(DataError, match="#RRGGBB"):
        recolor_class_edit(store, 0, "reddish")
    ren = rename_class_edit(store, 0, "alpha")
    ren.do(store)
    rec = recolor_class_edit(store, 1, "#123abc")
    rec.do(store)
    assert store.class_names[0] == "alpha" and store.colors[1] == "#123ABC"
    for e in (rec, ren, add):
        e.undo(store)
    assert_same_state(state(store), before)


def test_distance_edits_are_validated():
    store = LabelStore(3, ["a", "b"])
    with pytest.raises(DataError, match="symmetric"):
        set_distances_edit(store, [[0, 1], [2, 0]])
    with pytest.raises(DataError, match="non-negative"):
        set_distances_edit(store, [[0, -1], [-1, 0]])
    edit = set_distances_edit(store, [[0, 3], [3, 0]])
    version = store.version
    edit.do(store)
    assert store.distances[0, 1] == 3 and store.version == version + 1
    edit.undo(store)
    assert store.distances[0, 1] == 1
    assert set_distances_edit(store, [[0, 1], [1, 0]]) is None


def test_regroup_builds_the_papers_mnist_decomposition_from_digits():
    from saeviz.core.data.digits import DECOMPOSITIONS

    digits = np.arange(10).repeat(3)
    store = LabelStore(30, [str(d) for d in range(10)], labels=digits)
    dec = DECOMPOSITIONS["abc"]
    edit = regroup_edit(store, dec.class_names, [g for _, g in dec.groups])
    edit.do(store)
    assert store.class_names == dec.class_names
    assert np.array_equal(store.labels, dec.apply(digits))
    edit.undo(store)
    assert np.array_equal(store.labels, digits) and len(store.class_names) == 10


# -- undo / redo over a random sequence ---------------------------------------------------------------
def random_edit(store, rng):
    n, k = store.n_samples, store.n_classes
    kind = rng.choice(["paint", "erase", "values", "add", "rename", "recolor", "merge", "delete",
                       "distances"], p=[.3, .1, .1, .1, .08, .07, .08, .08, .09])
    if kind in ("paint", "erase"):
        acc = StrokeAccumulator()
        acc.begin(store, -1 if kind == "erase" else int(rng.integers(0, k)))
        for _ in range(int(rng.integers(1, 6))):
            acc.add(rng.integers(0, n, int(rng.integers(1, 40))))
        return acc.commit(), True  # already applied
    if kind == "values":
        idx = rng.integers(0, n, 30)
        return label_edit(store, idx, rng.integers(-1, k, 30)), False
    if kind == "add" or (k < 2 and kind in ("merge", "delete")):
        return add_class_edit(store), False
    if kind == "rename":
        return rename_class_edit(store, int(rng.integers(0, k)), f"name{rng.integers(1_000_000)}"), False
    if kind == "recolor":
        return recolor_class_edit(store, int(rng.integers(0, k)), "#%06X" % rng.integers(0, 0xFFFFFF)), False
    if kind == "merge":
        a, b = rng.choice(k, 2, replace=False)
        return merge_classes_edit(store, [int(a)], int(b)), False
    if kind == "delete":
        c = int(rng.integers(0, k))
        others = [i for i in range(k) if i != c]
        move = int(rng.choice(others)) if rng.random() < 0.5 else None
        return delete_class_edit(store, c, move), False
    A = rng.random((k, k)) * 3
    D = A + A.T
    np.fill_diagonal(D, 0)
    return set_distances_edit(store, D), False


def test_undo_and_redo_restore_the_exact_state_over_50_random_edits():
    rng = np.random.default_rng(42)
    store = make_store(n=500, k=4)
    states = [state(store)]
    edits = []
    while len(edits) < 50:
        edit, applied = random_edit(store, rng)
        if edit is None:
            continue
        if not applied:
            edit.do(store)
        edits.append(edit)
        states.append(state(store))
    for i in range(len(edits) - 1, -1, -1):  # undo everything
        edits[i].undo(store)
        assert_same_state(state(store), states[i])
    for i, edit in enumerate(edits):  # redo everything
        edit.do(store)
        assert_same_state(state(store), states[i + 1])
    for i in range(len(edits) - 1, 24, -1):  # undo half, then redo
        edits[i].undo(store)
    assert_same_state(state(store), states[25])
    for i in range(25, len(edits)):
        edits[i].do(store)
    assert_same_state(state(store), states[-1])
    assert ClassTable.of(store).k == len(states[-1][1])


# -- painting while training ------------------------------------------------------------------------------
def test_a_label_painted_during_training_changes_the_targets_of_the_next_epoch(digits):
    X = digits.X[digits.train_idx]
    y = digits.y[digits.train_idx]
    n = len(X)
    labels = np.full(n, -1)
    for c in (0, 1):  # only two classes labeled at first
        labels[np.flatnonzero(y == c)[:20]] = c
    store = LabelStore(n, digits.class_names, labels=labels)
    trainer = Trainer(X, ModelConfig(hidden=(32,), latent_dim=4),
                      TrainConfig(epochs=3, batch_size=256, lr=2e-3, gamma=0.5, device="cpu"), store)
    painted = np.flatnonzero(y == 2)[:15]
    finals = []
    for snap in trainer.iter_epochs(3):
        if not snap.final:
            continue
        finals.append(snap)
        if len(finals) == 1:  # the user paints between two epochs, while training runs
            acc = StrokeAccumulator()
            acc.begin(store, 2, "Brush")
            acc.add(painted)
            acc.commit()
    first, second = finals[0], finals[1]
    assert np.all(np.isnan(first.class_targets[2]))  # no class-2 target before the paint
    assert not np.isin(painted, first.target_index).any()
    assert np.all(np.isfinite(second.class_targets[2]))  # the next epoch targets class 2
    assert np.isin(painted, second.target_index).all()
    assert second.label_version == store.version > first.label_version
    rows = np.searchsorted(second.target_index, painted)
    assert np.allclose(second.targets[rows], second.class_targets[2], atol=1e-5)


def test_follow_store_moves_the_callbacks_from_one_store_to_the_next():
    from saeviz.core.state.labels import LabelStore, follow_store

    a, b = LabelStore(4, ("x", "y")), LabelStore(4, ("x", "y"))
    seen = []

    def on_labels(idx):
        seen.append(("labels", len(idx)))

    def on_classes():
        seen.append("classes")

    store = follow_store(None, a, labels=on_labels, classes=on_classes)
    assert store is a
    a.assign([0, 1], 1)
    assert seen == [("labels", 2)]
    store = follow_store(a, b, labels=on_labels, classes=on_classes)
    a.assign([2], 0)  # no longer followed
    b.assign([3], 0)
    b.set_distances([[0.0, 2.0], [2.0, 0.0]])
    assert store is b and seen == [("labels", 2), ("labels", 1), "classes"]
    assert follow_store(b, None, labels=on_labels, classes=on_classes) is None
    b.assign([0], 0)
    assert len(seen) == 3
