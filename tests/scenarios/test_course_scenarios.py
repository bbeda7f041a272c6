"""End-to-end: every course scenario autoplays headless against a real lab, all expectations met.

Each test starts its own daemon in its own lab (unique name, state under a temporary dir),
runs the scenario with the observer checking every step, and takes the lab down after, even
on failure; the autouse leak check then proves nothing was left behind.
"""

from __future__ import annotations

import importlib.util
import shutil
import tempfile
from pathlib import Path

import pytest

from dockerscope.scenario.loader import load, scenario_files

pytestmark = [pytest.mark.kernel, pytest.mark.slow]

COURSE = scenario_files()


def _engine_missing() -> str | None:
    for mod in ("dockerscope.engine.daemon", "dockerscope.kernel.observer"):
        if importlib.util.find_spec(mod) is None:
            return f"{mod} is not importable yet"
    return None


@pytest.fixture
def lab_dirs():  # type: ignore[no-untyped-def]
    # Short paths: the control socket's path must fit in sockaddr_un (108 bytes).
    base = Path(tempfile.mkdtemp(prefix="dss-"))
    base.chmod(0o755)  # like /run: the socket's own mode decides who may connect (02)
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.timeout(600)
@pytest.mark.parametrize("path", COURSE, ids=[p.stem for p in COURSE])
def test_scenario_autoplays_with_every_expectation_met(
    path: Path, lab_name: str, lab_dirs: Path
) -> None:
    reason = _engine_missing()
    if reason:
        pytest.skip(reason)
    from dockerscope.scenario.lab import LabSession

    scenario = load(path)
    session = LabSession(lab_name, run_base=lab_dirs / "run", data_base=lab_dirs / "data")
    try:
        session.up(scenario.needs.images)
        result = session.runner(scenario).run_all()
    finally:
        session.close()
    assert len(result.steps) == len(scenario.steps)
    assert result.ok, "\n".join(result.failures())
