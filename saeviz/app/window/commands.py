"""The window's own commands: their actions in the named menus (through the ``Shell``), and
which of them are enabled (and what Train says) for the training state and the session."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMessageBox

from saeviz.app.common.icons import icon
from saeviz.app.training.worker import IDLE, PAUSED, RUNNING, STOPPING


def add_commands(window) -> dict[str, QAction]:
    """File, Training, View (3D) and Help actions of ``window`` (a ``MainWindow``), by key."""
    d, sh = window.documents, window.shell
    actions: dict[str, QAction] = {}

    def a(menu, key, text, slot, shortcut=None, tip="", theme_icon=None, checkable=False):
        actions[key] = sh.add_action(menu, key, text, slot, shortcut, tip, theme_icon, checkable)

    a("File", "open", "&Open dataset or model…", d.open_dialog, QKeySequence.Open,
      "Open a dataset (.npz) or a saved model (.safetensors)", "document-open")
    a("File", "open_folder", "Open dataset &folder…", d.open_folder_dialog, "Ctrl+Shift+O",
      "Open a folder of images, IDX files or meshes", "folder-open")
    sh.add_separator("File")
    a("File", "load", "&Load model…", d.load_dialog, None, "Load a saved model", "document-open")
    a("File", "save", "&Save model…", d.save_dialog, QKeySequence.Save,
      "Save the model, labels and history", "document-save")
    sh.add_separator("File")
    a("File", "export_image", "&Export plot image…", d.export_image_dialog, "Ctrl+E",
      "Save the latent view as PNG or SVG", "image-x-generic")
    a("File", "export_codes", "Export &codes…", d.export_codes_dialog, "Ctrl+Shift+E",
      "Save codes, projection and labels as CSV or NPZ", "document-save-as")
    sh.add_separator("File")
    a("File", "quit", "&Quit", window.close, QKeySequence.Quit, theme_icon="application-exit")
    a("Training", "train", "&Train", lambda: window.train_or_pause(), "Space",
      "Train (Space); while training: pause or resume", "media-playback-start")
    a("Training", "stop", "S&top", lambda: window.stop_training(), "Esc", "Stop training (Esc)", "media-playback-stop")
    a("Training", "reset", "&Reset model", window.reset_model, "Ctrl+R",
      "Forget the trained model; the next training starts afresh", "view-refresh")
    a("View", "view3d", "&3D view", lambda checked: window.latent.set_dims(3 if checked else 2), "Ctrl+3",
      "Show three projected dimensions", checkable=True)
    a("Help", "shortcuts", "&Keyboard shortcuts", window.show_shortcuts, "Ctrl+/",
      "List every keyboard shortcut and mouse gesture")
    sh.add_separator("Help")
    a("Help", "about", "&About saeviz", window.show_about, QKeySequence.HelpContents, theme_icon="help-about")
    a("Help", "about_qt", "About &Qt", lambda: QMessageBox.aboutQt(window))
    for key in ("train", "stop"):
        actions[key].setShortcutContext(Qt.WindowShortcut)
    return actions


def update_commands(actions: dict[str, QAction], state: str, session, preview: bool) -> None:
    """Train / Pause / Resume and what may be used now; ``preview``: the codes shown are the
    untrained network's (nothing to export yet)."""
    s = session
    has_data = s.dataset is not None
    train = actions["train"]
    text, name = {RUNNING: ("&Pause", "pause"), PAUSED: ("&Resume", "train")}.get(state, ("&Train", "train"))
    train.setText(text)
    train.setIcon(icon(name))
    train.setEnabled(has_data and state != STOPPING)
    actions["stop"].setEnabled(state in (RUNNING, PAUSED))
    idle = state == IDLE
    actions["reset"].setEnabled(has_data and (s.model is not None or s.trainer is not None or not idle))
    actions["save"].setEnabled(s.model is not None or s.trainer is not None)
    actions["export_image"].setEnabled(has_data)
    actions["export_codes"].setEnabled(s.codes is not None and not preview)


__all__ = ["add_commands", "update_commands"]
