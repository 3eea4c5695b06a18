"""A widget that shows what an offscreen VTK render window draws.

``RenderCanvas`` owns a PyVista ``Plotter`` whose render window draws off screen; after each
``draw()`` it reads the pixels back (well under a millisecond for a viewport of 700 x 760
pixels) into an image that a plain ``QWidget`` paints. No OpenGL surface is part of the Qt
window, so Qt keeps drawing the window with its raster engine: an OpenGL widget
(``QOpenGLWidget``, which ``pyvistaqt.QtInteractor`` is) makes Qt compose the whole window
through OpenGL on every repaint, and renders its scene once more in every paint, which without
a GPU (Mesa's software rasteriser) cost more than the scene itself.

Mouse navigation goes to VTK's trackball camera through a ``vtkGenericRenderWindowInteractor``
that never renders by itself: when it wants a new picture the canvas emits
``renderRequested``, and the owner renders when it is ready (requests coalesce there). Only
the mouse is forwarded: no key reaches VTK.
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import QSizePolicy, QWidget

_PRESS = {Qt.LeftButton: "LeftButtonPressEvent", Qt.RightButton: "RightButtonPressEvent",
          Qt.MiddleButton: "MiddleButtonPressEvent"}
_RELEASE = {Qt.LeftButton: "LeftButtonReleaseEvent", Qt.RightButton: "RightButtonReleaseEvent",
            Qt.MiddleButton: "MiddleButtonReleaseEvent"}


class RenderCanvas(QWidget):
    """An offscreen PyVista plotter (``plotter``, without lights: the owner adds them) shown
    in a raster widget (module docs)."""

    renderRequested = Signal()  # the picture is out of date (navigation, resize, first show)

    def __init__(self, parent: QWidget | None = None, multi_samples: int = 0):
        super().__init__(parent)
        import pyvista as pv
        from vtkmodules.vtkCommonCore import vtkUnsignedCharArray
        from vtkmodules.vtkInteractionStyle import vtkInteractorStyleTrackballCamera
        from vtkmodules.vtkRenderingUI import vtkGenericRenderWindowInteractor

        self.setAttribute(Qt.WA_OpaquePaintEvent)
        self.setFocusPolicy(Qt.ClickFocus)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)
        self.plotter = pv.Plotter(off_screen=True, lighting="none",
                                  window_size=(max(self.width(), 16), max(self.height(), 16)))
        self.render_window = self.plotter.ren_win
        self.render_window.SetMultiSamples(int(multi_samples))
        self.interactor = vtkGenericRenderWindowInteractor()
        self.interactor.SetRenderWindow(self.render_window)
        self.interactor.SetInteractorStyle(vtkInteractorStyleTrackballCamera())
        self.interactor.EnableRenderOff()  # the owner renders, when renderRequested is handled
        self.interactor.AddObserver("RenderEvent", lambda *_: self.renderRequested.emit())
        self._pixels = vtkUnsignedCharArray()
        self._rgba: np.ndarray | None = None  # the last picture, top row first (H, W, 4)
        self._image: QImage | None = None
        self._initialised = False
        self._closed = False

    # -- rendering -----------------------------------------------------------------------------
    def pixel_size(self) -> tuple[int, int]:
        """The render window's size in device pixels (the widget's size times its pixel ratio)."""
        dpr = self.devicePixelRatioF()
        return max(1, round(self.width() * dpr)), max(1, round(self.height() * dpr))

    def draw(self) -> bool:
        """Render the scene now and show it (at the next paint); False once closed."""
        if self._closed:
            return False
        w, h = self.pixel_size()
        rw = self.render_window
        if tuple(rw.GetSize()) != (w, h):
            self.interactor.UpdateSize(w, h)  # also sizes the render window
            rw.SetSize(w, h)
        if not self._initialised:
            self.interactor.Initialize()
            self._initialised = True
        rw.Render()
        rw.GetRGBACharPixelData(0, 0, w - 1, h - 1, 0, self._pixels)
        from vtkmodules.util.numpy_support import vtk_to_numpy

        flat = vtk_to_numpy(self._pixels)
        if flat.size != w * h * 4:  # no picture (the window has no context)
            return False
        if self._rgba is None or self._rgba.shape != (h, w, 4):
            self._rgba = np.empty((h, w, 4), np.uint8)
            self._image = QImage(self._rgba.data, w, h, 4 * w, QImage.Format_RGBX8888)
            self._image.setDevicePixelRatio(self.devicePixelRatioF())
        np.copyto(self._rgba, flat.reshape(h, w, 4)[::-1])  # OpenGL's rows run bottom-up
        self.update()
        return True

    def rgb(self) -> np.ndarray | None:
        """The last picture as an (H, W, 3) uint8 copy (None before the first render)."""
        return None if self._rgba is None else np.ascontiguousarray(self._rgba[..., :3])

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        if self._image is None or self._rgba is None:
            p.fillRect(self.rect(), Qt.white)
        else:
            p.drawImage(QPoint(0, 0), self._image)
            lw, lh = self._rgba.shape[1] / self.devicePixelRatioF(), self._rgba.shape[0] / self.devicePixelRatioF()
            if lw < self.width() or lh < self.height():  # resized: the next render fills it
                p.fillRect(int(lw), 0, self.width() - int(lw), self.height(), Qt.white)
                p.fillRect(0, int(lh), self.width(), self.height() - int(lh), Qt.white)
        p.end()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.renderRequested.emit()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.renderRequested.emit()

    # -- mouse -> VTK ------------------------------------------------------------------------------
    def _event_position(self, event, repeat: int = 0) -> None:
        dpr = self.devicePixelRatioF()
        pos = event.position()
        mods = event.modifiers()
        self.interactor.SetEventInformationFlipY(int(pos.x() * dpr), int(pos.y() * dpr),
                                                 int(bool(mods & Qt.ControlModifier)),
                                                 int(bool(mods & Qt.ShiftModifier)), "\0", repeat)
        self.interactor.SetAltKey(int(bool(mods & Qt.AltModifier)))

    def _ready(self) -> bool:
        if self._closed:
            return False
        if not self._initialised:
            self.draw()
        return self._initialised

    def _button_event(self, event, handlers: dict, repeat: int = 0) -> None:
        """Hand a button press or release to the VTK interactor's handler for that button."""
        name = handlers.get(event.button())
        if name is None or not self._ready():
            return
        self._event_position(event, repeat=repeat)
        getattr(self.interactor, name)()

    def mousePressEvent(self, event) -> None:
        self._button_event(event, _PRESS)

    def mouseDoubleClickEvent(self, event) -> None:
        self._button_event(event, _PRESS, repeat=1)

    def mouseReleaseEvent(self, event) -> None:
        self._button_event(event, _RELEASE)

    def mouseMoveEvent(self, event) -> None:
        if not self._ready():
            return
        self._event_position(event)
        self.interactor.MouseMoveEvent()

    def wheelEvent(self, event) -> None:
        if not self._ready():
            return
        self._event_position(event)
        delta = event.angleDelta().y()
        if delta > 0:
            self.interactor.MouseWheelForwardEvent()
        elif delta < 0:
            self.interactor.MouseWheelBackwardEvent()

    # -- lifetime -------------------------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        return self._closed

    def close_render_window(self) -> None:
        """Release the render window, its OpenGL context and its X display connection now
        (before the widget goes): the last reference to the window goes here, so that it is
        not destroyed later, e.g. at exit after the display has gone."""
        if self._closed:
            return
        self._closed = True
        self.interactor.RemoveAllObservers()
        self.interactor.SetInteractorStyle(None)
        self.interactor.SetRenderWindow(None)
        self.plotter.close()
        self.render_window = None
        self._pixels = None


__all__ = ["RenderCanvas"]
