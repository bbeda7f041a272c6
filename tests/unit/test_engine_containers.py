"""The container manager's pieces that need no kernel: the exited state, waiting during an
exit's cleanup, the /etc files, process facts and the stdin pump."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from dockerscope.engine.api.routes_containers import _pump_stdin
from dockerscope.engine.containers import stopping
from dockerscope.engine.containers.exiting import exited
from dockerscope.engine.containers.model import (
    Container,
    ContainerConfig,
    Endpoint,
    HostSettings,
    State,
)
from dockerscope.engine.containers.networking import ContainerNetworking
from dockerscope.engine.containers.registry import Registry
from dockerscope.engine.containers.starting import _hosts, _write_etc
from dockerscope.engine.containers.store import ContainerStore
from dockerscope.engine.events import EventBus
from dockerscope.engine.network.etcfiles import HOSTS_HEADER, resolv_conf_content
from dockerscope.engine.paths import Lab
from dockerscope.engine.procinfo import (
    pid_alive,
    pidns_inode,
    pids_in_pidns,
    proc_start_time,
)


def _container(**host: Any) -> Container:
    return Container(
        id="c" * 64,
        name="web",
        created=1.0,
        image_id="sha256:" + "ab" * 32,
        config=ContainerConfig(image="busybox", hostname="web1", domainname=""),
        host=HostSettings(**host),
    )


def test_exited_clears_what_only_a_running_container_has() -> None:
    running = replace(
        _container(),
        sandbox_key="/run/x/netns/web",
        ports=(("80/tcp", "0.0.0.0", "8080"),),
        state=State(status="running", pid=42, pid_start=7, started_at=5.0),
    )
    c = exited(running, 137, oom_killed=True)
    assert (c.state.status, c.state.pid, c.state.exit_code) == ("exited", 0, 137)
    assert c.state.oom_killed and c.state.error == "" and c.state.finished_at
    assert c.state.started_at == 5.0 and c.state.pid_start == 7
    assert (c.sandbox_key, c.ports) == ("", ())
    gone = exited(running, 255, error="ended while the daemon was down")
    assert gone.state.error == "ended while the daemon was down" and not gone.state.oom_killed


@pytest.fixture
def reg(tmp_path: Path) -> Registry:
    lab = Lab.named("tunit", tmp_path / "data", tmp_path / "run")
    return Registry(
        lab=lab,
        images=None,  # type: ignore[arg-type]  # not reached by these tests
        runtime=None,  # type: ignore[arg-type]
        events=EventBus(),
        net=ContainerNetworking(lab, None),
        store=ContainerStore(tmp_path / "containers"),
    )


async def _exit_recorded_cleanup_pending(reg: Registry) -> asyncio.Event:
    """A container whose exit (code 3) is recorded and whose cleanup task still runs, with
    its exit future already answered: the moment a wait or a remove may arrive."""
    c = exited(_container(), 3)
    reg.containers[c.id] = c
    reg.exit_future(c.id).set_result(3)
    cleanup_done = asyncio.Event()
    reg.finishing[c.id] = asyncio.get_running_loop().create_task(cleanup_done.wait())  # type: ignore[arg-type]
    return cleanup_done


async def test_wait_during_the_cleanup_answers_once_it_is_done(reg: Registry) -> None:
    cleanup_done = await _exit_recorded_cleanup_pending(reg)
    waiting = asyncio.ensure_future(stopping.wait(reg, "web"))
    await asyncio.sleep(0.05)
    assert not waiting.done()  # the cleanup goes first
    cleanup_done.set()
    assert await asyncio.wait_for(waiting, 2) == 3


async def test_await_exit_during_the_cleanup_waits_for_it_only(reg: Registry) -> None:
    cleanup_done = await _exit_recorded_cleanup_pending(reg)
    waiting = asyncio.ensure_future(stopping.await_exit(reg, "c" * 64))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    cleanup_done.set()
    await asyncio.wait_for(waiting, 2)
    # Not running at all: at once.
    await asyncio.wait_for(stopping.await_exit(reg, "nosuch"), 1)


def test_hosts_of_a_container_with_extra_hosts_and_a_domain() -> None:
    c = _container(extra_hosts=("db:10.0.0.5", "cache:10.0.0.6"))
    ep = Endpoint("c1", "web1", "n1", "bridge", "e1", ip_address="172.17.0.2")
    assert _hosts(c, (ep,)) == HOSTS_HEADER + "10.0.0.5\tdb\n10.0.0.6\tcache\n172.17.0.2\tweb1\n"
    assert _hosts(c, ()) == HOSTS_HEADER + "10.0.0.5\tdb\n10.0.0.6\tcache\n"
    named = replace(c, config=replace(c.config, hostname="h", domainname="lan"))
    assert _hosts(named, (ep,)).endswith("172.17.0.2\th.lan h\n")


def test_etc_files_are_written_and_listed_for_the_runtime(tmp_path: Path) -> None:
    c = _container(dns=("1.1.1.1",), dns_search=("corp",))
    pairs = dict(_write_etc(tmp_path, c, ()))
    assert pairs == {
        "/etc/hostname": str(tmp_path / "hostname"),
        "/etc/hosts": str(tmp_path / "hosts"),
        "/etc/resolv.conf": str(tmp_path / "resolv.conf"),
    }
    assert (tmp_path / "hostname").read_text() == "web1\n"
    assert (tmp_path / "resolv.conf").read_text() == "nameserver 1.1.1.1\nsearch corp\n"
    assert (tmp_path / "hosts").read_text() == HOSTS_HEADER


def test_resolv_conf_fallback_is_left_out_for_the_host_network() -> None:
    local_only = "nameserver 127.0.0.53\noptions edns0\n"
    assert resolv_conf_content(local_only, fallback=False) == "options edns0\n"
    assert resolv_conf_content(local_only).endswith("nameserver 8.8.8.8\nnameserver 8.8.4.4\n")
    assert resolv_conf_content("", dns_options=("ndots:2",)) == "options ndots:2\n"


def test_process_facts_of_a_live_and_a_reaped_process() -> None:
    me = os.getpid()
    assert pid_alive(me) and proc_start_time(me) > 0
    assert me in pids_in_pidns(pidns_inode(me))
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert not pid_alive(child.pid)
    assert proc_start_time(child.pid) == 0 and pidns_inode(child.pid) is None


class _Client:
    """A hijacked stream whose client sends ``chunks`` and then EOF."""

    def __init__(self, *chunks: bytes) -> None:
        self.chunks = list(chunks)

    async def read(self) -> bytes:
        return self.chunks.pop(0) if self.chunks else b""


async def test_stdin_pump_ends_stdin_on_eof_or_detaches_on_the_keys() -> None:
    got: list[bytes] = []
    ended: list[bool] = []
    await _pump_stdin(_Client(b"ab", b"c"), got.append, lambda: ended.append(True))  # type: ignore[arg-type]
    assert (b"".join(got), ended) == (b"abc", [True])

    got.clear()
    q: asyncio.Queue[Any] = asyncio.Queue()
    detach = b"\x10\x11"  # ctrl-p,ctrl-q
    client = _Client(b"ls\n\x10", b"\x11", b"never")
    await _pump_stdin(client, got.append, lambda: ended.append(True), detach, q)  # type: ignore[arg-type]
    assert b"".join(got) == b"ls\n" and ended == [True] and q.get_nowait() is None
    assert client.chunks == [b"never"]  # the session ended at the keys

    got.clear()
    await _pump_stdin(_Client(b"x"), got.append, None)  # type: ignore[arg-type]
    assert got == [b"x"]  # no on_eof: an attach without StdinOnce keeps stdin open
