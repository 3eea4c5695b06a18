"""The mesh tools of the window: the 3D mesh viewport, the morph panel and decode-anywhere.

``attach_mesh_tools(shell)`` adds their docks (listed in View > Panels) and the latent view's
markers, and returns the ``MeshTools``.
"""
from __future__ import annotations

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtWidgets import QDockWidget, QLabel

from saeviz.app.common.shell import Shell
from saeviz.app.mesh.decode_anywhere import DecodeAnywhere, LatentMarkers
from saeviz.app.mesh.morph_panel import MorphPanel

# key, title, the window's dock it is a tab beside
DOCKS = (("mesh", "Mesh", "inspector"), ("morph", "Morph", "loss"), ("decode", "Decode point", "loss"))


def attach_mesh_tools(shell: Shell) -> "MeshTools":
    """Add the mesh viewport, the morph panel and decode-anywhere to the shell's window:
    docks, panel entries and the latent view's markers, drawn with the latent panel's current
    linear projection."""
    return MeshTools(shell)


class MeshTools(QObject):
    """The mesh viewport, morph and decode-anywhere docks of one window.

    The mesh dock is shown (and raised, with the morph panel) whenever the open dataset is
    made of meshes, and hidden otherwise; the morph and decode docks serve every dataset kind.

    The 3D viewport (``mesh_view``, None until then) is made when the first mesh dataset
    opens, with its offscreen render window. It shows what that window draws in a raster
    widget: no OpenGL widget is ever part of the window, since one makes Qt compose the whole
    window through OpenGL on every repaint, which without a GPU (Mesa's software renderer)
    doubled the UI thread's longest stalls while training (``benchmarks/bench_ui_stall.py``).
    """

    def __init__(self, shell: Shell):
        super().__init__(shell)
        self.shell = shell
        self.session = shell.session
        self._closed = False
        self._viewport_sized = False  # the viewport got its larger share of the window once
        latent = shell.latent
        view, projection = latent.view, latent.live_projection
        self.mesh_view = None
        self.feed = None
        self.morph_markers = LatentMarkers(view, projection, self)
        self.morph = MorphPanel(self.session, mesh_view=None, markers=self.morph_markers)
        self.decode = DecodeAnywhere(self.session, view, projection, mesh_view=None)
        placeholder = QLabel("The 3D viewport opens with a dataset of meshes (File > Open dataset: a folder "
                             "of meshes, or the bodies that 'saeviz bodies' writes).")
        placeholder.setWordWrap(True)
        placeholder.setAlignment(Qt.AlignCenter)
        widgets = {"mesh": placeholder, "morph": self.morph, "decode": self.decode}
        self.docks: dict[str, QDockWidget] = {}
        for key, title, beside in DOCKS:
            self.docks[key] = shell.add_dock(key, title, widgets[key], Qt.RightDockWidgetArea, tab_with=beside)
        self.place_docks()
        shell.layoutReset.connect(self.place_docks)
        self.morph.status.setText("Select a sample to morph it.")
        self.session.dataset_changed.connect(self._dataset_changed)
        shell.on_close(self.shutdown)
        self._dataset_changed()

    def place_docks(self) -> None:
        """The mesh viewport as a tab beside the inspector (raised for mesh datasets, hidden
        for others), the morph and decode panels as tabs beside the loss curves: the window
        needs no room beyond what its other panels take."""
        d = self.docks
        for key, _title, beside in DOCKS:
            self.shell.place_dock(d[key], Qt.RightDockWidgetArea, tab_with=beside)
        if "loss" not in self.shell.docks:
            self.shell.place_dock(d["decode"], Qt.RightDockWidgetArea, tab_with="morph")
        d["morph"].show()
        d["decode"].show()
        self._dataset_changed()

    def _dataset_changed(self) -> None:
        ds = self.session.dataset
        mesh = ds is not None and ds.kind == "mesh"
        if mesh:
            self.ensure_mesh_view()
        self.docks["mesh"].setVisible(mesh)
        if mesh:
            self.docks["mesh"].raise_()
            self.docks["morph"].raise_()
            if not self._viewport_sized:
                self._viewport_sized = True
                QTimer.singleShot(0, self.enlarge_viewport)

    def enlarge_viewport(self) -> None:
        """Give the mesh viewport most of the right-hand column, and the column more width:
        a body needs room (the panels below it keep what they need, the morph panel its
        slider and Play button)."""
        d = self.docks
        mesh = d["mesh"]
        if self._closed or not mesh.isVisible() or mesh.isFloating():
            return
        below = self.shell.docks.get("loss")
        below = below if below is not None and not below.isFloating() else d["morph"]
        height = mesh.height() + below.height()
        title = mesh.height() - mesh.widget().height() if mesh.widget() is not None else 0
        rest = max(below.minimumSizeHint().height(), below.widget().minimumSizeHint().height()
                   if below.widget() is not None else 0, d["morph"].minimumSizeHint().height(),
                   title + self.morph.drive_height())  # the morph's slider and Play in sight
        self.shell.resize_docks([mesh, below], [max(height - rest, int(0.65 * height)), rest], Qt.Vertical)
        central = self.shell.central_width()
        if central:
            total = mesh.width() + central
            self.shell.resize_docks([mesh], [max(mesh.width(), int(0.45 * total))], Qt.Horizontal)

    def ensure_mesh_view(self):
        """The 3D viewport, made now if it does not exist yet (see the class docstring)."""
        if self.mesh_view is None and not self._closed:
            from saeviz.app.mesh.viewport import MeshView, SampleFeed

            self.mesh_view = MeshView()
            old = self.docks["mesh"].widget()
            self.docks["mesh"].setWidget(self.mesh_view)
            if old is not None:
                old.deleteLater()
            self.morph.mesh_view = self.mesh_view
            self.decode.mesh_view = self.mesh_view
            self.feed = SampleFeed(self.session, self.mesh_view, self)
        return self.mesh_view

    def shutdown(self) -> None:
        """Stop the workers and release the render window (the window is closing)."""
        if self._closed:
            return
        self._closed = True
        self.morph.shutdown()
        self.decode.shutdown()
        if self.feed is not None:
            self.feed.shutdown()
        if self.mesh_view is not None:
            self.mesh_view.shutdown()


__all__ = ["DOCKS", "MeshTools", "attach_mesh_tools"]
