"""Container output kept as Docker's json-file: one ``{"log","stream","time"}`` object per line,
in ``<id>-json.log`` rotated to ``<id>-json.log.1``, ``.2``... by ``max-size``/``max-file``.

The writer runs on the daemon's event loop for every chunk a container writes, so its cost per
byte is the daemon's cost per byte: a chunk is stamped once, split and decoded in C, and its
lines are JSON-encoded with one ``json.dumps`` call over the list of them (the C string encoder)
and written with one ``write``. No Python object is made per line unless a ``logs -f`` listens.
Reading back is in ``logread.py``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from dockerscope.engine.containers.status import iso

PARTIAL_MAX = 16 * 1024  # like Docker, a line longer than this is written in pieces
#: How far a ``logs -f`` reader may fall behind the rotation: it keeps reading files rotation has
#: deleted (held open, their bytes stay on disk) up to this many bytes, and at most LAG_FILES of
#: them; further behind it is dropped. A busy machine can pause a reader for a while: with a
#: small max-size, a whole file goes by in a few milliseconds of a fast writer.
LAG_BYTES = 64 * 1024 * 1024
LAG_FILES = 16


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


def rotated_path(path: Path, n: int) -> Path:
    """The ``n``-th rotated file of the log at ``path`` (0: the current file)."""
    return path if n == 0 else path.with_name(f"{path.name}.{n}")


def log_files(path: Path) -> list[Path]:
    """The files of a log, oldest first: ``.N`` ... ``.1``, then the current one (those
    that exist; rotated files left by an earlier, larger ``max-file`` included)."""
    rotated = []
    with contextlib.suppress(OSError):
        prefix = path.name + "."
        for entry in os.scandir(path.parent):
            suffix = entry.name[len(prefix) :]
            if entry.name.startswith(prefix) and suffix.isdigit():
                rotated.append((int(suffix), Path(entry.path)))
    out = [p for _, p in sorted(rotated, reverse=True)]
    if path.exists():
        out.append(path)
    return out


def _encoder(stream: str, stamp: str) -> Callable[[list[str], bool], str]:
    """Encode a list of ``log`` values of one stream and time as json-file lines.

    ``json.dumps`` of the whole list escapes every value in C; ``","`` can only appear in its
    output between two values (every ``"`` inside a value is escaped), so replacing it with
    the end of one object and the start of the next makes the lines. ``newline``: every value
    ends with a newline not included in it (the common case, which saves a copy per line).
    """
    head = '{"log":"'
    tail = f'","stream":"{stream}","time":"{stamp}"}}\n'
    nl_tail = "\\n" + tail

    def encode(values: list[str], newline: bool) -> str:
        end = nl_tail if newline else tail
        body = json.dumps(values, separators=(",", ":"))[2:-2]
        return head + body.replace('","', end + head) + end

    return encode


def _pieces(line: bytes) -> list[bytes]:
    """A line cut into Docker's partial messages of at most PARTIAL_MAX bytes (its newline,
    if any, stays with the last piece)."""
    body = line[:-1] if line.endswith(b"\n") else line
    cuts = [body[i : i + PARTIAL_MAX] for i in range(0, len(body), PARTIAL_MAX)] or [b""]
    if len(body) < len(line):
        cuts[-1] += b"\n"
    return cuts


@dataclass(eq=False)  # a watch is one reader: compared (and hashed) by identity
class LogWatch:
    """A reader following the log (``logs -f``): the writer opens every new file for it at
    the rotation (so no line falls between two files) and sets ``wake`` on each write."""

    files: list[BinaryIO] = field(default_factory=list)
    wake: Callable[[], None] = lambda: None
    ended: bool = False  # the writer is closed: nothing more will come
    # more than the whole rotated log behind: the writer stopped opening files for it
    lagged: bool = False


def _private(path: str, flags: int) -> int:
    """Open a log file 0600 from the start: a container's output is root's alone."""
    return os.open(path, flags, 0o600)


class JsonLogWriter:
    """Splits a container's output into lines and appends them to ``<id>-json.log``, rotating
    it at ``max_size`` bytes (None: never) and keeping ``max_file`` files in all. Readers
    that follow it (``logs -f``) join ``watches``.
    """

    def __init__(self, path: Path, max_size: int | None = None, max_file: int = 1) -> None:
        self.path = path
        self.max_size = max_size
        self.max_file = max(1, max_file)
        self.watches: set[LogWatch] = set()
        # 0600 from the start (the output is root's alone); it lives as long as the container.
        self._file = open(path, "ab", buffering=0, opener=_private)  # noqa: SIM115
        self.size = os.fstat(self._file.fileno()).st_size
        self._partial: dict[str, bytes] = {"stdout": b"", "stderr": b""}

    # ---- lines ----------------------------------------------------------------------------

    def write(self, stream: str, data: bytes) -> None:
        """Output of ``stream``: its complete lines now, the unterminated rest with the next."""
        rest = self._partial[stream]
        buf = rest + data if rest else data
        cut = buf.rfind(b"\n") + 1
        complete, rest = buf[:cut], buf[cut:]
        now = time.time()
        encode = _encoder(stream, iso(now))
        out: list[str] = []
        if complete:
            lines = complete.split(b"\n")
            lines.pop()  # the empty string after the last newline
            if max(map(len, lines)) <= PARTIAL_MAX:
                values = complete.decode("utf-8", "replace").split("\n")
                values.pop()
                out.append(encode(values, True))
            else:
                pieces = [p for line in lines for p in _pieces(line + b"\n")]
                out.append(encode([p.decode("utf-8", "replace") for p in pieces], False))
        if len(rest) > PARTIAL_MAX:
            keep = len(rest) % PARTIAL_MAX or PARTIAL_MAX
            full = _pieces(rest[:-keep])
            rest = rest[-keep:]
            out.append(encode([p.decode("utf-8", "replace") for p in full], False))
        self._partial[stream] = rest
        if out:
            self._append("".join(out).encode())

    def flush(self) -> None:
        """Write out unterminated last lines (the container's output ended)."""
        for stream, rest in self._partial.items():
            if rest:
                self._partial[stream] = b""
                encode = _encoder(stream, iso(time.time()))
                self._append(encode([rest.decode("utf-8", "replace")], False).encode())

    def close(self) -> None:
        """Flush, close the file and tell the watches nothing more will come."""
        self.flush()
        self._file.close()
        for w in self.watches:
            w.ended = True
            w.wake()
        self.watches.clear()

    # ---- files ----------------------------------------------------------------------------

    def _append(self, data: bytes) -> None:
        """Write whole lines, rotating before a line that would take the file past max_size
        (a single line larger than a whole file is written alone, as Docker does)."""
        view = memoryview(data)
        pos, end = 0, len(data)
        while pos < end:
            left = end - pos
            room = left if self.max_size is None else self.max_size - self.size
            if left <= room:
                n = left
            else:
                cut = data.rfind(b"\n", pos, pos + max(room, 0))
                n = cut + 1 - pos if cut >= 0 else 0
                if n == 0 and self.size == 0:
                    first = data.find(b"\n", pos)
                    n = first + 1 - pos if first >= 0 else left
            if n:
                self._file.write(view[pos : pos + n])
                self.size += n
                pos += n
            if pos < end:
                self._rotate()
        for w in self.watches:
            w.wake()

    def _rotate(self) -> None:
        """``<id>-json.log`` becomes ``.1``, ``.1`` becomes ``.2``...; the oldest goes. Files
        are renamed or unlinked, never truncated: a reader holding one still reads it whole."""
        self._file.close()
        if self.max_file == 1:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
        for n in range(self.max_file - 1, 0, -1):
            with contextlib.suppress(FileNotFoundError):
                os.replace(rotated_path(self.path, n - 1), rotated_path(self.path, n))
        self._file = open(self.path, "ab", buffering=0, opener=_private)  # noqa: SIM115
        self.size = 0
        lag = min(LAG_FILES, max(1, LAG_BYTES // (self.max_size or LAG_BYTES)))
        for w in list(self.watches):
            if len(w.files) >= self.max_file + lag:
                # It still holds as many deleted files as it may: following on would keep
                # ever more deleted bytes on disk. It is dropped instead.
                w.lagged = True
                self.watches.discard(w)
                w.wake()
            else:
                w.files.append(open(self.path, "rb"))  # noqa: SIM115 - the reader closes it


@functools.lru_cache(maxsize=4096)
def parse_iso(text: str) -> float:
    """Seconds since the epoch from an RFC 3339 UTC time with up to 9 fraction digits (lines
    of one chunk share their time: the cache makes reading a log cheap)."""
    if not text:
        return 0.0
    base, _, frac = text.rstrip("Z").partition(".")
    try:
        whole = dt.datetime.strptime(base, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=dt.UTC)
    except ValueError:
        return 0.0
    return whole.timestamp() + (float("0." + frac) if frac.isdigit() else 0.0)
