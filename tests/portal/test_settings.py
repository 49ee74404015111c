import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "portal.settings.production",
    "SECRET_KEY": "k3y-for-tests-" + "x7Qz9" * 10,
    "PORTAL_BASE_DOMAIN": "portal.example.org",
    "EMAIL_URL": "smtp://mail.example.org:25",
    # Nothing connects to these: the checks read the settings only.
    "DATABASE_URL": "postgres://portal@db.invalid:5432/portal",
    "REDIS_URL": "redis://redis.invalid:6379/0",
    "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
    "TWILIO_AUTH_TOKEN": "test-token-not-a-secret",
    "TWILIO_FROM_NUMBER": "+16135550100",
    # Uploads on local disk, which production accepts only on one machine.
    "PORTAL_SINGLE_MACHINE": "true",
}
# A bucket for the uploads instead (nothing connects to it either).
S3_ENV = {
    "PORTAL_SINGLE_MACHINE": "",
    "S3_BUCKET": "portal-uploads",
    "S3_ENDPOINT_URL": "https://s3.example.org",
    "S3_REGION": "eu-west-1",
    "S3_ACCESS_KEY_ID": "test-key-id",
    "S3_SECRET_ACCESS_KEY": "test-secret-not-a-secret",
}


def _manage(*args, env):
    dropped = ("SECRET_KEY", "DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE")
    full_env = {k: v for k, v in os.environ.items() if k not in dropped}
    full_env.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_with_production_settings():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key():
    env = {**PRODUCTION_ENV, "SECRET_KEY": ""}
    result = _manage("check", env=env)
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_production_refuses_to_start_with_debug_on():
    result = _manage("check", env={**PRODUCTION_ENV, "DEBUG": "true"})
    assert result.returncode != 0
    assert "DEBUG must be off" in result.stderr


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("PORTAL_BASE_DOMAIN", "", "PORTAL_BASE_DOMAIN must be set"),
        ("EMAIL_URL", "", "EMAIL_URL must be set"),
        ("SMS_BACKEND", "portal.notifications.sms.ConsoleSmsBackend", "console backend"),
    ],
)
def test_production_refuses_settings_that_would_leak_or_misroute(name, value, message):
    result = _manage("check", env={**PRODUCTION_ENV, name: value})
    assert result.returncode != 0
    assert message in result.stderr


@pytest.mark.parametrize(
    ("changes", "check_id", "named"),
    [
        ({"DATABASE_URL": ""}, "portal.E001", "not PostgreSQL"),
        ({"DATABASE_URL": "sqlite:////tmp/portal.sqlite3"}, "portal.E001", "not PostgreSQL"),
        ({"REDIS_URL": ""}, "portal.E002", "REDIS_URL is not set"),
        ({"EMAIL_URL": "consolemail://"}, "portal.E003", "(console)"),
        ({"EMAIL_URL": "memorymail://"}, "portal.E003", "(locmem)"),
        ({"EMAIL_URL": "dummymail://"}, "portal.E003", "(dummy)"),
        ({"EMAIL_URL": "filemail:///tmp/mails"}, "portal.E003", "(filebased)"),
        ({"TWILIO_AUTH_TOKEN": ""}, "portal.E005", "TWILIO_AUTH_TOKEN is empty"),
        (
            {"TWILIO_ACCOUNT_SID": "", "TWILIO_FROM_NUMBER": ""},
            "portal.E005",
            "TWILIO_ACCOUNT_SID, TWILIO_FROM_NUMBER are empty",
        ),
        (
            {"SMS_BACKEND": "portal.notifications.sms.LocmemSmsBackend"},
            "portal.E004",
            "delivers no text messages",
        ),
        ({"PORTAL_SINGLE_MACHINE": ""}, "portal.E006", "kept on this machine's disk"),
        ({"PORTAL_SINGLE_MACHINE": "false"}, "portal.E006", "set PORTAL_SINGLE_MACHINE=true"),
        ({"PORTAL_METRICS_TOKEN": "guessable-token"}, "portal.E007", "shorter than 32"),
    ],
)
def test_check_deploy_refuses_a_half_configured_production(changes, check_id, named):
    result = _manage("check", "--deploy", env={**PRODUCTION_ENV, **changes})
    assert result.returncode != 0
    assert f"({check_id})" in result.stderr
    assert named in result.stderr
    # Names, never values: the token of the environment is not repeated.
    assert PRODUCTION_ENV["TWILIO_AUTH_TOKEN"] not in result.stderr
    assert "guessable-token" not in result.stderr


def test_without_redis_the_unshared_cache_of_the_sign_in_limits_is_reported():
    result = _manage("check", "--deploy", env={**PRODUCTION_ENV, "REDIS_URL": ""})
    assert "(django_ratelimit.E003)" in result.stderr


def test_the_twilio_credentials_are_not_needed_with_another_sms_backend():
    env = {
        **PRODUCTION_ENV,
        "SMS_BACKEND": "example.sms.OtherSmsBackend",
        "TWILIO_ACCOUNT_SID": "",
        "TWILIO_AUTH_TOKEN": "",
    }
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode == 0, result.stderr


def test_migrate_refuses_to_run_half_configured_before_touching_a_database():
    # The compose file's one-shot migrate job runs first; the app services wait for it.
    result = _manage("migrate", "--noinput", env={**PRODUCTION_ENV, "REDIS_URL": ""})
    assert result.returncode != 0
    assert "(portal.E002)" in result.stderr


def test_development_settings_do_not_ask_for_production_services():
    result = _manage(
        "check",
        env={"DATABASE_URL": "", "REDIS_URL": "", "DJANGO_SETTINGS_MODULE": "portal.settings"},
    )
    assert result.returncode == 0, result.stderr


def test_production_keeps_database_connections_and_requires_staff_otp():
    code = (
        "from django.conf import settings as s;"
        "print(s.DATABASES['default']['CONN_MAX_AGE'], s.PORTAL_STAFF_OTP_REQUIRED,"
        " s.SESSION_COOKIE_SECURE, s.SESSION_COOKIE_DOMAIN)"
    )
    result = _manage("shell", "-c", code, env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-4:] == ["600", "True", "True", "None"]


@pytest.mark.parametrize(
    ("redis_url", "eager", "cache_backend"),
    [
        ("", "True", "django.core.cache.backends.locmem.LocMemCache"),
        ("redis://127.0.0.1:6379/3", "False", "portal.core.redis_cache.KeptClientRedisCache"),
    ],
)
def test_redis_url_switches_the_broker_and_cache(redis_url, eager, cache_backend):
    code = (
        "from django.conf import settings as s;"
        "print(s.CELERY_TASK_ALWAYS_EAGER, s.CACHES['default']['BACKEND'])"
    )
    result = _manage("shell", "-c", code, env={"REDIS_URL": redis_url, "DATABASE_URL": ""})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-2:] == [eager, cache_backend]


def test_a_bucket_for_the_uploads_passes_the_deployment_checks_on_any_number_of_machines():
    result = _manage(
        "check", "--deploy", "--fail-level", "WARNING", env={**PRODUCTION_ENV, **S3_ENV}
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_bucket_holds_both_the_logos_and_the_attachments_under_their_own_prefixes():
    code = (
        "from django.conf import settings as s;"
        "print(*[(s.STORAGES[n]['BACKEND'].rsplit('.', 1)[-1], s.STORAGES[n]['OPTIONS']"
        "['location'], s.STORAGES[n]['OPTIONS']['bucket_name']) for n in ('default',"
        " 'attachments')], sep='|')"
    )
    result = _manage("shell", "-c", code, env={**PRODUCTION_ENV, **S3_ENV})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1].split("|") == [
        "('PrivateS3Storage', 'media', 'portal-uploads')",
        "('PrivateS3Storage', 'attachments', 'portal-uploads')",
    ]


def test_an_s3_key_without_its_secret_is_refused():
    env = {**PRODUCTION_ENV, **S3_ENV, "S3_SECRET_ACCESS_KEY": ""}
    result = _manage("check", env=env)
    assert result.returncode != 0
    assert "Set both S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY" in result.stderr
    assert S3_ENV["S3_ACCESS_KEY_ID"] not in result.stderr
