"""The record system's codes in plain words for the patient's pages."""

from django import template
from django.utils.translation import gettext_lazy as _

register = template.Library()

MEDICATION_STATUS = {
    "active": _("Taking"),
    "on-hold": _("On hold"),
    "intended": _("To start"),
    "stopped": _("Stopped"),
    "completed": _("Finished"),
    "cancelled": _("Cancelled"),
    "not-taken": _("Not taken"),
}
ALLERGY_CRITICALITY = {
    "high": _("High risk: a reaction could be serious"),
    "low": _("Low risk: a reaction is unlikely to be serious"),
    "unable-to-assess": _("Risk not known"),
}
ALLERGY_STATUS = {
    "active": _("Current"),
    "inactive": _("No longer current"),
    "resolved": _("Resolved"),
}
IMMUNIZATION_STATUS = {
    "completed": _("Given"),
    "not-done": _("Not given"),
}
UNKNOWN = _("Not stated")

WORDS = {
    "medication_status": MEDICATION_STATUS,
    "allergy_criticality": ALLERGY_CRITICALITY,
    "allergy_status": ALLERGY_STATUS,
    "immunization_status": IMMUNIZATION_STATUS,
}


@register.filter
def plain_words(code, kind):
    """``{{ row.status|plain_words:"medication_status" }}``: a code the record system
    sent, said plainly ("Not stated" for a code the portal does not know)."""
    return WORDS[kind].get((code or "").strip().lower(), UNKNOWN)
