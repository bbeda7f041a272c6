"""Timeline panel: each API request with the kernel changes seen while it was served.

"POST /networks/create made bridge br-12eeb8c4266b and these 9 rules": the changes are those
whose frame time falls between the call's start and its end (start + latency).
"""

from __future__ import annotations

from dockerscope.screens import styles
from dockerscope.screens.describe import describe_change
from dockerscope.screens.lines import Line, LineBuilder
from dockerscope.screens.panel import Panel
from dockerscope.screens.shell import CommandLine, ShellCommand
from dockerscope.screens.state import DashState
from dockerscope.screens.traffic import status_text

CHANGE_STYLES = {"added": "green3", "removed": "red1", "changed": "yellow"}


class TimelinePanel(Panel):
    """API requests and what they did to the kernel."""

    PANEL_ID = "timeline"
    TITLE = "Timeline"
    HINT = "each API request and the kernel changes seen while it was served"
    FOLLOW = True
    WATCHES = frozenset({"traffic", "news"})  # counters ticking are not news

    def render_body(self, state: DashState) -> list[Line]:
        out = LineBuilder()
        for call in state.ordered_calls():
            changes = state.changes_during(call)
            lines = [describe_change(c.change) for c in changes]
            if not self.matches(call.method, call.path, *lines):
                continue
            out.append(f"{state.relative(call.started_at)} ", style=styles.DIM)
            out.append(f"{call.method} {call.path} ", style="bold")
            out.append(status_text(call))
            out.append(f" {call.latency_ms:.0f}ms", style=styles.DIM)
            if call.client_container:
                out.append(f"  from container {call.client_container}", style=styles.OWNER)
            out.append("\n")
            if not changes:
                out.append("    (no kernel changes)\n", style=styles.DIM)
            for stamped, line in zip(changes, lines, strict=True):
                out.append(f"    {line}\n", style=CHANGE_STYLES.get(stamped.change.action, ""))
        if not out:
            out.append("no API requests yet", style=styles.DIM)
        return out.lines()

    def shell_command(self, state: DashState) -> ShellCommand | None:
        return ShellCommand(
            "events", (CommandLine("docker events", None),),
            explain="docker events streams what the engine did; this panel adds what the "
                    "kernel saw meanwhile.",
        )
