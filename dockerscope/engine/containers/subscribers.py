"""A live output subscriber (``docker attach``, an exec session) with a bounded buffer.

Output is pushed to subscribers as the container writes it; a client that does not read
would make its queue grow without end (an attach that never reads took a daemon from 45 MB
to 271 MB in a minute). Each subscriber holds at most ``CLIENT_BUFFER`` bytes: past that it
is cut off (its queue emptied, ``None`` queued, ``overflowed`` set) and its session closes,
while the container, its log and the other clients go on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

#: Bytes of output held for one client that reads slower than the container writes. A few
#: MiB ride out a client's pause (a terminal scrolled back, a busy machine); a client that
#: is further behind than this is not reading and is dropped.
CLIENT_BUFFER = 2 * 1024 * 1024
#: Bytes held for a session before its relay starts (``bounded_from_now``): an attach subscribes
#: before its 101 head goes out and relays 50 ms later (the head must leave alone); a container
#: writing at full speed fills more than CLIENT_BUFFER in that while, from a client that reads.
GRACE_BUFFER = 16 * 1024 * 1024


class OutputQueue(asyncio.Queue[tuple[str, bytes] | None]):
    """(stream, bytes) items, ``None`` when the output ends or the client was cut off."""

    def __init__(self, limit: int = CLIENT_BUFFER, grace: int = GRACE_BUFFER) -> None:
        super().__init__()
        self.limit = limit
        self._cap = max(grace, limit)  # until the relay starts
        self.held = 0  # bytes queued
        self.overflowed = False
        #: Called once at the cut: the session closes its connection there (its relay may be
        #: blocked writing to the client that does not read, and would never see the end).
        self.on_overflow: Callable[[], None] | None = None

    def put_nowait(self, item: tuple[str, bytes] | None) -> None:
        if self.overflowed:
            return
        if item is not None:
            self.held += len(item[1])
            if self.held > self._cap:
                self.overflowed = True
                while not self.empty():
                    super().get_nowait()
                self.held = 0
                super().put_nowait(None)
                if self.on_overflow is not None:
                    self.on_overflow()
                return
        super().put_nowait(item)

    def bounded_from_now(self) -> None:
        """The relay starts: from here the client may fall ``limit`` bytes behind."""
        self._cap = self.held + self.limit

    def get_nowait(self) -> tuple[str, bytes] | None:
        # ``get()`` takes its item through here too
        item = super().get_nowait()
        if item is not None:
            self.held -= len(item[1])
        return item
