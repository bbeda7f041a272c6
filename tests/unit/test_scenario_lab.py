"""The lab executor's process handling, on host commands (no lab, no root needed)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from dockerscope.scenario.lab import LabExecutor
from dockerscope.scenario.model import Command


def _ex() -> LabExecutor:
    return LabExecutor("nolab", "/nonexistent/docker.sock")


def test_host_command_output_and_exit_code() -> None:
    ex = _ex()
    try:
        r = ex.run(Command("host", "echo out; echo err >&2; exit 3"))
        assert (r.exit_code, r.stdout, r.stderr) == (3, "out\n", "err\n")
        assert r.command == "host$ echo out; echo err >&2; exit 3"
    finally:
        ex.close()


def test_timeout_kills_the_whole_group() -> None:
    ex = _ex()
    try:
        started = time.monotonic()
        r = ex.run(Command("host", "sleep 30 & echo $!; wait", timeout=0.5))
        assert r.exit_code == 124 and "timed out after 0.5 s" in r.stderr
        assert time.monotonic() - started < 20
        child = int(r.stdout.split()[0])
        for _ in range(50):  # the background sleep went with its group
            if not os.path.exists(f"/proc/{child}") or _zombie(child):
                break
            time.sleep(0.05)
        assert not os.path.exists(f"/proc/{child}") or _zombie(child)
    finally:
        ex.close()


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[1].split()[0] == "Z"
    except OSError:
        return True


def test_background_commands_are_stopped_by_finish() -> None:
    ex = _ex()
    try:
        bg = ex.start(Command("host", "echo started; sleep 30", background=True))
        time.sleep(0.2)
        r = bg.finish()
        assert r.background and "started" in r.stdout and r.exit_code != 0
    finally:
        ex.close()


def test_shell_commands_find_a_docker_for_this_lab() -> None:
    ex = _ex()
    try:
        r = ex.run(Command("host", "command -v docker; echo $DOCKER_HOST"))
        shim, host = r.stdout.split()
        assert host == "unix:///nonexistent/docker.sock"
        text = Path(shim).read_text()
        assert sys.executable in text and "-m dockerscope.client -H unix:///nonexistent" in text
    finally:
        ex.close()
    assert not os.path.exists(shim)


def test_argv_per_kind() -> None:
    ex = _ex()
    try:
        assert ex.argv(Command("lab", "brctl show"))[:5] == ["ip", "netns", "exec", "nolab", "sh"]
        assert ex.argv(Command("container", "uname -r", container="web"))[-5:] == [
            "exec",
            "web",
            "sh",
            "-c",
            "uname -r",
        ]
        assert ex.argv(Command("docker", "run --rm busybox echo 'a b'"))[-5:] == [
            "run",
            "--rm",
            "busybox",
            "echo",
            "a b",
        ]
    finally:
        ex.close()
