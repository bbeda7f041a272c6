"""The runner against a scripted fake lab: snapshots around steps, verdicts, predict, cleanup."""

from __future__ import annotations

from dockerscope.scenario.fakelab import demo_lab
from dockerscope.scenario.loader import load_text
from dockerscope.scenario.runner import Runner, substitute

SCENARIO = """\
format = 1
id = "t-demo"
title = "Demo"
section = 1
summary = "A scenario for the fake lab."
cleanup = ["rm -f web", "network rm demo-net"]

[[steps]]
id = "net"
title = "A network"
narration = "A bridge appears."
command = "network create demo-net"
expect = [
  { link = { kind = "bridge", name = "br-*", action = "added" } },
  { rule = { chain = "DOCKER", match = "-i br-\\\\S+ -j RETURN" } },
  { api = { method = "POST", path = "*/networks/create" } },
]

[steps.predict]
question = "What appears?"
choices = [
  { text = "nothing", expect = { link = { action = "added", count = "0" } } },
  { text = "a bridge", expect = { link = { kind = "bridge", action = "added" } } },
]
answer = 1

[[steps]]
id = "web"
title = "Publish"
narration = "A DNAT rule."
command = "run -d --name web -p 8080:8080 busybox sleep 1"
expect = [
  { rule = { chain = "DOCKER", match = "--dport 8080 -j DNAT" } },
  { veth_on = "docker0" },
]

[[steps]]
id = "echo"
title = "Echo"
narration = "Placeholders are filled in."
commands = [
  { kind = "host", run = "echo {lab}" },
  { kind = "host", run = "echo bg", background = true },
]
expect = [{ output = { contains = "{lab}", command = 0 } }, { bridge_gone = "x" }]
"""


def _scenario(text: str = SCENARIO):  # type: ignore[no-untyped-def]
    return load_text(text.replace(', { bridge_gone = "x" }', ""), "t-demo.toml")


def _runner(lab_name: str = "fake"):  # type: ignore[no-untyped-def]
    lab = demo_lab(lab_name)
    r = Runner(
        _scenario(), lab, lab.snapshot, lab.traffic, values={"lab": lab_name}, sleep=lambda s: None
    )
    return lab, r


def test_steps_are_checked_against_snapshots() -> None:
    lab, runner = _runner("labx")
    result = runner.run_all()
    assert result.ok, result.failures()
    first = result.steps[0]
    assert first.before.taken_at < first.after.taken_at
    assert [c.collection for c in first.diff.changes].count("links") == 1
    assert first.predict is not None and first.predict.revealed == (1,)
    third = result.steps[2]
    assert third.results[0].stdout == "labx\n"
    assert third.results[1].background and third.results[1].exit_code is None
    # cleanup ran last, in order
    assert lab.log[-2:] == ["docker rm -f web", "docker network rm demo-net"]


def test_a_failing_expectation_is_reported_not_raised() -> None:
    lab = demo_lab()
    lab.handlers = [h for h in lab.handlers if "network create" not in h[0].pattern]
    runner = Runner(_scenario(), lab, lab.snapshot, lab.traffic, sleep=lambda s: None)
    result = runner.run_all()
    assert not result.ok
    fails = result.failures()
    assert any("step 1 (net): bridge br-* added" in f for f in fails)
    assert any("prediction answer 1" in f for f in fails)
    assert result.steps[0].results[0].exit_code == 127


def test_rerun_and_single_steps() -> None:
    lab, runner = _runner()
    again = [runner.run_step(1), runner.run_step(1)]
    assert again[0].ok
    assert not again[1].ok  # the rule is already there: nothing was *added* the second time
    assert runner.close() and runner.close() == []  # idempotent


def test_substitute_leaves_templates_alone() -> None:
    vals = {"lab": "l1", "socket": "/run/x.sock"}
    assert substitute("-v {socket}:/var/run/docker.sock {lab}", vals) == (
        "-v /run/x.sock:/var/run/docker.sock l1"
    )
    assert substitute("inspect -f '{{.State.OOMKilled}}' awk '{print $1}'", vals) == (
        "inspect -f '{{.State.OOMKilled}}' awk '{print $1}'"
    )


def test_hidden_commands_run_but_are_not_shown() -> None:
    from dockerscope.scenario.player import LivePlayer

    text = SCENARIO.replace(', { bridge_gone = "x" }', "").replace(
        '{ kind = "host", run = "echo bg", background = true },',
        '{ kind = "host", run = "echo secret", show = false },',
    )
    lab = demo_lab()
    runner = Runner(load_text(text, "t.toml"), lab, lab.snapshot, lab.traffic, sleep=lambda s: None)
    player = LivePlayer(runner)
    assert player.steps[2].commands == ("host$ echo {lab}",)
    out = player.run(2)
    assert "host$ echo secret" in lab.log  # it ran
    assert [o.command for o in out.outputs] == ["host$ echo {lab}"]  # but is not shown
