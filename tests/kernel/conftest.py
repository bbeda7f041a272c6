"""Fixtures for kernel tests: a lab host with its network manager, without a daemon (see
``standin_lab.container`` for stand-in containers on its default bridge)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dockerscope.engine.network import LabHost, NetworkManager, Uplink
from dockerscope.engine.paths import Lab


@pytest.fixture
def lab_up(lab_name: str, tmp_path: Path) -> Iterator[tuple[Lab, Uplink]]:
    """The lab host (netns, uplink, docker0), taken down afterwards."""
    lab = Lab.named(lab_name, data_root=tmp_path / "data", run_root=tmp_path / "run")
    host = LabHost(lab)
    try:
        yield lab, host.up()
    finally:
        host.down()


@pytest.fixture
def nm(lab_up: tuple[Lab, Uplink]) -> Iterator[NetworkManager]:
    """The lab's network manager."""
    manager = NetworkManager(lab_up[0])
    try:
        yield manager
    finally:
        manager.close()
