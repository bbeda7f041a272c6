"""Stand-in containers for kernel tests that need real links and traffic but no daemon: a
sandbox netns attached to the lab's default bridge (the lab comes from the ``nm`` fixture in
``tests/kernel/conftest.py``)."""

from __future__ import annotations

from dockerscope.engine.network import NetworkManager
from dockerscope.engine.network.model import Endpoint


def container(nm: NetworkManager, name: str) -> tuple[str, str, Endpoint]:
    """A stand-in container on the default bridge: (id, netns path, endpoint)."""
    cid = (name.encode().hex() * 64)[:64]
    netns = nm.sandbox(cid, name)
    return cid, str(netns), nm.attach(cid, "bridge")
