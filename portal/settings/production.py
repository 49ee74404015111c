"""Production settings: everything in the base settings, tightened.

Refuses to load without SECRET_KEY, PORTAL_BASE_DOMAIN or EMAIL_URL, or with DEBUG on. The
system checks in portal/site/checks.py then refuse a deployment without PostgreSQL, Redis,
a delivering email backend, the Twilio credentials, or shared storage for uploads unless it
says it runs on one machine (`manage.py check --deploy`, and every `migrate`).
"""

from django.core.exceptions import ImproperlyConfigured

from portal.settings import *  # noqa: F403
from portal.settings import env

if env.bool("DEBUG", default=False):
    raise ImproperlyConfigured("DEBUG must be off in production.")
DEBUG = False

SECRET_KEY = env("SECRET_KEY", default="")
if not SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY must be set in production.")

if not env("PORTAL_BASE_DOMAIN", default=""):
    raise ImproperlyConfigured("PORTAL_BASE_DOMAIN must be set in production.")
# Console email and SMS would print passcodes and sign-in links to the logs.
if not env("EMAIL_URL", default=""):
    raise ImproperlyConfigured("EMAIL_URL must be set in production.")
SMS_BACKEND = env("SMS_BACKEND", default="portal.notifications.sms.TwilioSmsBackend")
if SMS_BACKEND.endswith("ConsoleSmsBackend"):
    raise ImproperlyConfigured("SMS_BACKEND must not be the console backend in production.")

PORTAL_REQUIRE_PRODUCTION_SERVICES = True
# The base settings silence django-ratelimit's "the cache is not shared" error when
# REDIS_URL is unset (development). In production that is a real fault: every process
# would count sign-in limits on its own.
SILENCED_SYSTEM_CHECKS = [
    name
    for name in SILENCED_SYSTEM_CHECKS  # noqa: F405
    if name != "django_ratelimit.E003"
]

PORTAL_LINK_SCHEME = "https"
PORTAL_LINK_PORT = ""
PORTAL_STAFF_OTP_REQUIRED = env.bool("PORTAL_STAFF_OTP_REQUIRED", default=True)

# Persistent connections: a new connection per request measured 4-5x slower.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=600)  # noqa: F405
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True  # noqa: F405
# Celery's Django fix-up closes a worker's database connection after every task unless
# told to reuse it (then it closes it every 2 x this many tasks): bench/notify.py measured
# one new PostgreSQL connection per notification without it (see bench/README.md).
CELERY_DB_REUSE_MAX = 500

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
LANGUAGE_COOKIE_SECURE = True
CSRF_COOKIE_HTTPONLY = True

STORAGES["staticfiles"] = {  # noqa: F405
    "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
}

LOGGING["root"]["level"] = env("LOG_LEVEL", default="WARNING")  # noqa: F405
