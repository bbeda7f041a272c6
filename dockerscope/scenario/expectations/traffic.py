"""The ``api`` kind: requests that crossed the control socket, from the daemon's traffic tap."""

from __future__ import annotations

from typing import Any

from dockerscope.kernel.model import ApiCall
from dockerscope.scenario.expectations.compare import cmp_text, compare
from dockerscope.scenario.expectations.matching import count_verdict, glob
from dockerscope.scenario.expectations.observed import Observed, Verdict
from dockerscope.scenario.expectations.registry import Kind, register
from dockerscope.scenario.expectations.schema import ParamError, Schema, comparison, string

#: User-Agent of the observer's own API calls (attribution hints), left out of ``api`` checks.
#: The same text as ``kernel.hints.OBSERVER_AGENT`` (a test holds them equal): replay
#: imports this module and must not load the socket client that attribution uses.
OBSERVER_AGENT = "dockerscope-observer"


def _api_check(o: Observed, p: dict[str, Any]) -> Verdict:
    def pred(c: ApiCall) -> bool:
        if not glob(c.method, p.get("method")):
            return False
        if not glob(c.path.split("?", 1)[0], p.get("path")):
            return False
        if "status" in p and not compare(c.status, p["status"]):
            return False
        fc = p.get("from_container")
        if fc is True and not c.client_container:
            return False
        if fc is False and c.client_container:
            return False
        return not (isinstance(fc, str) and not glob(c.client_container, fc))

    # The observer asks the socket who owns what; those calls are the scope's, not the lesson's.
    lesson = [c for c in o.traffic if not c.user_agent.startswith(OBSERVER_AGENT)]
    found = [c for c in lesson if pred(c)]
    what = f"API {p.get('method', '*')} {p.get('path', '*')}"
    if "from_container" in p:
        what += f" from container {p['from_container']}"

    def label(c: ApiCall) -> str:
        src = f" (from {c.client_container})" if c.client_container else ""
        return f"{c.method} {c.path.split('?', 1)[0]} -> {c.status}{src}"

    verdict = count_verdict(found, "present", p.get("count"), what, label)
    if not verdict.ok and lesson:
        seen = ", ".join(label(c) for c in lesson[-3:])
        return Verdict(False, f"{verdict.detail}; last seen {seen}")
    return verdict


def _from_container(key: str, value: Any) -> None:
    if not isinstance(value, bool | str):
        raise ParamError(key, f"expected true, false or a container name, got {value!r}")


def _phrase_api(p: dict[str, Any]) -> str:
    text = f"request {p.get('method', '')} {p.get('path', '*')}".replace("  ", " ")
    if "status" in p:
        text += f" answered {cmp_text(p['status'])}".replace("answered = ", "answered ")
    fc = p.get("from_container")
    if fc is True:
        text += " from a container"
    elif fc is False:
        text += " from the host"
    elif fc:
        text += f" from container {fc}"
    count = p.get("count")
    if count is not None and str(count) in ("0", "=0", "==0"):
        return f"no {text} crossed the socket"
    return f"{text} crossed the socket" + (f" ({count})" if count is not None else "")


register(
    "api",
    Kind(
        Schema(
            method=string,
            path=string,
            status=comparison,
            from_container=_from_container,
            count=comparison,
        ),
        _api_check,
        "a request that crossed the control socket (from the traffic tap)",
        _phrase_api,
    ),
)
