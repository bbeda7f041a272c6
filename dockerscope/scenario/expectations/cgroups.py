"""Kinds about control groups: ``cgroup`` (its figures) and ``cpu_ratio`` (two containers' CPU
time during a step)."""

from __future__ import annotations

from typing import Any

from dockerscope.scenario.expectations.compare import cmp_text, compare
from dockerscope.scenario.expectations.matching import (
    count_verdict,
    count_words,
    glob,
    owner_matches,
    select,
)
from dockerscope.scenario.expectations.observed import Observed, Verdict
from dockerscope.scenario.expectations.registry import Kind, register
from dockerscope.scenario.expectations.schema import (
    ParamError,
    Schema,
    action,
    comparison,
    string,
)

# ------------------------------------------------------------------ cgroup


_CGROUP_FIGURES = (
    "oom_kills",
    "memory_limit",
    "memory_usage",
    "pids_current",
    "pids_limit",
    "cpu_shares",
    "cpu_quota_us",
)


def _cgroup_check(o: Observed, p: dict[str, Any]) -> Verdict:
    figures = {k: p[k] for k in _CGROUP_FIGURES if k in p}

    def pred(cg: Any) -> bool:
        return (
            glob(cg.path, p.get("path"))
            and owner_matches(cg.owner, p.get("owner"))
            and all(compare(getattr(cg, k), v) for k, v in figures.items())
        )

    action = p.get("action", "present")
    found = select(o, "cgroups", action, pred)
    what = "cgroup " + " ".join(
        f"{k}{v if str(v)[:1] in '<>=!' else '=' + str(v)}" for k, v in figures.items()
    )
    verdict = count_verdict(
        found,
        action,
        p.get("count"),
        what.strip(),
        lambda c: f"{c.path} (" + ", ".join(f"{k}={getattr(c, k)}" for k in figures) + ")",
    )
    if verdict.ok or action == "absent" or found:
        return verdict
    # Say what the candidate cgroups did show, which is what a teacher wants to see.
    near = [
        c
        for c in o.after.cgroups
        if glob(c.path, p.get("path")) and owner_matches(c.owner, p.get("owner"))
    ]
    if near:
        shown = "; ".join(
            f"{c.path}: " + ", ".join(f"{k}={getattr(c, k)}" for k in figures) for c in near[:3]
        )
        return Verdict(False, f"{verdict.detail}; seen {shown}")
    return verdict


def _phrase_cgroup(p: dict[str, Any]) -> str:
    who = f"cgroup of {p['owner']}" if "owner" in p else f"cgroup {p.get('path', '*')}"
    figs = ", ".join(f"{k.replace('_', ' ')} {cmp_text(p[k])}" for k in _CGROUP_FIGURES if k in p)
    return f"{who}: {figs}" if figs else f"{who} {count_words(p, 'present')}"


register(
    "cgroup",
    Kind(
        Schema(
            path=string,
            owner=string,
            action=action,
            count=comparison,
            **{k: comparison for k in _CGROUP_FIGURES},
        ),
        _cgroup_check,
        "a cgroup whose figures (oom_kills, memory_limit, pids_current, ...) compare as given",
        _phrase_cgroup,
    ),
)

# ------------------------------------------------------------------ cpu_ratio


def _cpu_ratio_validate(params: Any) -> None:
    Schema(faster=string, slower=string, ratio=comparison)(params)
    for key in ("faster", "slower", "ratio"):
        if key not in params:
            raise ParamError(key, "missing")


def _cpu_used(o: Observed, owner: str) -> int | None:
    """CPU time an owner's cgroup used during the step (all of it if the cgroup is new)."""
    after = [c for c in o.after.cgroups if owner_matches(c.owner, owner)]
    if not after or after[0].cpu_usage_ns is None:
        return None
    before = {c.path: c.cpu_usage_ns or 0 for c in o.before.cgroups}
    return after[0].cpu_usage_ns - before.get(after[0].path, 0)


def _cpu_ratio_check(o: Observed, p: dict[str, Any]) -> Verdict:
    fast, slow = _cpu_used(o, p["faster"]), _cpu_used(o, p["slower"])
    if fast is None or slow is None:
        missing = p["faster"] if fast is None else p["slower"]
        return Verdict(False, f"no cpu figures seen for {missing}")
    ratio = fast / slow if slow > 0 else float("inf")
    detail = (
        f"{p['faster']} used {fast / 1e9:.2f} s of CPU, {p['slower']} {slow / 1e9:.2f} s:"
        f" {ratio:.1f} times as much (wanted {p['ratio']})"
    )
    return Verdict(compare(ratio, p["ratio"]), detail)


def _phrase_cpu_ratio(p: dict[str, Any]) -> str:
    return f"{p['faster']} gets {p['ratio']} times the CPU time of {p['slower']}"


register(
    "cpu_ratio",
    Kind(
        _cpu_ratio_validate,
        _cpu_ratio_check,
        "one container's CPU time during the step against another's",
        _phrase_cpu_ratio,
    ),
)
