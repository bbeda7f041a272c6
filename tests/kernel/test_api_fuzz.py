"""Fuzz every served endpoint that takes a body or a query, over a real daemon's socket.

Requests are drawn from the same v1.41 schema the daemon validates with
(``dockerscope/engine/api/schema_v1_41.json``): a value of each body's schema is generated, then
mutated (wrong types, huge and fractional numbers, nulls, deep nesting, unicode and lone
surrogates, very long strings, missing fields), or replaced by broken JSON; query parameters
get valid and invalid values of their types. The generator is our own, seeded
(``DOCKERSCOPE_FUZZ_SEED``), with a fixed request budget: hypothesis(-jsonschema) would need the
Swagger 2.0 schema turned into JSON Schema first, and its shrinking and health checks make the
run time and the request count of a run against a live daemon hard to bound; a hundred lines of
``random`` give the same coverage of the shapes the daemon can receive, exactly reproducible.

Every answer must be below 500 (Docker's own 5xx for a valid request excepted), every error
body ``{"message": str}`` with no Python exception text in it, and ``/_ping`` must answer after
each batch. Everything the fuzz made (containers, networks, images) is removed at the end, and
the kernel-test leak check proves nothing is left in the kernel.
"""

from __future__ import annotations

import copy
import http.client
import json
import os
import random
import re
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

import pytest

from dockerscope.engine.api.validate import INT_RANGES, load_schema
from tests.kernel.test_engine_daemon import RunningDaemon, UnixHTTP, daemon  # noqa: F401

pytestmark = [pytest.mark.kernel, pytest.mark.slow]

SEED = int(os.environ.get("DOCKERSCOPE_FUZZ_SEED", "1741"))
SCHEMA = load_schema()
DEFS = SCHEMA.definitions

#: Python's own wording that must never reach a client.
PYTHON_TEXT = re.compile(
    r"Traceback|object has no attribute|not iterable|unsupported operand|NoneType|"
    r"object is not subscriptable|unhashable type|positional argument|keyword argument|"
    r"invalid literal for|can only concatenate|must be str|expected str|\[Errno|"
    r"codec can't|embedded null|index out of range|object is not callable|"
    r"set_int_max_str_digits|KeyError|TypeError|ValueError|AttributeError|IndexError|"
    r"OverflowError|RecursionError|not supported between instances|object of type|"
    r"argument must be|cannot convert|is not JSON serializable|int\(\)|float\(\)"
)

#: 5xx answers Docker itself gives to a valid request (a resource of the host is taken).
DOCKERS_OWN_5XX = re.compile(r"port is already allocated|address already in use")

STRINGS = [
    "",
    "busybox",
    "busybox:latest",
    "sh",
    "true",
    "fz",
    "a" * 300,
    "ü",
    "日本語",
    "\U0001f600",
    "\u202eevil",
    "\x00",
    "\ud800",
    "../../etc/passwd",
    "/tmp:/fz",
    "/fz:/fz:ro",
    "80/tcp",
    "10.251.0.0/24",
    "10.251.0.1",
    "ctrl-p,ctrl-q",
    "-1",
    "0",
    "1e3",
    "null",
    "{}",
    "%s%n",
    "bridge",
    "host",
    "none",
    "container:fz-target",
    "KILL",
    "SIGHUP",
    "SIGFOO",
]
WRONG_TYPES: list[Any] = ["fz", 0, -1, 1.5, True, False, [], {}, ["x", 1], {"a": {"b": [None]}}]
HUGE_INTS = [2**63, -(2**63) - 1, 2**64, 10**30, -(10**30), 2**31, 65536, -1]
RAW_BODIES = [
    b"{",
    b'{"Image": "busybox"',
    b"null",
    b"[]",
    b"[[[[]]]]",
    b"1e999",
    b"NaN",
    b"-Infinity",
    b'{"Image": NaN}',
    b"\xff\xfe{}",
    b'{"Image": "\xff"}',
    b"\x00",
    b'{"a":' * 150 + b"1" + b"}" * 150,
    b"[" * 5000 + b"]" * 5000,
    b'{"HostConfig": {"Memory": ' + b"9" * 5000 + b"}}",
    b'{"Cmd": ["' + b"x" * 200_000 + b'"]}',
    b'"\\ud800"',
    b'{"Image": "busybox", "Image": 1}',
]


def zero_safe_int(fmt: str, rng: random.Random) -> int:
    low, high = INT_RANGES.get(fmt, INT_RANGES["int64"])
    return rng.choice([0, 1, 2, 100, low, high, max(low, -1)])


def generate(schema: dict[str, Any], rng: random.Random, depth: int = 0) -> Any:
    """A value of ``schema``'s type (valid as Go would decode it), fields chosen at random."""
    if "$ref" in schema:
        schema = DEFS.get(schema["$ref"], {})
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = rng.choice(kind)
    if kind == "integer":
        return zero_safe_int(str(schema.get("format", "int")), rng)
    if kind == "number":
        return rng.choice([0, 0.5, -1.25, 1e10])
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "string":
        return rng.choice(STRINGS)
    if kind == "array":
        if depth > 6:
            return []
        return [
            generate(schema.get("items") or {}, rng, depth + 1) for _ in range(rng.randint(0, 3))
        ]
    if kind == "object":
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        out: dict[str, Any] = {}
        if depth > 6:
            return out
        # About two fields an object: more would mostly meet a refused flag first.
        share = min(0.3, 2 / max(1, len(props)))
        for name, sub in props.items():
            if rng.random() < share:
                out[name] = generate(sub, rng, depth + 1)
        if isinstance(extra, dict) and extra and not props:
            for _ in range(rng.randint(0, 3)):
                out[rng.choice(STRINGS[:12])] = generate(extra, rng, depth + 1)
        return out
    return copy.deepcopy(rng.choice(WRONG_TYPES))  # interface{}: anything


def _slots(value: Any) -> list[tuple[Any, ...]]:
    """The places in a JSON value (paths of keys and indexes), down to 30 levels."""
    found: list[tuple[Any, ...]] = []
    todo: list[tuple[tuple[Any, ...], Any]] = [((), value)]
    while todo:
        path, v = todo.pop()
        found.append(path)
        if len(path) >= 30:
            continue
        if isinstance(v, dict):
            todo.extend(((*path, k), sub) for k, sub in v.items())
        elif isinstance(v, list):
            todo.extend(((*path, i), sub) for i, sub in enumerate(v))
    return found


def mutate(value: Any, rng: random.Random) -> Any:
    """``value`` with one place replaced by a hostile value (or removed)."""
    slots = _slots(value)
    path = rng.choice(slots)
    choice = rng.random()
    if choice < 0.3:
        new: Any = rng.choice(WRONG_TYPES)
    elif choice < 0.45:
        new = rng.choice(HUGE_INTS)
    elif choice < 0.55:
        new = None
    elif choice < 0.65:
        new = rng.choice(STRINGS)
        levels = rng.choice([3, 40, 99, 120])
        for _ in range(levels):
            new = [new] if rng.random() < 0.5 else {"x": new}
    elif choice < 0.8:
        new = rng.choice(["\ud800", "\udfff\ud800", "x" * 70_000, "\x00\x01\x7f", "\u0085\u2028"])
    elif choice < 0.9 and path:
        parent = _get(value, path[:-1])
        if isinstance(parent, dict):
            del parent[path[-1]]
            return value
        new = None
    else:
        new = rng.choice([1.5, -0.0, 1e300, 10**25 + 0.5])
    new = copy.deepcopy(new)  # the pools' lists and dicts are shared
    if not path:
        return new
    parent = _get(value, path[:-1])
    parent[path[-1]] = new
    return value


def _get(value: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        value = value[key]
    return value


@dataclass
class Finding:
    """One answer that broke the rules."""

    method: str
    target: str
    body: bytes
    status: int
    text: str

    def __str__(self) -> str:
        return (
            f"{self.method} {self.target[:200]} body={self.body[:300]!r} -> "
            f"{self.status} {self.text[:300]!r}"
        )


@dataclass
class Fuzzer:
    """Sends requests, checks each answer, counts them."""

    d: RunningDaemon
    rng: random.Random
    sent: int = 0
    findings: list[Finding] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    #: (operation, status, the message's first words) -> count: what the requests reached.
    answers: dict[tuple[str, int, str], int] = field(default_factory=dict)

    def send(self, method: str, target: str, body: bytes | None = None) -> tuple[int, bytes]:
        """One request; the answer's status and (for non-streams) its body."""
        c = UnixHTTP(str(self.d.lab.socket), timeout=20)
        self.sent += 1
        try:
            headers = {"Content-Type": "application/json"} if body is not None else {}
            c.request(method, "/v1.41" + target, body=body, headers=headers)
            r = c.getresponse()
            status = r.status
            streaming = status < 300 and (
                r.getheader("Transfer-Encoding") == "chunked" or status == 101
            )
            ctype = r.getheader("Content-Type") or ""
            payload = b"" if streaming or r.getheader("Content-Length") is None else r.read()
        except (TimeoutError, http.client.HTTPException, OSError) as exc:
            self.findings.append(Finding(method, target, body or b"", 0, f"no answer: {exc}"))
            return 0, b""
        finally:
            c.close()
        self.statuses[status] = self.statuses.get(status, 0) + 1
        self._check(method, target, body or b"", status, ctype, payload)
        return status, payload

    def _check(
        self, method: str, target: str, body: bytes, status: int, ctype: str, payload: bytes
    ) -> None:
        text = payload.decode("utf-8", "replace")
        if status >= 400:
            try:
                doc = json.loads(payload)
            except ValueError:
                doc = None
            if (
                not ctype.startswith("application/json")
                or not isinstance(doc, dict)
                or set(doc) != {"message"}
                or not isinstance(doc["message"], str)
            ):
                self.findings.append(Finding(method, target, body, status, "not JSON: " + text))
                return
            text = doc["message"]
            op = re.sub(r"[0-9a-f]{64}", "{id}", target.split("?")[0])
            key = (f"{method} {op}", status, " ".join(text.split()[:4])[:50])
            self.answers[key] = self.answers.get(key, 0) + 1
            if PYTHON_TEXT.search(text):
                self.findings.append(Finding(method, target, body, status, text))
                return
        if status >= 500 and not DOCKERS_OWN_5XX.search(text):
            self.findings.append(Finding(method, target, body, status, text))

    def ping(self) -> None:
        status, payload = self.send("GET", "/_ping")
        assert (status, payload) == (200, b"OK"), "the daemon stopped answering"

    # ---- request material ------------------------------------------------------------------

    def body(self, schema: dict[str, Any], base: dict[str, Any] | None = None) -> bytes:
        """A generated, usually mutated, sometimes broken JSON body of ``schema``."""
        roll = self.rng.random()
        if roll < 0.08:
            return self.rng.choice(RAW_BODIES)
        if roll < 0.12:
            return b""
        value = generate(schema, self.rng)
        if base and isinstance(value, dict):
            for k, v in base.items():
                if self.rng.random() < 0.85:
                    value[k] = copy.deepcopy(v)
        if roll > 0.3:
            for _ in range(self.rng.randint(1, 3)):
                value = mutate(value, self.rng)
        return json.dumps(value).encode()

    def query(self, spec: dict[str, dict[str, Any]], safe: dict[str, list[str]]) -> str:
        """A query string for an operation's parameters (``safe``: the only valid values a
        parameter may take, where others would make the daemon wait or build images)."""
        pairs: list[tuple[str, str]] = []
        for name, p in spec.items():
            if self.rng.random() < 0.5:
                continue
            kind = p.get("type")
            roll = self.rng.random()
            if name in safe and (roll < 0.6 or name in ALWAYS_SAFE):
                value = self.rng.choice(safe[name])
            elif kind == "integer":
                value = self.rng.choice(
                    [
                        "abc",
                        "",
                        "1.5",
                        "9" * 30,
                        "-9223372036854775809",
                        "0x10",
                        "\u0661",
                        " 1",
                        "1_000",
                        "+",
                        "-",
                        "1e3",
                        "NaN",
                    ]
                )
                if name not in safe:
                    value = self.rng.choice(
                        [value, str(zero_safe_int(p.get("format", "int"), self.rng))]
                    )
            elif kind == "boolean":
                value = self.rng.choice(["1", "0", "true", "False", "yes", "", "\x00", "2"])
            elif name == "filters":
                value = self.filters()
            else:
                value = self.rng.choice(STRINGS)
            if (
                name in safe
                and value not in safe[name]
                and kind == "integer"
                and re.fullmatch(r"[+-]?[0-9]+", value.strip() or "x")
            ):
                # Only invalid texts besides the safe values (a valid big `t` would wait).
                value = self.rng.choice(safe[name])
            pairs.append((name, value))
            if self.rng.random() < 0.1:
                pairs.append((name, self.rng.choice(STRINGS)))
        return urllib.parse.urlencode(pairs, errors="surrogatepass")

    def filters(self) -> str:
        good: list[Any] = [
            {},
            {"label": ["a=b"]},
            {"name": ["fz"]},
            {"status": ["running"]},
            {"dangling": ["true"]},
            {"until": ["1h"]},
            {"type": {"custom": True}},
            {"id": {"x": True}},
        ]
        value: Any = copy.deepcopy(self.rng.choice(good))
        if self.rng.random() < 0.6:
            value = mutate(value, self.rng)
        if self.rng.random() < 0.1:
            return self.rng.choice(["{", "[", "x", "%", "null", "1e999", "[" * 200])
        return json.dumps(value)


@dataclass
class Fixtures:
    """What the requests' paths name: a running container, a created one, a network, ..."""

    running: str = ""
    created: str = ""
    network: str = ""
    exec_id: str = ""


def _make_fixtures(f: Fuzzer) -> Fixtures:
    fx = Fixtures()
    status, out = f.d.call(
        "POST",
        "/containers/create?name=fz-target",
        {
            "Image": "busybox",
            "Cmd": ["sleep", "1000"],
            "OpenStdin": True,
        },
    )
    assert status == 201, out
    fx.running = out["Id"]
    assert f.d.call("POST", f"/containers/{fx.running}/start")[0] == 204
    status, out = f.d.call("POST", "/containers/create", {"Image": "busybox", "Cmd": ["true"]})
    assert status == 201, out
    fx.created = out["Id"]
    status, out = f.d.call("POST", "/networks/create", {"Name": "fz-net"})
    assert status == 201, out
    fx.network = out["Id"]
    fx.exec_id = _new_exec(f, fx)
    assert f.d.call("POST", "/images/busybox/tag?repo=fz-img&tag=1")[0] == 201
    return fx


def _new_exec(f: Fuzzer, fx: Fixtures) -> str:
    status, out = f.d.call("POST", f"/containers/{fx.running}/exec", {"Cmd": ["true"]})
    return str(out["Id"]) if status == 201 else "nosuchexec"


def _ensure_running(f: Fuzzer, fx: Fixtures) -> None:
    """A kill or stop among the requests ends the target; the next batch gets a new one."""
    status, out = f.d.call("GET", f"/containers/{fx.running}/json")
    if status == 200 and out["State"]["Running"]:
        return
    f.d.call("DELETE", f"/containers/{fx.running}?force=1")
    status, out = f.d.call(
        "POST",
        "/containers/create",
        {
            "Image": "busybox",
            "Cmd": ["sleep", "1000"],
            "OpenStdin": True,
        },
    )
    assert status == 201, out
    fx.running = out["Id"]
    assert f.d.call("POST", f"/containers/{fx.running}/start")[0] == 204


def _cleanup(f: Fuzzer) -> None:
    """Remove every container, network and image the fuzz made."""
    status, rows = f.d.call("GET", "/containers/json?all=1")
    assert status == 200
    for row in rows:
        assert f.d.call("DELETE", f"/containers/{row['Id']}?force=1")[0] in (204, 404)
    status, nets = f.d.call("GET", "/networks")
    for n in nets:
        if n["Name"] not in ("bridge", "host", "none"):
            assert f.d.call("DELETE", f"/networks/{n['Id']}")[0] in (204, 404), n["Name"]
    status, images = f.d.call("GET", "/images/json")
    for img in images:
        tags = [t for t in img.get("RepoTags") or [] if t != "busybox:latest"]
        for t in tags:
            f.d.call("DELETE", f"/images/{urllib.parse.quote(t, safe='')}")
        if "busybox:latest" not in (img.get("RepoTags") or []):
            f.d.call("DELETE", f"/images/{img['Id']}?force=1")
    assert f.d.call("GET", "/containers/json?all=1")[1] == []
    assert {n["Name"] for n in f.d.call("GET", "/networks")[1]} == {"bridge", "host", "none"}
    assert [i["RepoTags"] for i in f.d.call("GET", "/images/json")[1]] == [["busybox:latest"]]


#: (method, path, requests): every served operation with a body or a query, and its share of
#: the budget. ``{c}`` is the running container, ``{x}`` a created one, ``{n}`` the network,
#: ``{e}`` an exec, ``{i}`` an image of the fuzz's own.
PLAN: list[tuple[str, str, int]] = [
    ("POST", "/containers/create", 1500),
    ("POST", "/containers/{c}/exec", 400),
    ("POST", "/exec/{e}/start", 120),
    ("POST", "/networks/create", 150),
    ("POST", "/networks/{n}/connect", 120),
    ("POST", "/networks/{n}/disconnect", 80),
    ("POST", "/commit", 40),
    ("POST", "/auth", 40),
    ("POST", "/volumes/create", 30),
    ("POST", "/containers/{c}/update", 30),
    ("GET", "/containers/json", 80),
    ("POST", "/containers/prune", 30),
    ("GET", "/containers/{c}/json", 20),
    ("POST", "/containers/{x}/start", 20),
    ("POST", "/containers/{c}/stop", 25),
    ("POST", "/containers/{c}/restart", 15),
    ("POST", "/containers/{c}/kill", 30),
    ("POST", "/containers/{c}/wait", 30),
    ("GET", "/containers/{c}/logs", 60),
    ("GET", "/containers/{c}/top", 40),
    ("POST", "/containers/{c}/rename", 30),
    ("POST", "/containers/{c}/resize", 40),
    ("POST", "/containers/{c}/attach", 40),
    ("POST", "/exec/{e}/resize", 30),
    ("GET", "/images/json", 40),
    ("POST", "/images/create", 40),
    ("POST", "/images/load", 20),
    ("GET", "/images/get", 20),
    ("POST", "/images/prune", 20),
    ("POST", "/build/prune", 15),
    ("POST", "/images/{i}/tag", 30),
    ("DELETE", "/images/{i}", 15),
    ("GET", "/networks", 40),
    ("POST", "/networks/prune", 15),
    ("GET", "/networks/{n}", 20),
    ("GET", "/events", 40),
    ("GET", "/volumes", 15),
    ("POST", "/volumes/prune", 10),
    ("DELETE", "/containers/{x}", 20),
]

#: Valid values only from these (others would wait for minutes, or build a debian image).
SAFE_QUERY = {
    "t": ["0", "1"],
    "fromImage": ["busybox", "nosuch", "fz-img:1"],
    "condition": ["not-running", "removed", "next-exit", "sometimes"],
    "h": ["24", "0"],
    "w": ["80", "0"],
    "limit": ["1", "0", "-1"],
    # a commit named busybox would replace the image every other request creates from
    "repo": ["fz-commit", "Bad Name", "", "fz/x"],
}
#: Parameters that only ever take their safe values.
ALWAYS_SAFE = {"repo", "container"}


def _request(
    f: Fuzzer, fx: Fixtures, method: str, template: str, i: int
) -> tuple[str, str, bytes | None]:
    """The ``i``-th request of a batch: method, target (path and query) and body."""
    op = SCHEMA.operation(
        method, re.sub(r"\{[cxnei]\}", "{id}", template).replace("/images/{id}", "/images/{name}")
    )
    assert op is not None, template
    if template == "/exec/{e}/start" and i % 2 == 0:
        fx.exec_id = _new_exec(f, fx)  # an exec starts once: half the starts get a fresh one
    path = template.format(c=fx.running, x=fx.created, n=fx.network, e=fx.exec_id, i="fz-img:1")
    safe = {**SAFE_QUERY, "container": [fx.running, "fz-target", "nosuch"]}
    query = f.query(op.query, safe) if op.query else ""
    if template.endswith(("/stop", "/restart")):
        # The last t is the one read: no stop waits out the 10 s default.
        query += ("&" if query else "") + "t=0"
    body = None
    if op.body is not None:
        base = _BASES.get(template, {})
        if template.endswith(("/connect", "/disconnect")):
            base = {"Container": fx.running}
        if template == "/networks/create":
            base = {"Name": f"fz{i}"}  # a new name each: most creates then get further
        body = f.body(op.body, base)
    return method, path + ("?" + query if query else ""), body


@pytest.mark.timeout(300)
def test_fuzz_bodies_and_queries(daemon: RunningDaemon) -> None:  # noqa: F811
    f = Fuzzer(daemon, random.Random(SEED))
    started = time.monotonic()
    fx = _make_fixtures(f)
    try:
        for method, template, count in PLAN:
            for i in range(count):
                f.send(*_request(f, fx, method, template, i))
            f.ping()
            _ensure_running(f, fx)
            if template == "/networks/create":
                f.send("POST", "/networks/prune")
                if daemon.call("GET", f"/networks/{fx.network}")[0] == 404:
                    fx.network = daemon.call("POST", "/networks/create", {"Name": "fz-net"})[1][
                        "Id"
                    ]
    finally:
        _cleanup(f)
    elapsed = time.monotonic() - started
    print(f"fuzz: {f.sent} requests in {elapsed:.1f}s, statuses {sorted(f.statuses.items())}")
    for finding in f.findings:
        print("FINDING", finding)
    # Requests that reached code trusting a wrong shape (the 400 backstop of errors.py caught
    # them): the validator should have stopped each before its handler.
    backstop = [
        line for line in daemon.log.read_text(errors="replace").splitlines() if " failed" in line
    ]
    print(f"backstop hits: {len(backstop)}")
    for key, n in sorted(f.answers.items(), key=lambda kv: -kv[1])[:60]:
        print("ANSWER", n, *key)
    for line in backstop[:40]:
        print("BACKSTOP", line[:300])
    assert not f.findings, f"{len(f.findings)} bad answers:\n" + "\n".join(
        str(x) for x in f.findings[:40]
    )
    assert not backstop, "requests of a wrong shape got past the schema check to a handler"
    assert f.sent >= 3000
    f.ping()


#: Fields most bodies carry, so many requests get past the first check to the deeper code.
_BASES: dict[str, dict[str, Any]] = {
    "/containers/create": {"Image": "busybox", "Cmd": ["true"]},
    "/containers/{c}/exec": {"Cmd": ["true"], "AttachStdout": True},
    "/commit": {"Cmd": ["true"]},
}
