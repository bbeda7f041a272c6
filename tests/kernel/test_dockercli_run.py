"""The real docker CLI (28.x, and Debian's 20.10 where cheap) against a lab: `docker run` and
its flags, checked in the CLI's output, in inspect and in the lab's kernel objects."""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.kernel.test_engine_daemon import RunningDaemon, daemon  # noqa: F401 (fixture)

pytestmark = pytest.mark.kernel

CLI_28 = "/usr/local/bin/docker"
CLI_20 = "/usr/bin/docker"
CLIS = [c for c in (CLI_28, CLI_20) if os.access(c, os.X_OK)]
needs_cli = pytest.mark.skipif(not os.access(CLI_28, os.X_OK), reason="no docker CLI 28")


@dataclass
class Cli:
    """One docker CLI binary pointed at a lab's socket."""

    binary: str
    d: RunningDaemon
    config: Path

    @property
    def env(self) -> dict[str, str]:
        # Its own config dir: no contexts or credentials of the host's user leak in.
        return {
            **os.environ,
            "DOCKER_HOST": self.d.url,
            "DOCKER_CONFIG": str(self.config),
            "DOCKER_CLI_HINTS": "false",
        }

    def run(
        self, *args: str, stdin: str | bytes | None = None, timeout: float = 30
    ) -> subprocess.CompletedProcess[str]:
        data = stdin.encode() if isinstance(stdin, str) else stdin
        p = subprocess.run(
            [self.binary, *args],
            env=self.env,
            capture_output=True,
            input=data,
            timeout=timeout,
            stdin=None if data is not None else subprocess.DEVNULL,
        )
        return subprocess.CompletedProcess(
            p.args,
            p.returncode,
            p.stdout.decode(errors="replace"),
            p.stderr.decode(errors="replace"),
        )

    def ok(self, *args: str, stdin: str | bytes | None = None, timeout: float = 30) -> str:
        """Run, assert success, return stdout."""
        p = self.run(*args, stdin=stdin, timeout=timeout)
        assert p.returncode == 0, f"docker {' '.join(args)}: {p.returncode} {p.stderr}"
        return p.stdout

    def inspect(self, *names: str) -> list[dict]:
        return list(json.loads(self.ok("inspect", *names)))

    def lab_sh(self, cmd: str) -> str:
        """A command in the lab host's netns (where docker0 and the NAT rules are)."""
        return subprocess.run(
            ["ip", "netns", "exec", self.d.lab.netns, "sh", "-c", cmd],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout


def make_cli(binary: str, d: RunningDaemon) -> Cli:
    config = d.log.parent / f"docker-config-{Path(binary).parent.name}"
    config.mkdir(exist_ok=True)
    return Cli(binary, d, config)


@needs_cli
@pytest.mark.parametrize("binary", CLIS)
def test_version_info_ps_images_pull(daemon: RunningDaemon, binary: str) -> None:  # noqa: F811
    cli = make_cli(binary, daemon)
    out = cli.ok("version", "--format", "{{.Server.APIVersion}} {{.Server.Os}}")
    assert out.strip() == "1.41 linux"
    info = json.loads(cli.ok("info", "--format", "{{json .}}"))
    assert info["Name"] == daemon.lab.name and info["Driver"] == "overlay2"
    assert cli.ok("info").count("Server:") == 1
    pulled = cli.ok("pull", "busybox")
    assert "busybox:latest" in pulled
    images = cli.ok("images", "--format", "{{.Repository}}:{{.Tag}}")
    assert images.split() == ["busybox:latest"]
    assert cli.ok("ps", "-a", "-q") == ""
    p = cli.run("pull", "nosuchimage")
    assert p.returncode != 0 and "offline" in p.stderr


@needs_cli
@pytest.mark.parametrize("binary", CLIS)
def test_run_foreground_flags(daemon: RunningDaemon, binary: str) -> None:  # noqa: F811
    cli = make_cli(binary, daemon)
    assert cli.ok("run", "--rm", "busybox", "echo", "hi") == "hi\n"
    assert cli.ok("run", "--rm", "-i", "busybox", "cat", stdin="piped\nlines\n") == "piped\nlines\n"
    # stdin bigger than a pipe buffer, through the multiplexed stream and the half-close
    big = "".join(f"line {i}\n" for i in range(20000))
    assert cli.ok("run", "--rm", "-i", "busybox", "wc", "-l", stdin=big).strip() == "20000"
    out = cli.ok(
        "run",
        "--rm",
        "-e",
        "A=1",
        "-e",
        "B=two words",
        "-w",
        "/tmp",
        "-u",
        "65534:65534",
        "busybox",
        "sh",
        "-c",
        'echo "$A|$B|$(pwd)|$(id -u):$(id -g)"',
    )
    assert out == "1|two words|/tmp|65534:65534\n"
    assert cli.ok("run", "--rm", "--entrypoint", "echo", "busybox", "via", "entry") == "via entry\n"
    # -e NAME of a variable the client does not have: not in the container (as with dockerd)
    env = cli.ok("run", "--rm", "-e", "DS_NOT_SET_HERE", "-e", "EMPTY=", "busybox", "env")
    assert "DS_NOT_SET_HERE" not in env and "EMPTY=\n" in env
    assert cli.run("run", "--rm", "busybox", "sh", "-c", "exit 3").returncode == 3
    p = cli.run("run", "--rm", "busybox", "nosuchcmd")
    assert p.returncode == 127 and "nosuchcmd" in p.stderr
    # -v: a host dir read and written through the bind mount
    host = daemon.log.parent / "shared"
    host.mkdir()
    (host / "in.txt").write_text("from host\n")
    out = cli.ok(
        "run",
        "--rm",
        "-v",
        f"{host}:/data",
        "busybox",
        "sh",
        "-c",
        "cat /data/in.txt; echo from ctr > /data/out.txt",
    )
    assert out == "from host\n" and (host / "out.txt").read_text() == "from ctr\n"
    p = cli.run("run", "--rm", "-v", f"{host}:/ro:ro", "busybox", "touch", "/ro/x")
    assert p.returncode != 0 and not (host / "x").exists()
    # networks: none has only lo, host shares the lab host's links
    links = cli.ok("run", "--rm", "--net", "none", "busybox", "ls", "/sys/class/net").split()
    assert links == ["lo"]
    links = cli.ok("run", "--rm", "--network=host", "busybox", "ls", "/sys/class/net").split()
    assert "docker0" in links
    assert cli.ok("ps", "-a", "-q") == ""  # every --rm container went


@needs_cli
def test_run_detached_limits_and_ports(daemon: RunningDaemon) -> None:  # noqa: F811
    cli = make_cli(CLI_28, daemon)
    cid = cli.ok(
        "run",
        "-d",
        "--name",
        "web",
        "-p",
        "8080:80",
        "-m",
        "64m",
        "--cpus",
        "0.5",
        "--pids-limit",
        "50",
        "busybox",
        "sh",
        "-c",
        "echo started; exec httpd -f -p 80 -h /etc",
    ).strip()
    assert re.fullmatch(r"[0-9a-f]{64}", cid)
    [info] = cli.inspect("web")
    assert info["Id"] == cid and info["State"]["Running"] is True
    hc = info["HostConfig"]
    assert (hc["Memory"], hc["NanoCpus"], hc["PidsLimit"]) == (64 * 2**20, 500_000_000, 50)
    ip = info["NetworkSettings"]["Networks"]["bridge"]["IPAddress"]
    nat = cli.lab_sh("iptables -t nat -S DOCKER")
    assert f"--dport 8080 -j DNAT --to-destination {ip}:80" in nat
    assert cli.ok("port", "web").splitlines()[0] == "80/tcp -> 0.0.0.0:8080"
    # the limits are in the container's cgroups
    pid = info["State"]["Pid"]
    cgroups = Path(f"/proc/{pid}/cgroup").read_text()
    mem = next(line.split(":")[2] for line in cgroups.splitlines() if ":memory:" in line)
    limit = Path(f"/sys/fs/cgroup/memory{mem}/memory.limit_in_bytes").read_text()
    assert int(limit) == 64 * 2**20
    pids = next(line.split(":")[2] for line in cgroups.splitlines() if ":pids:" in line)
    assert Path(f"/sys/fs/cgroup/pids{pids}/pids.max").read_text().strip() == "50"
    # the published port answers from the lab host
    page = cli.lab_sh("wget -qO- http://127.0.0.1:8080/passwd")
    assert page.startswith("root:x:0:0")
    # -P publishes the image's / --expose'd ports on ephemeral host ports
    cli.ok("run", "-d", "--name", "pub", "--expose", "7000", "-P", "busybox", "sleep", "100")
    mapping = cli.ok("port", "pub", "7000/tcp").splitlines()[0]
    host_port = int(mapping.rsplit(":", 1)[1])
    assert host_port >= 32768
    assert f"--dport {host_port} -j DNAT" in cli.lab_sh("iptables -t nat -S DOCKER")
    ps = cli.ok("ps", "--format", "{{.Names}}|{{.Ports}}").splitlines()
    assert "web|0.0.0.0:8080->80/tcp, [::]:8080->80/tcp" in ps
    cli.ok("rm", "-f", "web", "pub")
    assert "DNAT" not in cli.lab_sh("iptables -t nat -S DOCKER")
