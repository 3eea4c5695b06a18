"""Long sessions: resident memory before and after 100 training start/stop cycles and 1,000
live projection updates in the main window (digits demo, under Xvfb).

    python -m benchmarks.bench_soak [--quick] [--cycles N] [--updates N]

Each cycle starts training, lets the worker thread run a few batches, stops it and waits for
the thread to end. Each projection update refits the projection of the codes and redraws the
latent view. RSS is read from /proc/self/status after a warm-up (the first cycle and update
allocate caches that stay for the whole session).
"""
from __future__ import annotations

import argparse
import gc
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.bench_ui_stall import _display


def rss_mib() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def pump(app, seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.005)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="10 cycles and 100 updates")
    parser.add_argument("--cycles", type=int, default=100)
    parser.add_argument("--updates", type=int, default=1000)
    args = parser.parse_args(argv)
    cycles, updates = (10, 100) if args.quick else (args.cycles, args.updates)
    os.environ.setdefault("QT_QPA_PLATFORM", "xcb")
    display = _display()
    try:
        from PySide6.QtCore import QSettings
        from PySide6.QtWidgets import QApplication

        from saeviz.app import MainWindow, collect_garbage_on_ui_thread
        from saeviz.core.method.config import ModelConfig, TrainConfig
        from saeviz.core.state.session import SessionDefaults

        app = QApplication.instance() or QApplication([])
        collect_garbage_on_ui_thread()  # as the app does
        defaults = SessionDefaults(model=ModelConfig(hidden=(64,), latent_dim=6),
                                   train=TrainConfig(epochs=1000, batch_size=32))
        with tempfile.TemporaryDirectory() as tmp:
            settings = QSettings(str(Path(tmp) / "soak.ini"), QSettings.IniFormat)
            window = MainWindow(settings=settings, defaults=defaults)
            window.show()
            pump(app, 1.0)
            while window.session.dataset is None:
                pump(app, 0.1)

            def cycle():
                window.train()
                pump(app, 0.15)
                window.controller.stop(wait=True)
                pump(app, 0.02)

            cycle()  # warm-up
            gc.collect()
            before = rss_mib()
            t0 = time.perf_counter()
            for _ in range(cycles):
                cycle()
            gc.collect()
            pump(app, 0.5)
            after = rss_mib()
            thread = window.controller.thread
            threads = thread is not None and thread.isRunning()
            print(f"{cycles} training start/stop cycles: RSS {before:.1f} -> {after:.1f} MiB "
                  f"({after - before:+.1f} MiB), {time.perf_counter() - t0:.1f} s, worker thread left running: {threads}")

            view = window.latent.view
            codes = np.random.default_rng(0).normal(size=(len(window.session.dataset.train_idx), 6)).astype(np.float32)
            from saeviz.core.display.projection import LiveProjection, make_projector

            live = LiveProjection(make_projector("pca", 2))

            def update(i):
                Y = live.update(codes + 0.01 * i)
                view.set_points(Y)
                app.processEvents()

            update(0)
            gc.collect()
            before = rss_mib()
            t0 = time.perf_counter()
            for i in range(1, updates + 1):
                update(i)
            gc.collect()
            after = rss_mib()
            print(f"{updates} projection updates: RSS {before:.1f} -> {after:.1f} MiB ({after - before:+.1f} MiB), "
                  f"{1000 * (time.perf_counter() - t0) / updates:.1f} ms per update")
            window.close()
            window.deleteLater()
            pump(app, 0.2)
    finally:
        if display is not None:
            display.stop()


if __name__ == "__main__":
    main()
