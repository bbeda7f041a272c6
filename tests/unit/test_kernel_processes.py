"""Namespace links and cgroup files of /proc, from captured output and our own process."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dockerscope.kernel.processes import (
    NS_TYPES,
    parse_cgroup_file,
    parse_ns_link,
    parse_ns_listing,
    parse_status,
    read_process,
)

DATA = Path(__file__).parent.parent / "data" / "kernel"


def test_captured_listing():
    ns = dict(parse_ns_listing((DATA / "proc-ns.txt").read_text()))
    assert set(ns) == set(NS_TYPES)
    assert ns["net"] == 4026532391 and ns["uts"] == 4026532384
    assert "pid_for_children" not in ns


def test_ns_link():
    assert parse_ns_link("net:[4026531840]") == ("net", 4026531840)
    with pytest.raises(ValueError):
        parse_ns_link("/proc/1/ns/net")


def test_cgroup_file():
    v1 = "9:name=systemd:/\n4:memory:/dockerscope/lab/abc\n0::/\n"
    assert parse_cgroup_file(v1) == "/dockerscope/lab/abc"
    assert (
        parse_cgroup_file("0::/system.slice/docker-abc.scope\n") == "/system.slice/docker-abc.scope"
    )
    assert parse_cgroup_file("0::/\n") == "/"


# The parts of a /proc/<pid>/status the observer reads, as a Docker container's PID 1 has them.
CONTAINER_STATUS = """\
Name:\tsleep
Umask:\t0022
State:\tS (sleeping)
Pid:\t4242
CapInh:\t00000000a80425fb
CapPrm:\t00000000a80425fb
CapEff:\t00000000a80425fb
CapBnd:\t00000000a80425fb
CapAmb:\t0000000000000000
NoNewPrivs:\t1
Seccomp:\t2
Seccomp_filters:\t1
Speculation_Store_Bypass:\tthread force mitigated
"""


def test_status_seccomp_and_capeff():
    assert parse_status(CONTAINER_STATUS) == (2, 0xA80425FB)
    host_root = "CapEff:\t000001ffffffffff\nSeccomp:\t0\n"
    assert parse_status(host_root) == (0, 0x1FFFFFFFFFF)
    # An old kernel without the Seccomp line, or a garbled one: None, not a crash.
    assert parse_status("Name:\tx\nCapEff:\tzz\n") == (None, None)


def test_our_own_process():
    p = read_process(os.getpid())
    assert p is not None and p.pid == os.getpid()
    assert p.ns("net") == os.stat("/proc/self/ns/net").st_ino
    assert p.ns("nonsense") is None
    status = Path("/proc/self/status").read_text()
    assert (p.seccomp, p.cap_eff) == parse_status(status)
    assert p.seccomp is not None and p.cap_eff is not None
    assert read_process(2**22 + 12345) is None
