"""A horizontal slider with named marks under its ticks (the ends of the morph path)."""
from __future__ import annotations

from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QPainter, QPalette
from PySide6.QtWidgets import QSlider, QStyle, QStyleOptionSlider, QWidget


class MarkedSlider(QSlider):
    """A horizontal slider with ticks at chosen values, each named below it (the path's ends:
    t = 0 is the sample in its own class, t = 1 has moved it by the whole path)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(Qt.Horizontal, parent)
        self._marks: list[tuple[int, str]] = []
        self.setMinimumHeight(self.sizeHint().height() + self.fontMetrics().height() + 4)

    def set_marks(self, marks) -> None:
        """``[(slider value, text), ...]``."""
        self._marks = [(int(v), str(t)) for v, t in marks]
        self.update()

    @property
    def marks(self) -> list[tuple[int, str]]:
        return list(self._marks)

    def mark_x(self, value: int) -> int:
        """The x pixel of a slider value (the handle's centre there)."""
        opt = QStyleOptionSlider()
        self.initStyleOption(opt)
        groove = self.style().subControlRect(QStyle.CC_Slider, opt, QStyle.SC_SliderGroove, self)
        handle = self.style().subControlRect(QStyle.CC_Slider, opt, QStyle.SC_SliderHandle, self)
        span = groove.width() - handle.width()
        return groove.x() + handle.width() // 2 + QStyle.sliderPositionFromValue(
            self.minimum(), self.maximum(), int(value), span)

    def mark_rects(self) -> list[tuple[QRect, str]]:
        """Where each mark's name is drawn, in the slider's coordinates, and the text drawn
        there: centred under its tick, kept inside the slider and clear of its neighbours'
        names (elided when the slider is too narrow for the whole name)."""
        fm = self.fontMetrics()
        h = self.height()
        marks = sorted((self.mark_x(v), t) for v, t in self._marks)
        out = []
        for i, (x, text) in enumerate(marks):
            lo = 0 if i == 0 else (marks[i - 1][0] + x) // 2 + 3
            hi = self.width() if i == len(marks) - 1 else (x + marks[i + 1][0]) // 2 - 3
            text = fm.elidedText(text, Qt.ElideMiddle, max(0, hi - lo))
            w = fm.horizontalAdvance(text)
            left = min(max(lo, x - w // 2), max(lo, hi - w))
            out.append((QRect(left, h - fm.height(), w, fm.height()), text))
        return out

    def paintEvent(self, event) -> None:
        super().paintEvent(event)
        if not self._marks:
            return
        p = QPainter(self)
        p.setPen(self.palette().color(QPalette.WindowText))
        fm = self.fontMetrics()
        h = self.height()
        for value, _text in self._marks:
            x = self.mark_x(value)
            p.drawLine(x, h - fm.height() - 6, x, h - fm.height() - 1)
        for rect, text in self.mark_rects():
            p.drawText(rect.adjusted(0, 0, 1, 0), Qt.AlignCenter, text)
        p.end()


__all__ = ["MarkedSlider"]
