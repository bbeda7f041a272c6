"""``--platform``: every image here is built on this machine, for its own platform only."""

from __future__ import annotations

import platform as _platform

from dockerscope.engine.errors import NotSupported

_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386"}


def host_platform() -> str:
    """``linux/amd64`` on an x86-64 machine, as Docker names platforms."""
    machine = _platform.machine()
    return f"linux/{_ARCH.get(machine, machine)}"


def check_platform(value: str | None) -> None:
    """Accept no platform, ``linux`` or this machine's; refuse any other (never ignore it)."""
    if not value:
        return
    wanted = value.strip().lower()
    here = host_platform()
    if wanted in ("linux", here) or wanted.startswith(here + "/"):
        return
    raise NotSupported(f"--platform {value} (images here are built for {here} only)")
