"""Read a scenario file (TOML, ``format = 1``) into a ``Scenario``, validating every field.

Errors name the file, the line and the field: ``04-bridges.toml:31: steps[2].expect[0].link.action:
must be one of ...``. ``tomllib`` only knows lines for syntax errors, so for semantic errors the
line is found by searching the source text for the step and the field (``_Locator``).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

from dockerscope.scenario import expectations
from dockerscope.scenario.model import (
    COMMAND_KINDS,
    FORMAT_VERSION,
    PANELS,
    Choice,
    Command,
    Expectation,
    Needs,
    Predict,
    Scenario,
    Step,
    digest,
)

_ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")


class ScenarioError(ValueError):
    """A scenario file that cannot be used; says where and why."""

    def __init__(self, path: str, line: int, field: str, message: str) -> None:
        self.path = path
        self.line = line
        self.field = field
        self.message = message
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: {field}: {message}" if field else f"{where}: {message}")


class _Locator:
    """Finds the line of a field in the TOML source (1-based; 0 when not found)."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        self.step_starts = [
            i for i, line in enumerate(self.lines) if re.match(r"^\s*\[\[\s*steps\s*\]\]", line)
        ]

    def _block(self, step: int | None) -> tuple[int, int]:
        if step is None:
            end = self.step_starts[0] if self.step_starts else len(self.lines)
            return 0, end
        if step >= len(self.step_starts):
            return 0, len(self.lines)
        start = self.step_starts[step]
        end = self.step_starts[step + 1] if step + 1 < len(self.step_starts) else len(self.lines)
        return start, end

    def find(self, step: int | None, *names: str, nth: int = 0) -> int:
        """Line of ``names`` (a path such as ("expect", "link", "action")) in a step's block.

        Searches for the first name as a key or table header, then for each later name after
        it; ``nth`` picks the n-th occurrence of the first name (array elements).
        """
        start, end = self._block(step)
        if not names:
            return start + 1 if step is not None else 0
        pos = self._nth(start, end, names[0], nth)
        if pos is None:
            return start + 1 if step is not None else 0
        for name in names[1:]:
            nxt = self._nth(pos, end, name, 0)
            if nxt is None:
                break
            pos = nxt
        return pos + 1

    def _nth(self, start: int, end: int, name: str, nth: int) -> int | None:
        key = re.compile(
            rf"(^|[\s{{,\[.]){re.escape(name)}\s*=|^\s*\[\[?\s*[\w.]*\b{re.escape(name)}\s*\]\]?"
        )
        seen = 0
        for i in range(start, end):
            if key.search(self.lines[i]):
                if seen == nth:
                    return i
                seen += 1
        return None


class _Reader:
    """Walks the parsed TOML, turning problems into ``ScenarioError`` with a line."""

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.loc = _Locator(text)

    def fail(self, field: str, message: str, step: int | None, *names: str, nth: int = 0) -> None:
        raise ScenarioError(self.path, self.loc.find(step, *names, nth=nth), field, message)

    def table(
        self, data: Any, field: str, allowed: set[str], step: int | None, *names: str
    ) -> None:
        if not isinstance(data, dict):
            self.fail(field, "expected a table", step, *names)
        for key in data:
            if key not in allowed:
                hint = ""
                if not names and step is not None and key in _TOP:
                    hint = f"; top-level {key!r} must come before the first [[steps]]"
                self.fail(
                    f"{field}.{key}" if field else key,
                    f"unknown field (allowed: {', '.join(sorted(allowed))}){hint}",
                    step,
                    *names,
                    key,
                )

    def string(
        self, data: dict[str, Any], key: str, field: str, step: int | None, *, required: bool = True
    ) -> str:
        if key not in data:
            if required:
                self.fail(f"{field}{key}", "missing", step)
            return ""
        value = data[key]
        if not isinstance(value, str) or not value.strip():
            self.fail(f"{field}{key}", f"expected a non-empty string, got {value!r}", step, key)
        return str(value)


def load_text(text: str, path: str = "<string>") -> Scenario:
    """Parse and validate scenario source text."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        m = re.search(r"\(at line (\d+), column (\d+)\)", str(e))
        line = int(m.group(1)) if m else 0
        msg = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(e))
        raise ScenarioError(path, line, "", f"TOML syntax: {msg}") from None
    scenario = _build(data, _Reader(path, text))
    return _replace(scenario, path=path, sha256=digest(text.encode()))


def load(path: str | Path) -> Scenario:
    """Load one scenario file."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as e:
        raise ScenarioError(str(p), 0, "", f"cannot read: {e.strerror}") from None
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        raise ScenarioError(str(p), 0, "", "not UTF-8 text") from None
    scenario = load_text(text, str(p))
    return _replace(scenario, sha256=digest(raw))


def file_sha256(path: str | Path) -> str:
    """The hash a recording stores for its scenario file."""
    return digest(Path(path).read_bytes())


def course_dir() -> Path:
    """Folder of the shipped scenarios (the ``dockerscope.course`` package)."""
    return Path(str(resources.files("dockerscope.course")))


def scenario_files(folder: str | Path | None = None) -> list[Path]:
    """Scenario files in a folder (default: the course), sorted by name (= by section)."""
    base = Path(folder) if folder is not None else course_dir()
    return sorted(base.glob("*.toml"))


def load_course(folder: str | Path | None = None) -> list[Scenario]:
    """Every scenario of the course, sorted by section; the first bad file raises."""
    return sorted((load(p) for p in scenario_files(folder)), key=lambda s: (s.section, s.id))


def find(name: str, folder: str | Path | None = None) -> Path:
    """A scenario file by path, id (``04-bridges``) or section number (``4``)."""
    p = Path(name)
    if p.suffix == ".toml" and p.exists():
        return p
    for f in scenario_files(folder):
        stem = f.stem
        if name in (stem, stem.split("-", 1)[-1]) or (
            name.isdigit() and stem.split("-", 1)[0].lstrip("0") == name.lstrip("0")
        ):
            return f
    raise FileNotFoundError(
        f"no scenario named {name!r} (try one of: "
        + ", ".join(f.stem for f in scenario_files(folder))
        + ")"
    )


def _replace(s: Scenario, **kw: Any) -> Scenario:
    import dataclasses

    return dataclasses.replace(s, **kw)


_TOP = {"format", "id", "title", "section", "summary", "needs", "steps", "cleanup"}
_STEP = {"id", "title", "narration", "command", "commands", "focus", "expect", "predict", "settle"}
_COMMAND = {"kind", "run", "container", "background", "timeout", "show"}


def _build(data: dict[str, Any], r: _Reader) -> Scenario:
    r.table(data, "", _TOP, None)
    fmt = data.get("format")
    if fmt is None:
        r.fail("format", f"missing (this reader knows format = {FORMAT_VERSION})", None)
    if fmt != FORMAT_VERSION:
        r.fail(
            "format",
            f"unsupported version {fmt!r} (this reader knows {FORMAT_VERSION})",
            None,
            "format",
        )
    sid = r.string(data, "id", "", None)
    if not _ID.match(sid):
        r.fail("id", f"must be lower-case letters, digits and dashes, got {sid!r}", None, "id")
    title = r.string(data, "title", "", None)
    section = data.get("section")
    if isinstance(section, bool) or not isinstance(section, int) or section < 1:
        r.fail("section", f"expected a positive integer, got {section!r}", None, "section")
    assert isinstance(section, int)
    summary = r.string(data, "summary", "", None)
    needs = _needs(data.get("needs", {}), r)
    steps_raw = data.get("steps")
    if not isinstance(steps_raw, list) or not steps_raw:
        r.fail("steps", "expected at least one [[steps]] table", None, "steps")
    assert isinstance(steps_raw, list)
    steps = tuple(_step(i, s, r) for i, s in enumerate(steps_raw))
    seen: dict[str, int] = {}
    for i, s in enumerate(steps):
        if s.id in seen:
            r.fail(
                f"steps[{i}].id", f"duplicate step id {s.id!r} (also steps[{seen[s.id]}])", i, "id"
            )
        seen[s.id] = i
    cleanup_raw = data.get("cleanup", [])
    if not isinstance(cleanup_raw, list):
        r.fail("cleanup", "expected an array of commands", None, "cleanup")
    cleanup = tuple(
        _command(c, "cleanup", j, None, r, ("cleanup",)) for j, c in enumerate(cleanup_raw)
    )
    for j, c in enumerate(cleanup):
        if c.background:
            r.fail(
                f"cleanup[{j}].background",
                "cleanup commands cannot run in the background",
                None,
                "cleanup",
            )
    return Scenario(
        format=FORMAT_VERSION,
        id=sid,
        title=title,
        section=section,
        summary=summary,
        needs=needs,
        steps=steps,
        cleanup=cleanup,
    )


def _needs(raw: Any, r: _Reader) -> Needs:
    r.table(raw, "needs", {"images", "root"}, None, "needs")
    images = raw.get("images", [])
    if not isinstance(images, list) or not all(isinstance(x, str) and x for x in images):
        r.fail("needs.images", "expected a list of image names", None, "needs", "images")
    root = raw.get("root", True)
    if not isinstance(root, bool):
        r.fail("needs.root", "expected true or false", None, "needs", "root")
    return Needs(images=tuple(images), root=root)


def _step(i: int, raw: Any, r: _Reader) -> Step:
    f = f"steps[{i}]."
    r.table(raw, f"steps[{i}]", _STEP, i)
    sid = raw.get("id", f"step-{i + 1}")
    if not isinstance(sid, str) or not _ID.match(sid):
        r.fail(f + "id", f"must be lower-case letters, digits and dashes, got {sid!r}", i, "id")
    title = r.string(raw, "title", f, i)
    narration = r.string(raw, "narration", f, i)
    if "command" in raw and "commands" in raw:
        r.fail(f + "command", "give either command or commands, not both", i, "command")
    cmds_raw: list[Any]
    if "command" in raw:
        cmds_raw = [raw["command"]]
    else:
        cmds_raw = raw.get("commands", [])
        if not isinstance(cmds_raw, list):
            r.fail(f + "commands", "expected an array of commands", i, "commands")
    name = "command" if "command" in raw else "commands"
    commands = tuple(_command(c, f + name, j, i, r, (name,)) for j, c in enumerate(cmds_raw))
    focus = raw.get("focus", [])
    if not isinstance(focus, list) or not all(isinstance(x, str) for x in focus):
        r.fail(f + "focus", "expected a list of panel names", i, "focus")
    for p in focus:
        if p not in PANELS:
            r.fail(f + "focus", f"unknown panel {p!r} (known: {', '.join(PANELS)})", i, "focus")
    expect = _expectations(raw.get("expect", []), f + "expect", i, r)
    predict = _predict(raw["predict"], f + "predict", i, r) if "predict" in raw else None
    settle = raw.get("settle", 0.3)
    if isinstance(settle, bool) or not isinstance(settle, int | float) or not 0 <= settle <= 30:
        r.fail(f + "settle", f"expected seconds between 0 and 30, got {settle!r}", i, "settle")
    if not commands and (expect or predict):
        r.fail(f + "commands", "expectations and predictions need a command to observe", i)
    return Step(
        id=sid,
        title=title,
        narration=narration.strip(),
        commands=commands,
        focus=tuple(focus),
        expect=expect,
        predict=predict,
        settle=float(settle),
        line=r.loc.find(i),
    )


def _command(
    raw: Any, field: str, j: int, step: int | None, r: _Reader, names: tuple[str, ...]
) -> Command:
    f = f"{field}[{j}]"
    if isinstance(raw, str):  # short form: a docker command line
        raw = {"kind": "docker", "run": raw}
    r.table(raw, f, _COMMAND, step, *names)
    kind = raw.get("kind", "docker")
    if kind not in COMMAND_KINDS:
        r.fail(
            f + ".kind",
            f"must be one of {', '.join(COMMAND_KINDS)}; got {kind!r}",
            step,
            "kind",
            nth=j,
        )
    run = raw.get("run")
    if not isinstance(run, str) or not run.strip():
        r.fail(f + ".run", "missing or empty (the command line)", step, *names)
    assert isinstance(run, str)
    if kind == "docker" and run.split()[0] == "docker":
        r.fail(
            f + ".run",
            "leave out the leading 'docker' (kind = \"docker\" adds it)",
            step,
            "run",
            nth=j,
        )
    container = raw.get("container", "")
    if kind == "container" and (not isinstance(container, str) or not container):
        r.fail(
            f + ".container", 'kind = "container" needs the container\'s name', step, "kind", nth=j
        )
    if kind != "container" and container:
        r.fail(f + ".container", 'only for kind = "container"', step, "container")
    background = raw.get("background", False)
    if not isinstance(background, bool):
        r.fail(f + ".background", "expected true or false", step, "background")
    timeout = raw.get("timeout", 60)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        r.fail(
            f + ".timeout",
            f"expected a positive number of seconds, got {timeout!r}",
            step,
            "timeout",
        )
    show = raw.get("show", True)
    if not isinstance(show, bool):
        r.fail(f + ".show", "expected true or false", step, "show")
    return Command(
        kind=kind,
        run=run.strip(),
        container=container,
        background=background,
        timeout=float(timeout),
        show=show,
    )


def _expectation(raw: Any, field: str, step: int, r: _Reader, nth: int) -> Expectation:
    """One ``{kind = params}`` table."""
    if not isinstance(raw, dict) or len(raw) != 1:
        keys = ", ".join(raw) if isinstance(raw, dict) else type(raw).__name__
        r.fail(field, f"expected one {{kind = ...}} per expectation, got {keys}", step, "expect")
    ((kind, params),) = raw.items()
    line = r.loc.find(step, kind, nth=nth)
    if kind not in expectations.KINDS:
        known = ", ".join(expectations.KINDS)
        raise ScenarioError(
            r.path, line, f"{field}.{kind}", f"unknown expectation kind (known: {known})"
        )
    try:
        expectations.validate(kind, params)
    except expectations.ParamError as e:
        name = f"{field}.{kind}" + (f".{e.field}" if e.field else "")
        sub = r.loc.find(step, kind, e.field, nth=nth) if e.field else line
        raise ScenarioError(r.path, sub, name, e.message) from None
    return Expectation(kind=kind, params=params, line=line)


def _expectations(raw: Any, field: str, step: int, r: _Reader) -> tuple[Expectation, ...]:
    if isinstance(raw, dict):
        raw = [raw]
    if not isinstance(raw, list):
        r.fail(field, "expected an array of {kind = ...} tables", step, "expect")
    counts: dict[str, int] = {}
    out = []
    for k, item in enumerate(raw):
        kind = next(iter(item), "") if isinstance(item, dict) else ""
        nth = counts.get(kind, 0)
        counts[kind] = nth + 1
        out.append(_expectation(item, f"{field}[{k}]", step, r, nth))
    return tuple(out)


def _predict(raw: Any, field: str, step: int, r: _Reader) -> Predict:
    r.table(raw, field, {"question", "choices", "answer", "explain"}, step, "predict")
    question = r.string(raw, "question", field + ".", step)
    choices_raw = raw.get("choices")
    if not isinstance(choices_raw, list) or len(choices_raw) < 2:
        r.fail(field + ".choices", "expected at least two choices", step, "choices")
    assert isinstance(choices_raw, list)
    choices = []
    for k, c in enumerate(choices_raw):
        cf = f"{field}.choices[{k}]"
        if isinstance(c, str):
            choices.append(Choice(text=c))
            continue
        r.table(c, cf, {"text", "expect"}, step, "choices")
        text = r.string(c, "text", cf + ".", step)
        exp = _expectation(c["expect"], cf + ".expect", step, r, 0) if "expect" in c else None
        choices.append(Choice(text=text, expect=exp))
    answer = raw.get("answer")
    if isinstance(answer, bool) or not isinstance(answer, int) or not 0 <= answer < len(choices):
        r.fail(
            field + ".answer",
            f"expected a choice index 0..{len(choices) - 1}, got {answer!r}",
            step,
            "answer",
        )
    assert isinstance(answer, int)
    explain = raw.get("explain", "")
    if not isinstance(explain, str):
        r.fail(field + ".explain", "expected a string", step, "explain")
    return Predict(question=question, choices=tuple(choices), answer=answer, explain=explain)


def iter_errors(folder: str | Path | None = None) -> Iterator[ScenarioError]:
    """Every scenario file's load error, for a lint pass over a folder."""
    for p in scenario_files(folder):
        try:
            load(p)
        except ScenarioError as e:
            yield e
