"""A scripted stand-in for a lab, for tests and demos: no root, no kernel.

``FakeLab`` answers commands from a list of (regex, handler) pairs; a handler may change the
fake kernel state (a ``Snapshot``) the way the real engine would change the real kernel, so the
runner, the recorder and the screens can be exercised anywhere. It is not an emulator: tests
script exactly the effects they need.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dockerscope.kernel.model import ApiCall, Link, Owner, Rule, Snapshot
from dockerscope.scenario.model import Command, CommandResult

Handler = Callable[["FakeLab", re.Match[str], Command], CommandResult | None]


@dataclass
class _FakeBackground:
    result: CommandResult

    def finish(self) -> CommandResult:
        return self.result


@dataclass
class FakeLab:
    """Fake kernel state plus scripted commands; also an ``Executor`` for the runner."""

    name: str = "fake"
    state: Snapshot = field(default_factory=lambda: Snapshot(taken_at=0.0, scope="lab:fake"))
    handlers: list[tuple[re.Pattern[str], Handler]] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    api: list[ApiCall] = field(default_factory=list)
    clock: float = 1_700_000_000.0

    def __post_init__(self) -> None:
        self.state = dataclasses.replace(self.state, scope=f"lab:{self.name}")

    def on(self, pattern: str, handler: Handler) -> FakeLab:
        """Script a command: ``pattern`` is searched in the displayed command line."""
        self.handlers.append((re.compile(pattern), handler))
        return self

    # -- the Executor protocol --------------------------------------------------------------

    def run(self, command: Command) -> CommandResult:
        line = command.display()
        self.log.append(line)
        for rx, handler in self.handlers:
            m = rx.search(line)
            if m:
                result = handler(self, m, command)
                if result is not None:
                    return result
                return CommandResult(command.kind, line, 0)
        return CommandResult(command.kind, line, 127, stderr=f"fake lab: no script for {line}")

    def start(self, command: Command) -> _FakeBackground:
        return _FakeBackground(self.run(command))

    # -- observer and traffic stand-ins -----------------------------------------------------

    def snapshot(self) -> Snapshot:
        """The fake kernel state now (each call one tick later)."""
        self.clock += 1.0
        self.state = dataclasses.replace(self.state, taken_at=self.clock)
        return self.state

    def traffic(self) -> list[ApiCall]:
        out, self.api = self.api, []
        return out

    # -- helpers for handlers ---------------------------------------------------------------

    def add(self, collection: str, *objs: object) -> None:
        items: Any = getattr(self.state, collection) + tuple(objs)
        self.state = dataclasses.replace(self.state, **{collection: items})

    def remove(self, collection: str, pred: Callable[[object], bool]) -> None:
        items: Any = tuple(o for o in getattr(self.state, collection) if not pred(o))
        self.state = dataclasses.replace(self.state, **{collection: items})

    def call(self, method: str, path: str, status: int = 200, container: str | None = None) -> None:
        self.api.append(
            ApiCall(
                seq=len(self.log),
                started_at=time.time(),
                method=method,
                path=path,
                status=status,
                client_container=container,
            )
        )


def _hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _network_create(lab: FakeLab, m: re.Match[str], cmd: Command) -> CommandResult:
    name = m.group(1)
    br = f"br-{_hex(name)}"
    owner = Owner("network", name)
    lab.add(
        "links",
        Link(
            lab.name,
            10 + len(lab.state.links),
            br,
            "bridge",
            "02:42:00:00:00:01",
            "UP",
            1500,
            owner=owner,
        ),
    )
    lab.add(
        "rules",
        Rule(lab.name, "nf_tables", "nat", "DOCKER", 1, f"-i {br} -j RETURN", owner=owner),
        Rule(
            lab.name,
            "nf_tables",
            "nat",
            "POSTROUTING",
            1,
            f"-s 172.18.0.0/16 ! -o {br} -j MASQUERADE",
            owner=owner,
        ),
    )
    lab.call("POST", "/v1.41/networks/create", 201)
    return CommandResult(cmd.kind, cmd.display(), 0, stdout=_hex(name) * 5 + "\n")


def _run_published(lab: FakeLab, m: re.Match[str], cmd: Command) -> CommandResult:
    name, port = m.group(1), int(m.group(2))
    owner = Owner("container", name)
    if any(link.owner == owner for link in lab.state.links):
        lab.call("POST", "/v1.41/containers/create", 409)
        return CommandResult(
            cmd.kind,
            cmd.display(),
            125,
            stderr=f'docker: Error response from daemon: Conflict. The container name "/{name}" '
            "is already in use.\n",
        )
    lab.add(
        "links",
        Link(
            lab.name,
            40 + len(lab.state.links),
            f"veth{_hex(name)[:7]}",
            "veth",
            "8e:5d:01:95:cb:be",
            "UP",
            1500,
            master="docker0",
            owner=owner,
        ),
    )
    lab.add(
        "rules",
        Rule(
            lab.name,
            "nf_tables",
            "nat",
            "DOCKER",
            2,
            f"! -i docker0 -p tcp -m tcp --dport {port} -j DNAT --to-destination 172.17.0.2:{port}",
            owner=Owner("port", f"{port}/tcp"),
        ),
    )
    lab.call("POST", "/v1.41/containers/create", 201)
    lab.call("POST", f"/v1.41/containers/{name}/start", 204)
    return CommandResult(cmd.kind, cmd.display(), 0, stdout=_hex(name) * 5 + "\n")


def _rm(lab: FakeLab, m: re.Match[str], cmd: Command) -> CommandResult:
    name = m.group(1)
    lab.remove("links", lambda o: getattr(o, "owner", None) == Owner("container", name))
    lab.remove("rules", lambda o: "DNAT" in getattr(o, "spec", ""))
    lab.call("DELETE", f"/v1.41/containers/{name}?force=1", 204)
    return CommandResult(cmd.kind, cmd.display(), 0, stdout=name + "\n")


def _echo(lab: FakeLab, m: re.Match[str], cmd: Command) -> CommandResult:
    return CommandResult(cmd.kind, cmd.display(), 0, stdout=m.group(1) + "\n")


def demo_lab(name: str = "fake") -> FakeLab:
    """A fake lab scripted for a few course commands (network create, run -p, rm -f, echo)."""
    docker0 = Link(
        name,
        3,
        "docker0",
        "bridge",
        "02:42:97:f1:7b:4f",
        "UP",
        1500,
        owner=Owner("network", "bridge"),
    )
    lab = FakeLab(name=name, state=Snapshot(taken_at=0.0, scope=f"lab:{name}", links=(docker0,)))
    lab.on(r"^docker network create (\S+)", _network_create)
    lab.on(r"^docker run -d --name (\S+) -p (\d+):\d+", _run_published)
    lab.on(r"^docker rm -f (\S+)", _rm)
    lab.on(r"^docker network rm (\S+)", lambda lab_, m, c: CommandResult(c.kind, c.display(), 0))
    lab.on(r"echo (\w+)", _echo)
    return lab
