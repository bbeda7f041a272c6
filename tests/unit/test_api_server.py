"""The h11 server end to end over a unix socket, with a daemon built on fakes (no root)."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from dockerscope.engine.daemon import Daemon
from dockerscope.engine.images.errors import ImageNotFound
from dockerscope.engine.images.model import Image, ImageConfig
from dockerscope.engine.paths import Lab


class FakeImages:
    """One image, ``busybox``; nothing on disk."""

    def __init__(self) -> None:
        self.img = Image(
            id="sha256:" + "ab" * 32,
            repo_tags=("busybox:latest",),
            created="2026-01-01T00:00:00Z",
            config=ImageConfig(env=("PATH=/bin",), cmd=("sh",)),
            diff_ids=(),
            size=1000,
        )

    def get(self, ref: str) -> Image:
        if ref in ("busybox", "busybox:latest", self.img.id):
            return self.img
        raise ImageNotFound(f"No such image: {ref if ':' in ref else ref + ':latest'}")

    def list(self) -> list[Image]:
        return [self.img]

    def layer_dirs(self, image: Any) -> list[str]:
        return ["/nonexistent"]


class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=10)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(10)
        self.sock.connect(self.path)


@pytest.fixture
async def daemon(tmp_path: Path, lab_name: str) -> AsyncIterator[Daemon]:
    lab = Lab.named(lab_name, tmp_path / "data", tmp_path / "run")
    lab.run_root.mkdir(parents=True)
    d = Daemon(lab, images=FakeImages(), runtime=object(), use_network=False)
    server = await asyncio.start_unix_server(d.http.unix_handler(), path=str(lab.socket))
    try:
        yield d
    finally:
        server.close()
        d.events.close()
        d.tap.close()
        await d.http.close_connections()
        await server.wait_closed()


async def call(
    d: Daemon, method: str, path: str, body: Any = None, raw: bytes | None = None
) -> tuple[int, dict[str, str], bytes]:
    def go() -> tuple[int, dict[str, str], bytes]:
        c = UnixHTTP(str(d.lab.socket))
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        headers = {"Content-Type": "application/json"} if data is not None else {}
        c.request(method, path, body=data, headers=headers)
        r = c.getresponse()
        out = (r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
        c.close()
        return out

    return await asyncio.get_running_loop().run_in_executor(None, go)


async def test_ping_has_dockers_headers(daemon: Daemon) -> None:
    status, headers, body = await call(daemon, "GET", "/_ping")
    assert (status, body) == (200, b"OK")
    assert headers["api-version"] == "1.41"
    assert headers["docker-experimental"] == "false"
    assert headers["ostype"] == "linux"
    assert headers["server"].startswith("dockerscope/") and headers["server"].endswith("(linux)")
    assert headers["content-type"] == "text/plain; charset=utf-8"
    status, headers, body = await call(daemon, "HEAD", "/_ping")
    assert (status, body, headers["api-version"]) == (200, b"", "1.41")


async def test_version_and_info_fields(daemon: Daemon) -> None:
    status, _, body = await call(daemon, "GET", "/v1.41/version")
    v = json.loads(body)
    assert status == 200 and v["ApiVersion"] == "1.41" and v["Os"] == "linux"
    status, _, body = await call(daemon, "GET", "/info")
    info = json.loads(body)
    assert info["Name"] == daemon.lab.name
    assert info["Driver"] == "overlay2"
    assert info["Containers"] == 0 and info["Images"] == 1
    assert info["CgroupVersion"] in ("1", "2")
    # The lab's caps as daemon labels (this stand-in daemon has none: 0).
    assert info["Labels"] == [
        "dockerscope.max-containers=0",
        "dockerscope.max-memory=0",
        "dockerscope.max-pids=0",
    ]


async def test_errors_are_json_with_dockers_texts(daemon: Daemon) -> None:
    status, headers, body = await call(daemon, "GET", "/v1.41/containers/nosuch/json")
    assert status == 404
    assert headers["content-type"] == "application/json"
    assert body == b'{"message":"No such container: nosuch"}\n'
    status, _, body = await call(daemon, "POST", "/containers/create", {"Image": "nosuch"})
    assert (status, json.loads(body)) == (404, {"message": "No such image: nosuch:latest"})
    status, _, body = await call(daemon, "GET", "/v1.50/info")
    assert status == 400 and b"too new" in body


async def test_malformed_json_is_400_and_creates_nothing(daemon: Daemon) -> None:
    status, _, body = await call(daemon, "POST", "/containers/create", raw=b'{"Image": "busy')
    assert status == 400
    assert "malformed JSON" in json.loads(body)["message"]
    assert daemon.containers.containers == {}
    assert not daemon.lab.containers_dir.exists() or not any(daemon.lab.containers_dir.iterdir())


async def test_create_list_inspect_rename_remove(daemon: Daemon) -> None:
    status, _, body = await call(
        daemon, "POST", "/containers/create?name=web", {"Image": "busybox", "Labels": {"a": "1"}}
    )
    assert status == 201
    cid = json.loads(body)["Id"]
    assert len(cid) == 64
    status, _, body = await call(daemon, "GET", "/containers/json?all=1")
    [row] = json.loads(body)
    assert row["Names"] == ["/web"] and row["Status"] == "Created" and row["State"] == "created"
    assert row["Command"] == "sh"
    _, _, body = await call(daemon, "GET", "/containers/json")
    assert json.loads(body) == []  # not running
    filters = quote(json.dumps({"label": ["a=1"], "status": ["created"]}))
    _, _, body = await call(daemon, "GET", f"/containers/json?filters={filters}")
    assert [r["Id"] for r in json.loads(body)] == [cid]
    _, _, body = await call(daemon, "GET", f"/containers/{cid[:6]}/json")
    info = json.loads(body)
    assert info["Name"] == "/web" and info["Config"]["Hostname"] == cid[:12]
    assert info["State"]["Status"] == "created" and info["State"]["FinishedAt"].startswith("0001")
    assert info["Config"]["Env"] == ["PATH=/bin"]
    status, _, body = await call(
        daemon, "POST", "/containers/create?name=web", {"Image": "busybox"}
    )
    assert status == 409 and b"already in use" in body
    status, _, _ = await call(daemon, "POST", "/containers/web/rename?name=api")
    assert status == 204
    assert daemon.containers.get("api").id == cid
    status, _, _ = await call(daemon, "DELETE", f"/containers/{cid}")
    assert status == 204
    assert daemon.containers.containers == {}
    assert not (daemon.lab.containers_dir / cid).exists()


async def test_unsupported_flag_is_refused(daemon: Daemon) -> None:
    status, _, body = await call(
        daemon,
        "POST",
        "/containers/create",
        {"Image": "busybox", "HostConfig": {"Privileged": True}},
    )
    assert (status, json.loads(body)) == (
        400,
        {"message": "not supported by dockerscope: --privileged"},
    )


def _raw_request(path: str, request: bytes) -> tuple[bytes, socket.socket]:
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(path)
    s.sendall(request)
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        if not chunk:
            break
        head += chunk
    return head, s


async def test_attach_hijacks_with_101_or_200(daemon: Daemon) -> None:
    _, _, body = await call(daemon, "POST", "/containers/create?name=web", {"Image": "busybox"})
    cid = json.loads(body)["Id"]
    loop = asyncio.get_running_loop()
    upgrade = (
        f"POST /v1.41/containers/{cid}/attach?stream=1&stdout=1 HTTP/1.1\r\nHost: x\r\n"
        "Connection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n"
    ).encode()
    head, s1 = await loop.run_in_executor(None, _raw_request, str(daemon.lab.socket), upgrade)
    assert head.startswith(b"HTTP/1.1 101 UPGRADED\r\n")
    assert b"Content-Type: application/vnd.docker.raw-stream\r\n" in head
    assert b"Connection: Upgrade\r\n" in head and b"Upgrade: tcp\r\n" in head
    plain = (
        f"POST /containers/{cid}/attach?stream=1&stdout=1 HTTP/1.1\r\nHost: x\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()
    head, s2 = await loop.run_in_executor(None, _raw_request, str(daemon.lab.socket), plain)
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    # Removing the container ends both streams: the daemon closes the connections.
    await call(daemon, "DELETE", f"/containers/{cid}")
    for s in (s1, s2):
        assert await loop.run_in_executor(None, s.recv, 100) == b""
        s.close()


async def test_wait_removed_returns_when_the_container_goes(daemon: Daemon) -> None:
    _, _, body = await call(daemon, "POST", "/containers/create", {"Image": "busybox"})
    cid = json.loads(body)["Id"]
    waiting = asyncio.ensure_future(
        call(daemon, "POST", f"/containers/{cid}/wait?condition=removed")
    )
    await asyncio.sleep(0.2)
    assert not waiting.done()
    await call(daemon, "DELETE", f"/containers/{cid}")
    status, _, body = await asyncio.wait_for(waiting, 10)
    assert (status, json.loads(body)) == (200, {"Error": None, "StatusCode": 0})


async def test_events_since_until(daemon: Daemon) -> None:
    await call(daemon, "POST", "/containers/create?name=ev1", {"Image": "busybox"})
    await call(daemon, "DELETE", "/containers/ev1")
    until = daemon.events.recent[-1].time_nano / 1e9 + 0.001
    _, _, body = await call(daemon, "GET", f"/events?since=0&until={until}")
    events = [json.loads(line) for line in body.splitlines()]
    assert [e["Action"] for e in events] == ["create", "destroy"]
    assert events[0]["Type"] == "container" and events[0]["Actor"]["Attributes"]["name"] == "ev1"
    assert events[0]["timeNano"] // 10**9 == events[0]["time"]
    flt = quote(json.dumps({"event": ["destroy"]}))
    _, _, body = await call(daemon, "GET", f"/events?since=0&until={until}&filters={flt}")
    assert [json.loads(line)["Action"] for line in body.splitlines()] == ["destroy"]


async def test_traffic_tap_records_calls_but_not_itself(daemon: Daemon) -> None:
    await call(daemon, "GET", "/_ping")
    await call(daemon, "GET", "/v1.41/containers/nosuch/json")

    def read_two() -> list[dict[str, Any]]:
        c = UnixHTTP(str(daemon.lab.socket))
        c.request("GET", "/dockerscope/traffic")
        r = c.getresponse()
        lines = [json.loads(r.readline()) for _ in range(2)]
        c.close()
        return lines

    calls = await asyncio.get_running_loop().run_in_executor(None, read_two)
    assert [(x["method"], x["path"], x["status"]) for x in calls] == [
        ("GET", "/_ping", 200),
        ("GET", "/v1.41/containers/nosuch/json", 404),
    ]
    assert calls[0]["client_pid"] == os.getpid()
    assert calls[0]["client_uid"] == os.getuid()
    assert calls[0]["transport"] == "unix"
    assert "No such container" in calls[1]["response_preview"]
    assert all("traffic" not in c.path for c in daemon.tap.calls)


async def test_keep_alive_serves_several_requests_on_one_connection(daemon: Daemon) -> None:
    def two() -> list[int]:
        c = UnixHTTP(str(daemon.lab.socket))
        out = []
        for path in ("/_ping", "/version", "/containers/json"):
            c.request("GET", path)
            r = c.getresponse()
            r.read()
            out.append(r.status)
        c.close()
        return out

    assert await asyncio.get_running_loop().run_in_executor(None, two) == [200, 200, 200]


async def test_attach_ends_when_the_client_goes_away(daemon: Daemon) -> None:
    _, _, body = await call(daemon, "POST", "/containers/create?name=quiet", {"Image": "busybox"})
    cid = json.loads(body)["Id"]
    request = (
        f"POST /containers/{cid}/attach?stream=1&stdout=1 HTTP/1.1\r\nHost: x\r\n"
        "Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
    ).encode()
    loop = asyncio.get_running_loop()
    head, s = await loop.run_in_executor(None, _raw_request, str(daemon.lab.socket), request)
    assert head.startswith(b"HTTP/1.1 101")
    assert len(daemon.containers.attached[cid]) == 1
    s.close()
    for _ in range(50):
        if not daemon.containers.attached[cid]:
            break
        await asyncio.sleep(0.05)
    assert daemon.containers.attached[cid] == set()
    await call(daemon, "DELETE", f"/containers/{cid}")


# -- bad input is a 400 with a short message, never a 500 with Python's text (issue 17) ------


def _read_all(s: socket.socket) -> bytes:
    out = b""
    while True:
        try:
            chunk = s.recv(65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    return out


async def _raw(d: Daemon, request: bytes) -> bytes:
    def go() -> bytes:
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(10)
        s.connect(str(d.lab.socket))
        s.sendall(request)
        s.shutdown(socket.SHUT_WR)
        try:
            return _read_all(s)
        finally:
            s.close()

    return await asyncio.get_running_loop().run_in_executor(None, go)


@pytest.mark.parametrize("depth", [101, 1000, 100_000])
async def test_deeply_nested_json_is_400(daemon: Daemon, depth: int) -> None:
    raw = b"[" * depth + b"]" * depth
    status, _, body = await call(daemon, "POST", "/containers/create", raw=raw)
    assert status == 400
    assert json.loads(body)["message"].endswith("nested deeper than 100")
    # In a query (kept under the 64 KiB request-line limit, past which the answer is a 431).
    status, _, body = await call(daemon, "GET", "/containers/json?filters=" + "%5B" * 5000)
    assert status == 400 and "recursion" not in body.decode()
    assert (await call(daemon, "GET", "/_ping"))[0] == 200


@pytest.mark.parametrize(
    "chunks",
    [
        b"zz\r\nabc\r\n0\r\n\r\n",  # bad hex
        b"-3\r\nabc\r\n0\r\n\r\n",  # negative size
        b"0x3\r\nabc\r\n0\r\n\r\n",  # 0x prefix
        b"3\r\nabcXY0\r\n\r\n",  # missing CRLF after the data
        b"3\r\nabc\r\n0\r\nbad trailer\r\n\r\n",  # bad trailer
        b"3" * 70_000 + b"\r\n",  # a chunk line too long
    ],
)
async def test_bad_chunked_bodies_are_400(daemon: Daemon, chunks: bytes) -> None:
    head = (
        b"POST /containers/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    answer = await _raw(daemon, head + chunks)
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.split()[1] == b"400", answer[:300]
    body = rest.partition(b"\r\n\r\n")[2]
    message = json.loads(body)["message"]
    assert message.startswith("bad HTTP request") and "Traceback" not in message
    assert daemon.containers.containers == {}
    assert (await call(daemon, "GET", "/_ping"))[0] == 200


async def test_wrong_types_inside_known_fields_are_400(daemon: Daemon) -> None:
    status, _, body = await call(
        daemon,
        "POST",
        "/containers/create",
        {"Image": "busybox", "HostConfig": {"PortBindings": {"80/tcp": 1}}},
    )
    assert status == 400, body
    assert "object" not in json.loads(body)["message"]
    assert daemon.containers.containers == {}


async def test_name_filter_is_a_safe_regex(daemon: Daemon) -> None:
    filters = quote(json.dumps({"name": ["("]}))
    status, _, body = await call(daemon, "GET", f"/containers/json?all=1&filters={filters}")
    assert status == 400 and "missing )" in json.loads(body)["message"]
    # A pattern that takes exponential time in a backtracking engine answers at once.
    status, _, body = await call(
        daemon, "POST", "/containers/create?name=" + "a" * 30, {"Image": "busybox"}
    )
    assert status == 201, body
    evil = quote(json.dumps({"name": ["^(a|aa)*(a|aa)*(a|aa)*$"]}))
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    status, _, body = await call(daemon, "GET", f"/containers/json?all=1&filters={evil}")
    assert status == 200 and loop.time() - t0 < 5


@pytest.mark.skipif(os.geteuid() != 0, reason="the socket's group is made and given by root")
async def test_socket_has_its_mode_from_the_moment_it_appears(tmp_path: Path, lab_name: str):
    import threading

    lab = Lab.named(lab_name, tmp_path / "data", tmp_path / "run")
    lab.run_root.mkdir(parents=True)
    d = Daemon(lab, images=FakeImages(), runtime=object(), use_network=False)
    seen: set[int] = set()
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            with contextlib.suppress(OSError):
                seen.add(os.stat(lab.socket).st_mode & 0o777)

    old = os.umask(0)  # the most permissive umask: a chmod after bind would leave a gap
    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        await d.listen_unix()
        await asyncio.sleep(0.05)
    finally:
        stop.set()
        watcher.join()
        os.umask(old)
    try:
        assert seen == {0o660}
        assert sorted(p.name for p in lab.run_root.iterdir()) == [lab.socket.name]
        status, _, _ = await call(d, "GET", "/_ping")
        assert status == 200
    finally:
        for s in d.servers:
            s.close()
        d.events.close()
        d.tap.close()
