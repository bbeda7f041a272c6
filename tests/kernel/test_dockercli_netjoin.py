"""`--network container:<name>`: a second container joins the first one's network stack."""

from __future__ import annotations

import os

import pytest

from tests.kernel.test_dockercli_run import CLI_28, make_cli, needs_cli
from tests.kernel.test_engine_daemon import RunningDaemon, daemon  # noqa: F401 (fixture)

pytestmark = pytest.mark.kernel


@needs_cli
def test_network_container_mode_shares_the_stack(daemon: RunningDaemon) -> None:  # noqa: F811
    cli = make_cli(CLI_28, daemon)
    cli.ok("run", "-d", "--name", "first", "busybox", "sleep", "600")
    first = cli.inspect("first")[0]
    ip = first["NetworkSettings"]["Networks"]["bridge"]["IPAddress"]
    first_netns = os.stat(f"/proc/{first['State']['Pid']}/ns/net").st_ino

    # The joiner sees the first container's eth0 and address, and its name.
    out = cli.ok(
        "run", "-d", "--name", "second", "--network", "container:first", "busybox", "sleep", "600"
    )
    second = cli.inspect("second")[0]
    assert second["HostConfig"]["NetworkMode"] == f"container:{first['Id']}"
    assert os.stat(f"/proc/{second['State']['Pid']}/ns/net").st_ino == first_netns
    assert second["Config"]["Hostname"] == first["Config"]["Hostname"]
    assert f"inet {ip}/16" in cli.ok("exec", "second", "ip", "-o", "-4", "addr", "show", "eth0")
    assert second["NetworkSettings"]["Networks"] == {}  # no endpoint of its own
    assert out.strip() == second["Id"]

    # Only one veth on docker0: the joiner brought none.
    veths = cli.lab_sh("ip -o link show master docker0").strip().splitlines()
    assert len(veths) == 1

    # Removing the joiner leaves the first container's network untouched.
    cli.ok("rm", "-f", "second")
    assert f"inet {ip}/16" in cli.ok("exec", "first", "ip", "-o", "-4", "addr", "show", "eth0")


@needs_cli
def test_network_container_mode_refusals(daemon: RunningDaemon) -> None:  # noqa: F811
    cli = make_cli(CLI_28, daemon)
    p = cli.run("run", "--rm", "--network", "container:nosuch", "busybox", "true")
    assert p.returncode != 0 and "No such container: nosuch" in p.stderr

    cli.ok("create", "--name", "idle", "busybox", "sleep", "600")
    p = cli.run("run", "--rm", "--network", "container:idle", "busybox", "true")
    assert p.returncode != 0 and "cannot join network of a non running container" in p.stderr

    cli.ok("start", "idle")
    p = cli.run("run", "--rm", "--network", "container:idle", "-p", "8081:80", "busybox", "true")
    assert p.returncode != 0 and "port publishing and the container type network mode" in p.stderr
    p = cli.run("run", "--rm", "--network", "container:idle", "-h", "x", "busybox", "true")
    assert p.returncode != 0 and "conflicting options: hostname" in p.stderr
    names = cli.ok("ps", "-a", "--format", "{{.Names}}").split()
    assert names == ["idle"]  # nothing half-made by the refusals
