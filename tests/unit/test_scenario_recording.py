"""Recordings: written while a scenario runs, read back into the same snapshots; staleness."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest

from dockerscope.kernel.model import COLLECTIONS, Snapshot
from dockerscope.kernel.model import diff as compute_diff
from dockerscope.scenario import recorder, recording
from dockerscope.scenario.fakelab import demo_lab
from dockerscope.scenario.loader import course_dir, load, load_text
from dockerscope.scenario.moments import moments
from dockerscope.scenario.recorder import record_run
from dockerscope.scenario.recording import (
    RecordingError,
    apply_changes,
    check_recordings,
    parse,
)
from dockerscope.scenario.runner import Runner
from tests.unit.test_scenario_runner import SCENARIO


class Ticker:
    """A fake monotonic clock: every reading is 0.5 s after the last."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        self.now += 0.5
        return self.now


def _record() -> tuple[str, list[Snapshot], object]:
    lab = demo_lab("rec")
    seen: list[Snapshot] = []

    def snapshot() -> Snapshot:
        s = lab.snapshot()
        seen.append(s)
        return s

    scenario = load_text(SCENARIO.replace(', { bridge_gone = "x" }', ""), "t-demo.toml")
    runner = Runner(
        scenario, lab, snapshot, lab.traffic, values={"lab": "rec"}, sleep=lambda s: None
    )
    out = io.StringIO()
    result = record_run(runner, out, lab="rec", clock=Ticker())
    return out.getvalue(), seen, result


def _same(a: Snapshot, b: Snapshot) -> None:
    assert (a.taken_at, a.scope) == (b.taken_at, b.scope)
    for name in COLLECTIONS:
        assert sorted(map(repr, getattr(a, name))) == sorted(map(repr, getattr(b, name))), name


def test_header_and_event_order() -> None:
    text, _, result = _record()
    lines = [json.loads(x) for x in text.splitlines()]
    head = lines[0]
    assert head["format"] == "dockerscope-recording" and head["version"] == 2
    assert head["scenario"]["id"] == "t-demo" and len(head["scenario"]["sha256"]) == 64
    assert head["lab"] == "rec"
    types = [e["type"] for e in lines[1:]]
    assert types[0] == "step" and "snapshot" in types
    assert types.index("snapshot") < types.index("diff")
    assert types.count("snapshot") == 1  # full once, then diffs
    assert {"narration", "command", "output", "traffic", "verdict", "predict", "step_end"} <= set(
        types
    )
    assert types[-1] == "end" and lines[-1]["ok"] is result.ok  # type: ignore[attr-defined]
    ts = [e["t"] for e in lines[1:]]
    assert ts == sorted(ts)


def test_round_trip_gives_back_every_snapshot() -> None:
    text, seen, _ = _record()
    rec = parse(io.StringIO(text))
    ms = moments(rec)
    snaps = [m.snapshot for m in ms if m.events is not None]
    # one moment per snapshot taken, plus one trailing moment for the final events
    assert len(ms) == len(seen) + 1
    for live, replayed in zip(seen, snaps, strict=False):
        _same(live, replayed)
    assert ms[-1].events[-1]["type"] == "end"
    assert any(m.traffic for m in ms)
    assert "docker network create demo-net" in "\n".join(m.note() for m in ms)


def test_apply_changes_inverts_diff() -> None:
    _, seen, _ = _record()
    for a, b in zip(seen, seen[1:], strict=False):
        _same(apply_changes(a, compute_diff(a, b).changes, taken_at=b.taken_at), b)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty file"),
        ("{nope\n", "not JSON"),
        ('{"format": "other", "version": 1}\n', "not a dockerscope recording"),
        ('{"format": "dockerscope-recording", "version": 9}\n', "version 9"),
        (
            '{"format": "dockerscope-recording", "version": 1}\n{"t": 0, "type": "bogus"}\n',
            "unknown event type",
        ),
        (
            '{"format": "dockerscope-recording", "version": 1}\n'
            '{"t": 0, "type": "diff", "changes": []}\n',
            "before the first full snapshot",
        ),
        ('{"format": "dockerscope-recording", "version": 1}\n', "no snapshot"),
    ],
)
def test_bad_recordings_are_refused_with_the_line(text: str, message: str) -> None:
    with pytest.raises(RecordingError, match=message):
        parse(io.StringIO(text), "bad.jsonl")


def test_error_names_the_line() -> None:
    good, _, _ = _record()
    lines = good.splitlines()
    lines[3] = "garbage"
    with pytest.raises(RecordingError) as info:
        parse(io.StringIO("\n".join(lines)), "x.jsonl")
    assert info.value.line == 4 and str(info.value).startswith("x.jsonl:4:")


def test_write_atomically_keeps_old_file_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "r.jsonl"
    target.write_text("old")

    def boom(fp: io.TextIOBase) -> None:
        fp.write("half")
        raise RuntimeError("run failed")

    with pytest.raises(RuntimeError):
        recorder.write_atomically(target, boom)
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]


def _course_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "course"
    (folder / "recordings").mkdir(parents=True)
    for f in course_dir().glob("*.toml"):
        shutil.copy(f, folder / f.name)
    return folder


def test_staleness_check_notices_an_edited_scenario(tmp_path: Path) -> None:
    folder = _course_copy(tmp_path)
    report = check_recordings(folder)
    assert len(report.missing) == 8 and not report.stale
    # a recording carrying the hash of its scenario file is current...
    import hashlib

    f = folder / "04-bridges.toml"
    header = {
        "format": "dockerscope-recording",
        "version": 1,
        "scenario": {"id": "04-bridges", "sha256": hashlib.sha256(f.read_bytes()).hexdigest()},
    }
    (folder / "recordings" / "04-bridges.jsonl").write_text(json.dumps(header) + "\n")
    report = check_recordings(folder)
    assert "04-bridges" not in report.missing and not report.stale
    # ...until the scenario changes
    f.write_text(f.read_text().replace("software switches", "soft switches"))
    assert check_recordings(folder).stale == ["04-bridges"]
    (folder / "recordings" / "99-gone.jsonl").write_text(json.dumps(header) + "\n")
    assert check_recordings(folder).orphans == ["99-gone"]


def test_crlf_checkout_is_not_stale(tmp_path: Path) -> None:
    folder = _course_copy(tmp_path)
    f = folder / "05-nat-ports.toml"
    header = {
        "format": "dockerscope-recording",
        "version": 1,
        "scenario": {"id": "05-nat-ports", "sha256": load(f).sha256},
    }
    (folder / "recordings" / "05-nat-ports.jsonl").write_text(json.dumps(header) + "\n")
    f.write_bytes(f.read_bytes().replace(b"\n", b"\r\n"))
    assert "05-nat-ports" not in check_recordings(folder).stale
    assert load(f).sha256 == header["scenario"]["sha256"]


def test_shipped_recordings_are_current() -> None:
    """Every recording shipped with the course was made from its scenario file as it is now.

    Regenerate with ``python -m dockerscope.scenario.regenerate`` (as root) after editing a
    scenario.
    """
    report = check_recordings(course_dir())
    assert not report.stale, f"recordings out of date (regenerate them): {report.stale}"
    assert not report.orphans, f"recordings without a scenario: {report.orphans}"


#: Scenarios whose recording cannot be made yet, and why. A recording made later makes the
#: test below fail until its entry is removed, so this list never outlives its reason.
KNOWN_MISSING: dict[str, str] = {}


def test_every_scenario_has_a_recording() -> None:
    report = check_recordings(course_dir())
    unexpected = sorted(set(report.missing) - set(KNOWN_MISSING))
    assert not unexpected, (
        f"no recording for {unexpected}: run python -m dockerscope.scenario.regenerate"
    )
    made = sorted(set(KNOWN_MISSING) - set(report.missing))
    assert not made, f"{made} recorded now: remove from KNOWN_MISSING"


def test_version_1_recordings_still_play_and_sockets_travel_in_version_2() -> None:
    from dockerscope.kernel.model import Socket

    old = Snapshot(1.0, "lab:old").to_json()
    del old["sockets"]  # a version-1 snapshot has no such field
    head = {"format": "dockerscope-recording", "version": 1}
    lines = [json.dumps(head), json.dumps({"t": 0, "type": "snapshot", "snapshot": old})]
    (moment,) = moments(recording.parse(lines))
    assert moment.snapshot.sockets == ()
    web = Socket("web", "tcp", 4, "LISTEN", "0.0.0.0", 80, "0.0.0.0", 0, 7, command="httpd")
    new = Snapshot(2.0, "lab:old", sockets=(web,))
    changes = [c.to_json() for c in compute_diff(Snapshot(1.0, "lab:old"), new).changes]
    head["version"] = recording.VERSION
    event = {"t": 1, "type": "diff", "taken_at": 2.0, "changes": changes}
    snap0 = {"t": 0, "type": "snapshot", "snapshot": Snapshot(1.0, "lab:old").to_json()}
    played = moments(recording.parse(map(json.dumps, [head, snap0, event])))
    assert played[-1].snapshot.sockets == (web,)
