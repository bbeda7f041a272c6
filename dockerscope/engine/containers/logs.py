"""Container output kept as Docker's json-file: one ``{"log","stream","time"}`` object per line."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

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
        # 0600 from the start (the output is root's alone); it lives as long as the container.
        self._file = open(  # noqa: SIM115
            path, "ab", buffering=0, opener=lambda p, f: os.open(p, f, 0o600)
        )
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
    end: int | None = None,
) -> list[LogLine]:
    """Lines of a json-file log, filtered like ``docker logs`` (``tail`` None = all), from the
    file's first ``end`` bytes (None: all of it). With ``tail`` the file is read from its end
    backwards, so ``--tail 1`` of a gigabyte log reads a few kilobytes."""
    if not path.exists():
        return []
    wanted = {s for s, on in (("stdout", stdout), ("stderr", stderr)) if on}

    def decode(raw: bytes) -> LogLine | None:
        try:
            obj = json.loads(raw)
        except ValueError:
            return None  # a line cut by a crash
        if not isinstance(obj, dict) or obj.get("stream") not in wanted:
            return None
        t = parse_iso(obj.get("time", ""))
        if (since is not None and t < since) or (until is not None and t > until):
            return None
        return LogLine(obj["stream"], str(obj.get("log", "")).encode(), t)

    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size if end is None else end
        if tail is not None and tail >= 0:
            picked: list[LogLine] = []
            for raw in _lines_backwards(f, size):
                if len(picked) >= tail:
                    break
                line = decode(raw)
                if line is not None:
                    picked.append(line)
            return picked[::-1]
        out: list[LogLine] = []
        left = size
        for raw in f:
            if left <= 0:
                break
            left -= len(raw)
            if left < 0:
                raw = raw[:left]
            line = decode(raw)
            if line is not None:
                out.append(line)
        return out


def _lines_backwards(f: BinaryIO, end: int, block: int = 65536) -> Iterator[bytes]:
    """The lines of ``f``'s first ``end`` bytes, last first."""
    pos = end
    rest = b""
    while pos > 0:
        step = min(block, pos)
        pos -= step
        f.seek(pos)
        data = f.read(step) + rest
        lines = data.split(b"\n")
        rest = lines[0]
        for raw in reversed(lines[1:]):
            if raw:
                yield raw
    if rest:
        yield rest


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
