"""Icons of the window's actions: Material Design icons through ``qtawesome``.

``icon(name)`` returns the icon of one command (``ICONS`` maps command names to Material
Design icon names); without ``qtawesome`` it falls back to the desktop theme's icon
(freedesktop names in ``THEME``), and to an empty icon when the theme has none.
``decorate(window)`` gives every action of the window that has a known object name its icon.
``swatch(color)`` is a small square of a class colour.
"""
from __future__ import annotations

import logging

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QColor, QIcon, QPixmap
from PySide6.QtWidgets import QToolBar, QToolButton

log = logging.getLogger(__name__)

# command -> (Material Design icon of qtawesome, freedesktop theme icon)
ICONS: dict[str, tuple[str, str]] = {
    "open": ("mdi6.folder-open-outline", "document-open"),
    "open_folder": ("mdi6.folder-outline", "folder-open"),
    "load": ("mdi6.upload", "document-open"),
    "save": ("mdi6.content-save", "document-save"),
    "export_image": ("mdi6.file-image-outline", "image-x-generic"),
    "export_codes": ("mdi6.table-arrow-right", "document-save-as"),
    "quit": ("mdi6.exit-to-app", "application-exit"),
    "train": ("mdi6.play", "media-playback-start"),
    "pause": ("mdi6.pause", "media-playback-pause"),
    "stop": ("mdi6.stop", "media-playback-stop"),
    "reset": ("mdi6.restore", "view-refresh"),
    "view3d": ("mdi6.video-3d", "view-fullscreen"),
    "about": ("mdi6.help-circle-outline", "help-about"),
    "shortcuts": ("mdi6.keyboard-outline", "preferences-desktop-keyboard"),
    "tool_navigate": ("mdi6.cursor-move", "transform-move"),
    "tool_click": ("mdi6.cursor-default-click", "input-mouse"),
    "tool_brush": ("mdi6.brush", "draw-brush"),
    "tool_lasso": ("mdi6.lasso", "edit-select-lasso"),
    "tool_rectangle": ("mdi6.rectangle-outline", "draw-rectangle"),
    "tool_eraser": ("mdi6.eraser", "draw-eraser"),
    "undo": ("mdi6.undo", "edit-undo"),
    "redo": ("mdi6.redo", "edit-redo"),
    "protect_labels": ("mdi6.shield-check-outline", "object-locked"),
    "protectLabels": ("mdi6.shield-check-outline", "object-locked"),
    "undoTool": ("mdi6.undo", "edit-undo"),
    "redoTool": ("mdi6.redo", "edit-redo"),
}

# commands whose tool bar buttons keep their text beside the icon (a mode to see at a glance)
TEXT_BESIDE = ("protectLabels",)

_cache: dict[str, QIcon] = {}


def icon(name: str) -> QIcon:
    """The icon of command ``name`` (an empty icon for unknown names)."""
    if name in _cache:
        return _cache[name]
    awesome, theme = ICONS.get(name, ("", ""))
    result = QIcon()
    if awesome:
        try:
            import qtawesome

            result = qtawesome.icon(awesome, color="#404040", color_disabled="#a8a8a8")
        except Exception as exc:  # noqa: BLE001 - missing package or font: the theme's icon instead
            log.debug("no qtawesome icon %s: %s", awesome, exc)
            result = QIcon()
    if result.isNull() and theme:
        result = QIcon.fromTheme(theme)
    _cache[name] = result
    return result


def swatch(color: str, size: int = 10) -> QIcon:
    """A square icon of ``size`` pixels filled with ``color`` (a class colour beside its name)."""
    pix = QPixmap(size, size)
    pix.fill(QColor(color))
    return QIcon(pix)


def decorate(window) -> int:
    """Give the window's actions whose object name is ``<command>Action`` their icon (one
    icon set for the whole window, theme icons given earlier included); returns how many."""
    n = 0
    named = {a.objectName().removesuffix("Action"): a for a in window.findChildren(QAction) if a.objectName()}
    for key, act in named.items():
        if key in ICONS:
            ic = icon(key)
            if not ic.isNull():
                act.setIcon(ic)
                n += 1
    for bar in window.findChildren(QToolBar):
        for key in TEXT_BESIDE:
            act = named.get(key)
            button = bar.widgetForAction(act) if act is not None else None
            if isinstance(button, QToolButton):
                button.setToolButtonStyle(Qt.ToolButtonTextBesideIcon)
    return n


__all__ = ["ICONS", "icon", "decorate", "swatch"]
