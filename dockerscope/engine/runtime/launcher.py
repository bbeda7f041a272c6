"""Starting container processes: the daemon's side of the init helper (``init.py``).

The daemon is multi-threaded, so it never forks Python code itself: ``launch`` and ``exec_in``
spawn the helper with ``subprocess`` (fork+exec in C), hand it the spec over a pipe and read
back the container's pid, or the reason it could not start.
"""

from __future__ import annotations

import contextlib
import ctypes
import marshal
import os
import shutil
import subprocess
import sys
from pathlib import Path

from dockerscope.engine.runtime import cgroups, seccomp
from dockerscope.engine.runtime import init as _init  # noqa: F401 - writes init's bytecode cache
from dockerscope.engine.runtime.cgroups import CgroupError, CgroupLayout
from dockerscope.engine.runtime.spec import ContainerSpec, Launched
from dockerscope.engine.runtime.status import EXIT_START_FAILED

RUNTIME_DIR = str(Path(__file__).parent)
#: The bounding set every container gets (Docker's default capabilities), as CAP_* names:
#: the seccomp profile's capability conditions are decided against it.
BOUNDING_CAPS = frozenset("CAP_" + name for name in _init.DEFAULT_CAPS)
# The helper imports init.py as a module rather than running it as a script, so Python loads
# its cached bytecode instead of compiling the source on every start (about 12 ms here).
_BOOT = "import sys; sys.path[0:0] = [sys.argv[1]]; import init; sys.exit(init.main(sys.argv[1:]))"
PR_SET_CHILD_SUBREAPER = 36


class LaunchError(RuntimeError):
    """A container process could not be started; ``exit_code`` is the one Docker reports
    (127 no such binary, 126 not executable, 128 anything else)."""

    def __init__(self, message: str, exit_code: int = EXIT_START_FAILED) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def set_subreaper(enabled: bool = True) -> None:
    """Make this process adopt orphaned descendants, so container PID 1s (whose launching
    helper exits at once) become its children and can be reaped with ``waitpid``.
    ``enabled=False`` turns that off again (tests share their process with other tests)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, int(enabled), 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl(PR_SET_CHILD_SUBREAPER): {os.strerror(err)}")


def seccomp_filter(setting: str) -> bytes | None:
    """The BPF program for a container's seccomp setting (None: unconfined), built in the
    daemon and cached, so the helper only loads it."""
    try:
        return seccomp.compile_filter(setting, BOUNDING_CAPS)
    except seccomp.SeccompError as exc:
        raise LaunchError(str(exc)) from exc


def _check(spec: ContainerSpec) -> None:
    """Refuse a spec the helper could only fail on, before anything is created."""
    if not spec.args:
        raise LaunchError("no command specified")
    for name in ("upperdir", "workdir", "rootfs", "netns_path"):
        if not os.path.isabs(getattr(spec, name)):
            raise LaunchError(f"{name} must be an absolute path, not {getattr(spec, name)!r}")
    if not spec.lowerdirs:
        raise LaunchError("no image layers (lowerdirs) given")
    for d in spec.lowerdirs:
        if not os.path.isdir(d):
            raise LaunchError(f"image layer {d} does not exist")
    if not os.path.exists(spec.netns_path):
        raise LaunchError(f"network namespace {spec.netns_path} does not exist")
    for target, host in spec.etc_files:
        if not target.startswith("/") or not os.path.isfile(host):
            raise LaunchError(f"bad /etc file mapping {target} <- {host}")
    for bind in spec.binds:
        if not bind.target.startswith("/"):
            raise LaunchError(f"invalid mount config: mount path must be absolute: {bind.target}")
        if not os.path.exists(bind.source):
            raise LaunchError(
                f'invalid mount config for type "bind": bind source path does not exist: '
                f"{bind.source}"
            )


def launch(
    spec: ContainerSpec,
    stdin: int,
    stdout: int,
    stderr: int,
    *,
    layout: CgroupLayout | None = None,
) -> Launched:
    """Start the container's PID 1 with ``stdin``/``stdout``/``stderr`` as its fds 0-2.

    Returns once the command has been exec'd. Missing rootfs/upper/work dirs are created.
    On failure raises ``LaunchError`` and leaves no cgroup, mount or dir it made.
    """
    _check(spec)
    program = seccomp_filter(spec.seccomp)
    layout = layout or CgroupLayout.detect()
    made: list[str] = []  # dirs created here, removed again if the launch fails
    for d in (spec.rootfs, spec.upperdir, spec.workdir):
        top = _first_missing(d)
        if top is not None:
            os.makedirs(d, 0o755)
            made.append(top)
    try:
        try:
            dirs = cgroups.create(layout, spec.cgroup_parent, spec.id, spec.resources)
        except CgroupError as exc:
            raise LaunchError(str(exc)) from exc
        group = cgroups.group_path(spec.cgroup_parent, spec.id)
        procs = list(layout.procs_files(group))
        early = spec.resources.pids_limit != 1 and not spec.resources.nano_cpus
        payload = {
            "lowerdirs": list(spec.lowerdirs),
            "upperdir": spec.upperdir,
            "workdir": spec.workdir,
            "rootfs": spec.rootfs,
            "hostname": spec.hostname,
            "args": list(spec.args),
            "env": list(spec.env),
            "cwd": spec.cwd,
            "make_cwd": True,
            "user": spec.user,
            "tty": spec.tty,
            "netns_path": spec.netns_path,
            "etc_files": [list(x) for x in spec.etc_files],
            "binds": [[b.source, b.target, b.readonly] for b in spec.binds],
            # The helper joins the groups itself (after forking, behind a gate) only when it
            # must not run inside them: a pids limit of 1 leaves no room for the helper next
            # to its child, and a CPU quota would throttle its start-up.
            "cgroup_procs": [] if early else procs,
            "cgroup_mounts": _cgroup_mounts(layout, group),
            "seccomp": program,
        }
        try:
            pid = _run_helper(
                "launch", payload, stdin, stdout, stderr, join_first=procs if early else ()
            )
        except BaseException:
            cgroups.remove(layout, spec.cgroup_parent, spec.id)
            raise
    except BaseException:
        for d in reversed(made):
            shutil.rmtree(d, ignore_errors=True)
        raise
    return Launched(pid, dirs)


def _first_missing(path: str) -> str | None:
    """What creating ``path`` adds that ``launch`` may remove again: ``path`` or, when that is
    missing too, its parent (the container's own dir). Never higher: a shared parent could be
    in use by another container being created at the same time."""
    if os.path.isdir(path):
        return None
    parent = os.path.dirname(path)
    return path if os.path.exists(parent) else parent


def _cgroup_mounts(layout: CgroupLayout, group: str) -> list[tuple[str, str]]:
    """(name under /sys/fs/cgroup, host dir) of the container's groups: "" for v2."""
    if layout.version == 2:
        return [("", layout.dirs(group)[0])]
    return [(os.path.basename(root), os.path.join(root, group)) for root in layout.roots()]


def exec_in(
    pid: int,
    args: tuple[str, ...] | list[str],
    env: tuple[str, ...] | list[str],
    cwd: str,
    user: str,
    tty: bool,
    stdin: int,
    stdout: int,
    stderr: int,
    *,
    seccomp: str = "default",
) -> int:
    """Start ``args`` inside the running container whose PID 1 is ``pid`` (host pid): its
    namespaces, its cgroups, the user's identity, Docker's capabilities and the container's
    ``seccomp`` setting (as in its spec). Returns the new process's host pid (a child of this
    process once the helper exits)."""
    if not args:
        raise LaunchError("no command specified")
    if not os.path.exists(f"/proc/{pid}/ns/mnt"):
        raise LaunchError(f"container process {pid} is not running")
    payload = {
        "pid": pid,
        "args": list(args),
        "env": list(env),
        "cwd": cwd or "/",
        "make_cwd": False,
        "user": user,
        "tty": tty,
        "cgroup_procs": list(cgroup_procs_of(pid)),
        "seccomp": seccomp_filter(seccomp),
    }
    return _run_helper("exec", payload, stdin, stdout, stderr)


def cgroup_procs_of(pid: int) -> tuple[str, ...]:
    """The ``cgroup.procs`` files of every hierarchy process ``pid`` is in (v1 and v2)."""
    mounts: dict[str, str] = {}  # controller list ("" for v2) -> mount point
    with open("/proc/self/mountinfo") as f:
        for line in f:
            head, _, tail = line.partition(" - ")
            fields, rest = head.split(), tail.split()
            if len(rest) < 3 or rest[0] not in ("cgroup", "cgroup2"):
                continue
            if rest[0] == "cgroup2":
                mounts.setdefault("", fields[4])
            else:
                opts = [o for o in rest[2].split(",") if o not in ("rw", "ro")]
                mounts.setdefault(",".join(sorted(opts)), fields[4])
    try:
        theirs = _cgroup_paths(Path(f"/proc/{pid}/cgroup").read_text())
    except OSError as exc:
        raise LaunchError(f"container process {pid} is not running") from exc
    ours = _cgroup_paths(Path("/proc/self/cgroup").read_text())
    out = []
    for key, path in theirs.items():
        point = mounts.get(key)
        # Join only the groups that are the container's own: where it differs from us.
        if point is None or ours.get(key) == path:
            continue
        procs = os.path.join(point, path.lstrip("/"), "cgroup.procs")
        if os.path.exists(procs):
            out.append(procs)
    return tuple(out)


def _cgroup_paths(text: str) -> dict[str, str]:
    """{sorted controller list ("" for v2): path} from a /proc/<pid>/cgroup text."""
    out = {}
    for line in text.splitlines():
        _, ctrls, path = line.split(":", 2)
        out[",".join(sorted(ctrls.split(","))) if ctrls else ""] = path
    return out


def _run_helper(
    mode: str,
    payload: dict,
    stdin: int,
    stdout: int,
    stderr: int,
    join_first: tuple[str, ...] | list[str] = (),
) -> int:
    """Run init.py in ``mode``; returns the pid it started or raises ``LaunchError``.

    ``join_first``: cgroup.procs files to move the helper into while its interpreter starts
    (the child it forks inherits them). A v1 cgroup migration waits for an RCU grace period;
    done here it overlaps the helper's start-up instead of delaying the container."""
    data = marshal.dumps(payload)
    spec_r, spec_w = os.pipe()
    reply_r, reply_w = os.pipe()
    try:
        try:
            helper = subprocess.Popen(
                [
                    sys.executable,
                    "-I",
                    "-S",
                    "-c",
                    _BOOT,
                    RUNTIME_DIR,
                    mode,
                    str(spec_r),
                    str(reply_w),
                ],
                stdin=stdin,
                stdout=stdout,
                stderr=stderr,
                pass_fds=(spec_r, reply_w),
                env={},
            )
        finally:
            os.close(spec_r)
            os.close(reply_w)
        try:
            for procs in join_first:
                _write_pid(procs, helper.pid)
        except OSError as exc:
            helper.kill()
            helper.wait()
            raise LaunchError(
                f"cannot join cgroup {os.path.dirname(procs)}: {exc.strerror}"
            ) from exc
        try:
            with os.fdopen(spec_w, "wb", closefd=False) as f:
                f.write(data)
        except BrokenPipeError:
            pass  # the helper died early; its reply (or lack of one) tells why
        finally:
            os.close(spec_w)
            spec_w = -1
        reply = b""
        while chunk := os.read(reply_r, 65536):
            reply += chunk
        status = helper.wait()
    finally:
        os.close(reply_r)
        if spec_w >= 0:
            os.close(spec_w)
    pid = None
    error: tuple[int, str] | None = None
    for line in reply.decode(errors="replace").splitlines():
        kind, _, rest = line.partition(" ")
        if kind == "pid":
            pid = int(rest)
        elif kind == "error":
            code, _, message = rest.partition(" ")
            error = (int(code), message)
    if error is not None:
        if pid is not None:
            _reap(pid)
        raise LaunchError(error[1], error[0])
    if pid is None:
        raise LaunchError(f"container init helper failed (exit status {status})")
    return pid


def _write_pid(procs: str, pid: int) -> None:
    fd = os.open(procs, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, str(pid).encode())
    finally:
        os.close(fd)


def _reap(pid: int) -> None:
    """Collect a child that failed before exec (it is ours once the helper has exited)."""
    # Not our child when no subreaper is set: init reaps it then.
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def oom_killed(spec: ContainerSpec, *, layout: CgroupLayout | None = None) -> bool:
    """Whether the kernel's OOM killer killed a process of this container (call before
    ``teardown``)."""
    layout = layout or CgroupLayout.detect()
    return cgroups.oom_kills(layout, spec.cgroup_parent, spec.id) > 0


def teardown(spec: ContainerSpec, *, layout: CgroupLayout | None = None) -> None:
    """Clean up after the container's PID 1 has exited: remove its cgroups (processes still
    there are killed after a short grace) and any host-visible mount of its rootfs. Idempotent.
    The overlay itself lived in the container's mount namespace and died with it."""
    layout = layout or CgroupLayout.detect()
    cgroups.remove(layout, spec.cgroup_parent, spec.id)
    if _is_mountpoint(spec.rootfs):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.umount2(spec.rootfs.encode(), 2)  # MNT_DETACH


def remove_parent(parent: str, *, layout: CgroupLayout | None = None) -> None:
    """Remove a lab's cgroup parent (at lab down), with any container groups left in it."""
    cgroups.remove_parent(parent, layout)


def _is_mountpoint(path: str) -> bool:
    try:
        with open("/proc/self/mountinfo") as f:
            return any(line.split()[4] == path for line in f)
    except OSError:
        return False
