"""Docker's default seccomp profile in real containers: what it refuses, what still runs."""

from __future__ import annotations

import os
import textwrap

import pytest

from dockerscope.engine.runtime import Bind, exec_in, exit_code
from dockerscope.kernel.processes import read_process
from tests.kernel.test_runtime_launch import Rig, kill_and_reap, read_all
from tests.kernel.test_runtime_launch import rig as rig  # noqa: F401 - the fixture

pytestmark = pytest.mark.kernel

UNCONFINED = "unconfined"


def status_field(rig: Rig, name: str, **overrides: object) -> str:
    code, out, err = rig.run("sh", "-c", f"grep '^{name}:' /proc/self/status", **overrides)
    assert code == 0, err
    return out.split(":", 1)[1].strip()


def test_a_container_runs_in_seccomp_filter_mode(rig: Rig) -> None:
    assert status_field(rig, "Seccomp") == "2"
    assert status_field(rig, "NoNewPrivs") == "1"


def test_unconfined_runs_without_a_filter(rig: Rig) -> None:
    assert status_field(rig, "Seccomp", seccomp=UNCONFINED) == "0"


def test_a_user_namespace_is_refused(rig: Rig) -> None:
    # Unconfined, an unprivileged user namespace hands the container every capability there,
    # and with them mount and network changes; the profile refuses unshare and clone's
    # CLONE_NEW* flags, as Docker's does.
    script = "unshare -U -r -m sh -c 'mount -t tmpfs none /tmp && grep CapEff /proc/self/status'"
    code, out, err = rig.run("sh", "-c", script)
    assert code != 0
    assert "Operation not permitted" in err
    code, out, err = rig.run("sh", "-c", script, seccomp=UNCONFINED)
    if code != 0 and "unshare" in err:
        pytest.skip(f"this kernel refuses unprivileged user namespaces anyway: {err.strip()}")
    assert (code, out) == (0, "CapEff:\t000001ffffffffff\n"), err


@pytest.mark.parametrize(
    "command",
    ["mount -t tmpfs none /tmp", "swapon /dev/zero", "reboot -f", "unshare -n true"],
)
def test_privileged_calls_fail(rig: Rig, command: str) -> None:
    code, _, err = rig.run("sh", "-c", command)
    assert code != 0, command
    assert err, command


# Raw syscalls through ctypes, in the host's python bound into the busybox container: busybox
# has no applet for keyctl, personality or AF_VSOCK sockets. Prints errno per call (0 = allowed).
PROBE = textwrap.dedent(
    """
    import ctypes, socket
    libc = ctypes.CDLL(None, use_errno=True)
    def call(nr, *args):
        ctypes.set_errno(0)
        ret = libc.syscall(nr, *[ctypes.c_long(a) for a in args])
        return 0 if ret >= 0 else ctypes.get_errno()
    out = {
        "add_key": call(248, 0, 0, 0, 0, 0),
        "keyctl": call(250, 0, 0, 0, 0, 0),
        "unshare_newnet": call(272, 0x40000000),
        "clone3": call(435, 0, 0),
        "personality_query": call(135, 0xFFFFFFFF),
        "personality_linux32": call(135, 0x0008),
        "personality_odd": call(135, 0x0040000),  # ADDR_NO_RANDOMIZE
        "chroot": call(161, 0),
        "swapon": call(167, 0, 0),
        "reboot": call(169, 0, 0, 0, 0),
    }
    try:
        socket.socket(40, socket.SOCK_STREAM).close()
        out["socket_vsock"] = 0
    except OSError as e:
        out["socket_vsock"] = e.errno
    socket.socket(socket.AF_INET, socket.SOCK_DGRAM).close()
    for k in sorted(out):
        print(k, out[k])
    """
)
HOST_PYTHON = "/usr/bin/python3"
EPERM, EFAULT, EINVAL, ENOSYS = 1, 14, 22, 38


def probe(rig: Rig, **overrides: object) -> dict[str, int]:
    if not os.path.exists(HOST_PYTHON):
        pytest.skip(f"no {HOST_PYTHON} to bind into the container")
    binds = tuple(
        Bind(src, dst, readonly=True)
        for src, dst in (("/usr", "/usr"), ("/usr/lib", "/lib"), ("/usr/lib64", "/lib64"))
        if os.path.isdir(src)
    )
    code, out, err = rig.run(HOST_PYTHON, "-I", "-c", PROBE, binds=binds, **overrides)
    assert code == 0, err
    return {k: int(v) for k, v in (line.split() for line in out.splitlines())}


def test_syscalls_refused_and_allowed_as_under_docker(rig: Rig) -> None:
    got = probe(rig)
    # Not on the allow list, or needing a capability the container lacks: EPERM.
    for name in ("add_key", "keyctl", "unshare_newnet", "swapon", "reboot"):
        assert got[name] == EPERM, (name, got)
    assert got["clone3"] == ENOSYS  # so libc falls back to clone, whose flags a filter can see
    assert got["personality_query"] == 0 and got["personality_linux32"] == 0
    assert got["personality_odd"] == EPERM
    assert got["socket_vsock"] == EPERM
    assert got["chroot"] == EFAULT  # CAP_SYS_CHROOT is a default capability: the call is let in


def test_unconfined_lets_the_kernel_decide(rig: Rig) -> None:
    got = probe(rig, seccomp=UNCONFINED)
    assert got["clone3"] == EINVAL  # the kernel's answer to a missing clone_args
    assert got["personality_odd"] == 0
    assert got["keyctl"] != EPERM  # the kernel's own answer (no such key)


def test_exec_gets_the_containers_filter(rig: Rig) -> None:
    for setting, mode in (("default", "2"), (UNCONFINED, "0")):
        spec = rig.spec("sleep", "30", seccomp=setting)
        launched, out_r, err_r = rig.start(spec)
        try:
            r, w = os.pipe()
            pid = exec_in(launched.pid, ("grep", "^Seccomp:", "/proc/self/status"),
                          ("PATH=/bin",), "/", "", False, 0, w, w, seccomp=setting)  # fmt: skip
            os.close(w)
            assert read_all(r) == f"Seccomp:\t{mode}\n"
            assert exit_code(os.waitpid(pid, 0)[1]) == 0
        finally:
            kill_and_reap(launched.pid)
            rig.pids.remove(launched.pid)
            os.close(out_r), os.close(err_r)


def test_a_custom_profile_is_applied(rig: Rig) -> None:
    # Everything allowed except mkdir, which fails with EACCES (13).
    profile = (
        '{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir", "mkdirat"], '
        '"action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}'
    )
    code, _, err = rig.run("mkdir", "/tmp/x", seccomp=profile)
    assert code != 0 and "Permission denied" in err
    assert rig.run("mkdir", "/tmp/x", seccomp=UNCONFINED)[0] == 0


def test_the_observer_reads_seccomp_and_capeff_of_a_container(rig: Rig) -> None:
    for setting, mode in (("default", 2), (UNCONFINED, 0)):
        launched, out_r, err_r = rig.start(rig.spec("sleep", "30", seccomp=setting))
        try:
            p = read_process(launched.pid)
            assert p is not None and p.comm == "sleep"
            assert (p.seccomp, p.cap_eff) == (mode, 0xA80425FB)
        finally:
            kill_and_reap(launched.pid)
            rig.pids.remove(launched.pid)
            os.close(out_r), os.close(err_r)
