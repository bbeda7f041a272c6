"""Kinds about the step's commands: ``output`` (text in what one printed) and ``exit_code``."""

from __future__ import annotations

import re
from typing import Any

from dockerscope.scenario.expectations.compare import cmp_text, compare
from dockerscope.scenario.expectations.observed import Observed, Verdict
from dockerscope.scenario.expectations.registry import Kind, register
from dockerscope.scenario.expectations.schema import (
    ParamError,
    Schema,
    comparison,
    integer,
    one_of,
    regex,
    string,
)
from dockerscope.scenario.model import CommandResult


def _pick_result(o: Observed, index: int | None) -> CommandResult | None:
    fg = [r for r in o.results if not r.background]
    if index is None:
        return fg[-1] if fg else (o.results[-1] if o.results else None)
    return o.results[index] if 0 <= index < len(o.results) else None


# ------------------------------------------------------------------ output


def _output_params(params: Any) -> dict[str, Any]:
    return {"contains": params} if isinstance(params, str) else dict(params)


def _output_validate(params: Any) -> None:
    if isinstance(params, str):
        string("", params)
        return
    Schema(
        contains=string,
        not_contains=string,
        matches=regex,
        command=integer,
        stream=one_of("stdout", "stderr", "any"),
    )(params)
    if not any(k in params for k in ("contains", "not_contains", "matches")):
        raise ParamError("contains", "missing: give contains, not_contains or matches")


def _output_check(o: Observed, params: Any) -> Verdict:
    p = _output_params(params)
    r = _pick_result(o, p.get("command"))
    if r is None:
        return Verdict(False, "no command output to look at")
    stream = p.get("stream", "any")
    text = {"stdout": r.stdout, "stderr": r.stderr}.get(stream, r.stdout + r.stderr)
    tail = text.strip().splitlines()[-1:] if text.strip() else ["(no output)"]
    if "contains" in p and p["contains"] not in text:
        return Verdict(False, f"output of `{r.command}` lacks {p['contains']!r}; ends {tail[0]!r}")
    if "not_contains" in p and p["not_contains"] in text:
        return Verdict(False, f"output of `{r.command}` has {p['not_contains']!r}")
    if "matches" in p and not re.search(p["matches"], text, re.MULTILINE):
        return Verdict(False, f"output of `{r.command}` does not match /{p['matches']}/")
    shown = p.get("contains") or p.get("matches") or f"no {p.get('not_contains')!r}"
    return Verdict(True, f"output of `{r.command}` has {shown!r}")


def _phrase_output(params: Any) -> str:
    p = _output_params(params)
    which = f"command {p['command'] + 1}" if "command" in p else "the output"
    if "contains" in p:
        return f"{which} shows {p['contains']!r}"
    if "not_contains" in p:
        return f"{which} does not show {p['not_contains']!r}"
    return f"{which} matches /{p['matches']}/"


register(
    "output", Kind(_output_validate, _output_check, "text in a command's output", _phrase_output)
)

# ------------------------------------------------------------------ exit_code


def _exit_params(params: Any) -> dict[str, Any]:
    return {"code": params} if isinstance(params, int | str) else dict(params)


def _exit_validate(params: Any) -> None:
    if isinstance(params, int | str) and not isinstance(params, bool):
        comparison("", params)
        return
    Schema(code=comparison, command=integer)(params)
    if "code" not in params:
        raise ParamError("code", "missing")


def _exit_check(o: Observed, params: Any) -> Verdict:
    p = _exit_params(params)
    r = _pick_result(o, p.get("command"))
    if r is None:
        return Verdict(False, "no command ran")
    ok = compare(r.exit_code, p["code"])
    wanted = "" if ok else f", wanted {p['code']}"
    return Verdict(ok, f"`{r.command}` exited {r.exit_code}{wanted}")


def _phrase_exit(params: Any) -> str:
    p = _exit_params(params)
    which = f"command {p['command'] + 1}" if "command" in p else "the command"
    return f"{which} exits {cmp_text(p['code'])}".replace("exits = ", "exits ")


register("exit_code", Kind(_exit_validate, _exit_check, "a command's exit code", _phrase_exit))
