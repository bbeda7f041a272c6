"""Image references: names, tags, ids and id prefixes, as Docker reads them."""

from __future__ import annotations

import pytest

from dockerscope.engine.images.errors import BadImage
from dockerscope.engine.images.reference import (
    Reference,
    id_prefix,
    is_full_id,
    parse_reference,
    short_id,
)

HEX = "92452fce0bd2da1e937961ed075458ec2dac18ae337c0149dc2cb8b3da50a8a7"


@pytest.mark.parametrize(
    ("text", "name", "tag"),
    [
        ("busybox", "busybox", "latest"),
        ("busybox:1.35", "busybox", "1.35"),
        ("library/busybox", "busybox", "latest"),
        ("docker.io/library/debian:bookworm", "debian", "bookworm"),
        ("docker.io/me/app:v2", "me/app", "v2"),
        ("localhost:5000/app", "localhost:5000/app", "latest"),
        ("registry.example.org:443/a/b:c", "registry.example.org:443/a/b", "c"),
        ("my-app_1.x", "my-app_1.x", "latest"),
    ],
)
def test_parse_reference(text: str, name: str, tag: str) -> None:
    ref = parse_reference(text)
    assert ref == Reference(name, tag)
    assert str(ref) == f"{name}:{tag}"


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "empty"),
        ("BusyBox", "lowercase"),
        ("busybox:", "bad tag"),
        ("busybox:-x", "bad tag"),
        ("bad name", "invalid reference"),
        ("a//b", "invalid reference"),
        ("busybox@sha256:" + HEX, "digest"),
        (HEX, "64-byte hexadecimal"),
    ],
)
def test_bad_references_are_refused(text: str, why: str) -> None:
    with pytest.raises(BadImage, match=why):
        parse_reference(text)


def test_id_forms() -> None:
    assert id_prefix("sha256:" + HEX) == HEX
    assert id_prefix(HEX[:12]) == HEX[:12]
    assert id_prefix("busybox") is None
    assert id_prefix("sha256:") is None
    assert is_full_id(HEX) and is_full_id("sha256:" + HEX)
    assert not is_full_id(HEX[:63])
    assert short_id("sha256:" + HEX) == HEX[:12]
