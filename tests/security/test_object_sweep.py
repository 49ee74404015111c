"""Every URL of a clinic's host that takes a row's id, asked for someone else's row.

Discovery is automatic (see ``tests/security/sweep.py``): a new portal view or admin
URL with an id is swept without editing this file, and one the sweep cannot map to a
model, or whose model the fixture world cannot build, fails the sweep (it is never
skipped).

The victim's rows are all at the demo clinic. Each URL is asked with GET and with POST by:
- a northside patient and northside staff (a clinic admin, and a superuser for the admin
  URLs, so permissions never hide a missing clinic filter) on northside's host;
- the same northside sessions presented on demo's host (a copied cookie);
- another patient of the demo clinic (portal URLs);
- representatives whose grant to the victim was revoked (``PatientAccess.revoked_at``
  set, their session still naming the victim): one who acts for someone else too,
  one with no grant left;
- a demo patient on demo's admin.

What each must get — precisely:
- **404** whenever the view looks the row up; never a 200, and never a 403 or a
  redirect that an id which exists nowhere would not also get.
- When the view answers before it looks anything up, the answer must be exactly the
  one an id that exists in no clinic gets (same status, same redirect with the id
  swapped), and one of:
  - a redirect to sign-in (``/portal/`` on the portal, ``/admin/login/?next=…`` on the
    admin): the request is anonymous on that host (another clinic's session counts for
    nothing there) or a staff account asks for a portal page;
  - 405: GET on a POST-only view (``require_POST`` answers before the lookup);
  - 403: a refusal every id gets alike (the only grant was revoked: "no access";
    a read-only admin's delete or change by POST);
  - the admin's ``<id>/`` → ``<id>/change/`` redirect, which looks nothing up.
- No page shows the victim's name, and after all the probes every row of the demo clinic
  is exactly as it was (nothing was cancelled, posted, decided, withdrawn or deleted).

Positive control, so a 404 means something: the owners (the victim's own account; a
demo superuser for the admin) get something other than 404 for every swept URL; where
their GET is answered before any lookup, their POST must not be a 404 either.
"""

from functools import partial

from django.apps import apps

from tests.clients import client_for, on_host, portal_client, staff_client
from tests.security import sweep

SECRET = b"Victimson"


def actors(world):
    people = world.people
    charlie, charlie_chart = people["charlie"]
    northside_admin = people["northside_admin"][0]
    northside_super = people["northside_super"][0]
    other_user, other = people["other"]
    rex, _victim = people["rex"]
    rhea, _victim = people["rhea"]
    client = partial(client_for, raise_request_exception=False)
    return [
        sweep.Actor(
            "a northside patient on northside's host",
            client(charlie, charlie_chart),
            "portal",
        ),
        sweep.Actor(
            "northside's clinic admin on northside's host",
            client(northside_admin),
            "both",
        ),
        sweep.Actor(
            "a northside superuser on northside's host",
            client(northside_super),
            "admin",
        ),
        sweep.Actor(
            "a northside patient's session on demo's host",
            on_host(client(charlie, charlie_chart), "demo"),
            "portal",
        ),
        sweep.Actor(
            "northside's clinic admin's session on demo's host",
            on_host(client(northside_admin), "demo"),
            "both",
        ),
        sweep.Actor(
            "another patient of the demo clinic",
            client(other_user, other),
            "portal",
        ),
        sweep.Actor(
            "a representative whose grant was revoked, acting for someone else too",
            client(rex, world.victim),
            "portal",
        ),
        sweep.Actor(
            "a representative whose only grant was revoked",
            client(rhea, world.victim),
            "portal",
        ),
        sweep.Actor("a demo patient on demo's admin", client(other_user, other), "admin"),
    ]


def snapshot(clinic):
    """Every row of every clinic-owned model at ``clinic`` (sign-in times left out)."""
    rows = {}
    for model in apps.get_models():
        if not any(f.name == "clinic" and f.is_relation for f in model._meta.get_fields()):
            continue
        values = model._base_manager.filter(clinic=clinic).order_by("pk").values()
        rows[model._meta.label] = [
            {k: v for k, v in row.items() if k != "last_login"} for row in values
        ]
    return rows


def run_sweep(world, targets):
    """Probe ``targets`` as every actor; return the problems found (empty when sound)."""
    problems = []
    before = snapshot(world.clinic)
    for actor in actors(world):
        for target in targets:
            if not actor.probes(target.route):
                continue
            for method in ("GET", "POST"):
                answer = sweep.ask(actor.client, method, target.victim_url)
                missing = None
                if answer.status != 404:
                    missing = sweep.ask(actor.client, method, target.missing_url)
                problem = sweep.judge(target, answer, missing, SECRET)
                if problem:
                    problems.append(f"{method} {target.label} as {actor.name}: {problem}")
    after = snapshot(world.clinic)
    changed = sorted(label for label in before if before[label] != after[label])
    if changed:
        problems.append(f"the probes changed rows of the demo clinic: {changed}")
    return problems + owner_controls(world, targets)


def owner_controls(world, targets):
    portal_owner = portal_client(world.victim_user, world.victim, raise_request_exception=False)
    admin_owner = staff_client(world.owner_staff, raise_request_exception=False)
    problems, by_post = [], []
    for target in targets:
        owner = admin_owner if target.route.in_admin else portal_owner
        # The "view on site" shortcut 404s for everyone on a model without get_absolute_url.
        if target.route.view == sweep.VIEW_ON_SITE and not hasattr(
            apps.get_model(target.models[0]), "get_absolute_url"
        ):
            continue
        got = sweep.ask(owner, "GET", target.victim_url)
        if got.status == 404:
            problems.append(
                f"GET {target.label} as its owner: 404, so the id names the wrong row "
                "(fix the mapping in tests/security/sweep.py)"
            )
            continue
        missing = sweep.ask(owner, "GET", target.missing_url)
        if got.shape(target.victim_url) == missing.shape(target.missing_url):
            by_post.append((owner, target))
    # Last: a POST by the owner may act on the row.
    for owner, target in by_post:
        got = sweep.ask(owner, "POST", target.victim_url)
        if got.status == 404:
            problems.append(f"POST {target.label} as its owner: 404 (fix the mapping)")
    return problems


def _targets(world, *, admin):
    targets, problems = sweep.plan(sweep.all_routes(), world.rows)
    assert not problems, "\n".join(problems)
    return [t for t in targets if t.route.in_admin == admin and not t.route.in_api]


def test_every_url_parameter_is_an_id_or_a_known_non_id():
    assert sweep.unclassified_params(sweep.all_routes()) == []


def test_every_url_that_takes_an_id_maps_to_a_row_of_the_world(world):
    targets, problems = sweep.plan(sweep.all_routes(), world.rows)
    assert problems == []
    swept = {t.route.route for t in targets}
    # The ones known today; new ones join without editing this list.
    assert {
        "portal/appointments/<int:pk>/cancel/",
        "portal/messages/<int:pk>/",
        "portal/messages/attachments/<int:pk>/",
        "portal/my-information/requests/<int:pk>/withdraw/",
        "portal/health-record/documents/<int:pk>/",
        "portal/health-record/medications/<int:pk>/refill/",
        "admin/records/refillrequest/<path:object_id>/change/",
        "admin/records/refillrequest/<path:object_id>/approve/",
        "admin/records/refillrequest/<path:object_id>/decline/",
        "admin/patients/patient/<path:object_id>/change/",
        "admin/patients/patient/<int:object_id>/portal/revoke/",
        "admin/patients/changerequest/<int:object_id>/decide/",
        "admin/messaging/thread/attachments/<int:attachment_id>/",
        "admin/r/<path:content_type_id>/<path:object_id>/",
    } <= swept


def test_no_outsider_reaches_a_portal_row(world):
    targets = _targets(world, admin=False)
    problems = run_sweep(world, targets)
    assert not problems, "\n".join(problems)


def test_no_outsider_reaches_an_admin_row(world):
    targets = _targets(world, admin=True)
    problems = run_sweep(world, targets)
    assert not problems, "\n".join(problems)


# --- The sweep itself can fail ----------------------------------------------------------


def test_the_sweep_reports_a_thread_lookup_that_forgets_the_patient(world, monkeypatch):
    from django.http import Http404

    from messaging import selectors
    from messaging.models import Thread

    def clinic_only(request, pk):
        thread = Thread.objects.for_clinic(request.clinic).filter(pk=pk).first()
        if thread is None:
            raise Http404
        return thread

    monkeypatch.setattr(selectors, "get_thread_for_portal", clinic_only)
    targets = [
        t for t in _targets(world, admin=False) if t.route.route == "portal/messages/<int:pk>/"
    ]
    problems = run_sweep(world, targets)
    assert any("another patient of the demo clinic" in p for p in problems), problems
    assert any("changed rows" in p for p in problems), problems


def test_the_sweep_reports_a_grant_check_that_forgets_revocation(world, monkeypatch):
    from patients import access
    from patients.models import PatientAccess

    def including_revoked(*, clinic, user):
        return list(PatientAccess.objects.for_clinic(clinic).filter(user=user))

    # The portal guard's source of grants (patients.access imports it by name).
    monkeypatch.setattr(access, "usable_grants", including_revoked)
    targets = [
        t for t in _targets(world, admin=False) if t.route.route == "portal/messages/<int:pk>/"
    ]
    problems = run_sweep(world, targets)
    assert any("grant was revoked, acting for someone else" in p for p in problems), problems
    assert any("only grant was revoked" in p for p in problems), problems


def test_the_sweep_reports_an_admin_that_forgets_the_clinic(world, monkeypatch):
    from django.contrib import admin

    from clinics.scoped_admin import ClinicScopedMixin

    monkeypatch.setattr(
        ClinicScopedMixin,
        "get_queryset",
        lambda self, request: admin.ModelAdmin.get_queryset(self, request),
    )
    targets = [
        t
        for t in _targets(world, admin=True)
        if t.route.route == "admin/patients/patient/<path:object_id>/change/"
    ]
    problems = run_sweep(world, targets)
    assert any("northside superuser" in p for p in problems), problems


def test_the_sweep_fails_an_id_url_it_cannot_map(world):
    unknown = sweep.Route(
        route="portal/invoices/<int:pk>/",
        params=("pk",),
        view="billing.views.invoice",
        module="billing.views",
        in_admin=False,
        admin_model=None,
    )
    _targets_found, problems = sweep.plan([unknown], world.rows)
    assert problems and "nothing says which model" in problems[0]


def test_the_sweep_fails_a_model_the_world_cannot_build(world):
    rows = {k: v for k, v in world.rows.items() if k != "messaging.attachment"}
    _targets_found, problems = sweep.plan(sweep.all_routes(), rows)
    assert any("messaging.attachment" in p for p in problems), problems
