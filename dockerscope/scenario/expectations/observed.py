"""What an expectation looks at (``Observed``) and what it answers (``Verdict``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from dockerscope.kernel.model import ApiCall, Diff, Snapshot
from dockerscope.kernel.model import diff as compute_diff
from dockerscope.scenario.model import CommandResult


@dataclass(frozen=True)
class Verdict:
    """Whether an expectation held, and a line saying what was seen."""

    ok: bool
    detail: str


@dataclass(frozen=True)
class Observed:
    """Everything an expectation may look at for one step."""

    before: Snapshot
    after: Snapshot
    diff: Diff = field(default_factory=Diff)
    results: tuple[CommandResult, ...] = ()
    traffic: tuple[ApiCall, ...] = ()

    @classmethod
    def between(
        cls,
        before: Snapshot,
        after: Snapshot,
        results: Iterable[CommandResult] = (),
        traffic: Iterable[ApiCall] = (),
    ) -> Observed:
        """Build one, computing the diff."""
        return cls(before, after, compute_diff(before, after), tuple(results), tuple(traffic))

    @property
    def lab(self) -> str:
        """The lab's name when the snapshots are of a lab (scope ``lab:NAME``), else ""."""
        scope = self.after.scope
        return scope.split(":", 1)[1] if scope.startswith("lab:") else ""
