"""``dockerscope ssh``: a shell inside the lab host, where ``ip netns`` lists the containers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.kernel

ROOT = Path(__file__).resolve().parents[2]


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=20)


@pytest.fixture
def lab_like(lab_name: str, tmp_path: Path):
    """A lab-shaped set-up built by hand: the lab netns with a bridge, and a containers'
    netns dir holding one entry named like a container."""
    run_root = tmp_path / "run"
    (run_root / "netns").mkdir(parents=True)
    (run_root / "netns" / "web").touch()
    _ip("netns", "add", lab_name)
    try:
        _ip("-n", lab_name, "link", "add", "dsxbr0", "type", "bridge")
        yield lab_name, run_root
    finally:
        subprocess.run(["ip", "netns", "del", lab_name], capture_output=True, timeout=20)


def _ssh(lab: str, run_root: Path, script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "dockerscope",
            "ssh",
            "--lab",
            lab,
            "--run-root",
            str(run_root),
            "--",
            "sh",
            "-c",
            script,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=str(ROOT),
    )


def test_ssh_runs_in_the_lab_netns_with_containers_as_ip_netns(lab_like) -> None:
    lab, run_root = lab_like
    out = _ssh(
        lab, run_root, "echo NETNS; ls /run/netns; echo SYS; ls /sys/class/net; echo HOST; hostname"
    )
    assert out.returncode == 0, out.stderr
    sections: dict[str, list[str]] = {}
    current = ""
    for line in out.stdout.splitlines():
        if line in ("NETNS", "SYS", "HOST"):
            current = line
            sections[current] = []
        else:
            sections[current].append(line)
    assert sections["NETNS"] == ["web"]
    # /sys was remounted inside the lab: its links, not the machine's
    assert sorted(sections["SYS"]) == ["dsxbr0", "lo"]
    assert sections["HOST"] == [lab]
    # nothing leaked out of the private mount namespace
    assert (Path("/run/netns") / lab).exists()
    assert "web" not in {p.name for p in Path("/run/netns").iterdir()}


def test_ssh_passes_the_exit_code(lab_like) -> None:
    lab, run_root = lab_like
    assert _ssh(lab, run_root, "exit 7").returncode == 7


def test_ssh_to_a_lab_that_is_not_up(lab_name: str, tmp_path: Path) -> None:
    out = _ssh(lab_name, tmp_path, "true")
    assert out.returncode == 1
    assert f"lab {lab_name} is not up" in out.stderr
