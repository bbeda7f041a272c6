"""Adoption: make the kernel match the saved records after a daemon restart or ``lab up``.

Bridges and rules of user networks that are missing are made again; sandboxes whose netns
is gone (or whose container the engine no longer knows) are dropped with their rules, port
allocations and veths; the port proxies of the others listen again.
"""

from __future__ import annotations

from pathlib import Path

from dockerscope.engine.network import iptables, rtnl
from dockerscope.engine.network.endpoints import delete_veths
from dockerscope.engine.network.labhost import create_bridge
from dockerscope.engine.network.namespaces import is_netns
from dockerscope.engine.network.publishing import Publisher
from dockerscope.engine.network.store import NetworkStore


def restore_bridges(lab_netns: Path, store: NetworkStore, rules: iptables.LabIptables) -> None:
    """Recreate the user networks' missing bridges and rules."""
    # Oldest first, so that (inserted at the top) the newest network's rules end up first,
    # as if they had been created in order.
    networks = sorted(store.user_networks(), key=lambda n: n.created)
    with rtnl.session(lab_netns) as ipr:
        for net in networks:
            assert net.bridge and net.mac and net.gateway
            if rtnl.index_of(ipr, net.bridge) is None:
                create_bridge(ipr, net.bridge, net.mac, net.gateway, net.ipv4_subnet.prefixlen)
    rules.add_missing(
        [
            step
            for net in networks
            for step in iptables.bridge_steps(str(net.bridge), net.ipv4_subnet, net.internal)
        ]
    )


def adopt_sandboxes(
    lab_netns: Path, store: NetworkStore, publisher: Publisher, keep: set[str] | None
) -> None:
    """Drop the sandboxes whose netns is gone or whose container is not in ``keep`` (when
    given); restart the port proxies of the others."""
    for sandbox in list(store.sandboxes.values()):
        alive = is_netns(Path(sandbox.netns))
        if not alive or (keep is not None and sandbox.container_id not in keep):
            publisher.forget(sandbox)
            delete_veths(lab_netns, sandbox.endpoints)
            store.forget_sandbox(sandbox.container_id)
        else:
            publisher.restart(sandbox)
