"""One memory budget for everything read from a file or a dataset reference.

Readers compute what a file *declares* it holds (array shapes in ``.npy`` headers, the pixel
count of an image header, IDX dimensions, the declared shape of a sparse matrix, a number of
bodies, ...) and call ``check_budget`` before allocating anything. A request above the
budget raises ``MemoryBudgetError`` naming the file, so a small hostile file cannot make the
program reserve memory it does not have.

The budget is, in order of precedence:

* the value set with ``set_memory_budget`` (``None`` restores the default);
* the environment variable ``SAEVIZ_MEMORY_BUDGET``: bytes (``2000000000``), with a unit
  (``512M``, ``2G``, ``1.5GiB``) or a share of the physical memory (``40%``);
* ``DEFAULT_FRACTION`` of the physical memory, and never more than half of an address-space
  limit (``ulimit -v``) the process runs under.
"""
from __future__ import annotations

import contextlib
import os
import re
from typing import Iterator

from saeviz.core.errors import MemoryBudgetError

ENV = "SAEVIZ_MEMORY_BUDGET"
DEFAULT_FRACTION = 0.5
_FALLBACK_RAM = 8 << 30
_MIN_BUDGET = 1 << 20
_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "kib": 1 << 10, "m": 1000 ** 2, "mb": 1000 ** 2,
          "mib": 1 << 20, "g": 1000 ** 3, "gb": 1000 ** 3, "gib": 1 << 30, "t": 1000 ** 4,
          "tb": 1000 ** 4, "tib": 1 << 40}
_set_value: int | None = None


def physical_memory() -> int:
    """Bytes of physical memory (a fixed guess when the system does not tell)."""
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return _FALLBACK_RAM


def _address_space_limit() -> int | None:
    try:
        import resource
    except ImportError:  # Windows
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    return None if soft == resource.RLIM_INFINITY else int(soft)


def parse_budget(text: str) -> int:
    """Bytes from ``"2G"``, ``"512MiB"``, ``"40%"`` or a plain number; ``ValueError`` otherwise."""
    value = str(text).strip().lower()
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(%|[kmgt]?i?b?)", value)
    if not m or (m.group(2) not in _UNITS and m.group(2) != "%"):
        raise ValueError(f"{ENV}={text!r}: expected bytes, a size such as 512M or 2G, or a share such as 40%")
    number = float(m.group(1))
    if m.group(2) == "%":
        if not 0 < number <= 100:
            raise ValueError(f"{ENV}={text!r}: a share of the memory lies in (0, 100]%")
        return int(physical_memory() * number / 100)
    return int(number * _UNITS[m.group(2)])


def memory_budget() -> int:
    """The current budget in bytes (see the module documentation)."""
    if _set_value is not None:
        return _set_value
    env = os.environ.get(ENV, "").strip()
    if env:
        try:
            return max(parse_budget(env), _MIN_BUDGET)
        except ValueError:
            pass  # an unreadable setting falls back to the default
    budget = int(physical_memory() * DEFAULT_FRACTION)
    limit = _address_space_limit()
    if limit is not None:
        budget = min(budget, limit // 2)
    return max(budget, _MIN_BUDGET)


def set_memory_budget(value: int | str | None) -> None:
    """Set the budget for this process: bytes, a size string (``"2G"``), or None for the default."""
    global _set_value
    if value is None:
        _set_value = None
        return
    budget = parse_budget(value) if isinstance(value, str) else int(value)
    if budget < _MIN_BUDGET:
        raise ValueError(f"a memory budget below {_MIN_BUDGET:,} bytes is not usable, got {budget:,}")
    _set_value = budget


@contextlib.contextmanager
def memory_budget_set(value: int | str | None) -> Iterator[None]:
    """Run a block under another budget, then restore the previous setting."""
    before = _set_value
    set_memory_budget(value)
    try:
        yield
    finally:
        globals()["_set_value"] = before


def _size(n: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:,.1f} {unit}"
    return f"{n:,} bytes"


def check_budget(nbytes: int, where, what: str, error: type[MemoryBudgetError] = MemoryBudgetError) -> None:
    """Raise ``error`` (a ``MemoryBudgetError``) when ``nbytes`` (declared by ``where``, a file
    or a reference) exceed the budget; ``what`` says what would be allocated."""
    budget = memory_budget()
    if nbytes > budget:
        raise error(
            f"{where}: {what} would need {_size(int(nbytes))}, more than the memory budget of "
            f"{_size(budget)} (set {ENV} to change it)")


__all__ = ["memory_budget", "set_memory_budget", "memory_budget_set", "check_budget", "parse_budget",
           "physical_memory", "ENV", "DEFAULT_FRACTION"]
