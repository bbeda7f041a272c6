"""Real containers from the runtime: isolation, identity, filesystem, exec, start errors."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from dockerscope.engine.runtime import (
    Bind,
    ContainerSpec,
    Launched,
    LaunchError,
    Resources,
    exec_in,
    exit_code,
    launch,
    make_init_layer,
    remove_parent,
    set_subreaper,
    teardown,
)

pytestmark = pytest.mark.kernel


def make_busybox_lower(d: Path) -> Path:
    """A busybox image layer: the static binary, a link per applet, passwd, group, /tmp."""
    (d / "bin").mkdir(parents=True)
    (d / "etc").mkdir()
    (d / "tmp").mkdir(mode=0o1777)
    subprocess.run(["cp", "/bin/busybox", str(d / "bin/busybox")], check=True)
    applets = subprocess.run(["/bin/busybox", "--list"], capture_output=True, text=True).stdout
    for name in applets.split():
        if name != "busybox":
            (d / "bin" / name).symlink_to("busybox")
    (d / "etc/passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n"
    )
    (d / "etc/group").write_text("root:x:0:\nnogroup:x:65534:\n")
    return d


@dataclass
class Rig:
    """A busybox layer, a netns and a cgroup parent for one test's containers."""

    base: Path
    lower: Path
    netns: str
    parent: str
    specs: list[ContainerSpec] = field(default_factory=list)
    pids: list[int] = field(default_factory=list)

    def spec(self, *args: str, **overrides: object) -> ContainerSpec:
        cid = uuid.uuid4().hex
        d = self.base / cid[:12]
        values: dict[str, object] = dict(
            id=cid,
            hostname=cid[:12],
            lowerdirs=(str(self.lower),),
            upperdir=str(d / "upper"),
            workdir=str(d / "work"),
            rootfs=str(d / "rootfs"),
            args=args,
            env=("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",),
            cwd="/",
            user="",
            tty=False,
            netns_path=f"/run/netns/{self.netns}",
            resources=Resources(),
            cgroup_parent=self.parent,
        )
        values.update(overrides)
        spec = ContainerSpec(**values)  # type: ignore[arg-type]
        self.specs.append(spec)
        return spec

    def start(self, spec: ContainerSpec) -> tuple[Launched, int, int]:
        """Launch with stdout and stderr on pipes; returns (launched, out fd, err fd)."""
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        null = os.open("/dev/null", os.O_RDONLY)
        try:
            launched = launch(spec, null, out_w, err_w)
        except BaseException:
            for fd in (out_r, err_r):
                os.close(fd)
            raise
        finally:
            for fd in (out_w, err_w, null):
                os.close(fd)
        self.pids.append(launched.pid)
        return launched, out_r, err_r

    def run(self, *args: str, **overrides: object) -> tuple[int, str, str]:
        """Run a container to its end: (Docker exit code, stdout, stderr)."""
        spec = self.spec(*args, **overrides)
        launched, out_r, err_r = self.start(spec)
        out, err = read_all(out_r), read_all(err_r)
        _, status = os.waitpid(launched.pid, 0)
        self.pids.remove(launched.pid)
        teardown(spec)
        return exit_code(status), out, err

    def close(self) -> None:
        for pid in self.pids:
            kill_and_reap(pid)
        for spec in self.specs:
            teardown(spec)
        remove_parent(self.parent)


def read_all(fd: int) -> str:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks).decode()


def kill_and_reap(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


@pytest.fixture
def rig(tmp_path: Path, lab_name: str) -> Iterator[Rig]:
    set_subreaper()
    lower = make_busybox_lower(tmp_path / "lower")
    subprocess.run(["ip", "netns", "add", lab_name], check=True)
    r = Rig(tmp_path / "containers", lower, lab_name, f"dockerscope/{lab_name}")
    try:
        yield r
    finally:
        try:
            r.close()
        finally:
            set_subreaper(False)  # the rest of the test session should not adopt orphans
            subprocess.run(["ip", "netns", "delete", lab_name], check=False)


def test_echo_output_comes_back_through_a_pipe(rig: Rig) -> None:
    code, out, err = rig.run("echo", "hello from busybox")
    assert (code, out, err) == (0, "hello from busybox\n", "")


def test_exit_status_is_dockers(rig: Rig) -> None:
    assert rig.run("sh", "-c", "exit 3")[0] == 3
    # PID 1 ignores signals it has no handler for, as in Docker: SIGTERM to `sleep` does
    # nothing, SIGKILL from the host ends it with 128+9.
    spec = rig.spec("sleep", "30")
    launched, out_r, err_r = rig.start(spec)
    os.kill(launched.pid, signal.SIGTERM)
    time.sleep(0.1)
    assert os.waitpid(launched.pid, os.WNOHANG) == (0, 0)
    os.kill(launched.pid, signal.SIGKILL)
    _, status = os.waitpid(launched.pid, 0)
    rig.pids.remove(launched.pid)
    os.close(out_r), os.close(err_r)
    assert exit_code(status) == 137


def test_container_process_is_pid_1_with_its_hostname(rig: Rig) -> None:
    code, out, _ = rig.run("sh", "-c", "echo $$; hostname; ps -o pid | wc -l", hostname="box1")
    pid, hostname, nproc = out.split()
    assert (code, pid, hostname) == (0, "1", "box1")
    assert int(nproc) <= 4  # header, sh, ps, wc: the host's processes are not visible


def test_proc_masked_and_readonly_paths(rig: Rig) -> None:
    script = (
        "for f in /proc/kcore /proc/keys /proc/timer_list; do"
        '  [ -e $f ] && echo "$f $(wc -c < $f)"; done;'
        "ls -A /proc/acpi | wc -l;"
        "echo x > /proc/sys/kernel/domainname && echo sys-writable;"
        "mkdir /sys/oops && echo sysfs-writable;"
        "grep -E ' /proc/sys | /sys ' /proc/mounts"
    )
    code, out, err = rig.run("sh", "-c", script)
    lines = out.splitlines()
    masked = [line for line in lines if line.startswith("/proc/")]
    assert masked and all(line.endswith(" 0") for line in masked), out
    assert "/proc/keys 0" in masked  # exists on every kernel here: a /dev/null bind
    assert lines[len(masked)] == "0"  # /proc/acpi is an empty tmpfs
    assert "sys-writable" not in out and "sysfs-writable" not in out
    assert "Read-only file system" in err
    ro_mounts = [line for line in lines if " /proc/sys " in line or " /sys " in line]
    assert len(ro_mounts) == 2 and all(" ro," in line for line in ro_mounts)


def test_root_has_dockers_capabilities_and_no_new_privs(rig: Rig) -> None:
    code, out, _ = rig.run("sh", "-c", "grep -E '^(CapEff|CapBnd|NoNewPrivs)' /proc/self/status")
    fields = dict(line.split(":\t") for line in out.splitlines())
    assert fields == {"CapEff": "00000000a80425fb", "CapBnd": "00000000a80425fb",
                      "NoNewPrivs": "1"}  # fmt: skip


def test_user_nobody_runs_as_65534_without_capabilities(rig: Rig) -> None:
    code, out, _ = rig.run(
        "sh", "-c", "id -u; id -g; grep CapEff /proc/self/status; echo $HOME", user="nobody"
    )
    assert out.split() == ["65534", "65534", "CapEff:", "0000000000000000", "/home"]
    code, out, _ = rig.run("sh", "-c", "echo $(id -u) $(id -g)", user="1234:5678")
    assert out.strip() == "1234 5678"


def test_env_and_cwd_are_applied(rig: Rig) -> None:
    code, out, _ = rig.run(
        "sh", "-c", "echo $GREETING; pwd", env=("PATH=/bin", "GREETING=hi there"), cwd="/srv/app"
    )
    assert (code, out) == (0, "hi there\n/srv/app\n")
    # No PATH in the env: the command is still found on Docker's default PATH.
    assert rig.run("echo", "found", env=())[:2] == (0, "found\n")


def test_writes_land_in_the_upper_dir_only(rig: Rig) -> None:
    spec = rig.spec("sh", "-c", "echo data > /newfile; rm /etc/group")
    launched, out_r, err_r = rig.start(spec)
    read_all(out_r), read_all(err_r)
    os.waitpid(launched.pid, 0)
    rig.pids.remove(launched.pid)
    teardown(spec)
    assert Path(spec.upperdir, "newfile").read_text() == "data\n"
    assert not (rig.lower / "newfile").exists()
    assert (rig.lower / "etc/group").exists()  # deleted only as a whiteout in the upper dir
    assert os.stat(Path(spec.upperdir, "etc/group")).st_rdev == 0


def test_with_an_init_layer_starting_writes_nothing_to_the_upper_dir(
    rig: Rig, tmp_path: Path
) -> None:
    init_layer = make_init_layer(tmp_path / "init", (str(rig.lower),))
    hostname = tmp_path / "hostname"
    hostname.write_text("box\n")
    spec = rig.spec(
        "sh",
        "-c",
        "ls -l /.dockerenv; cat /etc/hostname",
        lowerdirs=(init_layer, str(rig.lower)),
        etc_files=(("/etc/hostname", str(hostname)),),
    )
    launched, out_r, err_r = rig.start(spec)
    out = read_all(out_r)
    read_all(err_r)
    os.waitpid(launched.pid, 0)
    rig.pids.remove(launched.pid)
    assert out.startswith("-rwxr-xr-x") and out.endswith("\nbox\n")
    assert os.listdir(spec.upperdir) == []


def test_signals_are_reset_for_the_container(rig: Rig) -> None:
    # Python ignores SIGPIPE; the container must not inherit that: `yes` dies of SIGPIPE
    # quietly instead of complaining about a write error.
    code, out, err = rig.run("sh", "-c", "yes | head -n 1")
    assert (code, out, err) == (0, "y\n", "")
    code, out, err = rig.run("grep", "-E", "^Sig(Ign|Blk)", "/proc/self/status")
    assert out.split() == ["SigBlk:", "0" * 16, "SigIgn:", "0" * 16]


def test_etc_files_and_binds(rig: Rig, tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1\tlocalhost\n")
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "in.txt").write_text("from host\n")
    code, out, err = rig.run(
        "sh",
        "-c",
        "cat /etc/hosts /data/in.txt; echo no > /data/new || echo refused",
        etc_files=(("/etc/hosts", str(hosts)),),
        binds=(Bind(str(shared), "/data", readonly=True),),
    )
    assert out == "127.0.0.1\tlocalhost\nfrom host\nrefused\n"
    assert not (shared / "new").exists()


def test_nothing_of_the_container_is_mounted_on_the_host(rig: Rig) -> None:
    spec = rig.spec("sleep", "30")
    launched, out_r, err_r = rig.start(spec)
    try:
        mounts = Path("/proc/self/mountinfo").read_text()
        assert spec.rootfs not in mounts
        theirs = Path(f"/proc/{launched.pid}/mountinfo").read_text()
        assert theirs.splitlines()[0].split()[4] == "/"
        assert f"upperdir={spec.upperdir}" in theirs
    finally:
        kill_and_reap(launched.pid)
        rig.pids.remove(launched.pid)
        os.close(out_r), os.close(err_r)


def test_exec_in_joins_the_running_container(rig: Rig) -> None:
    spec = rig.spec("sleep", "30", hostname="execbox")
    launched, out_r, err_r = rig.start(spec)
    r, w = os.pipe()
    try:
        pid = exec_in(
            launched.pid,
            (
                "sh",
                "-c",
                "hostname; echo $$; tr '\\0' ' ' < /proc/1/cmdline; echo; "
                "grep CapEff /proc/self/status; pwd",
            ),
            ("PATH=/bin",),
            "/tmp",
            "",
            False,
            0,
            w,
            w,
        )
        os.close(w)
        out = read_all(r)
        _, status = os.waitpid(pid, 0)
        assert exit_code(status) == 0
        hostname, mypid, cmdline, capeff, cwd = out.splitlines()
        assert hostname == "execbox"  # same uts namespace
        assert cmdline.strip() == "sleep 30"  # same pid namespace: PID 1 is the container's
        assert int(mypid) > 1
        assert (capeff, cwd) == ("CapEff:\t00000000a80425fb", "/tmp")
        with pytest.raises(LaunchError, match="executable file not found"):
            exec_in(launched.pid, ("nosuch",), ("PATH=/bin",), "/", "", False, 0, 1, 2)
        message = 'chdir to cwd ("/nonexistent") set in config.json failed: no such file'
        with pytest.raises(LaunchError, match=re.escape(message)):
            exec_in(launched.pid, ("true",), ("PATH=/bin",), "/nonexistent", "", False, 0, 1, 2)
        r, w = os.pipe()
        pid = exec_in(launched.pid, ("id", "-u"), ("PATH=/bin",), "/", "nobody", False, 0, w, w)
        os.close(w)
        assert read_all(r) == "65534\n"
        assert exit_code(os.waitpid(pid, 0)[1]) == 0
    finally:
        kill_and_reap(launched.pid)
        rig.pids.remove(launched.pid)
        os.close(out_r), os.close(err_r)


def read_terminal(master: int) -> str:
    data = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO once the other side closed the terminal
            break
        if not chunk:
            break
        data += chunk
    os.close(master)
    return data.decode()


def test_exec_in_with_a_tty(rig: Rig) -> None:
    spec = rig.spec("sleep", "30")
    launched, out_r, err_r = rig.start(spec)
    master, slave = os.openpty()
    try:
        pid = exec_in(
            launched.pid,
            ("sh", "-c", "[ -t 0 ] && echo is-a-tty; cut -d' ' -f7 /proc/self/stat"),
            ("PATH=/bin",), "/", "", True, slave, slave, slave,
        )  # fmt: skip
        os.close(slave)
        text = read_terminal(master)
        assert exit_code(os.waitpid(pid, 0)[1]) == 0
        lines = text.split()
        assert lines[0] == "is-a-tty" and int(lines[1]) != 0  # a controlling terminal
    finally:
        kill_and_reap(launched.pid)
        rig.pids.remove(launched.pid)
        os.close(out_r), os.close(err_r)


def test_exec_in_a_dead_container_is_a_launch_error(rig: Rig) -> None:
    spec = rig.spec("true")
    launched, out_r, err_r = rig.start(spec)
    read_all(out_r), read_all(err_r)
    os.waitpid(launched.pid, 0)
    rig.pids.remove(launched.pid)
    with pytest.raises(LaunchError, match="is not running"):
        exec_in(launched.pid, ("true",), (), "/", "", False, 0, 1, 2)


def test_launches_from_many_threads_at_once(rig: Rig) -> None:
    """The daemon launches from worker threads: ten at a time, each gets its own output."""
    specs = [rig.spec("sh", "-c", f"echo {i} $$ $(hostname)", hostname=f"t{i}") for i in range(10)]

    def one(spec: ContainerSpec) -> str:
        launched, out_r, err_r = rig.start(spec)
        out = read_all(out_r)
        read_all(err_r)
        os.waitpid(launched.pid, 0)
        teardown(spec)
        return out

    with ThreadPoolExecutor(max_workers=10) as pool:
        outs = list(pool.map(one, specs))
    rig.pids.clear()
    assert outs == [f"{i} 1 t{i}\n" for i in range(10)]


def test_tty_gives_a_controlling_terminal(rig: Rig) -> None:
    master, slave = os.openpty()
    spec = rig.spec("sh", "-c", "[ -t 0 ] && echo is-a-tty; cat /proc/self/stat", tty=True)
    try:
        launched = launch(spec, slave, slave, slave)
    finally:
        os.close(slave)
    rig.pids.append(launched.pid)
    text = read_terminal(master)
    os.waitpid(launched.pid, 0)
    rig.pids.remove(launched.pid)
    assert "is-a-tty" in text
    stat = text.split("is-a-tty")[1].split(")")[-1].split()
    assert int(stat[4]) != 0  # tty_nr: a controlling terminal is set


@pytest.mark.parametrize(
    ("args", "message", "code"),
    [
        (("nosuch",), 'exec: "nosuch": executable file not found in $PATH', 127),
        (("/bin/nosuch",), 'exec: "/bin/nosuch": stat /bin/nosuch: no such file or directory', 127),
        (("/etc/passwd",), 'exec: "/etc/passwd": permission denied', 126),
    ],
)
def test_start_errors_are_dockers_and_leave_nothing(
    rig: Rig, args: tuple[str, ...], message: str, code: int
) -> None:
    spec = rig.spec(*args)
    with pytest.raises(LaunchError) as info:
        rig.start(spec)
    assert str(info.value) == message
    assert info.value.exit_code == code
    assert not os.path.exists(os.path.dirname(spec.rootfs))  # the container's dir too
    for d in Path("/sys/fs/cgroup").iterdir():
        assert not (d / spec.cgroup_parent / spec.id).exists()


def test_a_failed_mount_is_a_launch_error_and_leaves_nothing(rig: Rig, tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text("")
    spec = rig.spec("true", etc_files=(("/etc", str(hosts)),))  # a file over a directory
    with pytest.raises(LaunchError, match=f"cannot mount bind {hosts} on .*/etc: Not a directory"):
        rig.start(spec)
    assert not os.path.exists(os.path.dirname(spec.rootfs))


def test_a_bad_hostname_is_a_launch_error(rig: Rig) -> None:
    with pytest.raises(LaunchError, match="sethostname 'xxx.*': Invalid argument"):
        rig.start(rig.spec("true", hostname="x" * 70))


def test_unknown_user_is_a_launch_error(rig: Rig) -> None:
    with pytest.raises(LaunchError, match="unable to find user nosuch: no matching entries"):
        rig.start(rig.spec("true", user="nosuch"))
