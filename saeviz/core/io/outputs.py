"""Checking where a file will be written before the work that produces it starts.

``prepare_output`` refuses, with a ``DataError`` naming the path, what cannot become the file:
an empty name, a folder, a device or other special file, a path below a regular file, and a
folder where no file can be created (read-only, no permission, a system folder such as
``/proc``). It creates missing parent folders and proves that a file can be created there by
creating (and removing) one, and removes temporary files that killed writers left there.
``check_free_space`` refuses a write that cannot fit.
"""
from __future__ import annotations

import errno
import os
import shutil
import stat
import tempfile
from pathlib import Path

from saeviz.core.errors import DataError
from saeviz.core.io.fileio import remove_stale_temp_files

#: Kept free beyond the estimate, for the file system's own bookkeeping.
SPACE_MARGIN = 1 << 20


def _reason(exc: OSError) -> str:
    if exc.errno == errno.EROFS:
        return "the file system is read-only"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "no permission to write there"
    if exc.errno == errno.ENOSPC:
        return "the disk is full"
    if exc.errno == errno.ENOTDIR:
        return "a part of the path is a file, not a folder"
    return exc.strerror or str(exc)


def _special(path: Path) -> bool:
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def prepare_output(path: str | os.PathLike, what: str = "output file", *, suffix: str | None = None) -> Path:
    """``path`` as an absolute path once it is known that a file can be written there;
    ``suffix`` is added to a name without one (as the writer will)."""
    text = os.fspath(path)
    if not text.strip():
        raise DataError(f"the {what} needs a file name, got an empty path")
    if text.endswith(("/", os.sep)) or Path(text).name in ("", ".", ".."):
        raise DataError(f"{text}: the {what} needs a file name, not a folder")
    out = Path(os.path.abspath(os.path.expanduser(text)))
    if _special(out):
        raise DataError(f"{text}: is not a regular file (a device, pipe or socket); choose a file name")
    if out.is_dir():
        raise DataError(f"{text}: is a folder; the {what} needs a file name (e.g. {Path(text) / 'model'})")
    if suffix and not out.suffix:
        out = out.with_suffix(suffix)
        text = str(out)
    try:
        st = os.stat(out)
    except FileNotFoundError:
        st = None
    except NotADirectoryError:
        raise DataError(f"{text}: cannot write the {what}: a part of the path is a file, not a folder") from None
    except OSError as exc:
        raise DataError(f"{text}: cannot write the {what}: {_reason(exc)}") from None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise DataError(f"{text}: is a folder; the {what} needs a file name")
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise DataError(f"{text}: is not a regular file (a device, pipe or socket); choose a file name")
    parent = out.parent
    # The nearest existing ancestor must be a folder (not a regular file below which nothing lies).
    probe = parent
    while not os.path.lexists(probe) and probe != probe.parent:
        probe = probe.parent
    if os.path.lexists(probe) and not probe.is_dir():
        raise DataError(f"{text}: cannot write the {what}: {probe} is a file, not a folder")
    try:
        parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.{os.getpid()}.", suffix=".tmp", dir=parent)
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        raise DataError(f"{text}: cannot write the {what} in {parent}: {_reason(exc)}") from None
    remove_stale_temp_files(parent)  # left there by a writer that was killed
    return out


def free_bytes(folder: str | os.PathLike) -> int | None:
    """Bytes free for this user in ``folder``'s file system (None when it cannot be told)."""
    try:
        return int(shutil.disk_usage(folder).free)
    except (OSError, ValueError):
        return None


def check_free_space(path: str | os.PathLike, needed: int, what: str = "output file") -> None:
    """Refuse (``DataError``) when ``path``'s folder has less than ``needed`` bytes free, plus
    a margin: an atomic write needs the whole new file besides the old one."""
    path = Path(path)
    free = free_bytes(path.parent)
    if free is not None and free < needed + SPACE_MARGIN:
        raise DataError(f"{path}: not enough free space for the {what} ({_size(needed)} needed, "
                        f"{_size(free)} free in {path.parent})")


def _size(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


__all__ = ["prepare_output", "check_free_space", "free_bytes"]
