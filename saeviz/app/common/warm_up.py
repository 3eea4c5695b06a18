"""torch's lazy imports, paid on a background thread while the window opens.

The first optimizer torch builds imports ``torch._dynamo`` and hundreds of modules with it
(seconds on a busy machine). Done by the first training, on whichever thread builds the
optimizer, those imports hold the interpreter lock for long stretches and freeze the window.
``start`` begins them on a thread of their own at start-up; the training thread calls ``wait``
before it builds its optimizer, so it never imports them itself and the interface thread
never waits for them.
"""
from __future__ import annotations

import threading

_thread: threading.Thread | None = None
_lock = threading.Lock()


def _import_optimizer() -> None:
    import torch

    torch.optim.Adam([torch.zeros(1, requires_grad=True)])


def start() -> threading.Thread:
    """Start the imports on a background thread (once); returns that thread."""
    global _thread
    with _lock:
        if _thread is None:
            _thread = threading.Thread(target=_import_optimizer, name="saeviz-warm-up", daemon=True)
            _thread.start()
        return _thread


def wait(timeout: float | None = None) -> bool:
    """Wait until the imports started by ``start`` are done (at once when none were started);
    True when they are."""
    thread = _thread
    if thread is None:
        return True
    thread.join(timeout)
    return not thread.is_alive()
