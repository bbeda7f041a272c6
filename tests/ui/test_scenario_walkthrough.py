"""Pilot tests: a scenario walked through by key presses, the course menu, replay, reloading."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from dockerscope.screens.app import DockerscopeApp
from dockerscope.screens.course_menu import CourseMenuScreen
from dockerscope.screens.fake import FakeSource
from dockerscope.screens.replay_menu import ReplayMenuScreen
from dockerscope.screens.walkthrough import WalkthroughScreen

from dockerscope.scenario.fakelab import demo_lab
from dockerscope.scenario.loader import load, load_text
from dockerscope.scenario.player import LivePlayer
from dockerscope.scenario.recording import parse
from dockerscope.scenario.runner import Runner
from tests.ui.helpers import Clock, screen_text, until
from tests.unit.test_scenario_recording import _record
from tests.unit.test_scenario_runner import SCENARIO

TEXT = SCENARIO.replace(', { bridge_gone = "x" }', "")


def _player(scenario: Any = None, lab_name: str = "fake") -> LivePlayer:
    lab = demo_lab(lab_name)
    scenario = scenario or load_text(TEXT, "t-demo.toml")
    runner = Runner(
        scenario, lab, lab.snapshot, lab.traffic, values={"lab": lab_name}, sleep=lambda s: None
    )
    return LivePlayer(runner)


def _app(*screens: Any) -> DockerscopeApp:
    return DockerscopeApp(FakeSource(auto=True), clock=Clock(), extra_screens=list(screens))


def _walk(app: DockerscopeApp) -> WalkthroughScreen:
    assert isinstance(app.screen, WalkthroughScreen), type(app.screen)
    return app.screen


async def test_walk_a_scenario_by_key_presses() -> None:
    player = _player()
    app = _app(lambda: WalkthroughScreen(player, autoplay_delay=0.05))
    async with app.run_test(size=(160, 50)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, WalkthroughScreen))
        w = _walk(app)
        text = screen_text(app)
        assert "Step 1/3: A network" in text and "A bridge appears." in text
        assert "docker network create demo-net" in text
        assert "Predict: What appears?" in text
        # answer the question (choice 2), then run the step
        await pilot.press("2")
        assert w.guesses == {0: 1}
        await pilot.press("n")
        await until(pilot, lambda: 0 in w.outcomes)
        await pilot.pause()
        text = screen_text(app)
        assert "✓ as expected" in text
        assert "the kernel shows this" in text and "Your answer: right!" in text
        assert "✓ bridge br-* added" in text
        assert "+ link br-" in text  # the change list
        # next step: shown first, run on the second press
        await pilot.press("n")
        assert w.index == 1 and 1 not in w.outcomes
        await pilot.press("space")
        await until(pilot, lambda: 1 in w.outcomes)
        assert w.outcomes[1].ok
        # rerun: the container exists now, so the kernel shows nothing new: crosses
        await pilot.press("r")
        await until(pilot, lambda: 1 in w.outcomes and not w.running)
        await pilot.pause()
        assert not w.outcomes[1].ok
        assert "✗ not as expected" in screen_text(app)
        # back to the first step, its outcome is still there
        await pilot.press("b")
        assert w.index == 0 and "Step 1/3" in screen_text(app)
        # autoplay to the end
        await pilot.press("a")
        await until(pilot, lambda: not w.autoplaying and 2 in w.outcomes)
        assert w.index == 2 and w.outcomes[2].ok
        assert player.runner.executor.log[-1] == "host$ echo bg"
        # leaving the walkthrough runs the scenario's cleanup
        await pilot.press("escape")
        await until(pilot, lambda: "docker network rm demo-net" in player.runner.executor.log)


async def test_pause_stops_autoplay() -> None:
    player = _player()
    app = _app(lambda: WalkthroughScreen(player, autoplay_delay=0.3))
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, WalkthroughScreen))
        w = _walk(app)
        await pilot.press("a")
        await until(pilot, lambda: 0 in w.outcomes)
        await pilot.press("p")
        assert not w.autoplaying
        await until(pilot, lambda: not w.running)
        seen = (w.index, sorted(w.outcomes))
        await pilot.pause(0.8)  # longer than the autoplay delay
        assert (w.index, sorted(w.outcomes)) == seen  # nothing more ran after the pause
        assert seen[1] != [0, 1, 2]


async def test_course_menu_opens_the_walkthrough(tmp_path: Path) -> None:
    (tmp_path / "01-demo.toml").write_text(TEXT.replace('id = "t-demo"', 'id = "01-demo"'))
    (tmp_path / "02-bad.toml").write_text("format = 1\nid = 'x'\n")
    made: list[str] = []

    def factory(scenario: Any) -> LivePlayer:
        made.append(scenario.id)
        return _player(scenario)

    app = _app(lambda: CourseMenuScreen(player_factory=factory, folder=tmp_path))
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, CourseMenuScreen))
        await pilot.pause()
        text = screen_text(app)
        assert "1. Demo" in text and "02-bad.toml" in text  # the bad file is listed with its error
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, WalkthroughScreen))
        assert made == ["01-demo"]
        (tmp_path / "00-new.toml").write_text(
            TEXT.replace('id = "t-demo"', 'id = "00-new"').replace(
                'title = "Demo"', 'title = "Added"'
            )
        )
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, CourseMenuScreen))
        await pilot.pause()
        menu = app.screen
        assert [s.id for s in menu.scenarios] == ["00-new", "01-demo"]  # re-read on return
        assert menu.query_one("#cm-list").highlighted == 1  # still on the one we opened


async def test_editing_the_file_reloads_and_keeps_the_position(tmp_path: Path) -> None:
    f = tmp_path / "t-demo.toml"
    f.write_text(TEXT)
    player = _player(load(f))
    app = _app(lambda: WalkthroughScreen(player, scenario_path=f))
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, WalkthroughScreen))
        w = _walk(app)
        await pilot.press("n")
        await until(pilot, lambda: 0 in w.outcomes)
        await pilot.press("n")
        assert w.index == 1
        await pilot.pause(0.3)  # let the watcher start
        f.write_text(TEXT.replace("A DNAT rule.", "A DNAT rule, now with more words."))
        await until(pilot, lambda: "now with more words" in screen_text(app), tries=400)
        assert w.index == 1
        f.write_text(TEXT.replace('title = "Publish"', "title = "))  # broken: kept as it was
        await pilot.pause(1.0)
        assert "now with more words" in screen_text(app) and w.index == 1


async def test_replay_menu_plays_a_recording(tmp_path: Path) -> None:
    text, _, _ = _record()
    (tmp_path / "t-demo.jsonl").write_text(text)
    app = DockerscopeApp(
        _deck(), clock=Clock(), extra_screens=[lambda: ReplayMenuScreen(folder=tmp_path)]
    )
    async with app.run_test(size=(160, 50)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, ReplayMenuScreen))
        await pilot.pause()
        assert "1. Demo" in screen_text(app)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, WalkthroughScreen))
        w = _walk(app)
        await until(pilot, lambda: app.frames_applied >= 1)  # the first recorded snapshot
        assert "A bridge appears." in screen_text(app)
        await pilot.press("2", "n")
        await until(pilot, lambda: 0 in w.outcomes)
        await pilot.pause()
        text_now = screen_text(app)
        assert "✓ as expected" in text_now and "Your answer: right!" in text_now
        assert "replay" in text_now or "frame" in text_now
        # the step's frames play and the source pauses at the step's end
        rec = parse(io.StringIO(text))
        assert rec.scenario["id"] == "t-demo"
        await until(
            pilot,
            lambda: (
                w.replay.paused
                and w.replay.shown is not None
                and w.replay.moments[w.replay.shown].step == 0
            ),
        )
        shown = w.replay.shown
        await pilot.press("full_stop")  # one frame on
        await until(pilot, lambda: w.replay.shown == shown + 1)
        await pilot.press("plus")
        assert w.replay.speed == 2.0


def _deck() -> Any:
    from dockerscope.scenario.replay import SwitchableSource

    return SwitchableSource()


async def test_replay_menu_opens_a_typed_path_and_refuses_a_bad_one(tmp_path: Path) -> None:
    text, _, _ = _record()
    good = tmp_path / "elsewhere.jsonl"
    good.write_text(text)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"format": "something else"}\n')
    empty = tmp_path / "none"
    empty.mkdir()
    app = DockerscopeApp(
        _deck(),
        clock=Clock(),
        extra_screens=[lambda: ReplayMenuScreen(folder=empty, reason="not root: replay only")],
    )
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, ReplayMenuScreen))
        await pilot.pause()
        shown = screen_text(app)
        assert "not root: replay only" in shown and "no recordings shipped" in shown
        await pilot.press("o")
        for ch in str(bad):
            await pilot.press(ch if ch != "/" else "slash")
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ReplayMenuScreen)  # refused, still here
        app.screen.open(str(good))
        await until(pilot, lambda: isinstance(app.screen, WalkthroughScreen))
        await until(pilot, lambda: "A bridge appears." in screen_text(app))
