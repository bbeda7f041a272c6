"""`--security-opt` through the real docker CLI: Docker's default seccomp profile, unconfined,
a profile file, no-new-privileges, and the course's programs still running under the filter."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.kernel.test_dockercli_run import CLIS, make_cli, needs_cli
from tests.kernel.test_engine_daemon import RunningDaemon, daemon  # noqa: F401 (fixture)

pytestmark = pytest.mark.kernel


def _apparmor() -> bool:
    try:
        return Path("/sys/module/apparmor/parameters/enabled").read_text().strip() == "Y"
    except OSError:
        return False


@needs_cli
@pytest.mark.parametrize("binary", CLIS)
def test_security_opt_seccomp(daemon: RunningDaemon, binary: str, tmp_path: Path) -> None:  # noqa: F811
    cli = make_cli(binary, daemon)
    grep = ("grep", "-E", "^(Seccomp|NoNewPrivs):", "/proc/self/status")
    assert cli.ok("run", "--rm", "busybox", *grep).split() == ["NoNewPrivs:", "1", "Seccomp:", "2"]
    out = cli.ok("run", "--rm", "--security-opt", "seccomp=unconfined", "busybox", *grep)
    assert out.split()[2:] == ["Seccomp:", "0"]
    # The reproduction: a user namespace with every capability, refused by the profile.
    p = cli.run("run", "--rm", "busybox", "unshare", "-U", "-r", "true")
    assert p.returncode != 0 and "Operation not permitted" in p.stderr
    # A profile file: the CLI sends its text; mkdir refused with EACCES, the rest allowed.
    profile = tmp_path / "profile.json"
    profile.write_text(json.dumps({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}],
    }))  # fmt: skip
    cli.ok("create", "--name", "prof", "--security-opt", f"seccomp={profile}", "busybox",
           "mkdir", "/tmp/x")  # fmt: skip
    [info] = cli.inspect("prof")
    [opt] = info["HostConfig"]["SecurityOpt"]
    assert opt.startswith("seccomp=") and json.loads(opt[8:])["defaultAction"] == "SCMP_ACT_ALLOW"
    p = cli.run("start", "-a", "prof")
    assert p.returncode != 0 and "Permission denied" in p.stderr
    cli.ok("rm", "prof")


@needs_cli
def test_security_opt_other_values(daemon: RunningDaemon) -> None:  # noqa: F811
    cli = make_cli(CLIS[0], daemon)
    out = cli.ok("run", "--rm", "--security-opt", "no-new-privileges", "busybox",
                 "grep", "NoNewPrivs", "/proc/self/status")  # fmt: skip
    assert out.split() == ["NoNewPrivs:", "1"]
    p = cli.run("run", "--rm", "--security-opt", "systempaths=unconfined", "busybox", "true")
    assert p.returncode != 0 and "systempaths=unconfined" in p.stderr  # the CLI 28 sends []
    p = cli.run("run", "--rm", "--security-opt", "writable-cgroups=true", "busybox", "true")
    assert p.returncode != 0 and "invalid --security-opt 2" in p.stderr
    p = cli.run("run", "--rm", "--security-opt", "no-new-privileges=false", "busybox", "true")
    assert p.returncode != 0 and "no-new-privileges=false" in p.stderr
    p = cli.run("run", "--rm", "--security-opt", "apparmor=unconfined", "busybox", "true")
    if _apparmor():
        assert p.returncode != 0 and "apparmor" in p.stderr
    else:  # dockerd ignores it on a host without AppArmor
        assert p.returncode == 0, p.stderr


@needs_cli
def test_course_programs_run_under_the_filter(daemon: RunningDaemon) -> None:  # noqa: F811
    cli = make_cli(CLIS[0], daemon)
    script = (
        "ping -c 1 -W 2 127.0.0.1 >/dev/null && echo ping ok; "
        "ip -o link show lo | grep -q LOOPBACK && echo ip ok; "
        "httpd -p 127.0.0.1:8080 -h /etc && wget -q -O - http://127.0.0.1:8080/hostname >/dev/null "
        "&& echo httpd wget ok; "
        "(nc -l -p 9000 > /tmp/got &) ; sleep 0.3; echo hello | nc 127.0.0.1 9000; sleep 0.3; "
        "grep -q hello /tmp/got && echo nc ok"
    )
    out = cli.ok("run", "--rm", "busybox", "sh", "-c", script)
    assert out.split("\n")[:4] == ["ping ok", "ip ok", "httpd wget ok", "nc ok"], out
    # exec gets the container's filter too
    cli.ok("run", "-d", "--name", "sleeper", "busybox", "sleep", "60")
    try:
        out = cli.ok("exec", "sleeper", "grep", "^Seccomp:", "/proc/self/status")
        assert out.split() == ["Seccomp:", "2"]
        pid = int(cli.inspect("sleeper")[0]["State"]["Pid"])
        status = Path(f"/proc/{pid}/status").read_text()
        assert "\nSeccomp:\t2\n" in status and os.path.exists(f"/proc/{pid}")
    finally:
        cli.ok("rm", "-f", "sleeper")
