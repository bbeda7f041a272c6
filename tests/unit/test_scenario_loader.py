"""Scenario files: what loads, and errors that name the file, the line and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockerscope.scenario.loader import ScenarioError, find, load, load_course, load_text

GOOD = """\
format = 1
id = "04-bridges"
title = "Bridges"
section = 4
summary = "Software switches."
needs = { images = ["busybox"] }
cleanup = ["network rm my-new-network"]

[[steps]]
id = "create"
title = "A network makes a bridge"
narration = "Watch the bridge list."
command = "network create my-new-network"
focus = ["bridges"]
expect = [
  { link = { kind = "bridge", name = "br-*", action = "added" } },
  { rule = { table = "nat", chain = "DOCKER", match = "RETURN" } },
]

[steps.predict]
question = "How many new bridges?"
choices = ["none", { text = "one", expect = { link = { kind = "bridge", count = "1" } } }]
answer = 1

[[steps]]
title = "Lab view"
narration = "Inside the lab host."
commands = [
  { kind = "lab", run = "brctl show" },
  { kind = "container", container = "web", run = "ip addr" },
]
expect = [{ output = "docker0" }, { exit_code = 0 }]
"""


def _err(text: str) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        load_text(text, "s.toml")
    return info.value


def _line_of(text: str, needle: str, nth: int = 0) -> int:
    hits = [i + 1 for i, line in enumerate(text.splitlines()) if needle in line]
    return hits[nth]


def test_good_file_loads() -> None:
    s = load_text(GOOD, "s.toml")
    assert (s.id, s.section, len(s.steps)) == ("04-bridges", 4, 2)
    first, second = s.steps
    assert first.commands[0].kind == "docker"
    assert first.commands[0].display() == "docker network create my-new-network"
    assert [e.kind for e in first.expect] == ["link", "rule"]
    assert first.predict is not None and first.predict.answer == 1
    assert first.predict.choices[1].expect is not None
    assert second.id == "step-2"
    assert second.commands[1].container == "web"
    assert s.cleanup[0].run == "network rm my-new-network"
    assert len(s.sha256) == 64


def test_toml_syntax_error_has_its_line() -> None:
    text = GOOD.replace('title = "Lab view"', 'title = "Lab view')
    e = _err(text)
    assert e.line == _line_of(text, 'title = "Lab view')
    assert "TOML syntax" in str(e) and str(e).startswith(f"s.toml:{e.line}:")


def test_bad_expectation_param_names_line_and_field() -> None:
    text = GOOD.replace('match = "RETURN"', 'match = "RETURN", action = "addd"')
    e = _err(text)
    assert e.field == "steps[0].expect[1].rule.action"
    assert e.line == _line_of(text, "addd")
    assert "must be one of" in e.message


def test_unknown_expectation_kind() -> None:
    text = GOOD.replace("{ exit_code = 0 }", "{ exitcode = 0 }")
    e = _err(text)
    assert e.field == "steps[1].expect[1].exitcode"
    assert e.line == _line_of(text, "exitcode")


def test_missing_narration_points_at_the_step() -> None:
    text = GOOD.replace('narration = "Inside the lab host."\n', "")
    e = _err(text)
    assert e.field == "steps[1].narration" and e.message == "missing"
    assert e.line == _line_of(text, "[[steps]]", 1)


def test_bad_command_kind() -> None:
    text = GOOD.replace('kind = "lab"', 'kind = "vm"')
    e = _err(text)
    assert e.field == "steps[1].commands[0].kind"
    assert e.line == _line_of(text, 'kind = "vm"')


def test_container_command_needs_a_container() -> None:
    text = GOOD.replace('container = "web", ', "")
    e = _err(text)
    assert e.field == "steps[1].commands[1].container"


def test_leading_docker_word_refused() -> None:
    e = _err(GOOD.replace('command = "network create', 'command = "docker network create'))
    assert e.field == "steps[0].command[0].run" and "leading 'docker'" in e.message


def test_top_level_key_after_steps_gets_a_hint() -> None:
    e = _err(GOOD + 'summary = "late"\n')
    assert e.field == "steps[1].summary"
    assert "before the first [[steps]]" in e.message


def test_wrong_format_version() -> None:
    e = _err(GOOD.replace("format = 1", "format = 2"))
    assert (e.field, e.line) == ("format", 1)
    assert "unsupported version 2" in e.message


def test_unknown_top_level_field() -> None:
    e = _err(GOOD.replace("section = 4", 'section = 4\nauthor = "me"'))
    assert (e.field, e.line) == ("author", 5)


def test_predict_answer_out_of_range() -> None:
    text = GOOD.replace("answer = 1", "answer = 5")
    e = _err(text)
    assert e.field == "steps[0].predict.answer"
    assert e.line == _line_of(text, "answer = 5")


def test_unknown_panel() -> None:
    e = _err(GOOD.replace('focus = ["bridges"]', 'focus = ["bridgez"]'))
    assert e.field == "steps[0].focus" and "bridgez" in e.message
    assert e.line == _line_of(GOOD, "focus =")


def test_duplicate_step_id() -> None:
    text = GOOD.replace('title = "Lab view"', 'id = "create"\ntitle = "Lab view"')
    e = _err(text)
    assert e.field == "steps[1].id" and "duplicate" in e.message


def test_bad_comparison() -> None:
    text = GOOD.replace("{ exit_code = 0 }", '{ cgroup = { oom_kills = "lots" } }')
    e = _err(text)
    assert e.field == "steps[1].expect[1].cgroup.oom_kills"
    assert e.line == _line_of(text, "lots")


def test_file_errors_carry_the_path(tmp_path: Path) -> None:
    f = tmp_path / "x.toml"
    f.write_text(GOOD.replace("section = 4", "section = 0"))
    with pytest.raises(ScenarioError) as info:
        load(f)
    assert str(info.value).startswith(f"{f}:4: section:")
    with pytest.raises(ScenarioError, match="cannot read"):
        load(tmp_path / "missing.toml")


def test_the_course_loads() -> None:
    course = load_course()
    assert [s.section for s in course] == list(range(1, 9))
    for s in course:
        assert Path(s.path).stem == s.id, "file name and id must agree"
        assert all(step.narration for step in s.steps)
        assert any(step.expect for step in s.steps), f"{s.id} checks nothing"


def test_find_by_id_number_and_path() -> None:
    assert find("04-bridges").stem == "04-bridges"
    assert find("4").stem == "04-bridges"
    assert find("bridges").stem == "04-bridges"
    with pytest.raises(FileNotFoundError, match="no scenario named"):
        find("nope")
