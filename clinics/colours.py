"""Colour arithmetic for the clinic's accent colour (WCAG 2 relative luminance).

The portal puts white text on the accent colour (header, buttons, badges) and uses it for
links on white and on the light panel colour, so the shade it shows must reach 4.5:1
against all three. Clinics choose any colour; a light one is shown darkened, keeping its hue.
"""

from functools import lru_cache

# The lightest-but-one background the accent is used on: --panel in static/css/portal.css.
PANEL = "#f4f6f8"
# WCAG 2 AA for normal-size text is 4.5:1; the margin keeps rounding on the safe side.
MINIMUM_CONTRAST = 4.6


def _channels(colour: str) -> tuple[int, int, int]:
    colour = colour.lstrip("#")
    return int(colour[0:2], 16), int(colour[2:4], 16), int(colour[4:6], 16)


def relative_luminance(colour: str) -> float:
    def linear(channel):
        value = channel / 255
        return value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4

    red, green, blue = (linear(c) for c in _channels(colour))
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def contrast_ratio(first: str, second: str) -> float:
    lighter, darker = sorted((relative_luminance(first), relative_luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


@lru_cache(maxsize=256)  # every page shows it; a clinic changes it rarely
def readable_accent(colour: str) -> str:
    """``colour`` if white text on it, and it as text on white and on the panel colour, is
    readable (4.5:1); otherwise the same hue darkened just enough. Lower-case #rrggbb."""
    red, green, blue = _channels(colour)
    for step in range(101):
        factor = 1 - step / 100
        shade = "#" + "".join(f"{round(c * factor):02x}" for c in (red, green, blue))
        # The panel is darker than white, so reaching it reaches white too.
        if contrast_ratio(shade, PANEL) >= MINIMUM_CONTRAST:
            return shade
    return "#000000"
