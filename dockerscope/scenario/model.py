"""A course scenario as data: steps, commands, expectations and predict questions.

The loader (``loader.py``) builds these from a TOML file and validates them; the runner
(``runner.py``) executes them against a lab; the recorder writes what happened. Nothing here
touches the kernel or the UI.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

#: Version of the scenario file format this code reads (``format = 1`` in every file).
FORMAT_VERSION = 1


def digest(data: bytes) -> str:
    """The hash recordings keep of their scenario file (line endings normalised, so a checkout
    that turns LF into CRLF does not make every recording look stale)."""
    return hashlib.sha256(data.replace(b"\r\n", b"\n")).hexdigest()


#: Where a command runs.
COMMAND_KINDS = ("docker", "lab", "container", "host")

#: Panels a step may focus (names the dashboard knows).
PANELS = (
    "bridges",
    "nat",
    "filter",
    "namespaces",
    "cgroups",
    "storage",
    "flows",
    "traffic",
    "timeline",
    "routes",
    "processes",
    "sockets",
)


@dataclass(frozen=True)
class Command:
    """One command of a step.

    ``kind`` says where it runs: ``docker`` (a docker-style command line through dockerscope's
    client against the lab, without the leading ``docker``), ``lab`` (a shell in the lab host),
    ``container`` (a shell inside the running container ``container``, through exec) or ``host``
    (a shell on the real host). ``background`` commands are started and left running until the
    scenario ends (or they finish); the step does not wait for them.
    """

    kind: str
    run: str
    container: str = ""
    background: bool = False
    timeout: float = 60.0
    show: bool = True  # shown on screen; hidden set-up commands say False

    def display(self) -> str:
        """The command line as a student would type it."""
        if self.kind == "docker":
            return f"docker {self.run}"
        if self.kind == "lab":
            return f"lab$ {self.run}"
        if self.kind == "container":
            return f"{self.container}$ {self.run}"
        return f"host$ {self.run}"


@dataclass(frozen=True)
class Expectation:
    """One declarative check of what the kernel shows after a step.

    ``kind`` names the check (``link``, ``rule``, ``flow``...), ``params`` its arguments as written
    in the file (a dict, or a plain value for the short forms such as ``veth_on = "docker0"``).
    """

    kind: str
    params: Any
    line: int = 0  # line in the scenario file, for messages


@dataclass(frozen=True)
class Choice:
    """One answer of a predict question; ``expect`` (optional) is what the kernel shows if true."""

    text: str
    expect: Expectation | None = None


@dataclass(frozen=True)
class Predict:
    """A question asked before the step's commands run; the kernel then reveals the answer."""

    question: str
    choices: tuple[Choice, ...]
    answer: int  # 0-based index of the right choice
    explain: str = ""


@dataclass(frozen=True)
class Step:
    """One step of a walkthrough."""

    id: str
    title: str
    narration: str
    commands: tuple[Command, ...] = ()
    focus: tuple[str, ...] = ()
    expect: tuple[Expectation, ...] = ()
    predict: Predict | None = None
    settle: float = 0.3  # seconds to wait after the commands before the "after" snapshot
    line: int = 0


@dataclass(frozen=True)
class Needs:
    """What a scenario needs from the lab."""

    images: tuple[str, ...] = ()
    root: bool = True


@dataclass(frozen=True)
class Scenario:
    """A whole course scenario, as loaded from one file."""

    format: int
    id: str
    title: str
    section: int
    summary: str
    needs: Needs
    steps: tuple[Step, ...]
    cleanup: tuple[Command, ...] = ()
    path: str = ""  # file it was loaded from
    sha256: str = ""  # hash of the file's bytes (recordings carry it)

    def step_index(self, step_id: str) -> int:
        """Position of the step with this id (ValueError if none)."""
        for i, s in enumerate(self.steps):
            if s.id == step_id:
                return i
        raise ValueError(f"no step {step_id!r} in scenario {self.id}")


@dataclass(frozen=True)
class CommandResult:
    """What one command did: its exit code and output (background ones: what they said so far)."""

    kind: str
    command: str  # as displayed (``Command.display()``, placeholders filled in)
    exit_code: int | None  # None: still running (background)
    stdout: str = ""
    stderr: str = ""
    duration: float = 0.0
    background: bool = False
    show: bool = True  # False for a hidden set-up command (``Command.show``)

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CommandResult:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})
