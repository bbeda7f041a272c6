"""The live source: a kernel ``Observer``'s updates as the dashboard's ``Frame``s.

The observer (dockerscope.kernel) knows nothing of frames or of the UI; this module is where
its updates become a ``dockerscope.feed.Source``. It needs root (the observer joins namespaces),
so ``dockerscope.feed`` itself does not import it: a replay never loads the observer.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from dockerscope.feed import Frame
from dockerscope.kernel.hints import Hints
from dockerscope.kernel.observer import Observer, Update
from dockerscope.kernel.scope import Scope

__all__ = ["LiveSource", "Scope", "frame_of"]  # Scope: what a LiveSource is made from


def frame_of(update: Update) -> Frame:
    """The frame that carries one observer update."""
    return Frame(
        at=update.at,
        snapshot=update.snapshot,
        diff=update.diff,
        note=update.note,
        extra=update.extra,
    )


class LiveSource:
    """A ``dockerscope.feed.Source`` backed by an Observer (what the dashboard uses live)."""

    def __init__(self, scope: Scope, hints: Hints | None = None, **observer_args: Any):
        self.scope = scope.label
        self.observer = Observer(scope, hints=hints, **observer_args)
        self._stop: asyncio.Event | None = None

    @property
    def api_socket(self) -> str | None:
        """The API socket whose hints (and traffic) go with this scope, when it has one."""
        return self.observer.scope.api_socket

    async def frames(self) -> AsyncIterator[Frame]:
        """Frames until ``stop`` is awaited."""
        self._stop = self._stop or asyncio.Event()
        try:
            async for update in self.observer.updates(self._stop):
                yield frame_of(update)
        finally:
            await asyncio.get_running_loop().run_in_executor(None, self.observer.close)

    async def stop(self) -> None:
        """Ask ``frames`` to finish."""
        self._stop = self._stop or asyncio.Event()
        self._stop.set()
