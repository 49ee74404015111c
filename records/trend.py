"""A test's trend as a small chart drawn on the server: the geometry of an inline SVG
(``templates/records/_trend.html``), no JavaScript. Pure arithmetic on the values the
page already has; the chart keeps one size whatever the number of values."""

from dataclasses import dataclass
from decimal import Decimal

from django.utils.html import format_html, format_html_join

WIDTH, HEIGHT = 320, 120
PAD_X, PAD_TOP, PAD_BOTTOM = 8, 10, 10
MAX_POINTS = 60  # the newest values drawn; the table below the chart lists the same ones


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    observation: object


@dataclass(frozen=True)
class Trend:
    points: list
    polyline: str
    band: tuple | None  # (y, height) of the lab's reference range, when it has one
    low: Decimal
    high: Decimal
    width: int = WIDTH
    height: int = HEIGHT

    @property
    def marks(self):
        """The SVG's shapes: the usual range as a band, the line and a dot per value
        (built here rather than by a template loop: a page may draw hundreds of dots)."""
        band = ""
        if self.band:
            band = format_html(
                '<rect x="0" y="{}" width="{}" height="{}" fill="#e3f1e6"/>',
                self.band[0],
                self.width,
                self.band[1],
            )
        line = format_html(
            '<polyline points="{}" fill="none" stroke="#1f5f8b" stroke-width="2"/>',
            self.polyline,
        )
        dots = format_html_join(
            "",
            '<circle cx="{}" cy="{}" r="3" fill="#1f5f8b"/>',
            ((str(p.x), str(p.y)) for p in self.points),
        )
        return band + line + dots


def trend_of(observations) -> Trend | None:
    """The chart of ``observations`` (one test's numeric values, oldest first, one
    unit), or None with fewer than two."""
    observations = list(observations)[-MAX_POINTS:]
    if len(observations) < 2:
        return None
    values = [o.value_quantity for o in observations]
    newest = observations[-1]
    bounds = [*values, *(v for v in (newest.range_low, newest.range_high) if v is not None)]
    low, high = min(bounds), max(bounds)
    if low == high:
        low, high = low - 1, high + 1
    first, last = observations[0].date, observations[-1].date
    span = (last - first).total_seconds()
    inner_w, inner_h = WIDTH - 2 * PAD_X, HEIGHT - PAD_TOP - PAD_BOTTOM

    def y_of(value):
        return round(PAD_TOP + float((high - value) / (high - low)) * inner_h, 1)

    points = []
    for index, observation in enumerate(observations):
        if span > 0:
            share = (observation.date - first).total_seconds() / span
        else:
            share = index / (len(observations) - 1)
        x = round(PAD_X + share * inner_w, 1)
        points.append(Point(x=x, y=y_of(observation.value_quantity), observation=observation))
    band = None
    if newest.range_low is not None or newest.range_high is not None:
        top = y_of(newest.range_high if newest.range_high is not None else high)
        bottom = y_of(newest.range_low if newest.range_low is not None else low)
        band = (top, round(bottom - top, 1))
    return Trend(
        points=points,
        polyline=" ".join(f"{p.x},{p.y}" for p in points),
        band=band,
        low=low,
        high=high,
    )
