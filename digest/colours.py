"""Colours as the email uses them: `#rrggbb` values and WCAG 2 contrast (issue 21). Pure and
light (config validates `email.accent` with it; digest.render derives the accent's shades).
"""

from __future__ import annotations

import re

WHITE = "#ffffff"
MIN_CONTRAST = 4.5  # WCAG AA for normal text: links and headings in the accent colour
_HEX_COLOUR = re.compile(r"^#(?:[0-9a-fA-F]{3}){1,2}$")


def hex_colour(value: str) -> str:
    """`#rgb` or `#rrggbb` as `#rrggbb` in lower case; ValueError for anything else."""
    if not _HEX_COLOUR.match(value):
        raise ValueError(f"not a colour like #0b5cad: {value!r}")
    digits = value[1:].lower()
    return "#" + ("".join(c * 2 for c in digits) if len(digits) == 3 else digits)


def luminance(colour: str) -> float:
    """WCAG relative luminance of a `#rrggbb` colour."""
    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b)


def contrast(a: str, b: str) -> float:
    """WCAG contrast ratio of two `#rrggbb` colours, 1 to 21."""
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def mix(a: str, b: str, share: float) -> str:
    """`a` with `share` (0 to 1) of `b` blended in, channel by channel."""
    return "#" + "".join(
        f"{round(int(a[i:i + 2], 16) * (1 - share) + int(b[i:i + 2], 16) * share):02x}"
        for i in (1, 3, 5))


def readable_accent(value: str) -> str:
    """An accent colour as `#rrggbb`, if links and headings in it read on white (4.5:1);
    ValueError saying why otherwise."""
    colour = hex_colour(value)
    ratio = contrast(colour, WHITE)
    if ratio < MIN_CONTRAST:
        raise ValueError(f"{colour} on white has a contrast of {ratio:.1f}:1; links and "
                         f"headings need {MIN_CONTRAST}:1: choose a darker colour")
    return colour
