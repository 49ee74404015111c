"""Every list, filter and detail page of a clinic's admin names coded values in words:
"Text message", not "sms"; "Parent", not "parent"; "Appointment reminder", not
"appointment_reminder"."""

import re

import pytest
from django.urls import reverse

from clinics.admin_site import clinic_admin_site
from tests.clients import staff_client
from tests.clinics.busy_clinic import a_busy_clinic, raw_codes

pytestmark = pytest.mark.django_db

CELL = re.compile(r'<t[dh] class="field-[^"]*"[^>]*>(.*?)</t[dh]>', re.S)
FILTERS = re.compile(r'<nav id="changelist-filter".*?</nav>', re.S)
LINK_TEXT = re.compile(r"<a [^>]*>(.*?)</a>", re.S)
READONLY = re.compile(r'<div class="readonly">(.*?)</div>', re.S)
TAG = re.compile(r"<[^>]+>")


def texts(pattern, html):
    return {" ".join(TAG.sub("", match).split()) for match in pattern.findall(html)}


def shown_codes(html, codes):
    shown = texts(CELL, html) | texts(READONLY, html)
    for nav in FILTERS.findall(html):
        shown |= texts(LINK_TEXT, nav)
    return sorted(shown & codes)


@pytest.fixture
def busy(clinic, clinic_admin):
    return a_busy_clinic(clinic, clinic_admin)


def changelists():
    for model in clinic_admin_site._registry:
        opts = model._meta
        yield model, f"clinic_admin:{opts.app_label}_{opts.model_name}"


def test_no_changelist_or_filter_shows_a_raw_code(busy, clinic_admin):
    client = staff_client(clinic_admin)
    codes = raw_codes(clinic_admin_site._registry)
    seen = {}
    for _model, name in changelists():
        response = client.get(reverse(f"{name}_changelist"), follow=True)
        assert response.status_code == 200, name
        if "cl" in response.context:
            assert response.context["cl"].result_count, f"{name}: no row to check"
        seen[name] = shown_codes(response.content.decode(), codes)
    assert {name: found for name, found in seen.items() if found} == {}


def test_no_detail_page_shows_a_raw_code(busy, clinic_admin):
    client = staff_client(clinic_admin)
    codes = raw_codes(clinic_admin_site._registry)
    seen = {}
    for _model, name in changelists():
        response = client.get(reverse(f"{name}_changelist"))
        if response.status_code != 200 or "cl" not in response.context:
            continue
        for obj in response.context["cl"].result_list[:20]:
            page = client.get(reverse(f"{name}_change", args=[obj.pk]))
            if page.status_code == 302:  # a list whose rows open elsewhere
                continue
            assert page.status_code == 200, name
            found = shown_codes(page.content.decode(), codes)
            if found:
                seen[f"{name} #{obj.pk}"] = found
    assert seen == {}


def test_the_invitations_list_has_one_sent_by_column(busy, clinic_admin):
    page = staff_client(clinic_admin).get("/admin/invitations/invitation/").content.decode()
    headers = texts(re.compile(r'<th scope="col"[^>]*>(.*?)</th>', re.S), page)
    assert "Sent by" in headers
    assert "Sent via" in headers
    assert ">Text message<" in page
    assert ">Guardian<" in page


def test_the_walk_would_see_a_raw_code(busy, clinic_admin):
    html = '<table><tr><td class="field-channel">sms</td></tr></table>'
    assert shown_codes(html, raw_codes(clinic_admin_site._registry)) == ["sms"]
