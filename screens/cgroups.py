"""cgroups panel: each container's usage against its limits, as bars (memory, pids, cpu)."""

from __future__ import annotations

from dockerscope.screens import styles
from dockerscope.screens.lines import Line, LineBuilder
from dockerscope.screens.panel import Panel
from dockerscope.screens.shell import CommandLine, ShellCommand
from dockerscope.screens.state import DashState
from rich.text import Text

from dockerscope.kernel.model import Cgroup

BAR_WIDTH = 20
V1_ROOT = "/sys/fs/cgroup"


def bar(used: float, limit: float | None, width: int = BAR_WIDTH) -> Text:
    """``[██████░░░░]`` filled to used/limit; a dim bar when there is no limit."""
    if not limit:
        return Text("[" + "·" * width + "]", style=styles.DIM)
    ratio = max(0.0, min(1.0, used / limit))
    full = round(ratio * width)
    colour = "green3" if ratio < 0.7 else ("yellow" if ratio < 0.9 else "red1")
    out = Text("[")
    out.append("█" * full, style=colour)
    out.append("░" * (width - full), style=styles.DIM)
    out.append("]")
    return out


def mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


def cpu_rate(before: Cgroup | None, after: Cgroup, seconds: float) -> float | None:
    """CPUs used between two samples (1.0 = one core busy), or None without a previous sample."""
    if before is None or before.cpu_usage_ns is None or after.cpu_usage_ns is None or seconds <= 0:
        return None
    return max(0, after.cpu_usage_ns - before.cpu_usage_ns) / 1e9 / seconds


def limit_files(cg: Cgroup) -> list[str]:
    """The cgroupfs files holding this cgroup's limits (v1 per controller, v2 unified)."""
    if cg.version == 1:
        return [f"{V1_ROOT}/memory{cg.path}/memory.limit_in_bytes",
                f"{V1_ROOT}/memory{cg.path}/memory.usage_in_bytes",
                f"{V1_ROOT}/pids{cg.path}/pids.max",
                f"{V1_ROOT}/cpu{cg.path}/cpu.cfs_quota_us"]
    return [f"{V1_ROOT}{cg.path}/{name}" for name in
            ("memory.max", "memory.current", "pids.max", "cpu.max")]


class CgroupsPanel(Panel):
    """Memory, pids and cpu of each container against its limits."""

    PANEL_ID = "cgroups"
    TITLE = "cgroups"
    HINT = "memory, pids and cpu of each container against its -m, --pids-limit, --cpus"
    WATCHES = frozenset({"cgroups"})

    def _selected(self, state: DashState) -> list[Cgroup]:
        snap = state.snapshot
        assert snap is not None
        return [cg for cg in snap.cgroups
                if self.matches(cg.path, cg.owner.label() if cg.owner else "")]

    def render_body(self, state: DashState) -> list[Line]:
        snap = state.snapshot
        assert snap is not None
        before = {cg.key: cg for cg in state.previous.cgroups} if state.previous else {}
        seconds = snap.taken_at - state.previous.taken_at if state.previous else 0.0
        out = LineBuilder()
        for cg in self._selected(state):
            style = styles.mark_style(state, state.mark("cgroups", cg.key))
            out.append(cg.owner.label() if cg.owner else cg.path, style=style or styles.HEADING)
            out.append(f"  {cg.path} (v{cg.version})\n", style=styles.DIM)
            used = cg.memory_usage or 0
            out.append("  memory ")
            out.append(bar(used, cg.memory_limit))
            limit = mib(cg.memory_limit) if cg.memory_limit else "no limit"
            out.append(f" {mib(used)} / {limit}\n")
            out.append("  pids   ")
            out.append(bar(cg.pids_current or 0, cg.pids_limit))
            out.append(f" {cg.pids_current or 0} / {cg.pids_limit or 'no limit'}\n")
            cpus = (cg.cpu_quota_us / cg.cpu_period_us
                    if cg.cpu_quota_us and cg.cpu_period_us else None)
            rate = cpu_rate(before.get(cg.key), cg, seconds)
            out.append("  cpu    ")
            out.append(bar(rate or 0.0, cpus))
            shown = "-" if rate is None else f"{rate:.2f}"
            out.append(f" {shown} / {f'{cpus:.2f}' if cpus else 'no limit'} cpus")
            if cg.oom_kills:
                out.append(f"  OOM kills: {cg.oom_kills}", style="bold red1")
            out.append("\n\n")
        if not out:
            out.append("no container cgroups seen", style=styles.DIM)
        return out.lines()

    def shell_command(self, state: DashState) -> ShellCommand | None:
        cgs = self._selected(state) if state.snapshot else []
        if not cgs:
            return ShellCommand("cgroups", (CommandLine("ls /sys/fs/cgroup", ("ls", V1_ROOT)),))
        files = limit_files(cgs[0])
        return ShellCommand(
            f"cgroups of {cgs[0].owner.label() if cgs[0].owner else cgs[0].path}",
            tuple(CommandLine(f"cat {f}", ("cat", f)) for f in files),
            explain="The limits are plain files in cgroupfs; the kernel enforces what they hold.",
        )
