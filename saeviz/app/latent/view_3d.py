"""The 3D backend of the latent view: pyqtgraph's GL view on a QOpenGLWindow, with own items.

``GLView3D`` is pyqtgraph's ``GLViewMixin`` (camera, mouse/keyboard controls, item tree) on a
``QOpenGLWindow`` embedded with ``QWidget.createWindowContainer``: a QOpenGLWidget makes Qt
compose the whole top-level window through OpenGL on every frame, which under Mesa's software
renderer costs 15-40 ms per frame by itself (a window container: about 7 ms).

``GLPoints`` and ``GLSegments`` are ``GLGraphicsItem`` subclasses with their own small
shaders. They keep shader programs and vertex buffers per OpenGL context: pyqtgraph's stock
items cache one program per class for the whole process, so a GL view created after another
one was destroyed (a second window, a re-docked view, every GUI test) fails in
``glUseProgram``. Here a new context simply compiles and uploads again.

Per-point colour and size are uploaded when the style changes; a live frame uploads only the
(N, 3) float32 positions. A negative size marks an outlined point (labeled samples).
"""
from __future__ import annotations

import atexit
import math
import weakref

import numpy as np
import pyqtgraph as pg
import shiboken6
from OpenGL import GL
from OpenGL.GL import shaders
from pyqtgraph.opengl.GLGraphicsItem import GLGraphicsItem
from pyqtgraph.opengl.GLViewWidget import GLViewMixin
from PySide6 import QtCore, QtGui, QtWidgets
from PySide6.QtOpenGL import (
    QOpenGLFramebufferObject,
    QOpenGLFramebufferObjectFormat,
    QOpenGLWindow,
)

from saeviz.app.latent.style import Legend, legend_size, paint_legend

SHAPES = ("disc", "ring", "diamond")

# Points are blended in draw order without a depth test: unlabeled points first, labeled
# ones and the overlays after, so what matters is never hidden behind the grey cloud.
BLEND_GL_OPTIONS = {
    GL.GL_DEPTH_TEST: False,
    GL.GL_BLEND: True,
    GL.GL_CULL_FACE: False,
    "glBlendFuncSeparate": (GL.GL_SRC_ALPHA, GL.GL_ONE_MINUS_SRC_ALPHA, GL.GL_ONE, GL.GL_ONE_MINUS_SRC_ALPHA),
}

_COMMON = """
#ifdef GL_ES
precision mediump float;
#endif
#if __VERSION__ >= 130
#define ATTR in
#define VOUT out
#define VIN in
#else
#define ATTR attribute
#define VOUT varying
#define VIN varying
#endif
"""

_FRAG_OUT = """
#if __VERSION__ >= 130
out vec4 fragColor;
#define FRAG_COLOR fragColor
#else
#define FRAG_COLOR gl_FragColor
#endif
"""

_POINTS_VS = """
uniform mat4 u_mvp;
ATTR vec3 a_position;
ATTR vec4 a_color;
ATTR float a_size;
VOUT vec4 v_color;
VOUT float v_size;
VOUT float v_outline;
void main() {
    gl_Position = u_mvp * vec4(a_position, 1.0);
    v_color = a_color;
    v_size = abs(a_size);
    v_outline = a_size < 0.0 ? 1.0 : 0.0;
    gl_PointSize = v_size;
}
"""

_POINTS_FS_HEAD = """
VIN vec4 v_color;
VIN float v_size;
VIN float v_outline;
const vec4 DARK = vec4(0.1, 0.1, 0.1, 1.0);
const vec4 HALO = vec4(1.0, 1.0, 1.0, 0.92);
"""

_POINTS_FS_BODY = {
    "disc": """
void main() {
    vec2 xy = gl_PointCoord * 2.0 - 1.0;
    float r = length(xy);
    if (r > 1.0) discard;
    float px = 2.0 / max(v_size, 1.0);
    FRAG_COLOR = (v_outline > 0.5 && r > 1.0 - 1.6 * px) ? DARK : v_color;
}
""",
    "ring": """
void main() {
    vec2 xy = gl_PointCoord * 2.0 - 1.0;
    float r = length(xy);
    float px = 2.0 / max(v_size, 1.0);
    if (r > 1.0 || r < 1.0 - 6.0 * px) discard;
    bool band = r <= 1.0 - 1.5 * px && r >= 1.0 - 4.5 * px;
    FRAG_COLOR = band ? v_color : HALO;
}
""",
    "diamond": """
void main() {
    vec2 xy = gl_PointCoord * 2.0 - 1.0;
    float d = abs(xy.x) + abs(xy.y);
    if (d > 1.0) discard;
    float px = 2.0 / max(v_size, 1.0);
    FRAG_COLOR = d > 1.0 - 2.2 * px ? HALO : (d > 1.0 - 4.4 * px ? DARK : v_color);
}
""",
}

_LINES_VS = """
uniform mat4 u_mvp;
ATTR vec3 a_position;
void main() {
    gl_Position = u_mvp * vec4(a_position, 1.0);
}
"""

_LINES_FS = """
uniform vec4 u_color;
void main() {
    FRAG_COLOR = u_color;
}
"""


def _context_key() -> int:
    ctx = QtGui.QOpenGLContext.currentContext()
    return int(shiboken6.getCppPointer(ctx)[0]) if ctx is not None else 0


class _ContextResources:
    """Shader programs (and capabilities) compiled per OpenGL context."""

    def __init__(self):
        self._programs: dict[tuple[int, str], int] = {}
        self._sprites: dict[int, bool] = {}
        self._watched: set[int] = set()

    def _watch(self, key: int) -> None:
        if key in self._watched:
            return
        self._watched.add(key)
        ctx = QtGui.QOpenGLContext.currentContext()
        ctx.aboutToBeDestroyed.connect(lambda key=key: self.forget(key))

    def forget(self, key: int) -> None:
        self._programs = {k: v for k, v in self._programs.items() if k[0] != key}
        self._sprites.pop(key, None)
        self._watched.discard(key)

    def program(self, name: str, vertex: str, fragment: str, attributes: tuple[str, ...]) -> int:
        key = _context_key()
        prog = self._programs.get((key, name))
        if prog is None:
            prog = _link(vertex, fragment, attributes)
            self._programs[(key, name)] = prog
            self._watch(key)
        return prog

    def enable_point_sprites(self) -> None:
        """Desktop compatibility profiles need GL_POINT_SPRITE for gl_PointCoord."""
        key = _context_key()
        ok = self._sprites.get(key)
        ctx = QtGui.QOpenGLContext.currentContext()
        if ok is None:
            ok = False
            if not ctx.isOpenGLES():
                try:
                    GL.glEnable(GL.GL_POINT_SPRITE)
                    ok = True
                except GL.GLError:  # core profile: sprites are always on
                    ok = False
            self._sprites[key] = ok
            self._watch(key)
        elif ok:
            GL.glEnable(GL.GL_POINT_SPRITE)
        if not ctx.isOpenGLES():
            GL.glEnable(GL.GL_PROGRAM_POINT_SIZE)


RESOURCES = _ContextResources()


def _glsl_header() -> str:
    ctx = QtGui.QOpenGLContext.currentContext()
    version = ctx.format().version()
    if ctx.isOpenGLES():
        return "#version 300 es\n" if version >= (3, 0) else "#version 100\n"
    return "#version 140\n" if version >= (3, 1) else "#version 120\n"


def _link(vertex: str, fragment: str, attributes: tuple[str, ...]) -> int:
    head = _glsl_header() + _COMMON
    vs = shaders.compileShader(head + vertex, GL.GL_VERTEX_SHADER)
    fs = shaders.compileShader(head + _FRAG_OUT + fragment, GL.GL_FRAGMENT_SHADER)
    prog = GL.glCreateProgram()
    GL.glAttachShader(prog, vs)
    GL.glAttachShader(prog, fs)
    for i, name in enumerate(attributes):
        GL.glBindAttribLocation(prog, i, name)
    GL.glLinkProgram(prog)
    if GL.glGetProgramiv(prog, GL.GL_LINK_STATUS) != GL.GL_TRUE:
        raise RuntimeError(f"shader link failed: {GL.glGetProgramInfoLog(prog)!r}")
    GL.glDeleteShader(vs)
    GL.glDeleteShader(fs)
    return prog


class _Buffers:
    """Vertex buffers that follow the current context (re-created and re-filled on a new one)."""

    def __init__(self, names: tuple[str, ...]):
        self.names = names
        self.ids: dict[str, int] = {}
        self.sizes: dict[str, int] = {}
        self.context = None
        self.dirty: set[str] = set(names)

    def ensure_context(self) -> None:
        key = _context_key()
        if key != self.context:
            self.context = key
            self.ids = {n: int(GL.glGenBuffers(1)) for n in self.names}
            self.sizes = {}
            self.dirty = set(self.names)

    def upload(self, name: str, array: np.ndarray) -> None:
        GL.glBindBuffer(GL.GL_ARRAY_BUFFER, self.ids[name])
        if self.sizes.get(name) == array.nbytes:
            GL.glBufferSubData(GL.GL_ARRAY_BUFFER, 0, array.nbytes, array)
        else:
            GL.glBufferData(GL.GL_ARRAY_BUFFER, array.nbytes, array, GL.GL_DYNAMIC_DRAW)
            self.sizes[name] = array.nbytes
        GL.glBindBuffer(GL.GL_ARRAY_BUFFER, 0)

    def bind_attribute(self, name: str, location: int, width: int) -> None:
        GL.glBindBuffer(GL.GL_ARRAY_BUFFER, self.ids[name])
        GL.glVertexAttribPointer(location, width, GL.GL_FLOAT, False, 0, None)
        GL.glBindBuffer(GL.GL_ARRAY_BUFFER, 0)
        GL.glEnableVertexAttribArray(location)


def _mvp(item: GLGraphicsItem) -> np.ndarray:
    return np.array(item.mvpMatrix().data(), dtype=np.float32)


class GLPoints(GLGraphicsItem):
    """Point sprites with per-point colour (N, 4) and size (N,) in pixels."""

    def __init__(self, shape: str = "disc", gl_options=None):
        super().__init__()
        gl_options = BLEND_GL_OPTIONS if gl_options is None else gl_options
        if shape not in SHAPES:
            raise ValueError(f"unknown shape {shape!r}")
        self.shape = shape
        self.setGLOptions(gl_options)
        self.pos = np.zeros((0, 3), np.float32)
        self.rgba = np.zeros((0, 4), np.float32)
        self.size = np.zeros(0, np.float32)
        self._buffers = _Buffers(("pos", "rgba", "size"))
        self.paint_count = 0  # paints so far: lets tests and benchmarks wait for a frame

    def set_positions(self, pos) -> None:
        self.pos = np.ascontiguousarray(pos, dtype=np.float32)
        self._buffers.dirty.add("pos")
        self.update()

    def set_style(self, rgba, size) -> None:
        self.rgba = np.ascontiguousarray(rgba, dtype=np.float32)
        self.size = np.ascontiguousarray(size, dtype=np.float32)
        self._buffers.dirty.update(("rgba", "size"))
        self.update()

    def paint(self):
        n = len(self.pos)
        if n == 0 or len(self.rgba) != n or len(self.size) != n:
            return
        self.paint_count += 1
        self.setupGLState()
        b = self._buffers
        b.ensure_context()
        for name in b.dirty:
            b.upload(name, getattr(self, name))
        b.dirty.clear()
        RESOURCES.enable_point_sprites()
        prog = RESOURCES.program(f"points-{self.shape}", _POINTS_VS,
                                 _POINTS_FS_HEAD + _POINTS_FS_BODY[self.shape],
                                 ("a_position", "a_color", "a_size"))
        GL.glUseProgram(prog)
        try:
            GL.glUniformMatrix4fv(GL.glGetUniformLocation(prog, "u_mvp"), 1, False, _mvp(self))
            b.bind_attribute("pos", 0, 3)
            b.bind_attribute("rgba", 1, 4)
            b.bind_attribute("size", 2, 1)
            GL.glDrawArrays(GL.GL_POINTS, 0, n)
        finally:
            for loc in range(3):
                GL.glDisableVertexAttribArray(loc)
            GL.glUseProgram(0)


class GLSegments(GLGraphicsItem):
    """Line segments between consecutive pairs of (2M, 3) vertices, one colour."""

    def __init__(self, color=(0.5, 0.5, 0.5, 0.7), gl_options=None):
        super().__init__()
        self.setGLOptions(BLEND_GL_OPTIONS if gl_options is None else gl_options)
        self.pos = np.zeros((0, 3), np.float32)
        self.color = tuple(float(c) for c in color)
        self._buffers = _Buffers(("pos",))

    def set_segments(self, pos) -> None:
        self.pos = np.ascontiguousarray(pos, dtype=np.float32)
        self._buffers.dirty.add("pos")
        self.update()

    def paint(self):
        n = len(self.pos)
        if n < 2:
            return
        self.setupGLState()
        b = self._buffers
        b.ensure_context()
        if b.dirty:
            b.upload("pos", self.pos)
            b.dirty.clear()
        prog = RESOURCES.program("segments", _LINES_VS, _LINES_FS, ("a_position",))
        GL.glUseProgram(prog)
        try:
            GL.glUniformMatrix4fv(GL.glGetUniformLocation(prog, "u_mvp"), 1, False, _mvp(self))
            GL.glUniform4f(GL.glGetUniformLocation(prog, "u_color"), *self.color)
            b.bind_attribute("pos", 0, 3)
            GL.glDrawArrays(GL.GL_LINES, 0, n - n % 2)
        finally:
            GL.glDisableVertexAttribArray(0)
            GL.glUseProgram(0)


class GLView3D(GLViewMixin, QOpenGLWindow):
    """pyqtgraph's 3D view (camera, mouse and keyboard controls, items) in a QOpenGLWindow.

    A window cannot have child widgets drawn over it, so the legend is painted here, after
    the items, from an image rendered when the legend changes, and so is ``notice``, a line
    of text in the bottom-left corner (e.g. that only a sample of the points is drawn).
    """

    def __init__(self):
        super().__init__()
        self.legend_image: QtGui.QImage | None = None
        self.notice = ""

    def devicePixelRatioF(self) -> float:
        return float(self.devicePixelRatio())

    def paintGL(self):
        super().paintGL()
        if self.legend_image is not None or self.notice:
            p = QtGui.QPainter(self)
            self._draw_legend(p)
            p.end()

    def _draw_legend(self, p: QtGui.QPainter) -> None:
        if self.legend_image is not None:
            dpr = self.legend_image.devicePixelRatio() or 1.0
            p.drawImage(QtCore.QPointF(self.width() - self.legend_image.width() / dpr - 8, 8), self.legend_image)
        if self.notice:
            p.setPen(QtGui.QColor(200, 200, 200))
            p.drawText(QtCore.QPointF(8, self.height() - 8), self.notice)

    def render_image(self) -> QtGui.QImage:
        """Render the current view (items and legend) offscreen and return it.

        ``grabFramebuffer`` of a QOpenGLWindow only reads back whatever the last swap left in
        the back buffer; this draws the frame again into a framebuffer object.
        """
        if not self.isValid():  # no context before the window was first exposed
            raise RuntimeError("the 3D view has not been shown yet: show it before exporting")
        self.makeCurrent()
        dpr = float(self.devicePixelRatio())
        size = QtCore.QSize(max(1, round(self.width() * dpr)), max(1, round(self.height() * dpr)))
        fmt = QOpenGLFramebufferObjectFormat()
        fmt.setAttachment(QOpenGLFramebufferObject.Attachment.CombinedDepthStencil)
        fbo = QOpenGLFramebufferObject(size, fmt)
        try:
            fbo.bind()
            GL.glViewport(0, 0, size.width(), size.height())
            vp = self.getViewport()
            self.paint(region=vp, viewport=vp)
            image = fbo.toImage()
        finally:
            fbo.release()
            self.doneCurrent()
        image.setDevicePixelRatio(dpr)
        if self.legend_image is not None or self.notice:
            p = QtGui.QPainter(image)
            self._draw_legend(p)
            p.end()
        return image


# Containers of GL views alive now (see ``embed``).
_CONTAINERS: weakref.WeakSet = weakref.WeakSet()
_AT_EXIT = False


def embed(view: GLView3D, parent: QtWidgets.QWidget) -> QtWidgets.QWidget:
    """Put ``view`` in a new window container under ``parent`` and return the container.

    Qt gives the window to the container, which deletes it, but PySide leaves the window
    owned by Python as well. At interpreter exit PySide deletes the Python-owned Qt objects
    in no set order, before the QApplication: when the window goes first, a top-level widget
    that still holds the container crashes Qt as it is destroyed (the container looks up its
    deleted window). Delete the container with ``release`` when the view is done with (the
    window and its GL context go with it); at exit, containers still alive are released
    before PySide's own clean-up, which runs after every handler registered later than it.
    """
    global _AT_EXIT
    container = QtWidgets.QWidget.createWindowContainer(view, parent)
    _CONTAINERS.add(container)
    if not _AT_EXIT:
        atexit.register(_release_all)
        _AT_EXIT = True
    return container


def release(container: QtWidgets.QWidget | None) -> None:
    """Delete a container made by ``embed`` and the GL window in it, now."""
    if container is None:
        return
    _CONTAINERS.discard(container)
    if shiboken6.isValid(container):
        # Out of the widget tree first: PySide then drops its record of the parent's child,
        # which it would otherwise visit, deleted, when the parent goes.
        container.setParent(None)
        shiboken6.delete(container)


def _release_all() -> None:
    for container in list(_CONTAINERS):
        release(container)


def legend_image(legend: Legend, font: QtGui.QFont, dpr: float = 1.0) -> QtGui.QImage | None:
    """The legend rendered once into a transparent image (None when there is nothing to show)."""
    if legend.empty:
        return None
    size = legend_size(legend, font)
    image = QtGui.QImage(int(np.ceil(size.width() * dpr)) + 1, int(np.ceil(size.height() * dpr)) + 1,
                         QtGui.QImage.Format.Format_ARGB32_Premultiplied)
    image.setDevicePixelRatio(dpr)
    image.fill(QtCore.Qt.GlobalColor.transparent)
    p = QtGui.QPainter(image)
    paint_legend(p, legend, QtCore.QPointF(0, 0), font)
    p.end()
    return image


def view_projection(view: GLViewMixin) -> np.ndarray:
    """The 4x4 (row-major) matrix from scene to clip coordinates for the whole widget."""
    vp = (0, 0, max(view.width(), 1), max(view.height(), 1))
    m = view.projectionMatrix(vp, vp) * view.viewMatrix()
    return np.array(m.data(), dtype=np.float64).reshape(4, 4).T


def project_to_screen(view: GLViewMixin, pos: np.ndarray) -> np.ndarray:
    """(N, 2) widget pixel positions of scene points; NaN for points behind the camera."""
    pos = np.asarray(pos, dtype=np.float64)
    M = view_projection(view)
    clip = pos @ M[:, :3].T + M[:, 3]
    w = clip[:, 3]
    out = np.full((len(pos), 2), np.nan)
    ok = w > 1e-12
    out[ok, 0] = (clip[ok, 0] / w[ok] + 1.0) * 0.5 * view.width()
    out[ok, 1] = (1.0 - clip[ok, 1] / w[ok]) * 0.5 * view.height()
    return out


def fit_camera(view: GLViewMixin, center: np.ndarray, radius: float, margin: float = 1.05) -> None:
    """Centre the camera on a sphere and move it back until the sphere fits at any rotation."""
    half_h = math.radians(view.opts["fov"]) / 2.0
    aspect = max(view.height(), 1) / max(view.width(), 1)
    half = min(half_h, math.atan(math.tan(half_h) * aspect))
    view.setCameraPosition(pos=pg.Vector(*center), distance=margin * radius / math.sin(half))
