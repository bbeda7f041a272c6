"""Declarative expectations, each a pure function of what the observer saw around a step.

An expectation kind is a pair of functions: ``validate(params)`` (used by the loader, raises
``ParamError`` naming the bad field) and ``check(observed, params) -> Verdict``. ``observed``
bundles the observer's snapshot before and after the step, the diff between them, the commands'
results and the socket traffic seen meanwhile. Nothing here looks at the engine's own state: a
bridge is "there" only if the kernel shows it.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from dockerscope.kernel.model import ApiCall, Diff, Owner, Snapshot
from dockerscope.kernel.model import diff as compute_diff
from dockerscope.scenario.model import CommandResult, Expectation


@dataclass(frozen=True)
class Verdict:
    """Whether an expectation held, and a line saying what was seen."""

    ok: bool
    detail: str


@dataclass(frozen=True)
class Observed:
    """Everything an expectation may look at for one step."""

    before: Snapshot
    after: Snapshot
    diff: Diff = field(default_factory=Diff)
    results: tuple[CommandResult, ...] = ()
    traffic: tuple[ApiCall, ...] = ()

    @classmethod
    def between(
        cls,
        before: Snapshot,
        after: Snapshot,
        results: Iterable[CommandResult] = (),
        traffic: Iterable[ApiCall] = (),
    ) -> Observed:
        """Build one, computing the diff."""
        return cls(before, after, compute_diff(before, after), tuple(results), tuple(traffic))

    @property
    def lab(self) -> str:
        """The lab's name when the snapshots are of a lab (scope ``lab:NAME``), else ""."""
        scope = self.after.scope
        return scope.split(":", 1)[1] if scope.startswith("lab:") else ""


class ParamError(ValueError):
    """A bad expectation parameter; ``field`` is its dotted name below the expectation."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name
        self.message = message


# ---------------------------------------------------------------------------------------------
# Small helpers shared by the kinds


_CMP = re.compile(r"^\s*(>=|<=|==|!=|>|<|=)?\s*(-?\d+(?:\.\d+)?)\s*([kmgKMG]?)\s*$")
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def parse_compare(spec: Any) -> tuple[str, float]:
    """``">0"``, ``">=20"``, ``"=64m"``, ``137`` -> (operator, number). ValueError if malformed."""
    if isinstance(spec, bool):
        raise ValueError(f"expected a number or a comparison like '>0', got {spec!r}")
    if isinstance(spec, int | float):
        return "==", float(spec)
    if not isinstance(spec, str):
        raise ValueError(f"expected a number or a comparison like '>0', got {spec!r}")
    m = _CMP.match(spec)
    if not m:
        raise ValueError(f"expected a comparison like '>0', '>=20', '=64m', got {spec!r}")
    op = m.group(1) or "=="
    if op == "=":
        op = "=="
    return op, float(m.group(2)) * _UNITS[m.group(3).lower()]


def compare(value: float | int | None, spec: Any) -> bool:
    """Does ``value`` satisfy ``spec`` (``parse_compare``; a list: all of them)? None never does."""
    if value is None:
        return False
    if isinstance(spec, list):
        return all(compare(value, s) for s in spec)
    op, n = parse_compare(spec)
    return {
        "==": value == n,
        "!=": value != n,
        ">": value > n,
        "<": value < n,
        ">=": value >= n,
        "<=": value <= n,
    }[op]


def _glob(value: str | None, pattern: str | None) -> bool:
    if pattern is None:
        return True
    return value is not None and fnmatch.fnmatchcase(value, pattern)


def _owner_matches(owner: Owner | None, pattern: str | None) -> bool:
    if pattern is None:
        return True
    if owner is None:
        return False
    return fnmatch.fnmatchcase(owner.name, pattern) or fnmatch.fnmatchcase(owner.label(), pattern)


def _netns_pattern(pattern: str | None, observed: Observed) -> str | None:
    """``lab`` in a scenario file means the lab host's namespace, whatever the lab is called."""
    if pattern == "lab" and observed.lab:
        return observed.lab
    return pattern


#: User-Agent of the observer's own API calls (attribution hints), left out of ``api`` checks.
OBSERVER_AGENT = "dockerscope-observer"

_ACTIONS_DIFF = ("added", "removed", "changed")
_ACTIONS = ("added", "removed", "changed", "present", "absent")


def _select(
    observed: Observed,
    collection: str,
    action: str,
    pred: Callable[[Any], bool],
) -> list[Any]:
    """Objects of one collection matching ``pred`` for an action (diff-based or state-based)."""
    if action in _ACTIONS_DIFF:
        out = []
        for c in observed.diff.of(collection, action):
            obj = c.before if action == "removed" else c.after
            if pred(obj):
                out.append(obj)
        return out
    return [o for o in getattr(observed.after, collection) if pred(o)]


def _count_verdict(
    found: list[Any], action: str, count: Any, what: str, label: Callable[[Any], str]
) -> Verdict:
    """Turn the matching objects into a verdict, honouring ``action`` and ``count``."""
    names = ", ".join(label(o) for o in found[:4]) + (" ..." if len(found) > 4 else "")
    if action == "absent":
        if found:
            return Verdict(False, f"{what}: still present: {names}")
        return Verdict(True, f"{what}: none present")
    spec = ">0" if count is None else count
    verb = "present" if action == "present" else action
    if compare(len(found), spec):
        shown = f": {names}" if found else ""
        return Verdict(True, f"{what}: {len(found)} {verb}{shown}")
    if found:
        return Verdict(False, f"{what}: {len(found)} {verb} (wanted {spec}): {names}")
    return Verdict(False, f"{what}: none {verb}")


# ---------------------------------------------------------------------------------------------
# Parameter validation


class _Schema:
    """Allowed keys of a dict-form expectation and how to check each value."""

    def __init__(self, **fields: Callable[[str, Any], None]) -> None:
        self.fields = fields

    def __call__(self, params: Any) -> None:
        if not isinstance(params, dict):
            raise ParamError("", f"expected a table like {{{', '.join(self.fields)}}}")
        for key, value in params.items():
            if key not in self.fields:
                allowed = ", ".join(self.fields)
                raise ParamError(key, f"unknown field (allowed: {allowed})")
            self.fields[key](key, value)


def _str(key: str, value: Any) -> None:
    if not isinstance(value, str) or not value:
        raise ParamError(key, f"expected a non-empty string, got {value!r}")


def _regex(key: str, value: Any) -> None:
    _str(key, value)
    try:
        re.compile(value)
    except re.error as e:
        raise ParamError(key, f"bad regular expression: {e}") from None


def _bool(key: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise ParamError(key, f"expected true or false, got {value!r}")


def _int(key: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ParamError(key, f"expected an integer, got {value!r}")


def _cmp(key: str, value: Any) -> None:
    if isinstance(value, list) and value:
        for v in value:
            _cmp(key, v)
        return
    try:
        parse_compare(value)
    except ValueError as e:
        raise ParamError(key, str(e)) from None


def _one_of(*choices: str) -> Callable[[str, Any], None]:
    def check(key: str, value: Any) -> None:
        if value not in choices:
            raise ParamError(key, f"must be one of {', '.join(choices)}; got {value!r}")

    return check


_action = _one_of(*_ACTIONS)


# ---------------------------------------------------------------------------------------------
# The kinds


def _link_check(o: Observed, p: dict[str, Any]) -> Verdict:
    netns = _netns_pattern(p.get("netns"), o)

    def pred(link: Any) -> bool:
        return (
            _glob(link.name, p.get("name"))
            and _glob(link.kind, p.get("kind"))
            and _glob(link.master, p.get("master"))
            and _glob(link.netns, netns)
            and _glob(link.state, p.get("state"))
        )

    action = p.get("action", "added")
    found = _select(o, "links", action, pred)
    what = f"{p.get('kind', 'link')} {p.get('name', '*')}"
    return _count_verdict(found, action, p.get("count"), what, lambda x: f"{x.name}@{x.netns}")


def _rule_check(o: Observed, p: dict[str, Any]) -> Verdict:
    netns = _netns_pattern(p.get("netns"), o)
    rx = re.compile(p["match"]) if "match" in p else None
    table = p.get("table", "nat")

    def pred(rule: Any) -> bool:
        return (
            rule.table == table
            and _glob(rule.chain, p.get("chain"))
            and _glob(rule.netns, netns)
            and (rx is None or rx.search(f"-A {rule.chain} {rule.spec}") is not None)
        )

    action = p.get("action", "added")
    found = _select(o, "rules", action, pred)
    if "packets" in p and action not in ("removed", "absent"):
        found = [r for r in found if compare(r.packets, p["packets"])]
    if p.get("moved"):
        old = {r.key: r.packets for r in o.before.rules}
        found = [r for r in found if r.packets > old.get(r.key, 0)]
    what = f"rule {table}/{p.get('chain', '*')}" + (f" ~ {p['match']}" if "match" in p else "")
    return _count_verdict(
        found, action, p.get("count"), what, lambda r: f"-A {r.chain} {r.spec} [{r.packets} pkts]"
    )


def _veth_params(params: Any) -> dict[str, Any]:
    return {"bridge": params} if isinstance(params, str) else dict(params)


def _veth_validate(params: Any) -> None:
    if isinstance(params, str):
        _str("", params)
        return
    _Schema(bridge=_str, action=_action, count=_cmp, netns=_str)(params)
    if "bridge" not in params:
        raise ParamError("bridge", "missing (the bridge the veth should be plugged into)")


def _veth_check(o: Observed, params: Any) -> Verdict:
    p = _veth_params(params)
    netns = _netns_pattern(p.get("netns"), o)

    def pred(link: Any) -> bool:
        return link.kind == "veth" and _glob(link.master, p["bridge"]) and _glob(link.netns, netns)

    action = p.get("action", "added")
    found = _select(o, "links", action, pred)
    return _count_verdict(found, action, p.get("count"), f"veth on {p['bridge']}", lambda x: x.name)


def _flow_check(o: Observed, p: dict[str, Any]) -> Verdict:
    netns = _netns_pattern(p.get("netns"), o)

    def pred(f: Any) -> bool:
        return (
            _glob(f.proto, p.get("proto"))
            and _glob(f.netns, netns)
            and ("dnat" not in p or f.dnat == p["dnat"])
            and ("snat" not in p or f.snat == p["snat"])
            and ("dport" not in p or f.orig_dport == p["dport"])
            and ("to" not in p or _glob(f.reply_src, p["to"]))
        )

    action = p.get("action", "present")
    found = _select(o, "flows", action, pred)
    bits = [f"{k}={p[k]}" for k in ("proto", "dnat", "snat", "dport", "to") if k in p]
    return _count_verdict(
        found,
        action,
        p.get("count"),
        "flow " + " ".join(bits),
        lambda f: (
            f"{f.proto} {f.orig_src}:{f.orig_sport}>{f.orig_dst}:{f.orig_dport}"
            f" reply {f.reply_src}:{f.reply_sport}>{f.reply_dst}:{f.reply_dport}"
        ),
    )


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
            _glob(cg.path, p.get("path"))
            and _owner_matches(cg.owner, p.get("owner"))
            and all(compare(getattr(cg, k), v) for k, v in figures.items())
        )

    action = p.get("action", "present")
    found = _select(o, "cgroups", action, pred)
    what = "cgroup " + " ".join(
        f"{k}{v if str(v)[:1] in '<>=!' else '=' + str(v)}" for k, v in figures.items()
    )
    verdict = _count_verdict(
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
        if _glob(c.path, p.get("path")) and _owner_matches(c.owner, p.get("owner"))
    ]
    if near:
        shown = "; ".join(
            f"{c.path}: " + ", ".join(f"{k}={getattr(c, k)}" for k in figures) for c in near[:3]
        )
        return Verdict(False, f"{verdict.detail}; seen {shown}")
    return verdict


def _cpu_ratio_validate(params: Any) -> None:
    _Schema(faster=_str, slower=_str, ratio=_cmp)(params)
    for key in ("faster", "slower", "ratio"):
        if key not in params:
            raise ParamError(key, "missing")


def _cpu_used(o: Observed, owner: str) -> int | None:
    """CPU time an owner's cgroup used during the step (all of it if the cgroup is new)."""
    after = [c for c in o.after.cgroups if _owner_matches(c.owner, owner)]
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


def _pick_result(o: Observed, index: int | None) -> CommandResult | None:
    fg = [r for r in o.results if not r.background]
    if index is None:
        return fg[-1] if fg else (o.results[-1] if o.results else None)
    return o.results[index] if 0 <= index < len(o.results) else None


def _output_params(params: Any) -> dict[str, Any]:
    return {"contains": params} if isinstance(params, str) else dict(params)


def _output_validate(params: Any) -> None:
    if isinstance(params, str):
        _str("", params)
        return
    _Schema(
        contains=_str,
        not_contains=_str,
        matches=_regex,
        command=_int,
        stream=_one_of("stdout", "stderr", "any"),
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


def _exit_params(params: Any) -> dict[str, Any]:
    return {"code": params} if isinstance(params, int | str) else dict(params)


def _exit_validate(params: Any) -> None:
    if isinstance(params, int | str) and not isinstance(params, bool):
        _cmp("", params)
        return
    _Schema(code=_cmp, command=_int)(params)
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


def _upper_entries(snap: Snapshot, owner: str | None) -> dict[tuple[str, str], Any]:
    out = {}
    for m in snap.mounts:
        if _owner_matches(m.owner, owner):
            for e in m.upper_entries:
                out[(m.target, e.path)] = (m, e)
    return out


def _mount_label(m: Any) -> str:
    return str(m.owner.label()) if m.owner else str(m.target)


def _mount_check(o: Observed, p: dict[str, Any]) -> Verdict:
    if "upper_contains" not in p:
        return _overlay_check(o, p)
    pattern = p["upper_contains"]
    owner = p.get("owner")
    kind = p.get("kind")
    action = p.get("action", "present")
    after = _upper_entries(o.after, owner)
    found = [
        (m, e)
        for (target, path), (m, e) in after.items()
        if fnmatch.fnmatchcase(path, pattern) and _glob(e.kind, kind)
    ]
    if action == "added":
        before = _upper_entries(o.before, owner)
        found = [(m, e) for (m, e) in found if (m.target, e.path) not in before]
    return _count_verdict(
        found,
        action,
        p.get("count"),
        f"upper dir entry {pattern}",
        lambda me: f"{me[1].path} ({me[1].kind}) in {_mount_label(me[0])}",
    )


def _overlay_check(o: Observed, p: dict[str, Any]) -> Verdict:
    """Overlay mounts themselves (a container root appearing or going)."""
    action = p.get("action", "added")
    found = _select(o, "mounts", action, lambda m: _owner_matches(m.owner, p.get("owner")))
    return _count_verdict(
        found,
        action,
        p.get("count"),
        "overlay root" + (f" of {p['owner']}" if "owner" in p else ""),
        lambda m: f"{_mount_label(m)} ({len(m.lowerdirs)} layers)",
    )


def _layers_shared_validate(params: Any) -> None:
    _Schema(a=_str, b=_str, shared=_bool, count=_cmp)(params)
    for key in ("a", "b"):
        if key not in params:
            raise ParamError(key, "missing (a container name)")


def _layers_shared_check(o: Observed, p: dict[str, Any]) -> Verdict:
    """Image layers sit at the bottom of the stack (the end of ``lowerdirs``); above them a
    container may have private layers (Docker's init layer). Count the common bottom."""

    def layers(who: str) -> tuple[str, ...] | None:
        for m in o.after.mounts:
            if _owner_matches(m.owner, who):
                return m.lowerdirs
        return None

    a, b = layers(p["a"]), layers(p["b"])
    if a is None or b is None:
        missing = p["a"] if a is None else p["b"]
        return Verdict(False, f"no overlay root seen for {missing}")
    common = 0
    while common < min(len(a), len(b)) and a[-1 - common] == b[-1 - common]:
        common += 1
    detail = (
        f"{p['a']} and {p['b']} share the bottom {common} of their {len(a)}/{len(b)} layers"
        f" ({len(a) - common} and {len(b) - common} of their own on top)"
    )
    if not p.get("shared", True):
        return Verdict(common == 0, detail)
    return Verdict(compare(common, p.get("count", ">0")), detail)


def _whiteout_params(params: Any) -> dict[str, Any]:
    p = {"path": params} if isinstance(params, str) else dict(params)
    return p


def _whiteout_validate(params: Any) -> None:
    if isinstance(params, str):
        _str("", params)
        return
    _Schema(path=_str, owner=_str, action=_action)(params)
    if "path" not in params:
        raise ParamError("path", "missing")


def _whiteout_check(o: Observed, params: Any) -> Verdict:
    p = _whiteout_params(params)
    return _mount_check(
        o,
        {
            "upper_contains": p["path"],
            "kind": "whiteout",
            "owner": p.get("owner"),
            "action": p.get("action", "present"),
        },
    )


def _ns_of(o: Observed, who: str, ns: str) -> tuple[set[int], str]:
    """Inodes of namespace ``ns`` for ``who`` (``lab``, ``host`` or a container name)."""
    snap = o.after
    if who in ("lab", "host"):
        if ns == "net":
            name = o.lab if who == "lab" else None
            if who == "lab":
                hits = {n.inode for n in snap.netns if n.name == name}
                return hits, f"the lab netns {name}"
        procs = [p for p in snap.processes if p.pid == 1] if who == "host" else []
        return {i for p in procs if (i := p.ns(ns)) is not None}, who
    name = who.removeprefix("container:")
    inodes = {
        i
        for p in snap.processes
        if p.owner is not None
        and p.owner.kind == "container"
        and p.owner.name == name
        and (i := p.ns(ns)) is not None
    }
    if not inodes and ns == "net":
        inodes = {n.inode for n in snap.netns if n.name == name}
    return inodes, f"container {name}"


def _netns_shared_validate(params: Any) -> None:
    _Schema(
        a=_str,
        b=_str,
        ns=_one_of("cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts"),
        shared=_bool,
    )(params)
    for key in ("a", "b"):
        if key not in params:
            raise ParamError(key, "missing (a container name, 'lab' or 'host')")


def _netns_shared_check(o: Observed, p: dict[str, Any]) -> Verdict:
    ns = p.get("ns", "net")
    want = p.get("shared", True)
    a, a_label = _ns_of(o, p["a"], ns)
    b, b_label = _ns_of(o, p["b"], ns)
    if not a:
        return Verdict(False, f"no {ns} namespace seen for {a_label}")
    if not b:
        return Verdict(False, f"no {ns} namespace seen for {b_label}")
    shared = bool(a & b)
    inodes = f"{ns}:[{','.join(map(str, sorted(a)))}] vs [{','.join(map(str, sorted(b)))}]"
    verb = "share" if shared else "do not share"
    return Verdict(shared == want, f"{a_label} and {b_label} {verb} a {ns} namespace ({inodes})")


def _netns_check(o: Observed, p: dict[str, Any]) -> Verdict:
    action = p.get("action", "added")
    found = _select(
        o,
        "netns",
        action,
        lambda n: _glob(n.name or "", p.get("name")) and _owner_matches(n.owner, p.get("owner")),
    )
    return _count_verdict(
        found,
        action,
        p.get("count"),
        "netns " + p.get("name", "*"),
        lambda n: f"{n.name or '(unnamed)'} ino {n.inode}",
    )


def _process_check(o: Observed, p: dict[str, Any]) -> Verdict:
    action = p.get("action", "present")
    found = _select(
        o,
        "processes",
        action,
        lambda x: _glob(x.comm, p.get("comm")) and _owner_matches(x.owner, p.get("owner")),
    )
    what = f"process {p.get('comm', '*')}" + (f" of {p['owner']}" if "owner" in p else "")
    return _count_verdict(found, action, p.get("count"), what, lambda x: f"{x.comm}[{x.pid}]")


def _route_check(o: Observed, p: dict[str, Any]) -> Verdict:
    netns = _netns_pattern(p.get("netns"), o)
    action = p.get("action", "added")
    found = _select(
        o,
        "routes",
        action,
        lambda r: (
            _glob(r.dst, p.get("dst")) and _glob(r.dev, p.get("dev")) and _glob(r.netns, netns)
        ),
    )
    return _count_verdict(
        found,
        action,
        p.get("count"),
        f"route {p.get('dst', '*')} dev {p.get('dev', '*')}",
        lambda r: f"{r.dst} dev {r.dev} ({r.netns})",
    )


def _api_check(o: Observed, p: dict[str, Any]) -> Verdict:
    def pred(c: ApiCall) -> bool:
        if not _glob(c.method, p.get("method")):
            return False
        if not _glob(c.path.split("?", 1)[0], p.get("path")):
            return False
        if "status" in p and not compare(c.status, p["status"]):
            return False
        fc = p.get("from_container")
        if fc is True and not c.client_container:
            return False
        if fc is False and c.client_container:
            return False
        return not (isinstance(fc, str) and not _glob(c.client_container, fc))

    # The observer asks the socket who owns what; those calls are the scope's, not the lesson's.
    lesson = [c for c in o.traffic if not c.user_agent.startswith(OBSERVER_AGENT)]
    found = [c for c in lesson if pred(c)]
    what = f"API {p.get('method', '*')} {p.get('path', '*')}"
    if "from_container" in p:
        what += f" from container {p['from_container']}"

    def label(c: ApiCall) -> str:
        src = f" (from {c.client_container})" if c.client_container else ""
        return f"{c.method} {c.path.split('?', 1)[0]} -> {c.status}{src}"

    verdict = _count_verdict(found, "present", p.get("count"), what, label)
    if not verdict.ok and lesson:
        seen = ", ".join(label(c) for c in lesson[-3:])
        return Verdict(False, f"{verdict.detail}; last seen {seen}")
    return verdict


def _from_container(key: str, value: Any) -> None:
    if not isinstance(value, bool | str):
        raise ParamError(key, f"expected true, false or a container name, got {value!r}")


@dataclass(frozen=True)
class Kind:
    """One expectation kind: how to validate its parameters and how to check it."""

    validate: Callable[[Any], None]
    check: Callable[[Observed, Any], Verdict]
    doc: str


KINDS: dict[str, Kind] = {
    "link": Kind(
        _Schema(
            name=_str, kind=_str, master=_str, netns=_str, state=_str, action=_action, count=_cmp
        ),
        _link_check,
        "a network interface added/removed/present (glob on name, kind, master, netns)",
    ),
    "rule": Kind(
        _Schema(
            table=_one_of("nat", "filter", "mangle", "raw"),
            chain=_str,
            match=_regex,
            netns=_str,
            action=_action,
            packets=_cmp,
            moved=_bool,
            count=_cmp,
        ),
        _rule_check,
        "an iptables rule (regex on '-A CHAIN spec'), optionally with counters that moved",
    ),
    "veth_on": Kind(_veth_validate, _veth_check, "a veth plugged into a bridge"),
    "flow": Kind(
        _Schema(
            proto=_one_of("tcp", "udp", "icmp"),
            dnat=_bool,
            snat=_bool,
            dport=_int,
            to=_str,
            netns=_str,
            action=_action,
            count=_cmp,
        ),
        _flow_check,
        "a conntrack flow, with its translation (dnat/snat) and ports",
    ),
    "cgroup": Kind(
        _Schema(
            path=_str, owner=_str, action=_action, count=_cmp, **{k: _cmp for k in _CGROUP_FIGURES}
        ),
        _cgroup_check,
        "a cgroup whose figures (oom_kills, memory_limit, pids_current, ...) compare as given",
    ),
    "cpu_ratio": Kind(
        _cpu_ratio_validate,
        _cpu_ratio_check,
        "one container's CPU time during the step against another's",
    ),
    "output": Kind(_output_validate, _output_check, "text in a command's output"),
    "exit_code": Kind(_exit_validate, _exit_check, "a command's exit code"),
    "mount": Kind(
        _Schema(
            upper_contains=_str,
            owner=_str,
            kind=_one_of("file", "dir", "symlink", "whiteout", "opaque"),
            action=_action,
            count=_cmp,
        ),
        _mount_check,
        "an overlay root (added/removed/present), or an entry in its upper dir",
    ),
    "layers_shared": Kind(
        _layers_shared_validate,
        _layers_shared_check,
        "two containers' overlay roots stack the same image layers",
    ),
    "whiteout": Kind(_whiteout_validate, _whiteout_check, "a whiteout (deleted lower file)"),
    "netns_shared": Kind(
        _netns_shared_validate, _netns_shared_check, "two parties share (or not) a namespace"
    ),
    "netns": Kind(
        _Schema(name=_str, owner=_str, action=_action, count=_cmp),
        _netns_check,
        "a network namespace added/removed/present",
    ),
    "process": Kind(
        _Schema(comm=_str, owner=_str, action=_action, count=_cmp),
        _process_check,
        "processes (by command name and owner)",
    ),
    "route": Kind(
        _Schema(dst=_str, dev=_str, netns=_str, action=_action, count=_cmp),
        _route_check,
        "a route added/removed/present",
    ),
    "api": Kind(
        _Schema(method=_str, path=_str, status=_cmp, from_container=_from_container, count=_cmp),
        _api_check,
        "a request that crossed the control socket (from the traffic tap)",
    ),
}


def validate(kind: str, params: Any) -> None:
    """Raise ParamError if ``params`` are not valid for ``kind`` (KeyError for unknown kinds)."""
    KINDS[kind].validate(params)


def check(expectation: Expectation, observed: Observed) -> Verdict:
    """Check one expectation. Never raises: a broken check is a failed verdict."""
    kind = KINDS.get(expectation.kind)
    if kind is None:
        return Verdict(False, f"unknown expectation kind {expectation.kind!r}")
    try:
        verdict = kind.check(observed, expectation.params)
    except Exception as e:  # a bug in a check must not stop a class mid-walkthrough
        return Verdict(False, f"check failed: {type(e).__name__}: {e}")
    if not verdict.ok and observed.after.errors:
        # A stale reading explains a miss better than anything: say so.
        errs = "; ".join(observed.after.errors[:3])
        return Verdict(False, f"{verdict.detail} (the observer could not read: {errs})")
    return verdict


def describe(expectation: Expectation) -> str:
    """One line a class can read, e.g. ``bridge br-* added`` or ``nat/DOCKER: rule
    /--dport 8080 -j DNAT/ added``; unusual parameters fall back to ``kind key=value...``."""
    p = expectation.params
    try:
        text = _PHRASES[expectation.kind](p)
    except (KeyError, TypeError, AttributeError):
        text = None
    if text:
        return text
    if not isinstance(p, dict):
        return f"{expectation.kind} {p}"
    bits = " ".join(f"{k}={v}" for k, v in p.items())
    return f"{expectation.kind} {bits}"


def _count_words(p: dict[str, Any], default_action: str) -> str:
    action = p.get("action", default_action)
    count = p.get("count")
    if action == "absent":
        return "absent"
    if count is None:
        return action
    if str(count) in ("0", "=0", "==0"):
        return f"none {action}"
    return f"{action} ({count})"


def _where(p: dict[str, Any]) -> str:
    bits = []
    if "owner" in p:
        bits.append(f"of {p['owner']}")
    if "netns" in p:
        bits.append(f"in {p['netns']}")
    return (" " + " ".join(bits)) if bits else ""


def _phrase_link(p: dict[str, Any]) -> str:
    what = p.get("kind", "interface")
    name = f" {p['name']}" if "name" in p else ""
    on = f" on {p['master']}" if "master" in p else ""
    return f"{what}{name}{on}{_where(p)} {_count_words(p, 'added')}"


def _phrase_rule(p: dict[str, Any]) -> str:
    where = f"{p.get('table', 'nat')}/{p.get('chain', '*')}"
    what = f"rule /{p['match']}/" if "match" in p else "rule"
    extra = ", its counter moving" if p.get("moved") else ""
    if "packets" in p:
        extra += f", packets {p['packets']}"
    return f"{where}: {what} {_count_words(p, 'added')}{extra}"


def _phrase_veth(params: Any) -> str:
    p = _veth_params(params)
    return f"veth on {p['bridge']} {_count_words(p, 'added')}"


def _phrase_flow(p: dict[str, Any]) -> str:
    bits = [p.get("proto", "")]
    if p.get("dnat"):
        bits.append("destination-rewritten (DNAT)")
    if p.get("dnat") is False:
        bits.append("untranslated")
    if p.get("snat"):
        bits.append("source-rewritten (SNAT)")
    text = " ".join(b for b in bits if b) + " flow"
    if "dport" in p:
        text += f" to port {p['dport']}"
    if "to" in p:
        text += f", really going to {p['to']}"
    return f"{text} {_count_words(p, 'present')}"


def _phrase_cgroup(p: dict[str, Any]) -> str:
    who = f"cgroup of {p['owner']}" if "owner" in p else f"cgroup {p.get('path', '*')}"
    figs = ", ".join(f"{k.replace('_', ' ')} {_cmp_text(p[k])}" for k in _CGROUP_FIGURES if k in p)
    return f"{who}: {figs}" if figs else f"{who} {_count_words(p, 'present')}"


def _cmp_text(spec: Any) -> str:
    if isinstance(spec, list):
        return " and ".join(_cmp_text(s) for s in spec)
    text = str(spec)
    return text if text[:1] in "<>=!" else f"= {text}"


def _phrase_output(params: Any) -> str:
    p = _output_params(params)
    which = f"command {p['command'] + 1}" if "command" in p else "the output"
    if "contains" in p:
        return f"{which} shows {p['contains']!r}"
    if "not_contains" in p:
        return f"{which} does not show {p['not_contains']!r}"
    return f"{which} matches /{p['matches']}/"


def _phrase_exit(params: Any) -> str:
    p = _exit_params(params)
    which = f"command {p['command'] + 1}" if "command" in p else "the command"
    return f"{which} exits {_cmp_text(p['code'])}".replace("exits = ", "exits ")


def _phrase_mount(p: dict[str, Any]) -> str:
    if "upper_contains" in p:
        kind = f" ({p['kind']})" if "kind" in p else ""
        return (
            f"upper dir{_where(p)} holds {p['upper_contains']}{kind}: {_count_words(p, 'present')}"
        )
    return f"overlay root{_where(p)} {_count_words(p, 'added')}"


def _phrase_whiteout(params: Any) -> str:
    p = _whiteout_params(params)
    return f"whiteout for {p['path']}{_where(p)} {_count_words(p, 'present')}"


def _phrase_netns_shared(p: dict[str, Any]) -> str:
    verb = "share" if p.get("shared", True) else "do not share"
    return f"{p['a']} and {p['b']} {verb} a {p.get('ns', 'net')} namespace"


def _phrase_api(p: dict[str, Any]) -> str:
    text = f"request {p.get('method', '')} {p.get('path', '*')}".replace("  ", " ")
    if "status" in p:
        text += f" answered {_cmp_text(p['status'])}".replace("answered = ", "answered ")
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


_PHRASES: dict[str, Callable[[Any], str]] = {
    "link": _phrase_link,
    "rule": _phrase_rule,
    "veth_on": _phrase_veth,
    "flow": _phrase_flow,
    "cgroup": _phrase_cgroup,
    "cpu_ratio": lambda p: f"{p['faster']} gets {p['ratio']} times the CPU time of {p['slower']}",
    "output": _phrase_output,
    "exit_code": _phrase_exit,
    "mount": _phrase_mount,
    "whiteout": _phrase_whiteout,
    "layers_shared": lambda p: (
        f"{p['a']} and {p['b']} share image layers ({p.get('count', '>0')})"
        if p.get("shared", True)
        else f"{p['a']} and {p['b']} share no layers"
    ),
    "netns_shared": _phrase_netns_shared,
    "netns": lambda p: (
        f"network namespace {p.get('name', '')}{_where(p)} {_count_words(p, 'added')}".replace(
            "namespace  ", "namespace "
        )
    ),
    "process": lambda p: f"process {p.get('comm', '*')}{_where(p)} {_count_words(p, 'present')}",
    "route": lambda p: (
        f"route {p.get('dst', '*')} dev {p.get('dev', '*')} {_count_words(p, 'added')}"
    ),
    "api": _phrase_api,
}
