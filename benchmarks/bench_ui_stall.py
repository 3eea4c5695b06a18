"""UI-thread stalls while the main window trains.

    python -m benchmarks.bench_ui_stall [--quick] [--seconds S]

A 10 ms precise QTimer on the UI thread records the time between its ticks while the main
window trains (live snapshots, repaint timer, PCA per frame, classifier fits and loss curves
all running as in normal use). Printed per case: p50 / p99 / max of the tick interval (an
idle UI gives about 10 ms; the target is p99 < 50 ms), frames drawn, epochs, samples/s and
the projection time per frame on the UI thread. A first line measures the same probe with
nothing running, as the baseline of the machine at the time (other processes count).

Cases: the digits demo (1,438 training samples, 8x8, MLP 256-128, latent 10) and a
synthetic set of 20,000 x 784 vectors in 3 classes (MLP 256-128, latent 10). Runs under Xvfb
(started through PyVirtualDisplay when there is no display) with the xcb platform.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _display():
    """Start a virtual X display when none is available; returns it (or None)."""
    if os.environ.get("QT_QPA_PLATFORM", "xcb") != "xcb" or os.environ.get("DISPLAY"):
        return None
    from pyvirtualdisplay import Display

    display = Display(visible=False, size=(1600, 1000), color_depth=24)
    display.start()
    return display


def synthetic(n: int = 20000, d: int = 784, k: int = 3, seed: int = 0):
    """Vectors from k overlapping Gaussian clusters on a 16-dimensional subspace."""
    from saeviz.core.data.dataset import Dataset

    rng = np.random.default_rng(seed)
    basis = rng.normal(size=(16, d)).astype(np.float32) / 4.0
    centers = rng.normal(size=(k, 16)).astype(np.float32)
    y = rng.integers(0, k, n)
    X = (centers[y] + rng.normal(size=(n, 16)).astype(np.float32)) @ basis
    X += 0.1 * rng.normal(size=(n, d)).astype(np.float32)
    return Dataset(name=f"synthetic {n}x{d}", X=X, kind="vector", y=y,
                   class_names=tuple(f"class {i}" for i in range(k)),
                   source={"loader": "synthetic", "n": n, "d": d})


def run_event_loop(seconds: float) -> None:
    """The application's own event loop (as ``app.exec()`` runs it), for ``seconds``."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    QTimer.singleShot(int(1000 * seconds), loop.quit)
    loop.exec()


def idle_baseline(app, seconds: float) -> dict:
    """The same probe with nothing else running: what this machine gives right now."""
    from PySide6.QtCore import Qt, QTimer

    ticks: list[float] = []
    probe = QTimer()
    probe.setTimerType(Qt.PreciseTimer)
    probe.setInterval(10)
    probe.timeout.connect(lambda: ticks.append(time.perf_counter()))
    probe.start()
    run_event_loop(seconds)
    probe.stop()
    intervals = np.diff(np.asarray(ticks)) * 1000.0
    return {"p50": float(np.percentile(intervals, 50)), "p99": float(np.percentile(intervals, 99)),
            "max": float(intervals.max())}


def measure(app, window, seconds: float) -> dict:
    from PySide6.QtCore import Qt, QTimer

    ticks: list[float] = []
    probe = QTimer()
    probe.setTimerType(Qt.PreciseTimer)
    probe.setInterval(10)
    probe.timeout.connect(lambda: ticks.append(time.perf_counter()))
    proj_times: list[float] = []
    frames0 = window.frames_rendered
    last_frames = [frames0]

    def sample_projection():
        if window.frames_rendered != last_frames[0]:
            last_frames[0] = window.frames_rendered
            proj_times.append(window.latent.last_projection_seconds)

    sampler = QTimer()
    sampler.setInterval(20)
    sampler.timeout.connect(sample_projection)
    window.train(100000)
    t0 = time.perf_counter()
    probe.start()
    sampler.start()
    run_event_loop(seconds)
    sampler.stop()
    probe.stop()
    snap = window.session.snapshot
    window.stop_training()
    intervals = np.diff(np.asarray(ticks)) * 1000.0
    worst = np.argsort(intervals)[::-1][:5]
    return {
        "worst": [(float(ticks[i] - t0), float(intervals[i])) for i in sorted(worst)],
        "p50": float(np.percentile(intervals, 50)) if len(intervals) else float("nan"),
        "p99": float(np.percentile(intervals, 99)) if len(intervals) else float("nan"),
        "max": float(intervals.max()) if len(intervals) else float("nan"),
        "ticks": len(intervals),
        "frames": window.frames_rendered - frames0,
        "epochs": window.session.epoch,
        "rate": snap.samples_per_sec if snap is not None else float("nan"),
        "projection_ms": 1000.0 * float(np.median(proj_times)) if proj_times else float("nan"),
    }


def run_case(app, name: str, dataset, seconds: float) -> dict:
    from PySide6.QtCore import QSettings

    from saeviz.app import MainWindow
    from saeviz.core.method.config import ModelConfig, TrainConfig
    from saeviz.core.state.session import Session, SessionDefaults

    defaults = SessionDefaults(model=ModelConfig(hidden=(256, 128), latent_dim=10),
                               train=TrainConfig(batch_size=64, lr=1e-3))
    session = Session(defaults)
    session.set_dataset(dataset)
    with tempfile.TemporaryDirectory() as tmp:
        settings = QSettings(str(Path(tmp) / "bench.ini"), QSettings.IniFormat)
        window = MainWindow(session=session, settings=settings, defaults=defaults, open_startup=False)
        window.show()
        end = time.perf_counter() + 1.0  # the first expose and paint of the window
        while time.perf_counter() < end:
            app.processEvents()
            time.sleep(0.01)
        result = measure(app, window, seconds)
        window.close()
    result["name"] = name
    return result


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run (5 s per case)")
    parser.add_argument("--seconds", type=float, default=None, help="seconds of training per case")
    parser.add_argument("--verbose", action="store_true", help="also print when the longest stalls happened")
    args = parser.parse_args(argv)
    seconds = args.seconds if args.seconds is not None else (5.0 if args.quick else 20.0)
    os.environ.setdefault("QT_QPA_PLATFORM", "xcb")
    display = _display()
    try:
        from PySide6.QtWidgets import QApplication

        from saeviz.app import (
            collect_garbage_on_ui_thread,
            configure_threads,
            warm_up,
        )
        from saeviz.core.data.registry import load_dataset

        threads = configure_threads()  # as the app does at start-up
        warm_up()

        app = QApplication.instance() or QApplication([sys.argv[0]])
        collect_garbage_on_ui_thread()  # as the app does
        cases = [("digits (1,438 x 8x8)", load_dataset("digits")),
                 ("synthetic (20,000 x 784)", synthetic())]
        print(f"UI tick interval while training ({seconds:g} s per case, {threads} torch threads on "
              f"{os.cpu_count()} cores; idle = 10 ms, target p99 < 50 ms)")
        print(f"{'case':<26}{'p50 ms':>8}{'p99 ms':>8}{'max ms':>8}{'frames':>8}{'epochs':>8}"
              f"{'samples/s':>11}{'PCA ms':>8}")
        base = idle_baseline(app, min(5.0, seconds / 2))
        print(f"{'idle (no window, no work)':<26}{base['p50']:>8.1f}{base['p99']:>8.1f}{base['max']:>8.1f}")
        for name, ds in cases:
            r = run_case(app, name, ds, seconds)
            print(f"{r['name']:<26}{r['p50']:>8.1f}{r['p99']:>8.1f}{r['max']:>8.1f}{r['frames']:>8d}"
                  f"{r['epochs']:>8d}{r['rate']:>11,.0f}{r['projection_ms']:>8.2f}", flush=True)
            if args.verbose:
                print("    longest stalls (s after start: ms): "
                      + ", ".join(f"{t:.2f}: {ms:.0f}" for t, ms in r["worst"]))
    finally:
        if display is not None:
            display.stop()


if __name__ == "__main__":
    main()
