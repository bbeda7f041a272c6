"""Stream multiplexing: 8-byte headers [stream, 0, 0, 0, size32be]."""

from __future__ import annotations

from dockerscope.engine.containers.frames import STDERR, STDOUT, frame, unframe


def test_frame_header_layout() -> None:
    assert frame(STDOUT, b"hi\n") == b"\x01\x00\x00\x00\x00\x00\x00\x03hi\n"
    assert frame(STDERR, b"") == b"\x02\x00\x00\x00\x00\x00\x00\x00"
    big = frame(STDOUT, b"x" * 70000)
    assert big[:8] == b"\x01\x00\x00\x00\x00\x01\x11\x70"


def test_unframe_round_trip_and_leftover() -> None:
    data = frame(STDOUT, b"a") + frame(STDERR, b"bc") + frame(STDOUT, b"def")[:5]
    frames, rest = unframe(data)
    assert frames == [(STDOUT, b"a"), (STDERR, b"bc")]
    assert rest == frame(STDOUT, b"def")[:5]
