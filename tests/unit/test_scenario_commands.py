"""The scenario command line: check, replay as text, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockerscope.scenario.commands import main
from dockerscope.scenario.loader import course_dir


def test_check_the_course(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check"]) == 0
    out = capsys.readouterr().out
    assert "8 scenario(s) valid" in out and "stale" not in out


def test_check_reports_a_bad_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "01-x.toml").write_text('format = 1\nid = "01-x"\ntitle = "x"\nsection = 0\n')
    assert main(["check", str(tmp_path)]) == 1
    assert "01-x.toml:4: section" in capsys.readouterr().out


def test_replay_prints_every_frame(capsys: pytest.CaptureFixture[str]) -> None:
    rec = course_dir() / "recordings" / "04-bridges.jsonl"
    assert main(["replay", str(rec), "--speed", "1000000"]) == 0
    out = capsys.readouterr().out
    assert "-- frame 1/" in out
    assert "docker network create my-new-network" in out
    assert "✓ bridge br-* added" in out
    assert "socket: POST /v1.41/networks/create -> 201" in out


def test_bad_paths_are_clear_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", "/nonexistent.jsonl"]) == 1
    assert "cannot read" in capsys.readouterr().err
    assert main(["check", "/nonexistent-folder"]) == 1
    assert "no folder /nonexistent-folder" in capsys.readouterr().err
