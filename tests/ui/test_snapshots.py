"""SVG snapshots of the main screens on the fake lab (fixed data, frozen clock).

Update after an intended change with ``pytest tests/ui/test_snapshots.py --snapshot-update``
and look at the report before committing.
"""

from __future__ import annotations

from typing import Any

import pytest
from dockerscope.screens.help import HelpScreen
from dockerscope.screens.showcmd import ShowCommandScreen
from textual.pilot import Pilot

from tests.ui.helpers import frames, make_app, until


def app_after(frame_count: int) -> tuple[Any, Any]:
    app, source = make_app()

    async def run_before(pilot: Pilot[Any]) -> None:
        source.release(frame_count - 1)
        await frames(pilot, app, frame_count)
        await pilot.pause()

    return app, run_before


def with_keys(run_before: Any, *keys: str, screen: type | None = None) -> Any:
    async def run(pilot: Pilot[Any]) -> None:
        await run_before(pilot)
        for key in keys:
            await pilot.press(key)
            await pilot.pause()
        if screen is not None:
            await until(pilot, lambda: isinstance(pilot.app.screen, screen))
        await pilot.pause(0.1)

    return run


@pytest.mark.parametrize(
    ("name", "keys"),
    [
        ("bridges", ["1"]),
        ("nat", ["2"]),
        ("namespaces", ["3"]),
        ("flows", ["6"]),
        ("timeline", ["8"]),
        ("sockets", ["9"]),
    ],
)
def test_panel_80x24(snap_compare: Any, name: str, keys: list[str]) -> None:
    app, run_before = app_after(2)
    assert snap_compare(app, terminal_size=(80, 24), run_before=with_keys(run_before, *keys))


def test_grid_160x48(snap_compare: Any) -> None:
    app, run_before = app_after(2)
    assert snap_compare(app, terminal_size=(160, 48), run_before=with_keys(run_before))


def test_filter_table_160x48(snap_compare: Any) -> None:
    app, run_before = app_after(4)
    assert snap_compare(app, terminal_size=(160, 48), run_before=with_keys(run_before, "t"))


def test_help_80x24(snap_compare: Any) -> None:
    app, run_before = app_after(1)
    assert snap_compare(
        app,
        terminal_size=(80, 24),
        run_before=with_keys(run_before, "question_mark", screen=HelpScreen),
    )


def test_show_command_80x24(snap_compare: Any) -> None:
    app, run_before = app_after(1)
    assert snap_compare(
        app,
        terminal_size=(80, 24),
        run_before=with_keys(run_before, "2", "c", screen=ShowCommandScreen),
    )
