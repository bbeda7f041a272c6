"""Namespaces panel: processes x namespace types with inode numbers, like ``lsns``.

Docker gives each container its own net, pid, mnt, uts and ipc namespaces; when two owners
share one (``--net=host``, ``--pid=container:x``) the same inode shows in both rows, coloured
alike, and the legend says who shares it. Two columns show what else confines each process,
as the kernel reports it in ``/proc/<pid>/status``: its seccomp mode and effective
capabilities (``CapEff``), so a container started with ``--security-opt seccomp=unconfined``
stands out.
"""

from __future__ import annotations

from collections import defaultdict

from dockerscope.screens import styles
from dockerscope.screens.lines import Cell, Line, grid_lines
from dockerscope.screens.panel import Panel
from dockerscope.screens.shell import CommandLine, ShellCommand
from dockerscope.screens.state import DashState
from rich.text import Text

from dockerscope.kernel.model import ProcessNs, Snapshot

#: Column order: the namespaces Docker unshares per container first.
NS_TYPES = ("net", "pid", "mnt", "uts", "ipc", "user", "cgroup", "time")
#: Types where sharing between containers is news (the others are shared with the host by default).
ISOLATED = ("net", "pid", "mnt", "uts", "ipc")
#: /proc/<pid>/status ``Seccomp:`` values.
SECCOMP_MODES = {0: "off", 1: "strict", 2: "filter"}
#: A container process without a seccomp filter: Docker never starts one like that by default.
UNFILTERED = "bold dark_orange"


def seccomp_cell(proc: ProcessNs) -> Cell:
    """The SECCOMP column: filter, strict, off (marked for a container's process) or -."""
    if proc.seccomp is None:
        return ("-", styles.DIM)
    text = SECCOMP_MODES.get(proc.seccomp, str(proc.seccomp))
    if proc.seccomp == 0:
        return (text, UNFILTERED if proc.owner is not None else styles.DIM)
    return text


def capeff_cell(proc: ProcessNs) -> Cell:
    """The CAPEFF column: the effective capability mask in hex, as ``grep CapEff`` shows it
    without the leading zeros (a80425fb is Docker's default set for root)."""
    if proc.cap_eff is None:
        return ("-", styles.DIM)
    return (f"{proc.cap_eff:x}", "" if proc.cap_eff else styles.DIM)


def owner_name(proc: ProcessNs) -> str:
    return proc.owner.label() if proc.owner is not None else f"pid {proc.pid}"


def shared_inodes(snapshot: Snapshot) -> dict[tuple[str, int], list[str]]:
    """(type, inode) -> owners, for isolated types held by more than one owner.

    A named netns (the lab) counts as an owner too, so a ``--net=host`` container shows as
    sharing the lab's network namespace.
    """
    holders: dict[tuple[str, int], set[str]] = defaultdict(set)
    for proc in snapshot.processes:
        for kind in ISOLATED:
            ino = proc.ns(kind)
            if ino is not None:
                holders[(kind, ino)].add(owner_name(proc))
    for ns in snapshot.netns:
        label = ns.owner.label() if ns.owner is not None else f"netns {ns.name or ns.inode}"
        if ("net", ns.inode) in holders:
            holders[("net", ns.inode)].add(label)
    return {k: sorted(v) for k, v in holders.items() if len(v) > 1}


class NamespacesPanel(Panel):
    """Which namespaces each process lives in."""

    PANEL_ID = "namespaces"
    TITLE = "Namespaces"
    HINT = (
        "lsns: each process's eight namespaces (a shared inode is coloured alike), "
        "its seccomp mode and CapEff"
    )
    WATCHES = frozenset({"processes", "netns"})

    def render_body(self, state: DashState) -> list[Line]:
        snap = state.snapshot
        assert snap is not None
        shared = shared_inodes(snap)
        colours = {key: styles.SHARED[i % len(styles.SHARED)] for i, key in enumerate(shared)}
        names = {ns.inode: ns.name for ns in snap.netns if ns.name}
        rows: list[list[Cell]] = []
        # Owned processes (containers) first, then the rest by pid.
        procs = sorted(
            snap.processes,
            key=lambda p: (p.owner is None, p.owner.label() if p.owner else "", p.pid),
        )
        for proc in procs:
            owner = owner_name(proc)
            if not self.matches(str(proc.pid), proc.comm, owner):
                continue
            cells: list[Cell] = []
            for kind in NS_TYPES:
                ino = proc.ns(kind)
                if ino is None:
                    cells.append(("-", styles.DIM))
                    continue
                cells.append(
                    (str(ino), colours.get((kind, ino), "" if kind in ISOLATED else styles.DIM))
                )
            row_style = styles.mark_style(state, state.mark("processes", proc.key))
            rows.append([(str(proc.pid), row_style), proc.comm, (owner, styles.OWNER),
                         seccomp_cell(proc), capeff_cell(proc), *cells])  # fmt: skip
        legend: list[Line] = []
        for (kind, ino), owners in shared.items():
            named = f" (netns {names[ino]})" if kind == "net" and ino in names else ""
            legend.append(
                Text.assemble(
                    (f"{kind} {ino}{named}", colours[(kind, ino)]),
                    f" shared by {', '.join(owners)}",
                )
            )
        if not shared:
            legend.append(Text("no namespace shared between containers", style=styles.DIM))
        table = grid_lines(
            ("PID", "COMMAND", "OWNER", "SECCOMP", "CAPEFF", *NS_TYPES),
            rows,
            right=(0,),
            header_style=styles.HEADING,
        )
        return [*table, Text(""), *legend]

    def shell_command(self, state: DashState) -> ShellCommand | None:
        lines = [CommandLine("lsns", ("lsns",))]
        procs = state.snapshot.processes if state.snapshot else ()
        if procs:
            argv = ("ls", "-l", f"/proc/{procs[0].pid}/ns")
            lines.append(CommandLine(" ".join(argv), argv))
            grep = ("grep", "-E", "^(Seccomp|CapEff):", f"/proc/{procs[0].pid}/status")
            lines.append(CommandLine(" ".join(grep), grep))
        return ShellCommand(
            "Namespaces",
            tuple(lines),
            explain="lsns lists namespaces and their inode; /proc/<pid>/ns links show them too. "
            "/proc/<pid>/status has the seccomp mode (2 = filter) and CapEff.",
        )
