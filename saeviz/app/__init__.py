"""The PySide6 desktop application: the only package that imports Qt, pyqtgraph and pyvistaqt.

The public names below are what scripts and benchmarks may use; they are imported on first
use, so that importing ``saeviz.app`` stays light. Everything else is internal to the app's
packages (``common``, ``window``, ``latent``, ``labeling``, ``guided``, ``mesh``, ``training``).
"""
from importlib import import_module

_PUBLIC = {
    "MainWindow": "saeviz.app.window.main_window",        # the main window
    "main": "saeviz.app.window.launch",                   # the launcher (``saeviz app``)
    "configure_threads": "saeviz.app.window.launch",      # torch threads for the UI process
    "warm_up": "saeviz.app.window.launch",                # imports paid before the window shows
    "collect_garbage_on_ui_thread": "saeviz.app.window.launch",
    "LatentView": "saeviz.app.latent.view",               # the latent scatter view (2D/3D)
    "PaintTools": "saeviz.app.labeling.paint_tools",      # brush, lasso, rectangle on a LatentView
    "capsule_hits": "saeviz.app.labeling.paint_tools",    # points under a brush stroke segment
    "LabelEditor": "saeviz.app.common.undo",              # the one undo stack of label edits
    "MorphPanel": "saeviz.app.mesh.morph_panel",          # the morph between two classes
    "MeshView": "saeviz.app.mesh.viewport",               # the 3D mesh viewport
}


def __getattr__(name: str):
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(module), name)


__all__ = sorted(_PUBLIC)
