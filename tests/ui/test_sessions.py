"""Interactive docker commands and the lab shell open in terminal panes (issue 6)."""

from __future__ import annotations

import sys

import pytest
from dockerscope.screens.app import lab_sessions
from dockerscope.screens.sessions import dockerscope_argv, interactive
from dockerscope.screens.terminal import DETACH_KEY, TerminalPane
from textual.widgets import RichLog

from tests.ui.helpers import frames, make_app, until


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("docker run -ti busybox sh", True),
        ("docker run -p 8080:80 -it busybox", True),
        ("docker run -i busybox cat", True),
        ("docker exec -ti web sh", True),
        ("docker attach web", True),
        ("docker start -ai web", True),
        ("docker run -dti busybox top", False),
        ("docker run busybox ls -t", False),
        ("docker ps -a", False),
        ("docker start web", False),
    ],
)
def test_which_commands_need_a_terminal(line: str, expected: bool) -> None:
    assert interactive(line) is expected


def test_argv_for_the_lab() -> None:
    argv = dockerscope_argv(lab="demo")("docker run -ti busybox sh")
    assert argv == [
        sys.executable,
        "-m",
        "dockerscope",
        "--lab",
        "demo",
        "run",
        "-ti",
        "busybox",
        "sh",
    ]
    assert lab_sessions("lab:demo")["lab_shell"][-3:] == ["--lab", "demo", "ssh"]
    assert lab_sessions("host") == {}


SCRIPT = ["/bin/sh", "-c", "echo interactive-ok; exec cat"]


async def test_run_ti_from_the_command_bar_opens_a_pane_and_detaches() -> None:
    seen: list[str] = []

    def argv(line: str) -> list[str]:
        seen.append(line)
        return SCRIPT

    app, _ = make_app(terminal_argv=argv)
    async with app.run_test(size=(160, 48)) as pilot:
        await frames(pilot, app, 1)
        await pilot.press(
            "colon", *"docker", "space", *"run", "space", *"-ti", "space", *"busybox", "enter"
        )
        await until(pilot, lambda: bool(app.dashboard.query(TerminalPane)))
        pane = app.dashboard.query_one(TerminalPane)
        assert seen == ["docker run -ti busybox"]
        await until(pilot, lambda: any("interactive-ok" in line for line in pane.display_lines()))
        pane.focus()
        await pilot.press(*"abc", "enter")
        await until(
            pilot, lambda: sum(line.rstrip() == "abc" for line in pane.display_lines()) >= 2
        )
        session = app.sessions[0]
        await pilot.press(DETACH_KEY)
        await until(pilot, lambda: not app.dashboard.query(TerminalPane))
        assert session.running  # detached, not killed (cat ignores docker's detach keys)
    # the app hangs up what is still running when it ends
    assert not session.running


async def test_interactive_without_a_lab_is_explained() -> None:
    app, _ = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await frames(pilot, app, 1)
        await pilot.press("colon", *"docker", "space", *"attach", "space", *"web", "enter")
        await pilot.pause()
        log = app.dashboard.query_one("#commandbar-log", RichLog)
        assert any("needs a terminal" in line.text for line in log.lines)
        assert not app.dashboard.query(TerminalPane)


async def test_s_opens_the_lab_shell() -> None:
    app, _ = make_app(lab_shell=["/bin/sh", "-c", "echo lab-shell-here; exec cat"])
    async with app.run_test(size=(160, 48)) as pilot:
        await frames(pilot, app, 1)
        await pilot.press("s")
        await until(pilot, lambda: bool(app.dashboard.query(TerminalPane)))
        pane = app.dashboard.query_one(TerminalPane)
        assert "lab shell" in str(pane.border_title)
        await until(pilot, lambda: any("lab-shell-here" in line for line in pane.display_lines()))
