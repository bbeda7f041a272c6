"""Bridges panel: ``brctl show`` as a table, and a tree bridge -> veth -> container eth0."""

from __future__ import annotations

from dockerscope.screens import styles
from dockerscope.screens.lines import Cell, Line, Row, grid_lines
from dockerscope.screens.panel import Panel
from dockerscope.screens.shell import CommandLine, ShellCommand, netns_of_scope
from dockerscope.screens.state import DashState
from rich.text import Span, Text

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
        if (
            lk.index == veth.peer_index
            and lk.kind == "veth"
            and (veth.peer_netns is None or lk.netns == veth.peer_netns)
            and lk.peer_index in (None, veth.index)  # ifindexes repeat across namespaces
        ):
            return lk
    return None


def _addrs(link: Link) -> str:
    return " ".join(a.cidr for a in link.addresses)


class BridgesPanel(Panel):
    """Bridges and the veth pairs that plug containers into them."""

    PANEL_ID = "bridges"
    TITLE = "Bridges"
    HINT = "brctl show, and each bridge's veths down to the container's eth0"
    WATCHES = frozenset({"links"})

    def render_body(self, state: DashState) -> list[Line]:
        snap = state.snapshot
        assert snap is not None
        links = list(snap.links) + state.removed("links")
        bridges = bridges_of(snap) + [b for b in state.removed("links") if b.kind == "bridge"]
        # Several namespaces (host scope) can each hold a docker0: then say which is which.
        many = len({b.netns for b in bridges}) > 1
        rows: list[list[Cell]] = []
        tree: list[Line] = [Text("bridges", style=styles.HEADING)]
        shown = [b for b in bridges
                 if self.matches(b.name, _addrs(b), styles.owner_tag(b),
                                 *(p.name for p in ports_of(b, links)))]
        for bi, bridge in enumerate(shown):
            ports = ports_of(bridge, links)
            style = styles.mark_style(state, state.mark("links", bridge.key))
            stp = "-" if bridge.stp is None else ("yes" if bridge.stp else "no")
            rows.append([(bridge.name, style), bridge.bridge_id or "-", stp,
                         "\n".join(p.name for p in ports), *((bridge.netns,) if many else ())])
            last_bridge = bi == len(shown) - 1
            where = f" (netns {bridge.netns})" if many else ""
            tree.append(self._label(state, bridge, "└── " if last_bridge else "├── ",
                                    f"{bridge.name}{where} {_addrs(bridge)} [{bridge.state}]"))
            stem = "    " if last_bridge else "│   "
            for pi, port in enumerate(ports):
                last_port = pi == len(ports) - 1
                tree.append(self._label(state, port, stem + ("└── " if last_port else "├── "),
                                        f"{port.name} [{port.state}]"))
                peer = peer_of(port, links)
                if peer is not None:
                    tree.append(self._label(
                        state, peer, stem + ("    " if last_port else "│   ") + "└── ",
                        f"{peer.name} in {peer.netns} {_addrs(peer)} {peer.mac}"))
        headers = ["bridge name", "bridge id", "STP enabled", "interfaces",
                   *(("netns",) if many else ())]
        return [*grid_lines(headers, rows, header_style=styles.HEADING), Text(""), *tree]

    @staticmethod
    def _label(state: DashState, link: Link, guide: str, text: str) -> Row:
        owner = styles.owner_tag(link)
        a, b = len(guide), len(guide) + len(text)
        spans = [Span(0, a, styles.DIM)]
        if style := styles.mark_style(state, state.mark("links", link.key)):
            spans.append(Span(a, b, style))
        if owner:
            spans.append(Span(b, b + len(owner), styles.OWNER))
        return Row(guide + text + owner, spans)

    def shell_command(self, state: DashState) -> ShellCommand | None:
        scope = state.snapshot.scope if state.snapshot else ""
        return ShellCommand(
            "Bridges", (CommandLine("brctl show", ("brctl", "show")),
                        CommandLine("ip -br link show type veth",
                                    ("ip", "-br", "link", "show", "type", "veth"))),
            netns=netns_of_scope(scope),
            explain="brctl lists each bridge and its ports; ip link shows the veth ends.",
        )
