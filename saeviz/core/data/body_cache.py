"""The body model's cache folder: checked before use, built atomically, cleaned of leftovers.

The anny body model is built once from the data shipped with its package and kept as
safetensors files under ``<cache>/v<data version>/``. Before the cache is used every file in it
is checked (a header that parses and covers the whole file); a damaged file, such as one
truncated or emptied by a crash or a full disk, is removed so that it is built again. A build
runs in a private staging folder inside the cache folder and its files are then renamed into
place, so no reader ever sees a half-written file; staging folders of builds that were killed
are removed. A cache folder that cannot be written, or that lacks the space a build needs, is
a ``DataError`` naming it.
"""
from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Iterator

from saeviz.core.errors import DataError
from saeviz.core.io.fileio import matching_entries, pid_alive

#: What a build of the anny model writes (about 830 MB), with room to spare.
ANNY_CACHE_BYTES = 900 * 2 ** 20
_STAGING = re.compile(r"^\.build-(?P<pid>\d+)-[a-z0-9_]+$")
STALE_STAGING_SECONDS = 24 * 3600.0


def cache_error(folder: Path, exc: OSError, what: str = "the body model cache") -> DataError:
    """A ``DataError`` saying why ``what`` cannot be written to ``folder`` (disk full, read-only,
    no permission) and how to point the cache elsewhere."""
    if exc.errno == errno.ENOSPC:
        reason = "the disk is full"
    elif exc.errno == errno.EROFS:
        reason = "the file system is read-only"
    elif exc.errno in (errno.EACCES, errno.EPERM):
        reason = "no permission to write there"
    else:
        reason = exc.strerror or str(exc)
    return DataError(f"{folder}: cannot write {what} ({reason}); free some space or set "
                     "SAEVIZ_CACHE_DIR (or ANNY_CACHE_DIR for the body model) to a writable folder")


def cache_files(folder: Path) -> list[Path]:
    """The cached body-model files in ``folder`` (every version), sorted."""
    return sorted(p for p in folder.glob("v*/*.safetensors") if p.is_file())


def _readable(path: Path) -> bool:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:  # parses the header, checks the length
            fh.keys()
    except Exception:  # safetensors raises its own error type for damaged files
        return False
    return True


def remove_damaged(folder: Path) -> list[str]:
    """Remove cache files that are empty, truncated or not safetensors; their names."""
    removed = []
    for path in cache_files(folder):
        if not _readable(path):
            with contextlib.suppress(OSError):
                path.unlink()
                removed.append(path.name)
    return removed


def remove_all(folder: Path) -> None:
    """Delete every cached body-model file in ``folder``; files that cannot be deleted stay."""
    for path in cache_files(folder):
        with contextlib.suppress(OSError):
            path.unlink()


def remove_stale_builds(folder: Path) -> list[str]:
    """Remove staging folders of builds whose process has ended (or that are a day old)."""
    removed = []
    for entry, m in matching_entries(folder, _STAGING):
        if not entry.is_dir(follow_symlinks=False):
            continue
        try:
            old = time.time() - entry.stat(follow_symlinks=False).st_mtime > STALE_STAGING_SECONDS
        except OSError:
            continue
        pid = int(m.group("pid"))
        if old or (pid != os.getpid() and not pid_alive(pid)):
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(entry.name)
    return removed


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


@contextlib.contextmanager
def staged_build(folder: Path) -> Iterator[Path]:
    """A staging folder for a build into the cache ``folder``; the files the build adds are
    moved into ``folder`` when the block succeeds. Files already in the cache are linked into
    the staging folder, so the build reuses them."""
    folder.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".build-{os.getpid()}-", dir=folder))
    try:
        before = {}
        for path in cache_files(folder):
            rel = path.relative_to(folder)
            (stage / rel).parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(path, stage / rel)
            except OSError:
                continue  # built again if needed
            before[rel] = os.stat(stage / rel).st_ino
        yield stage
        mode = 0o666 & ~_umask()
        for path in cache_files(stage):
            rel = path.relative_to(stage)
            if before.get(rel) == os.stat(path).st_ino:
                continue  # linked in, not built
            with open(path, "rb+") as fh:
                os.fsync(fh.fileno())
            os.chmod(path, mode)
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, folder / rel)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def check_space(folder: Path, needed: int = ANNY_CACHE_BYTES) -> None:
    """Raise a ``DataError`` when ``folder``'s disk has fewer than ``needed`` bytes free (nothing
    when the free space cannot be read)."""
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return
    if free < needed:
        raise DataError(f"{folder}: not enough free space to build the body model ({needed / 2 ** 20:,.0f} MB "
                        f"needed, {free / 2 ** 20:,.0f} MB free); free some space or set ANNY_CACHE_DIR "
                        "to a folder on another disk")


__all__ = ["ANNY_CACHE_BYTES", "cache_error", "cache_files", "check_space", "remove_all", "remove_damaged",
           "remove_stale_builds", "staged_build"]
