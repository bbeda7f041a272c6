"""Images as Docker describes them: the config JSON, its id, its history."""

from __future__ import annotations

import calendar
import hashlib
import json
import platform
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from dockerscope.engine.images.errors import BadImage

EMPTY_LAYER_DIFF_ID = "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"
"""DiffID of a layer tar with no members (1024 zero bytes), as every Docker knows it."""

_ARCH = {
    "x86_64": "amd64",
    "aarch64": "arm64",
    "armv7l": "arm",
    "i686": "386",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
    "riscv64": "riscv64",
}


def host_architecture() -> str:
    """This machine's architecture in Docker's (Go's) spelling."""
    machine = platform.machine()
    return _ARCH.get(machine, machine)


def now_rfc3339() -> str:
    """The current UTC time as Go's RFC3339Nano, e.g. ``2026-11-27T20:37:43.12345678Z``."""
    return format_rfc3339(time.time_ns())


def format_rfc3339(ns: int) -> str:
    """Nanoseconds since the epoch as Go's RFC3339Nano (trailing zeros dropped)."""
    seconds, frac = divmod(ns, 1_000_000_000)
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    if frac:
        text += "." + f"{frac:09d}".rstrip("0")
    return text + "Z"


_TIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})$"
)


def parse_rfc3339(text: str) -> float:
    """Seconds since the epoch from an RFC3339 time as found in image configs (0.0 if absent)."""
    if not text:
        return 0.0
    m = _TIME.match(text)
    if not m:
        raise BadImage(f"bad time {text!r} in image config")
    year, month, day, hour, minute, sec = (int(g) for g in m.groups()[:6])
    frac = float("0." + m.group(7)) if m.group(7) else 0.0
    offset = 0
    if m.group(8) != "Z":
        sign = 1 if m.group(8)[0] == "+" else -1
        offset = sign * (int(m.group(8)[1:3]) * 3600 + int(m.group(8)[4:6]) * 60)
    return calendar.timegm((year, month, day, hour, minute, sec, 0, 0, 0)) - offset + frac


@dataclass(frozen=True)
class ImageConfig:
    """The run defaults an image carries (the ``config`` object of Docker's image JSON)."""

    env: tuple[str, ...] = ()
    cmd: tuple[str, ...] | None = None
    entrypoint: tuple[str, ...] | None = None
    working_dir: str = ""
    user: str = ""
    exposed_ports: tuple[str, ...] = ()
    """Like ``("80/tcp",)``."""
    labels: Mapping[str, str] = field(default_factory=dict, hash=False)

    @classmethod
    def from_docker(cls, obj: Mapping[str, Any] | None) -> ImageConfig:
        """Read Docker's ``config`` object (``None`` gives an empty config)."""
        obj = obj or {}
        try:
            return cls(
                env=tuple(str(e) for e in obj.get("Env") or ()),
                cmd=_strings_or_none(obj.get("Cmd")),
                entrypoint=_strings_or_none(obj.get("Entrypoint")),
                working_dir=str(obj.get("WorkingDir") or ""),
                user=str(obj.get("User") or ""),
                exposed_ports=tuple(sorted(obj.get("ExposedPorts") or {})),
                labels={str(k): str(v) for k, v in (obj.get("Labels") or {}).items()},
            )
        except (AttributeError, TypeError) as exc:
            raise BadImage(f"bad config object in image JSON: {exc}") from exc

    def to_docker(self, base: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Docker's ``config`` object in Docker's key order; ``base`` (a parent's) fills the
        fields this class does not model (Volumes, StopSignal, Healthcheck, ...)."""
        merged: dict[str, Any] = {**_CONFIG_DEFAULTS, **(base or {})}
        merged.update(
            {
                "User": self.user,
                "ExposedPorts": {p: {} for p in self.exposed_ports} or None,
                "Env": list(self.env) if self.env else None,
                "Cmd": list(self.cmd) if self.cmd is not None else None,
                "WorkingDir": self.working_dir,
                "Entrypoint": list(self.entrypoint) if self.entrypoint is not None else None,
                "Labels": dict(self.labels) if self.labels else None,
            }
        )
        out: dict[str, Any] = {}
        for key in _CONFIG_KEYS:
            if key in merged and not (key in _OMITEMPTY and not merged[key]):
                out[key] = merged[key]
        for key, value in merged.items():
            if key not in _CONFIG_KEYS:
                out[key] = value
        return out

    def env_dict(self) -> dict[str, str]:
        """Env as a mapping (later entries win, as in a process environment)."""
        out: dict[str, str] = {}
        for item in self.env:
            key, _, value = item.partition("=")
            out[key] = value
        return out

    def with_env(self, key: str, value: str) -> ImageConfig:
        """A copy with ``key=value`` set (replacing an earlier value in place)."""
        items = [e for e in self.env if e.partition("=")[0] != key]
        index = next((i for i, e in enumerate(self.env) if e.partition("=")[0] == key), None)
        if index is None:
            items.append(f"{key}={value}")
        else:
            items.insert(index, f"{key}={value}")
        return replace(self, env=tuple(items))


# Field order of Docker's container config struct, and the fields Go omits when empty.
_CONFIG_KEYS = (
    "Hostname",
    "Domainname",
    "User",
    "AttachStdin",
    "AttachStdout",
    "AttachStderr",
    "ExposedPorts",
    "Tty",
    "OpenStdin",
    "StdinOnce",
    "Env",
    "Cmd",
    "Healthcheck",
    "ArgsEscaped",
    "Image",
    "Volumes",
    "WorkingDir",
    "Entrypoint",
    "NetworkDisabled",
    "MacAddress",
    "OnBuild",
    "Labels",
    "StopSignal",
    "StopTimeout",
    "Shell",
)
_OMITEMPTY = frozenset(
    {
        "ExposedPorts",
        "Healthcheck",
        "ArgsEscaped",
        "NetworkDisabled",
        "MacAddress",
        "StopSignal",
        "StopTimeout",
        "Shell",
    }
)
_CONFIG_DEFAULTS: dict[str, Any] = {
    "Hostname": "",
    "Domainname": "",
    "AttachStdin": False,
    "AttachStdout": False,
    "AttachStderr": False,
    "Tty": False,
    "OpenStdin": False,
    "StdinOnce": False,
    "Image": "",
    "Volumes": None,
    "OnBuild": None,
}


def _strings_or_none(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)


@dataclass(frozen=True)
class HistoryEntry:
    """One step of how an image was made (an element of the config's ``history``)."""

    created: str = ""
    created_by: str = ""
    author: str = ""
    comment: str = ""
    empty_layer: bool = False

    @classmethod
    def from_docker(cls, obj: Mapping[str, Any]) -> HistoryEntry:
        return cls(
            created=str(obj.get("created") or ""),
            created_by=str(obj.get("created_by") or ""),
            author=str(obj.get("author") or ""),
            comment=str(obj.get("comment") or ""),
            empty_layer=bool(obj.get("empty_layer")),
        )

    def to_docker(self) -> dict[str, Any]:
        """Docker's JSON form: empty fields are left out (Go's omitempty)."""
        out: dict[str, Any] = {}
        if self.created:
            out["created"] = self.created
        if self.author:
            out["author"] = self.author
        if self.created_by:
            out["created_by"] = self.created_by
        if self.comment:
            out["comment"] = self.comment
        if self.empty_layer:
            out["empty_layer"] = True
        return out


@dataclass(frozen=True)
class Image:
    """An image in the store: its id, tags, config and layers."""

    id: str
    """``sha256:`` + sha256 of the config JSON bytes, as Docker."""
    repo_tags: tuple[str, ...]
    created: str
    config: ImageConfig
    diff_ids: tuple[str, ...]
    size: int
    """Bytes in all its layers (regular files and symlinks, hard links once)."""
    parent: str = ""
    comment: str = ""
    author: str = ""
    history: tuple[HistoryEntry, ...] = ()
    os: str = "linux"
    architecture: str = "amd64"
    docker_version: str = ""
    raw: Mapping[str, Any] = field(default_factory=dict, hash=False, compare=False, repr=False)
    """The whole config JSON as parsed, for ``inspect``."""

    @property
    def short_id(self) -> str:
        return self.id.removeprefix("sha256:")[:12]

    @property
    def created_unix(self) -> int:
        return int(parse_rfc3339(self.created))


@dataclass(frozen=True)
class HistoryRow:
    """One line of ``docker history``, newest first (``id`` is ``<missing>`` when unknown)."""

    id: str
    created: int
    created_by: str
    tags: tuple[str, ...]
    size: int
    comment: str


def image_id(config_bytes: bytes) -> str:
    """The image id of a config: ``sha256:`` + the sha256 of its exact bytes."""
    return "sha256:" + hashlib.sha256(config_bytes).hexdigest()


def chain_ids(diff_ids: tuple[str, ...] | list[str]) -> list[str]:
    """ChainIDs of a layer stack, bottom first.

    chain[0] = diff[0]; chain[n] = sha256(chain[n-1] + " " + diff[n]), as Docker.
    """
    out: list[str] = []
    for diff in diff_ids:
        if not out:
            out.append(diff)
        else:
            out.append("sha256:" + hashlib.sha256(f"{out[-1]} {diff}".encode()).hexdigest())
    return out


def build_config(
    *,
    config: ImageConfig,
    diff_ids: list[str],
    history: list[HistoryEntry],
    created: str,
    author: str = "",
    comment: str = "",
    parent_raw: Mapping[str, Any] | None = None,
    container: str = "",
) -> bytes:
    """Serialize an image config the way Docker does (compact JSON, Docker's key order)."""
    obj: dict[str, Any] = {"architecture": host_architecture()}
    if author:
        obj["author"] = author
    if comment:
        obj["comment"] = comment
    base = (parent_raw or {}).get("config") if parent_raw else None
    obj["config"] = config.to_docker(base)
    if container:
        obj["container"] = container
    obj["created"] = created
    obj["docker_version"] = "dockerscope"
    obj["history"] = [h.to_docker() for h in history]
    obj["os"] = "linux"
    obj["rootfs"] = {"type": "layers", "diff_ids": list(diff_ids)}
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def parse_config(data: bytes) -> dict[str, Any]:
    """Parse and check an image config JSON; raise BadImage on anything malformed."""
    try:
        obj = json.loads(data)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadImage(f"image config is not valid JSON: {exc}") from exc
    if not isinstance(obj, dict):
        raise BadImage("image config is not a JSON object")
    rootfs = obj.get("rootfs")
    if not isinstance(rootfs, dict) or rootfs.get("type") != "layers":
        raise BadImage('image config has no rootfs of type "layers"')
    diff_ids = rootfs.get("diff_ids") or []
    if not isinstance(diff_ids, list) or not all(
        isinstance(d, str) and re.match(r"^sha256:[a-f0-9]{64}$", d) for d in diff_ids
    ):
        raise BadImage("image config has malformed rootfs.diff_ids")
    if obj.get("config") is not None and not isinstance(obj["config"], dict):
        raise BadImage("image config has a malformed config object")
    history = obj.get("history") or []
    if not isinstance(history, list) or not all(isinstance(h, dict) for h in history):
        raise BadImage("image config has malformed history")
    parse_rfc3339(str(obj.get("created") or ""))
    return obj


def image_from_config(
    image_id_: str,
    obj: Mapping[str, Any],
    *,
    repo_tags: tuple[str, ...],
    size: int,
    parent: str,
) -> Image:
    """An Image from a parsed config JSON and what the store knows beside it."""
    return Image(
        id=image_id_,
        repo_tags=repo_tags,
        created=str(obj.get("created") or ""),
        config=ImageConfig.from_docker(obj.get("config")),
        diff_ids=tuple(obj["rootfs"].get("diff_ids") or ()),
        size=size,
        parent=parent,
        comment=str(obj.get("comment") or ""),
        author=str(obj.get("author") or ""),
        history=tuple(HistoryEntry.from_docker(h) for h in obj.get("history") or ()),
        os=str(obj.get("os") or "linux"),
        architecture=str(obj.get("architecture") or ""),
        docker_version=str(obj.get("docker_version") or ""),
        raw=obj,
    )
