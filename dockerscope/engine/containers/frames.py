"""Docker's stream multiplexing: 8-byte headers [stream, 0, 0, 0, size32be] before each chunk."""

from __future__ import annotations

import struct

STDIN, STDOUT, STDERR = 0, 1, 2
STREAM_IDS = {"stdin": STDIN, "stdout": STDOUT, "stderr": STDERR}


def frame(stream: int, data: bytes) -> bytes:
    """One multiplexed frame (used when the container has no tty)."""
    return struct.pack(">BxxxL", stream, len(data)) + data


def unframe(data: bytes) -> tuple[list[tuple[int, bytes]], bytes]:
    """Split a buffer into complete frames; returns (frames, leftover bytes)."""
    out = []
    while len(data) >= 8:
        stream, size = struct.unpack(">BxxxL", data[:8])
        if len(data) < 8 + size:
            break
        out.append((stream, data[8 : 8 + size]))
        data = data[8 + size :]
    return out, data
