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
    """A lab-shaped set-up built by hand: the lab netns with a bridge, and a containers' netns
    dir where a real network namespace is pinned under a container's name, as the engine does."""
    run_root = tmp_path / "run"
    (run_root / "netns").mkdir(parents=True)
    pin = run_root / "netns" / "web"
    pin.touch()
    container_ns = lab_name + "c"
    _ip("netns", "add", lab_name)
    _ip("netns", "add", container_ns)
    mounted = False
    try:
        subprocess.run(
            ["mount", "--bind", f"/run/netns/{container_ns}", str(pin)],
            check=True,
            capture_output=True,
            timeout=20,
        )
        mounted = True
        _ip("-n", lab_name, "link", "add", "dsxbr0", "type", "bridge")
        _ip("-n", container_ns, "link", "add", "dsxweb0", "type", "bridge")
        yield lab_name, run_root
    finally:
        if mounted:
            subprocess.run(["umount", str(pin)], capture_output=True, timeout=20)
        subprocess.run(["ip", "netns", "del", container_ns], capture_output=True, timeout=20)
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
        lab,
        run_root,
        "echo NETNS; ip netns list; echo SYS; ls /sys/class/net; echo HOST; hostname; "
        "echo INWEB; ip netns exec web ls /sys/class/net",
    )
    assert out.returncode == 0, out.stderr
    sections: dict[str, list[str]] = {}
    current = ""
    for line in out.stdout.splitlines():
        if line in ("NETNS", "SYS", "HOST", "INWEB"):
            current = line
            sections[current] = []
        else:
            sections[current].append(line)
    assert sections["NETNS"] == ["web"]
    # /sys was remounted inside the lab: its links, not the machine's
    assert sorted(sections["SYS"]) == ["dsxbr0", "lo"]
    assert sections["HOST"] == [lab]
    # `ip netns exec web` enters the container's own namespace
    assert sorted(sections["INWEB"]) == ["dsxweb0", "lo"]
    assert "Peer netns reference is invalid" not in out.stderr
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
