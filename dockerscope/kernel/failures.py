"""Read failures as error lines: a read that fails keeps its last value and says why."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class Failures:
    """The error lines of an observer, one per failing read (keyed, e.g. ``routes lab1``)."""

    def __init__(self) -> None:
        self.lines: dict[str, str] = {}

    def attempt(self, key: str, read: Callable[[], T], default: T) -> T:
        """``read()``, or ``default`` with an error line under ``key`` when it raises."""
        try:
            value = read()
        except Exception as exc:  # noqa: BLE001 - every failure becomes a visible error line
            self.lines[key] = f"{key}: {exc}"
            return default
        self.lines.pop(key, None)
        return value

    def note(self, key: str, error: object) -> None:
        """Record a failure found some other way (an exception handed back by a hop)."""
        self.lines[key] = f"{key}: {error}"

    def clear(self, key: str) -> None:
        """The read under ``key`` worked this time."""
        self.lines.pop(key, None)

    def sorted_lines(self) -> tuple[str, ...]:
        """All current error lines, sorted (as a snapshot shows them)."""
        return tuple(sorted(self.lines.values()))
