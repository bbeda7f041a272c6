"""A fake Docker Engine API on a unix socket, for the client's unit tests.

It records every request (method, path, JSON body) and answers with canned JSON modelled on
shared/reference/docker-20.10/09-api-*.txt. Containers can be scripted: what they print on
stdout/stderr, their exit code, and whether they echo stdin back (for ``run -i``).
"""

from __future__ import annotations

import json
import re
import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from dockerscope.client.streams import frame

NOW = int(time.time())
CID = "1e04fc43caf000c96663f1f24fa40aefda72af147ca983dc24c3792abf21e331"
NEW_ID = "42452cb1e3fcbe196b28613ba6a1c93c96909819c5f4abcdfdc23bf4ab37cc8d"
IMAGE_ID = "sha256:92452fce0bd2da1e937961ed075458ec2dac18ae337c0149dc2cb8b3da50a8a7"

CONTAINERS = [
    {
        "Id": CID,
        "Names": ["/web"],
        "Image": "busybox:local",
        "ImageID": IMAGE_ID,
        "Command": "sleep 600",
        "Created": NOW - 3,
        "Ports": [
            {"IP": "0.0.0.0", "PrivatePort": 8080, "PublicPort": 8080, "Type": "tcp"},
            {"IP": "::", "PrivatePort": 8080, "PublicPort": 8080, "Type": "tcp"},
        ],
        "Labels": {},
        "State": "running",
        "Status": "Up 2 seconds",
        "HostConfig": {"NetworkMode": "default"},
        "Mounts": [],
    },
    {
        "Id": NEW_ID,
        "Names": ["/quizzical_hopper"],
        "Image": "busybox",
        "ImageID": IMAGE_ID,
        "Command": "sh -c 'while true; do echo hello; sleep 1; done'",
        "Created": NOW - 3 * 3600,
        "Ports": [],
        "Labels": {},
        "State": "exited",
        "Status": "Exited (0) 2 hours ago",
        "HostConfig": {"NetworkMode": "default"},
        "Mounts": [],
    },
]

IMAGES = [
    {
        "Containers": -1,
        "Created": NOW - 20 * 60,
        "Id": IMAGE_ID,
        "Labels": None,
        "ParentId": "",
        "RepoDigests": None,
        "RepoTags": ["alpine:3.10", "busybox:local"],
        "SharedSize": -1,
        "Size": 1984132,
        "VirtualSize": 1984132,
    }
]

NETWORKS = [
    {
        "Name": "none",
        "Id": "8784077176a083e68f3989de0d6f4cb2b7bafe07bd0587590938e2bcf31e4e80",
        "Scope": "local",
        "Driver": "null",
    },
    {
        "Name": "bridge",
        "Id": "c04a2366faa45fb8c40b70654f07a5de29764200ee94ef4fbfddc67406ae124c",
        "Scope": "local",
        "Driver": "bridge",
    },
    {
        "Name": "host",
        "Id": "f1edce28894af77137be2aa8929f1d9fe5ddf287a2fabf0aa1db7ec4ad8a74f8",
        "Scope": "local",
        "Driver": "host",
    },
    {
        "Name": "my-new-network",
        "Id": "41bf348c9240f01c593d5572667fc549c777d18e058dd5e8ee6d271ce686f37c",
        "Scope": "local",
        "Driver": "bridge",
    },
]

VERSION = {
    "Platform": {"Name": ""},
    "Version": "20.10.24+dfsg1",
    "ApiVersion": "1.41",
    "MinAPIVersion": "1.12",
    "GitCommit": "5d6db84",
    "GoVersion": "go1.19.8",
    "Os": "linux",
    "Arch": "amd64",
    "KernelVersion": "6.18.44",
    "BuildTime": "2026-05-07T21:09:36.000000000+00:00",
    "Components": [{"Name": "Engine", "Version": "20.10.24+dfsg1", "Details": {}}],
}


@dataclass
class Behaviour:
    """What a fake container does once started."""

    stdout: bytes = b""
    stderr: bytes = b""
    exit_code: int = 0
    echo_stdin: bool = False
    tty: bool = False


@dataclass
class Call:
    method: str
    path: str  # with query
    body: Any
    headers: dict[str, str]

    @property
    def line(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.path).query)


@dataclass
class FakeDocker:
    """State of the fake daemon; ``calls`` is every request in arrival order."""

    socket_path: str
    calls: list[Call] = field(default_factory=list)
    images: set[str] = field(default_factory=lambda: {"busybox:latest", "busybox:local"})
    behaviour: Behaviour = field(default_factory=Behaviour)
    exited: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: Any = None

    @property
    def lines(self) -> list[str]:
        return [c.line for c in self.calls]

    def find(self, method: str, prefix: str) -> Call:
        for c in self.calls:
            if c.method == method and c.path.startswith(prefix):
                return c
        raise AssertionError(f"no {method} {prefix}* in {self.lines}")


def _json(handler: BaseHTTPRequestHandler, status: int, obj: Any) -> None:
    data = json.dumps(obj).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Api-Version", "1.41")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


def _empty(handler: BaseHTTPRequestHandler, status: int = 204) -> None:
    handler.send_response(status)
    handler.send_header("Api-Version", "1.41")
    handler.send_header("Content-Length", "0")
    handler.end_headers()


def _no_such(handler: BaseHTTPRequestHandler, what: str, name: str) -> None:
    _json(handler, 404, {"message": f"No such {what}: {name}"})


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fake: FakeDocker

    def log_message(self, format: str, *args: Any) -> None:  # quiet (and unix sockets
        pass  # have no client address to log)

    def address_string(self) -> str:
        return "unix"

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = b""
        if length:
            raw = self.rfile.read(length)
        elif "chunked" in self.headers.get("Transfer-Encoding", ""):
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    break
                raw += self.rfile.read(size)
                self.rfile.readline()
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return raw

    def _handle(self) -> None:
        body = self._body()
        call = Call(self.command, self.path, body, {k.lower(): v for k, v in self.headers.items()})
        with self.fake.lock:
            self.fake.calls.append(call)
        path = re.sub(r"^/v1\.\d+", "", urlsplit(self.path).path)
        q = call.query
        m = self.command
        f = self.fake
        if path == "/_ping":
            if m == "HEAD":
                return _empty(self, 200)
            data = b"OK"
            self.send_response(200)
            self.send_header("Api-Version", "1.41")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(data)
            return None
        if path == "/version":
            return _json(self, 200, VERSION)
        if path == "/info":
            return _json(
                self,
                200,
                {
                    "Containers": 2,
                    "ContainersRunning": 1,
                    "Images": 1,
                    "ServerVersion": "20.10.24+dfsg1",
                    "MemTotal": 25276063744,
                    "NCPU": 2,
                    "Name": "vm",
                    "Driver": "overlay2",
                },
            )
        if path == "/containers/json":
            items = CONTAINERS if q.get("all") == ["1"] else CONTAINERS[:1]
            return _json(self, 200, items)
        if path == "/containers/create":
            image = (body or {}).get("Image", "")
            ref = image if ":" in image else image + ":latest"
            if ref not in f.images:
                return _no_such(self, "image", ref)
            return _json(self, 201, {"Id": NEW_ID, "Warnings": []})
        if path == "/images/create" and m == "POST" and q.get("fromSrc") == ["-"]:
            return self._json_lines([{"status": "sha256:" + "d" * 64}])
        if path == "/images/load":
            return self._json_lines([{"stream": "Loaded image: busybox:latest\n"}])
        if path == "/events":
            return self._json_lines(
                [
                    {
                        "Type": "container",
                        "Action": "start",
                        "timeNano": 1_700_000_000_000_000_000,
                        "Actor": {"ID": CID, "Attributes": {"name": "web"}},
                    },
                    {
                        "Type": "network",
                        "Action": "create",
                        "timeNano": 1_700_000_001_000_000_000,
                        "Actor": {"ID": "n1", "Attributes": {"name": "my-new-network"}},
                    },
                ]
            )
        if path == "/commit":
            return _json(self, 201, {"Id": "sha256:" + "e" * 64})
        mimg = re.fullmatch(r"/images/([^/]+(?:/[^/]+)?)/(get|tag|history|json)", path)
        if mimg:
            name, what = mimg.groups()
            if name not in ("busybox", "busybox:latest", "busybox:local", IMAGE_ID):
                return _no_such(self, "image", name)
            if what == "get":
                data = b"TARDATA" * 1000
                self.send_response(200)
                self.send_header("Content-Type", "application/x-tar")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return None
            if what == "tag":
                return _empty(self, 201)
            if what == "history":
                return _json(
                    self,
                    200,
                    [
                        {
                            "Id": IMAGE_ID,
                            "Created": NOW - 60,
                            "CreatedBy": "dockerscope: busybox from busybox-static",
                            "Size": 1984132,
                            "Comment": "built-in",
                        }
                    ],
                )
            return _json(self, 200, {"Id": IMAGE_ID, "RepoTags": ["busybox:latest"]})
        mrmi = re.fullmatch(r"/images/([^/]+)", path)
        if mrmi and m == "DELETE":
            if mrmi.group(1) != "mine:3":
                return _json(
                    self,
                    409,
                    {"message": "conflict: unable to remove repository reference (must force)"},
                )
            return _json(self, 200, [{"Untagged": "mine:3"}, {"Deleted": IMAGE_ID}])
        if path == "/images/create" and m == "POST":
            ref = q["fromImage"][0] + ":" + q.get("tag", ["latest"])[0]
            if not ref.startswith("busybox"):
                return _json(self, 404, {"message": f"{ref}: not available offline"})
            f.images.add(ref)
            msgs = [
                {"status": "Pulling from library/busybox", "id": "latest"},
                {
                    "status": "Building",
                    "progressDetail": {"current": 1, "total": 2},
                    "progress": "[=>  ]",
                    "id": "busybox",
                },
                {
                    "status": "Building",
                    "progressDetail": {"current": 2, "total": 2},
                    "progress": "[===>]",
                    "id": "busybox",
                },
                {"status": f"Status: Downloaded newer image for {ref}"},
            ]
            data = b"".join(json.dumps(x).encode() + b"\r\n" for x in msgs)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for piece in (data[:7], data[7:]):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
            return None
        if path == "/images/json":
            return _json(self, 200, IMAGES)
        if path == "/networks" and m == "GET":
            return _json(self, 200, NETWORKS)
        if path == "/networks/create":
            return _json(self, 201, {"Id": "b" * 64, "Warning": ""})
        if re.fullmatch(r"/networks/[^/]+/(connect|disconnect)", path):
            return _empty(self, 200)
        mnet = re.fullmatch(r"/networks/([^/]+)", path)
        if mnet:
            name = mnet.group(1)
            net = next((n for n in NETWORKS if name in (n["Name"], n["Id"])), None)
            if net is None and name != "course-net":
                return (
                    _no_such(self, "network", name)
                    if m == "GET"
                    else _json(self, 404, {"message": f"network {name} not found"})
                )
            if m == "DELETE":
                return _empty(self)
            return _json(self, 200, net or {"Name": name, "Id": "c" * 64})
        if path == "/exec/e1/start":
            return self._stream_session(f.behaviour)
        if path == "/exec/e1/json":
            return _json(self, 200, {"Running": False, "ExitCode": f.behaviour.exit_code})
        if path.startswith("/containers/crash/"):
            # the daemon dies half-way through an answer
            self.wfile.write(b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"Id"')
            self.wfile.flush()
            self.close_connection = True
            return None
        mc = re.fullmatch(r"/containers/([^/]+)(/[a-z]+)?", path)
        if mc:
            name, action = mc.group(1), mc.group(2) or ""
            if name not in ("web", CID, NEW_ID, CID[:12]):
                return _no_such(self, "container", name)
            if action == "/attach":
                return self._stream_session(f.behaviour)
            if action == "/wait":
                # like Docker: the headers go out at once (the wait is set up), the body at exit
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                self.wfile.flush()
                f.exited.wait(10)
                data = json.dumps({"StatusCode": f.behaviour.exit_code, "Error": None}).encode()
                self.wfile.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(data), data))
                return None
            if action == "/json":
                return _json(
                    self,
                    200,
                    {
                        "Id": NEW_ID if name == NEW_ID else CID,
                        "Name": "/web",
                        "Config": {"Tty": f.behaviour.tty, "OpenStdin": True},
                        "State": {"Running": True, "ExitCode": 0},
                        "NetworkSettings": {
                            "Ports": {
                                "8080/tcp": [
                                    {"HostIp": "0.0.0.0", "HostPort": "8080"},
                                    {"HostIp": "::", "HostPort": "8080"},
                                ],
                                "9000/udp": None,
                            }
                        },
                    },
                )
            if action == "/exec":
                return _json(self, 201, {"Id": "e1"})
            if action == "/logs":
                data = (frame(1, f.behaviour.stdout) if f.behaviour.stdout else b"") + (
                    frame(2, f.behaviour.stderr) if f.behaviour.stderr else b""
                )
                self.send_response(200)
                self.send_header("Content-Type", "application/vnd.docker.raw-stream")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return None
            if action == "/top":
                return _json(
                    self,
                    200,
                    {"Titles": ["UID", "PID", "CMD"], "Processes": [["root", "4242", "sleep 600"]]},
                )
            if action == "/changes":
                return _json(
                    self,
                    200,
                    [
                        {"Path": "/tmp", "Kind": 0},
                        {"Path": "/tmp/x", "Kind": 1},
                        {"Path": "/etc/motd", "Kind": 2},
                    ],
                )
            return _empty(self)
        return _json(self, 404, {"message": "page not found"})

    def _json_lines(self, msgs: list[dict[str, Any]]) -> None:
        data = b"".join(json.dumps(x).encode() + b"\r\n" for x in msgs)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _stream_session(self, b: Behaviour) -> None:
        """Answer an upgrade request with 101 and play the container's streams."""
        upgrade = self.headers.get("Upgrade", "")
        self.send_response(101 if upgrade else 200, "UPGRADED")
        self.send_header("Content-Type", "application/vnd.docker.raw-stream")
        if upgrade:
            self.send_header("Connection", "Upgrade")
            self.send_header("Upgrade", "tcp")
        self.end_headers()

        def out(stream: int, data: bytes) -> None:
            self.wfile.write(data if b.tty else frame(stream, data))
            self.wfile.flush()

        # the first bytes go out with the headers, to test bytes read along with them
        if b.stdout:
            out(1, b.stdout)
        if b.stderr:
            out(2, b.stderr)
        if b.echo_stdin:
            while True:
                data = self.connection.recv(4096)
                if not data:
                    break
                out(1, data)
        self.fake.exited.set()
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)

    do_GET = do_POST = do_DELETE = do_HEAD = do_PUT = _handle


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # a client that hangs up early (an abandoned wait, a detach) is not an error here
        import sys

        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


def start_fake(path: str) -> FakeDocker:
    fake = FakeDocker(socket_path=path)
    handler = type("BoundHandler", (Handler,), {"fake": fake})
    server = _Server(path, handler)
    fake.server = server
    threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
    return fake


def serving(tmp_path: Path) -> Iterator[FakeDocker]:
    """A running fake daemon for one test (use as ``fake_docker = pytest.fixture(serving)``)."""
    fake = start_fake(str(tmp_path / "docker.sock"))
    try:
        yield fake
    finally:
        fake.server.shutdown()
        fake.server.server_close()


fake_docker = pytest.fixture(serving)


def test_fake_answers_ping_over_its_socket(fake_docker: FakeDocker) -> None:
    s = socket.socket(socket.AF_UNIX)
    s.connect(fake_docker.socket_path)
    s.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
    data = b""
    while not data.endswith(b"OK"):
        chunk = s.recv(1024)
        if not chunk:
            break
        data += chunk
    s.close()
    assert data.startswith(b"HTTP/1.1 200")
    assert fake_docker.lines == ["GET /_ping"]
