"""Exit statuses and signals the way Docker reports and accepts them."""

from __future__ import annotations

import os
import signal

# Docker's exit codes for a container whose process could not be started.
EXIT_NOT_FOUND = 127  # no such binary
EXIT_NOT_EXECUTABLE = 126  # found, but not executable
EXIT_START_FAILED = 128  # anything else that failed before exec (bad user, mount, ...)


def exit_code(wait_status: int) -> int:
    """Docker's exit code for a ``waitpid`` status: the exit status, or 128+N for signal N."""
    if os.WIFSIGNALED(wait_status):
        return 128 + os.WTERMSIG(wait_status)
    if os.WIFEXITED(wait_status):
        return os.WEXITSTATUS(wait_status)
    raise ValueError(f"wait status {wait_status:#x} is neither an exit nor a kill")


def parse_signal(value: str | int) -> int:
    """A signal number from what ``docker kill -s`` accepts: ``KILL``, ``SIGKILL``, ``9``."""
    if isinstance(value, int):
        number = value
    else:
        text = value.strip().upper()
        if text.isdigit():
            number = int(text)
        else:
            name = text if text.startswith("SIG") else "SIG" + text
            try:
                number = int(signal.Signals[name])
            except KeyError:
                raise ValueError(f"Invalid signal: {value}") from None
    if not 0 < number < signal.NSIG:
        raise ValueError(f"Invalid signal: {value}")
    return number
