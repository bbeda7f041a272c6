"""Docker's exit codes and signal names."""

from __future__ import annotations

import signal

import pytest

from dockerscope.engine.runtime.status import exit_code, parse_signal


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (0, 0),  # exited 0
        (3 << 8, 3),  # exited 3
        (127 << 8, 127),
        (signal.SIGKILL, 137),  # killed by SIGKILL
        (signal.SIGTERM, 143),
        (signal.SIGSEGV | 0x80, 139),  # killed, core dumped
    ],
)
def test_exit_code_from_wait_status(status: int, code: int) -> None:
    assert exit_code(status) == code


def test_stopped_status_is_not_an_exit() -> None:
    with pytest.raises(ValueError):
        exit_code(0x137F)  # WIFSTOPPED by SIGSTOP


@pytest.mark.parametrize(
    ("text", "number"),
    [("KILL", 9), ("SIGKILL", 9), ("9", 9), ("term", 15), ("SIGUSR1", 10), (2, 2)],
)
def test_parse_signal(text: str | int, number: int) -> None:
    assert parse_signal(text) == number


@pytest.mark.parametrize("text", ["NOPE", "SIGNOPE", "0", "999", -1, ""])
def test_parse_signal_refuses_nonsense(text: str | int) -> None:
    with pytest.raises(ValueError, match="Invalid signal"):
        parse_signal(text)
