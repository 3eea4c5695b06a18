"""The latent view at a million points; run by ``python -m benchmarks.bench_view --points 1000000``.

Synthetic clustered codes (``benchmarks.synthetic``, 16 dimensions, 10 classes, 2% labeled)
are projected by PCA and shown in a 1000 x 750 ``LatentView``. Measured, each until the view
has painted (wall-clock ms, and the process's CPU ms, which other load on the machine
disturbs less):

* pan and zoom frames in 2D: zoomed out (a density image), while zooming (the image is made
  again when the cell size changes by a third, on a worker thread), and zoomed in to a region
  of a few tens of thousands of points (markers);
* a live update: new codes projected on a worker thread, then the points, the class targets
  and the target lines of the labeled points uploaded and painted;
* lasso, rectangle and brush from the mouse release to the first frame that shows the
  relabeled points (``PaintTools`` through mouse events and the label store; zoomed out, the
  tools draw the new labels as a layer over the density image at once), and on to the frame
  that shows the restyled view with its new density image (made on a worker thread);
* hover / click picks (a float32 scan at first, then the bucket grid built off the UI thread);
* 3D frames (a sample of ``MAX_POINTS_3D`` points is drawn);
* guided ranking: score every sample with the latent SVM and rank the top 100;
* the memory the view takes per point once it has shown the points in 2D, and then in 3D
  (Python/numpy allocations traced by ``tracemalloc``, and the growth of the process's
  resident set after ``malloc_trim``, Qt and OpenGL included).
"""
from __future__ import annotations

import threading
import time
import tracemalloc
from pathlib import Path

import numpy as np

from benchmarks.synthetic import clustered_codes

TARGETS = {"pan": 50.0, "live": 300.0, "select": 100.0, "pick": 20.0, "frame3d": 100.0,
           "ranking": 1000.0, "bytes": 200.0}
COLORS = ("#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2",
          "#D55E00", "#CC79A7", "#4E79A7", "#F28E2B", "#59A14F")
NAMES = [f"class {i}" for i in range(len(COLORS))]


def rss_bytes() -> int:
    """Resident set size of this process (Linux), 0 where unknown, after handing the memory
    freed by Python and numpy back to the system (glibc keeps it otherwise: its threshold for
    returning large blocks grows as they are freed)."""
    import ctypes
    import ctypes.util
    import gc

    gc.collect()
    try:
        ctypes.CDLL(ctypes.util.find_library("c")).malloc_trim(0)
    except (OSError, AttributeError, TypeError):
        pass
    try:
        with open("/proc/self/statm") as f:
            import os

            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


class Clock:
    """Wall and CPU time of actions that end with a painted frame."""

    def __init__(self, app, counter):
        self.app, self.counter = app, counter

    def frame(self, action) -> tuple[float, float]:
        from benchmarks.bench_view import wait_painted

        c0, t0 = time.process_time(), time.perf_counter()
        before = self.counter()
        action()
        if self.counter() == before:
            wait_painted(self.app, self.counter, timeout=30)
        return 1e3 * (time.perf_counter() - t0), 1e3 * (time.process_time() - c0)


def _summary(rows: list[tuple[float, float]]) -> dict:
    a = np.array(rows).reshape(-1, 2)
    return {"median": float(np.median(a[:, 0])), "max": float(a[:, 0].max()), "cpu": float(np.median(a[:, 1]))}


def _line(name: str, r: dict, target: float, extra: str = "") -> str:
    ok = "ok" if r["median"] <= target else "MISSED"
    return (f"{name:<44}{r['median']:>9.1f}{r['max']:>9.1f}{r['cpu']:>9.1f}   <= {target:<6g} {ok}"
            + (f"  {extra}" if extra else ""))


def send_mouse(widget, kind: str, pos, modifiers=None) -> None:
    from PySide6 import QtCore, QtGui, QtWidgets

    etype = {"press": QtCore.QEvent.Type.MouseButtonPress, "move": QtCore.QEvent.Type.MouseMove,
             "release": QtCore.QEvent.Type.MouseButtonRelease}[kind]
    left = QtCore.Qt.MouseButton.LeftButton
    button = QtCore.Qt.MouseButton.NoButton if kind == "move" else left
    buttons = QtCore.Qt.MouseButton.NoButton if kind == "release" else left
    pt = QtCore.QPointF(float(pos[0]), float(pos[1]))
    QtWidgets.QApplication.sendEvent(widget, QtGui.QMouseEvent(
        etype, pt, widget.mapToGlobal(pt), button, buttons,
        modifiers or QtCore.Qt.KeyboardModifier.NoModifier))


def settle(app, view, timeout: float = 30.0) -> None:
    """Paint until the 2D view shows a density image of the current positions."""
    from benchmarks.bench_view import wait_painted

    deadline = time.perf_counter() + timeout
    while not view._cloud.density_settled() and time.perf_counter() < deadline:
        wait_painted(app, lambda: view._cloud.paint_count, timeout=timeout)


def show_3d(app, view) -> Clock:
    """Switch the view to 3D and wait for its first frame; a clock of its frames."""
    view.set_dimensions(3)
    deadline = time.perf_counter() + 10
    while not view.gl_view.isExposed() and time.perf_counter() < deadline:
        app.processEvents()
    clock = Clock(app, lambda: view._points3d.paint_count)
    clock.frame(lambda: view.gl_view.update())
    return clock


def time_paints(item) -> list[float]:
    """Milliseconds of every paint of ``item`` from now on (the list fills as it paints)."""
    times: list[float] = []
    paint = item.paint

    def timed(*args, **kwargs):
        t0 = time.perf_counter()
        paint(*args, **kwargs)
        times.append(1e3 * (time.perf_counter() - t0))

    item.paint = timed
    return times


def wait_for_index(view, timeout: float = 30.0) -> None:
    """Wait until the bucket grid of the view's point index is built (it runs on a worker)."""
    deadline = time.perf_counter() + timeout
    while view._index is not None and view._index.grid is None and time.perf_counter() < deadline:
        time.sleep(0.01)


def lasso_path(cx: float, cy: float, r: float, vertices: int = 240) -> np.ndarray:
    """A wobbly closed loop around (cx, cy), as a hand draws it."""
    t = np.linspace(0, 2 * np.pi, vertices, endpoint=False)
    rr = r * (1 + 0.15 * np.sin(3 * t))
    return np.column_stack([cx + rr * np.cos(t), cy + rr * np.sin(t)])


def run(app, n: int, frames: int = 12, d: int = 16, out: Path | None = None, source: str = "synthetic") -> list[str]:
    """Run every measurement at ``n`` points; returns the report lines (printed as they come).
    ``source``: "synthetic" (``synthetic.clustered_codes``) or "mnist" (the MNIST training set
    with augmentation, ``mnist_million.augmented_mnist_codes``; 16-D codes)."""
    from PySide6 import QtCore, QtTest

    from saeviz.app import LabelEditor, LatentView, PaintTools
    from saeviz.core.display.projection import LiveProjection, PCAProjector
    from saeviz.core.method.classify import LatentClassifier
    from saeviz.core.method.ranking import rank_scores, score_samples
    from saeviz.core.state.labels import LabelStore

    lines: list[str] = []

    def say(text: str) -> None:
        lines.append(text)
        print(text, flush=True)

    t0 = time.perf_counter()
    if source == "mnist":
        from benchmarks.mnist_million import augmented_mnist_codes

        data, what = augmented_mnist_codes(n, say=say), "augmented MNIST codes"
    else:
        data, what = clustered_codes(n, d), "synthetic codes"
    live = LiveProjection(PCAProjector(2))
    Y = live.update(data.codes, data.labels)
    say(f"{n:,} {what} ({data.codes.shape[1]}-D, 10 classes, {int((data.labels >= 0).sum()):,} labeled) made and "
        f"projected in {time.perf_counter() - t0:.1f} s")
    header = f"{'':<44}{'median':>9}{'max':>9}{'CPU':>9}   target (ms)"
    say(header)
    say("-" * len(header))

    # -- memory: the view's own allocations and the process's growth, 2D then 3D
    store = LabelStore(n, NAMES, colors=list(COLORS), labels=data.labels)
    tracemalloc.start()
    rss0 = rss_bytes()
    view = LatentView()
    view.resize(1000, 750)
    view.show()
    QtTest.QTest.qWaitForWindowExposed(view)
    counter = lambda: view._cloud.paint_count
    clock = Clock(app, counter)
    cloud_ms = time_paints(view._cloud)
    first = clock.frame(lambda: (view.set_points(Y), view.set_style(np.array(store.labels), list(COLORS),
                                                                      names=NAMES)))
    view.pick(QtCore.QPointF(500, 375))  # builds the point index as a user's first hover would
    wait_for_index(view)
    traced_2d = tracemalloc.get_traced_memory()[0]
    rss_2d = rss_bytes() - rss0
    show_3d(app, view)
    traced_3d = tracemalloc.get_traced_memory()[0]
    rss_3d = rss_bytes() - rss0
    tracemalloc.stop()
    view.set_dimensions(2)

    # -- 2D pan and zoom
    say(_line("2D first frame (points + style + paint)", _summary([first]), float("inf"),
              f"drawn as {view.drawing_mode()}"))
    vb = view.view_box
    (x0, x1), _ = vb.viewRange()
    step = 0.01 * (x1 - x0)
    cloud_ms.clear()
    pan = [clock.frame(lambda s=(-1) ** i: vb.translateBy(x=s * step)) for i in range(frames)]
    say(_line("2D pan frame, zoomed out", _summary(pan), TARGETS["pan"],
              f"drawn as {view.drawing_mode()}, the points' paint {np.median(cloud_ms):.1f} ms"))
    cloud_ms.clear()
    zoom = [clock.frame(lambda f=(0.9 if i < frames // 2 else 1 / 0.9): vb.scaleBy((f, f))) for i in range(frames)]
    say(_line("2D zoom frame (in, then out)", _summary(zoom), TARGETS["pan"],
              f"the points' paint {np.median(cloud_ms):.1f} ms"))
    cx, cy = np.median(Y[:, 0]), np.median(Y[:, 1])
    # a square around the middle holding about 30,000 points (the view shows about that many)
    half = float(np.partition(np.maximum(np.abs(Y[:, 0] - cx), np.abs(Y[:, 1] - cy)), 30_000)[30_000])
    vb.setRange(xRange=(cx - half, cx + half), yRange=(cy - half * 0.75, cy + half * 0.75), padding=0)
    clock.frame(lambda: None)
    step = 0.01 * 2 * half
    cloud_ms.clear()
    pan_in = [clock.frame(lambda s=(-1) ** i: vb.translateBy(x=s * step)) for i in range(frames)]
    say(_line("2D pan frame, zoomed in", _summary(pan_in), TARGETS["pan"],
              f"drawn as {view.drawing_mode()}, {view._cloud.drawn:,} markers, "
              f"the points' paint {np.median(cloud_ms):.1f} ms"))
    if out is not None:
        view.export_image(out / "saeviz_million_zoomed_in.png")
    view.auto_range()
    clock.frame(lambda: None)
    if out is not None:
        view.export_image(out / "saeviz_million_density.png")

    # -- live update: projection on a worker thread, upload and paint on the UI thread
    drift = data.codes + np.float32(0.05)
    labeled = np.flatnonzero(data.labels >= 0)
    proj, ui, total = [], [], []
    for i in range(max(3, frames // 3)):
        codes = drift if i % 2 == 0 else data.codes
        result: dict = {}
        c0, t0 = time.process_time(), time.perf_counter()
        worker = threading.Thread(target=lambda c=codes, r=result: r.setdefault("Y", live.update(c, data.labels)))
        worker.start()
        while worker.is_alive():
            app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 5)
            worker.join(0.002)
        t1 = time.perf_counter()
        def upload(r=result):
            # what the latent panel does with a frame: points, class targets, target lines
            coords = r["Y"]
            view.set_points(coords)
            view.set_anchors(live.transform(data.centers), list(COLORS))
            view.set_target_lines(coords[labeled], live.transform(data.centers[data.labels[labeled]]))

        w, c = clock.frame(upload)
        settle(app, view)  # the density image of the new positions is made on a worker thread
        proj.append((1e3 * (t1 - t0), 0.0))
        ui.append((w, c))
        total.append((1e3 * (time.perf_counter() - t0), 1e3 * (time.process_time() - c0)))
    say(_line("live update (projection + upload + frame)", _summary(total), TARGETS["live"],
              f"projection on a worker {_summary(proj)['median']:.0f} ms, upload and first frame on the UI "
              f"thread {_summary(ui)['median']:.0f} ms (CPU {_summary(ui)['cpu']:.0f} ms), then the density "
              "image made on a worker"))

    # -- selection: lasso, rectangle and brush through the paint tools
    editor = LabelEditor()
    editor.set_store(store)
    paint = PaintTools(view, editor)
    target = view.active_view()
    W, H = target.width(), target.height()
    restyle = lambda: view.set_style(np.array(store.labels), list(COLORS), names=NAMES)

    def gesture(tool: str, path: np.ndarray, cls: int) -> tuple[tuple[float, float], tuple[float, float], int, float]:
        """One gesture through mouse events: (ms to the first frame showing the new labels,
        ms to the frame of the restyled view with its new density image), each wall and CPU;
        points relabeled; ms per pointer move."""
        from benchmarks.bench_view import wait_painted

        paint.set_tool(tool)
        paint.set_current_class(cls)
        send_mouse(target, "press", path[0])
        moves = []
        for p in path[1:]:
            m0 = time.perf_counter()
            send_mouse(target, "move", p)
            moves.append(time.perf_counter() - m0)
        before = editor.stack.index()
        counter = lambda: view._cloud.paint_count  # noqa: E731
        c0, t0 = time.process_time(), time.perf_counter()
        send_mouse(target, "release", path[-1])
        layered = view._cloud._layer is not None  # the tools had the new labels drawn as a layer ...
        if not layered:  # ... or the restyled view shows them
            restyle()
        wait_painted(app, counter, timeout=30)
        shown = (1e3 * (time.perf_counter() - t0), 1e3 * (time.process_time() - c0))
        if layered:
            restyle()  # what the window does on its next frame after a label change
        settle(app, view)
        done = (1e3 * (time.perf_counter() - t0), 1e3 * (time.process_time() - c0))
        after = editor.stack.index()
        changed = editor.stack.command(after - 1).edit.n_changed if after > before else 0
        return shown, done, changed, 1e3 * float(np.median(moves)) if moves else 0.0

    for tool, path in (("lasso", lasso_path(W * 0.45, H * 0.5, min(W, H) * 0.3)),
                       ("rectangle", np.array([(W * 0.2, H * 0.2), (W * 0.5, H * 0.4), (W * 0.7, H * 0.7)])),
                       ("brush", np.column_stack([np.linspace(W * 0.1, W * 0.9, 40),
                                                  H * (0.5 + 0.2 * np.sin(np.linspace(0, 6, 40)))]))):
        runs, settled, counts, moves = [], [], [], []
        for r in range(3):
            timing, done, changed, move = gesture(tool, path, r % 3)
            runs.append(timing)
            settled.append(done)
            counts.append(changed)
            moves.append(move)
            editor.stack.undo()
            settle(app, view)
        poly_ms = ""
        if tool != "brush":
            s0 = time.perf_counter()
            view.indices_in_polygon(path if tool == "lasso" else
                                    [(path[0][0], path[0][1]), (path[-1][0], path[0][1]),
                                     (path[-1][0], path[-1][1]), (path[0][0], path[-1][1])])
            poly_ms = f", of which the hit test {1e3 * (time.perf_counter() - s0):.0f} ms"
        else:
            poly_ms = f", {np.median(moves):.1f} ms per pointer move"
        say(_line(f"{tool}: release to relabeled points", _summary(runs), TARGETS["select"],
                  f"{max(counts):,} points{poly_ms}; settled (restyled, new density image) in "
                  f"{_summary(settled)['median']:.0f} ms"))
    paint.shutdown()
    clock.frame(restyle)

    # -- picks
    rng = np.random.default_rng(1)
    spots = [QtCore.QPointF(float(x), float(y)) for x, y in zip(rng.uniform(0, W, 60), rng.uniform(0, H, 60))]
    view.set_points(Y)  # new positions: a new index
    p0 = time.perf_counter()
    view.pick(spots[0])
    scan_ms = 1e3 * (time.perf_counter() - p0)
    wait_for_index(view)
    picks = []
    for s in spots:
        c0, t0 = time.process_time(), time.perf_counter()
        view.pick(s)
        picks.append((1e3 * (time.perf_counter() - t0), 1e3 * (time.process_time() - c0)))
    say(_line("hover / click pick", _summary(picks), TARGETS["pick"],
              f"first pick after new points (scan) {scan_ms:.1f} ms"))

    # -- 3D
    clock3 = show_3d(app, view)
    orbit = [clock3.frame(lambda: view.gl_view.orbit(3, 1)) for _ in range(frames)]
    say(_line("3D frame (orbit)", _summary(orbit), TARGETS["frame3d"],
              f"{view.shown_in_3d():,} of {n:,} points drawn"))
    if out is not None:
        view.export_image(out / "saeviz_million_3d.png")
    view.set_dimensions(2)

    # -- guided ranking
    clf = LatentClassifier().fit(data.codes, data.labels)
    ranks = []
    for _ in range(3):
        c0, t0 = time.process_time(), time.perf_counter()
        rank_scores(score_samples(clf, data.codes), data.labels, k=100)
        ranks.append((1e3 * (time.perf_counter() - t0), 1e3 * (time.process_time() - c0)))
    say(_line("guided ranking (score all, top 100)", _summary(ranks), TARGETS["ranking"]))

    # -- memory
    for name, traced, grown in (("2D", traced_2d, rss_2d), ("2D + 3D", traced_3d, rss_3d)):
        say(f"{'memory of the view, ' + name:<44}{traced / n:>9.0f}{grown / n:>9.0f} bytes per point "
            f"(traced allocations, resident-set growth)   <= {TARGETS['bytes']:g} "
            f"{'ok' if max(traced, grown) / n <= TARGETS['bytes'] else 'MISSED'}")
    from benchmarks.bench_view import close_widget

    close_widget(app, view)
    return lines
