"""Lab control without a lab: the ping, waiting for a daemon that dies or stays silent, stopping
a process we spawned, and telling a daemon's pid from someone else's."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dockerscope import labctl
from dockerscope.engine.paths import Lab
from tests.unit.test_client_fakeserver import FakeDocker, serving

fake_docker = pytest.fixture(serving)


def _lab(tmp_path: Path, name: str = "l1") -> Lab:
    return Lab.named(name, data_root=tmp_path / "lib" / name, run_root=tmp_path / "run" / name)


def test_answers_needs_a_socket_that_pings(tmp_path: Path, fake_docker: FakeDocker) -> None:
    lab = _lab(tmp_path)
    assert not labctl.answers(lab)  # no socket at all
    lab.run_root.mkdir(parents=True)
    os.symlink(fake_docker.socket_path, lab.socket)
    assert labctl.answers(lab)
    assert fake_docker.lines == ["HEAD /_ping"]  # unversioned, as every daemon serves it


def test_answers_is_false_for_a_socket_that_speaks_no_http(tmp_path: Path) -> None:
    import socket
    import threading

    lab = _lab(tmp_path)
    lab.run_root.mkdir(parents=True)
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(str(lab.socket))
    srv.listen(1)

    def babble() -> None:
        conn, _ = srv.accept()
        conn.recv(100)
        conn.sendall(b"SSH-2.0-not-http\r\n")
        conn.close()

    t = threading.Thread(target=babble, daemon=True)
    t.start()
    try:
        assert not labctl.answers(lab, timeout=2)
    finally:
        t.join(5)
        srv.close()


def test_a_daemon_that_exits_is_reported_with_its_code_and_log(tmp_path: Path) -> None:
    lab = _lab(tmp_path)
    log = tmp_path / "daemon.log"
    log.write_text("first\nbad things happened\n")
    proc = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    with pytest.raises(labctl.DaemonStartError) as err:
        labctl.wait_until_answering(lab, proc, wait=20, log=log)
    assert err.value.returncode == 3
    assert str(err.value).startswith(
        f"the daemon of lab l1 exited with code 3; last lines of {log}"
    )
    assert str(err.value).endswith("bad things happened")


def test_a_silent_daemon_times_out_and_is_stopped(tmp_path: Path) -> None:
    lab = _lab(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True
    )
    started = time.monotonic()
    with pytest.raises(labctl.DaemonStartError, match="did not answer within 1 s"):
        labctl.wait_until_answering(lab, proc, wait=1.0)
    assert time.monotonic() - started < 10
    assert labctl.stop_process(proc, timeout=5) is None  # SIGTERM was enough
    assert proc.returncode is not None


def test_stop_process_kills_what_ignores_sigterm(tmp_path: Path) -> None:
    code = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
        " print(1, flush=True); time.sleep(60)"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, start_new_session=True
    )
    assert proc.stdout is not None and proc.stdout.readline() == b"1\n"  # handler installed
    note = labctl.stop_process(proc, timeout=0.3)
    assert note is not None and "killed" in note
    assert proc.returncode == -9


def test_stop_daemon_leaves_a_pid_that_is_not_a_daemon_alone(tmp_path: Path) -> None:
    lab = _lab(tmp_path)
    lab.run_root.mkdir(parents=True)
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lab.pidfile.write_text(f"{proc.pid}\n")
        assert not labctl.is_daemon(proc.pid)
        assert labctl.stop_daemon(lab) is None
        assert proc.poll() is None  # a stale pidfile never makes us signal a stranger
    finally:
        proc.kill()
        proc.wait()


def test_list_labs_reads_run_and_state_dirs(tmp_path: Path) -> None:
    lab = _lab(tmp_path, "old2")
    (lab.containers_dir / ("a" * 64)).mkdir(parents=True)
    (tmp_path / "run" / "Bad_Name").mkdir(parents=True)  # not a lab name: skipped
    [row] = labctl.list_labs(tmp_path / "run", tmp_path / "lib")
    assert row == labctl.LabStatus("old2", "stopped", None, 1, str(lab.socket))
