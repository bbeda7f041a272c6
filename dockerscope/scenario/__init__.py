"""Course scenarios: model, loader, expectations, runner, recording and replay.

Importing this package loads nothing heavy: replay (``dockerscope.scenario.replay``) must work
on any machine with Python, so the live-lab parts are imported only when used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def record(scenario: str, output: str | Path, lab: Any = None) -> Any:
    """``dockerscope record SCENARIO -o FILE``: autoplay on a lab and write the recording.

    ``scenario`` is a file, an id or a section number; ``lab`` an engine ``Lab`` (its daemon is
    used, or started and stopped again), or None for a temporary lab made and removed here.
    Returns the run's ``ScenarioResult``; the file is written only when every expectation held.
    """
    import sys

    from dockerscope.scenario.commands import run_one
    from dockerscope.scenario.loader import find

    return run_one(find(scenario), Path(output), lab, sys.stdout, result=True)
