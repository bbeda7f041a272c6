"""What a lab changes on the real host, and undoing it: ip_forward and one MASQUERADE rule.

Several labs can be up at once (tests, student groups), so the host-wide facts live in one
small state file under /run/dockerscope/.host, changed under an flock:
- ``ip_forward_was``: the value before the first lab turned forwarding on (restored when the
  last lab that needed it goes down);
- ``labs``: the labs currently relying on it;
- ``nat_table_created``: the host had no nat table (nf_tables) before a lab added one; the last
  lab removes the then-empty table so ``iptables-save`` reads as before.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from ipaddress import IPv4Network
from pathlib import Path
from typing import Any

from dockerscope.engine.network.errors import KernelCommandFailed
from dockerscope.engine.network.namespaces import read_sysctl, run_in, write_sysctl

STATE_DIR = Path("/run/dockerscope/.host")
IP_FORWARD = "net.ipv4.ip_forward"
# The host's netns: the one this process started in, held open from import time, so host-side
# work never depends on which netns the calling thread happens to be in.
_HOST_FD = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
HOST_NETNS = Path(f"/proc/{os.getpid()}/fd/{_HOST_FD}")


def host_sysctl(name: str, value: str | None = None) -> str:
    """Read (and with ``value``, first write) a sysctl of the host netns."""

    def work() -> str:
        if value is not None:
            write_sysctl(name, value)
        return read_sysctl(name)

    return run_in(HOST_NETNS, work)


def comment_for(lab_name: str) -> str:
    """The comment that tags a lab's host MASQUERADE rule."""
    return f"dockerscope:{lab_name}"


def _run(*cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a command in the host netns."""
    full = ("nsenter", f"--net={HOST_NETNS}", *cmd)
    proc = subprocess.run(full, capture_output=True, text=True, timeout=30)
    if check and proc.returncode != 0:
        raise KernelCommandFailed(f"{' '.join(cmd)} failed: {proc.stderr.strip()}")
    return proc


def nf_tables_backend() -> bool:
    """True if the host's ``iptables`` is the nf_tables variant."""
    return "nf_tables" in _run("iptables", "-V", check=False).stdout


class HostState:
    """The host-wide record shared by all labs, read and written under an exclusive lock."""

    def __init__(self, state_dir: Path = STATE_DIR) -> None:
        self.dir = state_dir
        self.file = state_dir / "state.json"

    @contextmanager
    def locked(self) -> Iterator[dict[str, Any]]:
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / "lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                data = json.loads(self.file.read_text()) if self.file.exists() else {}
            except (OSError, ValueError):
                data = {}
            data.setdefault("labs", [])
            yield data
            if data.get("labs") or data.get("ip_forward_was") is not None:
                tmp = self.file.with_suffix(".tmp")
                tmp.write_text(json.dumps(data))
                tmp.replace(self.file)
            else:
                self.file.unlink(missing_ok=True)


def masquerade_spec(uplink: IPv4Network, host_ifname: str, lab_name: str) -> list[str]:
    return [
        "-s",
        str(uplink),
        "!",
        "-o",
        host_ifname,
        "-m",
        "comment",
        "--comment",
        comment_for(lab_name),
        "-j",
        "MASQUERADE",
    ]


def host_nat_lines() -> list[str]:
    return [
        line
        for line in _run("iptables-save", "-t", "nat", check=False).stdout.splitlines()
        if line.startswith("-A ")
    ]


def host_has_nat_table() -> bool:
    """Whether the host's nf_tables has an ``ip nat`` table (iptables-save -t nat would
    print an empty one either way)."""
    return _run("nft", "list", "table", "ip", "nat", check=False).returncode == 0


def lab_rules_on_host(lab_name: str) -> list[str]:
    """The host nat lines tagged for ``lab_name``."""
    tag = comment_for(lab_name)
    return [
        line
        for line in host_nat_lines()
        if f"--comment {tag} " in line + " " or f'--comment "{tag}"' in line
    ]


def enable(lab_name: str, uplink: IPv4Network, host_ifname: str, state: HostState) -> None:
    """Turn host forwarding on (remembering the old value) and add the lab's MASQUERADE rule."""
    with state.locked() as data:
        if lab_name not in data["labs"]:
            data["labs"].append(lab_name)
        was = host_sysctl(IP_FORWARD)
        if was != "1":
            if data.get("ip_forward_was") is None:
                data["ip_forward_was"] = was
            host_sysctl(IP_FORWARD, "1")
        if not lab_rules_on_host(lab_name):
            if nf_tables_backend() and not host_has_nat_table():
                data["nat_table_created"] = True
            _run(
                "iptables",
                "-t",
                "nat",
                "-A",
                "POSTROUTING",
                *masquerade_spec(uplink, host_ifname, lab_name),
            )


def disable(lab_name: str, state: HostState) -> None:
    """Remove the lab's MASQUERADE rule; the last lab restores ip_forward and the nat table."""
    with state.locked() as data:
        for line in lab_rules_on_host(lab_name):
            args = line.split()[1:]  # drop "-A"
            args = [a.strip('"') for a in args]
            _run("iptables", "-t", "nat", "-D", *args, check=False)
        # Labs whose netns is gone (a crash) no longer need the host's forwarding.
        data["labs"] = [
            name for name in data["labs"] if name != lab_name and Path("/run/netns", name).exists()
        ]
        if data["labs"]:
            return
        was = data.pop("ip_forward_was", None)
        if was is not None:
            host_sysctl(IP_FORWARD, was)
        if data.pop("nat_table_created", False) and not host_nat_lines():
            _run("nft", "delete", "table", "ip", "nat", check=False)
