"""Image references as Docker reads them: ``name``, ``name:tag``, ids and id prefixes."""

from __future__ import annotations

import re
from dataclasses import dataclass

from dockerscope.engine.images.errors import BadImage

DEFAULT_TAG = "latest"

_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_DOMAIN = re.compile(
    r"^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?))*"
    r"(?::[0-9]+)?$"
)
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")
_HEX = re.compile(r"^[a-f0-9]+$")
_FULL_HEX = re.compile(r"^[a-f0-9]{64}$")


@dataclass(frozen=True)
class Reference:
    """A repository name and a tag, normalized the way Docker shows them."""

    name: str
    tag: str = DEFAULT_TAG

    def __str__(self) -> str:
        return f"{self.name}:{self.tag}"


def parse_reference(text: str) -> Reference:
    """Parse ``name[:tag]`` (default tag ``latest``); raise BadImage if Docker would refuse it.

    ``docker.io/library/busybox`` and ``library/busybox`` both become ``busybox``.
    """
    if not text:
        raise BadImage("invalid reference format: empty reference")
    if "@" in text:
        raise BadImage(
            f"invalid reference {text!r}: digest references are not supported "
            "(dockerscope has no registry)"
        )
    name, tag = text, DEFAULT_TAG
    slash = text.rfind("/")
    colon = text.rfind(":")
    if colon > slash:
        name, tag = text[:colon], text[colon + 1 :]
        if not _TAG.match(tag):
            raise BadImage(f"invalid reference format: bad tag {tag!r} in {text!r}")
    if name.lower() != name and "/" not in name:
        raise BadImage(f"invalid reference format: repository name must be lowercase: {text!r}")
    parts = name.split("/")
    domain = ""
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        domain = parts.pop(0)
        if not _DOMAIN.match(domain):
            raise BadImage(f"invalid reference format: bad registry host {domain!r} in {text!r}")
    for part in parts:
        if not _COMPONENT.match(part):
            if part.lower() != part:
                raise BadImage(
                    f"invalid reference format: repository name must be lowercase: {text!r}"
                )
            raise BadImage(f"invalid reference format: {text!r}")
    if domain in ("docker.io", "index.docker.io"):
        domain = ""
    if not domain and len(parts) == 2 and parts[0] == "library":
        parts = parts[1:]
    path = "/".join(parts)
    if not domain and _FULL_HEX.match(path):
        raise BadImage(
            f"invalid repository name ({path}), cannot specify 64-byte hexadecimal strings"
        )
    full = f"{domain}/{path}" if domain else path
    if len(full) > 255:
        raise BadImage(
            "invalid reference format: repository name must not be more than 255 characters"
        )
    return Reference(full, tag)


def id_prefix(text: str) -> str | None:
    """The hex part if ``text`` can be an image id or an id prefix (``sha256:`` optional)."""
    hexpart = text[len("sha256:") :] if text.startswith("sha256:") else text
    if hexpart and len(hexpart) <= 64 and _HEX.match(hexpart):
        return hexpart
    return None


def is_full_id(text: str) -> bool:
    """True for ``sha256:<64 hex>`` or 64 bare hex digits."""
    hexpart = id_prefix(text)
    return hexpart is not None and len(hexpart) == 64


def short_id(image_id: str) -> str:
    """The 12-hex form Docker prints (``sha256:`` dropped)."""
    return image_id.removeprefix("sha256:")[:12]
