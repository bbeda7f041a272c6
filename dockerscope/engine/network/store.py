"""Persistence of the lab's network state: one JSON file per network and per sandbox.

The records live in ``<lab state>/networks/<network id>.json`` and
``<lab state>/networks/sandboxes/<container id>.json``, written whole through a temporary
file so a crash leaves the old record or the new one, never half of one; dirs 0700 and
records 0600 from the start, as the rest of the lab's state.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

from dockerscope.engine.network.labhost import DOCKER0, STATE_FILE
from dockerscope.engine.network.model import BRIDGE_DRIVER, Network, Sandbox
from dockerscope.engine.private import private_dir, write_private

log = logging.getLogger(__name__)
_ID_FILE = re.compile(r"^[0-9a-f]{64}\.json$")


def _write_json(path: Path, data: dict[str, Any]) -> None:
    """Write one record atomically, 0600 from the start (the lab's plan is root's alone)."""
    write_private(path, json.dumps(data, indent=1).encode())


class NetworkStore:
    """The lab's network and sandbox records, in memory and on disk.

    Not thread-safe by itself: the manager calls it with its lock held.
    """

    def __init__(self, networks_dir: Path) -> None:
        self.networks_dir = networks_dir
        self.sandbox_dir = networks_dir / "sandboxes"
        self.networks: dict[str, Network] = {}
        self.sandboxes: dict[str, Sandbox] = {}

    def load(self) -> None:
        """Read every saved record; an unreadable one is logged and skipped."""
        private_dir(self.sandbox_dir)  # and networks_dir above it: 0700 both
        for path in self.networks_dir.glob("*.json"):
            if _ID_FILE.match(path.name):
                try:
                    net = Network.from_json(json.loads(path.read_text()))
                except (OSError, ValueError, KeyError, TypeError) as exc:
                    log.warning("ignoring unreadable network record %s: %s", path, exc)
                    continue
                self.networks[net.id] = net
        for path in self.sandbox_dir.glob("*.json"):
            try:
                sandbox = Sandbox.from_json(json.loads(path.read_text()))
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.warning("ignoring unreadable sandbox record %s: %s", path, exc)
                continue
            self.sandboxes[sandbox.container_id] = sandbox

    def lab_state(self) -> dict[str, Any]:
        """What ``LabHost.up`` recorded (docker0's MAC, the uplink subnet); {} if unreadable."""
        try:
            data = json.loads((self.networks_dir / STATE_FILE).read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def user_networks(self) -> list[Network]:
        """The bridge networks made by ``network create`` (docker0's "bridge" is not one)."""
        return [
            n for n in self.networks.values() if n.driver == BRIDGE_DRIVER and n.bridge != DOCKER0
        ]

    def save_network(self, net: Network) -> None:
        """Keep ``net``, in memory and on disk."""
        self.networks[net.id] = net
        _write_json(self.networks_dir / f"{net.id}.json", net.to_json())

    def forget_network(self, network_id: str) -> None:
        """Drop a network's record (idempotent)."""
        self.networks.pop(network_id, None)
        (self.networks_dir / f"{network_id}.json").unlink(missing_ok=True)

    def save_sandbox(self, sandbox: Sandbox) -> None:
        """Keep ``sandbox``, in memory and on disk."""
        self.sandboxes[sandbox.container_id] = sandbox
        _write_json(self.sandbox_dir / f"{sandbox.container_id}.json", sandbox.to_json())

    def forget_sandbox(self, container_id: str) -> None:
        """Drop a sandbox's record (idempotent)."""
        self.sandboxes.pop(container_id, None)
        (self.sandbox_dir / f"{container_id}.json").unlink(missing_ok=True)
