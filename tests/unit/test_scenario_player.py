"""Players: live (a runner on a fake lab) and recorded (a recording) give the same outcomes."""

from __future__ import annotations

import io

from dockerscope.kernel.model import Change, Link, Rule
from dockerscope.scenario.expectations import describe
from dockerscope.scenario.fakelab import demo_lab
from dockerscope.scenario.loader import load_text
from dockerscope.scenario.player import LivePlayer, RecordedPlayer, describe_change
from dockerscope.scenario.recording import parse
from dockerscope.scenario.runner import Runner
from tests.unit.test_scenario_recording import _record
from tests.unit.test_scenario_runner import SCENARIO


def _live() -> LivePlayer:
    lab = demo_lab("p1")
    scenario = load_text(SCENARIO.replace(', { bridge_gone = "x" }', ""), "t.toml")
    runner = Runner(
        scenario, lab, lab.snapshot, lab.traffic, values={"lab": "p1"}, sleep=lambda s: None
    )
    return LivePlayer(runner)


def test_live_player_views_and_outcomes() -> None:
    player = _live()
    assert player.title == "1. Demo" and len(player.steps) == 3
    first = player.steps[0]
    assert first.commands == ("docker network create demo-net",)
    assert first.question == "What appears?" and first.answer == 1
    assert player.steps[2].commands[0] == "host$ echo p1"  # placeholders filled for display
    out = player.run(0)
    assert out.ok and out.revealed == (1,)
    assert all(c.ok for c in out.checks) and len(out.checks) == 3
    assert any(line.startswith("+ link br-") for line in out.changes)
    player.close()


def test_live_player_reports_a_crash_as_an_outcome() -> None:
    player = _live()

    def boom(i: int, on_result: object = None) -> None:
        raise OSError("lab gone")

    player.runner.run_step = boom
    out = player.run(0)
    assert not out.ok and "lab gone" in out.error


def test_recorded_player_matches_the_live_run() -> None:
    text, _, result = _record()
    player = RecordedPlayer(parse(io.StringIO(text)))
    assert len(player.steps) == 3
    v = player.view(0)
    assert v.narration == "A bridge appears." and v.commands == ("docker network create demo-net",)
    for i, live in enumerate(result.steps):  # type: ignore[attr-defined]
        out = player.run(i)
        assert out.ok == live.ok
        assert [c.text for c in out.checks] == [describe(c.expectation) for c in live.checked]
    assert player.run(0).revealed == (1,)
    assert any("br-" in line for line in player.run(0).changes)


def test_describe_change_lines() -> None:
    br = Link("lab", 5, "br-1", "bridge", "m", "UP", 1500)
    rule = Rule("lab", "nf_tables", "nat", "DOCKER", 1, "-i br-1 -j RETURN")
    assert describe_change(Change("links", "added", br.key, None, br)) == "+ link br-1 (bridge)"
    from dockerscope.kernel.model import ProcessNs

    proc = ProcessNs(7, "nc", ())
    assert describe_change(Change("processes", "added", "7", None, proc)) == "+ process nc[7]"
    assert describe_change(Change("rules", "removed", rule.key, rule, None)) == (
        "- rule nat/DOCKER -i br-1 -j RETURN"
    )


def test_reflow_keeps_paragraphs() -> None:
    from dockerscope.scenario.player import reflow

    assert reflow("one\ntwo\n\nthree\n four") == "one two\n\nthree four"
