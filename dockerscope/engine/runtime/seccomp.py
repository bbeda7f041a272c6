"""Seccomp profiles: Docker's default one and a client's, turned into a BPF program.

A profile (``Profile``) is read from Docker's JSON (``parse_docker_profile``, what
``--security-opt seccomp=<file>`` sends) or from our data file of Docker's default
(``default_profile``, ``seccomp_default.json``). ``rules_for`` keeps the rules that apply to
a container as Docker does: by the capabilities in its bounding set, this machine's
architecture and kernel. ``compile_filter`` builds the classic BPF program with libseccomp
(through ctypes, in the daemon) and caches it; the container's init helper only hands those
bytes to ``seccomp(2)`` as the last step before exec. Building it there would cost every start
a dlopen and some 400 rule calls; see docs/runtime.md for the figures.
"""

from __future__ import annotations

import ctypes
import functools
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_FILE = Path(__file__).with_name("seccomp_default.json")
LIBSECCOMP = "libseccomp.so.2"

#: Docker's action names -> ours.
_DOCKER_ACTIONS = {
    "SCMP_ACT_ALLOW": "allow",
    "SCMP_ACT_ERRNO": "errno",
    "SCMP_ACT_KILL": "kill_thread",
    "SCMP_ACT_KILL_THREAD": "kill_thread",
    "SCMP_ACT_KILL_PROCESS": "kill_process",
    "SCMP_ACT_TRAP": "trap",
    "SCMP_ACT_TRACE": "trace",
    "SCMP_ACT_LOG": "log",
}
#: Docker's comparison names -> ours (``&==``: (arg & value) == value_two).
_DOCKER_OPS = {
    "SCMP_CMP_NE": "!=",
    "SCMP_CMP_LT": "<",
    "SCMP_CMP_LE": "<=",
    "SCMP_CMP_EQ": "==",
    "SCMP_CMP_GE": ">=",
    "SCMP_CMP_GT": ">",
    "SCMP_CMP_MASKED_EQ": "&==",
}
# libseccomp's enum scmp_compare values.
_LIB_OPS = {"!=": 1, "<": 2, "<=": 3, "==": 4, ">=": 5, ">": 6, "&==": 7}
#: os.uname().machine -> Docker's name for it (the one ``arches`` conditions use).
DOCKER_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "s390x": "s390x", "ppc64le": "ppc64le",
               "riscv64": "riscv64", "i686": "x86", "armv7l": "arm"}  # fmt: skip
EPERM = 1


class SeccompError(ValueError):
    """A profile that cannot be read or compiled; the message names what is wrong."""


@dataclass(frozen=True)
class Arg:
    """A condition on one syscall argument."""

    index: int
    op: str  # == != < <= > >= &==
    value: int
    value_two: int = 0


@dataclass(frozen=True)
class Rule:
    """What some syscalls get, and when the rule applies at all."""

    syscalls: tuple[str, ...]
    action: str = "allow"  # allow errno kill_thread kill_process trap trace log
    errno: int = EPERM  # errno (or trace message) for errno/trace
    args: tuple[Arg, ...] = ()
    caps: tuple[str, ...] = ()  # kept only if the bounding set holds all of these
    not_caps: tuple[str, ...] = ()  # dropped if the bounding set holds any of these
    arches: tuple[str, ...] = ()  # Docker's arch names (amd64, arm64...)
    not_arches: tuple[str, ...] = ()
    min_kernel: tuple[int, int] | None = None
    not_min_kernel: tuple[int, int] | None = None  # dropped on this kernel or newer


@dataclass(frozen=True)
class Profile:
    """A whole seccomp profile."""

    default_action: str
    default_errno: int
    rules: tuple[Rule, ...]
    # native machine -> libseccomp arch names the filter covers; "*" = every machine
    arches: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def arches_for(self, machine: str) -> tuple[str, ...]:
        """The libseccomp architectures to filter on ``machine`` (at least the native one)."""
        for native, names in self.arches:
            if native in (machine, "*"):
                return names
        return ()


# --- reading ---------------------------------------------------------------------------------


def _kernel(text: Any, where: str) -> tuple[int, int]:
    try:
        major, minor = str(text).split(".")[:2]
        return int(major), int(minor)
    except ValueError:
        raise SeccompError(f"{where}: invalid kernel version {text!r}") from None


def _names(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SeccompError(f"{where} must be a list of strings")
    return tuple(value)


def _int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**64:
        raise SeccompError(f"{where} must be an unsigned 64-bit integer")
    return value


@functools.cache
def default_profile() -> Profile:
    """Docker's default profile, from ``seccomp_default.json`` (our layout)."""
    data = json.loads(DEFAULT_FILE.read_text())
    rules = []
    for i, r in enumerate(data["rules"]):
        where = f"{DEFAULT_FILE.name} rule {i}"
        rules.append(
            Rule(
                syscalls=tuple(r["syscalls"]),
                action=r["action"],
                errno=r.get("errno", EPERM),
                args=tuple(Arg(*a) for a in r.get("args", ())),
                caps=tuple(r.get("caps", ())),
                not_caps=tuple(r.get("not_caps", ())),
                arches=tuple(r.get("arches", ())),
                not_arches=tuple(r.get("not_arches", ())),
                min_kernel=_kernel(r["min_kernel"], where) if "min_kernel" in r else None,
            )
        )
    default = data["default"]
    return Profile(
        default_action=default["action"],
        default_errno=default.get("errno", EPERM),
        rules=tuple(rules),
        arches=tuple((k, tuple(v)) for k, v in data["arches"].items()),
    )


def parse_docker_profile(text: str) -> Profile:
    """A profile in Docker's JSON (``--security-opt seccomp=<file>`` sends the file's text).

    Raises ``SeccompError`` with Docker's "Decoding seccomp profile failed" for bad JSON, and
    names any field or value it does not support (notify actions, listener paths, flags).
    """
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise SeccompError(f"Decoding seccomp profile failed: {exc}") from None
    if not isinstance(data, dict):
        raise SeccompError("Decoding seccomp profile failed: not a JSON object")
    for key in ("listenerPath", "listenerMetadata"):
        if data.get(key):
            raise SeccompError(f"seccomp profile field {key} is not supported by dockerscope")
    if data.get("flags"):
        raise SeccompError("seccomp profile field flags is not supported by dockerscope")
    calls = data.get("syscalls") or []
    if not data.get("defaultAction") and not calls:
        return Profile("allow", EPERM, ())  # nothing in it: Docker runs such a container unconfined
    default = _action(data.get("defaultAction"), "defaultAction")
    default_errno = data.get("defaultErrnoRet")
    default_errno = EPERM if default_errno is None else _int(default_errno, "defaultErrnoRet")
    arches: list[tuple[str, tuple[str, ...]]] = []
    plain = _names(data.get("architectures"), "architectures")
    arch_map = data.get("archMap") or []
    if plain and arch_map:
        raise SeccompError(
            "'architectures' and 'archMap' were specified in the seccomp profile, "
            "use either 'architectures' or 'archMap'"
        )
    if plain:
        arches.append(("*", tuple(_lib_arch(a) for a in plain)))
    if not isinstance(arch_map, list):
        raise SeccompError("archMap must be a list")
    for i, entry in enumerate(arch_map):
        if not isinstance(entry, dict):
            raise SeccompError(f"archMap[{i}] must be an object")
        native = _lib_arch(entry.get("architecture"))
        subs = _names(entry.get("subArchitectures"), f"archMap[{i}].subArchitectures")
        arches.append((native, (native, *(_lib_arch(s) for s in subs))))
    if not isinstance(calls, list):
        raise SeccompError("syscalls must be a list")
    return Profile(default, default_errno, tuple(_docker_rule(c, i) for i, c in enumerate(calls)),
                   tuple(arches))  # fmt: skip


def _lib_arch(name: Any) -> str:
    """SCMP_ARCH_X86_64 -> x86_64 (libseccomp's own name)."""
    if not isinstance(name, str) or not name.startswith("SCMP_ARCH_"):
        raise SeccompError(f"unknown seccomp architecture {name!r}")
    return name.removeprefix("SCMP_ARCH_").lower()


def _action(name: Any, where: str) -> str:
    if name == "SCMP_ACT_NOTIFY":
        raise SeccompError(f"{where}: SCMP_ACT_NOTIFY is not supported by dockerscope")
    if name not in _DOCKER_ACTIONS:
        raise SeccompError(f"{where}: unknown seccomp action {name!r}")
    return _DOCKER_ACTIONS[name]


def _docker_rule(call: Any, i: int) -> Rule:
    where = f"syscalls[{i}]"
    if not isinstance(call, dict):
        raise SeccompError(f"{where} must be an object")
    if call.get("name") and call.get("names"):
        raise SeccompError(
            "'name' and 'names' were specified in the seccomp profile, use either 'name' or 'names'"
        )
    names = (call["name"],) if call.get("name") else _names(call.get("names"), f"{where}.names")
    if not all(isinstance(n, str) for n in names):
        raise SeccompError(f"{where}.name must be a string")
    action = _action(call.get("action"), f"{where}.action")
    errno = call.get("errnoRet")
    args = []
    for j, a in enumerate(call.get("args") or []):
        if not isinstance(a, dict) or a.get("op") not in _DOCKER_OPS:
            raise SeccompError(f"{where}.args[{j}]: unknown comparison {a!r}")
        index = _int(a.get("index", 0), f"{where}.args[{j}].index")
        if index > 5:
            raise SeccompError(f"{where}.args[{j}].index must be 0..5")
        args.append(Arg(index, _DOCKER_OPS[a["op"]], _int(a.get("value", 0), "value"),
                        _int(a.get("valueTwo", 0), "valueTwo")))  # fmt: skip
    inc = call.get("includes") or {}
    exc = call.get("excludes") or {}
    if not isinstance(inc, dict) or not isinstance(exc, dict):
        raise SeccompError(f"{where}: includes and excludes must be objects")
    return Rule(
        syscalls=names,
        action=action,
        errno=EPERM if errno is None else _int(errno, f"{where}.errnoRet"),
        args=tuple(args),
        caps=_names(inc.get("caps"), f"{where}.includes.caps"),
        not_caps=_names(exc.get("caps"), f"{where}.excludes.caps"),
        arches=_names(inc.get("arches"), f"{where}.includes.arches"),
        not_arches=_names(exc.get("arches"), f"{where}.excludes.arches"),
        min_kernel=_kernel(inc["minKernel"], where) if inc.get("minKernel") else None,
        not_min_kernel=_kernel(exc["minKernel"], where) if exc.get("minKernel") else None,
    )


# --- which rules apply -----------------------------------------------------------------------


def kernel_version(release: str | None = None) -> tuple[int, int]:
    """(major, minor) of ``release`` (default: this kernel's, e.g. "6.1.0-18-amd64")."""
    release = release or os.uname().release
    major, _, rest = release.partition(".")
    minor = "".join(c for c in rest.split(".")[0] if c.isdigit()) or "0"
    return int(major), int(minor)


def rules_for(
    profile: Profile, caps: frozenset[str], arch: str, kernel: tuple[int, int]
) -> tuple[Rule, ...]:
    """The rules Docker keeps for a container whose bounding set is ``caps`` (CAP_* names) on
    Docker architecture ``arch`` (amd64...) and kernel ``kernel``: excludes first, then
    includes (every listed cap needed), as Docker's setupSeccomp does."""
    out = []
    for r in profile.rules:
        if arch in r.not_arches or any(c in caps for c in r.not_caps):
            continue
        if r.not_min_kernel is not None and kernel >= r.not_min_kernel:
            continue
        if r.arches and arch not in r.arches:
            continue
        if not all(c in caps for c in r.caps):
            continue
        if r.min_kernel is not None and kernel < r.min_kernel:
            continue
        out.append(r)
    return tuple(out)


# --- compiling with libseccomp ---------------------------------------------------------------


class _ArgCmp(ctypes.Structure):
    """libseccomp's struct scmp_arg_cmp."""

    _fields_ = [
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    ]


def _lib_action(action: str, errno: int) -> int:
    """libseccomp's SCMP_ACT_* value."""
    fixed = {"allow": 0x7FFF0000, "kill_thread": 0x00000000, "kill_process": 0x80000000,
             "trap": 0x00030000, "log": 0x7FFC0000}  # fmt: skip
    if action in fixed:
        return fixed[action]
    if action == "errno":
        return 0x00050000 | (errno & 0xFFFF)
    if action == "trace":
        return 0x7FF00000 | (errno & 0xFFFF)
    raise SeccompError(f"unknown seccomp action {action!r}")


@functools.cache
def _lib() -> ctypes.CDLL:
    try:
        lib = ctypes.CDLL(LIBSECCOMP, use_errno=True)
    except OSError as exc:
        raise SeccompError(
            f"seccomp needs {LIBSECCOMP} ({exc}); run with --security-opt seccomp=unconfined"
        ) from None
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_release.argtypes = [ctypes.c_void_p]
    lib.seccomp_release.restype = None
    lib.seccomp_arch_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_arch_resolve_name.restype = ctypes.c_uint32
    lib.seccomp_arch_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
    lib.seccomp_arch_native.restype = ctypes.c_uint32
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int,
                                           ctypes.c_uint, ctypes.POINTER(_ArgCmp)]  # fmt: skip
    lib.seccomp_export_bpf.argtypes = [ctypes.c_void_p, ctypes.c_int]
    return lib


def _check(ret: int, what: str) -> None:
    if ret < 0:
        raise SeccompError(f"seccomp: {what}: {os.strerror(-ret)}")


def _split_args(args: tuple[Arg, ...]) -> list[tuple[Arg, ...]]:
    """libseccomp takes one comparison per argument in a rule: several on the same argument
    become one rule each (either matches), as runc does."""
    seen = [a.index for a in args]
    if len(set(seen)) == len(seen):
        return [args]
    return [(a,) for a in args]


def build_filter(profile: Profile, rules: tuple[Rule, ...], machine: str) -> bytes:
    """The BPF program (struct sock_filter array, native byte order) for ``rules``."""
    lib = _lib()
    default = _lib_action(profile.default_action, profile.default_errno)
    ctx = lib.seccomp_init(default)
    if not ctx:
        raise SeccompError("seccomp: cannot make a filter (invalid default action?)")
    try:
        native = lib.seccomp_arch_native()
        for name in profile.arches_for(machine):
            token = lib.seccomp_arch_resolve_name(name.encode())
            if token == 0:
                raise SeccompError(f"seccomp: unknown architecture {name!r}")
            if token != native:  # the native one is in every new filter already
                ret = lib.seccomp_arch_add(ctx, token)
                if ret != -17:  # EEXIST
                    _check(ret, f"add architecture {name}")
        for rule in rules:
            action = _lib_action(rule.action, rule.errno)
            if action == default:
                continue  # libseccomp refuses a rule that changes nothing; runc skips it too
            for name in rule.syscalls:
                nr = lib.seccomp_syscall_resolve_name(name.encode())
                if nr == -1:  # __NR_SCMP_ERROR: no such call on any of our architectures
                    continue
                for group in _split_args(rule.args):
                    cmps = (_ArgCmp * max(len(group), 1))(
                        *[_ArgCmp(a.index, _LIB_OPS[a.op], a.value, a.value_two) for a in group]
                    )
                    ret = lib.seccomp_rule_add_array(ctx, action, nr, len(group), cmps)
                    _check(ret, f"rule for {name}")
        fd = os.memfd_create("seccomp-bpf", os.MFD_CLOEXEC)
        try:
            _check(lib.seccomp_export_bpf(ctx, fd), "export")
            os.lseek(fd, 0, os.SEEK_SET)
            chunks = []
            while chunk := os.read(fd, 65536):
                chunks.append(chunk)
        finally:
            os.close(fd)
    finally:
        lib.seccomp_release(ctx)
    program = b"".join(chunks)
    if not program or len(program) % 8 or len(program) // 8 > 4096:
        raise SeccompError(f"seccomp: the filter has {len(program) // 8} instructions (max 4096)")
    return program


@functools.lru_cache(maxsize=32)
def compile_filter(setting: str, caps: frozenset[str]) -> bytes | None:
    """The BPF program for a container's seccomp ``setting`` ("default", "unconfined" or a
    profile's JSON text) and bounding set ``caps``; None for unconfined. Cached: the default
    profile compiles once per daemon."""
    if setting == "unconfined":
        return None
    profile = default_profile() if setting == "default" else parse_docker_profile(setting)
    if profile.default_action == "allow" and not profile.rules:
        return None
    machine = os.uname().machine
    arch = DOCKER_ARCH.get(machine, machine)
    return build_filter(profile, rules_for(profile, caps, arch, kernel_version()), machine)


def check_setting(setting: str) -> None:
    """Raise ``SeccompError`` for a setting that could never be applied (bad JSON, unknown
    actions): the daemon calls this at create, so a bad profile is a 400 there."""
    if setting in ("default", "unconfined"):
        return
    parse_docker_profile(setting)
