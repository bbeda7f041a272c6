"""Sockets panel: ``ss -tulnp`` per network namespace, so "port 8080" names a program.

Each namespace is a block headed by whose it is (the lab, a container); in it the listeners
come first, then the connections. A published port shows twice: the container's own listener
(``httpd`` on :80 in container web) and the daemon's proxy listening in the lab (:8080, owned
by ``port 8080/tcp -> web:80``).
"""

from __future__ import annotations

from collections import defaultdict

from dockerscope.screens import styles
from dockerscope.screens.lines import Cell, Line, grid_lines
from dockerscope.screens.panel import Panel
from dockerscope.screens.shell import CommandLine, ShellCommand, netns_of_scope
from dockerscope.screens.state import DashState
from rich.text import Text

from dockerscope.kernel.model import NetNs, Snapshot, Socket


def endpoint(address: str, port: int) -> str:
    """``0.0.0.0:80``, ``[::]:80``, ``*:*`` for an unconnected remote end (as ss prints)."""
    if not port and address in ("0.0.0.0", "::"):
        return "*:*"
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def ordered(sockets: list[Socket]) -> list[Socket]:
    """Listeners first, then the rest; within each by protocol and local port."""
    return sorted(sockets, key=lambda s: (not s.listening, s.proto, s.local_port, s.key))


def namespace_heading(label: str, netns: dict[str, NetNs], sockets: list[Socket]) -> str:
    """``netns web  (container web)``: whose namespace a block of sockets is."""
    ns = netns.get(label)
    owner = ns.owner if ns is not None else None
    if owner is None:
        owner = next((s.owner for s in sockets if s.owner and s.owner.kind != "port"), None)
    return f"netns {label}" + (f"  ({owner.label()})" if owner is not None else "")


def _order_of_namespaces(snapshot: Snapshot, labels: set[str]) -> list[str]:
    """The scope's own namespaces first (the lab, the host), then containers by name."""
    lab = snapshot.scope.partition(":")[2]
    return sorted(labels, key=lambda lb: (lb not in (lab, "host"), lb))


def program_cell(s: Socket) -> Cell:
    """``4251/nc`` (netstat's way); a published port's listener outside the container says,
    on a line below, which port of which container it stands for: the heading names the
    namespace's owner, only this is new."""
    text = f"{s.pid}/{s.command}" if s.pid is not None else "-"
    if s.owner is not None and s.owner.kind == "port":
        return (f"{text}\n◂ {s.owner.label()}", styles.OWNER)
    return (text, "" if s.pid is not None else styles.DIM)


def container_pid(snapshot: Snapshot, label: str) -> int | None:
    """A process living in namespace ``label`` (for ``nsenter -t <pid> -n``)."""
    for ns in snapshot.netns:
        if (ns.label or ns.name) == label and ns.pids:
            return ns.pids[0]
    return next((s.pid for s in snapshot.sockets if s.netns == label and s.pid), None)


class SocketsPanel(Panel):
    """Which program holds which port, namespace by namespace."""

    PANEL_ID = "sockets"
    TITLE = "Sockets"
    HINT = "ss -tulnp: listening and connected sockets and the program holding each"
    WATCHES = frozenset({"sockets", "netns"})

    def render_body(self, state: DashState) -> list[Line]:
        snap = state.snapshot
        assert snap is not None
        by_ns: dict[str, list[Socket]] = defaultdict(list)
        for s in [*snap.sockets, *state.removed("sockets")]:
            program = s.program or "-"
            owner = s.owner.label() if s.owner is not None else ""
            local, remote = endpoint(s.local, s.local_port), endpoint(s.remote, s.remote_port)
            if self.matches(s.proto, local, s.state, remote, program, owner, s.netns):
                by_ns[s.netns].append(s)
        netns = {ns.label or ns.name or str(ns.inode): ns for ns in snap.netns}
        out: list[Line] = []
        for label in _order_of_namespaces(snap, set(by_ns)):
            found = ordered(by_ns[label])
            if out:
                out.append(Text(""))
            out.append(Text(namespace_heading(label, netns, found), style=styles.HEADING))
            rows: list[list[Cell]] = []
            for s in found:
                style = styles.mark_style(state, state.mark("sockets", s.key))
                rows.append(
                    [
                        (s.proto, style),
                        (endpoint(s.local, s.local_port), style),
                        (s.state, "" if s.listening else styles.DIM),
                        endpoint(s.remote, s.remote_port),
                        program_cell(s),
                    ]
                )
            out.extend(
                grid_lines(
                    ("Proto", "Local", "State", "Peer", "PID/Program"),
                    rows,
                    header_style=styles.DIM,
                )
            )
        if not out:
            out.append(Text("no sockets", style=styles.DIM))
        return out

    def shell_command(self, state: DashState) -> ShellCommand | None:
        snap = state.snapshot
        scope = snap.scope if snap else ""
        lab = netns_of_scope(scope)
        ss = ("ss", "-tulnp")
        lines = [CommandLine("ss -tulnp", ss)]
        if snap is not None:
            # One container's view too: its own namespace, reached through one of its processes.
            for label in _order_of_namespaces(snap, {s.netns for s in snap.sockets}):
                pid = container_pid(snap, label) if label not in (lab, "host") else None
                if pid is not None:
                    argv = ("nsenter", "-t", str(pid), "-n", *ss)
                    lines.append(
                        CommandLine(f"nsenter -t {pid} -n ss -tulnp  # netns {label}", argv)
                    )
                    break
        return ShellCommand(
            "Sockets",
            tuple(lines),
            netns=lab,
            explain="ss asks the kernel (sock_diag) for every socket; -p names the process "
            "holding it. nsenter -t <pid> -n runs it in a container's network namespace.",
        )
