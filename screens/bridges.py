"""Bridges panel: ``brctl show`` as a table, and a tree bridge -> veth -> container eth0."""

from __future__ import annotations

from dockerscope.screens import styles
from dockerscope.screens.panel import Panel
from dockerscope.screens.shell import CommandLine, ShellCommand, netns_of_scope
from dockerscope.screens.state import DashState
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from dockerscope.kernel.model import Link, Snapshot


def bridges_of(snapshot: Snapshot) -> list[Link]:
    """Bridges, sorted by name as brctl prints them."""
    return sorted((link for link in snapshot.links if link.kind == "bridge"), key=lambda b: b.name)


def ports_of(bridge: Link, links: tuple[Link, ...] | list[Link]) -> list[Link]:
    """Interfaces enslaved to ``bridge`` (same netns), sorted by name."""
    return sorted(
        (lk for lk in links if lk.master == bridge.name and lk.netns == bridge.netns),
        key=lambda lk: lk.name,
    )


def peer_of(veth: Link, links: tuple[Link, ...] | list[Link]) -> Link | None:
    """The other end of a veth pair, found by its namespace and ifindex."""
    if veth.peer_index is None:
        return None
    for lk in links:
        if lk.index == veth.peer_index and (veth.peer_netns is None or lk.netns == veth.peer_netns):
            return lk
    return None


def _addrs(link: Link) -> str:
    return " ".join(a.cidr for a in link.addresses)


class BridgesPanel(Panel):
    """Bridges and the veth pairs that plug containers into them."""

    PANEL_ID = "bridges"
    TITLE = "Bridges"
    HINT = "brctl show, and each bridge's veths down to the container's eth0"

    def render_body(self, state: DashState) -> RenderableType:
        snap = state.snapshot
        assert snap is not None
        links = list(snap.links) + state.removed("links")
        table = Table(box=None, pad_edge=False, header_style=styles.HEADING, expand=False)
        for col in ("bridge name", "bridge id", "STP enabled", "interfaces"):
            table.add_column(col, no_wrap=True)
        tree = Tree(Text("bridges", style=styles.HEADING), guide_style=styles.DIM)
        for bridge in bridges_of(snap) + [b for b in state.removed("links") if b.kind == "bridge"]:
            ports = ports_of(bridge, links)
            if not self.matches(bridge.name, _addrs(bridge), styles.owner_tag(bridge),
                                *(p.name for p in ports)):
                continue
            style = styles.mark_style(state, state.mark("links", bridge.key))
            stp = "-" if bridge.stp is None else ("yes" if bridge.stp else "no")
            table.add_row(
                Text(bridge.name, style=style), bridge.bridge_id or "-", stp,
                "\n".join(p.name for p in ports),
            )
            node = tree.add(self._label(state, bridge, f"{bridge.name} {_addrs(bridge)}"
                                        f" [{bridge.state}]"))
            for port in ports:
                pnode = node.add(self._label(state, port, f"{port.name} [{port.state}]"))
                peer = peer_of(port, links)
                if peer is not None:
                    where = f"{peer.name} in {peer.netns}"
                    pnode.add(self._label(state, peer, f"{where} {_addrs(peer)} {peer.mac}"))
        return Group(table, Text(""), tree)

    @staticmethod
    def _label(state: DashState, link: Link, text: str) -> Text:
        out = Text(text, style=styles.mark_style(state, state.mark("links", link.key)))
        out.append(styles.owner_tag(link), style=styles.OWNER)
        return out

    def shell_command(self, state: DashState) -> ShellCommand | None:
        scope = state.snapshot.scope if state.snapshot else ""
        return ShellCommand(
            "Bridges", (CommandLine("brctl show", ("brctl", "show")),
                        CommandLine("ip -br link show type veth",
                                    ("ip", "-br", "link", "show", "type", "veth"))),
            netns=netns_of_scope(scope),
            explain="brctl lists each bridge and its ports; ip link shows the veth ends.",
        )
