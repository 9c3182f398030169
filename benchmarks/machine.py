"""What every benchmark prints around its table, so that a table read alone says where and how it was
measured: the command, the machine (CPU model, cores, load average, library versions) and the wall time.

The benchmarks import this module by its name (``from machine import ...``): Python puts the folder
of the script it runs first on ``sys.path``.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import shlex
import sys
import time
from pathlib import Path

#: The libraries whose versions the machine line names (those installed).
LIBRARIES = ("tensorflow", "keras", "tensorflow-probability", "torch", "pythae")


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else what :mod:`platform` knows."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, or "unknown" where the system has none."""
    try:
        return "{:.2f} / {:.2f} / {:.2f}".format(*os.getloadavg())
    except OSError:
        return "unknown"


def versions() -> str:
    """Python's version and the installed versions of :data:`LIBRARIES`."""
    found = [f"python {platform.python_version()}"]
    for name in LIBRARIES:
        try:
            found.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    return ", ".join(found)


def command_line() -> str:
    """The command that ran this benchmark, as it could be typed again."""
    return "command: " + shlex.join([Path(sys.executable).name, *sys.argv])


def machine_line(load_before: str) -> str:
    """One line naming the machine, its load before the run (``load_before``) and now, and the versions."""
    return (f"machine: {cpu_model()}, {os.cpu_count()} logical cores; load average (1/5/15 min) before the run "
            f"{load_before}, after {load_average()}; {versions()}; "
            f"TF_ENABLE_ONEDNN_OPTS={os.environ.get('TF_ENABLE_ONEDNN_OPTS', '0 (unset: genkit.quiet sets 0)')}")


class Header:
    """The lines around a benchmark's table: the command and load when it starts, the machine and wall
    time when it ends (the load average after the run shows whether other work shared the machine)."""

    def __init__(self) -> None:
        self.command = command_line()
        self.load_before = load_average()
        self.started = time.perf_counter()

    def lines(self) -> list[str]:
        """The command, the machine line and the wall time so far."""
        return [self.command, machine_line(self.load_before),
                f"wall time: {time.perf_counter() - self.started:.1f} s"]
