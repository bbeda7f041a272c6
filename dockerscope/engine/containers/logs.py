"""Container output kept as Docker's json-file: one ``{"log","stream","time"}`` object per line."""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dockerscope.engine.containers.status import iso

PARTIAL_MAX = 16 * 1024  # like Docker, a line longer than this is written in pieces


@dataclass(frozen=True)
class LogLine:
    """One logged line (with its newline, if it had one)."""

    stream: str  # "stdout" | "stderr"
    data: bytes
    time: float

    def to_json(self) -> str:
        return json.dumps(
            {
                "log": self.data.decode("utf-8", "replace"),
                "stream": self.stream,
                "time": iso(self.time),
            },
            separators=(",", ":"),
        )


class JsonLogWriter:
    """Splits a container's output into lines and appends them to ``<id>-json.log``.

    ``on_line`` is called for every line written (for ``logs --follow`` subscribers).
    """

    def __init__(self, path: Path, on_line: Callable[[LogLine], None] | None = None) -> None:
        self.path = path
        self._file = open(path, "ab", buffering=0)  # noqa: SIM115 - lives as long as the container
        self._partial: dict[str, bytes] = {"stdout": b"", "stderr": b""}
        self.on_line = on_line

    def write(self, stream: str, data: bytes) -> None:
        buf = self._partial[stream] + data
        lines = buf.split(b"\n")
        rest = lines.pop()
        out = [line + b"\n" for line in lines]
        while len(rest) > PARTIAL_MAX:
            out.append(rest[:PARTIAL_MAX])
            rest = rest[PARTIAL_MAX:]
        self._partial[stream] = rest
        self._emit(stream, out)

    def _emit(self, stream: str, chunks: list[bytes]) -> None:
        if not chunks:
            return
        now = time.time()
        lines = [LogLine(stream, c, now) for c in chunks]
        self._file.write("".join(line.to_json() + "\n" for line in lines).encode())
        if self.on_line is not None:
            for line in lines:
                self.on_line(line)

    def flush(self) -> None:
        """Write out unterminated last lines (the container's output ended)."""
        for stream, rest in self._partial.items():
            if rest:
                self._partial[stream] = b""
                self._emit(stream, [rest])

    def close(self) -> None:
        self.flush()
        self._file.close()


def read_log(
    path: Path,
    stdout: bool = True,
    stderr: bool = True,
    since: float | None = None,
    until: float | None = None,
    tail: int | None = None,
) -> list[LogLine]:
    """Lines of a json-file log, filtered like ``docker logs`` (``tail`` None = all)."""
    if not path.exists():
        return []
    wanted = {s for s, on in (("stdout", stdout), ("stderr", stderr)) if on}
    keep: deque[LogLine] = deque(maxlen=tail if tail is not None and tail >= 0 else None)
    with open(path, "rb") as f:
        for raw in f:
            try:
                obj = json.loads(raw)
            except ValueError:
                continue  # a line cut by a crash
            if obj.get("stream") not in wanted:
                continue
            t = parse_iso(obj.get("time", ""))
            if since is not None and t < since:
                continue
            if until is not None and t > until:
                continue
            keep.append(LogLine(obj["stream"], obj.get("log", "").encode(), t))
    return list(keep)


def parse_iso(text: str) -> float:
    """Seconds since the epoch from an RFC 3339 UTC time with up to 9 fraction digits."""
    import datetime as dt

    if not text:
        return 0.0
    base, _, frac = text.rstrip("Z").partition(".")
    try:
        whole = dt.datetime.strptime(base, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=dt.UTC)
    except ValueError:
        return 0.0
    return whole.timestamp() + (float("0." + frac) if frac.isdigit() else 0.0)
