"""Storage panel: each container's overlay layers and the files in its upper dir.

Whiteouts (a character device 0/0 in the upper dir) mark files deleted from a lower layer;
an opaque dir hides everything below it. Both are spelled out.
"""

from __future__ import annotations

from dockerscope.screens import styles
from dockerscope.screens.lines import Line, LineBuilder
from dockerscope.screens.panel import Panel
from dockerscope.screens.shell import CommandLine, ShellCommand
from dockerscope.screens.state import DashState
from rich.text import Text

from dockerscope.kernel.model import OverlayMount, UpperEntry

ENTRY_STYLES = {"whiteout": "bold red1", "opaque": "bold dark_orange", "dir": "bold blue"}


def entry_text(entry: UpperEntry) -> Text:
    """One upper-dir entry, with what it means for the merged view."""
    style = ENTRY_STYLES.get(entry.kind, "")
    if entry.kind == "whiteout":
        return Text.assemble(("✗ ", style), (entry.path, style),
                             ("  whiteout: deleted from a lower layer", styles.DIM))
    if entry.kind == "opaque":
        return Text.assemble(("◼ ", style), (entry.path + "/", style),
                             ("  opaque: hides the lower dir's contents", styles.DIM))
    if entry.kind == "dir":
        return Text.assemble(("  ", ""), (entry.path + "/", style))
    if entry.kind == "symlink":
        return Text.assemble(("  ", ""), (entry.path, "cyan"), ("  symlink", styles.DIM))
    return Text.assemble(("  ", ""), (entry.path, style), (f"  {entry.size} B", styles.DIM))


class StoragePanel(Panel):
    """Overlay mounts: layers, upper dir and what a container changed."""

    PANEL_ID = "storage"
    TITLE = "Storage"
    HINT = "overlay layers of each container and the files it changed (its upper dir)"
    WATCHES = frozenset({"mounts"})

    def _selected(self, state: DashState) -> list[OverlayMount]:
        snap = state.snapshot
        assert snap is not None
        return [m for m in snap.mounts
                if self.matches(m.target, m.upperdir, m.owner.label() if m.owner else "",
                                *(e.path for e in m.upper_entries))]

    def render_body(self, state: DashState) -> list[Line]:
        out = LineBuilder()
        for mount in self._selected(state):
            style = styles.mark_style(state, state.mark("mounts", mount.key))
            out.append(mount.owner.label() if mount.owner else mount.target,
                       style=style or styles.HEADING)
            out.append(f"  overlay on {mount.target}\n", style=styles.DIM)
            out.append("  upper  ", style="bold")
            out.append(f"{mount.upperdir}  (read-write)\n")
            for i, lower in enumerate(mount.lowerdirs, 1):
                out.append(f"  lower{i} ", style=styles.DIM)
                out.append(f"{lower}  (read-only)\n")
            out.append("  upper dir holds:\n")
            if not mount.upper_entries:
                out.append("    (nothing changed yet)\n", style=styles.DIM)
            for entry in mount.upper_entries:
                out.append("    ")
                out.append(entry_text(entry))
                out.append("\n")
            out.append("\n")
        if not out:
            out.append("no overlay mounts seen", style=styles.DIM)
        return out.lines()

    def shell_command(self, state: DashState) -> ShellCommand | None:
        mounts = self._selected(state) if state.snapshot else []
        if not mounts:
            return ShellCommand("Storage", (CommandLine("mount -t overlay",
                                                        ("mount", "-t", "overlay")),))
        m = mounts[0]
        return ShellCommand(
            f"upper dir of {m.owner.label() if m.owner else m.target}",
            (CommandLine(f"ls -la {m.upperdir}", ("ls", "-la", m.upperdir)),
             CommandLine("mount -t overlay", ("mount", "-t", "overlay"))),
            explain="A whiteout is listed by ls as a character device with numbers 0, 0.",
        )
