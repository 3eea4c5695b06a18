"""Start the desktop application: ``python -m saeviz.app`` or ``saeviz`` without arguments."""
from __future__ import annotations

import argparse
import gc
import logging
import os
import sys

ORGANIZATION = "saeviz"
APPLICATION = "saeviz"


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="saeviz", description="Structure the latent space of an autoencoder "
                                     "with a few labels, and watch it happen.")
    parser.add_argument("path", nargs="?", help="a dataset (.npz or folder) or a saved model (.safetensors) to open")
    parser.add_argument("--reset-settings", action="store_true",
                        help="forget the remembered window layout and settings")
    return parser.parse_args(argv)


GIL_SWITCH_INTERVAL = 0.001  # seconds; Python's default is 0.005


def configure_threads() -> int:
    """Leave one core to the user interface: torch computes on the others.

    Training with as many torch threads as cores starves the UI thread and, when the machine
    is busy, stalls torch's own threads waiting for each other. ``OMP_NUM_THREADS`` (when
    set) is respected. Returns the number of torch threads.

    The interpreter also hands its lock between threads five times more often than by
    default: the UI thread takes the lock back after every call into Qt, and waited up to
    5 ms each time for the training thread to let go of it (UI timer p99 while training bodies
    with the mesh dock open: 58 to 79 ms before, 34 to 57 ms after, ``benchmarks.bench_morph``).
    """
    import sys

    import torch

    sys.setswitchinterval(GIL_SWITCH_INTERVAL)

    if not os.environ.get("OMP_NUM_THREADS"):
        cores = os.cpu_count() or 1
        torch.set_num_threads(max(1, min(torch.get_num_threads(), cores - 1)))
    return torch.get_num_threads()


def warm_up(background: bool = False) -> None:
    """Do torch's lazy imports before the first training.

    The first optimizer torch builds imports ``torch._dynamo`` and hundreds of modules with it
    (seconds); done by the first training, those imports would hold the interpreter lock and
    freeze the window. By default they are done now, on the calling thread; ``background``
    does them on a thread of their own while the window opens (the training thread waits for
    them before it builds its optimizer).
    """
    from saeviz.app.common import warm_up as imports

    imports.start()
    if not background:
        imports.wait()


_collector = None


def collect_garbage_on_ui_thread(interval: float = 1.0):
    """Collect reference cycles on the UI thread only, from a timer (a QApplication must exist).

    Python's automatic collection runs in whichever thread happens to allocate. When a
    training or task thread collects a cycle that holds Qt objects of the UI thread, Qt
    destroys them there: the worker then waits for the interpreter lock inside a Qt lock the
    UI thread needs, and both wait for ever. pyqtgraph's ``GarbageCollector`` turns the
    automatic collection off and collects on a UI timer instead. The objects alive now (the
    imported libraries) are frozen first, so that a full collection later has little to visit.
    Idempotent; returns the collector.
    """
    global _collector
    if _collector is None:
        from pyqtgraph.util.garbage_collector import GarbageCollector

        gc.collect()
        gc.freeze()
        _collector = GarbageCollector(interval=interval)
    return _collector


def main(argv: list[str] | None = None) -> int:
    """Create the QApplication, show the main window and run the event loop."""
    args = _parse(sys.argv[1:] if argv is None else list(argv))
    from PySide6.QtCore import QCoreApplication, QSettings
    from PySide6.QtWidgets import QApplication

    from saeviz import __version__

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    QCoreApplication.setOrganizationName(ORGANIZATION)
    QCoreApplication.setApplicationName(APPLICATION)
    QCoreApplication.setApplicationVersion(__version__)
    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "saeviz"])
    app.setApplicationDisplayName("saeviz")

    from saeviz.app.window.main_window import MainWindow, app_icon

    configure_threads()
    warm_up(background=True)
    collect_garbage_on_ui_thread()

    icon = app_icon()
    if not icon.isNull():
        app.setWindowIcon(icon)
    settings = QSettings()
    if args.reset_settings:
        settings.clear()
    window = MainWindow(settings=settings, open_startup=args.path is None)
    window.show()
    if args.path is not None:
        window.open_path(args.path)
    return int(app.exec())


if __name__ == "__main__":  # pragma: no cover - manual start
    sys.exit(main())
