"""The real docker CLI managing containers, networks and images in a lab: lifecycle verbs,
logs, exec, top, diff, commit, rename, wait, networks, image transfer, events, system df."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time

import pytest

from tests.kernel.test_dockercli_run import CLI_20, CLI_28, CLIS, make_cli, needs_cli
from tests.kernel.test_engine_daemon import RunningDaemon, daemon  # noqa: F401 (fixture)

pytestmark = pytest.mark.kernel


def wait_for(pred, what: str, timeout: float = 10) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@needs_cli
@pytest.mark.parametrize("binary", CLIS)
def test_lifecycle_verbs(daemon: RunningDaemon, binary: str) -> None:  # noqa: F811
    cli = make_cli(binary, daemon)
    cid = cli.ok("create", "--name", "c1", "busybox", "sh", "-c", "echo up; sleep 1000").strip()
    assert cli.ok("ps", "-a", "--format", "{{.Names}} {{.Status}}") == "c1 Created\n"
    assert cli.ok("ps", "-q") == ""
    assert cli.ok("diff", "c1") == ""  # never started: no changes (was a 400)
    assert cli.ok("start", "c1") == "c1\n"
    [info] = cli.inspect("c1")
    assert info["Id"] == cid and info["State"]["Status"] == "running"
    first_pid = info["State"]["Pid"]
    assert cli.ok("ps", "-q") == cid[:12] + "\n"
    # top lists the container's processes by host pid
    top = cli.ok("top", "c1").splitlines()
    assert top[0].split()[:2] == ["UID", "PID"] and any("sleep 1000" in x for x in top[1:])
    # exec, with env and workdir; its exit code comes back
    assert (
        cli.ok("exec", "-e", "X=y", "-w", "/etc", "c1", "sh", "-c", "echo $X $(pwd)") == "y /etc\n"
    )
    assert cli.run("exec", "c1", "sh", "-c", "exit 4").returncode == 4
    assert cli.ok("exec", "-i", "c1", "cat", stdin="to exec\n") == "to exec\n"
    # diff and commit of what exec changed
    cli.ok("exec", "c1", "sh", "-c", "echo data > /root/file; rm /etc/group")
    diff = cli.ok("diff", "c1").splitlines()
    assert "A /root/file" in diff and "D /etc/group" in diff and "C /root" in diff
    rw, rootfs = map(
        int, cli.ok("inspect", "-s", "-f", "{{.SizeRw}} {{.SizeRootFs}}", "c1").split()
    )
    assert rw >= 5 and rootfs > 1_000_000 + rw
    image_id = cli.ok("commit", "-c", "ENV FROM_COMMIT=1", "-m", "msg", "c1", "mine:v1").strip()
    assert image_id.startswith("sha256:")
    out = cli.ok("run", "--rm", "mine:v1", "sh", "-c", "cat /root/file; echo $FROM_COMMIT")
    assert out == "data\n1\n"
    history = cli.ok("history", "--format", "{{.Comment}}", "mine:v1").splitlines()
    assert history[0] == "msg"
    # rename, restart (a new process), stop, kill
    cli.ok("rename", "c1", "c2")
    # The old name is gone; "c1" still resolves, as in Docker, only as a prefix of the
    # container's ID (1 run in 256: IDs are random hex).
    old = cli.run("inspect", "-f", "{{.Name}}", "c1")
    assert old.returncode != 0 or (cid.startswith("c1") and old.stdout == "/c2\n")
    cli.ok("restart", "-t", "1", "c2")
    [info] = cli.inspect("c2")
    assert info["State"]["Running"] and info["State"]["Pid"] != first_pid
    assert info["RestartCount"] == 0
    cli.ok("stop", "-t", "1", "c2")
    [info] = cli.inspect("c2")
    assert (info["State"]["Status"], info["State"]["ExitCode"]) == ("exited", 137)
    assert cli.ok("wait", "c2") == "137\n"
    cli.ok("start", "c2")
    # PID 1 of a pid namespace ignores TERM without a handler (as under Docker): KILL it
    assert cli.ok("kill", "-s", "KILL", "c2") == "c2\n"
    assert cli.ok("wait", "c2") == "137\n"
    p = cli.run("kill", "c2")
    assert p.returncode != 0 and "is not running" in p.stderr
    # logs of both runs, in order; --tail
    logs = cli.ok("logs", "c2")
    assert logs == "up\nup\nup\n"
    assert cli.ok("logs", "--tail", "1", "c2") == "up\n"
    # rm refuses a running container without -f
    cli.ok("start", "c2")
    p = cli.run("rm", "c2")
    assert p.returncode != 0 and "You cannot remove a running container" in p.stderr
    assert cli.ok("rm", "-f", "c2") == "c2\n"
    assert cli.ok("ps", "-a", "-q") == ""
    # the container's cgroup went with it
    assert (
        cid
        not in subprocess.run(
            ["find", "/sys/fs/cgroup/pids/dockerscope", "-name", cid],
            capture_output=True,
            text=True,
        ).stdout
    )


@needs_cli
def test_logs_follow_wait_and_attach(daemon: RunningDaemon) -> None:  # noqa: F811
    cli = make_cli(CLI_28, daemon)
    cli.ok(
        "run",
        "-d",
        "--name",
        "ticker",
        "busybox",
        "sh",
        "-c",
        "for i in 1 2 3; do echo tick $i; sleep 0.3; done; echo err >&2; sleep 1000",
    )
    follow = subprocess.Popen(
        [cli.binary, "logs", "-f", "ticker"],
        env=cli.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    waiter = subprocess.Popen(
        [cli.binary, "wait", "ticker"],
        env=cli.env,
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    attach = subprocess.Popen(
        [cli.binary, "attach", "--no-stdin", "ticker"],
        env=cli.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: "tick 3" in cli.ok("logs", "ticker"), "tick 3")
        time.sleep(0.3)
        cli.ok("exec", "ticker", "sh", "-c", "echo late > /proc/1/fd/1")
        time.sleep(0.3)
        cli.ok("stop", "-t", "1", "ticker")
        out, err = follow.communicate(timeout=10)
        assert out == b"tick 1\ntick 2\ntick 3\nlate\n" and err == b"err\n"
        assert waiter.communicate(timeout=10)[0] == b"137\n"
        a_out, _ = attach.communicate(timeout=10)
        assert a_out.endswith(b"late\n")
        assert attach.returncode == 137
    finally:
        for p in (follow, waiter, attach):
            if p.poll() is None:
                p.kill()
                p.wait()
    # piped stdin into a running `-di` container: the reply comes back on the session, which
    # lasts until the container exits (the CLI waits for its exit code)
    cli.ok("run", "-di", "--name", "catty", "busybox", "cat")
    piped = subprocess.Popen(
        [cli.binary, "attach", "catty"],
        env=cli.env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert piped.stdin is not None
        piped.stdin.write(b"via attach\n")
        piped.stdin.close()
        wait_for(lambda: cli.ok("logs", "catty") == "via attach\n", "cat's echo")
        cli.ok("kill", "catty")
        assert piped.stdout is not None
        out = piped.stdout.read()
        assert (out, piped.wait(10)) == (b"via attach\n", 137)
    finally:
        if piped.poll() is None:
            piped.kill()
            piped.wait()
    # wait --condition=removed style through run --rm -d: the container goes by itself
    cid = cli.ok("run", "-d", "--rm", "busybox", "true").strip()
    wait_for(lambda: cid[:12] not in cli.ok("ps", "-a", "-q"), "--rm removal")


@needs_cli
@pytest.mark.parametrize("binary", CLIS)
def test_networks(daemon: RunningDaemon, binary: str) -> None:  # noqa: F811
    cli = make_cli(binary, daemon)
    nid = cli.ok("network", "create", "n1").strip()
    assert re.fullmatch(r"[0-9a-f]{64}", nid)
    links = cli.lab_sh("ip -o link")
    assert f"br-{nid[:12]}" in links
    assert f"-o br-{nid[:12]}" in cli.lab_sh("iptables -t nat -S POSTROUTING")
    ls = cli.ok("network", "ls", "--format", "{{.Name}} {{.Driver}}").splitlines()
    assert sorted(ls) == ["bridge bridge", "host host", "n1 bridge", "none null"]
    [net] = json.loads(cli.ok("network", "inspect", "n1"))
    subnet = net["IPAM"]["Config"][0]["Subnet"]
    assert net["Id"] == nid and subnet.startswith("172.")
    cli.ok(
        "run",
        "-d",
        "--name",
        "ca",
        "--network",
        "n1",
        "--network-alias",
        "alpha",
        "busybox",
        "sleep",
        "1000",
    )
    cli.ok("run", "-d", "--name", "cb", "busybox", "sleep", "1000")
    cli.ok("network", "connect", "n1", "cb")
    [info] = cli.inspect("cb")
    assert set(info["NetworkSettings"]["Networks"]) == {"bridge", "n1"}
    ip_a = cli.inspect("ca")[0]["NetworkSettings"]["Networks"]["n1"]["IPAddress"]
    # peers on a user network resolve by name and alias (through /etc/hosts: no embedded DNS)
    hosts = cli.ok("exec", "cb", "cat", "/etc/hosts")
    assert f"{ip_a}\tca\n" in hosts and f"{ip_a}\talpha\n" in hosts, hosts
    assert cli.run("exec", "cb", "ping", "-c", "1", "-W", "2", "alpha").returncode == 0
    assert "eth1" in cli.ok("exec", "cb", "ls", "/sys/class/net")
    cli.ok("network", "disconnect", "n1", "cb")
    assert "eth1" not in cli.ok("exec", "cb", "ls", "/sys/class/net")
    p = cli.run("network", "rm", "n1")
    assert p.returncode != 0 and "active endpoints" in p.stderr
    cli.ok("rm", "-f", "ca", "cb")
    assert cli.ok("network", "rm", "n1") == "n1\n"
    assert f"br-{nid[:12]}" not in cli.lab_sh("ip -o link")
    cli.ok("network", "create", "--subnet", "10.99.0.0/24", "n2")
    assert "10.99.0.1/24" in cli.lab_sh("ip -o addr")
    out = cli.ok("network", "prune", "-f")
    assert "n2" in out
    assert "10.99.0.1" not in cli.lab_sh("ip -o addr")
    p = cli.run("network", "rm", "bridge")
    assert p.returncode != 0 and "pre-defined" in p.stderr


@needs_cli
@pytest.mark.parametrize("binary", CLIS)
def test_images_transfer_events_and_df(daemon: RunningDaemon, binary: str) -> None:  # noqa: F811
    cli = make_cli(binary, daemon)
    since = str(int(time.time()) - 1)
    cli.ok("tag", "busybox", "course/bb:1")
    rows = cli.ok("images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}").splitlines()
    ids = {r.split()[0]: r.split()[1] for r in rows}
    assert ids["course/bb:1"] == ids["busybox:latest"]
    tar = daemon.log.parent / "bb.tar"
    cli.ok("save", "-o", str(tar), "course/bb:1")
    assert tar.stat().st_size > 500_000
    cli.ok("rmi", "course/bb:1")
    assert "course/bb" not in cli.ok("images")
    assert "Loaded image: course/bb:1" in cli.ok("load", "-i", str(tar))
    out = cli.ok("run", "--rm", "course/bb:1", "echo", "loaded")
    assert out == "loaded\n"
    # import of a rootfs tar: export-like tar made from the host's busybox
    root = daemon.log.parent / "root"
    (root / "bin").mkdir(parents=True)
    subprocess.run(["cp", "/bin/busybox", str(root / "bin" / "busybox")], check=True)
    os.symlink("busybox", root / "bin" / "sh")
    rootfs = daemon.log.parent / "rootfs.tar"
    subprocess.run(["tar", "-C", str(root), "-cf", str(rootfs), "."], check=True)
    iid = cli.ok("import", "-c", 'CMD ["sh", "-c", "echo imported"]', str(rootfs), "imp:1").strip()
    assert iid.startswith("sha256:")
    assert cli.ok("run", "--rm", "imp:1") == "imported\n"
    hist = cli.ok("history", "--format", "{{.Comment}}", "imp:1")
    assert hist.strip() == "Imported from -"
    # rmi refuses an image in use
    cli.ok("create", "--name", "user", "imp:1")
    p = cli.run("rmi", "imp:1")
    assert p.returncode != 0 and "conflict" in p.stderr.lower()
    df = cli.ok("system", "df", "--format", "{{.Type}} {{.TotalCount}}").splitlines()
    assert "Images 3" in df or "Images 2" in df, df
    assert "Containers 1" in df
    cli.ok("rm", "user")
    untagged = cli.ok("rmi", "imp:1")
    assert "Untagged: imp:1" in untagged and "Deleted: sha256:" in untagged
    until = str(int(time.time()) + 1)
    events = cli.ok(
        "events", "--since", since, "--until", until, "--format", "{{.Type}} {{.Action}}"
    )
    lines = events.splitlines()
    for expected in (
        "image tag",
        "image untag",
        "image load",
        "image import",
        "container create",
        "container destroy",
        "image delete",
    ):
        assert expected in lines, (expected, lines)
    # a live events stream sees a container start
    live = subprocess.Popen(
        [cli.binary, "events", "--filter", "type=container", "--format", "{{.Action}}"],
        env=cli.env,
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    try:
        time.sleep(0.5)
        cli.ok("run", "--rm", "busybox", "true")
        time.sleep(0.5)
    finally:
        live.send_signal(signal.SIGINT)
        out_b, _ = live.communicate(timeout=10)
    actions = out_b.decode().split()
    assert actions == ["create", "attach", "start", "die", "destroy"], actions


@pytest.mark.skipif(not os.access(CLI_20, os.X_OK), reason="no docker 20.10 CLI")
def test_cli_20_lifecycle(daemon: RunningDaemon) -> None:  # noqa: F811
    cli = make_cli(CLI_20, daemon)
    cli.ok("run", "-d", "--name", "old", "-p", "8081:80", "busybox", "sleep", "1000")
    assert cli.ok("exec", "old", "hostname").strip() == cli.inspect("old")[0]["Id"][:12]
    assert cli.ok("port", "old").splitlines()[0] == "80/tcp -> 0.0.0.0:8081"
    cli.ok("stop", "-t", "0", "old")
    assert cli.ok("wait", "old") == "137\n"
    assert cli.ok("rm", "old") == "old\n"
    assert cli.ok("run", "--rm", "-i", "busybox", "cat", stdin="twenty\n") == "twenty\n"
