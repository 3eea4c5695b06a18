"""Atomic file writing: a crash or power cut leaves either the old file or the new one."""
from __future__ import annotations

import contextlib
import math
import os
import re
import stat
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


#: Temporary files of ``atomic_path``: ``.<name>.<writer pid>.<random>.tmp`` (and, from older
#: versions, ``.<name>.<random>.tmp``). A process killed while writing leaves one behind.
_TEMP_FILE = re.compile(r"^\..+?(?:\.(?P<pid>\d+))?\.[a-z0-9_]{8}\.tmp$")
#: A temporary file this old is stale even when its writer's process id is in use again.
STALE_TEMP_SECONDS = 3600.0


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def pid_alive(pid: int) -> bool:
    """Whether a process with this id runs (on POSIX and Windows)."""
    if pid <= 0:
        return False
    if pid == os.getpid():
        return True
    if sys.platform == "win32":
        import ctypes

        handle = ctypes.windll.kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return False
        code = ctypes.c_ulong()
        ok = ctypes.windll.kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
        ctypes.windll.kernel32.CloseHandle(handle)
        return bool(ok) and code.value == 259  # STILL_ACTIVE
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def matching_entries(folder: str | os.PathLike, pattern: re.Pattern) -> list[tuple[os.DirEntry, re.Match]]:
    """The entries of ``folder`` whose names match ``pattern``, each with its match; none when
    the folder cannot be listed."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return []
    return [(entry, m) for entry in entries if (m := pattern.match(entry.name)) is not None]


def remove_stale_temp_files(folder: str | os.PathLike, max_age: float = STALE_TEMP_SECONDS) -> list[str]:
    """Remove temporary files of ``atomic_path`` left in ``folder`` by writers that were killed:
    those whose writer process has ended, and any older than ``max_age`` seconds. Other files,
    folders and symbolic links are never touched. Returns the names removed."""
    removed: list[str] = []
    now = time.time()
    for entry, m in matching_entries(folder, _TEMP_FILE):
        try:
            st = entry.stat(follow_symlinks=False)
            if not stat.S_ISREG(st.st_mode):
                continue
            pid = m.group("pid")
            stale = now - st.st_mtime > max_age or (pid is not None and int(pid) != os.getpid()
                                                    and not pid_alive(int(pid)))
            if stale:
                os.unlink(entry.path)
                removed.append(entry.name)
        except OSError:
            continue  # gone meanwhile, or not ours to remove
    return removed


def read_into(f, array: np.ndarray, chunk: int = 1 << 20) -> int:
    """Fill the bytes of the contiguous ``array`` from the binary file ``f``, ``chunk`` bytes at
    a time (no second copy of the data); the number of bytes read, less than ``array.nbytes``
    when the file ends first."""
    view = memoryview(array.reshape(-1).view(np.uint8))
    pos = 0
    while pos < len(view):
        n = f.readinto(view[pos:pos + chunk])
        if not n:
            break
        pos += n
    return pos


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, clean: bool = True):
    """Yield a temporary path next to ``path``; on success fsync it and rename it over ``path``.

    The temporary file is created new (never through an existing file or link) with the
    permissions the umask gives, and named after the writing process so that one left by a
    killed writer is recognised: ``clean`` removes such leftovers from the folder first.
    The rename replaces ``path`` itself, never a file a symbolic link at ``path`` points to."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if clean:
        remove_stale_temp_files(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; give the file the usual permissions
        yield Path(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (``atomic_path``): a reader sees the old file or the new one."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` as UTF-8 to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


# -- reading JSON documents -----------------------------------------------------------------------------
MAX_JSON_DEPTH = 64
MAX_JSON_DIGITS = 40  # a 128-bit generator state has 39 digits


class JSONLimitError(ValueError):
    """A JSON document beyond the limits of ``load_json``."""


def _json_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_JSON_DIGITS:
        raise JSONLimitError(f"an integer of {len(text.lstrip('-'))} digits (at most {MAX_JSON_DIGITS})")
    return int(text)


def _json_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise JSONLimitError(f"the number {text[:20]} is beyond the range of a float")
    return value


def _json_constant(name: str):
    raise JSONLimitError(f"{name} is not a JSON number")


def _check_depth(doc, limit: int) -> None:
    stack = [(doc, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, (dict, list)):
            if depth > limit:
                raise JSONLimitError(f"nested deeper than {limit} levels")
            children = value.values() if isinstance(value, dict) else value
            stack.extend((v, depth + 1) for v in children if isinstance(v, (dict, list)))


def load_json(text: str | bytes, *, max_depth: int = MAX_JSON_DEPTH):
    """Parse a JSON document with limits: nesting depth, integer digits, no ``NaN`` or
    ``Infinity`` and no float overflow. Raises ``JSONLimitError`` or ``json.JSONDecodeError``
    (both ``ValueError``) with a message fit for the user."""
    import json

    try:
        doc = json.loads(text, parse_int=_json_int, parse_float=_json_float,
                         parse_constant=_json_constant)
    except RecursionError:
        raise JSONLimitError(f"nested deeper than {max_depth} levels") from None
    _check_depth(doc, max_depth)
    return doc


def json_safe(value):
    """A JSON-safe copy: numpy values to Python, tuples to lists, and numbers that are not
    finite (a metric that could not be measured, such as a held-out error without test
    labels) to null."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, str):
        return value
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
