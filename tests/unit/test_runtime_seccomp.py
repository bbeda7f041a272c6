"""Seccomp profiles: Docker's default as our data, Docker's JSON, which rules apply, the BPF."""

from __future__ import annotations

import json
import sys

import pytest

from dockerscope.engine.containers.create_request import parse_create
from dockerscope.engine.containers.security_opts import security_opts
from dockerscope.engine.errors import InvalidArgument, NotSupported
from dockerscope.engine.runtime import init, seccomp
from dockerscope.engine.runtime.launcher import BOUNDING_CAPS
from dockerscope.engine.runtime.seccomp import (
    Arg,
    Profile,
    Rule,
    SeccompError,
    default_profile,
    parse_docker_profile,
    rules_for,
)

KERNEL = (6, 1)


def names(rules: tuple[Rule, ...]) -> set[str]:
    return {n for r in rules for n in r.syscalls}


def test_default_profile_facts() -> None:
    p = default_profile()
    assert (p.default_action, p.default_errno) == ("errno", 1)
    assert p.arches_for("x86_64") == ("x86_64", "x86", "x32")
    allow = p.rules[0]
    assert allow.action == "allow" and not allow.args and not allow.caps
    assert {"read", "write", "execve", "setns"} & set(allow.syscalls) == {"read", "write", "execve"}
    for refused in ("mount", "unshare", "keyctl", "add_key", "swapon", "reboot", "clone"):
        assert refused not in allow.syscalls


def test_rules_for_dockers_default_capabilities_on_amd64() -> None:
    rules = rules_for(default_profile(), BOUNDING_CAPS, "amd64", KERNEL)
    kept = names(rules)
    assert {"chroot", "arch_prctl", "modify_ldt", "ptrace", "socket", "personality"} <= kept
    # CAP_SYS_ADMIN, CAP_SYS_BOOT... are not in the default set; other arches' calls stay out.
    assert not {"mount", "unshare", "setns", "reboot", "bpf", "set_tls", "syslog"} & kept
    clone = [r for r in rules if r.syscalls == ("clone",)]
    assert [r.args for r in clone] == [(Arg(0, "&==", 0x7E020000, 0),)]
    clone3 = [r for r in rules if r.syscalls == ("clone3",)]
    assert [(r.action, r.errno) for r in clone3] == [("errno", 38)]
    personality = sorted(r.args[0].value for r in rules if r.syscalls == ("personality",))
    assert personality == [0, 8, 0x20000, 0x20008, 0xFFFFFFFF]
    assert [r.args for r in rules if r.syscalls == ("socket",)] == [(Arg(0, "!=", 40),)]


def test_capability_conditions_follow_the_bounding_set() -> None:
    caps = BOUNDING_CAPS | {"CAP_SYS_ADMIN", "CAP_SYS_BOOT"}
    rules = rules_for(default_profile(), caps, "amd64", KERNEL)
    assert {"mount", "unshare", "reboot", "clone", "clone3"} <= names(rules)
    # With CAP_SYS_ADMIN clone is allowed outright: the masked rule and clone3's ENOSYS go.
    assert all(not r.args for r in rules if "clone" in r.syscalls)
    assert all(r.action == "allow" for r in rules if "clone3" in r.syscalls)
    no_chroot = rules_for(default_profile(), BOUNDING_CAPS - {"CAP_SYS_CHROOT"}, "amd64", KERNEL)
    assert "chroot" not in names(no_chroot)


def test_kernel_and_arch_conditions() -> None:
    old = rules_for(default_profile(), BOUNDING_CAPS, "amd64", (4, 4))
    assert "process_vm_readv" not in names(old)
    s390 = rules_for(default_profile(), BOUNDING_CAPS, "s390x", KERNEL)
    assert [r.args[0].index for r in s390 if r.syscalls == ("clone",)] == [1]
    assert seccomp.kernel_version("6.18.44-fc-v1300") == (6, 18)
    assert seccomp.kernel_version("5.10.0-28-amd64") == (5, 10)


def test_docker_json_is_read_with_its_conditions() -> None:
    text = json.dumps(
        {
            "defaultAction": "SCMP_ACT_ERRNO",
            "defaultErrnoRet": 1,
            "archMap": [
                {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]}
            ],
            "syscalls": [
                {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
                {"name": "kill", "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
                 "args": [{"index": 1, "value": 9, "op": "SCMP_CMP_EQ"}],
                 "excludes": {"caps": ["CAP_KILL"]}, "includes": {"minKernel": "4.1"}},
            ],
        }
    )  # fmt: skip
    p = parse_docker_profile(text)
    assert p.arches_for("x86_64") == ("x86_64", "x86")
    assert p.rules[1] == Rule(("kill",), "errno", 13, (Arg(1, "==", 9),), not_caps=("CAP_KILL",),
                              min_kernel=(4, 1))  # fmt: skip
    assert names(rules_for(p, BOUNDING_CAPS, "amd64", KERNEL)) == {"read", "write"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "Decoding seccomp profile failed"),
        ('{"defaultAction": "SCMP_ACT_NOTIFY"}', "SCMP_ACT_NOTIFY is not supported"),
        ('{"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/x"}', "listenerPath"),
        ('{"defaultAction": "SCMP_ACT_BOGUS"}', "unknown seccomp action"),
        ('{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86"], '
         '"archMap": [{"architecture": "SCMP_ARCH_X86_64"}]}', "use either"),
        ('{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], '
         '"action": "SCMP_ACT_ALLOW", "args": [{"index": 7, "value": 1, "op": "SCMP_CMP_EQ"}]}]}',
         "index must be 0..5"),
    ],
)  # fmt: skip
def test_bad_profiles_are_refused_by_name(text: str, message: str) -> None:
    with pytest.raises(SeccompError, match=message):
        parse_docker_profile(text)


def test_empty_profile_is_unconfined_as_in_docker() -> None:
    assert seccomp.compile_filter("{}", BOUNDING_CAPS) is None
    assert seccomp.compile_filter("unconfined", BOUNDING_CAPS) is None


@pytest.mark.skipif(sys.platform != "linux", reason="libseccomp")
def test_default_filter_compiles_to_a_bpf_program() -> None:
    try:
        program = seccomp.compile_filter("default", BOUNDING_CAPS)
    except SeccompError as exc:
        pytest.skip(str(exc))
    assert program is not None and len(program) % 8 == 0
    assert 300 < len(program) // 8 <= 4096
    # The first instruction loads the architecture (offset 4 of struct seccomp_data).
    code, _, _, k = program[0:2], program[2], program[3], program[4:8]
    assert int.from_bytes(code, sys.byteorder) == 0x20  # BPF_LD | BPF_W | BPF_ABS
    assert int.from_bytes(k, sys.byteorder) == 4
    # Same setting, same caps: the cached program.
    assert seccomp.compile_filter("default", BOUNDING_CAPS) is program


def test_sock_fprog_layout() -> None:
    raw = init.sock_fprog(983, 0x7F0012345678)
    if sys.maxsize > 2**32:
        assert len(raw) == 16
        assert int.from_bytes(raw[:2], sys.byteorder) == 983
        assert raw[2:8] == bytes(6)
        assert int.from_bytes(raw[8:], sys.byteorder) == 0x7F0012345678


def test_profile_arches_wildcard() -> None:
    p = Profile("allow", 1, (), (("*", ("x86_64",)),))
    assert p.arches_for("aarch64") == ("x86_64",)


# --- --security-opt, as dockerd parses it ----------------------------------------------------


def test_security_opts_values() -> None:
    assert security_opts(None) == ((), "default")
    assert security_opts(["no-new-privileges"]) == (("no-new-privileges",), "default")
    assert security_opts(["no-new-privileges=true"])[1] == "default"
    assert security_opts(["seccomp=unconfined"])[1] == "unconfined"
    assert security_opts(["seccomp:unconfined"])[1] == "unconfined"  # dockerd's old separator
    profile = '{"defaultAction":"SCMP_ACT_ALLOW"}'
    assert security_opts([f"seccomp={profile}"]) == ((f"seccomp={profile}",), profile)
    # No AppArmor or SELinux on the host: dockerd ignores these, so do we.
    assert security_opts(["apparmor=unconfined", "label=disable"])[1] == "default"


@pytest.mark.parametrize(
    ("opt", "kind", "message"),
    [
        ("bogus", InvalidArgument, "invalid --security-opt 1: 'bogus'"),
        ("systempaths=unconfined", InvalidArgument, "invalid --security-opt 2"),
        ("no-new-privileges=maybe", InvalidArgument, "invalid --security-opt 2"),
        ("no-new-privileges=false", NotSupported, "no-new-privileges=false"),
        ("seccomp={oops", InvalidArgument, "Decoding seccomp profile failed"),
        ("seccomp=", InvalidArgument, "invalid --security-opt 2"),
    ],
)
def test_security_opts_refused_by_name(opt: str, kind: type[Exception], message: str) -> None:
    with pytest.raises(kind, match=message):
        security_opts([opt])


def test_systempaths_unconfined_is_refused_not_ignored() -> None:
    body = {"Image": "busybox", "HostConfig": {"MaskedPaths": [], "ReadonlyPaths": []}}
    with pytest.raises(NotSupported, match="systempaths=unconfined"):
        parse_create(body)
    parse_create({"Image": "busybox", "HostConfig": {"MaskedPaths": None}})
