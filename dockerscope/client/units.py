"""Sizes and durations the way go-units writes and reads them, as the docker CLI prints them.

``human_duration`` ("About a minute"), ``human_size`` ("1.984MB"), ``bytes_size`` ("23.54GiB"),
``parse_ram`` ("512m" -> bytes) and ``ago`` (the CREATED column). Standard library only.
"""

from __future__ import annotations

import re

_DECIMAL_UNITS = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"]
_BINARY_UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"]


def human_duration(seconds: float) -> str:
    """go-units HumanDuration: "Less than a second", "About a minute", "3 hours", ..."""
    secs = int(seconds)
    if secs < 1:
        return "Less than a second"
    if secs == 1:
        return "1 second"
    if secs < 60:
        return f"{secs} seconds"
    minutes = int(seconds / 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(seconds / 3600 + 0.5)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds / 3600) // 24 // 365} years"


def _go_g(value: float, precision: int) -> str:
    text = f"{value:.{precision}g}"
    return text


def _scaled(size: float, base: float, units: list[str]) -> tuple[float, str]:
    i = 0
    while size >= base and i < len(units) - 1:
        size /= base
        i += 1
    return size, units[i]


def human_size(size: float, precision: int = 4) -> str:
    """go-units HumanSizeWithPrecision: decimal units, e.g. 1984132 -> "1.984MB"."""
    value, unit = _scaled(float(size), 1000.0, _DECIMAL_UNITS)
    return _go_g(value, precision) + unit


def image_size(size: float) -> str:
    """The SIZE column of ``docker images``: three significant digits, "1.98MB"."""
    return human_size(size, 3)


def bytes_size(size: float) -> str:
    """go-units BytesSize: binary units with two decimals, e.g. "23.54GiB"."""
    value, unit = _scaled(float(size), 1024.0, _BINARY_UNITS)
    return f"{value:.4g}{unit}"


def parse_ram(text: str) -> int:
    """go-units RAMInBytes: "512m", "1g", "100k", "1024b", "1.5G" -> bytes (binary units)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmMgGtTpP]?)[iI]?[bB]?\s*", text)
    if not m:
        raise ValueError(f"invalid size: '{text}'")
    number = float(m.group(1))
    power = " kmgtp".index(m.group(2).lower() or " ")
    return int(number * (1024**power))


def ago(created: float, now: float) -> str:
    """The CREATED column: "3 seconds ago"."""
    return human_duration(max(0.0, now - created)) + " ago"
