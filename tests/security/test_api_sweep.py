"""The object-id sweep of the FHIR API: every API URL that takes a row's id, asked for
the demo clinic's row by record systems that must not reach it.

Discovery is the object sweep's (``tests/security/sweep.py``): a new API URL with an id
joins without editing this file, and one the sweep cannot map (``API_OBJECT_BY_VIEW``)
fails. Each URL is asked with GET and with PUT (an update that would change the row) by:
- northside's record system with its own token on northside's host: 404 OperationOutcome;
- the same token presented on demo's host: 401, exactly what an id that exists nowhere
  gets (a token belongs to one clinic);
- demo's record system with no scope for the resource: 403, as for a missing id.
Nothing the demo clinic holds changes, and no answer carries the victim's name. Positive
control: demo's own record system reads every swept row.
"""

import json

from django.test import Client

from tests.fhir.smart import get_token, register
from tests.security import sweep
from tests.security.test_object_sweep import SECRET, snapshot


def api_targets(world):
    targets, problems = sweep.plan([r for r in sweep.all_routes() if r.in_api], world.rows)
    assert not problems, "\n".join(problems)
    return targets


def ask(token, host, method, url):
    http = Client(HTTP_HOST=f"{host}.localhost", HTTP_AUTHORIZATION=f"Bearer {token}")
    if method == "GET":
        response = http.get(url)
    else:
        body = {"resourceType": url.split("/")[-2], "id": url.split("/")[-1]}
        response = http.put(url, json.dumps(body), content_type="application/fhir+json")
    return response.status_code, response.content


def test_the_api_urls_that_take_an_id_are_swept(world):
    swept = {t.route.route for t in api_targets(world)}

    assert {
        "fhir/R4/Patient/<int:pk>",
        "fhir/R4/Practitioner/<int:pk>",
        "fhir/R4/Schedule/<int:pk>",
        "fhir/R4/Appointment/<int:pk>",
        "fhir/R4/Task/cr-<int:pk>",
        "fhir/R4/Task/ar-<int:pk>",
        "fhir/R4/Task/rr-<int:pk>",
        "fhir/R4/RelatedPerson/<int:pk>",
        "fhir/R4/Communication/<int:pk>",
        "fhir/R4/Observation/<int:pk>",
        "fhir/R4/DiagnosticReport/<int:pk>",
        "fhir/R4/MedicationRequest/<int:pk>",
        "fhir/R4/MedicationStatement/<int:pk>",
        "fhir/R4/AllergyIntolerance/<int:pk>",
        "fhir/R4/Immunization/<int:pk>",
        "fhir/R4/DocumentReference/<int:pk>",
    } <= swept


def test_no_other_record_system_reaches_a_row_of_the_clinic(world):
    targets = api_targets(world)
    outsider = register(world.other_clinic, name="outsider")
    outsider_token = get_token(Client(), outsider, host="northside.localhost", key_name="outsider")
    blind = register(world.clinic, scopes="system/Practitioner.r", name="blind")
    blind_token = get_token(Client(), blind, scope="system/Practitioner.r", key_name="blind")
    before = snapshot(world.clinic)
    probes = [
        ("northside's token on northside's host", outsider_token, "northside", 404),
        ("northside's token on demo's host", outsider_token, "demo", 401),
        ("demo's token without the resource's scope", blind_token, "demo", 403),
    ]
    problems = []
    for target in targets:
        for method in ("GET", "PUT"):
            for name, token, host, expected in probes:
                status, body = ask(token, host, method, target.victim_url)
                missing, _body = ask(token, host, method, target.missing_url)
                if SECRET in body:
                    problems.append(f"{method} {target.label} as {name}: shows the victim")
                # 405 (no such interaction) is fine when a missing id gets it too; the
                # scope-less client may read Practitioners (its one scope).
                allowed = expected == 403 and status == 200 and "Practitioner" in target.label
                if (status != missing or status not in (expected, 405)) and not allowed:
                    problems.append(
                        f"{method} {target.label} as {name}: {status} (missing id: {missing})"
                    )
    after = snapshot(world.clinic)
    # Reads are audited (appended); nothing else may change.
    before.pop("audit.AuditEvent"), after.pop("audit.AuditEvent")
    assert after == before, "the probes changed rows of the demo clinic"
    assert not problems, "\n".join(problems)


def test_the_clinics_own_record_system_reads_every_swept_row(world):
    owner = register(world.clinic, name="owner")
    token = get_token(Client(), owner, key_name="owner")

    answers = {t.label: ask(token, "demo", "GET", t.victim_url)[0] for t in api_targets(world)}

    assert set(answers.values()) == {200}, answers
