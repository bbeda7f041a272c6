"""Packet tracing in a real lab: a published port's DNAT named with its owner, a container's
ping to its gateway, and no tracing table left after a trace, a SIGKILLed tracer or a dead
tracer's table without the owner flag. Traffic stays inside the lab's namespaces."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from dockerscope.kernel.setns import in_netns
from dockerscope.kernel.trace import nftbuild, session
from dockerscope.kernel.trace.filters import parse
from dockerscope.kernel.trace.model import Trace
from tests.kernel.test_engine_daemon import RunningDaemon, daemon  # noqa: F401 - fixture

pytestmark = pytest.mark.kernel


@contextmanager
def tracing(ns_path: str, text: str) -> Iterator[list[Trace]]:
    """A trace running in a thread while the body sends traffic; its traces, once it ended."""
    got: list[Trace] = []
    done = threading.Event()
    tracer = session.TraceSession(ns_path, "lab:test", parse(text))
    tracer.start()
    t = threading.Thread(target=lambda: got.extend(tracer.traces(stop=done.is_set)))
    t.start()
    try:
        yield got
        time.sleep(0.3)  # the last packet's events, then the quiet period
    finally:
        done.set()
        t.join(10)
        tracer.close()
    assert not t.is_alive()


def lab_ip(ns_path: str) -> str:
    out = subprocess.run(
        ["nsenter", f"--net={ns_path}", "ip", "-4", "-o", "addr", "show", "eth0"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.split()[3].split("/")[0]


def http_code(ns_path: str, url: str) -> str:
    return subprocess.run(
        [
            "nsenter",
            f"--net={ns_path}",
            "curl",
            "-s",
            "-m",
            "3",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            url,
        ],
        capture_output=True,
        text=True,
    ).stdout


def test_trace_of_a_published_port_names_the_dnat_rule_and_rewrite(daemon: RunningDaemon) -> None:  # noqa: F811
    ns = str(daemon.lab.netns_path)
    cid = daemon.run(
        "httpd",
        "-f",
        "-p",
        "80",
        HostConfig={"PortBindings": {"80/tcp": [{"HostPort": "8080"}]}},
    )
    _, info = daemon.call("GET", f"/containers/{cid}/json")
    cip = info["NetworkSettings"]["IPAddress"]
    url = f"http://{lab_ip(ns)}:8080/"
    for _ in range(50):  # httpd listening
        if http_code(ns, url) not in ("", "000"):
            break
        time.sleep(0.1)
    with tracing(ns, "tcp dport 8080") as traces:
        assert http_code(ns, url) == "404"  # busybox httpd with no files: reached all the same
    dnat = f"-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination {cip}:80"
    first = next(t for t in traces if any(h.rule == dnat for h in t.hops))
    hop = next(h for h in first.hops if h.rule == dnat)
    assert (hop.hook, hop.table, hop.chain, hop.verdict) == ("output", "nat", "DOCKER", "accept")
    assert hop.owner == f"published port 8080/tcp -> {cip}:80"
    assert any(r.kind == "dnat" and r.after == f"{cip}:80" for r in first.rewrites)
    assert first.route is not None and first.route.oif == "docker0"
    assert first.route.route == "172.17.0.0/16 dev docker0"
    # the connection's later packets skip the nat chains; conntrack still shows the rewrite
    later = [t for t in traces if t is not first and t.first is not None]
    assert later and all(any(r.after == f"{cip}:80" for r in t.rewrites) for t in later)
    assert session.leftover_tables(ns) == []


def test_trace_of_a_ping_from_a_container_to_its_gateway(daemon: RunningDaemon) -> None:  # noqa: F811
    ns = str(daemon.lab.netns_path)
    with tracing(ns, "icmp") as traces:
        # the container stays up after its ping, so its veth (the bridge port) is still there
        cid = daemon.run("sh", "-c", "ping -c 1 -W 2 172.17.0.1 && sleep 30")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any(
            t.first is not None and t.first.icmp_type == 0 for t in list(traces)
        ):
            time.sleep(0.05)
    _, info = daemon.call("GET", f"/containers/{cid}/json")
    cip = info["NetworkSettings"]["IPAddress"]
    daemon.call("POST", f"/containers/{cid}/kill")
    req = next(t for t in traces if t.first is not None and t.first.icmp_type == 8)
    assert (req.first.src, req.first.dst) == (cip, "172.17.0.1")
    assert req.hops[0].hook == "prerouting" and req.hops[0].iif == "docker0"
    assert "-A DOCKER -i docker0 -j RETURN" in [h.rule for h in req.hops]
    assert req.delivered_to is not None and req.delivered_to.address == "172.17.0.1"
    reply = next(t for t in traces if t.first is not None and t.first.icmp_type == 0)
    assert reply.first.dst == cip and reply.hops[0].hook == "output"
    assert reply.route is not None and reply.route.oif == "docker0"
    assert reply.route.bridge_port.startswith("veth")  # the container's port, from the FDB
    assert session.leftover_tables(ns) == []


def test_sigkilled_tracer_leaves_no_table(daemon: RunningDaemon) -> None:  # noqa: F811
    ns = str(daemon.lab.netns_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "dockerscope", "trace", "--netns", ns, "icmp"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("tracing 'icmp'"), line + (proc.stderr.read() if proc.stderr else "")
        assert session.leftover_tables(ns) == [nftbuild.table_name(proc.pid)]
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    for _ in range(20):  # the kernel drops an owned table when its socket closes
        if not session.leftover_tables(ns):
            break
        time.sleep(0.05)
    assert session.leftover_tables(ns) == []
    out = subprocess.run(
        [sys.executable, "-m", "dockerscope", "trace", "--netns", ns, "--cleanup"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.startswith("removed 0 tracing table(s)")


def test_sigterm_removes_the_table_too(daemon: RunningDaemon) -> None:  # noqa: F811
    ns = str(daemon.lab.netns_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "dockerscope", "trace", "--netns", ns, "udp", "port", "53"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().startswith("tracing")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 128 + signal.SIGTERM
    assert session.leftover_tables(ns) == []


def test_a_dead_tracers_table_without_owner_flag_is_cleaned(daemon: RunningDaemon) -> None:  # noqa: F811
    ns = str(daemon.lab.netns_path)
    dead = subprocess.Popen(["true"])
    dead.wait()
    name = nftbuild.table_name(dead.pid)

    def add() -> None:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 12)
        try:
            sock.bind((0, 0))
            nftbuild.commit(sock, nftbuild.add_table_messages(name, parse("icmp"), owner=False))
        finally:
            sock.close()

    in_netns(ns, add)
    assert session.leftover_tables(ns) == [name]  # an old kernel's table outlives its tracer
    tracer = session.TraceSession(ns, "lab:test", parse("icmp"))
    tracer.start()  # a new trace clears it first
    try:
        assert tracer.removed_stale == [name]
        assert session.leftover_tables(ns) == [tracer.table]
    finally:
        tracer.close()
    assert session.leftover_tables(ns) == []


def test_legacy_iptables_rules_get_a_clear_refusal() -> None:
    script = (
        "import subprocess, sys\n"
        "subprocess.run(['iptables-legacy', '-t', 'nat', '-A', 'POSTROUTING', '-j', 'RETURN'],\n"
        "               check=True)\n"
        "from dockerscope.kernel.trace import session\n"
        "from dockerscope.kernel.trace.filters import parse\n"
        "try:\n"
        "    session.TraceSession(None, 'host', parse('icmp')).start()\n"
        "except session.TraceError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run(
        ["unshare", "--net", sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ},
    )
    assert "nf_tables backend" in out.stdout and "legacy" in out.stdout, out.stderr
