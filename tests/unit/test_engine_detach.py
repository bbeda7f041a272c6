"""Detach keys in a tty session's stdin."""

from __future__ import annotations

import pytest

from dockerscope.engine.containers.detach import DetachWatcher, parse_keys


def test_parse_keys() -> None:
    assert parse_keys(None) == b"\x10\x11"
    assert parse_keys("ctrl-a,x") == b"\x01x"
    assert parse_keys("ctrl-@,ctrl-[") == b"\x00\x1b"
    with pytest.raises(ValueError, match="Invalid detach keys"):
        parse_keys("ctrl-1")
    with pytest.raises(ValueError, match="Invalid detach keys"):
        parse_keys("alt-x")


def test_sequence_detaches_and_is_not_forwarded() -> None:
    w = DetachWatcher(b"\x10\x11")
    assert w.feed(b"ls\r") == (b"ls\r", False)
    assert w.feed(b"a\x10") == (b"a", False)  # held: maybe the start of the sequence
    assert w.feed(b"\x11rest") == (b"", True)


def test_a_false_start_is_forwarded() -> None:
    w = DetachWatcher(b"\x10\x11")
    assert w.feed(b"\x10x") == (b"\x10x", False)
    assert w.feed(b"\x10\x10") == (b"\x10", False)
    assert w.feed(b"\x11") == (b"", True)
    assert DetachWatcher(b"").feed(b"\x10\x11") == (b"\x10\x11", False)
