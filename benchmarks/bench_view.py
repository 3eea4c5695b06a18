"""Frame times of the latent view: ``python -m benchmarks.bench_view [--quick]``.

One live frame is what the app does when a training snapshot arrives: project the codes
(PCA refit + alignment to the previous frame), move the points, the class anchors, the target
lines and the selection, and paint. The time runs until the view has painted the frame.
Targets: under 33 ms at 10,000 points and under 50 ms at 60,000, in 2D and 3D.

Without a DISPLAY it starts a virtual X server (Xvfb, via pyvirtualdisplay or directly) and
uses Qt's xcb platform, so OpenGL is Mesa's software renderer: a lower bound for real GPUs.
It also saves screenshots of 10,000 coloured points in 2D and 3D (``--out``, default /tmp).

``--points N`` measures the view at N points instead (``benchmarks.view_million``: pan and
zoom frames, live update, lasso / rectangle / brush, picks, 3D frames, guided ranking and
memory per point), e.g. ``python -m benchmarks.bench_view --points 1000000``; ``--mnist`` makes
the points real: the MNIST training set with augmentation, encoded by a conv SAE
(``benchmarks.mnist_million``).
"""
from __future__ import annotations

import argparse
import contextlib
import os
import platform
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np

TARGET_MS = {10_000: 33.0, 60_000: 50.0}
COLORS = ("#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2",
          "#D55E00", "#CC79A7", "#4E79A7", "#F28E2B", "#59A14F")


@contextlib.contextmanager
def virtual_display(size=(1600, 1000)):
    """Use $DISPLAY if set; else start Xvfb for the duration (pyvirtualdisplay or direct)."""
    if os.environ.get("DISPLAY"):
        yield os.environ["DISPLAY"]
        return
    try:
        from pyvirtualdisplay import Display
    except ImportError:
        Display = None
    if Display is not None:
        display = Display(visible=False, size=size, color_depth=24)
        display.start()
        try:
            yield os.environ["DISPLAY"]
        finally:
            display.stop()
        return
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        raise SystemExit("no DISPLAY and no Xvfb: install xvfb (or pyvirtualdisplay) to run this benchmark")
    number = next(n for n in range(99, 200) if not os.path.exists(f"/tmp/.X{n}-lock"))
    proc = subprocess.Popen([xvfb, f":{number}", "-screen", "0", f"{size[0]}x{size[1]}x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not os.path.exists(f"/tmp/.X11-unix/X{number}") and time.monotonic() < deadline:
        time.sleep(0.05)
    os.environ["DISPLAY"] = f":{number}"
    try:
        yield os.environ["DISPLAY"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def synthetic_codes(n: int, d: int, k: int = 10, labeled: float = 0.02, seed: int = 0):
    """Clustered codes like a trained SAE's: k classes, a few percent labeled."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=3.0, size=(k, d))
    y = rng.integers(0, k, n)
    Z = centers[y] + rng.normal(size=(n, d))
    labels = np.full(n, -1)
    idx = rng.choice(n, max(k, int(labeled * n)), replace=False)
    labels[idx] = y[idx]
    return Z, labels, centers, rng


def close_widget(app, widget) -> None:
    from PySide6 import QtCore

    widget.close()
    widget.deleteLater()
    app.sendPostedEvents(None, QtCore.QEvent.Type.DeferredDelete.value)
    app.processEvents()


def wait_painted(app, counter, timeout=5.0) -> None:
    """Run the event loop until the view painted (blocking, not spinning: CPU time stays honest)."""
    from PySide6 import QtCore

    start = counter()
    deadline = time.perf_counter() + timeout
    guard = QtCore.QTimer()
    guard.start(20)  # wakes the wait below if no event comes
    while counter() == start and time.perf_counter() < deadline:
        app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.WaitForMoreEvents)
    guard.stop()


def bench_latent_view(app, n, dims, frames, d, shot=None) -> dict:
    from PySide6 import QtTest

    from saeviz.app import LatentView
    from saeviz.core.display.projection import LiveProjection, PCAProjector

    Z, labels, centers, rng = synthetic_codes(n, d)
    drift = [Z + 0.05 * rng.normal(size=Z.shape) + 0.02 * t for t in range(6)]
    labeled = np.flatnonzero(labels >= 0)
    view = LatentView()
    view.resize(1000, 750)
    view.show()
    QtTest.QTest.qWaitForWindowExposed(view)
    view.set_dimensions(dims)
    deadline = time.perf_counter() + 5
    while dims == 3 and not view.gl_view.isExposed() and time.perf_counter() < deadline:
        app.processEvents()
    live = LiveProjection(PCAProjector(dims))
    view.set_points(live.update(Z, labels))
    view.set_style(labels, list(COLORS), names=[f"class {i}" for i in range(len(COLORS))])
    view.set_selection(int(labeled[0]))
    counter = (lambda: view._cloud.paint_count) if dims == 2 else (lambda: view._points3d.paint_count)
    total, proj, cpu = [], [], []
    for f in range(frames + 5):
        codes = drift[f % len(drift)]
        c0 = time.process_time()
        t0 = time.perf_counter()
        coords = live.update(codes, labels)
        t1 = time.perf_counter()
        view.set_points(coords)
        view.set_anchors(live.transform(centers), list(COLORS))
        view.set_target_lines(coords[labeled], live.transform(centers[labels[labeled]]))
        view.set_selection(int(labeled[0]))
        wait_painted(app, counter)
        t2 = time.perf_counter()
        if f >= 5:  # warm-up frames (first paints build caches and compile shaders)
            total.append(t2 - t0)
            proj.append(t1 - t0)
            cpu.append(time.process_time() - c0)
    if shot is not None:
        view.auto_range()
        wait_painted(app, counter)
        view.export_image(shot)
    close_widget(app, view)
    total, proj, cpu = 1e3 * np.array(total), 1e3 * np.array(proj), 1e3 * np.array(cpu)
    return {"median": float(np.median(total)), "p95": float(np.percentile(total, 95)),
            "projection": float(np.median(proj)), "view": float(np.median(total - proj)),
            "cpu": float(np.median(cpu))}


def bench_scatter_reference(app, n, frames) -> dict:
    """pyqtgraph's ScatterPlotItem.setData + paint, one shared brush, for comparison."""
    import pyqtgraph as pg
    from PySide6 import QtTest

    class Counting(pg.ScatterPlotItem):
        painted = 0

        def paint(self, *args):
            Counting.painted += 1
            super().paint(*args)

    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 2))
    w = pg.PlotWidget()
    w.resize(1000, 750)
    w.show()
    QtTest.QTest.qWaitForWindowExposed(w)
    item = Counting(pxMode=True, size=7, brush=pg.mkBrush(COLORS[0]), pen=None)
    w.addItem(item)
    times, cpu = [], []
    for f in range(frames + 2):
        A = X + 0.01 * f
        c0 = time.process_time()
        t0 = time.perf_counter()
        item.setData(x=A[:, 0], y=A[:, 1])
        wait_painted(app, lambda: Counting.painted)
        if f >= 2:
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    close_widget(app, w)
    times = 1e3 * np.array(times)
    return {"median": float(np.median(times)), "p95": float(np.percentile(times, 95)),
            "cpu": float(1e3 * np.median(cpu))}


def gl_renderer(app) -> str:
    from PySide6 import QtGui

    ctx = QtGui.QOpenGLContext()
    surface = QtGui.QOffscreenSurface()
    surface.create()
    if not ctx.create() or not ctx.makeCurrent(surface):
        return "no OpenGL context"
    from OpenGL import GL

    name = GL.glGetString(GL.GL_RENDERER).decode()
    ctx.doneCurrent()
    return name


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer frames, no reference rows")
    parser.add_argument("--frames", type=int, default=None, help="timed frames per case (default 40; quick 12)")
    parser.add_argument("--latent-dim", type=int, default=16)
    parser.add_argument("--out", type=Path, default=Path("/tmp"), help="folder for the screenshots")
    parser.add_argument("--points", type=int, default=None,
                        help="measure the view at this many points (e.g. 1000000) instead")
    parser.add_argument("--mnist", action="store_true",
                        help="with --points: codes of the MNIST training set with augmentation, encoded by a "
                             "conv SAE trained for one epoch (a few minutes), instead of synthetic codes")
    args = parser.parse_args(argv)
    frames = args.frames or (12 if args.quick else 40)
    if args.points is not None and args.points < 1000:
        parser.error("--points needs at least 1000 points")
    if args.mnist and args.points is None:
        parser.error("--mnist needs --points (e.g. --points 1000000)")

    os.environ.setdefault("QT_QPA_PLATFORM", "xcb")
    rasterisers = os.environ.get("LP_NUM_THREADS", "default")
    with virtual_display():
        import pyqtgraph as pg
        import PySide6
        import shiboken6
        from PySide6 import QtCore, QtWidgets

        app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(f"PySide6 {PySide6.__version__}, pyqtgraph {pg.__version__}, {platform.python_implementation()} "
              f"{platform.python_version()}, {os.cpu_count()} CPUs (load {load:.1f}), "
              f"platform {app.platformName()}, GL: {gl_renderer(app)}, LP_NUM_THREADS={rasterisers}")
        print(f"latent dim {args.latent_dim}, {frames} frames per case; a frame = PCA refit + alignment + "
              "points, anchors, target lines, selection + paint.\nWall-clock times depend on other load; "
              "CPU ms is this process's CPU time per frame (all its threads, Mesa's included).\n")
        header = (f"{'case':<34}{'N':>8}  {'median ms':>9}  {'p95 ms':>7}  {'(proj + view)':>15}  "
                  f"{'CPU ms':>7}  target")
        if args.points is not None:
            from benchmarks.view_million import run

            run(app, args.points, frames=args.frames or (6 if args.quick else 12), d=args.latent_dim, out=args.out,
                source="mnist" if args.mnist else "synthetic")
            app.sendPostedEvents(None, QtCore.QEvent.Type.DeferredDelete.value)
            shiboken6.delete(app)
            return 0
        print(header)
        print("-" * len(header))
        for dims in (2, 3):
            for n in (10_000, 60_000):
                shot = args.out / f"saeviz_latent_{dims}d.png" if n == 10_000 else None
                r = bench_latent_view(app, n, dims, frames, args.latent_dim, shot)
                ok = "ok" if r["median"] < TARGET_MS[n] else "MISSED"
                print(f"{f'LatentView {dims}D':<34}{n:>8,}  {r['median']:>9.1f}  {r['p95']:>7.1f}  "
                      f"{r['projection']:>6.1f} + {r['view']:>6.1f}  {r['cpu']:>7.1f}  < {TARGET_MS[n]:.0f} {ok}",
                      flush=True)
        if not args.quick:
            for n in (10_000, 60_000):
                r = bench_scatter_reference(app, n, 10)
                print(f"{'pyqtgraph ScatterPlotItem.setData':<34}{n:>8,}  {r['median']:>9.1f}  {r['p95']:>7.1f}  "
                      f"{'':>15}  {r['cpu']:>7.1f}  (reference)", flush=True)
        for dims in (2, 3):
            print(f"screenshot: {args.out / f'saeviz_latent_{dims}d.png'}")
        app.sendPostedEvents(None, QtCore.QEvent.Type.DeferredDelete.value)
        shiboken6.delete(app)  # before the X server goes away
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
