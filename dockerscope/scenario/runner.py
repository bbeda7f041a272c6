"""Run a scenario against a lab: commands, observer snapshots around each step, verdicts.

The runner knows nothing of how commands reach the lab or how snapshots are taken: both are
injected (an ``Executor`` and a ``snapshot`` function), so the same code drives a real lab
(``lab.py``), a fake one in unit tests, and the walkthrough screen (which calls ``run_step`` from
a worker thread). Expectations are checked on the observer's snapshots only.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from dockerscope.kernel.model import ApiCall, Diff, Snapshot
from dockerscope.scenario import expectations
from dockerscope.scenario.expectations import Observed, Verdict
from dockerscope.scenario.model import Command, CommandResult, Expectation, Scenario, Step


class Background(Protocol):
    """A command left running; ``finish`` stops it (if needed) and says what it printed."""

    def finish(self) -> CommandResult: ...


class Executor(Protocol):
    """Runs commands of any kind against one lab."""

    def run(self, command: Command) -> CommandResult:
        """Run to completion (or timeout, then exit code 124)."""
        ...

    def start(self, command: Command) -> Background:
        """Start in the background."""
        ...


@dataclass(frozen=True)
class Checked:
    """One expectation and its verdict."""

    expectation: Expectation
    verdict: Verdict


@dataclass(frozen=True)
class PredictOutcome:
    """What the kernel revealed for a predict question."""

    answer: int  # the author's answer
    revealed: tuple[int, ...]  # choices whose expectation held (the answer, if none has one)
    choice_verdicts: tuple[Verdict | None, ...]

    @property
    def consistent(self) -> bool:
        """The kernel agrees with the author: exactly the answer was revealed."""
        return self.revealed == (self.answer,)


@dataclass(frozen=True)
class StepResult:
    """Everything that happened in one step."""

    index: int
    step: Step
    before: Snapshot
    after: Snapshot
    diff: Diff
    results: tuple[CommandResult, ...]
    traffic: tuple[ApiCall, ...]
    checked: tuple[Checked, ...]
    predict: PredictOutcome | None
    started_at: float
    duration: float

    @property
    def ok(self) -> bool:
        """All expectations met and the prediction's answer confirmed by the kernel."""
        return all(c.verdict.ok for c in self.checked) and (
            self.predict is None or self.predict.consistent
        )


@dataclass
class ScenarioResult:
    """A whole run."""

    scenario: Scenario
    steps: list[StepResult] = field(default_factory=list)
    cleanup: list[CommandResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.steps) and all(s.ok for s in self.steps)

    def failures(self) -> list[str]:
        """Human lines for every unmet expectation."""
        out = []
        for s in self.steps:
            for c in s.checked:
                if not c.verdict.ok:
                    out.append(
                        f"{self.scenario.id} step {s.index + 1} ({s.step.id}): "
                        f"{expectations.describe(c.expectation)}: {c.verdict.detail}"
                    )
            if s.predict is not None and not s.predict.consistent:
                out.append(
                    f"{self.scenario.id} step {s.index + 1} ({s.step.id}): prediction answer "
                    f"{s.predict.answer} but the kernel revealed {list(s.predict.revealed)}"
                )
        return out


def substitute_params(params: Any, values: dict[str, str]) -> Any:
    """``substitute`` through an expectation's parameters (strings in dicts and lists)."""
    if isinstance(params, str):
        return substitute(params, values)
    if isinstance(params, dict):
        return {k: substitute_params(v, values) for k, v in params.items()}
    if isinstance(params, list):
        return [substitute_params(v, values) for v in params]
    return params


def substitute(text: str, values: dict[str, str]) -> str:
    """Fill ``{lab}``, ``{socket}``...: only known names, so ``{{.State}}`` stays as it is."""
    for name, value in values.items():
        text = text.replace("{" + name + "}", value)
    return text


class Runner:
    """Runs one scenario's steps against a lab, one at a time or all in a row."""

    def __init__(
        self,
        scenario: Scenario,
        executor: Executor,
        snapshot: Callable[[], Snapshot],
        traffic: Callable[[], Iterable[ApiCall]] | None = None,
        values: dict[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.scenario = scenario
        self.executor = executor
        self.snapshot = snapshot
        self.traffic = traffic
        self.values = dict(values or {})
        self.sleep = sleep
        self.clock = clock
        self._background: list[Background] = []
        self._closed = False

    def _drain(self) -> tuple[ApiCall, ...]:
        return tuple(self.traffic()) if self.traffic is not None else ()

    def prepare(self, command: Command) -> Command:
        """The command with placeholders filled in."""
        return dataclasses.replace(
            command,
            run=substitute(command.run, self.values),
            container=substitute(command.container, self.values),
        )

    def run_step(
        self,
        index: int,
        on_result: Callable[[CommandResult], None] | None = None,
    ) -> StepResult:
        """Run step ``index``: snapshot, commands, settle, snapshot, check."""
        step = self.scenario.steps[index]
        self._drain()  # traffic from before this step is not this step's
        before = self.snapshot()
        started = self.clock()
        results: list[CommandResult] = []
        for command in step.commands:
            cmd = self.prepare(command)
            if cmd.background:
                self._background.append(self.executor.start(cmd))
                result = CommandResult(cmd.kind, cmd.display(), None, background=True)
            else:
                result = self.executor.run(cmd)
            if not cmd.show:
                result = dataclasses.replace(result, show=False)
            results.append(result)
            if on_result is not None:
                on_result(result)
        if step.settle:
            self.sleep(step.settle)
        after = self.snapshot()
        traffic = self._drain()
        observed = Observed.between(before, after, results, traffic)
        checked = tuple(Checked(f, self._check(f, observed)) for f in map(self._fill, step.expect))
        predict = None
        if step.predict is not None:
            verdicts = tuple(
                self._check(c.expect, observed) if c.expect is not None else None
                for c in step.predict.choices
            )
            revealed = tuple(i for i, v in enumerate(verdicts) if v is not None and v.ok)
            if all(v is None for v in verdicts):
                revealed = (step.predict.answer,)
            predict = PredictOutcome(step.predict.answer, revealed, verdicts)
        return StepResult(
            index=index,
            step=step,
            before=before,
            after=after,
            diff=observed.diff,
            results=tuple(results),
            traffic=traffic,
            checked=checked,
            predict=predict,
            started_at=started,
            duration=self.clock() - started,
        )

    def _fill(self, e: Expectation) -> Expectation:
        """The expectation with placeholders filled in (as checked and as shown)."""
        return dataclasses.replace(e, params=substitute_params(e.params, self.values))

    def _check(self, e: Expectation, observed: Observed) -> Verdict:
        return expectations.check(self._fill(e), observed)

    def steps(self, start: int = 0, delay: float = 0.0) -> Iterator[StepResult]:
        """Autoplay: every step from ``start`` in order, ``delay`` seconds apart (headless)."""
        for i in range(start, len(self.scenario.steps)):
            if i > start and delay:
                self.sleep(delay)
            yield self.run_step(i)

    def close(self) -> list[CommandResult]:
        """Stop background commands and run the scenario's cleanup commands (idempotent)."""
        if self._closed:
            return []
        self._closed = True
        out = []
        for bg in self._background:
            try:
                out.append(bg.finish())
            except Exception as e:  # cleanup goes on whatever one command did
                out.append(CommandResult("background", "finish", -1, stderr=str(e)))
        self._background.clear()
        for command in self.scenario.cleanup:
            out.append(self.executor.run(self.prepare(command)))
        return out

    def run_all(self, delay: float = 0.0) -> ScenarioResult:
        """Autoplay the whole scenario headless, always cleaning up."""
        result = ScenarioResult(self.scenario)
        try:
            for step in self.steps(delay=delay):
                result.steps.append(step)
        finally:
            result.cleanup = self.close()
        return result
