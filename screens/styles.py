"""Rich styles shared by the panels, so "new", "gone" and "ticked" look the same everywhere."""

from __future__ import annotations

from dockerscope.screens.state import DashState, Mark

NEW = "bold black on green3"
NEW_SETTLING = "bold green3"
GONE = "strike red1"
GONE_FADING = "strike grey50"
TICKED = "bold yellow"
OWNER = "cyan"
DIM = "grey50"
HEADING = "bold"
SHARED = ("bold magenta", "bold dark_orange", "bold deep_sky_blue1", "bold green_yellow")


def mark_style(state: DashState, mark: Mark | None) -> str:
    """The style for an object with this mark: bright when fresh, softer as it fades."""
    if mark is None:
        return ""
    fresh = state.age(mark) < 0.5
    if mark.action == "added":
        return NEW if fresh else NEW_SETTLING
    return GONE if fresh else GONE_FADING


def owner_tag(obj: object) -> str:
    """`` ◂ container web`` for an object with an owner, else ""."""
    owner = getattr(obj, "owner", None)
    return f" ◂ {owner.label()}" if owner is not None else ""
