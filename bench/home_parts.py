"""Where the signed-in home page's time goes, part by part (in-process, production settings).

    .venv/bin/python bench/home_parts.py                 # about 20 seconds

Builds bench/web.py's clinic in a fresh ``portal_bench_parts`` database (Redis database
8, flushed) and times, as CPU time per call (median of ``--runs``): the whole page through
Django's test client, then each piece the page is made of, called the way the request
calls it. The pieces do not add up exactly to the page (middleware, the test client and
the response make the rest).
"""

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _stack
import web


def cpu_ms(fn, runs):
    fn()
    samples = []
    for _ in range(runs):
        began = time.process_time()
        for _ in range(20):
            fn()
        samples.append((time.process_time() - began) * 1000 / 20)
    return statistics.median(samples)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=25, help="samples of 20 calls per part")
    options = parser.parse_args()
    scratch = _stack.scratch_dir("parts")
    env = _stack.production_env(
        database_url=_stack.pg_database("portal_bench_parts"),
        redis_url=_stack.redis_database(8),
        static_root=scratch / "static",
    )
    _stack.django_setup(env)
    user, patient = web.build()
    cookie = web.signed_in_cookie(user, patient)

    from django.contrib.messages.storage.fallback import FallbackStorage
    from django.shortcuts import render
    from django.test import Client, RequestFactory
    from django.utils import timezone

    from clinics.backends import ClinicBackend
    from clinics.tenant_cache import resolve_clinic
    from patients.selectors import usable_grants
    from portal.site.home import _read, home_summary

    client = Client(HTTP_HOST=web.HOST, HTTP_X_FORWARDED_PROTO="https")
    for part in cookie.split("; "):
        name, value = part.split("=", 1)
        client.cookies[name] = value
    _platform, clinic = resolve_clinic(web.HOST)
    grants = usable_grants(clinic=clinic, user=user)
    access = grants[0]
    timezone.activate(clinic.tz)

    request = RequestFactory().get("/portal/", HTTP_HOST=web.HOST)
    request.clinic, request.user, request.access, request.patient = clinic, user, access, patient
    request.session = {}
    request._messages = FallbackStorage(request)
    summary = home_summary(clinic=clinic, patient=patient)
    context = {
        "patient": patient,
        "access": access,
        "grants": grants,
        "unread_messages": summary.unread_messages,
        "access_appointments": True,
        "next_visit": summary.next_start,
        "access_demographics": True,
        "pending_requests": summary.pending_requests,
    }
    backend = ClinicBackend()
    parts = [
        ("the whole page (test client)", lambda: client.get("/portal/")),
        ("tenant: resolve_clinic (cached)", lambda: resolve_clinic(web.HOST)),
        ("session user: cached account (get_user)", lambda: backend.get_user(user.pk)),
        ("grants: usable_grants", lambda: usable_grants(clinic=clinic, user=user)),
        ("home figures: cached summary", lambda: home_summary(clinic=clinic, patient=patient)),
        (
            "home figures: read (3 queries, a cache miss)",
            lambda: _read(clinic=clinic, patient=patient, now=timezone.now()),
        ),
        (
            "templates: render home.html + base.html",
            lambda: render(request, "site/home.html", context),
        ),
    ]
    print(f"\nsigned-in home page, CPU ms per call (median of {options.runs} x 20 calls)\n")
    for label, fn in parts:
        print(f"  {label:<42} {cpu_ms(fn, options.runs):6.2f}")


if __name__ == "__main__":
    main()
