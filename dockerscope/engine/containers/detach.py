"""Detach keys: the key sequence (default ctrl-p ctrl-q) that leaves a tty session running."""

from __future__ import annotations

DEFAULT = "ctrl-p,ctrl-q"
_SPECIAL = {"@": 0, "[": 27, "\\": 28, "]": 29, "^": 30, "_": 31}


def parse_keys(text: str | None) -> bytes:
    """``ctrl-p,ctrl-q`` -> b"\\x10\\x11", as Docker reads ``--detach-keys``."""
    text = text or DEFAULT
    out = bytearray()
    for key in text.split(","):
        key = key.strip()
        if len(key) == 1:
            out.append(ord(key))
        elif key.lower().startswith("ctrl-") and len(key) == 6:
            ch = key[5].lower()
            if "a" <= ch <= "z":
                out.append(ord(ch) - ord("a") + 1)
            elif ch in _SPECIAL:
                out.append(_SPECIAL[ch])
            else:
                raise ValueError(f"Invalid detach keys ({text}) provided")
        else:
            raise ValueError(f"Invalid detach keys ({text}) provided")
    return bytes(out)


class DetachWatcher:
    """Passes stdin through, holding back a possible start of the sequence; says when the
    whole sequence was typed (those bytes are not forwarded)."""

    def __init__(self, keys: bytes) -> None:
        self.keys = keys
        self.held = b""

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        """(bytes to forward, detached?)."""
        out = bytearray()
        for byte in data:
            if not self.keys:
                out.append(byte)
                continue
            if byte == self.keys[len(self.held)]:
                self.held += bytes([byte])
                if len(self.held) == len(self.keys):
                    self.held = b""
                    return bytes(out), True
                continue
            out += self.held
            self.held = b""
            if byte == self.keys[0]:
                self.held = bytes([byte])
            else:
                out.append(byte)
        return bytes(out), False
