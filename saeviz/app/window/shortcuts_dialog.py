"""Help > Keyboard shortcuts: every shortcut of the window, read from its actions.

The list is built when the dialog opens from the window's ``QAction``s (every action with a
shortcut, under the menu that holds it), plus the keys that widgets handle themselves and
that therefore have no action (``WIDGET_KEYS``: the labeling queue's keys, Escape while a
stroke is drawn, the mouse in the views). A new action with a shortcut appears by itself.
"""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLineEdit,
    QMenu,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

# (group, keys, what they do) for keys that widgets handle without an action
WIDGET_KEYS: tuple[tuple[str, str, str], ...] = (
    ("Labeling queue (when it has the focus)", "1 … 9", "Give the shown sample that class"),
    ("Labeling queue (when it has the focus)", "S", "Skip the shown sample"),
    ("Labeling queue (when it has the focus)", "Backspace", "Go back to the previous sample"),
    ("Latent view", "Escape (while drawing)", "Cancel the stroke, lasso or rectangle being drawn"),
    ("Latent view", "Shift + drag or click", "Unlabel with the click, brush, lasso or rectangle tool"),
    ("Latent view", "Click a point", "Select it (the inspector and the mesh view show it)"),
    ("Latent view", "Mouse wheel / right drag", "Zoom"),
    ("Latent view", "Left drag (navigate tool)", "Pan; in 3D: rotate"),
    ("Mesh view", "Left drag / wheel", "Rotate / zoom the body"),
)

#: the queue keys that ``WIDGET_KEYS`` describes (checked against the queue's own set)
DESCRIBED_QUEUE_KEYS = frozenset({Qt.Key_S, Qt.Key_Backspace} | {getattr(Qt, f"Key_{i}") for i in range(1, 10)})


def _plain(text: str) -> str:
    return text.replace("&&", "\0").replace("&", "").replace("\0", "&").replace("…", "").strip()


def _menu_paths(window) -> dict[int, str]:
    """id(action) -> "File", "View > Projection", ... for every action in the menu bar."""
    paths: dict[int, str] = {}

    def walk(menu: QMenu, prefix: str) -> None:
        for act in menu.actions():
            sub = act.menu()
            if sub is not None:
                walk(sub, f"{prefix} > {_plain(act.text())}")
            elif not act.isSeparator():
                paths.setdefault(id(act), prefix)

    for act in window.menuBar().actions():
        if act.menu() is not None:
            walk(act.menu(), _plain(act.text()))
    return paths


def action_shortcuts(window) -> list[tuple[str, str, str, QAction]]:
    """(group, keys, name, action) for every action of ``window`` that has a shortcut."""
    paths = _menu_paths(window)
    rows, seen = [], set()
    for act in window.findChildren(QAction):
        keys = [k for k in act.shortcuts() if not k.isEmpty()]
        if not keys or id(act) in seen:
            continue
        seen.add(id(act))
        text = ", ".join(k.toString(QKeySequence.NativeText) for k in keys)
        name = _plain(act.text()) or _plain(act.toolTip())
        group = paths.get(id(act), "Tools" if act.objectName().startswith(("tool_", "class_", "brush_"))
                          else "Window")
        rows.append((group, text, name, act))
    order = [_plain(a.text()) for a in window.menuBar().actions()]
    rank = {g: i for i, g in enumerate(order)}
    rows.sort(key=lambda r: (rank.get(r[0].split(" > ")[0], len(rank)), r[0], r[2].lower()))
    return rows


class ShortcutsDialog(QDialog):
    """A searchable table of every shortcut (see the module documentation)."""

    def __init__(self, window, parent: QWidget | None = None):
        super().__init__(parent if parent is not None else window)
        self.setObjectName("shortcutsDialog")
        self.setWindowTitle("Keyboard shortcuts")
        self.filter = QLineEdit()
        self.filter.setObjectName("shortcutsFilter")
        self.filter.setPlaceholderText("Filter, e.g. train or Ctrl")
        self.filter.setClearButtonEnabled(True)
        self.tree = QTreeWidget()
        self.tree.setObjectName("shortcutsTree")
        self.tree.setColumnCount(2)
        self.tree.setHeaderLabels(["Keys", "Command"])
        self.tree.setRootIsDecorated(False)
        self.tree.setSelectionMode(QAbstractItemView.NoSelection)
        self.tree.header().setSectionResizeMode(0, QHeaderView.ResizeToContents)
        self.tree.header().setStretchLastSection(True)
        groups: dict[str, QTreeWidgetItem] = {}

        def add(group: str, keys: str, name: str, tip: str = "") -> None:
            parent_item = groups.get(group)
            if parent_item is None:
                parent_item = QTreeWidgetItem(self.tree, [group])
                parent_item.setFirstColumnSpanned(True)
                font = parent_item.font(0)
                font.setBold(True)
                parent_item.setFont(0, font)
                groups[group] = parent_item
            item = QTreeWidgetItem(parent_item, [keys, name])
            if tip:
                item.setToolTip(1, tip)

        for group, keys, name, act in action_shortcuts(window):
            add(group, keys, name, act.toolTip())
        for group, keys, what in WIDGET_KEYS:
            add(group, keys, what)
        self.tree.expandAll()
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(self.filter)
        lay.addWidget(self.tree, 1)
        lay.addWidget(buttons)
        self.filter.textChanged.connect(self._filter)
        self.resize(560, 520)

    def rows(self) -> list[tuple[str, str, str]]:
        """(group, keys, command) of every row (visible or filtered out)."""
        out = []
        for i in range(self.tree.topLevelItemCount()):
            g = self.tree.topLevelItem(i)
            for j in range(g.childCount()):
                c = g.child(j)
                out.append((g.text(0), c.text(0), c.text(1)))
        return out

    def _filter(self, text: str) -> None:
        needle = text.strip().lower()
        for i in range(self.tree.topLevelItemCount()):
            g = self.tree.topLevelItem(i)
            shown = 0
            for j in range(g.childCount()):
                c = g.child(j)
                hit = not needle or needle in c.text(0).lower() or needle in c.text(1).lower() \
                    or needle in g.text(0).lower()
                c.setHidden(not hit)
                shown += hit
            g.setHidden(shown == 0)


__all__ = ["ShortcutsDialog", "action_shortcuts", "WIDGET_KEYS"]
