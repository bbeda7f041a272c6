"""Recordings: a scenario run written as JSON Lines, and read back for replay.

Format (``docs/recording-format.md``): a header line
``{"format": "dockerscope-recording", "version": 2, ...}`` then one event per line, each with
``t`` (seconds since the recording started) and ``type``: ``snapshot`` (full, first), ``diff``
(``Change.to_json`` list), ``traffic`` (an ``ApiCall``), ``step``, ``narration``, ``command``,
``output``, ``verdict``, ``predict``, ``step_end``, ``end``.

Reading needs only the standard library and ``dockerscope.kernel.model``: replay runs on any
machine with Python, no root, no daemon.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from dockerscope.kernel.model import (
    COLLECTIONS,
    ApiCall,
    Change,
    Diff,
    Snapshot,
)
from dockerscope.kernel.model import diff as compute_diff
from dockerscope.scenario.expectations import describe

FORMAT = "dockerscope-recording"
VERSION = 2
#: Versions this reader plays: 1 (before snapshots had ``sockets``: they replay with none).
READABLE = (1, 2)

#: Event types a recording may hold.
EVENT_TYPES = (
    "snapshot",
    "diff",
    "traffic",
    "step",
    "narration",
    "command",
    "output",
    "verdict",
    "predict",
    "step_end",
    "end",
)


class RecordingError(ValueError):
    """A file that is not a readable recording; says which line and why."""

    def __init__(self, path: str, line: int, message: str) -> None:
        self.path = path
        self.line = line
        super().__init__(f"{path}:{line}: {message}" if line else f"{path}: {message}")


# ---------------------------------------------------------------------------------------------
# Writing


class Recorder:
    """Writes one scenario run as it happens.

    Wrap the runner's snapshot and traffic functions with ``snapshots``/``traffic`` so every
    snapshot and API call is written the moment it is taken; call ``begin_step`` before and
    ``end_step`` after each step, ``output`` for each command result, ``finish`` at the end.
    """

    def __init__(
        self,
        out: IO[str],
        header: dict[str, Any],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.out = out
        self.clock = clock
        self.t0 = clock()
        self._last: Snapshot | None = None
        self._write({"format": FORMAT, "version": VERSION, **header})

    def _write(self, obj: dict[str, Any]) -> None:
        self.out.write(json.dumps(obj, separators=(",", ":"), sort_keys=False) + "\n")
        self.out.flush()

    def event(self, type_: str, **data: Any) -> None:
        """Write one event stamped with the time since the start."""
        self._write({"t": round(self.clock() - self.t0, 4), "type": type_, **data})

    def snapshot(self, snap: Snapshot) -> None:
        """The first snapshot in full, later ones as a diff from the last written."""
        if self._last is None:
            self.event("snapshot", snapshot=snap.to_json())
        else:
            d = compute_diff(self._last, snap)
            self.event(
                "diff",
                taken_at=snap.taken_at,
                errors=list(snap.errors),
                changes=[c.to_json() for c in d.changes],
            )
        self._last = snap

    def snapshots(self, fn: Callable[[], Snapshot]) -> Callable[[], Snapshot]:
        """Wrap a snapshot function so every snapshot it takes is recorded."""

        def wrapped() -> Snapshot:
            snap = fn()
            self.snapshot(snap)
            return snap

        return wrapped

    def traffic(self, fn: Callable[[], Iterable[ApiCall]]) -> Callable[[], list[ApiCall]]:
        """Wrap a traffic-draining function so every API call it returns is recorded."""

        def wrapped() -> list[ApiCall]:
            calls = list(fn())
            for call in calls:
                self.event("traffic", call=dataclasses.asdict(call))
            return calls

        return wrapped

    def begin_step(self, index: int, step: Any, commands: Iterable[Any] = ()) -> None:
        """A step starts: its outline, narration and the commands about to run."""
        predict = None
        if step.predict is not None:
            predict = {
                "question": step.predict.question,
                "choices": [c.text for c in step.predict.choices],
                "answer": step.predict.answer,
                "explain": step.predict.explain,
            }
        self.event(
            "step",
            step=index,
            id=step.id,
            title=step.title,
            focus=list(step.focus),
            expect=[describe(e) for e in step.expect],
            predict=predict,
        )
        self.event("narration", step=index, text=step.narration)
        for j, cmd in enumerate(commands):
            if cmd.show:
                self.event(
                    "command",
                    step=index,
                    index=j,
                    kind=cmd.kind,
                    command=cmd.display(),
                    background=cmd.background,
                )

    def output(self, index: int, j: int, result: Any) -> None:
        """One command's result (hidden set-up commands are left out)."""
        if getattr(result, "show", True):
            self.event("output", step=index, index=j, **result.to_json())

    def end_step(self, result: Any) -> None:
        """Verdicts, the predict outcome and the step's duration."""
        for c in result.checked:
            self.event(
                "verdict",
                step=result.index,
                kind=c.expectation.kind,
                expectation=describe(c.expectation),
                ok=c.verdict.ok,
                detail=c.verdict.detail,
            )
        if result.predict is not None:
            self.event(
                "predict",
                step=result.index,
                answer=result.predict.answer,
                revealed=list(result.predict.revealed),
                consistent=result.predict.consistent,
            )
        self.event("step_end", step=result.index, ok=result.ok, duration=result.duration)

    def finish(self, ok: bool, cleanup: Iterable[Any] = ()) -> None:
        """The last event."""
        self.event(
            "end",
            ok=ok,
            duration=round(self.clock() - self.t0, 4),
            cleanup=[r.to_json() for r in cleanup],
        )


def header_for(scenario: Any, lab: str) -> dict[str, Any]:
    """Header fields describing the scenario and where it was recorded."""
    from importlib import metadata

    try:
        version = metadata.version("dockerscope")
    except metadata.PackageNotFoundError:
        version = "unknown"

    return {
        "scenario": {
            "id": scenario.id,
            "title": scenario.title,
            "section": scenario.section,
            "summary": scenario.summary,
            "file": Path(scenario.path).name if scenario.path else "",
            "sha256": scenario.sha256,
            "steps": len(scenario.steps),
        },
        "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "lab": lab,
        "host": {"kernel": platform.release(), "python": platform.python_version()},
        "dockerscope": version,
    }


def record_run(
    runner: Any,
    out: IO[str],
    lab: str,
    clock: Callable[[], float] = time.monotonic,
) -> Any:
    """Autoplay ``runner``'s scenario, writing every event to ``out``; returns the result."""
    from dockerscope.scenario.runner import ScenarioResult

    rec = Recorder(out, header_for(runner.scenario, lab), clock)
    runner.snapshot = rec.snapshots(runner.snapshot)
    if runner.traffic is not None:
        runner.traffic()  # requests from before the lesson (pulling images...) are not in it
        runner.traffic = rec.traffic(runner.traffic)
    result = ScenarioResult(runner.scenario)
    try:
        for i, step in enumerate(runner.scenario.steps):
            rec.begin_step(i, step, [runner.prepare(c) for c in step.commands])
            counter = iter(range(len(step.commands)))

            def on_result(r: Any, _i: int = i, _c: Any = counter) -> None:
                rec.output(_i, next(_c), r)

            sr = runner.run_step(i, on_result=on_result)
            rec.end_step(sr)
            result.steps.append(sr)
    finally:
        result.cleanup = runner.close()
    rec.finish(result.ok, result.cleanup)
    return result


def write_atomically(path: str | Path, write: Callable[[IO[str]], Any]) -> Any:
    """Write a file through a temporary beside it: a failed run leaves the old file intact."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as fp:
            value = write(fp)
        os.replace(tmp, path)
        return value
    finally:
        if tmp.exists():
            tmp.unlink()


# ---------------------------------------------------------------------------------------------
# Reading


@dataclass(frozen=True)
class Recording:
    """A parsed recording: header and events in order."""

    path: str
    header: dict[str, Any]
    events: tuple[dict[str, Any], ...]

    @property
    def scenario(self) -> dict[str, Any]:
        return dict(self.header.get("scenario", {}))

    @property
    def title(self) -> str:
        s = self.scenario
        return f"{s.get('section', '?')}. {s.get('title', s.get('id', '?'))}"

    def steps(self) -> list[dict[str, Any]]:
        """The ``step`` events (outline of each step)."""
        return [e for e in self.events if e["type"] == "step"]

    def duration(self) -> float:
        return float(self.events[-1]["t"]) if self.events else 0.0


def read(path: str | Path) -> Recording:
    """Read and check a recording file."""
    p = str(path)
    try:
        with open(p, encoding="utf-8") as fp:
            return parse(fp, p)
    except OSError as e:
        raise RecordingError(p, 0, f"cannot read: {e.strerror}") from None


def parse(lines: Iterable[str], path: str = "<recording>") -> Recording:
    """Parse recording lines; RecordingError names the first bad line."""
    header: dict[str, Any] | None = None
    events: list[dict[str, Any]] = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise RecordingError(path, n, f"not JSON: {e.msg}") from None
        if not isinstance(obj, dict):
            raise RecordingError(path, n, "expected a JSON object")
        if header is None:
            if obj.get("format") != FORMAT:
                raise RecordingError(path, n, f"not a dockerscope recording (format {FORMAT!r})")
            if obj.get("version") not in READABLE:
                known = ", ".join(map(str, READABLE))
                raise RecordingError(
                    path, n, f"recording version {obj.get('version')!r}; this reader knows {known}"
                )
            header = obj
            continue
        kind = obj.get("type")
        if kind not in EVENT_TYPES:
            raise RecordingError(path, n, f"unknown event type {kind!r}")
        if not isinstance(obj.get("t"), int | float):
            raise RecordingError(path, n, "event without a time 't'")
        if kind == "diff" and not any(e["type"] == "snapshot" for e in events):
            raise RecordingError(path, n, "a diff before the first full snapshot")
        events.append(obj)
    if header is None:
        raise RecordingError(path, 0, "empty file")
    if not any(e["type"] == "snapshot" for e in events):
        raise RecordingError(path, 0, "no snapshot in the recording")
    return Recording(path, header, tuple(events))


def apply_changes(snap: Snapshot, changes: Iterable[Change], **fields: Any) -> Snapshot:
    """The snapshot after ``changes`` (inverse of ``diff``), with ``fields`` replaced."""
    cols: dict[str, dict[str, Any]] = {}
    for name in COLLECTIONS:
        keyed: dict[str, Any] = {}
        for obj in getattr(snap, name):
            key, n = obj.key, 2
            while key in keyed:  # same occurrence numbering as model.diff
                key = f"{obj.key}#{n}"
                n += 1
            keyed[key] = obj
        cols[name] = keyed
    for c in changes:
        col = cols[c.collection]
        if c.action == "removed":
            col.pop(c.key, None)
        else:
            col[c.key] = c.after
    new: dict[str, Any] = {name: tuple(col.values()) for name, col in cols.items()}
    new["rules"] = tuple(
        sorted(new["rules"], key=lambda r: (r.netns, r.backend, r.table, r.chain, r.position))
    )
    return dataclasses.replace(snap, **new, **fields)


@dataclass(frozen=True)
class Moment:
    """One point of a recording a player can show: a snapshot and what led to it."""

    t: float  # seconds since the recording started
    snapshot: Snapshot
    diff: Diff
    step: int  # index of the current step (-1 before the first)
    traffic: tuple[ApiCall, ...] = ()
    events: tuple[dict[str, Any], ...] = ()  # narration, commands, outputs, verdicts since last

    def note(self) -> str:
        """Narration and command output of this moment, as text."""
        lines = []
        for e in self.events:
            if e["type"] == "narration":
                lines.append(e["text"])
            elif e["type"] == "command":
                lines.append(f"$ {e['command']}")
            elif e["type"] == "output":
                text = (e.get("stdout", "") + e.get("stderr", "")).rstrip()
                if text:
                    lines.append(text)
            elif e["type"] == "verdict":
                lines.append(("✓ " if e["ok"] else "✗ ") + f"{e['expectation']}: {e['detail']}")
        return "\n".join(lines)


def moments(rec: Recording) -> list[Moment]:
    """The recording as a list of moments, one per snapshot (first full, then each diff).

    Events after the last snapshot (verdicts, the end) are attached to a final moment that
    repeats the last snapshot with an empty diff, so nothing recorded is lost.
    """
    out: list[Moment] = []
    current: Snapshot | None = None
    step = -1
    pending_events: list[dict[str, Any]] = []
    pending_traffic: list[ApiCall] = []
    for e in rec.events:
        kind = e["type"]
        if kind in (
            "step",
            "narration",
            "command",
            "output",
            "verdict",
            "predict",
            "step_end",
            "end",
        ):
            if kind == "step":
                step = int(e["step"])
            if (
                kind in ("verdict", "predict", "step_end")
                and out
                and out[-1].step == e.get("step")
                and not pending_events
            ):
                # A step's verdicts describe its last snapshot: keep them with it.
                last = out[-1]
                out[-1] = dataclasses.replace(last, events=last.events + (e,))
                continue
            pending_events.append(e)
            continue
        if kind == "traffic":
            pending_traffic.append(_api_call(e["call"]))
            continue
        if kind == "snapshot":
            snap = Snapshot.from_json(e["snapshot"])
            d = compute_diff(current, snap) if current is not None else Diff()
        else:  # diff
            if current is None:
                raise RecordingError(rec.path, 0, "a diff before the first full snapshot")
            changes = tuple(Change.from_json(c) for c in e["changes"])
            snap = apply_changes(
                current, changes, taken_at=e["taken_at"], errors=tuple(e.get("errors", ()))
            )
            d = Diff(changes)
        out.append(
            Moment(float(e["t"]), snap, d, step, tuple(pending_traffic), tuple(pending_events))
        )
        current = snap
        pending_events, pending_traffic = [], []
    if (pending_events or pending_traffic) and current is not None:
        t = float(rec.events[-1]["t"])
        out.append(Moment(t, current, Diff(), step, tuple(pending_traffic), tuple(pending_events)))
    return out


_API_FIELDS = {f.name for f in dataclasses.fields(ApiCall)}


def _api_call(data: dict[str, Any]) -> ApiCall:
    return ApiCall(**{k: v for k, v in data.items() if k in _API_FIELDS})


@dataclass
class StaleReport:
    """Recordings missing, or recorded from an older version of their scenario."""

    missing: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.missing or self.stale or self.orphans)


def check_recordings(folder: str | Path) -> StaleReport:
    """Compare each scenario file's hash with the one its recording carries."""
    from dockerscope.scenario.model import digest

    base = Path(folder)
    rec_dir = base / "recordings"
    report = StaleReport()
    ids = set()
    for f in sorted(base.glob("*.toml")):
        sid = f.stem
        ids.add(sid)
        rec = rec_dir / f"{sid}.jsonl"
        if not rec.exists():
            report.missing.append(sid)
            continue
        with open(rec, encoding="utf-8") as fp:
            first = fp.readline()
        try:
            stored = json.loads(first).get("scenario", {}).get("sha256")
        except (json.JSONDecodeError, AttributeError):
            stored = None
        if stored != digest(f.read_bytes()):
            report.stale.append(sid)
    if rec_dir.is_dir():
        report.orphans = sorted(p.stem for p in rec_dir.glob("*.jsonl") if p.stem not in ids)
    return report
