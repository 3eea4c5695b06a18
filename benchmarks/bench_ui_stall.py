"""UI-thread stalls while the main window trains, with the training in a thread or in its own process.

    python -m benchmarks.bench_ui_stall [--quick] [--seconds S] [--hogs 0,2]
                                        [--backends thread,process] [--bodies N] [--synthetic]

A 10 ms precise QTimer on the UI thread records the time between its ticks while the main
window trains (live snapshots, repaint timer, PCA per frame, classifier fits and loss curves
all running as in normal use). Printed per case: p50 / p99 / max of the tick interval (an
idle UI gives about 10 ms; the target is p99 < 50 ms), frames drawn, epochs, the training
throughput (samples trained per second of wall time over the measurement) and its share of the
same backend's throughput without hogs, and the projection time per frame on the UI thread.
A first line measures the same probe with nothing running, as the baseline of the machine at
the time (other processes count); the load average is printed with every case.

Every case runs once per training backend (``thread``: a QThread of the window's process;
``process``: a child process, ``SAEVIZ_TRAINING_BACKEND=process``, started and ready before
the measurement) and per number of external CPU hogs (busy-loop processes at normal priority,
standing in for a browser or a compile).

Cases: the digits demo (1,438 samples, 8x8, MLP 256-128, latent 10); ``--bodies N`` generated
bodies at reduced resolution (2,006 vertices; the basis network, latent 10; 0 leaves them out;
generated once into the dataset cache); ``--synthetic`` adds 20,000 x 784 vectors in 3 classes.
Runs under Xvfb (started through PyVirtualDisplay when there is no display) with the xcb
platform.
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


def _load() -> str:
    try:
        return "load {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())
    except OSError:
        return "load ?"


class CpuHogs:
    """``n`` busy-loop processes at normal priority for as long as the ``with`` block runs."""

    def __init__(self, n: int):
        self.n = int(n)
        self.procs: list = []

    def __enter__(self):
        import subprocess

        self.procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(self.n)]
        return self

    def __exit__(self, *exc):
        for proc in self.procs:
            proc.kill()
        for proc in self.procs:
            proc.wait()


def _trained(snap, n: int, batch_size: int) -> int:
    """Samples trained up to ``snap`` (whole epochs plus the batches of the running one)."""
    if snap is None:
        return 0
    if snap.final:
        return snap.epoch * n
    return snap.epoch * n + min(snap.batch * batch_size, n)


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
    session = window.session
    n, bs = session.n_samples, session.train_config.batch_size
    window.train(100000)
    # the first snapshot: the run is set up (a new trainer, a basis fitted) and training
    end = time.perf_counter() + 300
    while session.snapshot is None and time.perf_counter() < end:
        run_event_loop(0.05)
    first, t_first = session.snapshot, time.perf_counter()
    t0 = time.perf_counter()
    probe.start()
    sampler.start()
    run_event_loop(seconds)
    sampler.stop()
    probe.stop()
    snap = session.snapshot
    t_last = time.perf_counter()
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
        "throughput": (_trained(snap, n, bs) - _trained(first, n, bs)) / max(t_last - t_first, 1e-9),
        "projection_ms": 1000.0 * float(np.median(proj_times)) if proj_times else float("nan"),
    }


def close_discarding(window) -> None:
    """Close the window, answering "Discard" to its questions about unsaved work."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QMessageBox

    def answer():
        box = QApplication.activeModalWidget()
        if isinstance(box, QMessageBox):
            button = box.button(QMessageBox.Discard)
            if button is not None:
                button.click()
            else:
                box.reject()

    timer = QTimer()
    timer.setInterval(50)
    timer.timeout.connect(answer)
    timer.start()
    window.close()
    timer.stop()


def run_case(app, name: str, dataset, seconds: float, backend: str = "thread", model=None) -> dict:
    from PySide6.QtCore import QSettings

    from saeviz.app import MainWindow
    from saeviz.core.method.config import ModelConfig, TrainConfig
    from saeviz.core.state.session import Session, SessionDefaults

    os.environ["SAEVIZ_TRAINING_BACKEND"] = backend
    defaults = SessionDefaults(model=model or ModelConfig(hidden=(256, 128), latent_dim=10),
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
        controller = window.controller
        if backend == "process":  # started when the window opened: wait until it can train
            end = time.perf_counter() + 300
            while not controller.ready and time.perf_counter() < end:
                run_event_loop(0.1)
        result = measure(app, window, seconds)
        close_discarding(window)
    result["name"] = name
    result["backend"] = backend
    return result


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run (5 s per case)")
    parser.add_argument("--seconds", type=float, default=None, help="seconds of training per case")
    parser.add_argument("--hogs", default="0,2", help="numbers of external CPU hogs, comma-separated")
    parser.add_argument("--backends", default="thread,process", help="training backends, comma-separated")
    parser.add_argument("--bodies", type=int, default=1000, help="generated bodies (reduced resolution; 0: none)")
    parser.add_argument("--synthetic", action="store_true", help="also the 20,000 x 784 synthetic vectors")
    parser.add_argument("--verbose", action="store_true", help="also print when the longest stalls happened")
    args = parser.parse_args(argv)
    seconds = args.seconds if args.seconds is not None else (5.0 if args.quick else 20.0)
    hog_counts = [int(h) for h in args.hogs.split(",") if h.strip()]
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
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
        from saeviz.core.method.config import ModelConfig

        threads = configure_threads()  # as the app does at start-up
        warm_up()

        app = QApplication.instance() or QApplication([sys.argv[0]])
        collect_garbage_on_ui_thread()  # as the app does
        cases = [("digits (1,438 x 8x8)", load_dataset("digits"), None)]
        if args.bodies:
            from saeviz.core.data.bodies import load_bodies

            bodies = load_bodies(count=args.bodies, seed=0, resolution="reduced")
            cases.append((f"bodies ({bodies.n_samples:,} x {bodies.X.shape[1]})", bodies,
                          ModelConfig(architecture="basis", hidden=(256, 128), latent_dim=10)))
        if args.synthetic:
            cases.append(("synthetic (20,000 x 784)", synthetic(), None))
        print(f"UI tick interval while training ({seconds:g} s per case, {threads} torch threads on "
              f"{os.cpu_count()} cores; idle = 10 ms, target p99 < 50 ms; training share: of the same "
              "backend without hogs, target >= 0.33)")
        print(f"{'case':<28}{'backend':>8}{'hogs':>5}{'p50 ms':>8}{'p99 ms':>8}{'max ms':>8}{'frames':>7}"
              f"{'epochs':>7}{'samples/s':>10}{'share':>7}{'PCA ms':>7}  load")
        # One short unmeasured run first: the imports and caches a first training fills once
        # per process (scikit-learn, numba, Qt's type signatures) are not charged to a case.
        run_case(app, "warm-up", cases[0][1], 3.0, "thread", cases[0][2])
        base = idle_baseline(app, min(5.0, seconds / 2))
        print(f"{'idle (no window, no work)':<41}{base['p50']:>8.1f}{base['p99']:>8.1f}{base['max']:>8.1f}"
              f"{'':>38}{_load()}")
        for name, ds, model in cases:
            unloaded: dict[str, float] = {}
            for hogs in hog_counts:
                for backend in backends:
                    with CpuHogs(hogs):
                        r = run_case(app, name, ds, seconds, backend, model)
                        load = _load()
                    if hogs == 0:
                        unloaded[backend] = r["throughput"]
                    share = r["throughput"] / unloaded[backend] if unloaded.get(backend) else float("nan")
                    print(f"{name:<28}{backend:>8}{hogs:>5}{r['p50']:>8.1f}{r['p99']:>8.1f}{r['max']:>8.1f}"
                          f"{r['frames']:>7d}{r['epochs']:>7d}{r['throughput']:>10,.0f}{share:>7.2f}"
                          f"{r['projection_ms']:>7.2f}  {load}", flush=True)
                    if args.verbose:
                        print("    longest stalls (s after start: ms): "
                              + ", ".join(f"{t:.2f}: {ms:.0f}" for t, ms in r["worst"]))
    finally:
        if display is not None:
            display.stop()


if __name__ == "__main__":
    main()
