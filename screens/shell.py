""""Show me the command": the shell command a student would type for a panel's view.

Pure data and a runner; the Textual side lives in ``showcmd.py``.
"""

from __future__ import annotations

import asyncio
import os
import shlex
from dataclasses import dataclass


@dataclass(frozen=True)
class CommandLine:
    """One command as typed (``display``) and as run (``argv``, None when not runnable)."""

    display: str
    argv: tuple[str, ...] | None = None


@dataclass(frozen=True)
class ShellCommand:
    """The commands behind one panel, and where they must run."""

    title: str
    lines: tuple[CommandLine, ...]
    netns: str | None = None  # run inside this named netns (``ip netns exec``)
    explain: str = ""

    @property
    def text(self) -> str:
        """What to show: the commands, prefixed with a shell prompt."""
        prompt = f"[{self.netns}]# " if self.netns else "# "
        return "\n".join(prompt + line.display for line in self.lines)


def netns_of_scope(scope: str) -> str | None:
    """The named netns a scope lives in: ``lab:demo`` -> ``demo``, ``host`` -> None."""
    kind, _, name = scope.partition(":")
    return name if kind in ("lab", "netns") and name else None


def can_run_live(live: bool) -> bool:
    """Real output only for a live source and as root (the commands read kernel state)."""
    return live and os.geteuid() == 0


async def run_command(command: ShellCommand, timeout: float = 10.0) -> str:
    """Run each runnable line (inside the netns when given) and return the combined output."""
    chunks: list[str] = []
    for line in command.lines:
        if line.argv is None:
            chunks.append(f"$ {line.display}\n(not run: this one keeps running; try it in a shell)")
            continue
        argv = list(line.argv)
        if command.netns:
            argv = ["ip", "netns", "exec", command.netns, *argv]
        chunks.append(f"$ {line.display}\n{await _run(argv, timeout)}")
    return "\n\n".join(chunks)


async def _run(argv: list[str], timeout: float) -> str:
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            stdin=asyncio.subprocess.DEVNULL,
        )
    except OSError as exc:
        return f"cannot run {shlex.join(argv)}: {exc.strerror}"
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return f"{shlex.join(argv)}: no answer after {timeout:.0f}s"
    text = out.decode(errors="replace").rstrip()
    if proc.returncode:
        text += f"\n(exit status {proc.returncode})"
    return text
