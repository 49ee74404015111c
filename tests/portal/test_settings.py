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
