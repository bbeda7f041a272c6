"""``docker network connect`` / ``disconnect`` of a container, running or not."""

from __future__ import annotations

from dataclasses import replace

from dockerscope.engine.containers.model import Container
from dockerscope.engine.containers.registry import Registry
from dockerscope.engine.errors import Forbidden, InvalidArgument, NotFound


def connect(reg: Registry, ref: str, network: str, aliases: tuple[str, ...] = ()) -> Container:
    """Join ``network`` now if the container runs, and at every later start."""
    c = reg.get(ref)
    joined = {n for n, _ in c.host.endpoints} | {c.host.network_mode}
    if network in joined or (network == "bridge" and c.host.network_mode == "default"):
        raise Forbidden(f"endpoint with name {c.name} already exists in network {network}")
    if c.host.network_mode in ("host", "none"):
        raise InvalidArgument(
            f"container sharing network namespace with another container or host cannot "
            f"be connected to any other network ({c.host.network_mode})"
        )
    nm = reg.networks
    if nm is None:
        raise NotFound(f"network {network} not found")
    endpoints = c.endpoints
    if c.state.running:
        endpoints = endpoints + (nm.attach(c, network, aliases=aliases),)
    host = replace(c.host, endpoints=c.host.endpoints + ((network, aliases),))
    return reg.save(replace(c, host=host, endpoints=endpoints))


def disconnect(reg: Registry, ref: str, network: str) -> Container:
    """Leave ``network`` now if the container runs, and at every later start; leaving the
    primary network leaves the container with ``--network none``."""
    c = reg.get(ref)
    names = [n for n, _ in c.host.endpoints]
    primary = "bridge" if c.host.network_mode == "default" else c.host.network_mode
    if network not in names and network != primary:
        raise Forbidden(f"container {c.id} is not connected to network {network}")
    nm = reg.networks
    if c.state.running and nm is not None:
        nm.detach(c, network)
    host = replace(
        c.host,
        endpoints=tuple((n, a) for n, a in c.host.endpoints if n != network),
        network_mode="none" if network == primary else c.host.network_mode,
    )
    endpoints = tuple(e for e in c.endpoints if e.network_name != network)
    return reg.save(replace(c, host=host, endpoints=endpoints))
