"""The init helper's pure parts: users, executables, env, capabilities, path resolution,
and the promise that it runs on the standard library alone."""

from __future__ import annotations

import marshal
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dockerscope.engine.runtime import init
from dockerscope.engine.runtime.init import Failure
from dockerscope.engine.runtime.launcher import _BOOT, RUNTIME_DIR

PASSWD = """\
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
broken line
"""
GROUP = """\
root:x:0:
daemon:x:1:
www-data:x:33:
audio:x:29:www-data,daemon
video:x:44:www-data
nogroup:x:65534:
"""


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        ("", (0, 0, [0], "/root")),
        ("root", (0, 0, [0], "/root")),
        ("nobody", (65534, 65534, [65534], "/nonexistent")),
        ("www-data", (33, 33, [33, 29, 44], "/var/www")),  # supplementary groups from /etc/group
        ("33", (33, 33, [33, 29, 44], "/var/www")),
        ("1234", (1234, 0, [0], "/")),  # a uid need not exist in passwd
        ("1234:5678", (1234, 5678, [5678], "/")),
        ("www-data:video", (33, 44, [44], "/var/www")),  # an explicit group replaces the rest
        ("nobody:0", (65534, 0, [0], "/nonexistent")),
    ],
)
def test_resolve_user(user: str, expected: tuple[int, int, list[int], str]) -> None:
    assert init.resolve_user(user, PASSWD, GROUP) == expected


def test_unknown_user_and_group_have_dockers_messages() -> None:
    with pytest.raises(Failure, match="^unable to find user bob: no matching entries in passwd"):
        init.resolve_user("bob", PASSWD, GROUP)
    with pytest.raises(Failure, match="^unable to find group staff: no matching entries in group"):
        init.resolve_user("root:staff", PASSWD, GROUP)


def test_resolve_user_without_passwd_file() -> None:
    assert init.resolve_user("", "", "") == (0, 0, [0], "/")
    with pytest.raises(Failure):
        init.resolve_user("nobody", "", "")


def test_find_executable(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    (a / "tool").write_text("#!/bin/sh\n")  # not executable
    (b / "tool").write_text("#!/bin/sh\n")
    (b / "tool").chmod(0o755)
    (b / "dir").mkdir()
    assert init.find_executable("tool", f"{a}:{b}") == str(b / "tool")
    assert init.find_executable(str(b / "tool"), None) == str(b / "tool")


@pytest.mark.parametrize(
    ("name", "message", "code"),
    [
        ("nosuch", 'exec: "nosuch": executable file not found in $PATH', 127),
        ("", 'exec: "": executable file not found in $PATH', 127),
        ("tool", 'exec: "tool": permission denied', 126),
        ("dir", 'exec: "dir": permission denied', 126),
    ],
)
def test_find_executable_errors(tmp_path: Path, name: str, message: str, code: int) -> None:
    (tmp_path / "tool").write_text("")
    (tmp_path / "dir").mkdir()
    with pytest.raises(Failure) as info:
        init.find_executable(name, str(tmp_path))
    assert (info.value.message, info.value.code) == (message, code)


def test_find_executable_with_a_path(tmp_path: Path) -> None:
    missing = str(tmp_path / "nosuch")
    with pytest.raises(Failure) as info:
        init.find_executable(missing, "/bin")
    assert info.value.message == f'exec: "{missing}": stat {missing}: no such file or directory'
    assert info.value.code == 127


def test_env_dict_later_wins_and_bare_names_are_empty() -> None:
    assert init.env_dict(["A=1", "B=x=y", "A=2", "C", "=bad"]) == {"A": "2", "B": "x=y", "C": ""}


def test_default_capabilities_are_dockers() -> None:
    assert init.DEFAULT_CAP_MASK == 0xA80425FB
    assert len(init.DEFAULT_CAPS) == 14


def test_capset_payload_layout() -> None:
    header, data = init.capset_payload(0xA80425FB | (1 << 35))
    order = sys.byteorder
    assert int.from_bytes(header[:4], order) == 0x20080522
    words = [int.from_bytes(data[i : i + 4], order) for i in range(0, 24, 4)]
    assert words == [0xA80425FB] * 3 + [1 << 3] * 3


def test_secure_join_keeps_links_inside_the_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "escape").symlink_to("/etc")  # absolute: means the container's /etc
    (root / "up").symlink_to("../../..")
    (root / "etc/rel").symlink_to("../data")
    r = str(root)
    assert init.secure_join(r, "/escape/hosts") == f"{r}/etc/hosts"
    assert init.secure_join(r, "/up/x") == f"{r}/x"
    assert init.secure_join(r, "/../../x") == f"{r}/x"
    assert init.secure_join(r, "/etc/rel/f") == f"{r}/data/f"
    (root / "loop").symlink_to("loop")
    with pytest.raises(Failure, match="too many levels"):
        init.secure_join(r, "/loop/x")


def test_docker_masked_and_readonly_paths() -> None:
    assert "/proc/kcore" in init.MASKED_PATHS and "/sys/firmware" in init.MASKED_PATHS
    assert init.READONLY_PATHS == (
        "/proc/bus",
        "/proc/fs",
        "/proc/irq",
        "/proc/sys",
        "/proc/sysrq-trigger",
    )


def test_helper_loads_only_the_standard_library() -> None:
    """The helper starts the way launch() starts it and imports nothing of ours or third party."""
    code = _BOOT.replace("sys.exit(init.main(sys.argv[1:]))", "print(' '.join(sys.modules))")
    out = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code, RUNTIME_DIR],
        capture_output=True,
        text=True,
        timeout=30,
        env={},
    )
    assert out.returncode == 0, out.stderr
    modules = set(out.stdout.split()) - {"init", "__main__"}
    assert not {m for m in modules if m.startswith("dockerscope")}
    outside = {m for m in modules if m.split(".")[0] not in sys.stdlib_module_names}
    assert not outside
    # json (via re and enum) and ctypes would each cost several ms of every container start.
    assert not modules & {"json", "ctypes", "re", "enum", "subprocess"}


def test_helper_reports_a_bad_namespace_on_the_reply_pipe(tmp_path: Path) -> None:
    """Run the helper by hand (no root needed to fail early): errors come back as a line."""
    spec_r, spec_w = os.pipe()
    reply_r, reply_w = os.pipe()
    os.write(spec_w, marshal.dumps({"cgroup_procs": [], "netns_path": str(tmp_path / "no")}))
    os.close(spec_w)
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "-c", _BOOT, RUNTIME_DIR, "launch", str(spec_r), str(reply_w)],
        pass_fds=(spec_r, reply_w),
        timeout=30,
    )
    os.close(spec_r), os.close(reply_w)
    reply = os.read(reply_r, 4096).decode()
    os.close(reply_r)
    assert proc.returncode == 1
    assert reply.startswith("error 128 No such file or directory")
