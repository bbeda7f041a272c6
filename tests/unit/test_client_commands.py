"""docker-like commands against the fake daemon: requests sent, output, exit codes."""

from __future__ import annotations

import io
import os

import pytest

from dockerscope.client.commands import Console, build_parser, main
from tests.unit.test_client_fakeserver import (
    CID,
    IMAGE_ID,
    NEW_ID,
    Behaviour,
    FakeDocker,
    serving,
)

fake_docker = pytest.fixture(serving)


class Run:
    """One command's exit code, stdout and stderr."""

    def __init__(self, fake: FakeDocker, *argv: str, stdin: bytes | None = None) -> None:
        out, err = io.BytesIO(), io.BytesIO()
        stdin_fd = 0
        r = None
        if stdin is not None:
            r, w = os.pipe()
            os.write(w, stdin)
            os.close(w)
            stdin_fd = r
        try:
            self.code = main(
                ["-H", "unix://" + fake.socket_path, *argv], Console(out, err, stdin_fd)
            )
        finally:
            if r is not None:
                os.close(r)
        self.out = out.getvalue().decode()
        self.err = err.getvalue().decode()


def _ref_lines(ident: str) -> list[str]:
    """08-cli-api-calls.txt: what the docker CLI sent for `run --rm` (echo)."""
    return [
        "HEAD /_ping",
        "POST /v1.41/containers/create",
        f"POST /v1.41/containers/{ident}/attach?stderr=1&stdout=1&stream=1",
        f"POST /v1.41/containers/{ident}/wait?condition=removed",
        f"POST /v1.41/containers/{ident}/start",
    ]


def test_run_rm_sends_the_cli_sequence_and_prints_output(fake_docker: FakeDocker) -> None:
    fake_docker.behaviour = Behaviour(stdout=b"hello\n", stderr=b"warn\n", exit_code=0)
    r = Run(fake_docker, "run", "--rm", "busybox", "echo", "hello")
    assert r.code == 0
    assert r.out == "hello\n"
    assert r.err == "warn\n"
    assert fake_docker.lines == _ref_lines(NEW_ID)
    body = fake_docker.find("POST", "/v1.41/containers/create").body
    assert body["Cmd"] == ["echo", "hello"]
    assert body["HostConfig"]["AutoRemove"] is True
    assert (body["AttachStdin"], body["AttachStdout"], body["OpenStdin"]) == (False, True, False)


def test_run_i_attaches_stdin_and_half_closes(fake_docker: FakeDocker) -> None:
    fake_docker.behaviour = Behaviour(echo_stdin=True, exit_code=0)
    r = Run(fake_docker, "run", "--rm", "-i", "busybox", "cat", stdin=b"piped\n")
    assert r.code == 0
    assert r.out == "piped\n"
    assert fake_docker.lines[2] == (
        f"POST /v1.41/containers/{NEW_ID}/attach?stderr=1&stdin=1&stdout=1&stream=1"
    )
    body = fake_docker.find("POST", "/v1.41/containers/create").body
    assert (body["AttachStdin"], body["OpenStdin"], body["StdinOnce"]) == (True, True, True)


def test_run_returns_the_container_exit_code(fake_docker: FakeDocker) -> None:
    fake_docker.behaviour = Behaviour(exit_code=3)
    r = Run(fake_docker, "run", "busybox", "sh", "-c", "exit 3")
    assert r.code == 3
    assert f"POST /v1.41/containers/{NEW_ID}/wait?condition=next-exit" in fake_docker.lines


def test_run_d_creates_starts_and_prints_the_id(fake_docker: FakeDocker) -> None:
    r = Run(
        fake_docker,
        "run",
        "-d",
        "--name",
        "web",
        "-p",
        "8080:8080",
        "busybox",
        "httpd",
        "-f",
        "-p",
        "8080",
    )
    assert r.code == 0
    assert r.out == NEW_ID + "\n"
    assert fake_docker.lines == [
        "HEAD /_ping",
        "POST /v1.41/containers/create?name=web",
        f"POST /v1.41/containers/{NEW_ID}/wait?condition=next-exit",  # as the docker CLI does
        f"POST /v1.41/containers/{NEW_ID}/start",
    ]
    body = fake_docker.calls[1].body
    assert body["Cmd"] == ["httpd", "-f", "-p", "8080"]
    assert body["ExposedPorts"] == {"8080/tcp": {}}
    assert body["HostConfig"]["PortBindings"] == {"8080/tcp": [{"HostIp": "", "HostPort": "8080"}]}
    assert body["AttachStdout"] is False


def test_run_flags_become_the_create_body(fake_docker: FakeDocker, tmp_path) -> None:
    r = Run(
        fake_docker,
        "run",
        "-d",
        "-e",
        "A=1",
        "-v",
        f"{tmp_path}:/data:ro",
        "-v",
        "/anon",
        "-m",
        "64m",
        "--cpus",
        "0.5",
        "--cpu-shares",
        "512",
        "--pids-limit",
        "20",
        "-h",
        "box",
        "-w",
        "/data",
        "-u",
        "1000:1000",
        "--entrypoint",
        "/bin/sh",
        "--net",
        "my-new-network",
        "-P",
        "-l",
        "course=7",
        "busybox",
    )
    assert r.code == 0, r.err
    body = fake_docker.find("POST", "/v1.41/containers/create").body
    hc = body["HostConfig"]
    assert body["Env"] == ["A=1"]
    assert body["Cmd"] is None
    assert body["Entrypoint"] == ["/bin/sh"]
    assert (body["Hostname"], body["WorkingDir"], body["User"]) == ("box", "/data", "1000:1000")
    assert body["Volumes"] == {"/anon": {}}
    assert body["Labels"] == {"course": "7"}
    assert hc["Binds"] == [f"{tmp_path}:/data:ro"]
    assert (hc["Memory"], hc["NanoCpus"], hc["CpuShares"], hc["PidsLimit"]) == (
        64 * 2**20,
        500_000_000,
        512,
        20,
    )
    assert hc["NetworkMode"] == "my-new-network"
    assert hc["PublishAllPorts"] is True


def test_run_bad_memory_is_a_usage_error_before_any_request(fake_docker: FakeDocker) -> None:
    r = Run(fake_docker, "run", "-m", "lots", "busybox")
    assert r.code == 125
    assert "invalid argument" in r.err
    assert "POST /v1.41/containers/create" not in fake_docker.lines


def test_run_pulls_a_missing_builtin_image(fake_docker: FakeDocker) -> None:
    fake_docker.images = set()
    r = Run(fake_docker, "run", "-d", "busybox")
    assert r.code == 0, r.err
    assert r.err.startswith("Unable to find image 'busybox:latest' locally\n")
    assert "Status: Downloaded newer image for busybox:latest" in r.err
    assert r.out == NEW_ID + "\n"
    lines = fake_docker.lines
    assert lines[1:4] == [
        "POST /v1.41/containers/create",
        "POST /v1.41/images/create?fromImage=busybox&tag=latest",
        "POST /v1.41/containers/create",
    ]


def test_run_unknown_image_fails_like_docker(fake_docker: FakeDocker) -> None:
    r = Run(fake_docker, "run", "nosuch")
    assert r.code == 125
    assert "docker: Error response from daemon: nosuch:latest: not available offline" in r.err


def test_run_ti_without_a_terminal_refuses(fake_docker: FakeDocker) -> None:
    r = Run(fake_docker, "run", "-ti", "busybox", "sh", stdin=b"")
    assert r.code == 1
    assert r.err == "the input device is not a TTY\n"


def test_error_from_daemon_is_printed_with_exit_code_1(fake_docker: FakeDocker) -> None:
    r = Run(fake_docker, "stop", "nosuch")
    assert (r.code, r.out, r.err) == (
        1,
        "",
        "Error response from daemon: No such container: nosuch\n",
    )


def test_stop_several_prints_each_and_fails_on_any(fake_docker: FakeDocker) -> None:
    r = Run(fake_docker, "stop", "-t", "1", "web", "nosuch")
    assert r.code == 1
    assert r.out == "web\n"
    assert "POST /v1.41/containers/web/stop?t=1" in fake_docker.lines


def test_rm_f_matches_the_cli_request(fake_docker: FakeDocker) -> None:
    r = Run(fake_docker, "rm", "-f", "web")
    assert (r.code, r.out) == (0, "web\n")
    assert fake_docker.lines == ["HEAD /_ping", "DELETE /v1.41/containers/web?force=1"]


def test_ps_a_request_and_table(fake_docker: FakeDocker) -> None:
    r = Run(fake_docker, "ps", "-a")
    assert fake_docker.lines == ["HEAD /_ping", "GET /v1.41/containers/json?all=1"]
    assert r.out.splitlines()[0].startswith("CONTAINER ID   IMAGE           COMMAND   ")
    assert len(r.out.splitlines()) == 3


def test_ps_q_and_filter(fake_docker: FakeDocker) -> None:
    r = Run(fake_docker, "ps", "-q", "--filter", "name=web")
    assert r.out == CID[:12] + "\n"
    assert fake_docker.calls[1].query["filters"] == ['{"name": {"web": true}}']


def test_network_create_and_rm_match_the_cli(fake_docker: FakeDocker) -> None:
    r = Run(fake_docker, "network", "create", "--subnet", "172.30.0.0/16", "course-net")
    assert (r.code, r.out) == (0, "b" * 64 + "\n")
    body = fake_docker.find("POST", "/v1.41/networks/create").body
    assert body["Name"] == "course-net"
    assert body["Driver"] == "bridge"
    assert body["CheckDuplicate"] is True
    assert body["IPAM"]["Config"] == [{"Subnet": "172.30.0.0/16"}]
    fake_docker.calls.clear()
    r = Run(fake_docker, "network", "rm", "course-net")
    assert (r.code, r.out) == (0, "course-net\n")
    assert fake_docker.lines == [
        "HEAD /_ping",
        "GET /v1.41/networks/course-net",
        "DELETE /v1.41/networks/course-net",
    ]


def test_network_ls_and_inspect(fake_docker: FakeDocker) -> None:
    r = Run(fake_docker, "network", "ls")
    assert r.out.splitlines()[1].split() == ["c04a2366faa4", "bridge", "bridge", "local"]
    r = Run(fake_docker, "network", "inspect", "nosuchnet")
    assert (r.code, r.out, r.err) == (
        1,
        "[]\n",
        "Error response from daemon: No such network: nosuchnet\n",
    )
    r = Run(fake_docker, "network", "rm", "nosuchnet")
    assert (r.code, r.err) == (1, "Error response from daemon: network nosuchnet not found\n")
    assert fake_docker.lines[-2:] == [
        "GET /v1.41/networks/nosuchnet",
        "DELETE /v1.41/networks/nosuchnet",
    ]


def test_network_connect_body(fake_docker: FakeDocker) -> None:
    r = Run(fake_docker, "network", "connect", "--alias", "db", "bridge", "web")
    assert r.code == 0
    assert fake_docker.find("POST", "/v1.41/networks/bridge/connect").body == {
        "Container": "web",
        "EndpointConfig": {"Aliases": ["db"]},
    }


def test_images_and_inspect_fallback(fake_docker: FakeDocker) -> None:
    r = Run(fake_docker, "images")
    assert r.out.splitlines()[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    r = Run(fake_docker, "inspect", "nosuch")
    assert (r.code, r.out, r.err) == (1, "[]\n", "Error: No such object: nosuch\n")


def test_logs_demultiplexes(fake_docker: FakeDocker) -> None:
    fake_docker.behaviour = Behaviour(stdout=b"line1\n", stderr=b"oops\n")
    r = Run(fake_docker, "logs", "--tail", "5", "web")
    assert (r.out, r.err) == ("line1\n", "oops\n")
    logs = fake_docker.find("GET", "/v1.41/containers/web/logs")
    assert logs.query == {"stderr": ["1"], "stdout": ["1"], "tail": ["5"]}


def test_exec_runs_and_returns_the_exit_code(fake_docker: FakeDocker) -> None:
    fake_docker.behaviour = Behaviour(stdout=b"root\n", exit_code=7)
    r = Run(fake_docker, "exec", "-e", "X=1", "web", "whoami")
    assert (r.code, r.out) == (7, "root\n")
    body = fake_docker.find("POST", "/v1.41/containers/web/exec").body
    assert body["Cmd"] == ["whoami"] and body["Env"] == ["X=1"]
    start = fake_docker.find("POST", "/v1.41/exec/e1/start")
    assert start.body == {"Detach": False, "Tty": False}
    assert start.headers["upgrade"] == "tcp"


def test_port_top_diff_wait(fake_docker: FakeDocker) -> None:
    assert Run(fake_docker, "port", "web").out == (
        "8080/tcp -> 0.0.0.0:8080\n8080/tcp -> :::8080\n"
    )
    assert Run(fake_docker, "top", "web").out.splitlines()[1].split() == [
        "root",
        "4242",
        "sleep",
        "600",
    ]
    assert Run(fake_docker, "diff", "web").out == "C /tmp\nA /tmp/x\nD /etc/motd\n"
    fake_docker.exited.set()
    assert Run(fake_docker, "wait", "web").out == "0\n"


def test_version_shows_both_sides(fake_docker: FakeDocker) -> None:
    r = Run(fake_docker, "version")
    assert "Server:\n Engine:\n  Version:          20.10.24+dfsg1\n" in r.out
    assert " API version:       1.41\n" in r.out


def test_pull_prints_plain_progress(fake_docker: FakeDocker) -> None:
    r = Run(fake_docker, "pull", "busybox")
    assert r.code == 0
    lines = r.out.splitlines()
    assert lines[0] == "Using default tag: latest"
    assert lines[-1] == "busybox:latest"
    assert sum("Building" in ln for ln in lines) == 1  # one line per status, not per tick


def test_unreachable_daemon(tmp_path) -> None:
    out, err = io.BytesIO(), io.BytesIO()
    code = main(["-H", f"unix://{tmp_path}/no.sock", "ps"], Console(out, err))
    assert code == 1
    assert b"Cannot connect to the Docker daemon at unix://" in err.getvalue()


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "-ti", "--rm", "busybox", "sh"],
        ["run", "-itd", "busybox"],
        ["run", "-h", "box", "busybox", "ls", "-la"],
        ["create", "--name", "x", "busybox"],
        ["start", "-ai", "x"],
        ["exec", "-ti", "web", "sh", "-c", "ls -l"],
        ["logs", "-f", "--tail", "10", "web"],
        ["network", "prune", "-f"],
        ["network", "disconnect", "-f", "bridge", "web"],
        ["images", "-q"],
        ["save", "-o", "/tmp/x.tar", "busybox"],
        ["load", "-i", "/tmp/x.tar"],
        ["import", "-", "mine:1"],
        ["commit", "-m", "msg", "web", "mine:2"],
        ["tag", "busybox", "mine:3"],
        ["rmi", "-f", "mine:3"],
        ["kill", "-s", "HUP", "web"],
        ["restart", "web"],
        ["rename", "web", "web2"],
        ["history", "busybox"],
        ["events", "--since", "1h"],
        ["info"],
    ],
)
def test_every_command_parses(argv) -> None:
    args = build_parser().parse_args(argv)
    assert callable(args.docker_handler)


def test_run_keeps_flags_after_the_image_for_the_command() -> None:
    args = build_parser().parse_args(["run", "-d", "busybox", "ls", "-l", "-d"])
    assert (args.detach, args.image, args.command) == (True, "busybox", ["ls", "-l", "-d"])
    assert args.hostname is None


def test_sig_proxy_flag() -> None:
    assert build_parser().parse_args(["run", "busybox"]).sig_proxy is True
    assert build_parser().parse_args(["run", "--sig-proxy=false", "busybox"]).sig_proxy is False


def test_signal_during_attached_run_is_forwarded_to_the_container(fake_docker: FakeDocker) -> None:
    import signal as _signal

    from dockerscope.client.api import DockerClient
    from dockerscope.client.commands import proxy_signals

    client = DockerClient("unix://" + fake_docker.socket_path)
    before = _signal.getsignal(_signal.SIGINT)
    with proxy_signals(client, "web"):
        os.kill(os.getpid(), _signal.SIGINT)
    assert _signal.getsignal(_signal.SIGINT) is before
    assert "POST /v1.41/containers/web/kill?signal=SIGINT" in fake_docker.lines


def test_import_streams_the_tar_and_tags(fake_docker: FakeDocker, tmp_path) -> None:
    tar = tmp_path / "rootfs.tar"
    tar.write_bytes(b"x" * 100_000)
    r = Run(fake_docker, "import", str(tar), "mine:1")
    assert (r.code, r.out) == (0, "sha256:" + "d" * 64 + "\n")
    call = fake_docker.find("POST", "/v1.41/images/create")
    assert call.query == {"fromSrc": ["-"], "repo": ["mine"], "tag": ["1"]}
    assert call.body == b"x" * 100_000
    assert call.headers["content-type"] == "application/x-tar"


def test_load_from_stdin_and_save_to_a_file(fake_docker: FakeDocker, tmp_path) -> None:
    r = Run(fake_docker, "load", stdin=b"TAR" * 10)
    assert (r.code, r.out) == (0, "Loaded image: busybox:latest\n")
    assert fake_docker.find("POST", "/v1.41/images/load").body == b"TAR" * 10
    out = tmp_path / "busybox.tar"
    r = Run(fake_docker, "save", "-o", str(out), "busybox")
    assert r.code == 0, r.err
    assert out.read_bytes() == b"TARDATA" * 1000
    r = Run(fake_docker, "save", "-o", str(tmp_path / "none.tar"), "nosuch")
    assert (r.code, r.err) == (1, "Error response from daemon: No such image: nosuch\n")
    assert not (tmp_path / "none.tar").exists()
    assert not (tmp_path / "none.tar.tmp").exists()


def test_events_lines(fake_docker: FakeDocker) -> None:
    r = Run(fake_docker, "events", "--filter", "type=container")
    lines = r.out.splitlines()
    assert len(lines) == 2
    assert lines[0].endswith(f" container start {CID} (name=web)")
    assert fake_docker.calls[1].query["filters"] == ['{"type": {"container": true}}']


def test_commit_tag_rmi_history(fake_docker: FakeDocker) -> None:
    r = Run(fake_docker, "commit", "-m", "msg", "web", "mine:2")
    assert r.out == "sha256:" + "e" * 64 + "\n"
    assert fake_docker.find("POST", "/v1.41/commit").query == {
        "comment": ["msg"],
        "container": ["web"],
        "pause": ["1"],
        "repo": ["mine"],
        "tag": ["2"],
    }
    assert Run(fake_docker, "tag", "busybox", "mine:3").code == 0
    assert "POST /v1.41/images/busybox/tag?repo=mine&tag=3" in fake_docker.lines
    r = Run(fake_docker, "rmi", "mine:3")
    assert r.out == f"Untagged: mine:3\nDeleted: {IMAGE_ID}\n"
    r = Run(fake_docker, "rmi", "busybox")
    assert r.code == 1 and "must force" in r.err
    r = Run(fake_docker, "history", "busybox")
    assert r.out.splitlines()[0].split() == ["IMAGE", "CREATED", "CREATED", "BY", "SIZE", "COMMENT"]
    assert "1.98MB" in r.out


def test_attach_to_a_running_container(fake_docker: FakeDocker) -> None:
    fake_docker.behaviour = Behaviour(stdout=b"still here\n")
    r = Run(fake_docker, "attach", "--no-stdin", "web")
    assert (r.code, r.out) == (0, "still here\n")
    assert fake_docker.find("POST", "/v1.41/containers/web/attach").query == {
        "stderr": ["1"],
        "stdout": ["1"],
        "stream": ["1"],
    }


def test_line_runner_for_command_bars(fake_docker: FakeDocker) -> None:
    from dockerscope.client.commands import line_runner

    run = line_runner("unix://" + fake_docker.socket_path)
    assert run("docker ps").startswith("CONTAINER ID")
    assert fake_docker.lines == ["HEAD /_ping", "GET /v1.41/containers/json"]
    assert run("docker stop nosuch") == "Error response from daemon: No such container: nosuch\n"
    assert "invalid choice" in run("docker frobnicate")
    assert run("docker run -ti busybox sh") == "the input device is not a TTY\n"
    assert "Run a command in a new container" in run("docker run --help")


def test_daemon_dying_mid_answer_is_a_clean_error(fake_docker: FakeDocker) -> None:
    r = Run(fake_docker, "top", "crash")
    assert r.code == 1
    assert r.err.startswith("error during connect: ")


def test_start_a_attaches_waits_then_starts(fake_docker: FakeDocker) -> None:
    fake_docker.behaviour = Behaviour(stdout=b"again\n", exit_code=2)
    r = Run(fake_docker, "start", "-a", "web")
    assert (r.code, r.out) == (2, "again\n")
    assert [line.split("?")[0] for line in fake_docker.lines] == [
        "HEAD /_ping",
        "GET /v1.41/containers/web/json",
        "POST /v1.41/containers/web/attach",
        "POST /v1.41/containers/web/wait",
        "POST /v1.41/containers/web/start",
    ]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1h", str(1_000_000 - 3600)),
        ("1h30m", str(1_000_000 - 5400)),
        ("90s", str(1_000_000 - 90)),
        ("1700000000", "1700000000"),
        ("1700000000.5", "1700000000.5"),
        ("2026-11-27T20:00:00+00:00", "1795809600"),
        ("2026-11-27T20:00:00Z", "1795809600"),
    ],
)
def test_since_until_become_timestamps(value, expected) -> None:
    from dockerscope.client.options import timestamp_param

    assert timestamp_param(value, 1_000_000.0) == expected


def test_events_since_is_sent_as_a_timestamp(fake_docker: FakeDocker) -> None:
    Run(fake_docker, "events", "--since", "10m", "--until", "0s")
    query = fake_docker.find("GET", "/v1.41/events").query
    assert int(query["since"][0]) > 1_700_000_000
    assert int(query["until"][0]) - int(query["since"][0]) in (599, 600, 601)


def test_pull_on_a_terminal_redraws_progress_in_place(fake_docker: FakeDocker) -> None:
    import pty

    from dockerscope.client.api import DockerClient
    from dockerscope.client.commands import pull_image

    master, slave = pty.openpty()
    try:
        with os.fdopen(os.dup(slave), "wb", buffering=0) as term:
            console = Console(term, io.BytesIO(), 0)
            pull_image(DockerClient("unix://" + fake_docker.socket_path), "busybox", console)
        os.close(slave)
        slave = -1
        data = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            data += chunk
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)
    text = data.decode()
    # the two "Building" ticks share one line, rewritten with \r, then the line is closed
    assert "\r\x1b[Kbusybox: Building 1/2\r\x1b[Kbusybox: Building 2/2" in text
    assert "Status: Downloaded newer image for busybox:latest" in text
