"""Recordings: a scenario run written as JSON Lines, and read back for replay.

Format (``docs/recording-format.md``): a header line
``{"format": "dockerscope-recording", "version": 2, ...}`` then one event per line, each with
``t`` (seconds since the recording started) and ``type``: ``snapshot`` (full, first), ``diff``
(``Change.to_json`` list), ``traffic`` (an ``ApiCall``), ``step``, ``narration``, ``command``,
``output``, ``verdict``, ``predict``, ``step_end``, ``end``.

Reading needs only the standard library and ``dockerscope.kernel.model``: replay runs on any
machine with Python, no root, no daemon. This module holds the format and its reader (and the
check that recordings are up to date); ``recorder.py`` writes recordings, ``moments.py`` turns
one into the moments a player steps through.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dockerscope.kernel.model import (
    COLLECTIONS,
    ApiCall,
    Change,
    Snapshot,
)

FORMAT = "dockerscope-recording"
VERSION = 2
#: Versions this reader plays: 1 (before snapshots had ``sockets``: they replay with none).
READABLE = (1, 2)

#: What happened around the lab's state: steps, their narration, commands and outcome.
TIMELINE_EVENTS = (
    "step",
    "narration",
    "command",
    "output",
    "verdict",
    "predict",
    "step_end",
    "end",
)
#: Event types a recording may hold: the lab's state and traffic, then the timeline.
EVENT_TYPES = ("snapshot", "diff", "traffic", *TIMELINE_EVENTS)


class RecordingError(ValueError):
    """A file that is not a readable recording; says which line and why."""

    def __init__(self, path: str, line: int, message: str) -> None:
        self.path = path
        self.line = line
        super().__init__(f"{path}:{line}: {message}" if line else f"{path}: {message}")


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


_API_FIELDS = {f.name for f in dataclasses.fields(ApiCall)}


def api_call(data: dict[str, Any]) -> ApiCall:
    """The ApiCall a ``traffic`` event holds (fields a newer writer added are ignored)."""
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
