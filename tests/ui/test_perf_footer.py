"""The dashboard's footer is rebuilt when the keys it shows change, not on every focus move."""

from __future__ import annotations

from dockerscope.screens.footer import QuietFooter
from textual.widgets._footer import FooterKey

from tests.ui.helpers import frames, make_app, screen_text, until


async def test_panel_switches_keep_the_footer_and_its_keys() -> None:
    app, _ = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await frames(pilot, app, 1)
        footer = app.dashboard.query_one(QuietFooter)
        await until(pilot, lambda: footer.rebuilds >= 1)
        before = footer.rebuilds
        for key in "2345671":
            await pilot.press(key)
            await pilot.pause()
        assert app.dashboard.active == "bridges"
        assert footer.rebuilds == before
        last_row = screen_text(app).splitlines()[-1]
        assert "Command" in last_row and "Filter" in last_row


async def test_a_new_key_reaches_the_footer() -> None:
    app, _ = make_app()
    async with app.run_test(size=(120, 24)) as pilot:
        await frames(pilot, app, 1)
        dash = app.dashboard
        footer = dash.query_one(QuietFooter)
        await until(pilot, lambda: footer.rebuilds >= 1)
        before = footer.rebuilds
        dash._bindings.bind("x", "app.bell", "Extra key")
        dash.refresh_bindings()
        await until(pilot, lambda: footer.rebuilds == before + 1)
        await until(pilot, lambda: "Extra key" in [k.description for k in footer.query(FooterKey)])
