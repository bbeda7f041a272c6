"""A footer that rebuilds its keys only when the keys it shows change.

Textual's ``Footer`` recomposes (new key widgets, restyled) on every focus change. The dashboard
moves focus on each panel switch (the panel shown takes the keyboard) while the keys in the
footer stay the same, so that rebuild was work on every key press for nothing.
"""

from __future__ import annotations

from typing import Any

from textual.screen import Screen
from textual.widgets import Footer


def shown_bindings(screen: Screen[Any]) -> tuple[tuple[str, str, str, bool, str], ...]:
    """What the footer would show for ``screen``: key, description, action, enabled, tooltip."""
    return tuple((b.key, b.description, b.action, enabled, tooltip)
                 for (_node, b, enabled, tooltip) in screen.active_bindings.values() if b.show)


class QuietFooter(Footer):
    """``Footer`` minus the rebuilds that would draw the same keys again."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._drawn: tuple[tuple[str, str, str, bool, str], ...] | None = None
        self.rebuilds = 0  #: bindings changes that led to a rebuild (tests read it)

    def bindings_changed(self, screen: Screen[Any]) -> None:
        if not screen.app.app_focus or not self.is_attached or screen is not self.screen:
            super().bindings_changed(screen)  # nothing drawn: keep Textual's own handling
            return
        shown = shown_bindings(screen)
        if shown == self._drawn:
            return
        self._drawn = shown
        self.rebuilds += 1
        super().bindings_changed(screen)
