"""Every command a user can reach, on a freshly trained model: each menu and tool-bar action is
triggered, each enabled push or tool button in the window (docks included) is clicked, and the
dialogs they open are dismissed by a timer, as Escape would. The test fails on any Python
exception, and on any slot that received the ``checked`` flag of ``clicked``, ``triggered`` or
``toggled`` in an optional parameter meant for something else (the run-time side of
test_signal_slots.py). Done on the digits demo and on a small generated set of bodies.
"""
from __future__ import annotations

import inspect
import sys
import types

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import QTimer  # noqa: E402
from PySide6.QtGui import QAction  # noqa: E402
from PySide6.QtWidgets import (  # noqa: E402
    QApplication,
    QDialog,
    QDockWidget,
    QMenu,
    QPushButton,
    QToolBar,
    QToolButton,
    QWidget,
)

from saeviz.app import MainWindow  # noqa: E402
from saeviz.core.method.config import ModelConfig, TrainConfig  # noqa: E402
from saeviz.core.state.session import Session, SessionDefaults  # noqa: E402

pytestmark = pytest.mark.gui

# Actions that are not triggered, and why.
SKIPPED_ACTIONS = {
    "quitAction": "ends the application (closing with questions is tested in test_first_hour.py)",
}


# -- checked flags in optional parameters, at run time ------------------------------------------------
def _optional_first_parameters() -> dict:
    """Code object -> (qualified name, parameter) of every function in saeviz.app whose first
    parameter (after self) is optional with a default that is not a bool."""
    import importlib
    import pkgutil

    import saeviz.app

    found = {}
    for info in pkgutil.walk_packages(saeviz.app.__path__, "saeviz.app."):
        if info.name.endswith("__main__"):  # runs the app when imported
            continue
        module = importlib.import_module(info.name)
        todo = [module]
        while todo:
            holder = todo.pop()
            for value in vars(holder).values():
                if isinstance(value, type) and value.__module__ == module.__name__ and value is not holder:
                    todo.append(value)
                fn = value.__func__ if isinstance(value, (staticmethod, classmethod)) else value
                if not isinstance(fn, types.FunctionType) or fn.__module__ != module.__name__:
                    continue
                params = [p for p in inspect.signature(fn).parameters.values()
                          if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
                if isinstance(holder, type) and params and params[0].name in ("self", "cls"):
                    params = params[1:]
                if not params or params[0].default is inspect.Parameter.empty:
                    continue
                first = params[0]
                if isinstance(first.default, bool) or first.annotation in (bool, "bool"):
                    continue
                found[fn.__code__] = (fn.__qualname__, first.name)
    return found


class CheckedFlagTrap:
    """Records calls on the UI thread that got a bool in an optional, non-bool first parameter."""

    def __init__(self):
        self.codes = _optional_first_parameters()
        self.calls: list[str] = []

    def _profile(self, frame, event, arg):
        if event == "call":
            hit = self.codes.get(frame.f_code)
            if hit is not None and isinstance(frame.f_locals.get(hit[1]), bool):
                self.calls.append(f"{hit[0]}({hit[1]}={frame.f_locals[hit[1]]!r})")

    def __enter__(self):
        sys.setprofile(self._profile)
        return self

    def __exit__(self, *exc):
        sys.setprofile(None)


# -- dismissing dialogs ---------------------------------------------------------------------------------
class Dismisser:
    """Closes every dialog that opens over the window, as Escape would, and notes its title."""

    def __init__(self, window: QWidget):
        self.window = window
        self.seen: list[str] = []
        self.timer = QTimer()
        self.timer.setInterval(40)
        self.timer.timeout.connect(self.dismiss)
        self.timer.start()

    def dismiss(self) -> None:
        widgets = [QApplication.activePopupWidget(), QApplication.activeModalWidget()] + [
            w for w in QApplication.topLevelWidgets() if isinstance(w, QDialog)]
        for w in widgets:
            if w is None or w is self.window or not w.isVisible():
                continue
            self.seen.append(f"{type(w).__name__}: {w.windowTitle()}")
            if isinstance(w, QDialog):
                w.reject()
            else:
                w.close()

    def stop(self) -> None:
        self.timer.stop()


# -- walking the window -----------------------------------------------------------------------------------
def menu_actions(menu: QMenu, out: list) -> None:
    menu.aboutToShow.emit()  # menus filled when they open (recent projects)
    for act in menu.actions():
        if act.menu() is not None:
            menu_actions(act.menu(), out)
        elif not act.isSeparator():
            out.append(act)


def every_action(w: MainWindow) -> list[QAction]:
    found: list[QAction] = []
    for act in w.menuBar().actions():
        if act.menu() is not None:
            menu_actions(act.menu(), found)
    for bar in w.findChildren(QToolBar):
        found.extend(a for a in bar.actions() if not a.isSeparator() and a.menu() is None)
    found.extend(a for a in QWidget.actions(w) if not a.isSeparator() and a.menu() is None)  # shortcuts only
    unique, seen = [], set()
    for act in found:
        if id(act) not in seen:
            seen.add(id(act))
            unique.append(act)
    return unique


def name_of(obj) -> str:
    text = obj.text().replace("&", "") if hasattr(obj, "text") else ""
    return f"{obj.objectName() or type(obj).__name__} {text!r}"


def settle(qtbot, w, ms=60) -> None:
    qtbot.wait(ms)
    if w.controller.is_running:  # an action started training: let it end, as the user would
        w.controller.stop(wait=True)
    qtbot.wait(10)


def walk(qtbot, w: MainWindow) -> tuple[list[str], list[str], list[str]]:
    """Trigger every action and click every button; (done, exceptions, flag calls)."""
    done, problems = [], []
    dismisser = Dismisser(w)
    try:
        with CheckedFlagTrap() as trap, qtbot.captureExceptions() as exceptions:
            for act in every_action(w):
                if act.objectName() in SKIPPED_ACTIONS or not act.isEnabled():
                    continue
                before = len(exceptions)
                for _ in range(2 if act.isCheckable() else 1):  # checkable: both states
                    act.trigger()
                    settle(qtbot, w)
                done.append(name_of(act))
                problems += [f"{name_of(act)}: {e[1]!r}" for e in exceptions[before:]]

            w.reset_layout()  # every panel back, then each one raised to reach its buttons
            settle(qtbot, w)
            containers = [d for d in w.findChildren(QDockWidget)] + [w.centralWidget(), w.statusBar()]
            containers += w.findChildren(QToolBar)
            clicked = set()
            for box in containers:
                if isinstance(box, QDockWidget):
                    box.show()
                    box.raise_()
                    settle(qtbot, w, 30)
                for button in box.findChildren(QPushButton) + box.findChildren(QToolButton):
                    act = button.defaultAction() if isinstance(button, QToolButton) else None
                    if id(button) in clicked or (act is not None and act.objectName() in SKIPPED_ACTIONS):
                        continue
                    if not (button.isEnabled() and button.isVisibleTo(w)):
                        continue
                    clicked.add(id(button))
                    before = len(exceptions)
                    button.click()
                    settle(qtbot, w)
                    done.append(name_of(button))
                    problems += [f"{name_of(button)}: {e[1]!r}" for e in exceptions[before:]]
            settle(qtbot, w, 300)  # work the clicks started in the background
            problems += [repr(e[1]) for e in exceptions[len(problems):]] if len(exceptions) > len(problems) else []
        return done, problems, trap.calls
    finally:
        dismisser.stop()
        for top in QApplication.topLevelWidgets():
            if isinstance(top, QDialog) and top.isVisible():
                top.reject()


def train_one_epoch(qtbot, w: MainWindow) -> None:
    with qtbot.waitSignal(w.controller.finished, timeout=180000):
        w.actions["train"].trigger()
    qtbot.waitUntil(lambda: w.session.epoch == 1 and w.session.codes is not None, timeout=30000)
    qtbot.waitUntil(lambda: w.session.classifier is not None, timeout=30000)


def close_everything(qtbot, w) -> None:
    """The window and whatever the walk left open (dialogs, floating panels) go now, on the UI
    thread, not when the interpreter ends."""
    w.close()
    for top in QApplication.topLevelWidgets():
        if isinstance(top, QDialog) or top.isWindow() and top.isVisible():
            top.close()
    qtbot.wait(100)


def check_walk(qtbot, w) -> None:
    done, problems, flags = walk(qtbot, w)
    print(f"{len(done)} actions and buttons:", ", ".join(done))
    print("left open:", [f"{type(x).__name__} {x.windowTitle()!r}" for x in QApplication.topLevelWidgets()
                         if x.isVisible() and x is not w])
    assert len(done) > 40, done  # the walk reached the window's commands
    assert not problems, "exceptions:\n" + "\n".join(problems)
    assert not flags, "slots that received the checked flag:\n" + "\n".join(flags)
    assert w.isVisible()


def test_every_action_and_button_on_the_digits_demo(make_window, qtbot, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    defaults = SessionDefaults(model=ModelConfig(hidden=(64,), latent_dim=6),
                               train=TrainConfig(epochs=1, batch_size=128, lr=2e-3))
    w = make_window(tmp_path / "settings.ini", defaults=defaults)
    try:
        train_one_epoch(qtbot, w)
        check_walk(qtbot, w)
    finally:
        close_everything(qtbot, w)


def bodies_window(make_window, tmp_path, bodies) -> MainWindow:
    """A window on the generated ``bodies`` with a small basis network (one epoch of 16-sample
    batches, a quarter of the bodies labeled), not yet trained."""
    defaults = SessionDefaults(label_fraction=0.25,
                               model=ModelConfig(architecture="basis", hidden=(64, 32), latent_dim=8, basis_size=32),
                               train=TrainConfig(gamma=0.5, epochs=1, batch_size=16, device="cpu", seed=0))
    session = Session(defaults)
    session.set_dataset(bodies)
    return make_window(tmp_path / "settings.ini", defaults=defaults, session=session, open_startup=False)


def test_every_action_and_button_on_generated_bodies(make_window, qtbot, tmp_path, monkeypatch, bodies40):
    monkeypatch.chdir(tmp_path)
    w = bodies_window(make_window, tmp_path, bodies40)
    try:
        train_one_epoch(qtbot, w)
        w.session.select(0)
        check_walk(qtbot, w)
    finally:
        close_everything(qtbot, w)
