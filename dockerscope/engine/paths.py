"""Where a lab keeps its state, its sockets, its netns names and its cgroups."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

DEFAULT_LAB = "dockerscope"
DATA_BASE = Path("/var/lib/dockerscope")
RUN_BASE = Path("/run/dockerscope")
CGROUP_BASE = "dockerscope"

_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,23}$")


class BadLabName(ValueError):
    """A lab name that would not make a valid netns, path and cgroup name."""


@dataclass(frozen=True)
class Lab:
    """One lab host: a network namespace, a state dir, a run dir and a cgroup parent."""

    name: str
    data_root: Path
    run_root: Path

    @classmethod
    def named(
        cls, name: str = DEFAULT_LAB, data_root: Path | None = None, run_root: Path | None = None
    ) -> Lab:
        """The lab called ``name``, with the default locations unless overridden (tests)."""
        if not _NAME.match(name):
            raise BadLabName(
                f"bad lab name {name!r}: use 1-24 lowercase letters, digits and '-', "
                "starting with a letter or digit"
            )
        return cls(
            name=name,
            data_root=Path(data_root) if data_root else DATA_BASE / name,
            run_root=Path(run_root) if run_root else RUN_BASE / name,
        )

    @property
    def netns(self) -> str:
        """Name of the lab host's network namespace under /run/netns."""
        return self.name

    @property
    def netns_path(self) -> Path:
        return Path("/run/netns") / self.name

    @property
    def socket(self) -> Path:
        """The control socket, like /var/run/docker.sock."""
        return self.run_root / "docker.sock"

    @property
    def pidfile(self) -> Path:
        return self.run_root / "daemon.pid"

    @property
    def container_netns_dir(self) -> Path:
        """Where containers' netns are pinned, named after the container; inside
        ``dockerscope ssh`` this dir is mounted over /run/netns so ``ip netns`` lists them."""
        return self.run_root / "netns"

    @property
    def containers_dir(self) -> Path:
        return self.data_root / "containers"

    @property
    def images_dir(self) -> Path:
        return self.data_root / "images"

    @property
    def networks_dir(self) -> Path:
        return self.data_root / "networks"

    @property
    def cgroup_parent(self) -> str:
        """Cgroup path (relative to each hierarchy root) holding this lab's containers."""
        return f"{CGROUP_BASE}/{self.name}"
