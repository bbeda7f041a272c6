"""A scenario walked through the course menu and the walkthrough on a real lab (root)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from dockerscope.screens.app import DockerscopeApp
from dockerscope.screens.course_menu import CourseMenuScreen
from dockerscope.screens.fake import FakeSource
from dockerscope.screens.walkthrough import WalkthroughScreen

from dockerscope.engine.paths import Lab
from dockerscope.scenario.loader import course_dir
from tests.ui.helpers import Clock, screen_text, until

pytestmark = pytest.mark.kernel


@pytest.mark.timeout(300)
async def test_course_menu_runs_bridges_live(lab_name: str) -> None:
    base = Path(tempfile.mkdtemp(prefix="dsu-"))  # short: the socket path must fit
    folder = base / "course"
    folder.mkdir()
    shutil.copy(course_dir() / "04-bridges.toml", folder)
    lab = Lab.named(lab_name, data_root=base / "data" / lab_name, run_root=base / "run" / lab_name)
    app = DockerscopeApp(
        FakeSource(auto=True),
        clock=Clock(),
        extra_screens=[lambda: CourseMenuScreen(lab, folder=folder)],
    )
    try:
        async with app.run_test(size=(160, 50)) as pilot:
            await until(pilot, lambda: isinstance(app.screen, CourseMenuScreen))
            await pilot.press("enter")  # the lab's daemon starts in a worker
            await until(pilot, lambda: isinstance(app.screen, WalkthroughScreen), tries=3000)
            w = app.screen
            assert isinstance(w, WalkthroughScreen) and w.player.live
            w.autoplay_delay = 0.05
            await pilot.press("a")
            await until(pilot, lambda: not w.autoplaying and len(w.outcomes) == 6, tries=6000)
            bad = [
                (i, c.text, c.detail, [(x.command, x.exit_code, x.text) for x in o.outputs])
                for i, o in w.outcomes.items()
                for c in o.checks
                if not c.ok
            ]
            assert not bad, bad
            assert "✓ as expected" in screen_text(app)
            await pilot.press("escape")  # cleanup commands, then the session takes the lab down
            await until(pilot, lambda: isinstance(app.screen, CourseMenuScreen))
            await until(pilot, lambda: w.closer is not None and not w.closer.is_alive(), tries=3000)
            # the session made this lab, so closing the walkthrough removed it
            assert not (base / "run" / lab_name).exists()
            assert not Path("/run/netns", lab_name).exists()
    finally:
        shutil.rmtree(base, ignore_errors=True)
