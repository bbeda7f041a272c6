"""Dockerfile-like ``--change`` lines (``docker import/commit -c``) applied to a config."""

from __future__ import annotations

import json
import shlex
from dataclasses import replace

from dockerscope.engine.images.errors import BadImage
from dockerscope.engine.images.model import ImageConfig

SUPPORTED = ("CMD", "ENTRYPOINT", "ENV", "EXPOSE", "LABEL", "USER", "WORKDIR")


def apply_changes(config: ImageConfig, changes: list[str] | tuple[str, ...]) -> ImageConfig:
    """Apply each change line in order; raise BadImage naming a line that is not understood."""
    for line in changes:
        config = _apply_one(config, line)
    return config


def _apply_one(config: ImageConfig, line: str) -> ImageConfig:
    text = line.strip()
    word, _, rest = text.partition(" ")
    instruction = word.upper()
    rest = rest.strip()
    if instruction not in SUPPORTED:
        raise BadImage(
            f"unsupported change {line!r}: dockerscope understands " + ", ".join(SUPPORTED)
        )
    if not rest:
        raise BadImage(f"change {line!r} needs an argument")
    if instruction == "CMD":
        return replace(config, cmd=_command(rest, line))
    if instruction == "ENTRYPOINT":
        return replace(config, entrypoint=_command(rest, line))
    if instruction == "WORKDIR":
        path = rest
        if not path.startswith("/"):
            base = config.working_dir or "/"
            path = base.rstrip("/") + "/" + path
        return replace(config, working_dir=path)
    if instruction == "USER":
        return replace(config, user=rest)
    if instruction == "EXPOSE":
        ports = set(config.exposed_ports)
        for item in rest.split():
            ports.add(_port(item, line))
        return replace(config, exposed_ports=tuple(sorted(ports)))
    if instruction == "ENV":
        for key, value in _pairs(rest, line, allow_space_form=True):
            config = config.with_env(key, value)
        return config
    # LABEL
    labels = dict(config.labels)
    for key, value in _pairs(rest, line, allow_space_form=False):
        labels[key] = value
    return replace(config, labels=labels)


def _command(rest: str, line: str) -> tuple[str, ...]:
    """JSON (exec) form as is; shell form wrapped in ``/bin/sh -c`` like Docker."""
    if rest.startswith("["):
        try:
            value = json.loads(rest)
        except ValueError as exc:
            raise BadImage(f"change {line!r}: bad JSON array: {exc}") from exc
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise BadImage(f"change {line!r}: expected a JSON array of strings")
        return tuple(value)
    return ("/bin/sh", "-c", rest)


def _port(item: str, line: str) -> str:
    number, _, proto = item.partition("/")
    proto = (proto or "tcp").lower()
    if proto not in ("tcp", "udp", "sctp"):
        raise BadImage(f"change {line!r}: bad protocol {proto!r}")
    low, _, high = number.partition("-")
    if not low.isdigit() or (high and not high.isdigit()):
        raise BadImage(f"change {line!r}: bad port {item!r}")
    for n in (low, high or low):
        if not 0 < int(n) < 65536:
            raise BadImage(f"change {line!r}: port {n} out of range")
    return f"{number}/{proto}"


def _pairs(rest: str, line: str, *, allow_space_form: bool) -> list[tuple[str, str]]:
    """``k=v k2="v 2"`` pairs, or for ENV the old ``ENV key value with spaces`` form."""
    try:
        words = shlex.split(rest)
    except ValueError as exc:
        raise BadImage(f"change {line!r}: {exc}") from exc
    if "=" not in words[0]:
        if not allow_space_form or len(words) < 2:
            raise BadImage(f"change {line!r}: expected key=value")
        key, _, value = rest.partition(" ")
        return [(key, value.strip())]
    pairs = []
    for word in words:
        key, eq, value = word.partition("=")
        if not eq or not key:
            raise BadImage(f"change {line!r}: expected key=value, got {word!r}")
        pairs.append((key, value))
    return pairs
