"""Paint-stroke and redraw times: ``python -m benchmarks.bench_labeling [--quick]``.

1. Qt-free: one brush stroke over 60,000 points, as the brush tool computes it: at each
   pointer move the points within the brush radius of the segment since the last move
   (``capsule_hits``) are added to the stroke (``StrokeAccumulator``), which labels them at
   once; then the commit into one undo step, its undo and its redo.
   The same without the hit test for a stroke of 50 moves of 400 random points (target 50 ms).
2. In the latent view (2D, 60,000 points): the same stroke sent as mouse events through the
   view, the brush tool and the ``LabelEditor`` (screen positions, sweep, label store), then
   the redraw: restyling every point from the new labels and painting the frame.

Targets: a pointer move under 16 ms (one display frame) and the redraw under 50 ms at 60,000
points. Without a DISPLAY a virtual X server is started (Mesa software rendering).
"""
from __future__ import annotations

import argparse
import time

import numpy as np

N = 60_000
MOVE_TARGET_MS = 16.0
REDRAW_TARGET_MS = 50.0
STROKE_TARGET_MS = 50.0  # a stroke of over 10,000 points: begin, add, commit, undo, redo


def stroke_path(width: float, height: float, moves: int) -> np.ndarray:
    """A wavy left-to-right drag across the middle of a width x height view."""
    t = np.linspace(0.0, 1.0, moves + 1)
    x = width * (0.1 + 0.8 * t)
    y = height * (0.5 + 0.25 * np.sin(2 * np.pi * 1.5 * t))
    return np.column_stack([x, y])


def bench_core(n: int, moves: int, radius: float, repeats: int) -> dict:
    from saeviz.app import capsule_hits
    from saeviz.core.state.label_edits import StrokeAccumulator
    from saeviz.core.state.labels import LabelStore

    rng = np.random.default_rng(0)
    width, height = 1000.0, 750.0
    S = np.column_stack([rng.normal(width / 2, width / 6, n), rng.normal(height / 2, height / 6, n)])
    path = stroke_path(width, height, moves)
    per_move, totals, commit, undo_redo, changed = [], [], [], [], 0
    for _ in range(repeats):
        store = LabelStore(n, ["a", "b", "c"])
        acc = StrokeAccumulator()
        t0 = time.perf_counter()
        acc.begin(store, 1, "Brush")
        acc.add(capsule_hits(S, path[0], path[0], radius))
        for a, b in zip(path[:-1], path[1:]):
            m0 = time.perf_counter()
            acc.add(capsule_hits(S, a, b, radius))
            per_move.append(time.perf_counter() - m0)
        c0 = time.perf_counter()
        edit = acc.commit()
        commit.append(time.perf_counter() - c0)
        totals.append(time.perf_counter() - t0)
        u0 = time.perf_counter()
        edit.undo(store)
        edit.do(store)
        undo_redo.append(time.perf_counter() - u0)
        changed = edit.n_changed
    ms = lambda v: 1000 * float(v)  # noqa: E731
    return {"points": n, "moves": moves, "radius": radius, "labeled": changed,
            "move_median_ms": ms(np.median(per_move)), "move_max_ms": ms(np.max(per_move)),
            "stroke_ms": ms(np.median(totals)), "commit_ms": ms(np.median(commit)),
            "undo_redo_ms": ms(np.median(undo_redo))}


def bench_ten_thousand(n: int, repeats: int) -> tuple[int, float]:
    """One stroke that adds 400 random points of ``n`` at each of 50 moves (over 10,000
    distinct), its commit, undo and redo, without the hit test: the points it labeled and the
    best time in ms."""
    from saeviz.core.state.label_edits import StrokeAccumulator
    from saeviz.core.state.labels import LabelStore

    rng = np.random.default_rng(0)
    moves = [rng.choice(n, 400, replace=False) for _ in range(50)]
    times, changed = [], 0
    for _ in range(repeats):
        store = LabelStore(n, ["a", "b", "c"])
        acc = StrokeAccumulator()
        t0 = time.perf_counter()
        acc.begin(store, 1, "Brush")
        for idx in moves:
            acc.add(idx)
        edit = acc.commit()
        edit.undo(store)
        edit.do(store)
        times.append(time.perf_counter() - t0)
        changed = edit.n_changed
    return changed, 1000 * min(times)


def bench_view(app, n: int, moves: int, radius: float, repeats: int) -> dict:
    from PySide6 import QtCore, QtGui, QtTest, QtWidgets

    from benchmarks.bench_view import close_widget, synthetic_codes, wait_painted
    from saeviz.app import LabelEditor, LatentView, PaintTools
    from saeviz.core.display.projection import LiveProjection, PCAProjector
    from saeviz.core.state.labels import LabelStore

    Z, labels, _centers, _rng = synthetic_codes(n, 10, k=3)
    names = ["a", "b", "c"]
    colors = ["#E69F00", "#56B4E9", "#009E73"]
    store = LabelStore(n, names, colors=colors, labels=labels)
    view = LatentView()
    view.resize(1000, 750)
    view.show()
    QtTest.QTest.qWaitForWindowExposed(view)
    view.set_points(LiveProjection(PCAProjector(2)).update(Z, labels))
    view.set_style(np.array(store.labels), colors, names=names)
    wait_painted(app, lambda: view._cloud.paint_count)
    editor = LabelEditor()
    editor.set_store(store)
    paint = PaintTools(view, editor)
    paint.set_tool("brush")
    paint.set_radius(radius)
    target = view.active_view()
    path = stroke_path(target.width(), target.height(), moves)

    def send(kind, p):
        etype = {"press": QtCore.QEvent.MouseButtonPress, "move": QtCore.QEvent.MouseMove,
                 "release": QtCore.QEvent.MouseButtonRelease}[kind]
        button = QtCore.Qt.NoButton if kind == "move" else QtCore.Qt.LeftButton
        buttons = QtCore.Qt.NoButton if kind == "release" else QtCore.Qt.LeftButton
        pt = QtCore.QPointF(float(p[0]), float(p[1]))
        QtWidgets.QApplication.sendEvent(target, QtGui.QMouseEvent(etype, pt, pt, button, buttons,
                                                                   QtCore.Qt.NoModifier))

    per_move, strokes, redraws, restyles, changed = [], [], [], [], 0
    for r in range(repeats):
        paint.set_current_class(r % 3)
        t0 = time.perf_counter()
        send("press", path[0])
        for p in path[1:]:
            m0 = time.perf_counter()
            send("move", p)
            per_move.append(time.perf_counter() - m0)
        send("release", path[-1])
        strokes.append(time.perf_counter() - t0)
        changed = editor.stack.command(editor.stack.count() - 1).edit.n_changed if editor.stack.count() else 0
        r0 = time.perf_counter()
        view.set_style(np.array(store.labels), colors, names=names)  # what a label change redraws
        restyles.append(time.perf_counter() - r0)
        wait_painted(app, lambda: view._cloud.paint_count)
        redraws.append(time.perf_counter() - r0)
    paint.shutdown()
    close_widget(app, view)
    ms = lambda v: 1000 * float(v)  # noqa: E731
    return {"points": n, "moves": moves, "radius": radius, "labeled_last": changed,
            "move_median_ms": ms(np.median(per_move)), "move_max_ms": ms(np.max(per_move)),
            "stroke_ms": ms(np.median(strokes)), "redraw_median_ms": ms(np.median(redraws)),
            "restyle_median_ms": ms(np.median(restyles)),
            "redraw_max_ms": ms(np.max(redraws))}


def bench_preview(k: int, repeats: int) -> float:
    """Median milliseconds of the distance editor's MDS preview for k classes."""
    from saeviz.core.method.class_layout import class_layout

    rng = np.random.default_rng(1)
    A = rng.random((k, k)) + 0.5
    D = A + A.T
    np.fill_diagonal(D, 0)
    counts = rng.integers(1, 500, k)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        class_layout(D, counts, latent_dim=10)
        times.append(time.perf_counter() - t0)
    return 1000 * float(np.median(times))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--points", type=int, default=N)
    parser.add_argument("--moves", type=int, default=60, help="pointer moves in the stroke")
    parser.add_argument("--radius", type=float, default=30.0, help="brush radius in pixels")
    args = parser.parse_args(argv)
    repeats = 3 if args.quick else 10

    core = bench_core(args.points, args.moves, args.radius, repeats)
    print(f"Qt-free stroke, {core['points']:,} points, {core['moves']} moves, radius {core['radius']:g} px: "
          f"{core['labeled']:,} labeled")
    print(f"  per move {core['move_median_ms']:.2f} ms median, {core['move_max_ms']:.2f} ms max; "
          f"whole stroke {core['stroke_ms']:.1f} ms; commit {core['commit_ms']:.2f} ms; "
          f"undo + redo {core['undo_redo_ms']:.2f} ms")
    changed, best = bench_ten_thousand(args.points, repeats)
    print(f"One stroke of {changed:,} of {args.points:,} points in 50 moves, commit, undo and redo: "
          f"{best:.1f} ms best (target {STROKE_TARGET_MS:g} ms)")

    for k in (3, 10, 20):
        print(f"Distance preview (MDS of the class targets), {k} classes: {bench_preview(k, 5 * repeats):.2f} ms "
              "(target 5 ms)")

    from benchmarks.bench_view import virtual_display

    with virtual_display():
        import os

        os.environ.setdefault("QT_QPA_PLATFORM", "xcb")
        from PySide6 import QtWidgets

        app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
        view = bench_view(app, args.points, args.moves, args.radius, repeats)
    print(f"Latent view (2D), {view['points']:,} points, brush tool through mouse events: "
          f"{view['labeled_last']:,} labeled by the last stroke")
    print(f"  per move {view['move_median_ms']:.2f} ms median, {view['move_max_ms']:.2f} ms max "
          f"(target {MOVE_TARGET_MS:g} ms); whole stroke {view['stroke_ms']:.1f} ms")
    print(f"  redraw after the stroke (restyle + paint) {view['redraw_median_ms']:.1f} ms median, "
          f"{view['redraw_max_ms']:.1f} ms max (target {REDRAW_TARGET_MS:g} ms), of which restyling "
          f"{view['restyle_median_ms']:.1f} ms and painting the frame the rest")


if __name__ == "__main__":
    main()
