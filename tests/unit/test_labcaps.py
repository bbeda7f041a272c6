"""The lab's caps: parsing the daemon's flags, their defaults, and the argv lab control passes."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockerscope import labctl
from dockerscope.engine import daemon, labcaps
from dockerscope.engine.labcaps import BadCap, LabCaps, parse_count, parse_size
from dockerscope.engine.paths import Lab

MiB = 1024 * 1024


@pytest.mark.parametrize(
    ("text", "size"),
    [("512m", 512 * MiB), ("2g", 2048 * MiB), ("1.5GiB", 1536 * MiB), ("4 GB", 4096 * MiB),
     ("10485760", 10 * MiB), ("8192k", 8 * MiB), ("1t", 1024**4), ("0", None), ("none", None),
     ("NONE", None)],
)  # fmt: skip
def test_parse_size_like_docker_memory(text: str, size: int | None) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "-1", "lots", "5x", "1m", "4096", "1.2.3g"])
def test_parse_size_refuses_nonsense_and_tiny(text: str) -> None:
    with pytest.raises(BadCap, match="--max-memory"):
        parse_size(text)


def test_parse_count() -> None:
    assert parse_count("200") == 200
    assert parse_count("0") is None and parse_count(" none ") is None
    for bad in ("-3", "1e3", "many", ""):
        with pytest.raises(BadCap, match="--max-pids wants a number"):
            parse_count(bad, "--max-pids")


def test_defaults_and_argv_round_trip() -> None:
    caps = LabCaps.defaults()
    assert caps.containers == 200 and caps.pids == 8192
    assert caps.memory == labcaps.machine_memory() // 2 > 0
    args = daemon.build_parser().parse_args(["--lab", "x", *caps.argv()])
    assert daemon.caps_of(args) == caps
    none = LabCaps.none()
    assert none.argv() == ["--max-containers", "none", "--max-memory", "none", "--max-pids", "none"]
    assert daemon.caps_of(daemon.build_parser().parse_args(none.argv())) == none


def test_daemon_flags_default_and_refuse(tmp_path: Path) -> None:
    args = daemon.build_parser().parse_args([])
    assert daemon.caps_of(args) == LabCaps.defaults()
    args = daemon.build_parser().parse_args(["--max-containers", "3", "--max-memory", "1g"])
    assert daemon.caps_of(args) == LabCaps(3, 1024 * MiB, 8192)
    with pytest.raises(daemon.DaemonError, match="--max-pids wants a number"):
        daemon.caps_of(daemon.build_parser().parse_args(["--max-pids", "lots"]))
    dirs = ["--data-root", str(tmp_path / "data"), "--run-root", str(tmp_path / "run")]
    assert daemon.main([*dirs, "--max-memory", "lots"]) == 1
    assert list(tmp_path.iterdir()) == []  # refused before anything is set up


def test_describe_and_labels() -> None:
    caps = LabCaps(100, 512 * MiB, None)
    assert "containers 100, memory 512 MiB, pids none" in caps.describe()
    assert caps.labels() == [
        "dockerscope.max-containers=100",
        "dockerscope.max-memory=536870912",
        "dockerscope.max-pids=0",
    ]


def test_lab_control_passes_the_caps_to_the_daemon(tmp_path: Path) -> None:
    lab = Lab.named("tcaps", tmp_path / "data", tmp_path / "run")
    caps = LabCaps(10, 64 * MiB, None)
    argv = labctl.daemon_argv(lab, caps)
    assert argv[1:3] == ["-m", "dockerscope.engine.daemon"]
    args = daemon.build_parser().parse_args(argv[3:])
    assert (args.lab, args.data_root) == ("tcaps", tmp_path / "data")
    assert daemon.caps_of(args) == caps
    # No caps given: no flags, the daemon's defaults apply.
    plain = labctl.daemon_argv(lab)
    assert not any(a.startswith("--max-") for a in plain)
    assert daemon.caps_of(daemon.build_parser().parse_args(plain[3:])) == LabCaps.defaults()
