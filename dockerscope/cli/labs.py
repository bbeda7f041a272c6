"""The lab commands: ``daemon``, ``env``, ``ssh``, ``lab ls`` and ``lab down``.

Starting, stopping and removing a lab is ``dockerscope.labctl``'s; this module turns the command
line into those calls and their results into text.
"""

from __future__ import annotations

import argparse
import os
import sys

from dockerscope import labctl
from dockerscope.cli.common import CliError, is_root, lab_from
from dockerscope.engine.paths import Lab


def cmd_env(args: argparse.Namespace) -> int:
    """``dockerscope env``: the shell line pointing docker clients at a lab (or undoing it)."""
    if args.unset:
        print("unset DOCKER_HOST")
    else:
        lab = lab_from(args)
        print(f"export DOCKER_HOST=unix://{lab.socket}")
    print("# Run this command to configure your shell:")
    lab_flag = f" --lab {args.lab}" if getattr(args, "lab", None) else ""
    print(f"# eval $(dockerscope env{lab_flag}{' --unset' if args.unset else ''})")
    return 0


def cmd_daemon(argv: list[str], lab: str | None) -> int:
    """``dockerscope daemon ...``: the engine's own command line, with the global --lab."""
    from dockerscope.engine import daemon

    if lab and "--lab" not in argv and not any(a.startswith("--lab=") for a in argv):
        argv = ["--lab", lab, *argv]
    return int(daemon.main(argv) or 0)


def cmd_ssh(args: argparse.Namespace) -> int:
    """``dockerscope ssh``: exec a shell (or a command) inside the lab host."""
    lab = lab_from(args)
    if not is_root():
        raise CliError("dockerscope ssh needs root (it enters the lab's namespaces)")
    if not lab.netns_path.exists():
        raise CliError(
            f"lab {lab.name} is not up (no {lab.netns_path}): start it with "
            f"'dockerscope daemon --lab {lab.name}' or 'dockerscope'"
        )
    cmd = list(args.cmd)
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    argv = lab_shell_argv(lab, cmd)
    sys.stdout.flush()
    os.execvp(argv[0], argv)
    return 127  # not reached


def cmd_lab(args: argparse.Namespace) -> int:
    """``dockerscope lab ls|down``."""
    return cmd_lab_ls(args) if args.lab_command == "ls" else cmd_lab_down(args)


def cmd_lab_ls(args: argparse.Namespace) -> int:
    """``dockerscope lab ls``: every lab with its daemon and containers."""
    print(lab_table(labctl.list_labs(args.run_base, args.data_base)), end="")
    return 0


def cmd_lab_down(args: argparse.Namespace) -> int:
    """``dockerscope lab down NAME``: stop the daemon and remove everything of the lab."""
    lab = lab_from(args, args.name)
    if not is_root():
        raise CliError("dockerscope lab down needs root (it removes kernel objects)")
    problems = labctl.take_down(lab, keep_log=args.keep_log, say=_say)
    if problems:
        for p in problems:
            print(f"dockerscope: {p}", file=sys.stderr)
        return 1
    print(f"lab {lab.name} removed")
    return 0


def _say(message: str) -> None:
    print(message, file=sys.stderr)


def ensure_daemon(lab: Lab, say: labctl.Say = _say, wait: float = 180.0) -> bool:
    """``labctl.ensure_daemon`` with its failure as a one-line command-line error."""
    try:
        return labctl.ensure_daemon(lab, say=say, wait=wait)
    except labctl.DaemonStartError as exc:
        raise CliError(str(exc)) from None


def lab_table(labs: list[labctl.LabStatus]) -> str:
    """``dockerscope lab ls`` output, aligned like docker's tables."""
    from dockerscope.client.formatting import table

    rows = [["LAB", "DAEMON", "PID", "CONTAINERS", "SOCKET"]]
    for lab in labs:
        pid = str(lab.pid) if lab.pid else "-"
        rows.append([lab.name, lab.status, pid, str(lab.containers), lab.socket])
    return table(rows)


LAB_SHELL_SCRIPT = r"""
lab=$1; netns_dir=$2; shift 2
umount -l /sys 2>/dev/null || true
mount -t sysfs sysfs /sys
mkdir -p /run/netns
if [ -d "$netns_dir" ]; then mount --rbind "$netns_dir" /run/netns; fi
hostname "$lab" 2>/dev/null || true
exec "$@"
"""


def lab_shell_argv(lab: Lab, cmd: list[str], shell: str | None = None) -> list[str]:
    """The command line of ``dockerscope ssh``: join the lab's netns (nsenter), then a new
    private mount and UTS namespace (unshare) where /sys shows the lab's links (brctl reads
    it), the containers' netns dir is mounted over /run/netns (so ``ip netns`` lists them by
    name) and the hostname is the lab's, then run ``cmd`` or the user's shell.
    """
    if not cmd:
        shell = shell or os.environ.get("SHELL") or ""
        if not shell or not os.path.exists(shell):
            shell = "/bin/bash" if os.path.exists("/bin/bash") else "/bin/sh"
        cmd = [shell]
    return [
        "nsenter",
        f"--net={lab.netns_path}",
        "--",
        "unshare",
        "--mount",
        "--uts",
        "--propagation",
        "private",
        "--",
        "/bin/sh",
        "-c",
        LAB_SHELL_SCRIPT,
        "dockerscope-ssh",
        lab.name,
        str(lab.container_netns_dir),
        *cmd,
    ]
