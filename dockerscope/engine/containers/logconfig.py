"""``HostConfig.LogConfig``: the json-file driver's options (``--log-opt max-size/max-file``),
or ``none``; validated with Docker's wording, and with the lab's default cap filled in.

Docker keeps every line forever unless ``max-size`` is given; a lab shares one disk between
many people, so dockerscope caps logs by default at 10 MB x 3 files (the values Docker's docs
recommend in ``daemon.json``). As dockerd merges its daemon-wide ``log-opts`` into a new
container's config, the defaults show in ``docker inspect``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from dockerscope.engine.errors import InvalidArgument, NotSupported

JSON_FILE = "json-file"
NONE = "none"
#: The lab's default cap when a container gives none (Docker's "max-size"/"max-file" syntax).
DEFAULT_OPTS: tuple[tuple[str, str], ...] = (("max-file", "3"), ("max-size", "10m"))
#: Options of Docker's json-file driver dockerscope does not implement (they are refused).
UNSUPPORTED_OPTS = ("compress", "labels", "labels-regex", "env", "env-regex", "tag")
_SIZE = re.compile(r"^(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$")
# go-units' FromHumanSize is decimal: "10m" is 10,000,000 bytes.
_UNIT = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12, "p": 10**15}


def parse_size(text: str) -> int:
    """Bytes of a size as Docker reads ``max-size`` ("10m", "1.5k", "200kb"); InvalidArgument
    with Docker's wording otherwise."""
    m = _SIZE.match(text)
    if m is None:
        raise InvalidArgument(f"invalid size: '{text}'")
    try:
        number = float(m.group(1))
    except ValueError:
        raise InvalidArgument(f"invalid size: '{text}'") from None
    return int(number * _UNIT[(m.group(2) or "").lower()])


@dataclass(frozen=True)
class LogConfig:
    """A container's log driver and its options, as inspect shows them."""

    type: str = JSON_FILE
    config: tuple[tuple[str, str], ...] = DEFAULT_OPTS

    @property
    def max_size(self) -> int | None:
        """Bytes per file before a rotation (None: no cap)."""
        value = dict(self.config).get("max-size")
        return parse_size(value) if value else None

    @property
    def max_file(self) -> int:
        """How many files (the current one included) a capped log keeps."""
        value = dict(self.config).get("max-file")
        return int(value) if value else 1

    @property
    def keeps_log(self) -> bool:
        """False for ``--log-driver none``: nothing is written, ``docker logs`` refuses."""
        return self.type != NONE

    def to_docker(self) -> dict[str, Any]:
        """Docker's ``HostConfig.LogConfig``."""
        return {"Type": self.type, "Config": dict(self.config)}


def parse_log_config(raw: dict[str, Any]) -> LogConfig:
    """``HostConfig.LogConfig`` of a create request: json-file (the default) with its
    ``max-size``/``max-file``, or ``none``; anything else is refused (400)."""
    driver = raw.get("Type") or JSON_FILE
    opts = raw.get("Config") or {}
    if not isinstance(driver, str):
        raise InvalidArgument("HostConfig.LogConfig.Type must be a string")
    if not isinstance(opts, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in opts.items()
    ):
        raise InvalidArgument("HostConfig.LogConfig.Config must be an object of strings")
    if driver == NONE:
        if opts:
            raise InvalidArgument(f"unknown log opt '{sorted(opts)[0]}' for none log driver")
        return LogConfig(NONE, ())
    if driver != JSON_FILE:
        raise NotSupported(f"--log-driver {driver} (json-file and none only)")
    for key in opts:
        if key in UNSUPPORTED_OPTS:
            raise NotSupported(f"--log-opt {key}")
        if key not in ("max-size", "max-file"):
            raise InvalidArgument(f"unknown log opt '{key}' for json-file log driver")
    if "max-size" in opts and parse_size(opts["max-size"]) <= 0:
        raise InvalidArgument("max-size must be a positive number")
    if "max-file" in opts:
        text = opts["max-file"]
        if not re.fullmatch(r"[+-]?\d+", text):
            raise InvalidArgument(f'strconv.Atoi: parsing "{text}": invalid syntax')
        if int(text) < 1:
            raise InvalidArgument("max-file cannot be less than 1")
    # As dockerd merges its daemon-wide log-opts: a default fills each option not given.
    return LogConfig(JSON_FILE, tuple(sorted({**dict(DEFAULT_OPTS), **opts}.items())))
