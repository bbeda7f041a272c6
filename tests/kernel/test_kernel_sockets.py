"""Sockets on a real lab: a container running busybox ``httpd -f -p 80`` published with
``-p 8080:80``, seen by the observer through sock_diag with the programs holding them.

The daemon is a real one (tests/kernel/test_engine_daemon.py's fixture): the container's
listener is httpd's in the container's netns, the published port's listener is the daemon's
proxy in the lab's netns. A connection from the lab shows as established on both legs.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from dataclasses import replace

import pytest

from dockerscope.kernel.model import Snapshot, Socket
from dockerscope.kernel.observer import Observer, Scope
from dockerscope.kernel.setns import in_netns
from dockerscope.kernel.sockets import owner_of
from tests.kernel.test_engine_daemon import RunningDaemon, daemon  # noqa: F401 (fixture)

pytestmark = pytest.mark.kernel


def _run_web(d: RunningDaemon) -> str:
    status, out = d.call(
        "POST",
        "/containers/create?name=web",
        {
            "Image": "busybox",
            "Cmd": ["httpd", "-f", "-p", "80", "-h", "/etc"],
            "ExposedPorts": {"80/tcp": {}},
            "HostConfig": {"PortBindings": {"80/tcp": [{"HostPort": "8080"}]}},
        },
    )
    assert status == 201, out
    cid = str(out["Id"])
    status, out = d.call("POST", f"/containers/{cid}/start")
    assert status == 204, out
    return cid


def _until(obs: Observer, ok: Callable[[Snapshot], bool], limit: float = 15.0) -> Snapshot:
    deadline = time.monotonic() + limit
    while True:
        snap = obs.snapshot()
        if ok(snap) or time.monotonic() > deadline:
            return snap
        time.sleep(0.2)


def _listener(snap: Snapshot, netns: str, port: int) -> Socket | None:
    return next(
        (
            s
            for s in snap.sockets
            if s.netns == netns and s.proto == "tcp" and s.state == "LISTEN"
            if s.local_port == port  # busybox httpd listens on [::] (taking IPv4 too)
        ),
        None,
    )


def _said(snap: Snapshot) -> list[str]:
    return [
        f"{s.netns} {s.proto}{s.family} {s.state} {s.local}:{s.local_port}"
        f" {s.remote}:{s.remote_port} {s.pid}/{s.command} {s.owner}"
        for s in snap.sockets
    ]


def test_published_port_shows_httpd_and_the_proxy_with_owners(daemon: RunningDaemon) -> None:  # noqa: F811
    d = daemon
    lab = d.lab
    cid = _run_web(d)
    # The test's lab lives under tmp_path: its netns dir and socket are there.
    scope = replace(
        Scope.lab(lab.name),
        netns_dirs=(str(lab.container_netns_dir),),
        api_socket=str(lab.socket),
    )
    with Observer(scope) as obs:
        snap = _until(
            obs, lambda s: _listener(s, "web", 80) is not None and _listener(s, lab.name, 8080)
        )
        web = _listener(snap, "web", 80)
        assert web is not None, _said(snap)
        assert web.command == "httpd" and web.pid is not None
        assert web.owner is not None and (web.owner.kind, web.owner.name) == ("container", "web")
        assert web.owner.id.startswith(cid[:12])
        proxy = _listener(snap, lab.name, 8080)
        assert proxy is not None
        assert proxy.pid == d.proc.pid  # the daemon holds its proxy's listener
        assert proxy.owner is not None and proxy.owner.kind == "port"
        assert proxy.owner.name == "8080/tcp -> web:80"
        assert proxy.inode and web.inode != proxy.inode

        # A connection from the lab: the client's leg to the proxy, the proxy's leg to httpd.
        client = in_netns(
            str(lab.netns_path), lambda: socket.create_connection(("127.0.0.1", 8080), 5)
        )
        try:
            port = client.getsockname()[1]

            def both_legs(s: Snapshot) -> bool:
                ends = {(x.netns, x.state, x.local_port, x.remote_port) for x in s.sockets}
                return (lab.name, "ESTAB", 8080, port) in ends and any(
                    x.netns == "web" and x.state == "ESTAB" and x.local_port == 80
                    for x in s.sockets
                )

            snap = _until(obs, both_legs)
            assert both_legs(snap), _said(snap)
            accepted = next(
                s for s in snap.sockets if s.netns == lab.name and s.remote_port == port
            )
            assert accepted.pid == d.proc.pid and accepted.remote == "127.0.0.1"
            inside = next(s for s in snap.sockets if s.netns == "web" and s.state == "ESTAB")
            assert inside.command == "httpd" and inside.remote.endswith("172.17.0.1")
            assert inside.owner is not None and inside.owner.name == "web"
        finally:
            client.close()

    # The trace feature's question: who listens there?
    found = owner_of(str(lab.container_netns_dir / "web"), "tcp", "172.17.0.2", 80)
    assert found is not None and found.command == "httpd" and found.container == "web"
    netns_path = str(lab.netns_path)
    by_proxy = owner_of(netns_path, "tcp", "127.0.0.1", 8080)
    assert by_proxy is not None and by_proxy.pid == d.proc.pid and by_proxy.container is None
    assert owner_of(netns_path, "tcp", "127.0.0.1", 8099) is None
    assert owner_of(netns_path, "udp", "", 8080) is None
