"""'Link to this chart instead' is no way into a chart whose contact the person did not
prove.

The sign-in invariant (test_signin_invariant.py) holds sessions to the contacts their
holder proved. Linking a registration to an existing chart gives the registering account
that chart, so it is held to the same proof: whatever spelling of the chart's mobile or
email a newcomer proves while registering with an ID no chart has, staff can link the
registration to the chart only when the proven contact *is* the chart's (canonical, exact
equality): a look-alike, another number or a full-width spelling that reached someone
else's phone or mailbox gets nothing, however willing the staff member.
"""

import pytest

from patients import demographics
from patients.models import ChangeRequest, PatientAccess
from portal.core.identifiers import InvalidIdentifier, canonical_contact
from tests.clients import host_client
from tests.factories import PatientFactory
from tests.patients.flows import NEW_ID, begin, enter_code, last_code, registration_form

pytestmark = pytest.mark.django_db

CHART_MOBILE = "+16135550123"
CHART_EMAIL = "verity@example.com"

SPELLINGS = [
    ("sms", "613 555 0123"),  # the chart's own number, written another way
    ("sms", "(613) 555-0123"),
    ("sms", "６１３ ５５５ ０１２３"),  # full-width digits: the same number
    ("sms", "613 555 0124"),  # one digit off: someone else's phone
    ("sms", "+44 20 7946 0123"),  # the same last digits abroad
    ("email", "verity@example.com"),
    ("email", "VERITY@Example.com"),  # the same mailbox
    ("email", "verіty@example.com"),  # Cyrillic і: another mailbox
    ("email", "verity@examp1e.com"),  # another domain
]


@pytest.mark.parametrize("contact_type, typed", SPELLINGS)
def test_a_registration_is_linked_only_to_a_chart_whose_contact_it_proved(
    clinic, front_desk, contact_type, typed
):
    victim = PatientFactory(
        clinic=clinic,
        first_name="Verity",
        last_name="Victimson",
        mobile=CHART_MOBILE,
        email=CHART_EMAIL,
    )
    try:
        proven = canonical_contact(contact_type, typed, clinic.country)
    except InvalidIdentifier:
        pytest.skip("not a contact the portal accepts")
    c = host_client(committing=True)
    *_, check = begin(c, id_number=NEW_ID, contact=typed, contact_type=contact_type)
    assert check.status_code == 302, check.content.decode()
    enter_code(c, last_code(contact_type))
    form = registration_form(
        first_name="Verity",
        last_name="Victimson",
        date_of_birth=victim.date_of_birth.isoformat(),
        mobile="" if contact_type == "email" else typed,
        email="" if contact_type == "sms" else typed,
    )
    assert c.post("/portal/register/", form).status_code == 302
    registration = ChangeRequest.objects.get(kind="registration")
    account = registration.requested_by

    try:
        demographics.registration_link_to_chart(
            request=None, change_request=registration, chart_id=victim.pk, decided_by=front_desk
        )
        linked = True
    except demographics.CannotLink:
        linked = False

    proved_the_charts_contact = proven in (CHART_MOBILE, CHART_EMAIL)
    assert linked is proved_the_charts_contact
    reaches_victim = PatientAccess.objects.active().filter(user=account, patient=victim).exists()
    assert reaches_victim is proved_the_charts_contact
