"""The labeling queue: the candidates one at a time, large enough to judge, labeled by key.

``QueuePanel`` walks through the newest ranking (``GuidedController.candidates``) with a
``saeviz.core.state.labeling_queue.LabelingQueue``: keys 1-9 give the shown sample a class,
S skips it, Backspace goes back; after a label or a skip the next open candidate follows by
itself. While the queue has the keyboard focus, its sample is also the session's selection, so
the inspector (and, for meshes, the mesh viewport) shows it; a queue nobody works in never
moves the selection.

Every label is one edit (``LabelingQueue.assignment``) pushed onto the one labeling editor
(``Shell.editor``), the same undo history as the paint tools and the class manager;
the queue itself only keeps its place in the list. Edit > Undo (Ctrl+Z) of a queue label
restores the label and returns the queue to that sample; the History panel lists it like any
other step. The labels reach the store at once and join training at the next epoch. Refresh
ranks again from the latest model and labels and continues with the new list.

Until the user labels, skips or goes back in the queue, it follows every newer ranking by
itself (training on in the background never leaves it showing an old epoch's candidates);
once a round of labeling has started, a newer ranking is only offered (Refresh takes it).
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QFont, QIcon
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from saeviz.app.common.icons import swatch
from saeviz.app.common.sample_panes import CurvePane, ImagePane
from saeviz.app.common.shell import Shell
from saeviz.app.common.undo import LabelEditor
from saeviz.app.guided.candidates import GuidedController
from saeviz.core.display.thumbnails import mesh_axes, mesh_silhouette
from saeviz.core.state.labeling_queue import LabelingQueue
from saeviz.core.state.labels import UNLABELED, follow_store

BIG_SILHOUETTE = 160
QUEUE_KEYS = {Qt.Key_S, Qt.Key_Backspace} | {getattr(Qt, f"Key_{i}") for i in range(1, 10)}


class QueueController(QObject):
    """The queue of one label store, its writes through the labeling editor, and Refresh."""

    changed = Signal()          # the queue moved, assigned, or got new items
    waitingChanged = Signal(bool)

    def __init__(self, shell: Shell, guided: GuidedController, parent: QObject | None = None):
        super().__init__(parent if parent is not None else shell)
        self.session = shell.session
        self.guided = guided
        self.editor: LabelEditor = shell.editor  # the window's one editor: one undo history
        self.queue: LabelingQueue | None = None
        self.loaded_seq = 0          # the ranking the queue holds
        self.loaded_epoch: int | None = None
        self.waiting = False         # Refresh asked: the next ranking replaces the items
        self.started = False         # the user labeled, skipped or went back with the queue
        self._store = None
        self.session.dataset_changed.connect(self._dataset_changed)
        guided.resultApplied.connect(self._result)
        guided.cleared.connect(self._cleared)
        self._dataset_changed()

    # -- the queue ------------------------------------------------------------------------------
    def _dataset_changed(self) -> None:
        store = self.session.labels
        self._store = store
        if self.queue is not None:
            self.queue.changed.disconnect(self._queue_changed)
        self.queue = None
        if store is not None:
            self.queue = LabelingQueue((), store)
            self.queue.changed.connect(self._queue_changed)
        self.loaded_seq = 0
        self.loaded_epoch = None
        self.started = False
        self._set_waiting(False)
        self.changed.emit()

    def _cleared(self) -> None:
        if self.queue is not None and len(self.queue):
            self.queue.refresh(())
        self.loaded_seq = 0
        self.loaded_epoch = None
        self.started = False
        self._set_waiting(False)

    def _queue_changed(self) -> None:
        self.changed.emit()

    def load(self, force: bool = False) -> bool:
        """Take the newest shown candidates (always with ``force``, else only while no round of
        labeling has started in the loaded items, or when they are done)."""
        q = self.queue
        res = self.guided.result
        c = self.guided.candidates
        if q is None or res is None or c is None:
            return False
        if not force and len(q) and not q.finished and self.loaded_seq and self.started:
            return False
        if not force and not self.started and res.epoch < self.guided.completed_epochs() and not self.guided.busy:
            self.refresh()  # the ranking is older than the model: rank again, the queue follows
        if self.loaded_seq == res.request.seq and len(q) and not q.finished and not force:
            return True  # already the newest
        self.loaded_seq = res.request.seq
        self.loaded_epoch = res.epoch
        q.refresh(c)  # a round once started stays started: later rankings are offered
        return True

    def refresh(self) -> bool:
        """Rank again from the latest model and labels; the queue continues with the new list."""
        if self.guided.refresh():
            self._set_waiting(True)
            return True
        return False

    def _set_waiting(self, on: bool) -> None:
        if on != self.waiting:
            self.waiting = on
            self.waitingChanged.emit(on)

    def _result(self, _result) -> None:
        if self.waiting:
            self._set_waiting(False)
            self.load(force=True)
        elif self.queue is not None and (not len(self.queue) or self.queue.finished or not self.loaded_seq
                                         or not self.started):
            self.load(force=True)
        else:
            self.changed.emit()  # tells the panel a newer ranking exists

    @property
    def newer_ranking(self) -> bool:
        res = self.guided.result
        return res is not None and self.loaded_seq and res.request.seq != self.loaded_seq

    # -- commands ------------------------------------------------------------------------------------
    def assign(self, label: int) -> bool:
        """Label the current sample with class ``label`` as one undo step, then move on."""
        q = self.queue
        store = self.session.labels
        if q is None or q.finished or store is None or not 0 <= int(label) < store.n_classes:
            return False
        name = store.class_names[int(label)]
        text = f"Queue: {self.session.dataset_index(q.current)} as {name}"
        self.started = True
        return self.editor.push(q.assignment(int(label), text=text))

    def skip(self) -> bool:
        q = self.queue
        if q is None or q.finished:
            return False
        self.started = True
        q.skip()
        return True

    def back(self) -> bool:
        q = self.queue
        if q is None or q.position == 0:
            return False
        self.started = True
        q.back()
        return True


class QueuePanel(QWidget):
    """One candidate at a time: the sample, what the model hesitates between, the class keys."""

    def __init__(self, controller: QueueController, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("labelingQueue")
        self.setFocusPolicy(Qt.StrongFocus)
        self.controller = controller
        self.session = controller.session
        self.guided = controller.guided

        self.title = QLabel()
        self.title.setObjectName("queueTitle")
        font = QFont(self.title.font())
        font.setPointSizeF(font.pointSizeF() + 1.5)
        font.setBold(True)
        self.title.setFont(font)
        self.image = ImagePane("no candidate")
        self.curve = CurvePane()
        self.curve.setMinimumHeight(96)
        self.curve.setFocusPolicy(Qt.NoFocus)
        self.views = QStackedWidget()
        self.views.addWidget(self.image)
        self.views.addWidget(self.curve)
        self.hint = QLabel()
        self.hint.setObjectName("queueHint")
        self.hint.setWordWrap(True)
        self.hint.setTextFormat(Qt.RichText)
        self.state_label = QLabel()
        self.state_label.setObjectName("queueState")
        self.state_label.setTextFormat(Qt.RichText)
        self.state_label.setToolTip("Keys: 1-9 give a class, S skips, Backspace goes back, Ctrl+Z undoes")

        self.class_box = QWidget()
        self.class_grid = QGridLayout(self.class_box)
        self.class_grid.setContentsMargins(0, 0, 0, 0)
        self.class_grid.setSpacing(3)
        self.class_buttons: list[QPushButton] = []

        self.back_button = self._button("Back", "go-previous", "Previous candidate (Backspace)", controller.back)
        self.skip_button = self._button("Skip", "go-next", "Leave this sample unlabeled (S)", controller.skip)
        self.refresh_button = self._button("Refresh", "view-refresh",
                                           "Rank again from the latest model and labels (Ctrl+Shift+R)",
                                           controller.refresh)
        self.back_button.setObjectName("queueBack")
        self.skip_button.setObjectName("queueSkip")
        self.refresh_button.setObjectName("queueRefresh")
        self.progress = QProgressBar()
        self.progress.setObjectName("queueProgress")
        self.progress.setTextVisible(True)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        moves = QHBoxLayout()
        moves.setContentsMargins(0, 0, 0, 0)
        moves.addWidget(self.back_button)
        moves.addWidget(self.skip_button)
        moves.addWidget(self.progress, 1)
        moves.addWidget(self.refresh_button)
        self.note = QLabel()
        self.note.setObjectName("queueNote")
        self.note.setWordWrap(True)
        self.note.setStyleSheet("color: #8a5a00")
        self.note.hide()

        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 4, 6, 4)
        lay.setSpacing(3)
        lay.addWidget(self.title)
        lay.addWidget(self.views, 1)
        lay.addWidget(self.hint)
        lay.addWidget(self.state_label)
        lay.addWidget(self.class_box)
        lay.addLayout(moves)
        lay.addWidget(self.note)

        controller.changed.connect(self.refresh_view)
        controller.waitingChanged.connect(lambda _on: self.refresh_view())
        self.guided.message.connect(lambda _t: self.refresh_view())
        self.session.dataset_changed.connect(self._dataset_changed)
        self._store = None
        self._shown: int | None = None
        self._dataset_changed()

    def _button(self, text: str, icon: str, tip: str, slot) -> QToolButton:
        b = QToolButton()
        b.setText(text)
        b.setIcon(QIcon.fromTheme(icon))
        b.setToolButtonStyle(Qt.ToolButtonTextBesideIcon)
        b.setToolTip(tip)
        b.setFocusPolicy(Qt.NoFocus)
        b.clicked.connect(lambda _=False: (self.setFocus(), slot()))
        return b

    # -- keys ---------------------------------------------------------------------------------------
    def event(self, ev) -> bool:  # noqa: D401 - Qt override
        # The window's 1-9 (paint class) and other single-key shortcuts yield to the queue's keys
        # while it has the focus.
        if ev.type() == QEvent.ShortcutOverride and self._handles(ev):
            ev.accept()
            return True
        return super().event(ev)

    @staticmethod
    def _handles(ev) -> bool:
        mods = ev.modifiers() & ~Qt.KeypadModifier
        return ev.key() in QUEUE_KEYS and mods == Qt.NoModifier

    def keyPressEvent(self, ev) -> None:  # noqa: N802 - Qt override
        if not self._handles(ev):
            super().keyPressEvent(ev)
            return
        key = ev.key()
        if key == Qt.Key_S:
            self.controller.skip()
        elif key == Qt.Key_Backspace:
            self.controller.back()
        else:
            self.controller.assign(int(key) - int(Qt.Key_1))
        ev.accept()

    def focusInEvent(self, ev) -> None:  # noqa: N802 - Qt override
        super().focusInEvent(ev)
        self.refresh_view()
        cur = self.current
        if cur is not None and self.session.selected != cur:
            self.session.select(cur)  # the inspector (and the mesh viewport) show the queue's sample

    def focusOutEvent(self, ev) -> None:  # noqa: N802 - Qt override
        super().focusOutEvent(ev)
        self.refresh_view()

    # -- classes ------------------------------------------------------------------------------------
    def _dataset_changed(self) -> None:
        store = self.session.labels
        self._store = follow_store(self._store, store, classes=self._rebuild_classes)
        ds = self.session.dataset
        self.views.setCurrentIndex(1 if (ds is not None and ds.kind == "vector") else 0)
        self._mesh_axes = mesh_axes(self.session.X[0]) if (ds is not None and ds.kind == "mesh") else None
        self._rebuild_classes()

    def _rebuild_classes(self) -> None:
        for b in self.class_buttons:
            self.class_grid.removeWidget(b)
            b.deleteLater()
        self.class_buttons = []
        store = self._store
        if store is None:
            return
        columns = min(store.n_classes, 5)
        for i, (name, color) in enumerate(zip(store.class_names, store.colors)):
            b = QPushButton(f"{i + 1}  {name}" if i < 9 else name)
            b.setObjectName(f"queueClass{i}")
            b.setIcon(swatch(color, 12))
            b.setFocusPolicy(Qt.NoFocus)
            b.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)
            b.setToolTip(f"Label this sample {name}" + (f" ({i + 1})" if i < 9 else ""))
            b.clicked.connect(lambda _=False, i=i: (self.setFocus(), self.controller.assign(i)))
            self.class_grid.addWidget(b, i // columns, i % columns)
            self.class_buttons.append(b)
        self.refresh_view()

    # -- drawing ------------------------------------------------------------------------------------
    def refresh_view(self) -> None:
        ctl = self.controller
        q = ctl.queue
        s = self.session
        done, total = q.progress if q is not None else (0, 0)
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self.progress.setFormat(f"{done} of {total} labeled" if total else "no candidates")
        cur = q.current if q is not None else None
        self.back_button.setEnabled(q is not None and q.position > 0)
        self.skip_button.setEnabled(cur is not None)
        for b in self.class_buttons:
            b.setEnabled(cur is not None)
        notes = []
        if ctl.waiting:
            notes.append("Ranking from the latest model…")
        elif ctl.newer_ranking:
            notes.append(f"A newer ranking (epoch {self.guided.result.epoch}) is ready: Refresh to use it.")
        self.note.setText(" ".join(notes))
        self.note.setVisible(bool(notes))
        if cur is None:
            self._show_empty(q, done, total)
            return
        store = s.labels
        pos = q.position
        self.title.setText(f"Sample {s.dataset_index(cur)} · candidate {pos + 1} of {total}")
        self._show_sample(cur)
        res = self.guided.result
        best = second = None
        if res is not None and cur < len(res.scores):
            sc = res.scores
            best, second = int(sc.predicted[cur]), int(sc.second[cur])
            self.hint.setText(
                f"The model hesitates between {self._cls(best)} and {self._cls(second)} "
                f"(margin {float(sc.margin[cur]):.3f}, confidence {float(sc.confidence[cur]):.2f}).")
        else:
            self.hint.setText("")
        lab = int(store.labels[cur])
        state = q.status(pos)
        if lab != UNLABELED:
            self.state_label.setText(f"Labeled {self._cls(lab)}: a key changes it.")
        elif state == "skipped":
            self.state_label.setText("Skipped: a key labels it now.")
        else:
            keys = ("keys 1–9 · S skips · Backspace goes back" if self.hasFocus()
                    else "click here to use the keys 1–9, S and Backspace")
            self.state_label.setText(f"Which class is it? <span style='color:#666666'>({keys})</span>")
        for i, b in enumerate(self.class_buttons):
            f = b.font()
            f.setBold(i in (best, second))
            b.setFont(f)
        moved, self._shown = cur != self._shown, cur
        if moved and self.hasFocus():  # working in the queue: show the item everywhere
            s.select(cur)

    def _cls(self, k: int) -> str:
        store = self.session.labels
        if not 0 <= k < store.n_classes:
            return str(k)
        return f'<span style="color:{store.colors[k]}">■</span> <b>{store.class_names[k]}</b>'

    def _show_empty(self, q, done: int, total: int) -> None:
        self._shown = None
        self.image.set_array(None)
        self.curve.set_arrays(None, None)
        self.state_label.setText("")
        msg = self.guided.last_error
        if total and q is not None and q.finished:
            self.title.setText("All candidates seen")
            self.hint.setText(f"{done} of {total} labeled. The labels join training at the next epoch; "
                              "after it, Refresh ranks the next candidates.")
        elif self.guided.result is None:
            self.title.setText("No candidates yet")
            self.hint.setText(msg or "Candidates come from the classifier on the latent codes: "
                              "train at least one epoch.")
        else:
            self.title.setText("No candidates")
            self.hint.setText("The newest ranking has no unlabeled samples left. Refresh ranks again.")

    def _show_sample(self, pos: int) -> None:
        s = self.session
        ds = s.dataset
        x = s.X[pos]
        res = self.guided.result
        if ds.kind == "image":
            lo, hi = res.value_range if res is not None else (float(np.min(x)), float(np.max(x)))
            self.image.set_array(x, lo, hi)
        elif ds.kind == "mesh":
            self.image.set_array(mesh_silhouette(x, BIG_SILHOUETTE, self._mesh_axes), 0, 255)
        else:
            self.curve.set_arrays(x, None)

    @property
    def current(self) -> int | None:
        q = self.controller.queue
        return None if q is None else q.current


__all__ = ["QueueController", "QueuePanel"]
