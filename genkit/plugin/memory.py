"""Refusing sizes this machine cannot hold, before anything is allocated.

An allocation the operating system cannot back is not always a clean ``MemoryError``: memory
promised lazily and then touched brings the kernel's out-of-memory killer, which ends the process
(or another one) without a word. So code that allocates in proportion to what a user asked for
(a generated dataset, a network's weights, many samples) estimates the bytes first and calls
:func:`check_memory`, which refuses requests beyond the machine's physical memory (or the
container's limit) with a sentence saying what was asked and roughly what it needs.
"""

from __future__ import annotations

import os
from pathlib import Path

#: Where a cgroup v2 container's memory limit is read from.
_CGROUP_LIMIT = Path("/sys/fs/cgroup/memory.max")


def memory_limit() -> int:
    """The bytes of memory this process can use at most: physical memory, or a lower container limit."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    try:
        limit = _CGROUP_LIMIT.read_text().strip()
    except OSError:
        return total
    return min(total, int(limit)) if limit.isdigit() else total


def format_bytes(size: float) -> str:
    """``2.4 GB``-style size (powers of 1000)."""
    units = ("bytes", "kB", "MB", "GB", "TB", "PB", "EB")
    index = 0
    while size >= 1000 and index < len(units) - 1:
        size /= 1000
        index += 1
    return f"{size:.0f} bytes" if index == 0 else f"{size:.3g} {units[index]}"


def check_memory(what: str, size: float) -> None:
    """Raise ``ValueError`` (which genkit reports at the spec key that asked for it) when ``what``
    needs about ``size`` bytes, more than this machine's memory."""
    limit = memory_limit()
    if size > limit:
        raise ValueError(f"{what} would need about {format_bytes(size)} of memory, and this machine has "
                         f"{format_bytes(limit)}; ask for less")
