"""NAT brought to the front after a frame renders its rules once, in the layout it will show.

A hidden tab has no size until it is laid out; rendering it for no width and again when the
resize came cost a second pass over every rule (1,000 in a big lab) on each panel switch.
"""

from __future__ import annotations

from typing import Any

from dockerscope.screens.iptables_listing import COMPACT_HEADER, HEADER
from dockerscope.screens.nat import NatPanel

from tests.ui.helpers import frames, make_app


async def test_switching_to_a_dirty_nat_tab_renders_it_once_and_compact() -> None:
    app, source = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await frames(pilot, app, 1)
        await pilot.press("1")
        await pilot.pause()
        nat = app.dashboard.panel("nat")
        assert isinstance(nat, NatPanel)
        renders: list[bool] = []
        original = nat.render_body

        def counting(state: Any) -> Any:
            renders.append(nat.compact)
            return original(state)

        nat.render_body = counting  # type: ignore[method-assign]
        source.release()  # api starts: rules change while NAT is hidden
        await frames(pilot, app, 2)
        assert renders == []  # hidden: only marked dirty
        await pilot.press("2")
        await pilot.pause()
        await pilot.pause()
        assert renders == [True]
        text = nat.rendered_text()
        assert COMPACT_HEADER.rstrip() in text
        assert HEADER.rstrip() not in text
        assert "8081" in text


async def test_the_wide_layout_is_kept_where_the_panel_is_wide() -> None:
    app, source = make_app()
    async with app.run_test(size=(140, 30)) as pilot:
        await frames(pilot, app, 1)
        await pilot.press("1")
        await pilot.pause()
        source.release()
        await frames(pilot, app, 2)
        await pilot.press("2")
        await pilot.pause()
        nat = app.dashboard.panel("nat")
        assert isinstance(nat, NatPanel)
        assert not nat.compact
        assert HEADER.rstrip() in nat.rendered_text()


async def test_a_filter_keystroke_reuses_the_lines_of_rules_that_did_not_change() -> None:
    app, source = make_app()
    async with app.run_test(size=(200, 60)) as pilot:
        await frames(pilot, app, 1)
        nat = app.dashboard.panel("nat")
        assert isinstance(nat, NatPanel)
        state = app.state
        first = nat.render_body(state)
        again = nat.render_body(state)
        assert [id(line) for line in again] != [] and all(
            a is b for a, b in zip(first, again, strict=True) if "tcp dpt:" in a.plain
        )
        nat.set_filter("to:172.17")
        shown = nat.rendered_text()
        assert "DNAT" in shown and "MASQUERADE" not in shown
        nat.set_filter("masquerade")  # the search text is lower-cased, the query too
        assert "MASQUERADE" in nat.rendered_text() and "DNAT" not in nat.rendered_text()
        nat.set_filter("")
        source.release()  # the next frame: new rule objects, new counters, new lines
        await frames(pilot, app, 2)
        fresh = nat.render_body(app.state)
        assert not any(line is old for line in fresh for old in first if "tcp dpt:" in old.plain)
        assert "8081" in "\n".join(line.plain for line in fresh)
