"""Morph slider cost on the full-resolution body (13,718 vertices, 27,420 triangles).

    python -m benchmarks.bench_morph [--quick] [--size W H] [--steps N]

Needs a display (e.g. ``xvfb-run -a python -m benchmarks.bench_morph``). Trains an SAE of the
paper's shape (``basis`` architecture, 256 basis vectors, hidden 2048/256, latent 30) for two
epochs on full-resolution bodies, opens the mesh viewport at ``--size`` and measures, in one
run and interleaved round by round so that changing machine load hits all three alike:

* update: what one slider step costs besides drawing: decode the path point
  (``CodeDecoder``), compute the vertex normals (``VertexNormals``) and write points and
  normals into the viewport's VTK arrays in place;
* bare render: ``render()`` of the same mesh in the same viewport, nothing changed;
* step: update + render, i.e. a whole slider step done on one thread;
* UI step: what the UI thread does per step in the app, where the morph panel's worker has
  already decoded and computed the normals: the copy into VTK's arrays + render;

as wall time and CPU time (the update: the calling thread's CPU time; renders: the process's,
which includes Mesa's rasteriser threads), medians and 90th percentiles, with the ratio
step / bare render. Then drags the real morph panel's slider (decoding on its worker thread):
the time from a slider move until that frame is on screen (one move at a time), and during a
continuous 60 Hz drag the frames drawn per second and how many slider steps a drawn frame
lags behind. Load averages are printed before and after.
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch


def _load() -> str:
    try:
        return " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def _stats(values) -> tuple[float, float]:
    a = np.asarray(values) * 1000.0
    return float(np.median(a)), float(np.percentile(a, 90))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--size", type=int, nargs=2, default=(700, 760), metavar=("W", "H"))
    parser.add_argument("--steps", type=int, default=None, help="slider steps per measurement")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--count", type=int, default=300, help="full-resolution bodies to train on")
    parser.add_argument("--cache-dir", default=None)
    args = parser.parse_args(argv)
    steps = args.steps or (10 if args.quick else 20)
    rounds = args.rounds or (3 if args.quick else 6)
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        print("bench_morph needs a display and was skipped: run it under xvfb-run -a")
        return {}
    os.environ.setdefault("QT_QPA_PLATFORM", "xcb")

    from PySide6.QtWidgets import QApplication

    from saeviz.app import MeshView, MorphPanel
    from saeviz.core.data import bodies
    from saeviz.core.display.mesh_ops import VertexNormals
    from saeviz.core.method.config import ModelConfig, TrainConfig
    from saeviz.core.method.morph import CodeDecoder, class_centers, morph_path
    from saeviz.core.method.training import Trainer
    from saeviz.core.state.session import Session, SessionDefaults, frozen_model

    app = QApplication.instance() or QApplication([])
    print(f"load average at start: {_load()}; torch threads {torch.get_num_threads()}", flush=True)
    ds = bodies.load_bodies(count=args.count, seed=0, resolution="full", cache_dir=args.cache_dir)
    V = ds.X.shape[1]
    model_cfg = ModelConfig(architecture="basis", hidden=(2048, 256), latent_dim=30, basis_size=256)
    train_cfg = TrainConfig(gamma=0.5, epochs=2, batch_size=32, device="cpu", seed=0)
    session = Session(SessionDefaults(label_fraction=0.2, model=model_cfg, train=train_cfg))
    session.set_dataset(ds)
    t = time.perf_counter()
    trainer = Trainer(session.X, model_cfg, train_cfg, supervision=session.labels)
    trainer.fit()
    model = frozen_model(trainer.model)
    codes = trainer.latent_codes()
    print(f"{V} vertices, {len(ds.faces)} triangles; model trained in {time.perf_counter() - t:.0f} s", flush=True)
    labels = np.asarray(session.labels.labels)
    centers = class_centers(codes, labels, 2)
    start = int(np.flatnonzero(labels == 0)[0])
    ts = np.linspace(0.0, 1.0, steps)
    path = morph_path(codes[start], centers[0], centers[1], ts).astype(np.float32)

    view = MeshView()
    view.resize(*args.size)
    view.show()
    view.set_topology(ds.faces, V)
    decoder = CodeDecoder(model)
    normals = VertexNormals(ds.faces, V)
    live = view.meshes["morph"]
    view.set_morph(decoder.decode(path[0]))
    view.set_mode("morph")
    view.camera_preset("front")
    for _ in range(20):
        app.processEvents()
        time.sleep(0.01)
    view.render_now()
    size = (view.plotter.width(), view.plotter.height())

    def update(z):
        x = decoder.decode(z)
        n = normals.normals(x)
        live.update(x, n)

    results = {"update": ([], []), "bare": ([], []), "step": ([], []), "ui": ([], [])}
    ready = [(decoder.decode(z), None) for z in path]
    ready = [(x, normals.normals(x)) for x, _ in ready]
    for _ in range(3):  # warm up every path
        update(path[1])
        view.render_now()
    for _ in range(rounds):
        for z in path:
            w, c = time.perf_counter(), time.thread_time()
            update(z)
            results["update"][0].append(time.perf_counter() - w)
            results["update"][1].append(time.thread_time() - c)
        for _ in path:
            w, c = time.perf_counter(), time.process_time()
            view.render_now()
            results["bare"][0].append(time.perf_counter() - w)
            results["bare"][1].append(time.process_time() - c)
        for z in path:
            w, c = time.perf_counter(), time.process_time()
            update(z)
            view.render_now()
            results["step"][0].append(time.perf_counter() - w)
            results["step"][1].append(time.process_time() - c)
        for x, n in ready:
            w, c = time.perf_counter(), time.process_time()
            live.update(x, n)
            view.render_now()
            results["ui"][0].append(time.perf_counter() - w)
            results["ui"][1].append(time.process_time() - c)
        app.processEvents()

    out = {"vertices": V, "triangles": int(len(ds.faces)), "viewport": size,
           "software_gl": view.software_gl, "multi_samples": view.plotter.ren_win.GetMultiSamples()}
    print(f"\nviewport {size[0]}x{size[1]} px, software OpenGL: {view.software_gl}, "
          f"multisampling: {out['multi_samples']}; {rounds} rounds x {steps} steps each")
    print(f"{'':14s}{'wall median':>12s}{'wall p90':>10s}{'CPU median':>12s}{'CPU p90':>10s}  (ms)")
    for key, label in (("update", "update"), ("bare", "bare render"), ("step", "step"), ("ui", "UI step")):
        wm, wp = _stats(results[key][0])
        cm, cp = _stats(results[key][1])
        out[key] = {"wall_median_ms": wm, "wall_p90_ms": wp, "cpu_median_ms": cm, "cpu_p90_ms": cp}
        print(f"{label:14s}{wm:12.2f}{wp:10.2f}{cm:12.2f}{cp:10.2f}")
    out["ratio_wall"] = out["step"]["wall_median_ms"] / out["bare"]["wall_median_ms"]
    out["ratio_cpu"] = out["step"]["cpu_median_ms"] / out["bare"]["cpu_median_ms"]
    out["ui_ratio_wall"] = out["ui"]["wall_median_ms"] / out["bare"]["wall_median_ms"]
    out["ui_ratio_cpu"] = out["ui"]["cpu_median_ms"] / out["bare"]["cpu_median_ms"]
    print(f"step / bare render: wall {out['ratio_wall']:.3f}, CPU {out['ratio_cpu']:.3f}; "
          f"UI step / bare render: wall {out['ui_ratio_wall']:.3f}, CPU {out['ui_ratio_cpu']:.3f}")

    # The real panel: slider moves -> worker decodes -> UI writes and renders. The event loop
    # runs (and sleeps) as in the app; a busy loop here would take a core from the worker.
    from PySide6.QtCore import QEventLoop, QTimer

    def run_until(done, timeout_s: float) -> None:
        loop = QEventLoop()
        check = QTimer()
        check.setInterval(1)
        check.timeout.connect(lambda: loop.quit() if done() else None)
        QTimer.singleShot(int(timeout_s * 1000), loop.quit)
        check.start()
        loop.exec()
        check.stop()

    session.accept_model(model, model_cfg)
    session.accept_codes(codes)
    panel = MorphPanel(session, mesh_view=view)
    panel.show()
    session.select(start)
    run_until(lambda: panel.last_frame is not None, 30)
    latency, decode_ms = [], []
    for value in np.linspace(0, 100, 2 * steps).round().astype(int):
        seen = view.render_count
        t0 = time.perf_counter()
        panel.slider.setValue(int(value))
        run_until(lambda: (panel.last_frame is not None and abs(panel.last_frame.t - value / 100) < 1e-9
                           and view.render_count > seen), 5)
        latency.append(time.perf_counter() - t0)
        decode_ms.append(panel.last_frame.seconds)
    lm, lp = _stats(latency)
    dm, dp = _stats(decode_ms)
    out["panel_latency_ms"] = {"median": lm, "p90": lp}
    out["panel_worker_decode_ms"] = {"median": dm, "p90": dp}
    print(f"morph panel, slider move until the frame is drawn: median {lm:.1f} ms, p90 {lp:.1f} ms "
          f"(worker: decode + normals median {dm:.2f} ms wall)")

    # A continuous drag: the slider moves every 16 ms (a 60 Hz mouse) for two seconds.
    shown_t = []
    view.rendered.connect(lambda: shown_t.append((panel.slider.value() / 100,
                                                  panel.last_frame.t if panel.last_frame else None)))
    moves = [0]

    def move() -> None:
        k = moves[0] % 200
        panel.slider.setValue(k if k <= 100 else 200 - k)
        moves[0] += 1

    mouse = QTimer()
    mouse.setInterval(16)
    mouse.timeout.connect(move)
    t0 = time.perf_counter()
    mouse.start()
    run_until(lambda: False, 2.0)
    mouse.stop()
    elapsed = time.perf_counter() - t0
    lag = [abs(a - b) * 100 for a, b in shown_t if b is not None]
    out["drag"] = {"moves": moves[0], "frames": len(shown_t), "fps": len(shown_t) / elapsed,
                   "lag_steps_median": float(np.median(lag)) if lag else None}
    print(f"continuous drag at 60 Hz for {elapsed:.1f} s: {moves[0]} slider moves, {len(shown_t)} frames drawn "
          f"({len(shown_t) / elapsed:.1f} per second); a drawn frame is a median "
          f"{out['drag']['lag_steps_median']:.0f} slider steps behind the slider")
    print(f"load average at end: {_load()}")
    panel.shutdown()
    view.shutdown()
    return out


if __name__ == "__main__":
    main()
