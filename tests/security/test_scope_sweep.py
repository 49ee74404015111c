"""The scopes of a representative's grant, swept over every portal page.

A representative reaches a patient's chart through a grant that may leave out
appointments, messages, demographics or the health record (``PatientAccess.allows``).
The object-id sweep (``test_object_sweep.py``) asks whether someone reaches *another*
patient's rows; this sweep asks whether a representative reaches the areas of *their*
patient that their grant leaves out.

1. Discovery: every route under ``/portal/`` of the clinic URLconf (the discovery of
   ``tests/security/sweep.py``). Each route's view is classified in ``ROUTE_CLASSES``:
   the scope it belongs to, ``"account"`` (about the signed-in person) or ``"public"``
   (needs no session). A view missing from the table fails, and so does an entry for a
   view that is gone: a page added later must be classified before it is swept.
2. One patient, with data planted in each area (unique strings: ``MARKERS``), and five
   representatives (carers): four holding exactly one scope each, one holding none.
   Each one
   - asks every page of a scope they lack, by GET and by a forged POST: the answer is
     403, 404, a redirect to a page they may see (or 405 to a GET of a POST-only page),
     and no row of the clinic changes;
   - asks every portal page: none shows a marker of a scope they lack (body or headers);
   - opens the home page: no figure of a scope they lack;
   - opens account activity: no event of someone else outside their scopes, and never
     the name of the staff member behind it.
3. Positive controls, so that a pass means something: a representative holding the
   scope opens its pages (so the ids name real rows and the markers are shown), sees
   its figure and events, and their forged POSTs do change the rows; and a guard or an
   activity list that ignores the scopes makes the sweep fail.
"""

import datetime as dt
import html
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest
from django.apps import apps
from django.db.models import Q
from django.urls import Resolver404, resolve
from django.utils import timezone, translation

from appointments.services import NOT_OFFERED, appointment_book
from messaging import services as messaging_services
from patients import demographics
from patients.activity import LABELS
from patients.models import PatientAccess
from portal.audit.models import AuditEvent
from portal.audit.services import audit_record
from tests.clients import portal_client
from tests.factories import (
    AllergyFactory,
    AppointmentRequestFactory,
    AppointmentTypeFactory,
    ImmunizationFactory,
    MedicationFactory,
    PatientAccessFactory,
    ProviderFactory,
    StaffFactory,
    UserFactory,
    portal_settings_of,
)
from tests.security import sweep
from tests.security.world import with_self_grant
from tests.uploads import checked, stored_document

APPOINTMENTS, MESSAGES, DEMOGRAPHICS, HEALTH_RECORD = SCOPES = PatientAccess.SCOPES
# The health record's pages answer a grant without it 404 (never the 403 page of the
# other scopes): as a page that is not there.
AREAS = SCOPES
ACCOUNT = "account"
PUBLIC = "public"

# Every portal view, by dotted path → what it is about.
ROUTE_CLASSES = {
    # No session needed: signing in, registering, an invitation, a password reset.
    "patients.views.signin_contact": PUBLIC,
    "patients.views.signin_check": PUBLIC,
    "patients.views.signin_code": PUBLIC,
    "patients.views.signin_resend": PUBLIC,
    "patients.views.signin_password": PUBLIC,
    "patients.views.signin_authenticator": PUBLIC,
    "patients.views.signin_recovery_code": PUBLIC,
    "patients.views_terms.terms": PUBLIC,
    "patients.views.register": PUBLIC,
    "patients.views.password_reset": PUBLIC,
    "patients.views.password_reset_set": PUBLIC,
    "patients.views.password_reset_link": PUBLIC,
    "invitations.views.invitation": PUBLIC,
    "invitations.views.invitation_link": PUBLIC,
    # An earlier-time offer's link: its token decides; the page itself asks for a session
    # whose grant covers the offer's patient and their appointments.
    "appointments.views.offer_link": PUBLIC,
    "appointments.views.offer": PUBLIC,
    # A calendar app fetches the private feed by its secret address, without a session.
    "appointments.views.calendar_feed": PUBLIC,
    # About the signed-in person. The portal's root is the sign-in page to a visitor but
    # the home page (with the chart's figures) once signed in: it is swept as the latter.
    "portal.site.views.portal_root": ACCOUNT,
    "patients.views.signout": ACCOUNT,
    "patients.views.switch_patient": ACCOUNT,
    "patients.views.account": ACCOUNT,
    "patients.views.account_contact": ACCOUNT,
    "patients.views.account_contact_confirm": ACCOUNT,
    "patients.views.account_password": ACCOUNT,
    "patients.views.account_authenticator": ACCOUNT,
    "patients.views.account_signout_everywhere": ACCOUNT,
    "patients.views.account_activity_view": ACCOUNT,
    "appointments.views.calendar_feed_settings": ACCOUNT,
    "patients.views.account_recovery_codes": ACCOUNT,
    "patients.views.session_keep_alive": ACCOUNT,
    "patients.views_terms.terms_accept_view": ACCOUNT,
    # The copy of the chart (right of access): each section by its own scope, inside the
    # page. Swept as an account page, so no marker of a lacked scope may show in it.
    "fhir_api.account_views.record_download": ACCOUNT,
    "fhir_api.account_views.record_summary": ACCOUNT,
    # The chart, by scope.
    "appointments.views.appointment_list": APPOINTMENTS,
    "appointments.views.book": APPOINTMENTS,
    "appointments.views.book_confirm": APPOINTMENTS,
    "appointments.views.cancel": APPOINTMENTS,
    "appointments.views.calendar_file": APPOINTMENTS,
    "appointments.views.earlier_offers": APPOINTMENTS,
    "appointments.views.request_new": APPOINTMENTS,
    "appointments.views.request_withdraw": APPOINTMENTS,
    "messaging.views.inbox": MESSAGES,
    "messaging.views.thread_new": MESSAGES,
    "messaging.views.thread_detail": MESSAGES,
    "messaging.views.attachment_download": MESSAGES,
    "patients.views_information.my_information": DEMOGRAPHICS,
    "patients.views_information.my_information_edit": DEMOGRAPHICS,
    "patients.views_information.my_information_confirm": DEMOGRAPHICS,
    "patients.views_information.notice_preferences": DEMOGRAPHICS,
    "patients.views_information.request_withdraw": DEMOGRAPHICS,
    "records.views.results": HEALTH_RECORD,
    "records.views.results_preference": HEALTH_RECORD,
    "records.views_chart.medications": HEALTH_RECORD,
    "records.views_chart.allergies": HEALTH_RECORD,
    "records.views_chart.immunizations": HEALTH_RECORD,
    "records.views_chart.documents": HEALTH_RECORD,
    "records.views_chart.document_download": HEALTH_RECORD,
    "records.views_chart.medication_refill": HEALTH_RECORD,
}

# Each scope's list page: a representative holding the scope must get it (the control).
LIST_PAGES = {
    APPOINTMENTS: "/portal/appointments/",
    MESSAGES: "/portal/messages/",
    DEMOGRAPHICS: "/portal/my-information/",
    HEALTH_RECORD: "/portal/health-record/medications/",
}

# Strings planted in the chart, one area each; none occurs anywhere else. The staff
# names are the people behind the area's events (account activity names them). No
# portal page shows an appointment's reason today: it is planted for one that would.
APPOINTMENT_REASON = "Wobblefoot sprain"
APPOINTMENT_TYPE = "Quillfeather consult"
PROVIDER_NAME = "Dr Quillon Hartwick"
BOOKING_STAFF = "Agatha Bookwright"
THREAD_SUBJECT = "Zephyr lab letter"
MESSAGE_BODY = "Your ferritin is Zephyr fine"
ATTACHMENT_NAME = "zephyr-scan.pdf"
MESSAGING_STAFF = "Marnie Quillsend"
ADDRESS_LINE = "77 Marmalade Crescent"
EMERGENCY_CONTACT = "Ignatius Fallowfield"
CHART_EMAIL = "marmalade.chart@example.com"
REQUESTED_CITY = "Sasquatchville"
CHART_VIEWING_STAFF = "Dagny Chartwell"
MEDICATION_NAME = "Glimmerzine 20 mg"
ALLERGEN = "Moonpetal pollen"
VACCINE = "Quasarvax booster"
DOCUMENT_TITLE = "Nimbus visit summary"

MARKERS = {
    APPOINTMENTS: (APPOINTMENT_REASON, APPOINTMENT_TYPE, PROVIDER_NAME, BOOKING_STAFF),
    MESSAGES: (THREAD_SUBJECT, MESSAGE_BODY, ATTACHMENT_NAME, MESSAGING_STAFF),
    DEMOGRAPHICS: (
        ADDRESS_LINE,
        EMERGENCY_CONTACT,
        CHART_EMAIL,
        REQUESTED_CITY,
        CHART_VIEWING_STAFF,
    ),
    HEALTH_RECORD: (MEDICATION_NAME, ALLERGEN, VACCINE, DOCUMENT_TITLE),
}

# The staff behind each area's events (account activity names them "<name> at the clinic").
# Events of the health record ("record.*") are in no scope: no representative sees
# others' reads of the record or the clinic's writes to it in account activity.
STAFF_OF_SCOPE = {
    APPOINTMENTS: BOOKING_STAFF,
    MESSAGES: MESSAGING_STAFF,
    DEMOGRAPHICS: CHART_VIEWING_STAFF,
}

# The home page's card of each scope (English): none of it may show without the scope;
# with it, the figure of this chart (one visit ahead, one unread message, one request).
HOME_FIGURES = {
    APPOINTMENTS: ("Next:", "upcoming appointments"),
    MESSAGES: ("unread message",),
    DEMOGRAPHICS: ("request waiting", "requests waiting", "pending requests"),
    HEALTH_RECORD: ("See the health record", "/portal/health-record/"),
}
HOME_FIGURE_SHOWN = {
    APPOINTMENTS: "Next:",
    MESSAGES: "You have 1 unread message.",
    DEMOGRAPHICS: "1 request waiting for the clinic.",
    HEALTH_RECORD: "See the health record",
}

# Which scope an audit action belongs to, written here from the scopes' meaning (not
# imported from the app, whose mapping is what is being tested). Any other action about
# the chart (the patient's sign-ins, invitations, revocation) belongs to no scope.
SCOPE_OF_ACTION = {
    "appointment.": APPOINTMENTS,
    "message.": MESSAGES,
    "patient.": DEMOGRAPHICS,
    "change_request.": DEMOGRAPHICS,
    "verification.": DEMOGRAPHICS,
}

# The rows a forged POST to each scope acts on, when it acts: the control checks that
# a representative holding the scope changes each of them with the same POSTs. The
# health record's one form (wait for the clinician's review) is the patient's or a
# parent's of a minor, never a carer's (tests/records/test_representatives.py).
ROWS_OF_SCOPE = {
    APPOINTMENTS: ("appointments.appointment",),
    MESSAGES: ("messaging.message",),
    DEMOGRAPHICS: ("patients.changerequest", "patients.patient"),
}

REPRESENTATIVES = {
    "appointments only": (APPOINTMENTS,),
    "messages only": (MESSAGES,),
    "demographics only": (DEMOGRAPHICS,),
    "health record only": (HEALTH_RECORD,),
    "no scope": (),
}


# --- Discovery --------------------------------------------------------------------------


def portal_routes() -> list[sweep.Route]:
    """Every route under /portal/, once per path (the root is named twice)."""
    routes = {}
    for route in sweep.all_routes():
        if route.route.startswith("portal/"):
            routes.setdefault(route.route, route)
    return list(routes.values())


def class_of_path(path: str) -> str:
    """What the page at ``path`` is about, by the table ("elsewhere" off the portal)."""
    try:
        match = resolve(urlsplit(path).path, urlconf=sweep.CLINIC_URLCONF)
    except Resolver404:
        return "elsewhere"
    view = f"{match.func.__module__}.{match.func.__qualname__}"
    return ROUTE_CLASSES.get(view, "unclassified")


# --- The chart and its representatives -------------------------------------------------


@dataclass
class Chart:
    clinic: object
    patient: object
    rows: dict  # model label → the patient's row of that kind, to fill the id routes
    representatives: dict  # name in REPRESENTATIVES → their portal account


@pytest.fixture
def chart(clinic) -> Chart:
    portal_settings_of(clinic, booking_allowed=True, cancelling_allowed=True)

    patient, patient_user = with_self_grant(
        clinic,
        first_name="Verity",
        last_name="Victimson",
        username="verity",
        email=CHART_EMAIL,
        address_line1=ADDRESS_LINE,
        emergency_contact_name=EMERGENCY_CONTACT,
        preferred_language="en",
    )
    booker = StaffFactory(
        clinic=clinic, username="agatha", first_name="Agatha", last_name="Bookwright"
    )
    messenger = StaffFactory(
        clinic=clinic, username="marnie", first_name="Marnie", last_name="Quillsend"
    )
    viewer = StaffFactory(
        clinic=clinic, username="dagny", first_name="Dagny", last_name="Chartwell"
    )

    # Appointments: a visit a week ahead, booked by staff (an "appointment.booked" event).
    kind = AppointmentTypeFactory(clinic=clinic, name=APPOINTMENT_TYPE)
    provider = ProviderFactory(clinic=clinic, name=PROVIDER_NAME, appointment_types=[kind])
    start = timezone.now().replace(microsecond=0) + dt.timedelta(days=7)
    appointment = appointment_book(
        patient=patient,
        provider=provider,
        appointment_type=kind,
        start=start,
        reason=APPOINTMENT_REASON,
        booked_by=booker,
        by_staff=True,
        override={NOT_OFFERED},  # the provider keeps no hours here
    )
    # Messages: an unread letter from staff with an attachment ("message.*" events).
    thread = messaging_services.thread_start(
        clinic=clinic,
        patient=patient,
        subject=THREAD_SUBJECT,
        category="general",
        body=MESSAGE_BODY,
        author=messenger,
        attachments=[checked(ATTACHMENT_NAME)],
    )
    attachment = thread.messages.get().attachments.get()
    # Demographics: a pending change request by the patient, and staff viewing the chart.
    change_request = demographics.change_request_create(
        request=None, patient=patient, requested_by=patient_user, proposed={"city": REQUESTED_CITY}
    )
    audit_record(
        action="patient.viewed", clinic=clinic, actor=viewer, obj=patient, acting_for=patient
    )
    # The patient's own sign-in is about the chart but in no scope: no representative
    # may see it.
    audit_record(action="signin.success", clinic=clinic, actor=patient_user, acting_for=patient)
    # The health record: a row of each kind its pages show.
    medication = MedicationFactory(patient=patient, display=MEDICATION_NAME)
    AllergyFactory(patient=patient, display=ALLERGEN)
    ImmunizationFactory(patient=patient, display=VACCINE)
    document = stored_document(patient, title=DOCUMENT_TITLE)

    representatives = {}
    for name, scopes in REPRESENTATIVES.items():
        user = UserFactory(
            clinic=clinic,
            username=name.replace(" ", "-"),
            first_name="Robin",
            last_name=name.title().replace(" ", ""),
        )
        PatientAccessFactory(
            user=user,
            patient=patient,
            relationship=PatientAccess.Relationship.CARER,
            **{f"can_{scope}": scope in scopes for scope in SCOPES},
        )
        representatives[name] = user

    rows = {
        "appointments.appointment": appointment,
        "appointments.appointmentrequest": AppointmentRequestFactory(
            patient=patient, appointment_type=kind, requested_by=patient_user
        ),
        "messaging.thread": thread,
        "messaging.attachment": attachment,
        "patients.changerequest": change_request,
        "records.document": document,
        "records.medication": medication,
    }
    return Chart(clinic, patient, rows, representatives)


def client_of(chart, name):
    """The representative's browser, signed in and acting for the patient."""
    user = chart.representatives[name]
    return portal_client(user, chart.patient, raise_request_exception=False)


def lacked_scopes(name) -> list[str]:
    return [area for area in AREAS if area not in REPRESENTATIVES[name]]


@dataclass(frozen=True)
class PortalPage:
    route: sweep.Route
    kind: str  # the route's class in ROUTE_CLASSES
    url: str  # with the ids of the patient's own rows


def portal_pages(chart) -> list[PortalPage]:
    """Every portal route as a URL: ids are the patient's rows (so a missing check would
    show them); tokens of emailed links are made up (those pages need no session)."""
    routes = portal_routes()
    targets, problems = sweep.plan(routes, chart.rows)
    assert not problems, "\n".join(problems)
    id_urls = {target.route.route: target.victim_url for target in targets}
    return [
        PortalPage(
            route,
            ROUTE_CLASSES.get(route.view, "unclassified"),
            id_urls.get(route.route) or route.url(dict.fromkeys(route.params, "made-up")),
        )
        for route in routes
    ]


def forged_post_data(chart) -> dict:
    """Enough for every scoped page to act, were it to let the POST through."""
    appointment = chart.rows["appointments.appointment"]
    return {
        # Appointments: book this slot (book/confirm); cancelling needs nothing more.
        "appointment_type": appointment.appointment_type_id,
        "provider": appointment.provider_id,
        "start": (appointment.start + dt.timedelta(hours=1)).isoformat(),
        "confirm": "1",
        "reason": "Forged booking",
        # Messages: a reply on the thread's page, or a new thread.
        "subject": "Forged subject",
        "category": "general",
        "body": "Forged body",
        # Demographics: the chart as it is but for a new city (a change request with no
        # contact to confirm), and notice preferences.
        **demographics.chart_values(chart.patient),
        "city": "Forgedville",
        "notify_appointments_by": "email",
        "notify_messages_by": "email",
    }


# --- Asking and judging -----------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    method: str
    url: str
    status: int
    location: str
    text: str  # headers and body: an attachment's file name travels in a header

    def __str__(self):
        return f"{self.status}{' → ' + self.location if self.location else ''}"


def ask(client, method, url, data=None) -> Answer:
    response = client.get(url) if method == "GET" else client.post(url, data or {})
    # The test client closes a streamed response once its content is read; closing it
    # again would send request_finished inside the test's transaction and close the
    # PostgreSQL connection.
    body = b"".join(response.streaming_content) if response.streaming else response.content
    headers = "\n".join(f"{name}: {value}" for name, value in response.items())
    text = headers + "\n" + html.unescape(body.decode("utf-8", "replace"))
    return Answer(method, url, response.status_code, response.get("Location", ""), text)


def leaks(answer, scopes) -> list[str]:
    """The markers of ``scopes`` that the answer shows."""
    return [
        f"{answer.method} {answer.url} shows {scope} data {marker!r}"
        for scope in scopes
        for marker in MARKERS[scope]
        if marker in answer.text
    ]


def refusal_problem(answer, lacked) -> str | None:
    """None when the answer refuses a page of a scope the grant lacks, else what is wrong.

    Refusals: 403 (the out-of-scope page), 404, a redirect to a page the grant allows
    (a redirect into a lacked scope is what a page says after it acted: "cancelled, back
    to your appointments"), and 405 to a GET of a POST-only page (answered before
    anything is looked up).
    """
    if answer.status == 404:
        return None
    if class_of_path(answer.url) == HEALTH_RECORD:
        return f"answered {answer}: the health record answers a representative 404"
    if answer.status == 403:
        return None
    if answer.status == 405 and answer.method == "GET":
        return None
    if answer.status in (301, 302, 303):
        target = class_of_path(answer.location)
        if target in lacked or target == "unclassified":
            return f"redirects to {answer.location}, a page of {target}"
        return None
    return f"answered {answer}"


def snapshot(clinic) -> dict:
    """Every row of every clinic-owned model at ``clinic`` (sign-in times left out)."""
    rows = {}
    for model in apps.get_models():
        if not any(f.name == "clinic" and f.is_relation for f in model._meta.get_fields()):
            continue
        values = model._base_manager.filter(clinic=clinic).order_by("pk").values()
        rows[model._meta.label_lower] = [
            {k: v for k, v in row.items() if k != "last_login"} for row in values
        ]
    return rows


def changed(before, after) -> list[str]:
    return sorted(label for label in before if before[label] != after[label])


# --- The checks (each returns its problems; empty when sound) ---------------------------


def refused_get_problems(chart, name) -> list[str]:
    """GET every page of a scope the grant lacks."""
    client, lacked = client_of(chart, name), lacked_scopes(name)
    problems = []
    before = snapshot(chart.clinic)
    for page in portal_pages(chart):
        if page.kind not in lacked:
            continue
        answer = ask(client, "GET", page.url)
        problems += leaks(answer, lacked)
        if problem := refusal_problem(answer, lacked):
            problems.append(f"GET {page.url} ({page.route.view}, {page.kind}): {problem}")
    # A refused GET writes nothing either (a thread shown is marked read, for one).
    if rows := changed(before, snapshot(chart.clinic)):
        problems.append(f"GETs of pages of {lacked} changed rows of {rows}")
    return problems


def forged_post_problems(chart, name) -> list[str]:
    """POST to every page of a scope the grant lacks, with data that would act."""
    client, lacked = client_of(chart, name), lacked_scopes(name)
    data = forged_post_data(chart)
    problems = []
    before = snapshot(chart.clinic)
    for page in portal_pages(chart):
        if page.kind not in lacked:
            continue
        answer = ask(client, "POST", page.url, data)
        problems += leaks(answer, lacked)
        if problem := refusal_problem(answer, lacked):
            problems.append(f"POST {page.url} ({page.route.view}, {page.kind}): {problem}")
    if rows := changed(before, snapshot(chart.clinic)):
        problems.append(f"forged POSTs to pages of {lacked} changed rows of {rows}")
    return problems


def visible_page_problems(chart, name) -> list[str]:
    """GET every portal page; none may show data of a scope the grant lacks."""
    client, lacked = client_of(chart, name), lacked_scopes(name)
    problems = []
    for page in portal_pages(chart):
        problems += leaks(ask(client, "GET", page.url), lacked)
    return problems


def home_problems(chart, name) -> list[str]:
    client, lacked = client_of(chart, name), lacked_scopes(name)
    answer = ask(client, "GET", "/portal/")
    if answer.status != 200:
        return [f"the home page answered {answer}"]
    problems = leaks(answer, lacked)
    for scope in SCOPES:
        if scope in lacked:
            problems += [
                f"the home page shows {phrase!r} of {scope}"
                for phrase in HOME_FIGURES[scope]
                if phrase in answer.text
            ]
        elif HOME_FIGURE_SHOWN[scope] not in answer.text:
            problems.append(f"the home page lacks {HOME_FIGURE_SHOWN[scope]!r} of {scope}")
    return problems


ACTIVITY_ROW = re.compile(
    r"<tr[^>]*>\s*<td[^>]*>(.*?)</td>\s*<td[^>]*>(.*?)</td>\s*<td[^>]*>(.*?)</td>\s*</tr>", re.S
)


def scope_of_label(label) -> str | None:
    """The scope of the event an activity row describes (None: no scope)."""
    with translation.override("en"):
        actions = {str(text): action for action, text in LABELS.items()}
    action = actions.get(label, label)  # a label-less action is shown as itself
    return next((s for prefix, s in SCOPE_OF_ACTION.items() if action.startswith(prefix)), None)


def activity_problems(chart, name) -> list[str]:
    """Account activity shows others' events about the chart only within the scopes,
    and the staff behind each scope held (the control: the events are there)."""
    client, lacked = client_of(chart, name), lacked_scopes(name)
    answer = ask(client, "GET", "/portal/account/activity/")
    if answer.status != 200:
        return [f"account activity answered {answer}"]
    problems = leaks(answer, lacked)
    rows = [(what.strip(), who.strip()) for _when, what, who in ACTIVITY_ROW.findall(answer.text)]
    for what, who in rows:
        if who == "You":
            continue  # the representative's own doings are always theirs to see
        scope = scope_of_label(what)
        if scope not in REPRESENTATIVES[name]:
            problems.append(f"account activity shows {what!r} by {who!r} ({scope or 'no scope'})")
    # The control: each held scope's staff event is among the rows read (so the rows are
    # read at all, and the check above has something to judge).
    for scope in REPRESENTATIVES[name]:
        staff = STAFF_OF_SCOPE.get(scope)
        if staff is None:
            continue
        if not any(who == f"{staff} at the clinic" for _what, who in rows):
            problems.append(f"account activity has no row of the {scope} event by {staff}")
    return problems


# --- Discovery tests --------------------------------------------------------------------


def test_every_portal_view_is_classified_in_the_table():
    unclassified = sorted(
        f"{route.route} → {route.view}"
        for route in portal_routes()
        if route.view not in ROUTE_CLASSES
    )
    assert unclassified == [], "classify these views in ROUTE_CLASSES"


def test_the_table_names_no_view_that_is_gone():
    views = {route.view for route in portal_routes()}
    assert sorted(set(ROUTE_CLASSES) - views) == []


def test_the_table_uses_only_the_scopes_account_and_public():
    assert set(ROUTE_CLASSES.values()) <= {*AREAS, ACCOUNT, PUBLIC}


def test_each_list_page_is_classified_as_its_scope():
    for scope, url in LIST_PAGES.items():
        assert class_of_path(url) == scope


# --- The sweep ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", REPRESENTATIVES)
def test_a_representative_is_refused_every_page_of_a_scope_their_grant_lacks(chart, name):
    problems = refused_get_problems(chart, name)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", REPRESENTATIVES)
def test_a_forged_post_outside_the_grant_is_refused_and_changes_nothing(chart, name):
    problems = forged_post_problems(chart, name)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", REPRESENTATIVES)
def test_no_portal_page_shows_a_representative_data_outside_their_grant(chart, name):
    problems = visible_page_problems(chart, name)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", REPRESENTATIVES)
def test_the_home_page_shows_only_the_figures_within_the_grant(chart, name):
    problems = home_problems(chart, name)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", REPRESENTATIVES)
def test_account_activity_shows_others_events_only_within_the_grant(chart, name):
    problems = activity_problems(chart, name)
    assert not problems, "\n".join(problems)


WITHOUT_HEALTH_RECORD = [
    name for name, held in REPRESENTATIVES.items() if HEALTH_RECORD not in held
]


@pytest.mark.parametrize("name", WITHOUT_HEALTH_RECORD)
def test_a_representative_gets_404_on_every_page_of_the_health_record(chart, name):
    """Whatever else their grant holds (every other scope too): GET and forged POST are
    404 and no row of the clinic changes."""
    clients = [client_of(chart, name)]
    if name == "no scope":
        every = chart.representatives[name]
        PatientAccess.objects.filter(user=every, patient=chart.patient).update(
            **{f"can_{scope}": True for scope in SCOPES if scope != HEALTH_RECORD}
        )
        clients.append(client_of(chart, name))
    pages = [page for page in portal_pages(chart) if page.kind == HEALTH_RECORD]
    assert pages
    before = AuditEvent.objects.count()
    for client in clients:
        for page in pages:
            assert ask(client, "GET", page.url).status in (404, 405), page.url
            assert ask(client, "POST", page.url, {"wait_for_review": "on"}).status == 404
    assert AuditEvent.objects.count() == before


# --- Positive controls: the same pages open for a representative holding the scope ------


def holder_of(scope) -> str:
    return next(name for name, scopes in REPRESENTATIVES.items() if scopes == (scope,))


@pytest.mark.parametrize("scope", SCOPES)
def test_a_representative_holding_the_scope_opens_its_list_page(chart, scope):
    answer = ask(client_of(chart, holder_of(scope)), "GET", LIST_PAGES[scope])
    assert answer.status == 200, str(answer)
    assert any(marker in answer.text for marker in MARKERS[scope]), "the page shows no marker"


@pytest.mark.parametrize("scope", SCOPES)
def test_a_representative_holding_the_scope_reaches_every_page_of_it(chart, scope):
    """No page of the scope refuses its holder, and each page that names a row shows
    it: the ids are the patient's, so the refusals above are refusals of real data."""
    client = client_of(chart, holder_of(scope))
    problems, seen = [], set()
    for page in portal_pages(chart):
        if page.kind != scope:
            continue
        answer = ask(client, "GET", page.url)
        seen.update(marker for marker in MARKERS[scope] if marker in answer.text)
        if answer.status in (403, 404) or answer.status >= 500:
            problems.append(f"GET {page.url}: {answer}")
        elif page.route.id_params and answer.status == 200 and not shows_row(answer, scope):
            problems.append(f"GET {page.url} shows nothing of the patient's row")
    assert not problems, "\n".join(problems)
    assert seen, f"no page of {scope} shows any of {MARKERS[scope]}"


def shows_row(answer, scope) -> bool:
    """The answer shows the patient's row: a marker of the scope, or a document's PDF
    (its file name is made from the title, the bytes are the file itself)."""
    return bool(leaks(answer, [scope])) or (scope == HEALTH_RECORD and "\n%PDF-" in answer.text)


@pytest.mark.parametrize("scope", list(ROWS_OF_SCOPE))
def test_the_forged_posts_act_for_a_representative_holding_the_scope(chart, scope):
    """The forged POSTs are enough to act: what they must not change, they could."""
    client, data = client_of(chart, holder_of(scope)), forged_post_data(chart)
    before = snapshot(chart.clinic)
    for page in portal_pages(chart):
        if page.kind == scope:
            ask(client, "POST", page.url, data)
    rows = changed(before, snapshot(chart.clinic))
    assert set(ROWS_OF_SCOPE[scope]) <= set(rows), rows


RECORD_PAGES = ("/portal/account/record/", "/portal/account/record/download/")


@pytest.mark.parametrize("scope", SCOPES)
def test_the_copy_of_the_chart_holds_what_the_scope_covers(chart, scope):
    """The copy is swept as an account page (no lacked scope's marker); this is its
    control: a holder of the scope finds the scope's rows in the summary."""
    client = client_of(chart, holder_of(scope))
    summary = ask(client, "GET", RECORD_PAGES[0])
    assert summary.status == 200, str(summary)
    assert leaks(summary, [scope]), f"the summary shows nothing of {scope}"
    assert ask(client, "GET", RECORD_PAGES[1]).status == 200


# --- The sweep itself can fail -----------------------------------------------------------


def test_the_sweep_reports_a_guard_that_ignores_the_scopes(chart, monkeypatch):
    monkeypatch.setattr(PatientAccess, "allows", lambda self, scope: True)
    refused = refused_get_problems(chart, "no scope")
    for scope in SCOPES:
        assert any(f"shows {scope} data" in p for p in refused), refused
        assert any(f", {scope}): answered 200" in p for p in refused), refused
    forged = forged_post_problems(chart, "no scope")
    assert any("changed rows" in p for p in forged), forged
    assert home_problems(chart, "no scope")
    visible = visible_page_problems(chart, "no scope")
    for url in RECORD_PAGES:
        assert any(p.startswith(f"GET {url} shows") for p in visible), visible


def test_the_sweep_reports_activity_that_ignores_the_scopes(chart, monkeypatch):
    def every_event_of_the_chart(*, clinic, user, access):
        return (
            AuditEvent.objects.for_clinic(clinic)
            .filter(Q(actor=user) | Q(acting_for=access.patient))
            .order_by("-created_at", "-id")
        )

    # The view imports the selector by name.
    monkeypatch.setattr("patients.views.account_activity", every_event_of_the_chart)
    problems = activity_problems(chart, "no scope")
    assert any(CHART_VIEWING_STAFF in p for p in problems), problems
    assert any("'Signed in'" in p for p in problems), problems


# --- The health record: the patient, and representatives by the one rule -----------------


def test_the_patient_opens_every_health_record_page(chart):
    """The control of the health record's refusals: the patient's own session opens
    each of its pages (the document's id is theirs) and sees the planted rows."""
    owner = PatientAccess.objects.get(patient=chart.patient, relationship="self").user
    client = portal_client(owner, chart.patient, raise_request_exception=False)
    seen = set()
    for page in portal_pages(chart):
        if page.kind == HEALTH_RECORD:
            answer = ask(client, "GET", page.url)
            if page.url.endswith("/preference/"):  # a form's target: POST only
                assert answer.status == 405, f"GET {page.url}: {answer}"
                continue
            assert answer.status == 200, f"GET {page.url}: {answer}"
            seen.update(m for m in MARKERS[HEALTH_RECORD] if m in answer.text)
    # The document's title is on its list, and its file is the PDF itself.
    assert seen == set(MARKERS[HEALTH_RECORD])


def test_the_sweep_reports_a_health_record_open_to_representatives(chart, monkeypatch):
    monkeypatch.setattr(PatientAccess, "health_record_allowed", lambda self, **kwargs: True)
    problems = refused_get_problems(chart, "no scope")
    assert any(f"shows {HEALTH_RECORD} data" in p for p in problems), problems
    assert any(f", {HEALTH_RECORD}): answered 200" in p for p in problems), problems
