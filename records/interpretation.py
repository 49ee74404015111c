"""How a result is written for the patient: its value with its unit, the lab's reference
range and the lab's flag (HL7 v3 ObservationInterpretation) in plain words, never a
bare code."""

from django.utils.formats import get_format
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

# The flags a lab sends, in words. A code not listed here is not shown (a bare code
# would only puzzle).
FLAGS = {
    "N": (_("Normal"), "normal"),
    "H": (_("High"), "abnormal"),
    "L": (_("Low"), "abnormal"),
    "HH": (_("Critically high"), "critical"),
    "LL": (_("Critically low"), "critical"),
    "HU": (_("Very high"), "critical"),
    "LU": (_("Very low"), "critical"),
    "H>": (_("Critically high"), "critical"),
    "L<": (_("Critically low"), "critical"),
    ">": (_("Above the measurable range"), "abnormal"),
    "<": (_("Below the measurable range"), "abnormal"),
    "A": (_("Abnormal"), "abnormal"),
    "AA": (_("Critically abnormal"), "critical"),
    "POS": (pgettext_lazy("test result", "Positive"), "abnormal"),
    "NEG": (pgettext_lazy("test result", "Negative"), "normal"),
    "DET": (pgettext_lazy("test result", "Detected"), "abnormal"),
    "ND": (pgettext_lazy("test result", "Not detected"), "normal"),
    "IND": (pgettext_lazy("test result", "Inconclusive"), "abnormal"),
}


def flag(code: str):
    """(words, kind) for the lab's flag, kind being normal, abnormal or critical; None
    when there is no flag or one the portal does not know."""
    return FLAGS.get((code or "").strip().upper())


def number(value) -> str:
    """A decimal as people write it: no trailing zeros, the language's separator."""
    if value is None:
        return ""
    text = format(value.normalize(), "f")
    # No grouping (as number_format without USE_THOUSAND_SEPARATOR), a fraction of the
    # cost: a page writes hundreds of values.
    return text.replace(".", get_format("DECIMAL_SEPARATOR")) if "." in text else text


def value_text(observation) -> str:
    if observation.value_quantity is not None:
        text = number(observation.value_quantity)
        return f"{text} {observation.value_unit}".strip()
    return observation.value_display or observation.value_string


def range_text(observation) -> str:
    """The lab's reference range, as the lab wrote it or from its bounds."""
    if observation.range_text:
        return observation.range_text
    low, high = observation.range_low, observation.range_high
    unit = observation.value_unit
    if low is not None and high is not None:
        text = f"{number(low)}–{number(high)}"
    elif low is not None:
        text = f"≥ {number(low)}"
    elif high is not None:
        text = f"≤ {number(high)}"
    else:
        return ""
    return f"{text} {unit}".strip()
