"""Replay runs as an unprivileged user, on a bare Python, with nothing Linux-specific loaded."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from dockerscope.scenario.loader import course_dir
from tests.unit.test_scenario_recording import _record

REPO = Path(__file__).resolve().parents[2]
NOBODY = 65534

PLAY = """
import asyncio, os, sys
from dockerscope.scenario.replay import ReplaySource
assert os.geteuid() != 0, "meant to run unprivileged"
total = 0
for path in sys.argv[1:]:
    src = ReplaySource(path, speed=1e6)
    async def go(src=src):
        n = 0
        async for frame in src.frames():
            n += 1
        return n
    n = asyncio.run(go())
    assert n == len(src.moments) and src.finished, path
    total += n
bad = sorted(m for m in sys.modules if m.split(".")[0] in ("textual", "pyroute2", "iptc")
             or m.startswith(("dockerscope.engine", "dockerscope.kernel.observer",
                              "dockerscope.client")))
print(total, ",".join(bad) or "-")
"""


def _python_for_nobody() -> str:
    """An interpreter the unprivileged user can run (the test's own may live under /root)."""
    exe = Path(sys.executable).resolve()
    if all(os.stat(p).st_mode & stat.S_IXOTH for p in [exe, *exe.parents]):
        return str(exe)
    for cand in ("/usr/bin/python3", "/usr/local/bin/python3"):
        if os.access(cand, os.X_OK):
            return cand
    pytest.skip("no Python interpreter readable by an unprivileged user")


def test_replay_plays_to_the_end_unprivileged(tmp_path: Path) -> None:
    # A world-readable copy of the recordings: tmp_path itself is private to root.
    share = Path(f"/tmp/dockerscope-replay-{os.getpid()}")
    share.mkdir(mode=0o755)
    try:
        files = []
        demo = share / "demo.jsonl"
        demo.write_text(_record()[0])
        files.append(demo)
        for rec in sorted((course_dir() / "recordings").glob("*.jsonl")):
            files.append(Path(shutil.copy(rec, share / rec.name)))
        for f in files:
            f.chmod(0o644)
        cmd = [_python_for_nobody(), "-c", PLAY, *map(str, files)]
        if os.geteuid() == 0:
            cmd = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *cmd]
        env = {
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(REPO),
            "HOME": "/nonexistent",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env, cwd="/")
        assert out.returncode == 0, out.stderr
        frames, bad = out.stdout.split()
        assert int(frames) > len(files)
        assert bad == "-", f"replay loaded privileged or UI modules: {bad}"
    finally:
        shutil.rmtree(share)
