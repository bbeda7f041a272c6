"""A real daemon per test, in its own lab, driven over its unix socket with http.client.

Each test starts ``python3 -m dockerscope.engine.daemon`` with a unique lab and temporary data
and run roots, and always stops it and takes the lab down (netns, uplink, cgroup parent).
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from dockerscope import labctl
from dockerscope.engine.containers.frames import unframe
from dockerscope.engine.paths import Lab

pytestmark = pytest.mark.kernel

START_TIMEOUT = 60


class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float = 30) -> None:
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


@dataclass
class RunningDaemon:
    """A daemon subprocess serving one lab."""

    lab: Lab
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"unix://{self.lab.socket}"

    def call(
        self, method: str, path: str, body: Any = None, raw: bytes | None = None
    ) -> tuple[int, Any]:
        c = UnixHTTP(str(self.lab.socket))
        try:
            data = (
                raw
                if raw is not None
                else (json.dumps(body).encode() if body is not None else None)
            )
            headers = {"Content-Type": "application/json"} if data is not None else {}
            c.request(method, path, body=data, headers=headers)
            r = c.getresponse()
            payload = r.read()
        finally:
            c.close()
        ctype = r.getheader("Content-Type") or ""
        if ctype.startswith("application/json") and payload:
            return r.status, json.loads(payload.splitlines()[0] if b"\n{" in payload else payload)
        return r.status, payload

    def run(self, *cmd: str, **extra: Any) -> str:
        """Create and start a container; returns its id."""
        status, out = self.call(
            "POST", "/containers/create", {"Image": "busybox", "Cmd": list(cmd), **extra}
        )
        assert status == 201, out
        cid = out["Id"]
        status, out = self.call("POST", f"/containers/{cid}/start")
        assert status == 204, out
        return str(cid)


def start_daemon(lab: Lab, log: Path) -> subprocess.Popen[bytes]:
    """The lab's daemon, answering its ping (through ``labctl``, as the CLI and scenarios)."""
    with open(log, "ab") as f:
        proc = labctl.spawn_daemon(lab, f)
    try:
        labctl.wait_until_answering(lab, proc, START_TIMEOUT)
    except labctl.DaemonStartError as exc:
        labctl.stop_process(proc)
        raise RuntimeError(f"{exc}: {log.read_text()}") from exc
    return proc


def stop_daemon(proc: subprocess.Popen[bytes]) -> None:
    labctl.stop_process(proc, timeout=30)


def take_lab_down(lab: Lab) -> None:
    """Everything a lab made on the machine goes: netns, uplink, rules, cgroups."""
    labctl.take_down(lab, keep_log=True, say=lambda _: None)


@pytest.fixture
def daemon(tmp_path: Path, lab_name: str) -> Iterator[RunningDaemon]:
    lab = Lab.named(lab_name, tmp_path / "data", tmp_path / "run")
    log = tmp_path / "daemon.log"
    proc = None
    running = None
    try:
        proc = start_daemon(lab, log)
        running = RunningDaemon(lab, proc, log)
        yield running
    finally:
        if running is not None:
            proc = running.proc  # a test may have replaced it (restart)
        if proc is not None:
            stop_daemon(proc)
        take_lab_down(lab)


def wait_exit(d: RunningDaemon, cid: str) -> int:
    status, out = d.call("POST", f"/containers/{cid}/wait")
    assert status == 200, out
    return int(out["StatusCode"])


def test_ping_version_and_socket_mode(daemon: RunningDaemon) -> None:
    status, body = daemon.call("GET", "/_ping")
    assert (status, body) == (200, b"OK")
    status, v = daemon.call("GET", "/v1.41/version")
    assert status == 200 and v["ApiVersion"] == "1.41"
    st = os.stat(daemon.lab.socket)
    assert oct(st.st_mode & 0o777) == "0o660"
    import grp

    assert grp.getgrgid(st.st_gid).gr_name == "dockerscope"


def test_echo_hi_logs_and_inspect(daemon: RunningDaemon) -> None:
    status, out = daemon.call(
        "POST",
        "/containers/create?name=hello",
        {"Image": "busybox", "Cmd": ["sh", "-c", "echo hi; echo oops >&2"]},
    )
    assert status == 201
    cid = out["Id"]
    assert daemon.call("POST", f"/containers/{cid}/start")[0] == 204
    assert wait_exit(daemon, cid) == 0
    status, raw = daemon.call("GET", f"/containers/{cid}/logs?stdout=1&stderr=1")
    frames, rest = unframe(raw)
    assert (frames, rest) == ([(1, b"hi\n"), (2, b"oops\n")], b"")
    _, raw = daemon.call("GET", f"/containers/{cid}/logs?stdout=1")
    assert unframe(raw)[0] == [(1, b"hi\n")]
    logfile = daemon.lab.containers_dir / cid / f"{cid}-json.log"
    first = json.loads(logfile.read_text().splitlines()[0])
    assert first["log"] == "hi\n" and first["stream"] == "stdout"
    _, info = daemon.call("GET", "/containers/hello/json")
    assert info["Id"] == cid and info["Name"] == "/hello"
    state = info["State"]
    assert state["Status"] == "exited" and state["ExitCode"] == 0 and not state["OOMKilled"]
    assert state["StartedAt"] <= state["FinishedAt"] and not state["FinishedAt"].startswith("0001")
    assert info["Config"]["Hostname"] == cid[:12]
    assert info["Config"]["Cmd"] == ["sh", "-c", "echo hi; echo oops >&2"]
    assert daemon.call("DELETE", f"/containers/{cid}")[0] == 204
    assert not (daemon.lab.containers_dir / cid).exists()


def test_stop_kill_and_force_remove(daemon: RunningDaemon) -> None:
    sleeper = daemon.run("sleep", "1000")
    _, rows = daemon.call("GET", "/containers/json")
    assert [r["Id"] for r in rows] == [sleeper]
    assert rows[0]["Status"].startswith("Up ")
    # PID 1 ignores SIGTERM without a handler: stop ends with SIGKILL after t seconds.
    assert daemon.call("POST", f"/containers/{sleeper}/stop?t=1")[0] == 204
    _, info = daemon.call("GET", f"/containers/{sleeper}/json")
    assert info["State"]["ExitCode"] in (137, 143) and info["State"]["Running"] is False
    assert daemon.call("POST", f"/containers/{sleeper}/stop")[0] == 304
    status, err = daemon.call("POST", f"/containers/{sleeper}/kill")
    assert status == 409 and "is not running" in err["message"]

    trapper = daemon.run("sh", "-c", "trap 'exit 7' USR1; while true; do sleep 0.1; done")
    assert daemon.call("POST", f"/containers/{trapper}/kill?signal=SIGUSR1")[0] == 204
    assert wait_exit(daemon, trapper) == 7
    status, err = daemon.call("POST", f"/containers/{trapper}/kill?signal=SIGNOPE")
    assert status in (400, 409)

    busy = daemon.run("sleep", "1000")
    status, err = daemon.call("DELETE", f"/containers/{busy}")
    assert status == 409 and "cannot remove a running container" in err["message"]
    pid = daemon.call("GET", f"/containers/{busy}/json")[1]["State"]["Pid"]
    assert Path(f"/proc/{pid}").exists()
    assert daemon.call("DELETE", f"/containers/{busy}?force=1")[0] == 204
    assert daemon.call("GET", f"/containers/{busy}/json")[0] == 404
    for cid in (sleeper, trapper):
        assert daemon.call("DELETE", f"/containers/{cid}")[0] == 204


def test_ps_filters_and_status_texts(daemon: RunningDaemon) -> None:
    up = daemon.run("sleep", "1000", Labels={"tier": "front"})
    done = daemon.run("true")
    wait_exit(daemon, done)
    status, out = daemon.call("POST", "/containers/create?name=idle", {"Image": "busybox"})
    assert status == 201

    def ps(**filters: list[str]) -> list[dict[str, Any]]:
        from urllib.parse import quote

        _, rows = daemon.call("GET", "/containers/json?all=1&filters=" + quote(json.dumps(filters)))
        return rows  # type: ignore[no-any-return]

    assert [r["Id"] for r in ps(label=["tier=front"])] == [up]
    assert [r["Id"] for r in ps(status=["exited"])] == [done]
    assert [r["Names"] for r in ps(name=["idle"])] == [["/idle"]]
    rows = {r["Id"]: r for r in ps()}
    assert rows[done]["Status"].startswith("Exited (0) ") and rows[done]["Status"].endswith(" ago")
    assert rows[up]["State"] == "running"
    assert ps(status=["created"])[0]["Status"] == "Created"
    status, err = daemon.call(
        "GET", "/containers/json?filters=" + json.dumps({"bogus": ["x"]}).replace(" ", "")
    )
    assert status == 400
    for cid in (up, done, "idle"):
        assert daemon.call("DELETE", f"/containers/{cid}?force=1")[0] == 204


def test_attach_multiplexed_output(daemon: RunningDaemon) -> None:
    _, out = daemon.call(
        "POST",
        "/containers/create",
        {"Image": "busybox", "Cmd": ["sh", "-c", "echo out; echo err >&2"], "AttachStdout": True},
    )
    cid = out["Id"]
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(20)
    s.connect(str(daemon.lab.socket))
    s.sendall(
        f"POST /v1.41/containers/{cid}/attach?stream=1&stdout=1&stderr=1 HTTP/1.1\r\n"
        "Host: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n".encode()
    )
    data = b""
    while b"\r\n\r\n" not in data:
        data += s.recv(4096)
    head, _, data = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101 UPGRADED")
    assert daemon.call("POST", f"/containers/{cid}/start")[0] == 204
    while chunk := s.recv(4096):
        data += chunk
    s.close()
    frames, rest = unframe(data)
    assert sorted(frames) == [(1, b"out\n"), (2, b"err\n")] and rest == b""
    assert daemon.call("DELETE", f"/containers/{cid}")[0] == 204


def test_memory_hog_is_oom_killed(daemon: RunningDaemon) -> None:
    cid = daemon.run(
        "sh",
        "-c",
        "x=aaaaaaaa; while true; do x=$x$x; done",
        HostConfig={"Memory": 16 * 1024 * 1024},
    )
    assert wait_exit(daemon, cid) == 137
    _, info = daemon.call("GET", f"/containers/{cid}/json")
    assert info["State"]["OOMKilled"] is True
    assert info["HostConfig"]["Memory"] == 16 * 1024 * 1024
    assert daemon.call("DELETE", f"/containers/{cid}")[0] == 204


def test_bad_input_leaves_nothing(daemon: RunningDaemon) -> None:
    status, err = daemon.call("POST", "/containers/create", {"Image": "nosuch"})
    assert (status, err) == (404, {"message": "No such image: nosuch:latest"})
    status, err = daemon.call("POST", "/containers/create", raw=b'{"Image": "busybox", "Cmd": [')
    assert status == 400 and "malformed JSON" in err["message"]
    status, err = daemon.call(
        "POST", "/containers/create", {"Image": "busybox", "HostConfig": {"Privileged": True}}
    )
    assert (status, err["message"]) == (400, "not supported by dockerscope: --privileged")
    assert daemon.call("GET", "/containers/json?all=1") == (200, [])
    assert list(daemon.lab.containers_dir.iterdir()) == []
    status, err = daemon.call("GET", "/containers/nosuch/json")
    assert (status, err) == (404, {"message": "No such container: nosuch"})


def test_restart_after_kill_9_leaves_nothing_orphaned(daemon: RunningDaemon) -> None:
    sleeper = daemon.run("sleep", "1000")
    done = daemon.run("sh", "-c", "exit 3")
    assert wait_exit(daemon, done) == 3
    pid = daemon.call("GET", f"/containers/{sleeper}/json")[1]["State"]["Pid"]
    netns = daemon.call("GET", f"/containers/{sleeper}/json")[1]["NetworkSettings"]["SandboxKey"]
    assert Path(netns).exists()
    daemon.proc.kill()
    daemon.proc.wait()
    assert Path(f"/proc/{pid}").exists()  # the container outlived its daemon
    daemon.proc = start_daemon(daemon.lab, daemon.log)
    _, rows = daemon.call("GET", "/containers/json?all=1")
    by_id = {r["Id"]: r for r in rows}
    assert by_id[sleeper]["State"] == "exited"
    assert by_id[sleeper]["Status"].startswith("Exited (137)")
    assert by_id[done]["Status"].startswith("Exited (3)")
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(f"/proc/{pid}").exists()
    assert not Path(netns).exists()
    # The restarted daemon runs containers as before.
    again = daemon.run("true")
    assert wait_exit(daemon, again) == 0
    for cid in (sleeper, done, again):
        assert daemon.call("DELETE", f"/containers/{cid}")[0] == 204


def test_sigterm_stops_containers_and_keeps_state(daemon: RunningDaemon) -> None:
    cid = daemon.run("sleep", "1000", StopTimeout=1)
    pid = daemon.call("GET", f"/containers/{cid}/json")[1]["State"]["Pid"]
    stop_daemon(daemon.proc)
    assert daemon.proc.returncode == 0
    assert not Path(f"/proc/{pid}").exists()
    assert not daemon.lab.socket.exists() and not daemon.lab.pidfile.exists()
    assert (daemon.lab.containers_dir / cid / "config.v2.json").exists()
    daemon.proc = start_daemon(daemon.lab, daemon.log)
    _, info = daemon.call("GET", f"/containers/{cid}/json")
    assert info["State"]["Status"] == "exited" and info["State"]["ExitCode"] == 137
    assert daemon.call("DELETE", f"/containers/{cid}")[0] == 204
