"""A real lab through the command line: start its daemon in the background, drive it with the
stdlib client, list it, and take it down completely."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dockerscope import labctl
from dockerscope.engine.paths import Lab
from dockerscope.engine.teardown import process_gone

pytestmark = pytest.mark.kernel

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def lab(lab_name: str, tmp_path: Path):
    """A lab with its state and run dirs under tmp_path, always taken down afterwards."""
    the_lab = Lab.named(
        lab_name, data_root=tmp_path / "data" / lab_name, run_root=tmp_path / "run" / lab_name
    )
    try:
        yield the_lab
    finally:
        problems = labctl.take_down(the_lab, say=lambda m: None)
        assert problems == []


def docker(lab: Lab, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dockerscope", "-H", f"unix://{lab.socket}", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=str(ROOT),
    )


def test_start_drive_list_and_take_down(lab: Lab, capsys) -> None:
    assert labctl.ensure_daemon(lab, say=lambda m: None) is True
    assert labctl.answers(lab)
    assert labctl.ensure_daemon(lab, say=lambda m: None) is False  # reused, not started twice

    r = docker(
        lab, "run", "--rm", "--net", "none", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3"
    )
    assert (r.returncode, r.stdout, r.stderr) == (3, "out\n", "err\n")

    r = docker(lab, "run", "--rm", "-i", "--net", "none", "busybox", "cat", stdin="piped\n")
    assert (r.returncode, r.stdout) == (0, "piped\n")

    r = docker(lab, "run", "-d", "--net", "none", "--name", "web", "busybox", "sleep", "60")
    assert r.returncode == 0, r.stderr
    ident = r.stdout.strip()
    assert len(ident) == 64

    r = docker(lab, "ps")
    lines = r.stdout.splitlines()
    assert lines[0].startswith("CONTAINER ID   IMAGE     COMMAND")
    assert lines[1].startswith(ident[:12]) and lines[1].endswith("web")
    assert '"sleep 60"' in lines[1]

    r = docker(lab, "exec", "web", "sh", "-c", "hostname; exit 4")
    assert (r.returncode, r.stdout) == (4, ident[:12] + "\n")

    r = docker(lab, "stop", "nosuch")
    assert r.returncode == 1
    assert r.stderr == "Error response from daemon: No such container: nosuch\n"

    rows = {row.name: row for row in labctl.list_labs(lab.run_root.parent, lab.data_root.parent)}
    assert rows[lab.name].status == "running"
    assert rows[lab.name].containers >= 1

    # busybox sleep as PID 1 ignores SIGTERM: remove it now rather than wait for stop's timeout
    r = docker(lab, "rm", "-f", "web")
    assert (r.returncode, r.stdout) == (0, "web\n")

    pid = labctl.read_pid(lab)
    assert pid is not None
    assert labctl.take_down(lab, say=lambda m: None) == []
    assert process_gone(pid)
    assert not lab.socket.exists()
    assert not lab.netns_path.exists()
    assert not lab.data_root.exists()
    assert labctl.take_down(lab, say=lambda m: None) == []  # idempotent


def test_lab_down_after_the_daemon_was_killed(lab: Lab) -> None:
    """kill -9 of the daemon leaves containers, an exec, mounts, netns and cgroups behind:
    `lab down` still removes every one of them (the leak check proves it)."""
    import os
    import signal

    labctl.ensure_daemon(lab, say=lambda m: None)
    for args in (("--name", "ca"), ("--name", "cb", "--net", "none")):
        r = docker(lab, "run", "-d", *args, "busybox", "sleep", "300")
        assert r.returncode == 0, r.stderr
    assert docker(lab, "exec", "-d", "cb", "sleep", "299").returncode == 0
    pid = labctl.read_pid(lab)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)

    assert labctl.take_down(lab, say=lambda m: None) == []
    assert not lab.netns_path.exists()
    assert not lab.run_root.exists()
