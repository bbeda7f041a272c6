"""The dockerscope command line: parsing, env, host choice, lab listing, the default action."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dockerscope import cli
from dockerscope.engine.paths import Lab
from tests.unit.test_client_fakeserver import FakeDocker, serving

fake_docker = pytest.fixture(serving)


@pytest.mark.parametrize(
    ("argv", "sub"),
    [
        ([], None),
        (["course", "--lab", "l1"], "course"),
        (["env"], "env"),
        (["env", "--lab", "l1", "--unset"], "env"),
        (["ssh"], "ssh"),
        (["ssh", "--lab", "l1", "--", "ip", "netns"], "ssh"),
        (["lab", "ls"], "lab"),
        (["lab", "down", "l1"], "lab"),
        (["scope"], "scope"),
        (["scope", "--netns", "n1"], "scope"),
        (["scope", "--host"], "scope"),
        (["scope", "--lab", "l1"], "scope"),
        (["record", "02-socket", "-o", "out.jsonl"], "record"),
        (["replay"], "replay"),
        (["replay", "x.jsonl"], "replay"),
        (["run", "-d", "-p", "8080:8080", "busybox", "httpd", "-f"], "run"),
        (["--lab", "l1", "ps", "-a"], "ps"),
        (["network", "create", "my-new-network"], "network"),
    ],
)
def test_every_subcommand_parses(argv, sub) -> None:
    args = cli.build_parser().parse_args(argv)
    assert args.subcommand == sub


def test_ssh_keeps_the_command() -> None:
    args = cli.build_parser().parse_args(["ssh", "--lab", "l1", "--", "ip", "-br", "link"])
    assert args.lab == "l1"
    assert args.cmd[-3:] == ["ip", "-br", "link"]


def test_global_lab_is_kept_when_the_subcommand_has_none() -> None:
    args = cli.build_parser().parse_args(["--lab", "l2", "env"])
    assert cli.common.lab_from(args).name == "l2"
    args = cli.build_parser().parse_args(["--lab", "l2", "env", "--lab", "l3"])
    assert cli.common.lab_from(args).name == "l3"


def test_scope_choices_are_exclusive(capsys) -> None:
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["scope", "--host", "--netns", "x"])


def test_env_prints_the_lab_socket(capsys) -> None:
    assert cli.main(["env", "--lab", "course1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "export DOCKER_HOST=unix:///run/dockerscope/course1/docker.sock"
    assert out[-1] == "# eval $(dockerscope env --lab course1)"


def test_env_default_lab_and_unset(capsys) -> None:
    cli.main(["env"])
    assert capsys.readouterr().out.startswith(
        "export DOCKER_HOST=unix:///run/dockerscope/dockerscope/docker.sock\n"
    )
    cli.main(["env", "--unset"])
    assert capsys.readouterr().out.startswith("unset DOCKER_HOST\n")


def test_env_output_evaluates_in_a_shell() -> None:
    code = f"eval $({sys.executable} -m dockerscope env --lab l9); echo $DOCKER_HOST"
    out = subprocess.run(
        ["sh", "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=str(Path(__file__).resolve().parents[2]),
    )
    assert out.stdout.strip() == "unix:///run/dockerscope/l9/docker.sock"


def test_bad_lab_name_is_a_clear_error(capsys) -> None:
    assert cli.main(["env", "--lab", "Bad_Name"]) == 1
    assert "bad lab name 'Bad_Name'" in capsys.readouterr().err


def _args(**kw) -> argparse.Namespace:
    base = {"host": None, "lab": None}
    base.update(kw)
    return argparse.Namespace(**base)


def test_docker_host_precedence() -> None:
    env = {"DOCKER_HOST": "tcp://127.0.0.1:2375"}
    assert cli.common.docker_host_for(_args(host="unix:///h.sock", lab="l1"), env).url == (
        "unix:///h.sock"
    )
    assert cli.common.docker_host_for(_args(lab="l1"), env).url == (
        "unix:///run/dockerscope/l1/docker.sock"
    )
    assert cli.common.docker_host_for(_args(), env).url == "tcp://127.0.0.1:2375"
    assert cli.common.docker_host_for(_args(), {}).url == (
        "unix:///run/dockerscope/dockerscope/docker.sock"
    )


def test_docker_commands_go_through_the_client(fake_docker: FakeDocker, capfd) -> None:
    code = cli.main(["-H", "unix://" + fake_docker.socket_path, "stop", "nosuch"])
    assert code == 1
    assert capfd.readouterr().err == "Error response from daemon: No such container: nosuch\n"
    assert fake_docker.lines == ["HEAD /_ping", "POST /v1.41/containers/nosuch/stop"]


def test_daemon_arguments_pass_through(monkeypatch) -> None:
    seen = {}

    class FakeDaemon:
        @staticmethod
        def main(argv):
            seen["argv"] = argv
            return 0

    from dockerscope.engine import daemon

    monkeypatch.setattr(daemon, "main", FakeDaemon.main)
    assert cli.main(["--lab", "l4", "daemon", "--tcp", "127.0.0.1:2376", "--insecure-tcp"]) == 0
    assert seen["argv"] == ["--lab", "l4", "--tcp", "127.0.0.1:2376", "--insecure-tcp"]
    assert cli.main(["daemon", "--lab", "l5"]) == 0
    assert seen["argv"] == ["--lab", "l5"]


def test_default_without_root_opens_replay_with_the_reason(monkeypatch) -> None:
    seen = {}

    class FakeUI:
        @staticmethod
        def run_replay(path, reason=None):
            seen["call"] = (path, reason)

    monkeypatch.setattr(cli.views, "ui", lambda: FakeUI)
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert cli.main([]) == 0
    assert seen["call"] == (None, cli.views.NOT_ROOT_REASON)


def test_default_as_root_starts_the_lab_then_opens_the_course(monkeypatch, tmp_path) -> None:
    seen: dict[str, object] = {}

    class FakeUI:
        @staticmethod
        def run_course(lab, source=None, client=None):
            seen["lab"] = lab.name
            seen["client"] = client

    monkeypatch.setattr(cli.views, "ui", lambda: FakeUI)
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(cli.labs, "ensure_daemon", lambda lab: seen.setdefault("ensured", lab))
    monkeypatch.setattr(cli.views, "lab_source", lambda lab: None)
    monkeypatch.setattr(sys, "platform", "linux")
    assert cli.main([]) == 0
    assert seen["lab"] == "dockerscope"
    assert seen["ensured"].name == "dockerscope"
    assert callable(seen["client"])


def test_lab_ls_reports_daemon_and_containers(tmp_path, fake_docker: FakeDocker, capsys) -> None:
    run_base, data_base = tmp_path / "run", tmp_path / "lib"
    live = Lab.named("live1", data_root=data_base / "live1", run_root=run_base / "live1")
    live.run_root.mkdir(parents=True)
    os.symlink(fake_docker.socket_path, live.socket)
    live.pidfile.write_text(f"{os.getpid()}\n")
    for cid in ("a" * 64, "b" * 64):
        (live.containers_dir / cid).mkdir(parents=True)
    (data_base / "old2" / "containers").mkdir(parents=True)
    assert cli.main(["lab", "ls", "--run-base", str(run_base), "--data-base", str(data_base)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["LAB", "DAEMON", "PID", "CONTAINERS", "SOCKET"]
    assert lines[1].split()[:4] == ["live1", "running", str(os.getpid()), "2"]
    assert lines[2].split()[:4] == ["old2", "stopped", "-", "0"]


def test_lab_down_needs_root(monkeypatch, capsys) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert cli.main(["lab", "down", "l1"]) == 1
    assert "needs root" in capsys.readouterr().err


def test_ssh_command_line_enters_netns_then_private_mounts() -> None:
    lab = Lab.named("l7", run_root=Path("/tmp/r/l7"))
    argv = cli.labs.lab_shell_argv(lab, ["ip", "netns"])
    assert argv[:3] == ["nsenter", "--net=/run/netns/l7", "--"]
    assert argv[3:9] == ["unshare", "--mount", "--uts", "--propagation", "private", "--"]
    assert argv[-4:] == ["l7", "/tmp/r/l7/netns", "ip", "netns"]


def test_help_lists_every_subcommand_with_a_description() -> None:
    text = cli.build_parser().format_help()
    for name in (
        "daemon",
        "env",
        "ssh",
        "lab",
        "scope",
        "record",
        "replay",
        "run",
        "ps",
        "network",
    ):
        assert f"    {name} " in text


def test_cli_help_does_not_import_heavy_parts() -> None:
    code = (
        "import sys, contextlib, io\n"
        "from dockerscope import cli\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try: cli.main(['--help'])\n"
        "    except SystemExit: pass\n"
        "bad = [m for m in ('textual', 'rich', 'pyroute2', 'iptc', 'dockerscope.engine.daemon',"
        " 'dockerscope.kernel.observer', 'dockerscope.screens') if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""


def test_rich_pull_display_draws_bars(monkeypatch) -> None:
    import io

    import rich.console

    buf = io.StringIO()
    real = rich.console.Console
    monkeypatch.setattr(
        rich.console, "Console", lambda **kw: real(file=buf, width=100, force_terminal=False)
    )
    display = cli.docker.RichPullDisplay()
    display.update(
        {"status": "Bootstrapping", "id": "debian", "progressDetail": {"current": 5, "total": 10}}
    )
    display.update(
        {"status": "Bootstrapping", "id": "debian", "progressDetail": {"current": 10, "total": 10}}
    )
    display.update({"status": "Status: Downloaded newer image for debian:latest"})
    display.close()
    assert "debian: Bootstrapping" in buf.getvalue()
    assert "100%" in buf.getvalue()


def test_pull_uses_the_display_when_given(fake_docker: FakeDocker) -> None:
    import io

    from dockerscope.client.api import DockerClient
    from dockerscope.client.commands import Console, pull_image

    seen: list[dict] = []

    class Display:
        closed = False

        def update(self, msg):
            seen.append(msg)

        def close(self):
            Display.closed = True

    out = io.BytesIO()
    console = Console(out, io.BytesIO(), pull_display=Display())
    pull_image(DockerClient("unix://" + fake_docker.socket_path), "busybox", console)
    assert Display.closed
    assert len(seen) == 4
    assert out.getvalue().decode().splitlines() == [
        "Status: Downloaded newer image for busybox:latest",
        "busybox:latest",
    ]


def test_course_without_root_and_no_running_lab_says_why(monkeypatch, capsys, tmp_path) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert cli.main(["course", "--lab", "nolab1", "--run-root", str(tmp_path)]) == 1
    assert "starting it needs root" in capsys.readouterr().err


def test_record_hands_over_to_the_scenario_recorder(monkeypatch) -> None:
    import types

    calls = []

    def record(scenario, output, lab=None):
        calls.append((scenario, output, getattr(lab, "name", lab)))
        return types.SimpleNamespace(ok=False)

    from dockerscope import scenario

    monkeypatch.setattr(scenario, "record", record)
    assert cli.main(["record", "02", "-o", "out.jsonl"]) == 1  # not every expectation held
    assert cli.main(["--lab", "l8", "record", "02", "-o", "out.jsonl"]) == 1
    assert calls == [("02", "out.jsonl", None), ("02", "out.jsonl", "l8")]


def test_scope_host_uses_one_docker_socket_for_panels_and_command_bar(monkeypatch) -> None:
    """`scope --host` hands DOCKER_HOST's socket to the observer's hints and the command bar."""
    seen: dict[str, object] = {}

    class FakeUi:
        @staticmethod
        def run_scope(source, client=None, title=""):
            seen["source"], seen["client"] = source, client

    class FakeScope:
        @staticmethod
        def host(docker_socket=None):
            seen["socket"] = docker_socket
            return "host-scope"

    class FakeObserver:
        Scope = FakeScope

        @staticmethod
        def LiveSource(scope):  # noqa: N802 (mirrors the observer's class)
            return ("live", scope)

    def fake_line_runner(host):
        seen["bar_host"] = host
        return "runner"

    monkeypatch.setenv("DOCKER_HOST", "unix:///tmp/other-docker.sock")
    parts = (FakeObserver.Scope, FakeObserver.LiveSource)
    monkeypatch.setattr(cli.views, "observer", lambda: parts)
    monkeypatch.setattr(cli.views, "ui", lambda: FakeUi)
    monkeypatch.setattr(cli.views.docker_commands, "line_runner", fake_line_runner)
    assert cli.main(["scope", "--host"]) == 0
    assert seen["socket"] == "/tmp/other-docker.sock"
    assert getattr(seen["bar_host"], "path", None) == "/tmp/other-docker.sock"
    assert seen["source"] == ("live", "host-scope")
