"""Fading highlights redraw the panels that show them, not every panel on screen."""

from __future__ import annotations

from typing import Any

from dockerscope.screens import styles
from dockerscope.screens.state import HIGHLIGHT_SECONDS

from tests.ui.helpers import Clock, frames, make_app


def count_renders(panel: Any) -> list[int]:
    calls: list[int] = []
    original = panel.render_body

    def counting(state: Any) -> Any:
        calls.append(1)
        return original(state)

    panel.render_body = counting
    return calls


async def test_fade_steps_redraw_only_panels_with_highlights() -> None:
    clock = Clock()
    app, source = make_app(clock=clock)
    async with app.run_test(size=(200, 60)) as pilot:  # the grid: every panel is on screen
        await frames(pilot, app, 1)
        dash = app.dashboard
        source.release()  # api starts: a veth and rules appear (highlighted); no new flow
        await frames(pilot, app, 2)
        bridges, flows = dash.panel("bridges"), dash.panel("flows")
        bridge_renders, flow_renders = count_renders(bridges), count_renders(flows)
        assert styles.NEW in str([line.spans for line in bridges._lines])

        clock.now += HIGHLIGHT_SECONDS / 2 + 0.1  # highlights step to their faded colour
        dash._fade_tick()
        assert len(bridge_renders) == 1
        assert flow_renders == []
        assert styles.NEW_SETTLING in str([line.spans for line in bridges._lines])

        dash._fade_tick()  # nothing stepped since
        assert len(bridge_renders) == 1

        clock.now += HIGHLIGHT_SECONDS  # gone: drawn once more, without the highlight
        dash._fade_tick()
        assert len(bridge_renders) == 2
        assert flow_renders == []
        assert not dash.state.marks
        assert styles.NEW_SETTLING not in str([line.spans for line in bridges._lines])
