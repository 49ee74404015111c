"""Deployment checks: production refuses to run half-configured.

Active when the settings set ``PORTAL_REQUIRE_PRODUCTION_SERVICES`` (the production settings
do). Each failure is an Error, so ``manage.py check`` and ``manage.py migrate`` (the compose
file's one-shot job, which the app services wait for) stop with every problem listed at
once. The messages name settings and environment variables, never their values.
"""

from django.conf import settings
from django.core.checks import Error, register

POSTGRES_ENGINES = ("django.db.backends.postgresql", "django.contrib.gis.db.backends.postgis")
# Email backends that never deliver: they print sign-in links to the log, keep them in
# memory, or drop them.
UNDELIVERING_EMAIL_BACKENDS = (
    "django.core.mail.backends.console.EmailBackend",
    "django.core.mail.backends.locmem.EmailBackend",
    "django.core.mail.backends.dummy.EmailBackend",
    "django.core.mail.backends.filebased.EmailBackend",
)
TWILIO_BACKEND = "portal.notifications.sms.TwilioSmsBackend"
UNDELIVERING_SMS_BACKENDS = (
    "portal.notifications.sms.ConsoleSmsBackend",
    "portal.notifications.sms.LocmemSmsBackend",
)
TWILIO_SETTINGS = ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM_NUMBER")
SHARED_STORAGE_BACKEND = "portal.core.storage.PrivateS3Storage"
# The uploads: clinic logos ("default") and message attachments.
UPLOAD_STORAGES = ("default", "attachments")


def _active() -> bool:
    return getattr(settings, "PORTAL_REQUIRE_PRODUCTION_SERVICES", False)


@register()
def check_database(app_configs=None, **kwargs):
    if not _active():
        return []
    engine = settings.DATABASES["default"]["ENGINE"]
    if engine in POSTGRES_ENGINES:
        return []
    return [
        Error(
            "The database is not PostgreSQL.",
            hint="Set DATABASE_URL to postgres://user:password@host:5432/name. Without it "
            "the portal uses a SQLite file that exists in one container only.",
            id="portal.E001",
        )
    ]


@register()
def check_redis(app_configs=None, **kwargs):
    if not _active() or settings.REDIS_URL:
        return []
    return [
        Error(
            "REDIS_URL is not set.",
            hint="Without it notifications are sent inside the web request, the cache and "
            "the sign-in limits live in one process, and a second process or machine "
            "sees none of them. Set REDIS_URL=redis://host:6379/0.",
            id="portal.E002",
        )
    ]


@register()
def check_email(app_configs=None, **kwargs):
    if not _active() or settings.EMAIL_BACKEND not in UNDELIVERING_EMAIL_BACKENDS:
        return []
    return [
        Error(
            "EMAIL_URL selects an email backend that delivers nothing "
            f"({settings.EMAIL_BACKEND.rsplit('.', 2)[-2]}).",
            hint="Set EMAIL_URL to an SMTP server, e.g. smtp+tls://user:password@host:587.",
            id="portal.E003",
        )
    ]


@register()
def check_sms(app_configs=None, **kwargs):
    if not _active():
        return []
    if settings.SMS_BACKEND in UNDELIVERING_SMS_BACKENDS:
        return [
            Error(
                "SMS_BACKEND delivers no text messages.",
                hint=f"Set SMS_BACKEND={TWILIO_BACKEND} and the TWILIO_* variables.",
                id="portal.E004",
            )
        ]
    if settings.SMS_BACKEND != TWILIO_BACKEND:
        return []
    missing = [name for name in TWILIO_SETTINGS if not getattr(settings, name, "")]
    if not missing:
        return []
    return [
        Error(
            f"The Twilio SMS backend is chosen but {', '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} empty.",
            hint="Copy them from the Twilio console; the first text message would fail otherwise.",
            id="portal.E005",
        )
    ]


@register()
def check_file_storage(app_configs=None, **kwargs):
    """Uploads on this machine's disk are refused unless the operator says the portal runs
    on one machine (PORTAL_SINGLE_MACHINE; the compose file does). No check can count the
    machines, and with a second one a file uploaded on one is missing on the other: half
    of the downloads would be 404s, which is the same fault as a cache per process."""
    if not _active() or settings.PORTAL_SINGLE_MACHINE:
        return []
    local = [
        name
        for name in UPLOAD_STORAGES
        if settings.STORAGES.get(name, {}).get("BACKEND") != SHARED_STORAGE_BACKEND
    ]
    if not local:
        return []
    return [
        Error(
            "Uploaded files (clinic logos and message attachments) would be kept on this "
            "machine's disk.",
            hint="Set S3_BUCKET (with S3_ENDPOINT_URL, S3_REGION, S3_ACCESS_KEY_ID and "
            "S3_SECRET_ACCESS_KEY as needed) so every process on every machine shares one "
            "private bucket; or, when the portal runs on one machine only with MEDIA_ROOT "
            "and PORTAL_ATTACHMENTS_ROOT on kept volumes, set PORTAL_SINGLE_MACHINE=true.",
            id="portal.E006",
        )
    ]


# A bearer token anyone could guess is no restriction at all.
MIN_METRICS_TOKEN_LENGTH = 32


@register()
def check_metrics_token(app_configs=None, **kwargs):
    token = getattr(settings, "PORTAL_METRICS_TOKEN", "")
    if not _active() or not token or len(token) >= MIN_METRICS_TOKEN_LENGTH:
        return []
    return [
        Error(
            f"PORTAL_METRICS_TOKEN is shorter than {MIN_METRICS_TOKEN_LENGTH} characters.",
            hint='Generate one with: python3 -c "import secrets; print(secrets.token_urlsafe(32))"',
            id="portal.E007",
        )
    ]
