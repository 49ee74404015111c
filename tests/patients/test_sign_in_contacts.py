"""The Account page's sign-in contacts: only the holder changes them, with a code sent
to the new one (and their authenticator when enrolled); the old one stops at once."""

import pytest
from django.core import mail
from django_otp.oath import totp

from clinics.models import User
from portal.notifications import sms
from tests.clients import host_client
from tests.factories import PatientAccessFactory, TOTPDeviceFactory, UserFactory
from tests.patients.flows import CHART_ID, CHART_MOBILE, last_code, sign_in

pytestmark = pytest.mark.django_db

CONTACT = "/portal/account/contact/"
CONFIRM = "/portal/account/contact/confirm/"
NEW_MOBILE = "+16135550177"


@pytest.fixture
def holder(chart):
    """The chart's patient, signed in with their own mobile."""
    return PatientAccessFactory(
        patient=chart, user=UserFactory(clinic=chart.clinic, email="", phone=CHART_MOBILE)
    ).user


def _signed_in(holder):
    c = host_client(committing=True)
    assert sign_in(c)["Location"] == "/portal/"
    assert int(c.session["_auth_user_id"]) == holder.pk
    return c


def _ask(c, contact, contact_type="sms"):
    return c.post(CONTACT, {"contact_type": contact_type, "contact": contact})


def test_the_account_page_shows_how_the_holder_signs_in(holder, frozen):
    page = _signed_in(holder).get("/portal/account/").content.decode()
    assert "How you sign in" in page
    assert "(613) 555-0123" in page  # the mobile as the clinic's country writes it
    assert CHART_MOBILE not in page


def test_a_new_mobile_is_proven_then_replaces_the_old_one(holder, frozen):
    c = _signed_in(holder)
    assert _ask(c, "613 555 0177")["Location"] == CONFIRM
    assert sms.outbox[-1].to == NEW_MOBILE
    assert c.post(CONFIRM, {"code": last_code()})["Location"] == "/portal/account/"
    holder.refresh_from_db()
    assert str(holder.phone) == NEW_MOBILE
    # The old mobile no longer signs in to the account; the new one does.
    old = host_client(committing=True)
    assert sign_in(old).status_code == 200  # staff are asked to confirm the person
    assert "_auth_user_id" not in old.session
    new = host_client(committing=True)
    assert sign_in(new, id_number=CHART_ID, contact=NEW_MOBILE)["Location"] == "/portal/"
    assert int(new.session["_auth_user_id"]) == holder.pk


def test_a_wrong_code_changes_nothing(holder, frozen):
    c = _signed_in(holder)
    _ask(c, NEW_MOBILE)
    answer = c.post(CONFIRM, {"code": f"{(int(last_code()) + 1) % 1_000_000:06d}"})
    assert answer.status_code == 200
    holder.refresh_from_db()
    assert str(holder.phone) == CHART_MOBILE


def test_an_account_with_an_authenticator_needs_its_code_too(holder, frozen):
    device = TOTPDeviceFactory(user=holder, name="app", confirmed=True)
    c = host_client(committing=True)
    sign_in(c)
    c.post("/portal/sign-in/authenticator/", {"code": f"{totp(device.bin_key):06d}"})
    assert int(c.session["_auth_user_id"]) == holder.pk
    _ask(c, "new.address@example.com", "email")
    assert mail.outbox[-1].to == ["new.address@example.com"]
    code = last_code("email")
    refused = c.post(CONFIRM, {"code": code, "authenticator_code": "000000"})
    assert refused.status_code == 200
    holder.refresh_from_db()
    assert holder.email == ""
    frozen.shift(31)  # the next authenticator code
    _ask(c, "new.address@example.com", "email")
    c.post(
        CONFIRM,
        {"code": last_code("email"), "authenticator_code": f"{totp(device.bin_key):06d}"},
    )
    holder.refresh_from_db()
    assert holder.email == "new.address@example.com"


def test_a_contact_another_account_signs_in_with_is_not_taken(holder, clinic, frozen):
    other = UserFactory(clinic=clinic, email="taken@example.com")
    c = _signed_in(holder)
    _ask(c, "Taken@Example.com", "email")
    c.post(CONFIRM, {"code": last_code("email")})
    holder.refresh_from_db()
    assert holder.email == ""
    assert User.objects.get(pk=other.pk).email == "taken@example.com"


def test_a_look_alike_address_is_refused_before_anything_is_sent(holder, frozen):
    c = _signed_in(holder)
    sent = len(mail.outbox)
    answer = _ask(c, "new.addrеss@example.com", "email")  # Cyrillic е
    assert answer.status_code == 200
    assert len(mail.outbox) == sent
