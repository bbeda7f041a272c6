"""Following a dockerscope daemon's traffic tap: ``GET /dockerscope/traffic`` as JSON lines.

Every request the daemon serves is published there as an ``ApiCall``; ``TapFollower`` reads the
stream on a thread and hands the calls over in batches (``drain``). The dashboard's
``WithTraffic`` and the scenario runner both follow a lab's tap through it.
"""

from __future__ import annotations

import contextlib
import json
import queue
import socket
import threading
import time

from dockerscope.client.transport import DaemonUnreachable, unix_transport
from dockerscope.kernel.model import ApiCall


class TapUnavailable(OSError):
    """The socket has no traffic tap (not a dockerscope daemon, or none listening)."""


class TapFollower:
    """Follows the daemon's ``GET /dockerscope/traffic`` stream (JSON lines) on a thread."""

    def __init__(self, socket_path: str) -> None:
        self._q: queue.Queue[ApiCall] = queue.Queue()
        try:
            self._conn, self._resp = unix_transport(socket_path).send("GET", "/dockerscope/traffic")
        except DaemonUnreachable as exc:
            raise TapUnavailable(str(exc)) from exc
        if self._resp.status != 200:
            self._conn.close()
            raise TapUnavailable(f"traffic tap answered {self._resp.status}")
        self._fields = set(ApiCall.__dataclass_fields__)
        self._thread = threading.Thread(target=self._follow, name="traffic-feed", daemon=True)
        self._thread.start()

    def _follow(self) -> None:
        # Closing the connection from another thread ends the loop with one of several
        # errors depending on where the read was; all of them mean "done".
        with contextlib.suppress(Exception):
            for line in self._resp:
                if not line.strip():
                    continue
                data = json.loads(line)
                self._q.put(ApiCall(**{k: v for k, v in data.items() if k in self._fields}))

    def drain(self, settle: float = 0.05) -> list[ApiCall]:
        """Calls seen since the last drain (waiting a moment for the stream to catch up)."""
        time.sleep(settle)
        out = []
        while True:
            try:
                out.append(self._q.get_nowait())
            except queue.Empty:
                return out

    def close(self) -> None:
        """Stop following: shut the socket down under the reading thread, then join it."""
        with contextlib.suppress(OSError):
            if self._conn.sock is not None:
                self._conn.sock.shutdown(socket.SHUT_RDWR)
        self._conn.close()
        self._thread.join(2)
