"""The labeling queue as a cursor over the labels: its labels are edits, undone like any other."""
from __future__ import annotations

import numpy as np
import pytest

from saeviz.core.errors import DataError
from saeviz.core.state.label_edits import label_edit
from saeviz.core.state.labeling_queue import LabelingQueue, QueueLabelEdit
from saeviz.core.state.labels import LabelStore


@pytest.fixture
def store_and_queue():
    store = LabelStore(10, ["a", "b", "c"])
    queue = LabelingQueue([7, 2, 5, 9], store)
    return store, queue


def test_assigning_labels_the_current_sample_and_moves_on(store_and_queue):
    store, q = store_and_queue
    seen = []
    q.changed.connect(lambda: seen.append(q.current))
    assert (q.current, q.progress, len(q), q.items) == (7, (0, 4), 4, (7, 2, 5, 9))
    edit = q.assign(1)
    assert isinstance(edit, QueueLabelEdit)
    assert (edit.sample, edit.old, edit.label) == (7, -1, 1) and edit.text == "Queue: sample 7 as b"
    assert store.labels[7] == 1 and q.current == 2 and q.progress == (1, 4)
    assert seen == [2]  # one notice per step, though the labels changed too
    q.assign(2)
    assert store.labels[2] == 2 and q.current == 5
    assert store.labels[[0, 1, 3, 4, 6, 8]].tolist() == [-1] * 6


def test_an_assignment_is_applied_only_when_done(store_and_queue):
    store, q = store_and_queue
    edit = q.assignment(2, text="Queue: 7 as c")
    assert store.labels[7] == -1 and q.current == 7 and edit.text == "Queue: 7 as c"
    assert edit.change is not None and edit.change.text == "Queue: 7 as c"
    edit.do(store)
    assert store.labels[7] == 2 and q.current == 2


def test_skip_and_back(store_and_queue):
    store, q = store_and_queue
    assert q.skip() == 2 and q.status(0) == "skipped" and q.progress == (0, 4)
    q.assign(0)
    assert q.current == 5
    assert q.back() == 2 and q.back() == 7 and q.back() == 7
    edit = q.assign(2)  # the skipped one, after all
    assert edit.sample == 7 and store.labels[7] == 2 and q.status(0) == "assigned"
    assert q.current == 5  # the next one not yet labeled
    assert q.back() == 2
    edit = q.assign(1)  # change an earlier answer
    assert (edit.sample, edit.old, edit.label) == (2, 0, 1) and q.progress == (2, 4)
    assert q.current == 5
    q.skip()
    q.assign(0)
    assert q.finished and q.current is None and q.progress == (3, 4)
    with pytest.raises(IndexError):
        q.assign(1)
    with pytest.raises(IndexError):
        q.skip()
    with pytest.raises(IndexError):
        q.status(4)


def test_undoing_the_edits_restores_labels_and_brings_the_cursor_back(store_and_queue):
    store, q = store_and_queue
    history = []  # an undo stack holding queue labels and other label edits alike
    history.append(q.assign(1))                      # 7 -> 1
    history.append(q.assign(2))                      # 2 -> 2
    brush = label_edit(store, [0, 1, 3], 0, "Paint")  # not in the queue
    brush.do(store)
    history.append(brush)
    q.back()
    history.append(q.assign(0))                      # 2: 2 -> 0
    assert store.labels[[7, 2, 0]].tolist() == [1, 0, 0] and q.current == 5

    history[3].undo(store)
    assert store.labels[2] == 2 and q.current == 2 and q.status(1) == "assigned"
    history[2].undo(store)  # the brush: the cursor stays
    assert store.labels[[0, 1, 3]].tolist() == [-1, -1, -1] and q.current == 2
    history[1].undo(store)
    assert store.labels[2] == -1 and q.status(1) == "pending" and q.progress == (1, 4) and q.current == 2
    history[0].undo(store)
    assert store.labels[7] == -1 and q.current == 7 and q.progress == (0, 4)

    history[0].do(store)  # redo moves on again
    assert store.labels[7] == 1 and q.current == 2
    history[1].do(store)
    assert store.labels[2] == 2 and q.current == 5
    history[2].do(store)
    assert store.labels[[0, 1, 3]].tolist() == [0, 0, 0] and q.current == 5
    history[3].do(store)  # labels sample 2 again; the cursor was elsewhere and stays
    assert store.labels[2] == 0 and q.current == 5


def test_the_state_follows_labels_given_anywhere(store_and_queue):
    store, q = store_and_queue
    notices = []
    q.changed.connect(lambda: notices.append(1))
    store.assign([5], 1)  # e.g. the brush labels a queued sample
    assert notices == [1] and q.status(2) == "assigned" and q.progress == (1, 4)
    store.assign([3], 1)  # not a queued sample: no notice
    assert notices == [1]
    q.skip()
    assert q.current == 2
    q.skip()
    assert q.current == 9  # the labeled one is passed over
    store.assign([5], -1)
    assert q.status(2) == "pending" and q.progress == (0, 4)


def test_an_answer_equal_to_the_label_is_a_step_that_only_moves(store_and_queue):
    store, q = store_and_queue
    store.assign([7], 2)
    q.back()  # the cursor started past the labeled sample 7
    assert q.current == 7
    calls = []
    store.labels_changed.connect(lambda idx: calls.append(idx))
    edit = q.assign(2)
    assert edit.change is None and edit.old == 2 and calls == [] and q.current == 2
    edit.undo(store)
    assert q.current == 7 and store.labels[7] == 2 and calls == []


def test_refresh_keeps_labels_skips_and_the_edits(store_and_queue):
    store, q = store_and_queue
    q.skip()                 # 7 skipped
    first = q.assign(1)      # 2 -> 1
    other = q.assign(0)      # 5 -> 0
    q.refresh([5, 7, 2, 8])
    assert q.items == (5, 7, 2, 8) and len(q) == 4
    assert [q.status(i) for i in range(4)] == ["assigned", "skipped", "assigned", "pending"]
    assert q.current == 7 and q.progress == (2, 4)
    q.refresh([8, 2, 4])
    assert q.current == 8
    first.undo(store)        # made before the refresh: still undoes, the cursor goes to it
    assert store.labels[2] == -1 and q.current == 2
    other.undo(store)        # no longer queued: the label comes back, the cursor stays
    assert store.labels[5] == -1 and q.current == 2
    q.refresh(np.array([], dtype=np.int64))
    assert q.finished and q.progress == (0, 0) and q.current is None


def test_invalid_input_is_refused(store_and_queue):
    store, q = store_and_queue
    with pytest.raises(DataError):
        q.refresh([1, 1])
    with pytest.raises(DataError):
        q.refresh([3, 10])
    with pytest.raises(KeyError):
        q.assign(1, index=0)
    with pytest.raises(DataError):
        q.assign(3)
    with pytest.raises(DataError):
        q.assign(-1)
    with pytest.raises(TypeError):
        LabelingQueue([1])
    assert q.items == (7, 2, 5, 9) and np.all(store.labels == -1)


def test_assign_by_index_leaves_the_cursor(store_and_queue):
    store, q = store_and_queue
    edit = q.assign(2, index=9)
    assert store.labels[9] == 2 and q.current == 7 and q.status(3) == "assigned"
    edit.undo(store)
    assert store.labels[9] == -1 and q.current == 9  # undo shows the sample it touched
