"""Test clients and sessions: one way to build each kind.

- ``host_client(host, user)``: a browser on a clinic's host (``"demo"`` is
  ``demo.localhost``; a name with a dot, or ``localhost``, is taken as it is), signed in
  with Django's session only when given a ``user`` (what the admin reads);
- ``staff_client(user)``: a staff member signed in to the admin of their own clinic
  (or of ``host``);
- ``portal_client(user, patient)``: a portal account with a portal session, as after
  sign-in, acting for ``patient``;
- ``client_for(user, patient)``: whichever of the last two fits the account;
- ``set_session(client, ...)`` puts values in a client's session (a pending sign-in);
  ``on_host(client, host)`` presents its cookies on another host.

Notifications are written in the caller's transaction and sent on commit (Celery is eager
in tests). The test database never commits, so ``committing=True`` gives a client whose
requests end like a committed transaction: the on-commit callbacks run before the request
returns, and what was sent is in the outboxes. ``committed(service, ...)`` does the same
for a service called directly.
"""

import time

from django.test import Client, TestCase

from patients.sessions import SESSION_LAST_SEEN, SESSION_PATIENT, SESSION_SIGNED_IN_AT
from patients.terms import SESSION_TERMS_VERSION, terms_version_accepted


class CommittingClient(Client):
    """A test client whose requests end like a committed transaction: on-commit
    callbacks (the eager Celery send of notifications) run before it returns."""

    def request(self, **request):
        with TestCase.captureOnCommitCallbacks(execute=True):
            return super().request(**request)


def _host_name(slug_or_host: str) -> str:
    """``demo`` → ``demo.localhost``; a full host name (or ``localhost``) stays as it is."""
    if "." in slug_or_host or slug_or_host == "localhost":
        return slug_or_host
    return f"{slug_or_host}.localhost"


def host_client(host="demo", user=None, *, committing=False, **client_options):
    """A client on ``host``, signed in as ``user`` (Django's session only) when given.
    ``client_options`` go to the client (``raise_request_exception``, headers, …)."""
    client_class = CommittingClient if committing else Client
    client = client_class(HTTP_HOST=_host_name(host), **client_options)
    if user is not None:
        client.force_login(user)
    return client


def staff_client(user, host=None, *, committing=False, **client_options):
    """A staff member signed in to the admin of their own clinic (or of ``host``)."""
    return host_client(host or user.clinic.slug, user, committing=committing, **client_options)


def portal_client(user, patient=None, *, committing=False, **client_options):
    """A portal account signed in to the portal (as after sign-in) on its clinic's host,
    acting for ``patient`` when given. (``on_host`` carries the session elsewhere.)"""
    client = host_client(user.clinic.slug, user, committing=committing, **client_options)
    now = time.time()
    values = {SESSION_SIGNED_IN_AT: now, SESSION_LAST_SEEN: now}
    # What sign-in reads: the version of the clinic's terms the account accepted.
    values[SESSION_TERMS_VERSION] = terms_version_accepted(clinic=user.clinic, user=user)
    if patient is not None:
        values[SESSION_PATIENT] = patient.pk
    return set_session(client, **values)


def client_for(user, patient=None, *, committing=False, **client_options):
    """Staff get ``staff_client``, a portal account ``portal_client`` (their own clinic's
    host either way)."""
    if user.is_staff:
        return staff_client(user, committing=committing, **client_options)
    return portal_client(user, patient, committing=committing, **client_options)


def set_session(client, **values):
    """Put ``values`` in the client's session (a pending sign-in, a chart, …)."""
    session = client.session
    session.update(values)
    session.save()
    return client


def on_host(client, host):
    """The same cookies presented on another host (a session carried across clinics)."""
    client.defaults["HTTP_HOST"] = _host_name(host)
    return client


def committed(service, **kwargs):
    """Call a service as if in its own committed transaction (notifications go out)."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        return service(**kwargs)


ADMIN_LOGIN = "/admin/login/?next=/admin/"


def admin_sign_in(client, username, password, code=""):
    """Post the admin's sign-in form (username, password and authenticator or backup code)."""
    return client.post(ADMIN_LOGIN, {"username": username, "password": password, "otp_token": code})


def page_without_csrf(response) -> str:
    """A page's text with its per-request CSRF token taken out, to compare two answers."""
    import re

    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", response.content.decode())
