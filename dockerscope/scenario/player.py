"""What the walkthrough screen drives: a scenario's steps, run live or read from a recording.

A ``Player`` offers the steps' outlines (``StepView``) and runs one step at a time, returning a
``StepOutcome`` with plain text the screen can show. ``LivePlayer`` wraps a ``Runner`` (a real or
fake lab); ``RecordedPlayer`` reads outcomes from a recording and moves a ``ReplaySource`` to
the step, so the panels show what the kernel showed then. No Textual here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from dockerscope.kernel.model import Change, Diff
from dockerscope.scenario.expectations import describe
from dockerscope.scenario.model import Scenario, Step


@dataclass(frozen=True)
class StepView:
    """A step as shown before it runs."""

    index: int
    id: str
    title: str
    narration: str
    commands: tuple[str, ...]
    focus: tuple[str, ...]
    expect: tuple[str, ...]
    question: str = ""
    choices: tuple[str, ...] = ()
    answer: int | None = None
    explain: str = ""

    @classmethod
    def of(cls, index: int, step: Step, fill: Any = None) -> StepView:
        """From a loaded step; ``fill`` substitutes placeholders in the command lines."""
        cmds = []
        for c in step.commands:
            if not c.show:
                continue
            cmds.append(fill(c).display() if fill is not None else c.display())
        p = step.predict
        return cls(
            index=index,
            id=step.id,
            title=step.title,
            narration=reflow(step.narration),
            commands=tuple(cmds),
            focus=step.focus,
            expect=tuple(describe(e) for e in step.expect),
            question=p.question if p else "",
            choices=tuple(c.text for c in p.choices) if p else (),
            answer=p.answer if p else None,
            explain=p.explain if p else "",
        )


@dataclass(frozen=True)
class Check:
    """One expectation's outcome, as text."""

    text: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class Output:
    """One command's result, as text."""

    command: str
    exit_code: int | None
    text: str


@dataclass(frozen=True)
class StepOutcome:
    """What running a step showed."""

    index: int
    ok: bool
    outputs: tuple[Output, ...] = ()
    checks: tuple[Check, ...] = ()
    revealed: tuple[int, ...] = ()
    changes: tuple[str, ...] = ()  # one line per kernel change seen during the step
    error: str = ""  # the step could not run at all


_SINGULAR = {
    "links": "link",
    "routes": "route",
    "netns": "netns",
    "processes": "process",
    "chains": "chain",
    "rules": "rule",
    "cgroups": "cgroup",
    "mounts": "mount",
    "flows": "flow",
}


def reflow(text: str) -> str:
    """Paragraphs as single lines (files wrap narration at 100 columns; screens wrap again)."""
    paragraphs = [p for p in text.split("\n\n") if p.strip()]
    return "\n\n".join(" ".join(line.strip() for line in p.splitlines()) for p in paragraphs)


def describe_change(c: Change) -> str:
    """``+ link br-12eeb8c4266b (bridge)``, ``- rule nat/DOCKER -i br-... -j RETURN``..."""
    sign = {"added": "+", "removed": "-", "changed": "~"}.get(c.action, "?")
    obj = c.after if c.after is not None else c.before
    what = _SINGULAR.get(c.collection, c.collection)
    label = c.key
    if c.collection == "rules":
        label = f"{obj.table}/{obj.chain} {obj.spec}"
    elif c.collection == "links":
        label = f"{obj.name} ({obj.kind}{', on ' + obj.master if obj.master else ''})"
    elif c.collection == "cgroups":
        label = obj.path
    elif c.collection == "mounts":
        label = obj.owner.label() if obj.owner else obj.target
    elif c.collection == "processes":
        label = f"{obj.comm}[{obj.pid}]"
    elif c.collection == "flows":
        label = (
            f"{obj.proto} {obj.orig_src}:{obj.orig_sport} > {obj.orig_dst}:{obj.orig_dport}"
            f" (reply from {obj.reply_src}:{obj.reply_sport})"
        )
    elif c.collection == "netns":
        label = f"{obj.name or '(unnamed)'} ino {obj.inode}"
    owner = getattr(obj, "owner", None)
    tail = f"  [{owner.label()}]" if owner is not None and c.collection != "mounts" else ""
    return f"{sign} {what} {label}{tail}"


def _quiet(c: Change) -> bool:
    """Counter or usage updates only: not news for a student."""
    if c.action != "changed":
        return False
    volatile = {"packets", "bytes", "memory_usage", "cpu_usage_ns", "pids_current", "state"}
    b, a = c.before.__dict__, c.after.__dict__
    return all(b[k] == a[k] for k in b if k not in volatile)


def summarize(d: Diff, limit: int = 40) -> tuple[str, ...]:
    """The interesting changes of a diff, as lines (counter ticks left out)."""
    lines = [describe_change(c) for c in d.changes if not _quiet(c)]
    if len(lines) > limit:
        lines = lines[:limit] + [f"... and {len(lines) - limit} more"]
    return tuple(lines)


class Player(Protocol):
    """Runs one scenario's steps for the walkthrough screen."""

    title: str
    steps: list[StepView]
    live: bool

    def run(self, index: int) -> StepOutcome:
        """Run (or look up) step ``index``; may block: call it from a worker thread."""
        ...

    def close(self) -> None: ...


@dataclass
class LivePlayer:
    """Runs steps through a ``Runner`` (against a real lab or a fake one)."""

    runner: Any
    title: str = ""
    live: bool = True
    steps: list[StepView] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.reload(self.runner.scenario)

    def reload(self, scenario: Scenario) -> None:
        """Use an edited version of the scenario (same runner, same lab)."""
        self.runner.scenario = scenario
        self.title = f"{scenario.section}. {scenario.title}"
        self.steps = [StepView.of(i, s, self.runner.prepare) for i, s in enumerate(scenario.steps)]

    def run(self, index: int) -> StepOutcome:
        try:
            r = self.runner.run_step(index)
        except Exception as e:  # the class goes on; the screen shows what went wrong
            return StepOutcome(index, False, error=f"{type(e).__name__}: {e}")
        return StepOutcome(
            index=index,
            ok=r.ok,
            outputs=tuple(
                Output(x.command, x.exit_code, (x.stdout + x.stderr).rstrip())
                for x in r.results
                if x.show
            ),
            checks=tuple(
                Check(describe(c.expectation), c.verdict.ok, c.verdict.detail) for c in r.checked
            ),
            revealed=r.predict.revealed if r.predict is not None else (),
            changes=summarize(r.diff),
        )

    def close(self) -> None:
        self.runner.close()


class RecordedPlayer:
    """Steps and outcomes read from a recording; moves ``source`` (a ReplaySource) along."""

    live = False

    def __init__(self, recording: Any, source: Any = None) -> None:
        from dockerscope.scenario.moments import moments

        self.recording = recording
        self.source = source
        self.title = recording.title
        self._moments = source.moments if source is not None else moments(recording)
        self.steps = [self._view(e) for e in recording.steps()]

    @staticmethod
    def _view(e: dict[str, Any]) -> StepView:
        p = e.get("predict") or {}
        return StepView(
            index=int(e["step"]),
            id=e.get("id", ""),
            title=e.get("title", ""),
            narration="",
            commands=(),
            focus=tuple(e.get("focus", ())),
            expect=tuple(e.get("expect", ())),
            question=p.get("question", ""),
            choices=tuple(p.get("choices", ())),
            answer=p.get("answer"),
            explain=p.get("explain", ""),
        )

    def _events(self, index: int) -> list[dict[str, Any]]:
        return [e for e in self.recording.events if e.get("step") == index]

    def view(self, index: int) -> StepView:
        """The step outline with its narration and commands filled from the events."""
        v = self.steps[index]
        events = self._events(index)
        narration = reflow(next((e["text"] for e in events if e["type"] == "narration"), ""))
        commands = tuple(e["command"] for e in events if e["type"] == "command")
        return StepView(**{**v.__dict__, "narration": narration, "commands": commands})

    def run(self, index: int) -> StepOutcome:
        events = self._events(index)
        outputs = tuple(
            Output(
                e["command"],
                e.get("exit_code"),
                (e.get("stdout", "") + e.get("stderr", "")).rstrip(),
            )
            for e in events
            if e["type"] == "output"
        )
        checks = tuple(
            Check(e["expectation"], bool(e["ok"]), e.get("detail", ""))
            for e in events
            if e["type"] == "verdict"
        )
        revealed = next((tuple(e["revealed"]) for e in events if e["type"] == "predict"), ())
        ok = next((bool(e["ok"]) for e in events if e["type"] == "step_end"), False)
        changes: list[str] = []
        for m in self._moments:
            if m.step == index:
                changes.extend(summarize(m.diff))
        if self.source is not None:
            # Play the step's own frames, at the recorded pace, and stop where the step ended.
            mine = [i for i, m in enumerate(self._moments) if m.step == index]
            if mine:
                self.source.play_span(mine[0], mine[-1])
        return StepOutcome(index, ok, outputs, checks, revealed, tuple(changes))

    def close(self) -> None:
        pass


def outcome_lines(outcome: StepOutcome) -> Iterable[str]:
    """Plain-text rendering of an outcome (for logs and simple screens)."""
    if outcome.error:
        yield f"error: {outcome.error}"
    for o in outcome.outputs:
        yield f"$ {o.command}  (exit {o.exit_code})"
        if o.text:
            yield from ("  " + line for line in o.text.splitlines()[-12:])
    for c in outcome.checks:
        yield f"{'✓' if c.ok else '✗'} {c.text}: {c.detail}"
