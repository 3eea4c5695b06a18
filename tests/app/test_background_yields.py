"""Background work yields to the UI thread: gated panel updates, lower-priority worker
threads, and garbage collected on the UI thread only."""
from __future__ import annotations

import os
import sys
import threading
import time

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtWidgets import QDockWidget, QLabel, QMainWindow, QTabWidget  # noqa: E402

from saeviz.app.common.live_gate import LiveGate, shown_in_window  # noqa: E402
from saeviz.app.common.tasks import TaskRunner, background_priority  # noqa: E402

pytestmark = pytest.mark.gui


class Counter:
    def __init__(self):
        self.calls = 0

    def __call__(self):
        self.calls += 1


def docked(qtbot):
    window = QMainWindow()
    qtbot.addWidget(window)
    window.setCentralWidget(QLabel("centre"))
    panel = QLabel("panel")
    dock = QDockWidget("Panel", window)
    dock.setWidget(panel)
    window.addDockWidget(Qt.RightDockWidgetArea, dock)
    return window, dock, panel


def test_a_hidden_panel_waits_and_updates_once_when_shown(qtbot):
    window, dock, panel = docked(qtbot)
    window.show()
    qtbot.waitExposed(window)
    update = Counter()
    gate = LiveGate(panel, update, training=lambda: False)
    gate.request()
    assert update.calls == 1  # shown, not training: at once

    dock.close()
    assert not shown_in_window(panel)
    for _ in range(5):
        gate.request()
    qtbot.wait(50)
    assert update.calls == 1 and gate.pending

    dock.show()
    qtbot.waitUntil(lambda: update.calls == 2, timeout=2000)
    qtbot.wait(50)
    assert update.calls == 2 and not gate.pending


def test_a_tab_behind_another_counts_as_hidden(qtbot):
    tabs = QTabWidget()
    qtbot.addWidget(tabs)
    front, back = QLabel("front"), QLabel("back")
    tabs.addTab(front, "front")
    tabs.addTab(back, "back")
    tabs.show()
    qtbot.waitExposed(tabs)
    assert shown_in_window(front) and not shown_in_window(back)
    update = Counter()
    gate = LiveGate(back, update, training=lambda: True)
    gate.request()
    assert update.calls == 0
    tabs.setCurrentWidget(back)
    qtbot.waitUntil(lambda: update.calls == 1, timeout=2000)


def test_a_dock_behind_another_docks_tab_counts_as_hidden(qtbot):
    """Qt leaves a tabbed dock whose tab is not the current one visible (with nothing in
    sight); the gate waits for it, and a click on its tab brings the update."""
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QTabBar

    window, dock, panel = docked(qtbot)
    front = QDockWidget("Front", window)
    front.setWidget(QLabel("front"))
    window.addDockWidget(Qt.RightDockWidgetArea, front)
    window.tabifyDockWidget(dock, front)
    window.resize(600, 400)
    window.show()
    qtbot.waitExposed(window)
    front.raise_()
    qtbot.waitUntil(lambda: panel.visibleRegion().isEmpty(), timeout=2000)
    assert panel.isVisible() and not shown_in_window(panel)
    update = Counter()
    gate = LiveGate(panel, update, training=lambda: True)
    gate.request()
    qtbot.wait(50)
    assert update.calls == 0 and gate.pending
    bar = next(b for b in window.findChildren(QTabBar) if b.count() == 2)
    tab = next(i for i in range(bar.count()) if bar.tabText(i) == "Panel")
    QTest.mouseClick(bar, Qt.LeftButton, pos=bar.tabRect(tab).center())
    qtbot.waitUntil(lambda: update.calls == 1, timeout=2000)
    assert shown_in_window(panel) and not gate.pending


def test_panels_of_an_unshown_window_count_as_shown(qtbot):
    window, dock, panel = docked(qtbot)
    assert shown_in_window(panel)
    update = Counter()
    LiveGate(panel, update, training=lambda: False).request()
    assert update.calls == 1


def test_while_training_updates_come_at_most_once_per_interval(qtbot):
    window, dock, panel = docked(qtbot)
    training = [True]
    update = Counter()
    gate = LiveGate(panel, update, training=lambda: training[0], interval=0.3)
    t0 = time.monotonic()
    gate.request()
    assert update.calls == 1
    for _ in range(20):  # a burst of epochs: one more update, after the interval
        gate.request()
    assert update.calls == 1
    qtbot.waitUntil(lambda: update.calls == 2, timeout=3000)
    assert time.monotonic() - t0 >= 0.3 - 0.02
    qtbot.wait(400)
    assert update.calls == 2  # nothing asked since

    training[0] = False  # training over: each request at once
    gate.request()
    gate.request()
    assert update.calls == 4


def test_a_gate_without_widget_asks_its_owner_whether_anyone_looks(qtbot):
    from PySide6.QtCore import QObject

    owner = QObject()
    looking = [False]
    update = Counter()
    gate = LiveGate(None, lambda: update() or "ranked", training=lambda: False,
                    shown=lambda: looking[0], parent=owner)
    gate.request()
    assert update.calls == 0 and gate.pending  # nobody looks: stale, not updated
    gate.run_pending()
    assert update.calls == 0
    looking[0] = True
    gate.run_pending()
    assert update.calls == 1 and not gate.pending
    gate.run_pending()  # nothing waits any more
    assert update.calls == 1
    assert gate.run() == "ranked" and update.calls == 2


def test_cancel_forgets_a_waiting_update(qtbot):
    window, dock, panel = docked(qtbot)
    update = Counter()
    gate = LiveGate(panel, update, training=lambda: True, interval=0.2)
    gate.request()
    gate.request()
    gate.cancel()
    qtbot.wait(400)
    assert update.calls == 1 and not gate.pending


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread niceness is Linux's")
def test_worker_threads_keep_the_ui_priority_and_only_a_training_thread_is_lowered(qtbot):
    # a lowered task thread holding the interpreter lock on a busy machine stalls the UI thread
    ui = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    seen = {}

    def lowered():
        first = background_priority(3)
        again = background_priority(3)  # once per thread: no further lowering
        return first, again, os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    runner = TaskRunner(max_threads=2)
    runner.submit("probe", lambda: os.getpriority(os.PRIO_PROCESS, threading.get_native_id()),
                  on_result=lambda r: seen.setdefault("task", r))
    qtbot.waitUntil(lambda: "task" in seen, timeout=5000)
    assert seen["task"] == ui
    thread = threading.Thread(target=lambda: seen.setdefault("lowered", lowered()))
    thread.start()
    thread.join(5)
    first, again, nice = seen["lowered"]
    assert first and again and nice == min(19, ui + 3)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == ui  # the UI thread is untouched
    runner.shutdown()


def test_cycles_are_collected_on_the_ui_thread_even_when_a_worker_allocates(qtbot):
    import gc

    from saeviz.app.window import launch

    deleted_in = []

    class Node:
        def __del__(self):
            deleted_in.append(threading.current_thread() is threading.main_thread())

    def churn():
        return [[i] for i in range(200_000)]  # far past the automatic collection threshold

    enabled_before = gc.isenabled()
    try:
        launch.collect_garbage_on_ui_thread(interval=0.05)
        assert not gc.isenabled()
        a, b = Node(), Node()
        a.other, b.other = b, a
        del a, b
        done = {}
        runner = TaskRunner()
        runner.submit("churn", churn, on_result=lambda kept: done.setdefault("n", kept))
        qtbot.waitUntil(lambda: "n" in done, timeout=10000)
        qtbot.waitUntil(lambda: len(deleted_in) == 2, timeout=5000)
        assert deleted_in == [True, True]
        runner.shutdown()
    finally:
        if launch._collector is not None:
            launch._collector.timer.stop()
            launch._collector = None
        if enabled_before:
            gc.enable()

