"""Container output under pressure, on a real daemon: a flood's logs stay within max-size x
max-file on disk and ``--tail 1`` stays fast, a client that does not read is dropped while the
daemon's memory stays bounded, and ``logs -f`` across rotations sees every line once."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from dockerscope.engine.containers.frames import unframe
from tests.kernel.test_engine_daemon import (  # noqa: F401 (daemon: a fixture)
    RunningDaemon,
    UnixHTTP,
    daemon,
    wait_exit,
)

pytestmark = pytest.mark.kernel

LINE = "x" * 79  # `yes LINE` writes 80-byte lines


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def log_bytes(d: RunningDaemon, cid: str) -> int:
    return sum(p.stat().st_size for p in (d.lab.containers_dir / cid).glob(f"{cid}-json.log*"))


def test_a_flood_is_capped_on_disk_and_tail_stays_fast(daemon: RunningDaemon) -> None:  # noqa: F811
    opts = {"max-size": "1m", "max-file": "3"}
    cid = daemon.run(
        "sh",
        "-c",
        f"yes {LINE} | head -c 40000000; echo last",
        HostConfig={"LogConfig": {"Type": "json-file", "Config": opts}},
    )
    assert wait_exit(daemon, cid) == 0
    names = sorted(p.name for p in (daemon.lab.containers_dir / cid).glob("*-json.log*"))
    assert names == [f"{cid}-json.log", f"{cid}-json.log.1", f"{cid}-json.log.2"]
    assert log_bytes(daemon, cid) <= 3 * 1_000_000
    t0 = time.monotonic()
    status, raw = daemon.call("GET", f"/containers/{cid}/logs?stdout=1&tail=1")
    assert time.monotonic() - t0 < 1.0
    assert status == 200 and unframe(raw)[0] == [(1, b"last\n")]
    _, raw = daemon.call("GET", f"/containers/{cid}/logs?stdout=1&stderr=1")
    full = unframe(raw)[0]  # the three files, oldest first: ~6600 lines each
    assert len(full) > 12000 and full[-1] == (1, b"last\n")
    assert all(f == (1, LINE.encode() + b"\n") for f in full[:-1])
    _, raw = daemon.call("GET", f"/containers/{cid}/logs?stdout=1&tail={len(full) - 5}")
    assert unframe(raw)[0] == full[5:]  # --tail across the rotated files
    _, info = daemon.call("GET", f"/containers/{cid}/json")
    assert info["HostConfig"]["LogConfig"] == {"Type": "json-file", "Config": opts}
    # the lab's default cap shows in inspect as dockerd shows its daemon-wide log-opts
    _, out = daemon.call("POST", "/containers/create", {"Image": "busybox"})
    _, info = daemon.call("GET", f"/containers/{out['Id']}/json")
    assert info["HostConfig"]["LogConfig"] == {
        "Type": "json-file",
        "Config": {"max-size": "10m", "max-file": "3"},
    }
    status, err = daemon.call(
        "POST",
        "/containers/create",
        {"Image": "busybox", "HostConfig": {"LogConfig": {"Config": {"max-size": "lots"}}}},
    )
    assert (status, err["message"]) == (400, "invalid size: 'lots'")
    none = daemon.run("echo", "hi", HostConfig={"LogConfig": {"Type": "none"}})
    wait_exit(daemon, none)
    status, err = daemon.call("GET", f"/containers/{none}/logs?stdout=1")
    assert (status, err["message"]) == (400, "configured logging driver does not support reading")
    assert not (daemon.lab.containers_dir / none / f"{none}-json.log").stat().st_size


def test_an_attach_client_that_does_not_read_is_dropped(daemon: RunningDaemon) -> None:  # noqa: F811
    cid = daemon.run("sh", "-c", f"yes {LINE} | head -c 3000000000")
    time.sleep(1)
    before = rss_mb(daemon.proc.pid)
    s = socket.socket(socket.AF_UNIX)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    s.settimeout(20)
    s.connect(str(daemon.lab.socket))
    s.sendall(
        f"POST /v1.41/containers/{cid}/attach?stream=1&stdout=1&stderr=1 HTTP/1.1\r\n"
        "Host: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n".encode()
    )
    peak = before
    for _ in range(40):  # 8 s of not reading
        time.sleep(0.2)
        peak = max(peak, rss_mb(daemon.proc.pid))
    received = 0
    t0 = time.monotonic()
    while chunk := s.recv(1 << 20):  # what was in flight, then the server's close
        received += len(chunk)
        assert time.monotonic() - t0 < 15
    s.close()
    assert received < 32 * 1024 * 1024
    assert peak - before < 60, (before, peak)
    assert "the client read nothing" in daemon.log.read_text(), daemon.log.read_text()[-3000:]
    # the container went on, and another client still gets its output
    c = UnixHTTP(str(daemon.lab.socket))
    c.request("GET", f"/containers/{cid}/logs?stdout=1&tail=2")
    assert unframe(c.getresponse().read())[0][0] == (1, LINE.encode() + b"\n")
    c.close()
    assert daemon.call("DELETE", f"/containers/{cid}?force=1")[0] == 204


def test_logs_follow_across_rotations_sees_every_line_once(daemon: RunningDaemon) -> None:  # noqa: F811
    n = 20000
    script = f"sleep 1; i=0; while [ $i -lt {n} ]; do echo $i; i=$((i+1)); done"
    _, out = daemon.call(
        "POST",
        "/containers/create",
        {
            "Image": "busybox",
            "Cmd": ["sh", "-c", script],
            "HostConfig": {"LogConfig": {"Config": {"max-size": "200k", "max-file": "2"}}},
        },
    )
    cid = out["Id"]
    assert daemon.call("POST", f"/containers/{cid}/start")[0] == 204
    c = UnixHTTP(str(daemon.lab.socket), timeout=60)
    c.request("GET", f"/containers/{cid}/logs?stdout=1&follow=1")
    try:
        raw = c.getresponse().read()  # until the container exits
    except Exception as exc:
        raise AssertionError(daemon.log.read_text()[-3000:]) from exc
    c.close()
    frames, rest = unframe(raw)
    assert rest == b""
    assert [data for _, data in frames] == [f"{i}\n".encode() for i in range(n)]
    names = {p.name for p in (daemon.lab.containers_dir / cid).glob("*-json.log*")}
    assert names == {f"{cid}-json.log", f"{cid}-json.log.1"}  # it did rotate, many times
    assert daemon.call("DELETE", f"/containers/{cid}")[0] == 204
