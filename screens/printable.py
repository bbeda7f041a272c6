"""Outside text made safe to draw: file names in an upper dir, process names, interface
names, API paths, container output.

Textual writes a widget's text to the terminal as it is, so an escape sequence inside a file
name that a container created (``\\x1b]0;...``, ``\\x1b[2J``) would reach the teacher's terminal
and retitle, clear or garble it. Each control character is drawn instead as its Unicode
control picture (ESC as ``␛``, TAB as ``␉``), one character for one: offsets of styled ranges
stay right and the reader sees that the name holds a control character.
"""

from __future__ import annotations

#: C0 controls -> U+2400..U+241F, DEL -> U+2421, C1 controls -> U+FFFD.
_PICTURES = {
    **{code: 0x2400 + code for code in range(0x20)},
    0x7F: 0x2421,
    **{code: 0xFFFD for code in range(0x80, 0xA0)},
}
#: The same, keeping line breaks and tabs (multi-line command output).
_PICTURES_KEEP_LINES = {k: v for k, v in _PICTURES.items() if k not in (0x09, 0x0A)}


def printable(text: str) -> str:
    """``text`` with every control character shown as a visible picture of it."""
    return text if text.isprintable() else text.translate(_PICTURES)


def printable_output(text: str) -> str:
    """Command output with its line breaks and tabs kept, other control characters (colour
    and cursor escapes included) shown as pictures."""
    return text.translate(_PICTURES_KEEP_LINES)
