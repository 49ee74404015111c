"""The clinic's branding in every page: its accent colour as an inline style that the
Content-Security-Policy allows by hash."""

import re

from django import template
from django.utils.safestring import mark_safe

from clinics.models import Clinic
from portal.core.csp import allow_inline_style

register = template.Library()

_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")


def _accent(clinic):
    """The colour to show, only ever a plain #rrggbb: it is written into CSS unescaped.
    A stored value the admin's validator would refuse falls back to the default."""
    if _COLOUR.fullmatch(clinic.accent_colour or ""):
        shown = clinic.portal_accent_colour
        if _COLOUR.fullmatch(shown):
            return shown
    return Clinic._meta.get_field("accent_colour").default


@register.simple_tag(takes_context=True)
def accent_style(context, clinic):
    """The clinic's accent colour as an inline <style>, allowed by its hash in this
    response's Content-Security-Policy."""
    css = f":root {{ --accent: {_accent(clinic)}; }}"
    request = context.get("request")
    if request is not None:
        allow_inline_style(request, css)
    return mark_safe(f"<style>{css}</style>")  # noqa: S308 - a checked colour
