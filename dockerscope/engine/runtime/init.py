"""The container init helper: turns itself into a container's first process.

``launcher.py`` starts it as ``python -I -S -c <boot> <this dir> launch|exec SPEC_FD REPLY_FD``
(the boot line imports this module, so its cached bytecode is used) and the daemon imports it
only to warm that cache; tests import it for its pure functions. It uses the standard library
only, and of that only modules that cost next to nothing to import (``json`` alone would double
its start time; the spec arrives as a ``marshal``-ed dict of plain values from the same
interpreter).

``launch``: join the network namespace, unshare mnt/uts/ipc/pid, fork. The child is PID 1 of
the new pid namespace: it mounts the overlay rootfs and Docker's /proc, /sys and /dev, pivots
into it, sets the hostname, waits at a gate until it is in its cgroups, sets the user,
capabilities and no_new_privs, loads the seccomp filter the daemon built (``spec["seccomp"]``,
raw BPF; None = unconfined), then execs the command. ``exec``: join a running container's
namespaces, fork, same treatment. The cgroups are joined by the daemon moving the helper
before it forks, or (``cgroup_procs`` in the spec) by the helper moving its child.

The helper writes ``pid N`` on the reply pipe and exits at once, so the child is reparented to
the caller (a child subreaper). The reply pipe is close-on-exec in the child: EOF without an
``error CODE MESSAGE`` line means the exec succeeded.

One concern: the one program a container's first process runs, kept whole because every module
it imports is paid on each container start: the boot line puts this directory on sys.path and
imports ``init`` as a top-level module, so sibling modules would also need a second import path
for the daemon and tests. Measured with ``python -I -S -X importtime``: this module imports in
about 1.9 ms; the same code split into three modules took about 2.1 ms. Its sections (libc,
constants, pure helpers for users and paths, mounts, credentials and seccomp, entry points)
read top to bottom, and no function is over 80 lines.
"""

from __future__ import annotations

import _ctypes
import _signal
import marshal
import os
import sys

TYPE_CHECKING = False  # typing itself costs import time; mypy honours this name
if TYPE_CHECKING:
    from collections.abc import Callable

# --- libc through _ctypes (the ctypes package itself costs ~7 ms to import) -----------------


class _Int(_ctypes._SimpleCData):
    _type_ = "i"


class _Fn(_ctypes.CFuncPtr):
    _flags_ = _ctypes.FUNCFLAG_CDECL | _ctypes.FUNCFLAG_USE_ERRNO
    _restype_ = _Int


class _Libc:
    """The process's own libc symbols; arguments are ints (C int), bytes or None only."""

    def __init__(self) -> None:
        self._handle = _ctypes.dlopen(None, os.RTLD_NOW)  # type: ignore[arg-type]
        self._fns: dict[str, _Fn] = {}

    def call(self, name: str, *args: object) -> int:
        fn = self._fns.get(name)
        if fn is None:
            fn = self._fns[name] = _Fn((name, self))  # type: ignore[arg-type]
        _ctypes.set_errno(0)
        ret = fn(*args)
        if ret == -1:
            err = _ctypes.get_errno()
            raise OSError(err, os.strerror(err))
        return int(ret)


_LIBC: _Libc | None = None


def _libc(name: str, *args: object) -> int:
    global _LIBC
    if _LIBC is None:
        _LIBC = _Libc()
    return _LIBC.call(name, *args)


CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_STRICTATIME = 1 << 24
MNT_DETACH = 2

PR_SET_KEEPCAPS = 8
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
TIOCSCTTY = 0x540E
_LINUX_CAPABILITY_VERSION_3 = 0x20080522

_SYSCALLS = {
    "x86_64": {"pivot_root": 155, "capset": 126},
    "aarch64": {"pivot_root": 41, "capset": 91},
}

# Docker's default capabilities (bit numbers from linux/capability.h).
DEFAULT_CAPS = {
    "CHOWN": 0,
    "DAC_OVERRIDE": 1,
    "FOWNER": 3,
    "FSETID": 4,
    "KILL": 5,
    "SETGID": 6,
    "SETUID": 7,
    "SETPCAP": 8,
    "NET_BIND_SERVICE": 10,
    "NET_RAW": 13,
    "SYS_CHROOT": 18,
    "MKNOD": 27,
    "AUDIT_WRITE": 29,
    "SETFCAP": 31,
}
DEFAULT_CAP_MASK = sum(1 << bit for bit in DEFAULT_CAPS.values())  # 0xa80425fb

# Docker's masked and read-only paths under /proc and /sys.
MASKED_PATHS = (
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
)
READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")

# (name, major, minor) of the character devices in the container's /dev, all mode 0666.
DEVICES = (("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9),
           ("tty", 5, 0))  # fmt: skip
DEV_LINKS = (
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
    ("ptmx", "pts/ptmx"),
)

# Where a command is looked for when the container's env has no PATH (Docker's default PATH).
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

EXIT_NOT_FOUND = 127
EXIT_NOT_EXECUTABLE = 126
EXIT_START_FAILED = 128


class Failure(Exception):
    """Something that stops the container from starting, with Docker's exit code."""

    def __init__(self, message: str, code: int = EXIT_START_FAILED) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


# --- pure helpers (unit-tested) ---------------------------------------------------------------


def parse_passwd(text: str) -> list[tuple[str, int, int, str]]:
    """(name, uid, gid, home) of each well-formed /etc/passwd line."""
    out = []
    for line in text.splitlines():
        f = line.split(":")
        if len(f) < 7 or line.startswith("#"):
            continue
        try:
            out.append((f[0], int(f[2]), int(f[3]), f[5]))
        except ValueError:
            continue
    return out


def parse_group(text: str) -> list[tuple[str, int, list[str]]]:
    """(name, gid, members) of each well-formed /etc/group line."""
    out = []
    for line in text.splitlines():
        f = line.split(":")
        if len(f) < 4 or line.startswith("#"):
            continue
        try:
            out.append((f[0], int(f[2]), [m for m in f[3].split(",") if m]))
        except ValueError:
            continue
    return out


def resolve_user(user: str, passwd: str, group: str) -> tuple[int, int, list[int], str]:
    """(uid, gid, supplementary gids, home) for Docker's ``--user`` forms: "" (root), "name",
    "uid", "name:group", "uid:gid" and mixes, looked up in the container's passwd/group text.
    A numeric uid need not be in passwd; a name must be."""
    name_part, _, group_part = user.partition(":")
    users = parse_passwd(passwd)
    groups = parse_group(group)
    if name_part == "":
        name_part = "0"
    entry = None
    if name_part.isdigit():
        uid = int(name_part)
        entry = next((u for u in users if u[1] == uid), None)
    else:
        entry = next((u for u in users if u[0] == name_part), None)
        if entry is None:
            raise Failure(f"unable to find user {name_part}: no matching entries in passwd file")
        uid = entry[1]
    gid = entry[2] if entry else 0
    home = entry[3] if entry and entry[3] else "/"
    if group_part:
        if group_part.isdigit():
            gid = int(group_part)
        else:
            g = next((g for g in groups if g[0] == group_part), None)
            if g is None:
                raise Failure(
                    f"unable to find group {group_part}: no matching entries in group file"
                )
            gid = g[1]
        extra = [gid]
    else:
        login = entry[0] if entry else None
        extra = [gid] + [g[1] for g in groups if login and login in g[2] and g[1] != gid]
    if uid > 0x7FFFFFFF or gid > 0x7FFFFFFF:
        raise Failure(f"uids and gids must be in range 0-2147483647: {user}")
    return uid, gid, extra, home


def find_executable(name: str, path_env: str | None) -> str:
    """The file ``execvp`` would run for ``name``; raises Failure with Docker's message and
    exit code (127 not found, 126 not executable)."""
    if "/" in name:
        try:
            st = os.stat(name)
        except OSError as exc:
            raise Failure(
                f'exec: "{name}": stat {name}: {exc.strerror.lower() if exc.strerror else exc}',
                EXIT_NOT_FOUND,
            ) from None
        if (st.st_mode & 0o170000) == 0o040000 or not os.access(name, os.X_OK):
            raise Failure(f'exec: "{name}": permission denied', EXIT_NOT_EXECUTABLE)
        return name
    if not name:
        raise Failure('exec: "": executable file not found in $PATH', EXIT_NOT_FOUND)
    denied = None
    for d in (path_env or "").split(":"):
        candidate = os.path.join(d or ".", name)
        try:
            st = os.stat(candidate)
        except OSError:
            continue
        if (st.st_mode & 0o170000) != 0o040000 and os.access(candidate, os.X_OK):
            return candidate
        denied = denied or candidate
    if denied:
        raise Failure(f'exec: "{name}": permission denied', EXIT_NOT_EXECUTABLE)
    raise Failure(f'exec: "{name}": executable file not found in $PATH', EXIT_NOT_FOUND)


def env_dict(env: list[str] | tuple[str, ...]) -> dict[str, str]:
    """KEY=VALUE strings as a dict (later wins, as in Docker)."""
    out = {}
    for item in env:
        key, sep, value = item.partition("=")
        if key:
            out[key] = value if sep else ""
    return out


def capset_payload(mask: int) -> tuple[bytes, bytes]:
    """(header, data) for capset(2), v3: effective = permitted = inheritable = ``mask``."""
    bo = sys.byteorder
    header = _LINUX_CAPABILITY_VERSION_3.to_bytes(4, bo) + (0).to_bytes(4, bo)
    lo, hi = mask & 0xFFFFFFFF, mask >> 32
    data = b"".join(x.to_bytes(4, bo) for x in (lo, lo, lo, hi, hi, hi))
    return header, data


def secure_join(root: str, path: str) -> str:
    """``root`` + ``path`` with symlinks resolved as if ``root`` were ``/``, so a link in an
    image cannot point a mount outside the container's rootfs."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    resolved: list[str] = []
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = os.path.join(root, *resolved, part)
        if os.path.islink(candidate):
            hops += 1
            if hops > 40:
                raise Failure(f"too many levels of symbolic links in {path}")
            target = os.readlink(candidate)
            if target.startswith("/"):
                resolved = []
            parts = [p for p in target.split("/") if p not in ("", ".")] + parts
            continue
        resolved.append(part)
    return os.path.join(root, *resolved)


# --- kernel calls -----------------------------------------------------------------------------


def _b(s: str) -> bytes:
    return s.encode()


def _mount(src: str | None, target: str, fstype: str | None, flags: int, data: str = "") -> None:
    try:
        _libc(
            "mount",
            _b(src) if src is not None else None,
            _b(target),
            _b(fstype) if fstype is not None else None,
            flags,
            _b(data) if data else None,
        )
    except OSError as exc:
        what = fstype or ("bind" if flags & MS_BIND else "mount")
        source = f" {src}" if src else ""
        raise Failure(f"cannot mount {what}{source} on {target}: {exc.strerror}") from None


def _syscall(name: str, *args: object) -> int:
    table = _SYSCALLS.get(os.uname().machine)
    if table is None:
        raise Failure(f"unsupported architecture {os.uname().machine}")
    return _libc("syscall", table[name], *args)


def _setns(path_or_fd: str | int, nstype: int) -> None:
    fd = (
        os.open(path_or_fd, os.O_RDONLY | os.O_CLOEXEC)
        if isinstance(path_or_fd, str)
        else path_or_fd
    )
    try:
        _libc("setns", fd, nstype)
    finally:
        if isinstance(path_or_fd, str):
            os.close(fd)


# --- the container's filesystem --------------------------------------------------------------


def _mkdir(path: str, mode: int = 0o755) -> None:
    os.makedirs(path, mode, exist_ok=True)


def _touch(path: str, mode: int = 0o644) -> None:
    if not os.path.lexists(path):
        _mkdir(os.path.dirname(path))
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, mode))


def mount_overlay(spec: dict) -> None:
    """Mount the image layers and the container's upper dir at the rootfs."""
    lowers = spec["lowerdirs"]
    if not lowers:
        raise Failure("an overlay needs at least one image layer")
    dirs = list(lowers) + [spec["upperdir"], spec["workdir"]]
    opts = "lowerdir={},upperdir={},workdir={}"
    data = opts.format(":".join(lowers), spec["upperdir"], spec["workdir"])
    if len(data) > 4000:
        # The options must fit in a page: with many layers, mount relative to their common dir.
        base = os.path.commonpath(dirs)
        os.chdir(base)
        rel = [os.path.relpath(d, base) for d in dirs]
        data = opts.format(":".join(rel[:-2]), rel[-2], rel[-1])
    _mount("overlay", spec["rootfs"], "overlay", 0, data)


def setup_rootfs(spec: dict) -> None:
    """/proc, /sys, /dev, masked and read-only paths, /etc files and binds inside the rootfs."""
    r = spec["rootfs"]
    for d in ("proc", "sys", "dev"):
        _mkdir(os.path.join(r, d))
    _mount("proc", r + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    _mount("sysfs", r + "/sys", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)
    mount_cgroups(r, spec.get("cgroup_mounts", ()))
    _mount("tmpfs", r + "/dev", "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k")
    for name, major, minor in DEVICES:
        os.mknod(f"{r}/dev/{name}", 0o020666, os.makedev(major, minor))
        os.chmod(f"{r}/dev/{name}", 0o666)
    for name in ("pts", "shm", "mqueue"):
        os.mkdir(f"{r}/dev/{name}", 0o755)
    _mount("devpts", r + "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
           "newinstance,ptmxmode=0666,mode=0620,gid=5")  # fmt: skip
    _mount("shm", r + "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
           "mode=1777,size=65536k")  # fmt: skip
    _mount("mqueue", r + "/dev/mqueue", "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    for name, target in DEV_LINKS:
        os.symlink(target, f"{r}/dev/{name}")
    if spec.get("tty") and os.isatty(0):
        _touch(r + "/dev/console")
        _mount(os.ttyname(0), r + "/dev/console", None, MS_BIND)
    for p in MASKED_PATHS:
        target = r + p
        if os.path.isdir(target):
            _mount("tmpfs", target, "tmpfs", MS_RDONLY)
        elif os.path.exists(target):
            _mount(r + "/dev/null", target, None, MS_BIND)
    for p in READONLY_PATHS:
        target = r + p
        if os.path.exists(target):
            _mount(target, target, None, MS_BIND | MS_REC)
            _mount(None, target, None,
                   MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)  # fmt: skip
    for target, host in spec["etc_files"]:
        dst = secure_join(r, target)
        _touch(dst)
        _mount(host, dst, None, MS_BIND)
    for source, target, readonly in spec["binds"]:
        if not os.path.exists(source):
            raise Failure(f"invalid mount config: bind source path does not exist: {source}")
        dst = secure_join(r, target)
        if os.path.isdir(source):
            _mkdir(dst)
        else:
            _touch(dst)
        _mount(source, dst, None, MS_BIND | MS_REC)
        if readonly:
            _mount(None, dst, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC)
    _touch(r + "/.dockerenv", 0o755)


def mount_cgroups(r: str, mounts: list[tuple[str, str]]) -> None:
    """The container's own cgroups, read-only, under /sys/fs/cgroup as Docker shows them:
    v1 a tmpfs with one dir per hierarchy (named like the host's), v2 the group itself."""
    base = r + "/sys/fs/cgroup"
    if not mounts or not os.path.isdir(base):
        return
    ro = MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC
    if len(mounts) == 1 and mounts[0][0] == "":
        _mount(mounts[0][1], base, None, MS_BIND)
        _mount(None, base, None, ro)
        return
    _mount("tmpfs", base, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=755")
    for name, host in mounts:
        os.mkdir(f"{base}/{name}", 0o555)
        _mount(host, f"{base}/{name}", None, MS_BIND)
        _mount(None, f"{base}/{name}", None, ro)
        if "," in name:  # co-mounted controllers: a link per controller, as on the host
            for part in name.split(","):
                if not os.path.lexists(f"{base}/{part}"):
                    os.symlink(name, f"{base}/{part}")


def pivot_into(rootfs: str) -> None:
    """Make ``rootfs`` the root and drop the old root from this mount namespace."""
    os.chdir(rootfs)
    try:
        _syscall("pivot_root", b".", b".")
        _libc("umount2", b".", MNT_DETACH)
    except OSError as exc:
        raise Failure(f"pivot_root into {rootfs}: {exc.strerror}") from None
    os.chdir("/")


# --- the process ------------------------------------------------------------------------------


def _read_text(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def become(spec: dict) -> tuple[str, list[str], dict[str, str]]:
    """Switch to the container user with Docker's capabilities; returns (path, argv, env)."""
    uid, gid, groups, home = resolve_user(
        spec["user"], _read_text("/etc/passwd"), _read_text("/etc/group")
    )
    env = env_dict(spec["env"])
    env.setdefault("HOME", home)
    args = list(spec["args"])
    if not args:
        raise Failure("no command specified")
    cwd = spec["cwd"] or "/"
    try:
        if spec.get("make_cwd"):
            _mkdir(cwd)  # Docker creates a missing working dir when the container starts
        os.chdir(cwd)
    except OSError as exc:
        reason = (exc.strerror or str(exc)).lower()
        raise Failure(f'chdir to cwd ("{cwd}") set in config.json failed: {reason}') from None
    path = find_executable(args[0], env.get("PATH", DEFAULT_PATH))
    last_cap = int(_read_text("/proc/sys/kernel/cap_last_cap") or "40")
    for cap in range(last_cap + 1):
        if not DEFAULT_CAP_MASK & (1 << cap):
            _libc("prctl", PR_CAPBSET_DROP, cap, 0, 0, 0)
    _libc("prctl", PR_SET_KEEPCAPS, 1, 0, 0, 0)
    os.setgroups(groups)
    os.setgid(gid)
    os.setuid(uid)
    header, data = capset_payload(DEFAULT_CAP_MASK)
    _syscall("capset", header, data)
    _libc("prctl", PR_SET_KEEPCAPS, 0, 0, 0, 0)
    _libc("prctl", PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    return path, args, env


class _Byte(_ctypes._SimpleCData):
    _type_ = "B"


def sock_fprog(length: int, address: int) -> bytes:
    """struct sock_fprog: an unsigned short count of instructions, padding, then the pointer
    to them (native layout)."""
    bo = sys.byteorder
    width = 8 if sys.maxsize > 2**32 else 4
    return length.to_bytes(2, bo) + bytes(width - 2) + address.to_bytes(width, bo)


def install_seccomp(program: bytes) -> None:
    """Load a seccomp filter (a BPF program the daemon built, 8 bytes an instruction).
    no_new_privs is set already, so no privilege is needed; after this every syscall of the
    process and its children goes through the filter, execve included."""
    buf = type("_Program", (_ctypes.Array,), {"_type_": _Byte, "_length_": len(program)})
    prog = buf.from_buffer_copy(program)  # type: ignore[attr-defined]
    try:
        _libc("prctl", PR_SET_SECCOMP, SECCOMP_MODE_FILTER,
              sock_fprog(len(program) // 8, _ctypes.addressof(prog)), 0, 0)  # fmt: skip
    except OSError as exc:
        raise Failure(f"cannot load the seccomp filter: {exc.strerror}") from None


def _start_session(tty: bool) -> None:
    os.setsid()  # the forked child is never a process group leader, so this cannot fail
    if tty and os.isatty(0):
        _libc("ioctl", 0, TIOCSCTTY, 0)


def _exec(path: str, args: list[str], env: dict[str, str], program: bytes | None) -> None:
    # Python ignores SIGPIPE and SIGXFSZ, our caller may ignore others, and an ignored
    # signal stays ignored across exec: the container starts with every default.
    for sig in range(1, _signal.NSIG):
        if sig in (_signal.SIGKILL, _signal.SIGSTOP):
            continue
        try:  # noqa: SIM105
            _signal.signal(sig, _signal.SIG_DFL)
        except (OSError, ValueError):
            pass  # 32 and 33 belong to libc (contextlib would cost import time)
    _signal.pthread_sigmask(_signal.SIG_SETMASK, [])
    os.umask(0o022)
    if program:
        # Last, right before exec: everything above may use calls the profile refuses.
        install_seccomp(program)
    try:
        os.execve(path, args, env)
    except OSError as exc:
        codes = {2: EXIT_NOT_FOUND, 8: EXIT_NOT_EXECUTABLE, 13: EXIT_NOT_EXECUTABLE}
        code = codes.get(exc.errno or 0, EXIT_START_FAILED)
        raise Failure(f'exec: "{args[0]}": {exc.strerror.lower() if exc.strerror else exc}',
                      code) from None  # fmt: skip


def _join_cgroups(pid: int, fds: list[int]) -> None:
    """Move ``pid`` into the container's cgroups. Run by the helper while its child works:
    a v1 cgroup migration waits for an RCU grace period (a few ms), which this hides."""
    for fd in fds:
        try:
            os.write(fd, str(pid).encode())
        except OSError as exc:
            raise Failure(f"cannot join cgroup: {exc.strerror}") from None
        finally:
            os.close(fd)


def _wait_gate(gate: int) -> None:
    """Block until the helper has put us in our cgroups (EOF); anything else means abort."""
    data = os.read(gate, 1)
    os.close(gate)
    if data:
        os._exit(EXIT_START_FAILED)


def _container_main(spec: dict, gate: int) -> None:
    """PID 1 of the new pid namespace: everything up to exec."""
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    os.umask(0)
    mount_overlay(spec)
    setup_rootfs(spec)
    pivot_into(spec["rootfs"])
    hostname = spec["hostname"].encode()
    try:
        _libc("sethostname", hostname, len(hostname))
    except OSError as exc:
        raise Failure(f"sethostname {spec['hostname']!r}: {exc.strerror}") from None
    _wait_gate(gate)
    path, args, env = become(spec)
    _start_session(spec["tty"])
    _exec(path, args, env, spec.get("seccomp"))


def _exec_main(spec: dict, gate: int) -> None:
    """A process joining a running container: everything up to exec."""
    os.umask(0o022)
    _wait_gate(gate)
    path, args, env = become(spec)
    _start_session(spec["tty"])
    _exec(path, args, env, spec.get("seccomp"))


def _reply(fd: int, line: str) -> None:
    os.write(fd, (line.replace("\n", " ") + "\n").encode())


def _run_child(target: Callable[[dict, int], None], spec: dict, gate: int, reply: int) -> None:
    try:
        target(spec, gate)
    except Failure as f:
        _reply(reply, f"error {f.code} {f.message}")
        os._exit(f.code)
    except OSError as exc:
        _reply(reply, f"error {EXIT_START_FAILED} {exc.strerror or exc}: {exc.filename or ''}")
        os._exit(EXIT_START_FAILED)
    except BaseException as exc:  # noqa: BLE001 - report anything rather than die silently
        _reply(reply, f"error {EXIT_START_FAILED} {type(exc).__name__}: {exc}")
        os._exit(EXIT_START_FAILED)


def _enter(mode: str, spec: dict) -> Callable[[dict, int], None]:
    """The helper's own namespace moves before the fork; returns what the child runs."""
    if mode == "launch":
        _setns(spec["netns_path"], CLONE_NEWNET)
        _libc("unshare", CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID)
        return _container_main
    # Open every namespace first: after joining the mount namespace /proc is the
    # container's. The pid namespace applies to the child forked below.
    pid = spec["pid"]
    fds = [
        (os.open(f"/proc/{pid}/ns/{ns}", os.O_RDONLY | os.O_CLOEXEC), flag)
        for ns, flag in (("ipc", CLONE_NEWIPC), ("uts", CLONE_NEWUTS), ("net", CLONE_NEWNET),
                         ("pid", CLONE_NEWPID), ("mnt", CLONE_NEWNS))
    ]  # fmt: skip
    for fd, flag in fds:
        _setns(fd, flag)
        os.close(fd)
    return _exec_main


def main(argv: list[str]) -> int:
    """``argv``: [_, mode, spec fd, reply fd]. Returns the helper's exit status."""
    mode, spec_fd, reply = argv[1], int(argv[2]), int(argv[3])
    chunks = []
    while chunk := os.read(spec_fd, 65536):
        chunks.append(chunk)
    os.close(spec_fd)
    os.set_inheritable(reply, False)
    spec = marshal.loads(b"".join(chunks))
    try:
        cg_fds = [os.open(p, os.O_WRONLY | os.O_CLOEXEC) for p in spec["cgroup_procs"]]
        target = _enter(mode, spec)
    except Failure as f:
        _reply(reply, f"error {f.code} {f.message}")
        return 1
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        _reply(reply, f"error {EXIT_START_FAILED} {exc.strerror}{where}")
        return 1
    gate_r, gate_w = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(gate_w)
        for fd in cg_fds:
            os.close(fd)
        _run_child(target, spec, gate_r, reply)
        os._exit(EXIT_START_FAILED)  # not reached: exec or _exit above
    os.close(gate_r)
    _reply(reply, f"pid {child}")
    try:
        _join_cgroups(child, cg_fds)
    except Failure as f:
        _reply(reply, f"error {f.code} {f.message}")
        os.write(gate_w, b"x")
        os.kill(child, 9)
        return 1
    os.close(gate_w)
    return 0


if __name__ == "__main__":
    os._exit(main(sys.argv))
