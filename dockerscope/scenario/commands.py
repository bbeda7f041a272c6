"""Command-line entry points for scenarios: run, record, regenerate, replay, check.

``python -m dockerscope.scenario <command>``; ``dockerscope record|replay|course ...`` call the
same functions. Printing uses plain text so these work over ssh and in CI logs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any, TextIO

from dockerscope.scenario.expectations import describe
from dockerscope.scenario.loader import ScenarioError, course_dir, find, load, load_course
from dockerscope.scenario.recording import RecordingError


def _lab_name(prefix: str = "rec") -> str:
    return prefix + uuid.uuid4().hex[:6]


def print_step(result: Any, out: TextIO) -> None:
    """One step's outcome as text: commands, output tails and a tick or cross per check."""
    mark = "PASS" if result.ok else "FAIL"
    out.write(f"[{mark}] step {result.index + 1}: {result.step.title}\n")
    for r in result.results:
        out.write(f"    $ {r.command}  -> {r.exit_code}\n")
    for c in result.checked:
        out.write(
            f"    {'✓' if c.verdict.ok else '✗'} {describe(c.expectation)}: {c.verdict.detail}\n"
        )
    if result.predict is not None:
        ok = "agrees" if result.predict.consistent else "DISAGREES"
        out.write(f"    predict: answer {result.predict.answer}, kernel {ok}\n")
    out.flush()


def _session(lab: Any) -> tuple[Any, Path | None]:
    """A session on ``lab`` (a name or an engine Lab), or on a new temporary lab; with the
    temporary base dir to remove afterwards."""
    from dockerscope.scenario.lab import LabSession

    if isinstance(lab, str) and lab:  # an existing (or default-located) lab, by name
        return LabSession(lab), None
    if lab is not None:  # an engine Lab: its own locations
        session = LabSession(
            lab.name, run_base=Path(lab.run_root).parent, data_base=Path(lab.data_root).parent
        )
        return session, None
    base = Path(tempfile.mkdtemp(prefix="dockerscope-rec-"))
    # Traversable like /run: file modes in the lab (the socket's) must be what decides access.
    os.chmod(base, 0o755)
    return LabSession(_lab_name(), run_base=base / "run", data_base=base / "data"), base


def run_one(path: Path, out_file: Path | None, lab: Any, out: TextIO, result: bool = False) -> Any:
    """Autoplay one scenario on a lab (new and temporary unless ``lab`` is given).

    With ``out_file`` the run is recorded; the file is only written if every expectation held,
    so a shipped recording always shows a run that proved itself. Returns whether it passed,
    or (``result=True``) the ``ScenarioResult`` (without steps when the lab was not ready).
    """
    scenario = load(path)
    out.write(f"== {scenario.section}. {scenario.title} ({scenario.id})\n")
    session, base = _session(lab)
    try:
        res = _run_session(session, scenario, out_file, out)
    finally:
        session.close()
        if base is not None:
            shutil.rmtree(base, ignore_errors=True)
    return res if result else bool(res.ok)


def _run_session(session: Any, scenario: Any, out_file: Path | None, out: TextIO) -> Any:
    """Prepare the lab, then run (and record) the scenario; returns the ScenarioResult."""
    from dockerscope.scenario.lab import LabError
    from dockerscope.scenario.recorder import record_run, write_atomically
    from dockerscope.scenario.runner import ScenarioResult

    try:
        session.up(scenario.needs.images)
    except LabError as e:
        out.write(f"lab not ready: {e}\n")
        return ScenarioResult(scenario)  # no steps: not ok
    runner = session.runner(scenario)
    if out_file is None:
        res = runner.run_all()
        for step in res.steps:
            print_step(step, out)
        return res

    def write(fp: Any) -> Any:
        res = record_run(runner, fp, lab=session.name)
        for step in res.steps:
            print_step(step, out)
        if not res.ok:
            raise _NotRecorded(res)
        return res

    try:
        res = write_atomically(out_file, write)
    except _NotRecorded as e:
        out.write(f"not recorded: {len(e.failures)} expectation(s) unmet\n")
        return e.result
    out.write(f"recorded {out_file}\n")
    return res


class _NotRecorded(Exception):
    def __init__(self, res: Any) -> None:
        self.failures = res.failures()
        super().__init__("; ".join(self.failures))
        self.result = res


def cmd_run(args: argparse.Namespace) -> int:
    ok = run_one(find(args.scenario), None, args.lab, sys.stdout)
    return 0 if ok else 1


def cmd_record(args: argparse.Namespace) -> int:
    path = find(args.scenario)
    target = Path(args.output) if args.output else Path(f"{path.stem}.jsonl")
    return 0 if run_one(path, target, args.lab, sys.stdout) else 1


def cmd_regenerate(args: argparse.Namespace) -> int:
    """Re-record every course scenario (or those named), each in a fresh temporary lab."""
    from dockerscope.scenario.recording import check_recordings

    folder = course_dir()
    rec_dir = folder / "recordings"
    rec_dir.mkdir(exist_ok=True)
    paths = [find(n) for n in args.scenarios] if args.scenarios else sorted(folder.glob("*.toml"))
    if args.stale:
        report = check_recordings(folder)
        wanted = set(report.stale) | set(report.missing)
        paths = [p for p in paths if p.stem in wanted]
    failed = []
    for p in paths:
        if not run_one(p, rec_dir / f"{p.stem}.jsonl", None, sys.stdout):
            failed.append(p.stem)
    if failed:
        print(f"failed: {', '.join(failed)} (their old recordings, if any, are kept)")
        return 1
    print(f"{len(paths)} recording(s) written to {rec_dir}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    """Validate every scenario file and compare recordings with their scenarios."""
    from dockerscope.scenario.recording import check_recordings

    folder = Path(args.folder) if args.folder else course_dir()
    if not folder.is_dir():
        raise FileNotFoundError(f"no folder {folder}")
    try:
        course = load_course(folder)
    except ScenarioError as e:
        print(e)
        return 1
    print(f"{len(course)} scenario(s) valid")
    report = check_recordings(folder)
    for label, items in (
        ("missing", report.missing),
        ("stale", report.stale),
        ("orphan", report.orphans),
    ):
        for sid in items:
            print(f"recording {label}: {sid}")
    return 1 if report.stale or report.orphans else 0


def cmd_replay(args: argparse.Namespace) -> int:
    """Play a recording as text (``--text``), without any UI: handy over ssh and in tests."""
    from dockerscope.scenario.expectations.traffic import OBSERVER_AGENT
    from dockerscope.scenario.replay import ReplaySource

    src = ReplaySource(args.file, speed=args.speed)

    async def play() -> int:
        n = 0
        async for frame in src.frames():
            n += 1
            changes = len(frame.diff.changes)
            head = f"-- frame {n}/{len(src.moments)} t={frame.extra['t']:.1f}s"
            print(f"{head} step {frame.extra['step'] + 1}, {changes} change(s)")
            if frame.note:
                print(frame.note)
            for call in frame.traffic:
                if call.user_agent.startswith(OBSERVER_AGENT):
                    continue  # the scope's own questions, not the lesson's
                where = f" from {call.client_container}" if call.client_container else ""
                print(f"   socket: {call.method} {call.path.split('?')[0]} -> {call.status}{where}")
        return n

    asyncio.run(play())
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m dockerscope.scenario",
        description="Course scenarios: run, record, replay, check.",
    )
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="autoplay a scenario headless against a lab")
    r.add_argument("scenario", help="file, id (04-bridges) or section number")
    r.add_argument("--lab", help="use this existing lab instead of a temporary one")
    r.set_defaults(fn=cmd_run)
    rec = sub.add_parser("record", help="autoplay a scenario and write a recording")
    rec.add_argument("scenario")
    rec.add_argument("-o", "--output", help="recording file (default <id>.jsonl)")
    rec.add_argument("--lab", help="use this existing lab instead of a temporary one")
    rec.set_defaults(fn=cmd_record)
    g = sub.add_parser("regenerate", help="re-record the course's shipped recordings")
    g.add_argument("scenarios", nargs="*", help="only these (default: all)")
    g.add_argument("--stale", action="store_true", help="only missing or out-of-date ones")
    g.set_defaults(fn=cmd_regenerate)
    c = sub.add_parser("check", help="validate scenarios and the recordings' freshness")
    c.add_argument("folder", nargs="?")
    c.set_defaults(fn=cmd_check)
    pl = sub.add_parser("replay", help="play a recording as text")
    pl.add_argument("file")
    pl.add_argument("--speed", type=float, default=1.0)
    pl.set_defaults(fn=cmd_replay)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.cmd in ("run", "record", "regenerate") and os.geteuid() != 0:
        print("a live lab needs root; `replay` works without it", file=sys.stderr)
        return 2
    try:
        return int(args.fn(args))
    except BrokenPipeError:  # output piped into head and closed: not an error
        return 0
    except (ScenarioError, RecordingError, FileNotFoundError) as e:
        print(e, file=sys.stderr)
        return 1
