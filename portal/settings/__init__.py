"""Settings for the patient portal.

Every server setting comes from the environment with an embedded default, so a fresh
clone runs with no external services (SQLite, in-process tasks, local-memory cache,
console email and SMS). Per-clinic policy lives on the clinic (PortalSettings), never here.
``portal.settings.production`` tightens these for deployment.
"""

from datetime import timedelta
from pathlib import Path

import environ
from csp import constants as csp
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=True)
SECRET_KEY = env("SECRET_KEY", default="dev-only-insecure-key-do-not-use-in-production")

PORTAL_BASE_DOMAIN = env("PORTAL_BASE_DOMAIN", default="localhost").lower()
# Scheme used for links the portal sends out (invitations, status callbacks).
PORTAL_LINK_SCHEME = env("PORTAL_LINK_SCHEME", default="http")
# Port appended to links in development (empty in production).
PORTAL_LINK_PORT = env("PORTAL_LINK_PORT", default="8000" if DEBUG else "")
# How many reverse proxies in front of the app may be trusted to append to X-Forwarded-For.
PORTAL_TRUSTED_PROXY_COUNT = env.int("PORTAL_TRUSTED_PROXY_COUNT", default=0)
# The "Source code" link on every page (AGPL-3.0 §13: users of a modified portal over the
# network must be offered its source). The default is the archive this deployment builds
# from its own running code (portal/site/source.py); set a repository URL instead when the
# exact running version is published there.
PORTAL_SOURCE_URL = env("PORTAL_SOURCE_URL", default="/source.tar.gz")
# The deployment checks (portal/site/checks.py): PostgreSQL, Redis, a delivering email and
# SMS backend. On in the production settings only.
PORTAL_REQUIRE_PRODUCTION_SERVICES = False
# Staff must use an authenticator app to reach the admin.
PORTAL_STAFF_OTP_REQUIRED = env.bool("PORTAL_STAFF_OTP_REQUIRED", default=False)

ALLOWED_HOSTS = [
    PORTAL_BASE_DOMAIN,
    f".{PORTAL_BASE_DOMAIN}",
    *env.list("EXTRA_ALLOWED_HOSTS", default=[]),
]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "axes",
    "simple_history",
    "phonenumber_field",
    "django_ratelimit",
    "csp",
    "django_guid",
    "clinics",
    "portal.core",
    "portal.audit",
    "portal.notifications",
    "portal.staff",
    "patients",
    "invitations",
    "appointments",
    "messaging",
    "records",
    "fhir_api",
    "portal.site",
]

MIDDLEWARE = [
    # First, so every response (redirects and refusals too) carries the request id.
    "django_guid.middleware.guid_middleware",
    # One line per request: method, matched route (never the path or query), status.
    "portal.core.access_log.AccessLogMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "portal.core.csp.PortalCSPMiddleware",
    # Outside the tenant middleware, so its own 404 for an unknown host is framed by nobody.
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # The clinic's, the session's, the account's and its grants' cache entries, read
    # together before the middleware and views below read each (portal.core.prefetch).
    "portal.core.prefetch.PrefetchMiddleware",
    "clinics.middleware.TenantMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "patients.middleware.PortalLanguageMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "clinics.middleware.ClinicUserMiddleware",
    # Who made a change, for the history of charts (portal.core.history).
    "simple_history.middleware.HistoryRequestMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "portal.staff.middleware.StaffSessionMiddleware",
    "patients.middleware.PortalSessionMiddleware",
]

# The tenant middleware picks the clinic or platform URLconf per request.
ROOT_URLCONF = "portal.urls_clinic"
PORTAL_PLATFORM_URLCONF = "portal.urls_platform"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "clinics.context_processors.clinic",
                "portal.core.context_processors.source_code",
                "portal.core.context_processors.idle_left",
            ],
            # ``phone`` and the portal's named date filters, on every template.
            "builtins": ["portal.core.templatetags.portal_format"],
        },
    },
]

WSGI_APPLICATION = "portal.wsgi.application"

DATABASES = {
    "default": env.db_url_config(
        env("DATABASE_URL", default="") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}"
    ),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Serialise writers instead of failing with "database is locked" under concurrency.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"transaction_mode": "IMMEDIATE", "timeout": 20}
    )
DATABASES["default"]["TEST"] = {"NAME": env("TEST_DATABASE_NAME", default=None)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env("REDIS_URL", default="")

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "portal.core.redis_cache.KeptClientRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "portal",
        }
    }
    SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    SESSION_ENGINE = "django.contrib.sessions.backends.db"

AUTH_USER_MODEL = "clinics.User"
# django-axes first: a locked-out account or source is refused before its password is
# checked (clinics.staff_signin). Only the admin's sign-in calls authenticate().
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "clinics.backends.ClinicBackend",
]
# Usernames and emails are unique per clinic, enforced by constraints on the user model
# and by the clinic-aware authentication backend.
SILENCED_SYSTEM_CHECKS = ["auth.W004"]

# Wrong authenticator codes are limited by the portal's own locks (patients.locks: a
# cool-off every ten in a row) and, for staff, by the sign-in throttle (django-axes).
# django-otp's extra per-device delay after a wrong code refused the next, right one
# with the same "not right" answer, so it is off for authenticator apps.
OTP_TOTP_THROTTLE_FACTOR = 0

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("fr", "Français")]
LOCALE_PATHS = [BASE_DIR / "locale"]
# The language switch on every page keeps the choice in this cookie for a year; host-only
# like the session cookie, so one clinic's choice never reaches another clinic's host.
LANGUAGE_COOKIE_AGE = 365 * 24 * 60 * 60
LANGUAGE_COOKIE_DOMAIN = None
LANGUAGE_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_SAMESITE = "Lax"
TIME_ZONE = "UTC"
# One way to write dates and times per language, on every page, in the admin and in
# emails (portal/formats/<lang>/formats.py).
FORMAT_MODULE_PATH = ["portal.formats"]
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env("STATIC_ROOT", default=str(BASE_DIR / "staticfiles"))
STATICFILES_DIRS = [BASE_DIR / "static"]
# Uploaded files: clinic logos ("default") and message attachments ("attachments"). Both
# are served only by the portal's views (attachments after the reader's access check),
# never by URL. Without S3_BUCKET they are folders on this machine's disk, seen by this
# machine's processes only; with it, private objects in an S3-compatible bucket that every
# web and worker process on every machine shares (portal.core.storage).
MEDIA_ROOT = env("MEDIA_ROOT", default=str(BASE_DIR / "media"))
# Local attachments: private files, never under STATIC_ROOT or MEDIA_ROOT.
PORTAL_ATTACHMENTS_ROOT = env("PORTAL_ATTACHMENTS_ROOT", default=str(BASE_DIR / "attachments"))
# The largest PDF the record system may send in a DocumentReference (base64 in the body).
PORTAL_RECORD_DOCUMENT_MAX_MB = env.int("PORTAL_RECORD_DOCUMENT_MAX_MB", default=10)
# Production refuses uploads on local disk unless the operator states that the portal runs
# on one machine (portal/site/checks.py): a second machine would not see the first's files.
PORTAL_SINGLE_MACHINE = env.bool("PORTAL_SINGLE_MACHINE", default=False)
S3_BUCKET = env("S3_BUCKET", default="")
# Empty for AWS itself; the service's URL for any other S3-compatible store (MinIO, Ceph,
# a cloud provider's object storage).
S3_ENDPOINT_URL = env("S3_ENDPOINT_URL", default="")
S3_REGION = env("S3_REGION", default="")
# Empty: boto3 finds credentials itself (an instance or pod role, AWS_* variables).
S3_ACCESS_KEY_ID = env("S3_ACCESS_KEY_ID", default="")
S3_SECRET_ACCESS_KEY = env("S3_SECRET_ACCESS_KEY", default="")
if bool(S3_ACCESS_KEY_ID) != bool(S3_SECRET_ACCESS_KEY):
    raise ImproperlyConfigured("Set both S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY, or neither.")


def s3_storage(*, prefix: str, bucket: str = "", endpoint_url: str = "", **options) -> dict:
    """A STORAGES entry for private objects under ``prefix/`` in the bucket."""
    return {
        "BACKEND": "portal.core.storage.PrivateS3Storage",
        "OPTIONS": {
            "bucket_name": bucket or S3_BUCKET,
            "endpoint_url": endpoint_url or S3_ENDPOINT_URL or None,
            "region_name": S3_REGION or None,
            "access_key": S3_ACCESS_KEY_ID or None,
            "secret_key": S3_SECRET_ACCESS_KEY or None,
            "location": prefix,
            # Never replace an object: a new upload under a taken name gets another name.
            "file_overwrite": False,
            **options,
        },
    }


STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "attachments": {"BACKEND": "messaging.storage.LocalAttachmentStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
if S3_BUCKET:
    STORAGES["default"] = s3_storage(prefix="media")
    STORAGES["attachments"] = s3_storage(prefix="attachments")

# Sessions: host-only cookies (no parent-domain cookie across clinics).
SESSION_COOKIE_DOMAIN = None
CSRF_COOKIE_DOMAIN = None
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = 12 * 60 * 60
LOGIN_URL = "portal:home"

# Email: console in development; SMTP (or any backend) via EMAIL_URL.
_email = env.email_url_config(env("EMAIL_URL", default="") or "consolemail://")
globals().update(_email)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Patient Portal <no-reply@localhost>")
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)

# SMS: a backend by dotted path (console, locmem, twilio).
SMS_BACKEND = env("SMS_BACKEND", default="portal.notifications.sms.ConsoleSmsBackend")
TWILIO_ACCOUNT_SID = env("TWILIO_ACCOUNT_SID", default="")
TWILIO_AUTH_TOKEN = env("TWILIO_AUTH_TOKEN", default="")
TWILIO_FROM_NUMBER = env("TWILIO_FROM_NUMBER", default="")
TWILIO_API_BASE_URL = env("TWILIO_API_BASE_URL", default="")
TWILIO_TIMEOUT = env.float("TWILIO_TIMEOUT", default=10.0)

# Celery: with no REDIS_URL, tasks run eagerly in-process.
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.5,
}
CELERY_BEAT_SCHEDULE = {
    "relay-pending-notifications": {
        "task": "portal.notifications.tasks.relay_pending_notifications",
        "schedule": 60.0,
    },
    "appointment-reminders": {
        "task": "appointments.tasks.send_appointment_reminders",
        "schedule": 3600.0,
    },
    "earlier-time-offers": {
        "task": "appointments.tasks.advance_earlier_offers",
        "schedule": 300.0,
    },
    "result-notices": {
        "task": "records.tasks.send_result_notices",
        "schedule": 300.0,
    },
}

# Limits on one-time passcode sends (SMS pumping costs clinics money) and sign-in tries.
PORTAL_OTP_SENDS_PER_DESTINATION = env("PORTAL_OTP_SENDS_PER_DESTINATION", default="5/h")
PORTAL_OTP_SENDS_PER_IP = env("PORTAL_OTP_SENDS_PER_IP", default="20/h")
PORTAL_OTP_SENDS_PER_CLINIC = env("PORTAL_OTP_SENDS_PER_CLINIC", default="1000/h")
PORTAL_OTP_RESEND_AFTER_SECONDS = env.int("PORTAL_OTP_RESEND_AFTER_SECONDS", default=60)
PORTAL_SESSION_ABSOLUTE_HOURS = env.int("PORTAL_SESSION_ABSOLUTE_HOURS", default=12)
# Staff sessions in the admin (portal.staff.middleware): each clinic sets its idle timeout
# in its portal settings; operators' idle timeout and everyone's absolute limit are here.
PORTAL_STAFF_SESSION_ABSOLUTE_HOURS = env.int("PORTAL_STAFF_SESSION_ABSOLUTE_HOURS", default=12)
PORTAL_OPERATOR_IDLE_MINUTES = env.int("PORTAL_OPERATOR_IDLE_MINUTES", default=15)
RATELIMIT_USE_CACHE = "default"

# Staff and operator sign-in to the admin (django-axes, clinics.staff_signin): failures
# count per account and per source address, within a rolling cool-off window.
AXES_HANDLER = "clinics.staff_signin.StaffSignInThrottle"
AXES_USERNAME_CALLABLE = "clinics.staff_signin.throttle_key"
AXES_CLIENT_IP_CALLABLE = "portal.core.http.client_ip"
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_FAILURE_LIMIT = env.int("PORTAL_STAFF_SIGNIN_FAILURES_PER_ACCOUNT", default=10)
PORTAL_STAFF_SIGNIN_SOURCE_LIMIT = env.int("PORTAL_STAFF_SIGNIN_FAILURES_PER_SOURCE", default=50)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("PORTAL_STAFF_SIGNIN_COOLOFF_MINUTES", default=15))
# Tries while locked out neither count nor push the end of the lockout further away.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_RESET_ON_SUCCESS = False
AXES_DISABLE_ACCESS_LOG = True
AXES_ENABLE_ADMIN = False
AXES_SENSITIVE_PARAMETERS = [
    "username",
    "ip_address",
    "password",
    "otp_token",
    "csrfmiddlewaretoken",
]
# The login form answers a lockout itself (one answer, on the same page): no
# AxesMiddleware, whose own lockout page would differ from the form's.
SILENCED_SYSTEM_CHECKS += ["axes.W002"]
# django-ratelimit knows django-redis by name; Django's own RedisCache gives it the same
# atomic add/incr, so its "not officially supported" warning does not apply.
SILENCED_SYSTEM_CHECKS += ["django_ratelimit.W001"]
if not REDIS_URL:
    # Development and single-process tests: local memory is the only cache.
    SILENCED_SYSTEM_CHECKS += ["django_ratelimit.E003"]

# How long a notification may sit pending before the relay re-queues it.
NOTIFICATION_RELAY_AFTER_SECONDS = env.int("NOTIFICATION_RELAY_AFTER_SECONDS", default=60)
NOTIFICATION_MAX_ATTEMPTS = env.int("NOTIFICATION_MAX_ATTEMPTS", default=5)
# /readyz fails when a notification has been due this many seconds without being sent
# (the relay re-queues pending rows every minute, so a healthy pipeline stays far below).
PORTAL_READYZ_NOTIFICATION_DELAY_SECONDS = env.int(
    "PORTAL_READYZ_NOTIFICATION_DELAY_SECONDS", default=600
)

# /metrics (portal/site/metrics.py) is off while this is empty; a Prometheus scrape sends
# it as "Authorization: Bearer <token>". At least 32 characters in production.
PORTAL_METRICS_TOKEN = env("PORTAL_METRICS_TOKEN", default="")

# A request id on every request (django-guid): a well-formed UUID a proxy sends in
# X-Request-ID is kept, anything else is replaced by a new one; it is returned in the
# response's X-Request-ID, put on every log record (portal.core.logging), and passed to the
# Celery tasks the request queues (portal/celery.py).
DJANGO_GUID = {
    "GUID_HEADER_NAME": "X-Request-ID",
    "VALIDATE_GUID": True,
    "RETURN_HEADER": True,
    "EXPOSE_HEADER": False,
}

# LOG_FORMAT=json writes one JSON object per line (python-json-logger), for a log
# collector; "plain" is for people.
LOG_FORMAT = env("LOG_FORMAT", default="plain")
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured('LOG_FORMAT must be "plain" or "json".')
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "portal.core.logging.RequestIdFilter"},
        "routes_not_paths": {"()": "portal.core.access_log.RoutesNotPaths"},
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(request_id)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id", "routes_not_paths"],
        }
    },
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {
        # The twilio client logs request bodies at DEBUG/INFO; those hold phone numbers
        # and message text.
        "twilio": {"level": "WARNING"},
        # One INFO line per step of every sign-in; failures and lockouts stay (WARNING).
        "axes": {"level": "WARNING"},
        # Request lines and "Not Found: <path>" warnings would carry invitation and
        # reset tokens, which live in paths.
        "django.server": {"level": "ERROR"},
        "django.request": {"level": "ERROR"},
        # Scanners send any Host header; a refused host is not worth a traceback.
        "django.security.DisallowedHost": {"handlers": [], "propagate": False},
        # django-guid logs every generated id, and any malformed one a client sends.
        "django_guid": {"level": "ERROR"},
        # The access log (portal.core.access_log): off with PORTAL_ACCESS_LOG=false.
        "portal.access": {
            "level": "INFO" if env.bool("PORTAL_ACCESS_LOG", default=True) else "WARNING"
        },
    },
}

SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# Content-Security-Policy (django-csp), in development too so a violation shows up early.
# Scripts and stylesheets come only from this origin; the one inline <style> (the clinic's
# accent colour in base.html) is allowed by its hash (portal.core.csp). No inline scripts,
# no plugins, no <base> rewriting, no framing, and forms post only to this origin.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [csp.SELF],
        "script-src": [csp.SELF],
        "style-src": [csp.SELF],
        "img-src": [csp.SELF],
        "font-src": [csp.SELF],
        "connect-src": [csp.SELF],
        "object-src": [csp.NONE],
        "base-uri": [csp.NONE],
        "form-action": [csp.SELF],
        "frame-ancestors": [csp.NONE],
    },
}

# Error tracking (optional): Sentry when SENTRY_DSN is set (portal.core.error_tracking).
# Off by default; what it may send is limited there (no request bodies, no local
# variables, no user data).
SENTRY_DSN = env("SENTRY_DSN", default="")
