"""Flows panel: conntrack entries with the address NAT rewrote, said the course's way.

"Change the source address on the way out, change the destination address on the way back in":
the original tuple is what the sender wrote; the reply tuple shows what NAT turned it into.
"""

from __future__ import annotations

from dockerscope.screens import styles
from dockerscope.screens.lines import Line, LineBuilder
from dockerscope.screens.panel import Panel
from dockerscope.screens.shell import CommandLine, ShellCommand, netns_of_scope
from dockerscope.screens.state import DashState

from dockerscope.kernel.model import Flow


def rewrites(flow: Flow) -> list[str]:
    """Plain sentences for each translation in a flow (none when nothing was rewritten)."""
    out = []
    if flow.snat:
        out.append(f"src {flow.orig_src} -> rewritten to {flow.reply_dst} on the way out")
    if flow.dnat:
        out.append(
            f"dst {flow.orig_dst}:{flow.orig_dport} -> {flow.reply_src}:{flow.reply_sport}"
            " on the way in"
        )
    return out


class FlowsPanel(Panel):
    """Connections the kernel tracks, and how NAT rewrote them."""

    PANEL_ID = "flows"
    TITLE = "Flows"
    HINT = "conntrack -L: each connection and the address NAT rewrote"
    WATCHES = frozenset({"flows"})

    def render_body(self, state: DashState) -> list[Line]:
        snap = state.snapshot
        assert snap is not None
        out = LineBuilder()
        flows = list(snap.flows) + state.removed("flows")
        for flow in flows:
            said = rewrites(flow)
            owner = styles.owner_tag(flow)
            head = (f"{flow.proto} {flow.state or '-'}  {flow.orig_src}:{flow.orig_sport} -> "
                    f"{flow.orig_dst}:{flow.orig_dport}")
            if not self.matches(head, owner, *said):
                continue
            style = styles.mark_style(state, state.mark("flows", flow.key))
            out.append(head, style=style or styles.HEADING)
            out.append(f"  {flow.packets} pkts {flow.bytes} B", style=styles.DIM)
            out.append(owner + "\n", style=styles.OWNER)
            for sentence in said:
                out.append("    " + sentence + "\n", style="yellow")
            if not said:
                out.append("    no translation\n", style=styles.DIM)
        if not out:
            out.append("no tracked connections", style=styles.DIM)
        return out.lines()

    def shell_command(self, state: DashState) -> ShellCommand | None:
        scope = state.snapshot.scope if state.snapshot else ""
        return ShellCommand(
            "conntrack", (CommandLine("conntrack -L", ("conntrack", "-L")),),
            netns=netns_of_scope(scope),
            explain="Each line has the original tuple and the reply tuple; NAT shows as a "
                    "reply that is not the mirror of the original.",
        )
