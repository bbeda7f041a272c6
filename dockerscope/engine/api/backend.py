"""``Backend``: the parts of a daemon that the route handlers call.

The daemon (``engine/daemon.py``) satisfies it; naming it here lets every handler's call into a
manager or store be type-checked without the handlers importing the daemon itself.
"""

from __future__ import annotations

from typing import Protocol

from dockerscope.engine.api.tap import TrafficTap
from dockerscope.engine.containers.manager import ContainerManager
from dockerscope.engine.events import EventBus
from dockerscope.engine.images import ImageStore
from dockerscope.engine.network import NetworkManager
from dockerscope.engine.paths import Lab


class Backend(Protocol):
    """One lab's engine as the HTTP handlers see it."""

    lab: Lab
    images: ImageStore
    containers: ContainerManager
    #: None when the daemon runs with ``--no-network`` (containers get a bare netns).
    networks: NetworkManager | None
    events: EventBus
    tap: TrafficTap
    #: The daemon's labels for ``docker info`` (the lab's caps, ``dockerscope.max-*=N``).
    labels: list[str]
