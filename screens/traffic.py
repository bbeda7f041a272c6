"""Socket traffic panel: every request that crossed the control socket."""

from __future__ import annotations

from dockerscope.screens import styles
from dockerscope.screens.lines import Line, grid_lines
from dockerscope.screens.panel import Panel
from dockerscope.screens.shell import CommandLine, ShellCommand, netns_of_scope
from dockerscope.screens.state import DashState
from rich.text import Text

from dockerscope.kernel.model import ApiCall

PREVIEW = 48


def status_text(call: ApiCall) -> Text:
    """The status code, coloured by class; ``...`` while the call is being served."""
    if call.status == 0:
        return Text("...", style="yellow")
    colour = "green3" if call.status < 300 else ("yellow" if call.status < 500 else "red1")
    return Text(str(call.status), style=colour)


def client_text(call: ApiCall) -> str:
    """``pid 5120 uid 1000`` from SO_PEERCRED (unix socket), or the transport."""
    if call.client_pid is None:
        return call.transport
    return f"pid {call.client_pid} uid {call.client_uid}"


def preview(call: ApiCall) -> str:
    """The first bytes of the request body, else of the response, on one line."""
    body = call.request_preview or call.response_preview
    body = " ".join(body.split())
    return body if len(body) <= PREVIEW else body[: PREVIEW - 1] + "…"


class TrafficPanel(Panel):
    """API requests: method, path, status, latency, who sent them, and a body preview."""

    PANEL_ID = "traffic"
    TITLE = "Socket traffic"
    HINT = "each API request on the control socket, with the client's pid/uid and container"
    FOLLOW = True
    WATCHES = frozenset({"traffic"})

    def render_body(self, state: DashState) -> list[Line]:
        rows: list[list[Text | str]] = []
        for call in state.ordered_calls():
            origin = f"container {call.client_container}" if call.client_container else "host"
            if not self.matches(call.method, call.path, origin, str(call.status),
                                client_text(call), call.request_preview, call.response_preview):
                continue
            rows.append([
                str(call.seq), state.relative(call.started_at), Text(call.method, style="bold"),
                call.path, status_text(call), f"{call.latency_ms:.1f}", client_text(call),
                Text(f"from {origin}", style=styles.OWNER if call.client_container else
                     styles.DIM),
                Text(preview(call), style=styles.DIM),
            ])
        return grid_lines(("#", "time", "method", "path", "status", "ms", "client", "from", "body"),
                          rows, right=(0, 5), header_style=styles.HEADING)

    def shell_command(self, state: DashState) -> ShellCommand | None:
        scope = state.snapshot.scope if state.snapshot else ""
        lab = netns_of_scope(scope) or "dockerscope"
        sock = f"/run/dockerscope/{lab}/docker.sock"
        gets = [c for c in state.ordered_calls() if c.method == "GET"]
        path = gets[-1].path if gets else "/v1.41/version"
        argv = ("curl", "-s", "--unix-socket", sock, f"http://localhost{path}")
        return ShellCommand(
            "the same request by hand", (CommandLine(" ".join(argv), argv),),
            explain="The docker CLI speaks plain HTTP over the unix socket; curl can too.",
        )
