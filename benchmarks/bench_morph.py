"""Morph slider and Play on the pretrained bodies model at full resolution (13,718 vertices).

    python -m benchmarks.bench_morph [--quick] [--size W H] [--seconds S] [--no-training]

Needs an X display (``xvfb-run -a python -m benchmarks.bench_morph``; started through
PyVirtualDisplay when there is none). Loads ``models/bodies.safetensors`` (basis network,
latent 30) and ``--count`` generated full-resolution bodies, and measures in one run:

1. Where the milliseconds of one morph step go, in a mesh viewport of ``--size`` pixels,
   interleaved round by round so that a change of machine load hits all alike: decode
   (``CodeDecoder``), vertex normals (``VertexNormals``), upload (points and normals written
   in place into the viewport's VTK arrays), bare render (render, read back and show, nothing
   changed), and the step done on one thread (decode + normals + upload + render) against the
   bare render, as wall time and as CPU time of the process (the UI thread and Mesa's
   rasteriser threads: less sensitive to other programs). With pyvistaqt installed, the same bare render in pyvistaqt's ``QtInteractor``
   (a ``QOpenGLWidget``: render, then Qt's OpenGL composition of its window) for comparison.
2. The morph panel and viewport alone (no training): a 60 Hz drag of the slider (a QTimer
   moves it every 16 ms, as a fast mouse does) and Play, each for ``--seconds``: distinct
   frames shown per second (renders of the morph whose ``t`` differs from the previous render;
   slider events are not counted), the longest gap between two shown frames, how far the shown
   frame lags behind the slider, whether the last frame shown is the slider's last ``t``, and
   per stage the median milliseconds of the decoding worker (decode, normals) and of the UI
   thread (upload, render).
3. The main window training the bodies (``--count`` of them, the basis network) while the same
   drag and Play run in its morph panel and mesh dock, with a 10 ms UI timer's p99 / max
   interval (idle: 10 ms).

Load averages are printed before and after each part: the figures depend on what else runs.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

MODEL = Path(__file__).resolve().parents[1] / "models" / "bodies.safetensors"


def _load() -> str:
    try:
        return " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def _ms(values) -> tuple[float, float]:
    a = np.asarray(values, float) * 1000.0
    if not len(a):
        return float("nan"), float("nan")
    return float(np.median(a)), float(np.percentile(a, 90))


def _display():
    if os.environ.get("DISPLAY") or os.environ.get("QT_QPA_PLATFORM", "xcb") != "xcb":
        return None
    from pyvirtualdisplay import Display

    display = Display(visible=False, size=(1600, 1000), color_depth=24)
    display.start()
    return display


def run_event_loop(seconds: float, until=None) -> None:
    """The application's event loop (as ``app.exec()`` runs it) for ``seconds`` or until
    ``until()`` is true."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    QTimer.singleShot(int(1000 * seconds), loop.quit)
    check = QTimer()
    if until is not None:
        check.setInterval(5)
        check.timeout.connect(lambda: loop.quit() if until() else None)
        check.start()
    loop.exec()
    check.stop()


def encode_all(model, X: np.ndarray) -> np.ndarray:
    import torch

    with torch.no_grad():
        return np.concatenate([model.encode(torch.as_tensor(X[i:i + 256], dtype=torch.float32)).numpy()
                               for i in range(0, len(X), 256)])


# -- 1: the stages ------------------------------------------------------------------------------
def stages(app, ds, model, codes, labels, size, rounds: int, steps: int) -> dict:
    from saeviz.app import MeshView
    from saeviz.core.display.mesh_ops import VertexNormals
    from saeviz.core.method.morph import CodeDecoder, class_centers, morph_path

    V = ds.X.shape[1]
    centers = class_centers(codes, labels, 2)
    start = int(np.flatnonzero(labels == 0)[0])
    path = morph_path(codes[start], centers[0], centers[1], np.linspace(0.0, 1.0, steps)).astype(np.float32)
    view = MeshView()
    view.resize(*size)
    view.show()
    view.set_topology(ds.faces, V)
    decoder, normals = CodeDecoder(model), VertexNormals(ds.faces, V)
    live = view.meshes["morph"]
    view.set_mode("morph")
    view.set_morph(decoder.decode(path[0]))
    view.camera_preset("front")
    run_event_loop(0.3)
    view.render_now()
    old = _old_viewport(app, ds, decoder.decode(path[0]), normals, (view.canvas.width(), view.canvas.height()))
    keys = ("decode", "normals", "upload", "bare render", "step") + (("old bare render",) if old else ())
    res = {k: [] for k in keys}
    cpu = {k: [] for k in keys}  # process CPU time: the UI thread and Mesa's rasteriser threads

    def timed(key, fn, *args):
        w, c = time.perf_counter(), time.process_time()
        value = fn(*args)
        res[key].append(time.perf_counter() - w)
        cpu[key].append(time.process_time() - c)
        return value

    def step(z):
        x = decoder.decode(z)
        live.update(x, normals.normals(x))
        view.render_now()

    for _ in range(rounds):
        for z in path:
            x = timed("decode", decoder.decode, z)
            n = timed("normals", normals.normals, x)
            timed("upload", live.update, x, n)
        for _ in path:
            timed("bare render", view.render_now)
        for z in path:
            timed("step", step, z)
        if old:
            for _ in path:
                timed("old bare render", old)
        app.processEvents()
    out = {k: _ms(v) + (_ms(cpu[k])[0],) for k, v in res.items()}
    out["ratio"] = out["step"][0] / out["bare render"][0]
    out["ratio_cpu"] = out["step"][2] / out["bare render"][2]
    out["viewport"] = (view.canvas.width(), view.canvas.height())
    out["software_gl"] = view.software_gl
    view.shutdown()
    view.close()
    view.deleteLater()
    return out


def _old_viewport(app, ds, x, normals, size):
    """pyvistaqt's QtInteractor (a QOpenGLWidget) showing the same body, or None."""
    try:
        import pyvista as pv
        from pyvistaqt import QtInteractor
    except ImportError:
        return None
    plotter = QtInteractor(None, auto_update=False, multi_samples=0)
    plotter.resize(*size)
    plotter.show()
    plotter.set_background("white")
    plotter.enable_lightkit()
    F = np.hstack([np.full((len(ds.faces), 1), 3), ds.faces]).ravel()
    mesh = pv.PolyData(np.asarray(x, np.float32), F)
    mesh.point_data["Normals"] = normals.normals(x)
    mesh.point_data.active_normals_name = "Normals"
    actor = plotter.add_mesh(mesh, color="#d9c2ad", reset_camera=True)
    actor.prop.interpolation = "phong"
    run_event_loop(0.3)

    def render():
        plotter.render()
        app.processEvents()  # the paint: Qt composes the window through OpenGL
    return render


# -- 2 and 3: the panel --------------------------------------------------------------------------
class FrameCounter:
    """Counts the distinct morph frames the viewport draws and the gaps between them."""

    def __init__(self, view, panel):
        self.view, self.panel = view, panel
        self.times: list[float] = []
        self.lag: list[float] = []
        self._last_t = None
        self.upload: list[float] = []
        self.render: list[float] = []
        self.decode: list[float] = []
        self.normals: list[float] = []
        view.rendered.connect(self._rendered)
        panel.frameShown.connect(self._frame)
        self.active = False

    def _frame(self, frame) -> None:
        if self.active:
            self.decode.append(frame.decode_seconds)
            self.normals.append(frame.normals_seconds)
            self.upload.append(self.view.last_upload_seconds)

    def _rendered(self) -> None:
        if not self.active or self.view.mode != "morph" or self.panel.last_frame is None:
            return
        self.render.append(self.view.last_render_seconds)
        t = self.panel.last_frame.t
        if t != self._last_t:
            self._last_t = t
            self.times.append(time.perf_counter())
            self.lag.append(abs(self.panel.t - t) * 100)

    def run(self, seconds: float, drive) -> dict:
        self.times, self.lag, self._last_t = [], [], None
        self.upload, self.render, self.decode, self.normals = [], [], [], []
        self.active = True
        t0 = time.perf_counter()
        drive(seconds)
        elapsed = time.perf_counter() - t0
        settled = self.panel.t
        run_event_loop(10.0, until=lambda: self.panel.last_frame is not None
                       and self.panel.last_frame.t == self.panel.t and not self.view._render_pending)
        self.active = False
        times = [t for t in self.times if t <= t0 + elapsed]
        gaps = np.diff([t0] + times) if times else np.array([elapsed])
        return {"fps": len(times) / elapsed, "max_gap_ms": 1000 * float(gaps.max()),
                "lag_steps": float(np.median(self.lag)) if self.lag else float("nan"),
                "last_ok": self.panel.last_frame is not None and self.panel.last_frame.t == settled
                and self.view.morph_points() is not None,
                "decode": _ms(self.decode)[0], "normals": _ms(self.normals)[0],
                "upload": _ms(self.upload)[0], "render": _ms(self.render)[0]}


def drag(panel):
    """A fast mouse: the slider moves every 16 ms, back and forth over 0..1."""
    from PySide6.QtCore import Qt, QTimer

    def go(seconds: float) -> None:
        k = [0]

        def move() -> None:
            i = k[0] % 120
            panel.slider.setValue(i if i <= 100 else 100 - 5 * (i - 100))
            k[0] += 1
        mouse = QTimer()
        mouse.setTimerType(Qt.PreciseTimer)
        mouse.setInterval(16)
        mouse.timeout.connect(move)
        mouse.start()
        run_event_loop(seconds)
        mouse.stop()
    return go


def play(panel):
    def go(seconds: float) -> None:
        panel.play_button.click()
        run_event_loop(seconds)
        panel.play_button.click()
    return go


def ui_probe():
    from PySide6.QtCore import Qt, QTimer

    ticks: list[float] = []
    probe = QTimer()
    probe.setTimerType(Qt.PreciseTimer)
    probe.setInterval(10)
    probe.timeout.connect(lambda: ticks.append(time.perf_counter()))
    return probe, ticks


def _ticks(ticks) -> tuple[float, float]:
    d = np.diff(np.asarray(ticks)) * 1000.0
    return (float(np.percentile(d, 99)), float(d.max())) if len(d) else (float("nan"), float("nan"))


def drag_and_play(counter: FrameCounter, panel, seconds: float) -> dict:
    """Frames shown during a 60 Hz drag of the slider, then during Play, ``seconds`` each, with
    the UI timer's p99 and max (ms) of each."""
    out = {}
    for name, driver in (("drag", drag(panel)), ("play", play(panel))):
        probe, ticks = ui_probe()
        probe.start()
        out[name] = counter.run(seconds, driver)
        probe.stop()
        out[name]["ui_p99"], out[name]["ui_max"] = _ticks(ticks)
    return out


def panel_alone(ds, ckpt, size, seconds: float) -> dict:
    from saeviz.app import MeshView, MorphPanel
    from saeviz.core.state.session import Session

    session = Session()
    session.set_dataset(ds)
    session.apply_checkpoint(ckpt, labels=False)
    session.accept_codes(encode_all(ckpt.model, session.X))
    view = MeshView()
    view.resize(*size)
    view.show()
    view.set_topology(ds.faces, ds.X.shape[1])
    panel = MorphPanel(session, mesh_view=view)
    panel.show()
    session.select(int(np.flatnonzero(np.asarray(session.labels.labels) == 0)[0]))
    run_event_loop(30, until=lambda: panel.last_frame is not None)
    view.camera_preset("front")
    run_event_loop(0.3)
    out = drag_and_play(FrameCounter(view, panel), panel, seconds)
    panel.shutdown()
    view.shutdown()
    return out


def window_training(app, ds, size_hint, seconds: float) -> dict:
    from PySide6.QtCore import QSettings

    from saeviz.app import MainWindow
    from saeviz.core.method.config import ModelConfig, TrainConfig
    from saeviz.core.state.session import Session, SessionDefaults

    defaults = SessionDefaults(label_fraction=0.2,
                               model=ModelConfig(architecture="basis", hidden=(512, 128), latent_dim=30, basis_size=64),
                               train=TrainConfig(batch_size=32))
    session = Session(defaults)
    session.set_dataset(ds)
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        settings = QSettings(str(Path(tmp) / "bench.ini"), QSettings.IniFormat)
        window = MainWindow(session=session, settings=settings, defaults=defaults, open_startup=False)
        window.resize(1280, 720)
        window.show()
        run_event_loop(1.5)
        tools = window.mesh_tools
        panel, view = tools.morph, tools.mesh_view
        session.select(int(np.flatnonzero(np.asarray(session.labels.labels) == 0)[0]))
        window.train(100000)
        run_event_loop(120, until=lambda: session.epoch >= 1 and panel.last_frame is not None)
        out["viewport"] = (view.canvas.width(), view.canvas.height())
        tools.docks["morph"].raise_()
        out.update(drag_and_play(FrameCounter(view, panel), panel, seconds))
        probe, ticks = ui_probe()  # training with the mesh dock open, nobody touching the morph
        probe.start()
        run_event_loop(seconds)
        probe.stop()
        out["idle_ui_p99"], out["idle_ui_max"] = _ticks(ticks)
        out["epochs"] = session.epoch
        window.stop_training()
        run_event_loop(10, until=lambda: not session.training)
        window.documents.ask_unsaved_model = lambda doing: "discard"  # no question at close
        window.labeling.ask_unsaved = lambda: "discard"
        window.close()
    return out


def _print_panel(title: str, r: dict) -> None:
    print(title)
    print(f"  {'':6s}{'shown fps':>10s}{'max gap ms':>11s}{'lag steps':>10s}{'last ok':>8s}"
          f"{'decode':>8s}{'normals':>8s}{'upload':>8s}{'render':>8s}{'UI p99':>8s}{'UI max':>8s}")
    for name in ("drag", "play"):
        d = r[name]
        print(f"  {name:6s}{d['fps']:10.1f}{d['max_gap_ms']:11.0f}{d['lag_steps']:10.1f}{d['last_ok']!s:>8s}"
              f"{d['decode']:8.2f}{d['normals']:8.2f}{d['upload']:8.2f}{d['render']:8.2f}"
              f"{d['ui_p99']:8.1f}{d['ui_max']:8.0f}")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short runs (2 s each, fewer rounds)")
    parser.add_argument("--size", type=int, nargs=2, default=(700, 760), metavar=("W", "H"),
                        help="viewport size of parts 1 and 2 (the window's own dock in part 3)")
    parser.add_argument("--seconds", type=float, default=None, help="seconds per drag and per Play")
    parser.add_argument("--count", type=int, default=300, help="full-resolution bodies")
    parser.add_argument("--no-training", action="store_true", help="skip part 3")
    parser.add_argument("--cache-dir", default=None)
    args = parser.parse_args(argv)
    seconds = args.seconds or (2.0 if args.quick else 5.0)
    rounds, steps = (3, 10) if args.quick else (6, 20)
    os.environ.setdefault("QT_QPA_PLATFORM", "xcb")
    display = _display()
    try:
        from PySide6.QtWidgets import QApplication

        from saeviz.app import collect_garbage_on_ui_thread, configure_threads, warm_up
        from saeviz.core.data import bodies
        from saeviz.core.io.checkpoint import load_checkpoint

        threads = configure_threads()
        warm_up()
        app = QApplication.instance() or QApplication([sys.argv[0]])
        collect_garbage_on_ui_thread()
        print(f"load average at start: {_load()}; {threads} torch threads on {os.cpu_count()} cores", flush=True)
        ds = bodies.load_bodies(count=args.count, seed=0, resolution="full", cache_dir=args.cache_dir)
        ckpt = load_checkpoint(MODEL)
        model = ckpt.model.eval()
        codes = encode_all(model, ds.X)
        labels = np.asarray(ds.y)
        print(f"{ds.X.shape[1]} vertices, {len(ds.faces)} triangles; model {MODEL.name}", flush=True)

        s = stages(app, ds, model, codes, labels, args.size, rounds, steps)
        print(f"\n1. one morph step, viewport {s['viewport'][0]}x{s['viewport'][1]} px, software OpenGL: "
              f"{s['software_gl']} ({rounds} rounds x {steps} steps; load {_load()})")
        print(f"  {'':18s}{'median ms':>10s}{'p90 ms':>8s}{'CPU ms':>8s}")
        for key in ("decode", "normals", "upload", "bare render", "step", "old bare render"):
            if key in s:
                print(f"  {key:18s}{s[key][0]:10.2f}{s[key][1]:8.2f}{s[key][2]:8.2f}")
        print(f"  step / bare render: wall {s['ratio']:.3f}, CPU {s['ratio_cpu']:.3f}")

        r = panel_alone(ds, ckpt, args.size, seconds)
        _print_panel(f"\n2. morph panel + viewport {args.size[0]}x{args.size[1]}, not training "
                     f"({seconds:g} s each; load {_load()}; stage columns: median ms)", r)
        out = {"stages": s, "alone": r}
        if not args.no_training:
            t = window_training(app, ds, args.size, seconds)
            _print_panel(f"\n3. main window training {args.count} bodies, viewport {t['viewport'][0]}x"
                         f"{t['viewport'][1]} ({t['epochs']} epochs; load {_load()})", t)
            print(f"  training, mesh dock open, morph untouched: UI timer p99 {t['idle_ui_p99']:.1f} ms, "
                  f"max {t['idle_ui_max']:.0f} ms")
            out["training"] = t
        print(f"\nload average at end: {_load()}")
        return out
    finally:
        if display is not None:
            display.stop()


if __name__ == "__main__":
    main()
