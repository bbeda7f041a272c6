"""Writing a recording: a scenario run as JSON Lines, event by event, as it happens.

The format is in ``recording.py`` (and docs/recording-format.md); ``record_run`` autoplays a
runner and writes its snapshots, traffic, steps, outputs and verdicts.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

from dockerscope.kernel.model import (
    ApiCall,
    Snapshot,
)
from dockerscope.kernel.model import diff as compute_diff
from dockerscope.scenario.expectations import describe
from dockerscope.scenario.recording import FORMAT, VERSION


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
