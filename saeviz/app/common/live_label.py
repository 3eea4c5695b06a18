"""``LiveLabel``: one line of text that changes many times a second, without relayouts."""
from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPalette
from PySide6.QtWidgets import QSizePolicy, QWidget


class LiveLabel(QWidget):
    """One line of text that changes many times a second.

    A ``QLabel`` asks for a new layout on every ``setText``, and Qt then lays out the whole
    main window again, docks and all (tens of milliseconds). This widget only repaints: its
    size hint does not depend on the text, and text too long for it is elided (the tooltip
    shows all of it).
    """

    def __init__(self, text: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self._text = ""
        self._color: QColor | None = None
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)
        self.setMinimumHeight(self.fontMetrics().height() + 4)
        self.setText(text)

    def text(self) -> str:
        return self._text

    def setText(self, text: str) -> None:
        if text != self._text:
            self._text = text
            self.setToolTip(text)
            self.update()

    def set_color(self, color) -> None:
        self._color = QColor(color)
        self.update()

    def sizeHint(self) -> QSize:
        return QSize(120, self.fontMetrics().height() + 4)

    def minimumSizeHint(self) -> QSize:
        return QSize(20, self.fontMetrics().height() + 4)

    def paintEvent(self, event) -> None:
        if not self._text:
            return
        p = QPainter(self)
        p.setPen(self._color if self._color is not None else self.palette().color(QPalette.WindowText))
        rect = self.contentsRect()
        text = self.fontMetrics().elidedText(self._text, Qt.ElideRight, rect.width())
        p.drawText(rect, Qt.AlignLeft | Qt.AlignVCenter, text)
        p.end()


def add_status_fields(bar, samples: tuple[str, ...]) -> list[LiveLabel]:
    """Permanent fields of status bar ``bar``, each as wide as its ``samples`` text: a fixed
    size, so new text never lays the window out again."""
    fm = bar.fontMetrics()
    fields = []
    for sample in samples:
        w = LiveLabel()
        w.setContentsMargins(8, 0, 8, 0)
        w.setFixedWidth(fm.horizontalAdvance(sample) + 16)
        bar.addPermanentWidget(w)
        fields.append(w)
    return fields


__all__ = ["LiveLabel", "add_status_fields"]
