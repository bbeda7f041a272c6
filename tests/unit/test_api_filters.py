"""Refusals of filters and platforms the engine does not apply."""

import pytest

from dockerscope.engine.api.filters import checked_filters
from dockerscope.engine.api.platform import check_platform, host_platform
from dockerscope.engine.errors import InvalidArgument, NotSupported


def test_known_filters_pass_unknown_are_named() -> None:
    assert checked_filters({"dangling": ["true"]}, {"dangling"}, "image prune") == {
        "dangling": ["true"]
    }
    assert checked_filters({"dangling": {"true": True}}, {"dangling"}, "x") == {
        "dangling": ["true"]
    }
    assert checked_filters(None, set(), "container prune") == {}
    with pytest.raises(
        NotSupported, match="not supported by dockerscope: container prune --filter until"
    ):
        checked_filters({"until": ["1h"]}, set(), "container prune")
    with pytest.raises(InvalidArgument):
        checked_filters(["not", "an", "object"], set(), "x")


def test_platform() -> None:
    here = host_platform()
    assert here.startswith("linux/")
    for ok in (None, "", "linux", here, here.upper()):
        check_platform(ok)
    other = "linux/arm64" if here != "linux/arm64" else "linux/amd64"
    with pytest.raises(NotSupported, match=f"--platform {other}"):
        check_platform(other)
    with pytest.raises(NotSupported):
        check_platform("windows/amd64")
