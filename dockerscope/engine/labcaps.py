"""A lab's caps: how many containers it may keep, and how much memory and how many processes
its containers may use together, so one lab cannot starve the machine.

The daemon takes them as flags (``--max-containers``, ``--max-memory``, ``--max-pids``; ``0`` or
``none`` for no cap), lab control passes them on, the kernel enforces memory and pids on the
lab's cgroup parent and the container manager refuses a create past the count.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

#: A course lab keeps a handful to a few dozen containers; 200 leaves room for experiments
#: while each container's netns, veth pair, overlay mount and cgroups stay few enough.
DEFAULT_MAX_CONTAINERS = 200
#: Workloads of a lab run tens to hundreds of processes; 8192 stops a fork bomb long before the
#: machine's pid space (pid_max 32768 by default on small machines) runs out for the host.
DEFAULT_MAX_PIDS = 8192
#: Below this the lab could not start even one container (Docker's own minimum for ``-m``).
MIN_MEMORY = 6 * 1024 * 1024

_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([bkmgt]?)(?:i?b)?$")
_NONE = ("0", "none")


class BadCap(ValueError):
    """A cap flag's value that is neither a number, a size nor ``0``/``none``."""


def machine_memory() -> int:
    """Bytes of RAM on this machine (``MemTotal``)."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def default_memory() -> int:
    """Half the machine's RAM: the other half stays for the host, the UI and other labs, so a
    lab that fills its share is reclaimed and OOM-killed inside its own group first."""
    return machine_memory() // 2


def parse_count(text: str, flag: str = "--max-containers") -> int | None:
    """A positive count, or None for ``0``/``none`` (no cap). Raises ``BadCap``."""
    text = text.strip().lower()
    if text in _NONE:
        return None
    if not text.isdigit():
        raise BadCap(f"{flag} wants a number, or 0/none for no cap; not {text!r}")
    return int(text)


def parse_size(text: str, flag: str = "--max-memory") -> int | None:
    """Bytes for ``SIZE`` written as Docker's ``-m`` (``512m``, ``2g``, ``1.5GiB``, bytes),
    or None for ``0``/``none``. Raises ``BadCap``, also for less than ``MIN_MEMORY``."""
    text = text.strip().lower()
    if text in _NONE:
        return None
    m = _SIZE.match(text)
    if m is None:
        raise BadCap(f"{flag} wants a size such as 512m or 4g, or 0/none for no cap; not {text!r}")
    size = int(float(m.group(1)) * _UNITS[m.group(2)])
    if size < MIN_MEMORY:
        raise BadCap(f"{flag} {text}: at least 6m (one container's minimum), or 0/none")
    return size


def _spell(value: int | None) -> str:
    return "none" if value is None else str(value)


@dataclass(frozen=True)
class LabCaps:
    """A lab's caps; None means no cap."""

    containers: int | None = DEFAULT_MAX_CONTAINERS
    memory: int | None = None  # bytes, for every container of the lab together
    pids: int | None = DEFAULT_MAX_PIDS  # processes and threads, every container together

    @classmethod
    def defaults(cls) -> LabCaps:
        """200 containers, half the machine's RAM, 8192 pids (see the module's constants)."""
        return cls(DEFAULT_MAX_CONTAINERS, default_memory(), DEFAULT_MAX_PIDS)

    @classmethod
    def none(cls) -> LabCaps:
        """No cap at all."""
        return cls(None, None, None)

    def argv(self) -> list[str]:
        """The daemon flags that give these caps."""
        return [
            "--max-containers",
            _spell(self.containers),
            "--max-memory",
            _spell(self.memory),
            "--max-pids",
            _spell(self.pids),
        ]

    def describe(self) -> str:
        """One line for the daemon's log and ``docker info``."""
        mem = "no cap" if self.memory is None else f"{self.memory / 1024**2:.0f} MiB"
        return (
            f"containers {_spell(self.containers)}, memory {mem}, pids {_spell(self.pids)}"
            " (dockerscope daemon --max-containers/--max-memory/--max-pids; 0 or none: no cap)"
        )

    def labels(self) -> list[str]:
        """``key=value`` daemon labels for ``docker info`` (0: no cap)."""
        return [
            f"dockerscope.max-containers={self.containers or 0}",
            f"dockerscope.max-memory={self.memory or 0}",
            f"dockerscope.max-pids={self.pids or 0}",
        ]
