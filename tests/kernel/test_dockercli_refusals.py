"""What dockerscope does not do, it says, through the real CLI: a 4xx naming the flag or
command, and nothing left half-made."""

from __future__ import annotations

import pytest

from tests.kernel.test_dockercli_run import CLI_28, make_cli, needs_cli
from tests.kernel.test_engine_daemon import RunningDaemon, daemon  # noqa: F401 (fixture)

pytestmark = pytest.mark.kernel

REFUSED_RUN = [
    (["--privileged"], "--privileged"),
    (["--cap-add", "NET_ADMIN"], "--cap-add"),
    (["--restart", "always"], "--restart always"),
    (["-v", "named:/data"], "named volumes"),
    (["--mount", "type=volume,src=v,dst=/v"], "--mount"),
    (["--ulimit", "nofile=10:10"], "--ulimit"),
    (["--read-only"], "--read-only"),
    (["--device", "/dev/null"], "--device"),
    (["--cgroupns", "private"], "CgroupnsMode='private'"),
]


@needs_cli
def test_refused_flags_and_commands(daemon: RunningDaemon) -> None:  # noqa: F811
    cli = make_cli(CLI_28, daemon)
    for flags, text in REFUSED_RUN:
        p = cli.run("run", *flags, "busybox", "true")
        assert p.returncode == 125, (flags, p.stderr)
        assert "not supported by dockerscope" in p.stderr and text in p.stderr, (flags, p.stderr)
    assert cli.ok("ps", "-a", "-q") == ""
    cli.ok("network", "create", "n1")
    p = cli.run("run", "--rm", "--network", "n1", "--ip", "172.30.0.9", "busybox", "true")
    assert p.returncode == 125 and "not supported by dockerscope" in p.stderr
    cli.ok("run", "-d", "--name", "live", "busybox", "sleep", "1000")
    for args, text in [
        (["pause", "live"], "pause"),
        (["update", "--memory", "10m", "live"], "update"),
        (["stats", "--no-stream", "live"], "stats"),
        (["cp", "live:/etc/passwd", str(daemon.log.parent / "x")], "docker cp"),
        (["export", "live"], "export"),
        (["volume", "create", "v1"], "named volumes"),
        (["network", "create", "-d", "overlay", "ov"], "overlay"),
        (["pull", "--platform", "linux/arm64", "busybox"], "--platform linux/arm64"),
        (["image", "prune", "-a", "-f"], "image prune -a"),
        (["container", "prune", "-f", "--filter", "until=1h"], "container prune --filter until"),
        (["images", "--filter", "since=busybox"], "images --filter since"),
        (["run", "--platform", "linux/arm64", "busybox", "true"], "--platform linux/arm64"),
    ]:
        p = cli.run(*args)
        assert p.returncode != 0, (args, p.stdout)
        assert "not supported by dockerscope" in p.stderr and text in p.stderr, (args, p.stderr)
    assert cli.ok("ps", "-a", "--format", "{{.Names}}") == "live\n"
    assert cli.ok("images", "--format", "{{.Repository}}") == "busybox\n"
    # system prune also asks for build-cache pruning: there is none, and it says 0B
    cli.ok("stop", "-t", "0", "live")
    assert "Total reclaimed space: 0B" in cli.ok("system", "prune", "-f")
    assert cli.ok("ps", "-a", "-q") == ""
    assert sorted(cli.ok("network", "ls", "--format", "{{.Name}}").split()) == [
        "bridge",
        "host",
        "none",
    ]
