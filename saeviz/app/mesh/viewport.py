"""A 3D viewport for mesh datasets: the selected sample, its reconstruction, and a morph.

``MeshView`` shows an offscreen PyVista plotter in a raster widget (``RenderCanvas``: no
OpenGL surface in the Qt window; it renders only when asked) under a small tool bar: what to
show, a Camera menu of presets and a button that saves the viewport as PNG. ``SampleFeed`` keeps it on the session's selected sample and that
sample's reconstruction (computed off the UI thread). Shows

* ``original``: the selected sample;
* ``reconstruction``: its reconstruction by the current model;
* ``side``: both side by side, the reconstruction coloured by the per-vertex error (the
  distance from each reconstructed vertex to the original one) with a colour bar;
* ``overlay``: the reconstruction coloured by the error with the original as a translucent
  shell over it;
* ``morph``: a decoded point of a latent path (the morph panel drives it).

Each role has one ``LiveMesh``: its PolyData and actor are made once per topology and then
only their vertex positions and normals are rewritten in place, never rebuilt, so changing
the selection or moving a morph slider costs a copy into VTK's arrays and a render. Shading
is smooth (Phong) from vertex normals that the owner supplies or that ``VertexNormals``
computes. Renders are coalesced: ``request_render`` draws once when control returns to the
event loop, however many updates came before, and at most once per display frame
(``FRAME_INTERVAL_MS`` after the previous render).

Cameras: the body's up and forward directions are guessed from the first mesh of a topology
(the longest axis among y and z is up; z-up meshes face -y, y-up meshes face +z, the usual
conventions of Blender and of SMPL/OBJ files) or set with ``set_frame``. The presets front,
side, top and reset place the camera; updates of the meshes never move it, so a chosen view
stays while the selection changes. Mouse navigation is VTK's trackball; its single-key
commands are switched off. Closed bodies whose triangles face out skip the triangles facing
away (``closed_and_oriented``), which saves about a third of a software render.
Multisampling is used on a GPU and left out on a software rasteriser, where it made each
render about four times slower (measured with Mesa llvmpipe).
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QSize, QTimer, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMenu,
    QMessageBox,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from saeviz.app.common.units import PLAIN
from saeviz.core.display.mesh_ops import (
    VertexNormals,
    closed_and_oriented,
    signed_volume,
    vertex_errors,
)
from saeviz.core.io.fileio import atomic_path

MODES = (("original", "Original"), ("reconstruction", "Reconstruction"), ("side", "Side by side"),
         ("overlay", "Overlay with error"), ("morph", "Morph"))
PRESETS = ("front", "side", "top", "reset")
SURFACE = "#d9c2ad"        # the sample and the morph
RECON_SURFACE = "#9cb8d6"  # the reconstruction shown alone
ERROR_CMAP = "inferno"
SIDE_GAP = 0.25            # gap between the two meshes side by side, relative to the width
OPAQUE_ROLES = ("original", "reconstruction", "error", "morph")
FRAME_INTERVAL_MS = 16     # at most one render per display frame (60 Hz)


class LiveMesh:
    """One PolyData + actor whose vertices and normals are rewritten in place."""

    def __init__(self, plotter, faces: np.ndarray, n_vertices: int, normals: VertexNormals, *,
                 color: str = SURFACE, scalars: bool = False, opacity: float = 1.0,
                 scalar_bar: str | None = None):
        import pyvista as pv

        self.n_vertices = int(n_vertices)
        self._normals_calc = normals
        F = np.asarray(faces, np.int64)
        cells = np.hstack([np.full((len(F), 1), 3, np.int64), F]).ravel()
        mesh = pv.PolyData(np.zeros((self.n_vertices, 3), np.float32), cells)
        mesh.point_data["Normals"] = np.zeros((self.n_vertices, 3), np.float32)
        mesh.point_data.active_normals_name = "Normals"
        kwargs = dict(color=color, smooth_shading=False, opacity=opacity, show_scalar_bar=False,
                      reset_camera=False, specular=0.25, specular_power=20.0, diffuse=0.85, ambient=0.12)
        if scalars:
            mesh.point_data["error"] = np.zeros(self.n_vertices, np.float32)
            kwargs.pop("color")
            kwargs.update(scalars="error", cmap=ERROR_CMAP, clim=(0.0, 1.0))
            if scalar_bar is not None:
                kwargs.update(show_scalar_bar=True, scalar_bar_args=dict(
                    title=scalar_bar, vertical=True, position_x=0.86, position_y=0.1, height=0.8,
                    width=0.06, color="#202020", fmt="%.3g", title_font_size=14, label_font_size=12))
            mesh.point_data.active_scalars_name = "error"
        self.mesh = mesh
        self.actor = plotter.add_mesh(mesh, **kwargs)
        self.actor.prop.interpolation = "phong"
        self.actor.visibility = False
        self._vtk_points = mesh.GetPoints()
        self._vtk_normals = mesh.GetPointData().GetArray("Normals")
        # numpy views of VTK's own buffers: writing them changes what is drawn.
        self.points = _vtk_view(self._vtk_points.GetData())
        self.normals = _vtk_view(self._vtk_normals)
        self._vtk_error = mesh.GetPointData().GetArray("error") if scalars else None
        self.errors = _vtk_view(self._vtk_error) if scalars else None
        self.has_data = False

    def update(self, vertices, normals: np.ndarray | None = None) -> None:
        """New vertex positions (V, 3); normals computed unless given (V, 3)."""
        v = np.asarray(vertices)
        if v.shape != (self.n_vertices, 3):
            raise ValueError(f"expected ({self.n_vertices}, 3) vertices, got {v.shape}")
        self.points[...] = v
        if normals is None:
            self._normals_calc.normals(self.points, out=self.normals)
        else:
            self.normals[...] = normals
        self._vtk_points.Modified()
        self._vtk_normals.Modified()
        self.has_data = True

    def set_errors(self, errors: np.ndarray, clim: tuple[float, float]) -> None:
        self.errors[...] = errors
        self._vtk_error.Modified()
        self.actor.mapper.scalar_range = clim

    def bounds(self) -> np.ndarray:
        """(2, 3) lower and upper corners of the vertices, in world coordinates (actor offset)."""
        offset = np.asarray(self.actor.position, np.float64)
        return np.stack([self.points.min(axis=0), self.points.max(axis=0)]).astype(np.float64) + offset


def _vtk_view(array) -> np.ndarray:
    from vtkmodules.util.numpy_support import vtk_to_numpy

    view = vtk_to_numpy(array)
    if not view.flags.writeable:
        view.flags.writeable = True
    return view


def _add_lights(plotter) -> None:
    """A headlight and a key light from the upper left, both moving with the camera: about
    the look of VTK's five-light kit at a third less software rendering per frame (each light
    is a term of every pixel's shading)."""
    import pyvista as pv

    plotter.add_light(pv.Light(light_type="headlight", intensity=0.75))
    plotter.add_light(pv.Light(position=(-1.0, 1.0, 1.0), light_type="camera light", intensity=0.45))


def guess_frame(vertices) -> tuple[np.ndarray, np.ndarray]:
    """(up, forward) unit vectors of a body-like mesh (see the module documentation)."""
    v = np.asarray(vertices, np.float64)
    extent = v.max(axis=0) - v.min(axis=0)
    if extent[2] > extent[1]:
        return np.array([0.0, 0.0, 1.0]), np.array([0.0, -1.0, 0.0])
    return np.array([0.0, 1.0, 0.0]), np.array([0.0, 0.0, 1.0])


class MeshView(QWidget):
    """The mesh viewport with its tool bar (see the module documentation)."""

    modeChanged = Signal(str)
    rendered = Signal()  # after every render (tests, frame counting)
    unit = PLAIN  # the unit of the vertex errors shown (``units.Unit``; set per dataset)

    def __init__(self, parent: QWidget | None = None, multi_samples: int | None = None):
        super().__init__(parent)
        from saeviz.app.mesh.render_canvas import RenderCanvas

        self.mode_combo = QComboBox()
        self.mode_combo.setObjectName("meshModeCombo")
        for key, text in MODES:
            self.mode_combo.addItem(text, key)
        self.mode_combo.setToolTip("What the viewport shows")
        self.mode_combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.mode_combo.setMinimumContentsLength(6)
        self.mode_combo.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)
        self.camera_button = QToolButton()
        self.camera_button.setObjectName("meshCamera")
        self.camera_button.setText("Camera")
        self.camera_button.setToolTip("Look from the front, the side or above (kept while the selection changes)")
        self.camera_button.setPopupMode(QToolButton.InstantPopup)
        camera_menu = QMenu(self.camera_button)
        self.preset_actions: dict[str, QAction] = {}
        texts = {"front": "&Front", "side": "&Side", "top": "&Top", "reset": "&Reset (front, fitted)"}
        for name in PRESETS:
            act = camera_menu.addAction(texts[name])
            act.setObjectName(f"camera{name.capitalize()}")
            act.triggered.connect(lambda _=False, name=name: self.camera_preset(name))
            self.preset_actions[name] = act
        self.camera_button.setMenu(camera_menu)
        self.screenshot_button = QToolButton()
        self.screenshot_button.setObjectName("meshScreenshot")
        self.screenshot_button.setText("Save…")
        self.screenshot_button.setToolTip("Save the viewport as a PNG image, or the body shown as a PLY or OBJ mesh")
        self.screenshot_button.clicked.connect(self._screenshot_dialog)
        bar = QHBoxLayout()
        bar.setContentsMargins(4, 2, 4, 0)
        bar.addWidget(self.mode_combo, 1)
        bar.addWidget(self.camera_button)
        bar.addWidget(self.screenshot_button)
        self.info = QLabel("")  # about the sample and its reconstruction (hidden in morph mode)
        self.info.setStyleSheet("color: #666666")
        self.morph_info = QLabel("")  # about the morph frame shown (morph mode)
        self.morph_info.setObjectName("meshMorphInfo")
        self.morph_info.setStyleSheet("color: #666666")
        for label in (self.info, self.morph_info):
            # wrapped: a long line must not widen the dock (and so the window) while the user drags
            label.setWordWrap(True)

        # Multisampling: ``None`` picks 4 samples on a GPU and none on a software rasteriser
        # (Mesa llvmpipe), where 4x MSAA made each render of a body about 4x slower (measured):
        # none until the first render has told which renderer this is.
        self._auto_samples = multi_samples is None
        # Only mouse navigation reaches VTK (the canvas forwards no key): VTK's and PyVista's
        # single-key commands (q: close, w: wireframe, p: picking, ...) would surprise here.
        self.canvas = RenderCanvas(self, multi_samples=0 if multi_samples is None else int(multi_samples))
        self.canvas.setObjectName("meshCanvas")
        self.plotter = self.canvas.plotter
        self.plotter.set_background("white")
        _add_lights(self.plotter)
        self.canvas.setMinimumSize(QSize(160, 160))
        self.canvas.renderRequested.connect(self.request_render)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        lay.addLayout(bar)
        lay.addWidget(self.canvas, 1)
        lay.addWidget(self.info)
        lay.addWidget(self.morph_info)

        self._faces: np.ndarray | None = None
        self._normals: VertexNormals | None = None
        self.meshes: dict[str, LiveMesh] = {}
        self._up = np.array([0.0, 1.0, 0.0])
        self._forward = np.array([0.0, 0.0, 1.0])
        self._frame_set = False
        self._camera_fitted = False
        self._closed_surface: bool | None = None  # known with the first mesh of a topology
        self._mode = "original"
        self._render_pending = False
        self._render_timer = QTimer(self)
        self._render_timer.setSingleShot(True)
        self._render_timer.setInterval(0)
        self._render_timer.timeout.connect(self._render_due)
        self._last_render = -1.0  # time.monotonic() of the last render
        self.render_count = 0
        self.last_render_seconds = 0.0  # the last render, read back and shown (benchmarks)
        self.last_upload_seconds = 0.0  # the last morph written into VTK's arrays
        self.software_gl: bool | None = None  # known after the first render
        self._caption = None
        self.mode_combo.currentIndexChanged.connect(self._mode_picked)
        self._update_visibility()

    # -- topology --------------------------------------------------------------------------
    @property
    def n_vertices(self) -> int:
        return 0 if self._normals is None else self._normals.n_vertices

    @property
    def faces(self) -> np.ndarray | None:
        return self._faces

    def set_topology(self, faces, n_vertices: int) -> None:
        """Triangles (F, 3) and vertex count shared by every mesh shown (a new dataset).

        Builds the PolyData and actors, once; later updates only rewrite their vertices.
        """
        for live in self.meshes.values():
            self.plotter.remove_actor(live.actor, render=False)
        if self.plotter.scalar_bars:
            self.plotter.remove_scalar_bar()
        self.meshes = {}
        self._faces = np.asarray(faces, np.int64)
        self._normals = VertexNormals(self._faces, n_vertices)
        self._frame_set = False
        self._camera_fitted = False
        self._closed_surface = None
        p, F, n, N = self.plotter, self._faces, int(n_vertices), self._normals
        self.meshes["original"] = LiveMesh(p, F, n, N, color=SURFACE)
        self.meshes["shell"] = LiveMesh(p, F, n, N, color="#bbbbbb", opacity=0.3)
        self.meshes["reconstruction"] = LiveMesh(p, F, n, N, color=RECON_SURFACE)
        self.meshes["error"] = LiveMesh(p, F, n, N, scalars=True, scalar_bar="vertex error")
        self.meshes["morph"] = LiveMesh(p, F, n, N, color=SURFACE)
        self._update_visibility()
        self.request_render()

    def clear(self) -> None:
        """No dataset of meshes: drop the actors."""
        for live in self.meshes.values():
            self.plotter.remove_actor(live.actor, render=False)
        if self.plotter.scalar_bars:
            self.plotter.remove_scalar_bar()
        self.meshes = {}
        self._faces = None
        self._normals = None
        self.info.setText("")
        self.request_render()

    def set_frame(self, up, forward) -> None:
        """The body's up and forward directions (used by the camera presets)."""
        up = np.asarray(up, np.float64)
        forward = np.asarray(forward, np.float64)
        self._up = up / np.linalg.norm(up)
        f = forward - (forward @ self._up) * self._up
        self._forward = f / np.linalg.norm(f)
        self._frame_set = True

    # -- content ----------------------------------------------------------------------------
    def set_sample(self, original, reconstruction=None) -> None:
        """The selected sample (V, 3) and its reconstruction (or None); None clears both."""
        if not self.meshes:
            return
        if original is None:
            for key in ("original", "shell", "reconstruction", "error"):
                self.meshes[key].has_data = False
            self.info.setText("")
        else:
            v = np.asarray(original, np.float32)
            self._first_mesh(v)
            orig = self.meshes["original"]
            orig.update(v)
            self.meshes["shell"].update(orig.points, orig.normals)
            if reconstruction is None:
                self.meshes["reconstruction"].has_data = False
                self.meshes["error"].has_data = False
                self.info.setText("")
            else:
                r = np.asarray(reconstruction, np.float32)
                rec = self.meshes["reconstruction"]
                rec.update(r)
                err = vertex_errors(r, v)
                emax = float(err.max()) if len(err) else 0.0
                self.meshes["error"].update(rec.points, rec.normals)
                self.meshes["error"].set_errors(err, (0.0, emax if emax > 0 else 1.0))
                u = self.unit
                self.info.setText(f"vertex error: mean {u.format(err.mean(), 3)}, max {u.format(emax, 3)}")
        self._update_visibility()
        self.request_render()

    def set_morph(self, vertices, normals: np.ndarray | None = None) -> None:
        """The decoded morph (V, 3), written in place; ``normals`` when already computed."""
        if not self.meshes:
            return
        v = np.asarray(vertices, np.float32)
        self._first_mesh(v)
        live = self.meshes["morph"]
        first = not live.has_data
        t0 = time.perf_counter()
        live.update(v, normals)
        self.last_upload_seconds = time.perf_counter() - t0
        if first:
            self._update_visibility()
        if self._mode == "morph":
            self.request_render()

    def clear_morph(self) -> None:
        """No morph frame (no path, another model or dataset): nothing is drawn in morph mode."""
        live = self.meshes.get("morph")
        if live is not None and live.has_data:
            live.has_data = False
            self._update_visibility()
            self.request_render()
        self.set_morph_info("")
        if self._caption is not None:
            self._caption.SetInput("")

    def set_morph_info(self, text: str) -> None:
        """The line under the viewport in morph mode (what the frame shown is)."""
        self.morph_info.setText(text)

    def fit_camera_to(self, bounds) -> None:
        """Keep the viewing direction and fit the distance to ``bounds`` ((2, 3) corners), e.g.
        the union of every frame of an animation, so that none is cut off."""
        cam = self.plotter.camera
        d = np.asarray(cam.position) - np.asarray(cam.focal_point)
        n = np.linalg.norm(d)
        direction = d / n if n > 0 else self._forward
        if self._place_camera(direction, np.asarray(cam.up, np.float64), np.asarray(bounds, np.float64)):
            self.request_render()

    def set_caption(self, text: str) -> None:
        """A line of text in the lower left corner, shown with the morph (e.g. "t = 0.40")."""
        if self._caption is None:
            self._caption = self.plotter.add_text(text, position=(10, 8), font_size=10,
                                                  color="#303030", name="caption", render=False)
        else:
            self._caption.SetInput(text)
        self._caption.SetVisibility(self._mode == "morph")
        if self._mode == "morph":
            self.request_render()

    def morph_points(self) -> np.ndarray | None:
        """A copy of the morph mesh's vertices as drawn (None before the first)."""
        live = self.meshes.get("morph")
        return None if live is None or not live.has_data else live.points.copy()

    def _first_mesh(self, v: np.ndarray) -> None:
        if self._closed_surface is None and self._faces is not None:
            # A closed, consistently wound surface whose triangles face out is never seen
            # from behind: the opaque meshes skip the triangles facing away (a quarter of a
            # software render of a body). Anything else keeps both sides.
            self._closed_surface = bool(closed_and_oriented(self._faces, len(v))
                                        and signed_volume(v, self._faces) > 0)
            for key in OPAQUE_ROLES:
                if key in self.meshes:
                    self.meshes[key].actor.prop.backface_culling = self._closed_surface
        if not self._frame_set:
            up, forward = guess_frame(v)
            self._up, self._forward = up, forward
            self._frame_set = True
        if not self._camera_fitted:
            self._camera_fitted = True
            QTimer.singleShot(0, self._fit_first)

    def _fit_first(self) -> None:
        self.camera_preset("front")

    # -- modes ---------------------------------------------------------------------------------
    @property
    def mode(self) -> str:
        return self._mode

    def set_mode(self, mode: str) -> None:
        if mode not in dict(MODES):
            raise ValueError(f"unknown mode {mode!r}; choose one of {', '.join(dict(MODES))}")
        if mode == self._mode:
            return
        i = self.mode_combo.findData(mode)
        if i != self.mode_combo.currentIndex():
            self.mode_combo.setCurrentIndex(i)  # -> _mode_picked
        else:
            self._mode_picked()

    def _mode_picked(self, *_args) -> None:
        mode = self.mode_combo.currentData()
        changed = mode != self._mode
        was_side = self._mode == "side"
        self._mode = mode
        self._update_visibility()
        if changed and (was_side or mode == "side"):
            self._refit()  # two meshes need more room than one (and one less)
        self.request_render()
        if changed:
            self.modeChanged.emit(mode)

    def _visible_roles(self) -> tuple[str, ...]:
        return {"original": ("original",), "reconstruction": ("reconstruction",),
                "side": ("original", "error"), "overlay": ("error", "shell"),
                "morph": ("morph",)}[self._mode]

    def _update_visibility(self) -> None:
        roles = self._visible_roles()
        if "reconstruction" in roles or "error" in roles:
            if not self.meshes.get("error", None) or not self.meshes["error"].has_data:
                # no reconstruction yet: show what there is
                roles = tuple(r for r in roles if r not in ("reconstruction", "error"))
                if "original" not in roles:
                    roles = roles + ("original",)
                roles = tuple(r for r in roles if r != "shell")
        for key, live in self.meshes.items():
            live.actor.visibility = key in roles and live.has_data
        err = self.meshes.get("error")
        if err is not None:
            side = self._mode == "side"
            dx = 0.0
            if side and self.meshes["original"].has_data:
                lo, hi = self.meshes["original"].points.min(axis=0), self.meshes["original"].points.max(axis=0)
                left = self._left()
                width = float(abs((hi - lo) @ left))
                dx = width * (1.0 + SIDE_GAP)
                err.actor.position = tuple(dx * left)  # the body's left: the viewer's right, seen from the front
            else:
                err.actor.position = (0.0, 0.0, 0.0)
        if self._caption is not None:
            self._caption.SetVisibility(self._mode == "morph")
        self.info.setVisible(self._mode != "morph")
        self.morph_info.setVisible(self._mode == "morph")
        for bar in list(self.plotter.scalar_bars.values()):
            bar.SetVisibility(bool(err is not None and err.actor.visibility))

    def _left(self) -> np.ndarray:
        """The body's left (x for both conventions): up x forward points to the body's left."""
        return np.cross(self._up, self._forward)

    # -- camera ----------------------------------------------------------------------------------
    def _visible_bounds(self) -> np.ndarray | None:
        boxes = [live.bounds() for live in self.meshes.values() if live.actor.visibility and live.has_data]
        if not boxes:
            boxes = [live.bounds() for live in self.meshes.values() if live.has_data]
        if not boxes:
            return None
        b = np.stack(boxes)
        return np.stack([b[:, 0].min(axis=0), b[:, 1].max(axis=0)])

    def camera_preset(self, name: str) -> None:
        """Place the camera: ``front``, ``side`` (from the body's left), ``top`` or ``reset``."""
        if name not in PRESETS:
            raise ValueError(f"unknown camera preset {name!r}; choose one of {', '.join(PRESETS)}")
        up, forward, left = self._up, self._forward, self._left()
        if name in ("front", "reset"):
            direction, view_up = forward, up
        elif name == "side":
            direction, view_up = left, up
        else:
            direction, view_up = up, forward
        if self._place_camera(direction, view_up):
            self.request_render()

    def _place_camera(self, direction: np.ndarray, view_up: np.ndarray, bounds=None) -> bool:
        """Look along ``-direction`` with ``view_up`` up, at a distance where ``bounds`` (default:
        the visible meshes' bounding box) just fits the viewport (with a small margin)."""
        bounds = self._visible_bounds() if bounds is None else bounds
        if bounds is None:
            return False
        direction = direction / np.linalg.norm(direction)
        view_up = view_up - (view_up @ direction) * direction
        view_up = view_up / np.linalg.norm(view_up)
        right = np.cross(view_up, direction)
        corners = np.array([[bounds[i, 0], bounds[j, 1], bounds[k, 2]]
                            for i in (0, 1) for j in (0, 1) for k in (0, 1)])
        center = bounds.mean(axis=0)
        rel = corners - center
        half_w = float(np.abs(rel @ right).max())
        half_h = float(np.abs(rel @ view_up).max())
        half_d = float(np.abs(rel @ direction).max())
        w, h = max(self.canvas.width(), 1), max(self.canvas.height(), 1)
        tan_v = np.tan(np.radians(self.plotter.camera.view_angle) / 2)
        tan_h = tan_v * w / h
        if self.meshes.get("error") is not None and self.meshes["error"].actor.visibility:
            tan_h *= 0.82  # keep clear of the colour bar on the right
        distance = max(half_h / tan_v, half_w / tan_h, 1e-6) * 1.08 + half_d
        cam = self.plotter.camera
        cam.focal_point = tuple(center)
        cam.position = tuple(center + direction * distance)
        cam.up = tuple(view_up)
        self.plotter.renderer.reset_camera_clipping_range()
        return True

    def _refit(self) -> None:
        """Fit the distance to what is shown, keeping the viewing direction."""
        cam = self.plotter.camera
        d = np.asarray(cam.position) - np.asarray(cam.focal_point)
        n = np.linalg.norm(d)
        if n > 0:
            self._place_camera(d / n, np.asarray(cam.up, np.float64))

    def camera_state(self) -> tuple[tuple, tuple, tuple]:
        cam = self.plotter.camera
        return tuple(cam.position), tuple(cam.focal_point), tuple(cam.up)

    # -- rendering ----------------------------------------------------------------------------------
    def request_render(self) -> None:
        """Render once control returns to the event loop, and no sooner than a display frame
        after the previous render: requests coalesce, so a morph drawn faster than the screen
        shows it renders only the newest frame."""
        if not self._render_pending:
            self._render_pending = True
            wait = FRAME_INTERVAL_MS - 1000.0 * (time.monotonic() - self._last_render)
            self._render_timer.start(max(0, int(wait)))

    def _render_due(self) -> None:
        if self.canvas.isVisible():
            self.render_now()
        else:  # hidden (a closed dock, another tab): rendered when shown (renderRequested)
            self._render_pending = False

    def render_now(self) -> None:
        """Render the scene now (a pending request is served by this render)."""
        self._render_pending = False
        self._render_timer.stop()
        if self.canvas.closed:
            return
        t0 = time.perf_counter()
        self.plotter.renderer.reset_camera_clipping_range()
        if not self.canvas.draw():
            return
        self.last_render_seconds = time.perf_counter() - t0
        self._last_render = time.monotonic()
        if self.software_gl is None:
            self._check_renderer()
        self.render_count += 1
        self.rendered.emit()

    def _check_renderer(self) -> None:
        rw = self.canvas.render_window
        caps = rw.ReportCapabilities() or ""
        line = next((ln for ln in caps.splitlines() if "renderer string" in ln.lower()), "")
        if not line:
            return  # no context yet: ask again after the next render
        self.software_gl = any(name in line.lower() for name in ("llvmpipe", "softpipe", "software", "swrast"))
        if self._auto_samples and not self.software_gl:
            rw.SetMultiSamples(4)
            self.canvas.draw()

    def grab_rgb(self) -> np.ndarray:
        """The viewport as an (H, W, 3) uint8 image, rendered now."""
        self.render_now()
        img = self.canvas.rgb()
        if img is None:
            raise RuntimeError("the viewport has no picture (its render window is closed)")
        return img

    def save_screenshot(self, path) -> Path:
        """Save the viewport as PNG (atomically)."""
        from PIL import Image

        path = Path(path)
        if path.suffix.lower() != ".png":
            path = path.with_suffix(".png")
        image = self.grab_rgb()
        with atomic_path(path) as tmp:
            Image.fromarray(image).save(tmp, format="PNG")
        return path

    def shown_mesh(self) -> tuple[str, np.ndarray] | None:
        """(role, vertices (V, 3)) of the body the viewport shows: the morph, the
        reconstruction (alone, side by side or overlaid, when there is one) or the original;
        None when nothing is shown."""
        mode = self._mode
        order = {"morph": ("morph",), "reconstruction": ("reconstruction", "original"),
                 "side": ("reconstruction", "original"), "overlay": ("reconstruction", "original"),
                 "original": ("original",)}[mode]
        for role in order:
            live = self.meshes.get(role)
            if live is not None and live.has_data:
                return role, live.points.copy()
        return None

    def save_mesh(self, path) -> Path:
        """Save the body shown (``shown_mesh``) as ``.ply`` or ``.obj``, atomically."""
        from saeviz.core.data.meshes import save_mesh
        from saeviz.core.errors import DataError

        shown = self.shown_mesh()
        if shown is None or self._faces is None:
            raise DataError("there is no body to save: select a sample first")
        return save_mesh(path, shown[1], self._faces)

    def _screenshot_dialog(self) -> None:
        """Save…: the viewport as PNG or the body shown as PLY/OBJ, chosen by the file type."""
        from saeviz.core.errors import SaevizError

        filters = ["PNG image of the viewport (*.png)", "PLY mesh of the body shown (*.ply)",
                   "OBJ mesh of the body shown (*.obj)"]
        path, chosen = QFileDialog.getSaveFileName(self, "Save the viewport or the body",
                                                   os.path.expanduser("~/mesh.png"), ";;".join(filters))
        if not path:
            return
        p = Path(path)
        if p.suffix.lower() not in (".png", ".ply", ".obj"):
            p = p.with_name(p.name + "." + chosen.split("*.")[-1].rstrip(")"))
        try:
            saved = self.save_screenshot(p) if p.suffix.lower() == ".png" else self.save_mesh(p)
        except (OSError, SaevizError) as exc:
            QMessageBox.warning(self, "Cannot save", str(exc))
            return
        self.info.setText(f"saved {saved.name}")

    def shutdown(self) -> None:
        """Release the render window (before the widget is destroyed)."""
        self._render_timer.stop()
        self._render_pending = False
        self.canvas.close_render_window()

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override
        self._render_timer.stop()
        super().closeEvent(event)


class SampleFeed(QObject):
    """Keeps a ``MeshView`` showing the session's selected sample and its reconstruction.

    The reconstruction is computed off the UI thread with the session's frozen weights; a
    newer selection or newer weights drop an older request.
    """

    def __init__(self, session, view: MeshView, parent: QObject | None = None):
        super().__init__(parent if parent is not None else view)
        from saeviz.app.common.live_gate import LiveGate
        from saeviz.app.common.tasks import TaskRunner

        self.session = session
        self.view = view
        self.runner = TaskRunner(self, max_threads=1)
        self._shown: tuple | None = None  # (position, model) of the reconstruction on screen
        session.dataset_changed.connect(self.dataset_changed)
        session.selection_changed.connect(lambda _pos: self.refresh())
        # a new model every epoch: while training, the reconstruction follows at most twice a
        # second and only while the view shows (each costs a decode and a render)
        self._model_gate = LiveGate(view, self.refresh, lambda: session.training, parent=self)
        session.model_changed.connect(self._model_gate.request)
        self.dataset_changed()

    def dataset_changed(self) -> None:
        self.runner.invalidate()
        self._shown = None
        ds = self.session.dataset
        from saeviz.app.common.units import data_unit

        self.view.unit = data_unit(ds)  # vertex errors in mm for bodies
        if ds is None or ds.kind != "mesh":
            self.view.clear()
            return
        self.view.set_topology(ds.faces, ds.X.shape[1])
        self.refresh()

    def refresh(self) -> None:
        s = self.session
        if s.dataset is None or s.dataset.kind != "mesh" or not self.view.meshes:
            return
        pos = s.selected
        if pos < 0:
            self.view.set_sample(None)
            return
        x = np.array(s.X[pos], np.float32)
        model = s.model
        if model is None:
            self._shown = None
            self.view.set_sample(x, None)
            return
        if self._shown == (pos, model):
            return
        if self._shown is None or self._shown[0] != pos:
            self.view.set_sample(x, None)  # the sample now, its reconstruction when ready
        from saeviz.core.method.evaluate import reconstruct_sample

        self.runner.submit("reconstruction", reconstruct_sample, model, x, latest_only=True,
                           on_result=lambda r, pos=pos, model=model, x=x: self._ready(pos, model, x, r),
                           on_error=lambda exc: self.view.info.setText(f"Cannot reconstruct: {exc}"))

    def _ready(self, pos: int, model, x: np.ndarray, recon: np.ndarray) -> None:
        if pos != self.session.selected or model is not self.session.model:
            return
        self._shown = (pos, model)
        self.view.set_sample(x, recon)

    def shutdown(self) -> None:
        self.runner.shutdown()


__all__ = ["MeshView", "LiveMesh", "SampleFeed", "guess_frame", "MODES", "PRESETS"]
