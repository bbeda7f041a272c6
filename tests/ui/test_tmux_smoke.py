"""Smoke test: the real app in a real terminal (tmux), driven with keys as a person would."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import pytest

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")


class Tmux:
    def __init__(self, command: str) -> None:
        self.name = "dsui" + uuid.uuid4().hex[:8]
        subprocess.run(
            ["tmux", "new-session", "-d", "-s", self.name, "-x", "100", "-y", "30", command],
            check=True,
        )

    def keys(self, *keys: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.name, *keys], check=True)

    def screen(self) -> str:
        out = subprocess.run(
            ["tmux", "capture-pane", "-p", "-t", self.name],
            capture_output=True,
            text=True,
            check=False,
        )
        return out.stdout

    def wait_for(self, text: str, tries: int = 150) -> str:
        """Poll the pane until ``text`` shows (a deadline, not a timing assertion)."""
        for _ in range(tries):
            shown = self.screen()
            if text in shown:
                return shown
            time.sleep(0.1)
        raise AssertionError(f"{text!r} never showed; last screen:\n{self.screen()}")

    def alive(self) -> bool:
        return (
            subprocess.run(
                ["tmux", "has-session", "-t", self.name], capture_output=True, check=False
            ).returncode
            == 0
        )

    def kill(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.name], capture_output=True, check=False)


@pytest.fixture
def demo() -> Iterator[Tmux]:
    tmux = Tmux(f"{sys.executable} -m dockerscope.screens.demo --interval 0.5")
    try:
        yield tmux
    finally:
        tmux.kill()


def test_demo_in_tmux(demo: Tmux) -> None:
    demo.wait_for("bridge name")
    assert "docker0" in demo.screen()
    demo.keys("2")
    demo.wait_for("Chain PREROUTING")
    demo.keys("t")
    demo.wait_for("Chain FORWARD (policy DROP")
    demo.keys("?")
    demo.wait_for("show me the command")
    demo.keys("Escape")
    # ESC followed at once by q reads as alt+q: wait until the help is gone
    for _ in range(100):
        if "show me the command" not in demo.screen():
            break
        time.sleep(0.1)
    demo.keys("q")
    for _ in range(100):
        if not demo.alive():
            break
        time.sleep(0.1)
    assert not demo.alive(), "q did not quit the app"
