"""Security headers and ``check --deploy`` with the production settings.

The production values are read from ``portal.settings.production`` in a subprocess (the
module refuses to load without its environment, and must not leak into this process);
requests then run in-process, over HTTPS, with those values applied. Every response
must carry:
- Content-Security-Policy: scripts only from 'self' (no 'unsafe-inline' or
  'unsafe-eval'), styles from 'self' plus the hash of the one inline <style> (the
  clinic's accent colour), no plugins, no <base> rewriting, ``frame-ancestors 'none'``;
- Strict-Transport-Security for a year or more, with includeSubDomains (clinics are
  subdomains);
- Referrer-Policy, ``X-Content-Type-Options: nosniff`` and ``X-Frame-Options: DENY``.
The Django admin and the portal run under that policy: their pages have no inline
script or event handler, and their one inline <style> is allowed by its hash. Where
Chromium is present, a browser loads the portal home and the admin index and reports no
CSP violation.
"""

import json
import os
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from csp.constants import NONCE
from csp.middleware import CSPMiddleware
from django.utils.module_loading import import_string

from portal.core.csp import source_hash
from tests.clients import client_for, host_client, portal_client, staff_client
from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS
from tests.portal.test_settings import PRODUCTION_ENV, _manage
from tests.security.pages import read_page, style_sources

# Settings that shape the headers, cookies and scheme of a response.
HEADER_SETTINGS = [
    "MIDDLEWARE",
    "CONTENT_SECURITY_POLICY",
    "CONTENT_SECURITY_POLICY_REPORT_ONLY",
    "SECURE_SSL_REDIRECT",
    "SECURE_REDIRECT_EXEMPT",
    "SECURE_PROXY_SSL_HEADER",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SECURE_CONTENT_TYPE_NOSNIFF",
    "SECURE_REFERRER_POLICY",
    "SECURE_CROSS_ORIGIN_OPENER_POLICY",
    "X_FRAME_OPTIONS",
    "SESSION_COOKIE_SECURE",
    "SESSION_COOKIE_HTTPONLY",
    "SESSION_COOKIE_SAMESITE",
    "SESSION_COOKIE_DOMAIN",
    "CSRF_COOKIE_SECURE",
    "CSRF_COOKIE_HTTPONLY",
    "CSRF_COOKIE_DOMAIN",
    "DEBUG",
]
_NONCE_MARK = "csp.constants.NONCE"
CSRF_RE = re.compile(rb'name="csrfmiddlewaretoken" value="[^"]*"')
STRICT_REFERRER_POLICIES = (
    "no-referrer",
    "same-origin",
    "strict-origin",
    "strict-origin-when-cross-origin",
)


def _restore(value):
    if value == _NONCE_MARK:
        return NONCE
    if isinstance(value, list):
        return [_restore(v) for v in value]
    if isinstance(value, dict):
        return {k: _restore(v) for k, v in value.items()}
    return value


@pytest.fixture(scope="module")
def production_values():
    code = (
        "import json; from django.conf import settings as s;"
        f"print(json.dumps({{n: getattr(s, n, None) for n in {HEADER_SETTINGS!r}}},"
        " default=repr))"
    )
    result = _manage("shell", "-c", code, env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr
    return _restore(json.loads(result.stdout.strip().splitlines()[-1]))


@pytest.fixture
def production(settings, production_values):
    for name, value in production_values.items():
        setattr(settings, name, value)
    return production_values


def directives(header):
    parsed = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            parsed[words[0].lower()] = words[1:]
    return parsed


def policy_problems(header):
    """What is wrong with a Content-Security-Policy header (empty when it is sound)."""
    if not header:
        return ["no Content-Security-Policy"]
    policy = directives(header)
    problems = []
    scripts = policy.get("script-src", policy.get("default-src"))
    if scripts is None:
        problems.append("no script-src or default-src")
    else:
        allowed = [s for s in scripts if s == "'self'" or s.startswith(("'nonce-", "'sha256-"))]
        if allowed != scripts:
            problems.append(f"script-src allows {sorted(set(scripts) - set(allowed))}")
    styles = policy.get("style-src", policy.get("default-src", []))
    if "'unsafe-inline'" in styles or "*" in styles or "'unsafe-hashes'" in styles:
        problems.append(f"style-src allows {styles}")
    for name, wanted in (("object-src", ["'none'"]), ("frame-ancestors", ["'none'"])):
        if policy.get(name) != wanted:
            problems.append(f"{name} is {policy.get(name)}, not {wanted}")
    if policy.get("base-uri") not in (["'none'"], ["'self'"]):
        problems.append(f"base-uri is {policy.get('base-uri')}")
    return problems


def header_problems(response):
    problems = policy_problems(response.get("Content-Security-Policy", ""))
    hsts = response.get("Strict-Transport-Security", "")
    max_age = re.search(r"max-age=(\d+)", hsts)
    if not max_age or int(max_age.group(1)) < 31536000 or "includeSubDomains" not in hsts:
        problems.append(f"Strict-Transport-Security is {hsts!r}")
    referrer = response.get("Referrer-Policy", "")
    if referrer not in STRICT_REFERRER_POLICIES:
        problems.append(f"Referrer-Policy is {referrer!r}")
    if response.get("X-Content-Type-Options") != "nosniff":
        problems.append(f"X-Content-Type-Options is {response.get('X-Content-Type-Options')!r}")
    if response.get("X-Frame-Options") != "DENY":
        problems.append(f"X-Frame-Options is {response.get('X-Frame-Options')!r}")
    if response.get("Cross-Origin-Opener-Policy") != "same-origin":
        problems.append(
            f"Cross-Origin-Opener-Policy is {response.get('Cross-Origin-Opener-Policy')!r}"
        )
    return problems


def test_check_deploy_is_clean_with_production_settings():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_enforces_a_content_security_policy(production_values):
    middleware = [import_string(path) for path in production_values["MIDDLEWARE"]]
    # Some middleware are factories, not classes (django-guid's).
    classes = [m for m in middleware if isinstance(m, type)]
    assert any(issubclass(m, CSPMiddleware) for m in classes), "no CSP middleware"
    assert production_values["CONTENT_SECURITY_POLICY"], "no policy configured"
    assert not production_values["CONTENT_SECURITY_POLICY_REPORT_ONLY"], "report-only"
    assert production_values["DEBUG"] is False


def test_every_kind_of_page_carries_the_security_headers(production, world):
    staff = world.owner_staff
    pages = [
        (host_client("demo"), "/portal/", 200),
        (portal_client(world.victim_user, world.victim), "/portal/", 200),
        (portal_client(world.victim_user, world.victim), "/portal/my-information/", 200),
        (host_client("demo"), "/admin/login/", 200),
        (staff_client(staff), "/admin/", 200),
        (staff_client(staff), f"/admin/patients/patient/{world.victim.pk}/change/", 200),
        (host_client("demo"), "/portal/no-such-page/", 404),
        (host_client("nowhere"), "/portal/", 404),
        (host_client("localhost"), "/", 200),
    ]
    problems = []
    for client, path, status in pages:
        response = client.get(path, secure=True)
        where = f"GET https://{client.defaults['HTTP_HOST']}{path}"
        if response.status_code != status:
            problems.append(f"{where}: {response.status_code}, expected {status}")
        problems += [f"{where}: {p}" for p in header_problems(response)]
        problems += [f"{where}: {p}" for p in read_page(response)[0]]
    assert not problems, "\n".join(problems)


def test_the_accent_style_is_allowed_by_its_hash_and_nothing_else_inline(production, world):
    clinic = world.clinic
    clinic.accent_colour = "#7b1fa2"
    clinic.save(update_fields=["accent_colour"])
    client = portal_client(world.victim_user, world.victim)
    first, second = client.get("/portal/", secure=True), client.get("/portal/", secure=True)
    css = f":root {{ --accent: {clinic.portal_accent_colour}; }}"
    assert f"<style>{css}</style>" in first.content.decode()
    assert style_sources(first["Content-Security-Policy"]) == ["'self'", source_hash(css)]
    # No per-response randomness besides the masked CSRF token: the same page, the same bytes.
    assert CSRF_RE.sub(b"", first.content) == CSRF_RE.sub(b"", second.content)


def test_a_stored_colour_that_is_not_a_colour_never_reaches_the_page(world):
    # Written past the admin's validator (the column holds 7 characters).
    type(world.clinic).objects.filter(pk=world.clinic.pk).update(accent_colour="red}*{")
    response = host_client("demo").get("/portal/")
    assert response.status_code == 200
    assert "red}" not in response.content.decode()
    assert "<style>:root { --accent: #1d6fa5; }</style>" in response.content.decode()


def test_plain_http_is_redirected_to_https(production, world):
    response = host_client("demo").get("/portal/")
    assert response.status_code == 301
    assert response["Location"] == "https://demo.localhost/portal/"


def test_the_session_cookie_is_secure_host_only_and_hidden_from_scripts(production, world):
    client = host_client("demo")
    response = client.post(
        "/portal/sign-in/password/",
        {"login": world.victim_user.email, "password": "correct horse battery staple"},
        secure=True,
    )
    assert response.status_code == 302
    cookie = response.cookies["sessionid"]
    assert cookie["secure"] and cookie["httponly"]
    assert cookie["samesite"] == "Lax"
    assert cookie["domain"] == ""


@pytest.mark.parametrize(
    "header",
    [
        "",
        "default-src 'self'; script-src 'self' 'unsafe-inline'; object-src 'none'; "
        "frame-ancestors 'none'; base-uri 'none'",
        "default-src *; object-src 'none'; frame-ancestors 'none'; base-uri 'none'",
        "script-src 'self'; style-src 'self' 'unsafe-inline'; object-src 'none'; "
        "frame-ancestors 'none'; base-uri 'none'",
        "script-src 'self'; object-src 'none'; base-uri 'none'",
    ],
)
def test_the_policy_check_rejects_weak_policies(header):
    assert policy_problems(header)


# --- In a browser ---------------------------------------------------------------------

# Collects what the page reports: its violation events, and Chromium's console lines.
VIOLATION_LISTENER = (
    "window.__violations = [];"
    "document.addEventListener('securitypolicyviolation', e =>"
    " window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));"
)
INLINE_STYLE = """document.body.insertAdjacentHTML('beforeend', '<b style="color:red">x</b>')"""


def _visit(visits):
    """Open each (url, session cookie) in Chromium; report what each page showed.

    Runs in a thread of its own: Playwright's sync API refuses to start in a thread whose
    event loop another Playwright (the e2e tests' browser) already drives.
    """
    from playwright.sync_api import sync_playwright

    reports = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for url, session in visits:
                context = browser.new_context()
                context.set_default_timeout(10_000)
                context.add_cookies([{"name": "sessionid", "value": session, "url": url}])
                page = context.new_page()
                console = []
                page.on("console", lambda m, c=console: c.append(m.text))
                page.add_init_script(VIOLATION_LISTENER)
                response = page.goto(url)
                page.wait_for_load_state("load")
                report = {
                    "status": response.status,
                    "csp": response.headers.get("content-security-policy", ""),
                    "accent": page.evaluate(
                        "getComputedStyle(document.documentElement)"
                        ".getPropertyValue('--accent').trim()"
                    ),
                    "stylesheets": page.evaluate("document.styleSheets.length"),
                    "violations": page.evaluate("window.__violations"),
                }
                # The detector itself: an inline style attribute must be refused, reported.
                page.evaluate(INLINE_STYLE)
                page.wait_for_timeout(200)
                report["planted"] = page.evaluate("window.__violations")[
                    len(report["violations"]) :
                ]
                report["console"] = [m for m in console if "Content Security Policy" in m]
                reports.append(report)
                context.close()
        finally:
            browser.close()
    return reports


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_portal_home_and_the_admin_index_run_without_csp_violations(
    live_server, settings, world
):
    if not Path(CHROMIUM).exists():
        reason = f"BROWSER TEST SKIPPED: no Chromium at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("PORTAL_REQUIRE_BROWSER"):
            pytest.fail(reason)
        pytest.skip(reason)
    settings.ALLOWED_HOSTS = [".localhost", "localhost"]
    clinic = world.clinic
    clinic.accent_colour = "#7b1fa2"
    clinic.save(update_fields=["accent_colour"])
    base = f"http://demo.localhost:{live_server.thread.port}"

    def session(user, patient=None):
        return client_for(user, patient).cookies["sessionid"].value

    visits = [
        (f"{base}/portal/", session(world.victim_user, world.victim)),
        (f"{base}/admin/", session(world.owner_staff)),
    ]
    with ThreadPoolExecutor(max_workers=1) as pool:
        portal, admin = pool.submit(_visit, visits).result(timeout=120)

    for name, report in (("portal home", portal), ("admin index", admin)):
        assert report["status"] == 200, name
        assert not policy_problems(report["csp"]), (name, report["csp"])
        assert report["stylesheets"] > 0, name
        assert report["violations"] == [], (name, report["violations"])
        # Chromium's own CSP lines are errors about what it refused; the planted
        # inline style accounts for one.
        assert report["planted"], f"{name}: a refused inline style went unreported"
        assert all("inline style" in line for line in report["console"]), report["console"]
    assert portal["accent"] == "#7b1fa2", "the hashed accent style did not apply"
