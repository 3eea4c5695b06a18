"""Help > About saeviz and Help > Keyboard shortcuts."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QMessageBox, QWidget

from saeviz import __version__

PAPER = ("M. Rudolph, B. Wandt, B. Rosenhahn: “Structuring Autoencoders”, "
         "ICCV Workshops 2019")


def about_box(parent: QWidget, icon: QIcon) -> QMessageBox:
    """The About box (opened, not blocking; deleted when closed)."""
    box = QMessageBox(parent)
    box.setIconPixmap(icon.pixmap(64, 64))
    box.setWindowTitle("About saeviz")
    box.setTextFormat(Qt.RichText)
    box.setText(
        f"<h3>saeviz {__version__}</h3>"
        "<p>Explore and structure the latent space of autoencoders with a few labels.</p>"
        "<p>saeviz implements the <b>Structuring Autoencoder</b> (SAE): each epoch, "
        "multidimensional scaling places the labeled samples' codes according to "
        "chosen distances between classes, an orthogonal alignment turns these targets "
        "towards the current codes, and the network trains on γ · structural loss + "
        "(1 − γ) · reconstruction loss.</p>"
        f"<p>{PAPER}.</p>")
    box.setStandardButtons(QMessageBox.Ok)
    box.setAttribute(Qt.WA_DeleteOnClose)
    box.open()
    return box


def shortcuts_box(window, old=None, closed=None):
    """The list of every shortcut of ``window``, read from its actions when it opens;
    ``old``: the previous one, closed first; ``closed()`` runs when it is dismissed."""
    from saeviz.app.window.shortcuts_dialog import ShortcutsDialog

    if old is not None:
        old.close()
    box = ShortcutsDialog(window)
    box.setAttribute(Qt.WA_DeleteOnClose)
    if closed is not None:
        box.finished.connect(lambda _r: closed())
    box.open()
    return box


__all__ = ["PAPER", "about_box", "shortcuts_box"]
