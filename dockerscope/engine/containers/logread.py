"""Reading a json-file log back, as ``docker logs`` does: across its rotated files in order,
filtered by stream and time, ``--tail N`` from the end, and ``-f`` as the writer goes on.

A :class:`LogReader` holds the files open from the moment it is made (the writer renames and
unlinks, never truncates, so what was there stays readable) and hands out lines in batches of
about ``BATCH_BYTES`` of log: a log of any size is read in bounded memory, each batch a short
call the daemon runs in a thread.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from dockerscope.engine.containers.logs import LogLine, LogWatch, log_files, parse_iso

#: Bytes of log file decoded per batch: big enough that a batch is one write to the client,
#: small enough that the thread holds the GIL only briefly per batch.
BATCH_BYTES = 256 * 1024
_BLOCK = 65536  # reading backwards for --tail


@dataclass(frozen=True)
class LogFilter:
    """What ``docker logs`` asked for."""

    stdout: bool = True
    stderr: bool = True
    since: float | None = None
    until: float | None = None

    @property
    def everything(self) -> bool:
        """Every line passes (counting lines is then counting newlines)."""
        return self.stdout and self.stderr and self.since is None and self.until is None

    def keep(self, obj: object) -> LogLine | None:
        """The line of a decoded json object if it passes, else None."""
        if not isinstance(obj, dict):
            return None
        stream = obj.get("stream")
        if not ((stream == "stdout" and self.stdout) or (stream == "stderr" and self.stderr)):
            return None
        t = parse_iso(obj.get("time") or "")
        if (self.since is not None and t < self.since) or (
            self.until is not None and t > self.until
        ):
            return None
        return LogLine(stream, str(obj.get("log", "")).encode(), t)


def decode_lines(raw: bytes, flt: LogFilter) -> list[LogLine]:
    """The lines of a run of complete json-file lines that pass ``flt``. One ``json.loads``
    for all of them (a json line never holds a raw newline); line by line only when one is
    broken (cut by a crash), which is then skipped."""
    raw = raw.strip(b"\n")
    if not raw:
        return []
    try:
        objs = json.loads(b"[" + raw.replace(b"\n", b",") + b"]")
    except ValueError:
        objs = []
        for one in raw.split(b"\n"):
            with contextlib.suppress(ValueError):
                objs.append(json.loads(one))
    out = []
    for obj in objs:
        line = flt.keep(obj)
        if line is not None:
            out.append(line)
    return out


class LogReader:
    """Lines of a log from files held open: ``files`` oldest first, each read up to its
    ``ends`` entry (None: as far as it goes, for a file still written). With a ``watch`` the
    reader follows: files the writer opens at each rotation join ``watch.files``."""

    def __init__(
        self,
        files: list[BinaryIO],
        ends: list[int | None],
        flt: LogFilter,
        watch: LogWatch | None = None,
    ) -> None:
        self.flt = flt
        self.watch = watch
        self._files = files
        if watch is not None:
            watch.files[:0] = files
            self._files = watch.files  # the writer appends a file at each rotation
        # where --tail counts back from: each file's size when the reader was made
        self._sizes = {id(f): os.fstat(f.fileno()).st_size for f in files}
        self._ends = dict(zip(map(id, files), ends, strict=True))
        self._rest = b""

    @classmethod
    def open(cls, path: Path, flt: LogFilter, watch: LogWatch | None = None) -> LogReader:
        """A reader of the log at ``path`` as it is now (its files opened at once). Without
        a watch each file is read up to its present size only; with one, on and on."""
        files: list[BinaryIO] = []
        ends: list[int | None] = []
        for p in log_files(path):
            try:
                f = open(p, "rb")  # noqa: SIM115 - closed by close()
            except OSError:
                continue
            files.append(f)
            ends.append(os.fstat(f.fileno()).st_size if watch is None else None)
        return cls(files, ends, flt, watch)

    def close(self) -> None:
        """Close every file still held."""
        for f in self._files:
            f.close()
        self._files.clear()

    # ---- --tail ---------------------------------------------------------------------------

    def skip_to_tail(self, n: int) -> None:
        """Start at the ``n``-th last line that passes the filter: read from the end back."""
        if n <= 0:
            for f in self._files:
                f.seek(self._sizes.get(id(f), 0))
            return
        found = 0
        for i in range(len(self._files) - 1, -1, -1):
            f = self._files[i]
            for start, raw in self._backwards(f):
                # Every line passes: count whole lines (a line cut by a crash does not end
                # its object), else decode each to filter it.
                if raw.endswith(b"}") if self.flt.everything else decode_lines(raw, self.flt):
                    found += 1
                    if found == n:
                        f.seek(start)
                        for old in self._files[:i]:
                            old.close()
                        del self._files[:i]
                        return
            f.seek(0)

    def _backwards(self, f: BinaryIO) -> Iterator[tuple[int, bytes]]:
        """(offset, line) of each line of ``f`` up to its end, last first."""
        pos = self._end_of(f)
        rest = b""
        while pos > 0:
            step = min(_BLOCK, pos)
            pos -= step
            f.seek(pos)
            data = f.read(step) + rest
            lines = data.split(b"\n")
            rest = lines[0]
            offset = pos + len(data)
            for raw in reversed(lines[1:]):
                offset -= len(raw) + 1
                if raw:
                    yield offset + 1, raw
        if rest:
            yield 0, rest

    def _end_of(self, f: BinaryIO) -> int:
        return self._sizes.get(id(f), 0)

    # ---- forward --------------------------------------------------------------------------

    def next_batch(self) -> list[LogLine] | None:
        """The next lines (about BATCH_BYTES of log); [] when a followed log has nothing new
        yet; None at the end (without a watch: the end of the files as they were)."""
        while self._files:
            f = self._files[0]
            # Decided before the read: a file the writer rotated away (or closed) is complete,
            # its successor (or the end) came after the last write to it.
            final = len(self._files) > 1 or self.watch is None or self.watch.ended
            end = self._ends.get(id(f))
            want = BATCH_BYTES if end is None else min(BATCH_BYTES, end - f.tell())
            data = f.read(want) if want > 0 else b""
            if data:
                data = self._rest + data
                cut = data.rfind(b"\n") + 1
                self._rest = data[cut:]
                lines = decode_lines(data[:cut], self.flt)
                if lines:
                    return lines
                continue
            if not final:
                return []  # the current file of a followed log: wait for the writer
            # This file is done: a cut last line (a crash) is decoded if it can be.
            lines = decode_lines(self._rest, self.flt) if self._rest else []
            self._rest = b""
            self._files.pop(0).close()
            if lines:
                return lines
        return None

    @property
    def following(self) -> bool:
        """A followed log whose writer is still open."""
        return self.watch is not None and not self.watch.ended


def read_log(
    path: Path,
    stdout: bool = True,
    stderr: bool = True,
    since: float | None = None,
    until: float | None = None,
    tail: int | None = None,
) -> list[LogLine]:
    """Every line of a log at once, filtered like ``docker logs`` (small logs and tests; the
    daemon reads batch by batch)."""
    reader = LogReader.open(path, LogFilter(stdout, stderr, since, until))
    try:
        if tail is not None and tail >= 0:
            reader.skip_to_tail(tail)
        out: list[LogLine] = []
        while (batch := reader.next_batch()) is not None:
            out += batch
        return out
    finally:
        reader.close()
