"""The deployment files (Dockerfile, docker-compose.yml, .env.example, .dockerignore).

No Docker engine runs the tests, so the files are parsed and checked against the settings:
every variable the settings read must be documented in .env.example, and compose may only
set variables the settings read.
"""

import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
SETTINGS_DIR = ROOT / "portal" / "settings"

APP_SERVICES = ("migrate", "web", "worker", "beat")
ALL_SERVICES = ("web", "worker", "beat", "postgres", "redis")
# What an operator fills in after `cp .env.example .env` (the blanks of .env.example).
OPERATOR_VALUES = {
    "SECRET_KEY": "t3st-" + "Zq8x" * 15,
    "POSTGRES_PASSWORD": "pw123",
    "EMAIL_URL": "smtp+tls://apikey:pw@smtp.example.org:587",
    "TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
    "TWILIO_AUTH_TOKEN": "tok3n",
    "TWILIO_FROM_NUMBER": "+16135550100",
}
# Read by Django, manage.py, wsgi.py and portal/celery.py, not through the settings' env.
PROCESS_ENV_VARS = {"DJANGO_SETTINGS_MODULE"}

# env("NAME", ...), env.bool("NAME", ...), env.int, env.list, env.db, env.email_url, ...
ENV_READ = re.compile(r"""\benv(?:\.[a-z_]+)?\(\s*["']([A-Za-z_][A-Za-z0-9_]*)["']""")
ENV_EXAMPLE_LINE = re.compile(r"^(#\s*)?([A-Z][A-Z0-9_]*)=(.*)$")
COMPOSE_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")
TOKEN_LOG_FIELDS = ("%(r)s", "%(U)s", "%(q)s")


def settings_env_vars():
    """Names of every environment variable the settings modules read through django-environ."""
    names = set()
    for source in sorted(SETTINGS_DIR.glob("*.py")):
        names.update(ENV_READ.findall(source.read_text()))
    return names


def load_compose(name="docker-compose.yml"):
    return yaml.safe_load((ROOT / name).read_text())


def merge_compose(base, override):
    """`docker compose -f base -f override`: mappings merge key by key, the rest replaces."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_compose(merged[key], value)
        else:
            merged[key] = value
    return merged


def env_example_entries():
    """(name, value, active) for each "NAME=value" and commented-out "# NAME=value" line."""
    entries = []
    for line in (ROOT / ".env.example").read_text().splitlines():
        match = ENV_EXAMPLE_LINE.match(line.strip())
        if match:
            comment, name, value = match.groups()
            entries.append((name, _unquote(value.strip()), comment is None))
    return entries


def _unquote(value):
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def interpolate(value, variables):
    """Compose's ${NAME}, ${NAME:-default} and ${NAME:?error} substitution."""

    def substitute(match):
        name, operator, argument = match.groups()
        current = variables.get(name)
        if operator in (":-", ":?") and not current:
            current = None
        if current is None:
            if operator and operator.endswith("?"):
                raise AssertionError(f"compose requires {name}: {argument}")
            return argument if operator else ""
        return current

    return COMPOSE_VAR.sub(substitute, value)


def dockerfile_instructions():
    """(INSTRUCTION, arguments) in order, comments dropped, continuation lines joined."""
    instructions = []
    current = ""
    for raw in (ROOT / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        keyword, _, arguments = current.partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        current = ""
    return instructions


def dockerfile_env():
    env = {}
    for keyword, arguments in dockerfile_instructions():
        if keyword == "ENV":
            for pair in shlex.split(arguments):
                name, _, value = pair.partition("=")
                env[name] = value
    return env


def command_argv(command):
    return shlex.split(command) if isinstance(command, str) else list(command)


def assert_no_request_paths_logged(argv):
    """Invitation and reset tokens are in URL paths: no access log, or one without the URL."""
    joined = " ".join(argv)
    if "--access-logfile" not in joined and "--access-log" not in joined:
        return
    assert "--access-logformat" in joined, "an access log must use a format without the URL"
    log_format = argv[argv.index("--access-logformat") + 1]
    for field in TOKEN_LOG_FIELDS:
        assert field not in log_format


# --- the extraction the other tests rely on ---------------------------------------------------


def test_the_extraction_finds_the_variables_the_settings_are_known_to_read():
    names = settings_env_vars()
    assert {
        "SECRET_KEY",
        "DEBUG",
        "DATABASE_URL",
        "REDIS_URL",
        "EMAIL_URL",
        "EXTRA_ALLOWED_HOSTS",
        "TWILIO_AUTH_TOKEN",
        "TWILIO_TIMEOUT",
        "PORTAL_STAFF_OTP_REQUIRED",
        "SECURE_SSL_REDIRECT",
        "CONN_MAX_AGE",
    } <= names
    assert len(names) >= 25


def test_the_settings_read_the_environment_only_through_django_environ():
    for source in SETTINGS_DIR.glob("*.py"):
        text = source.read_text()
        assert "os.environ" not in text, f"{source.name}: extraction would miss os.environ"
        assert "getenv" not in text, f"{source.name}: extraction would miss os.getenv"


# --- docker-compose.yml ----------------------------------------------------------------------


def test_compose_defines_the_app_the_database_and_the_broker_and_no_mail_catcher():
    services = load_compose()["services"]
    for name in ALL_SERVICES:
        assert name in services, f"missing service {name}"
    assert services["postgres"]["image"].startswith("postgres:16")
    assert services["redis"]["image"].startswith("redis:7")
    # A mail catcher in production would swallow every sign-in code.
    assert "mailpit" not in (ROOT / "docker-compose.yml").read_text()


def test_the_development_override_adds_the_mail_catcher_on_localhost_only():
    override = load_compose("docker-compose.dev.yml")
    merged = merge_compose(load_compose(), override)["services"]
    mailpit = merged["mailpit"]
    assert mailpit["image"].startswith("axllent/mailpit")
    assert all(port.startswith("127.0.0.1:") for port in mailpit["ports"])
    assert merged["worker"]["depends_on"]["mailpit"]["condition"] == "service_started"
    # The override keeps what the worker waited for before.
    assert merged["worker"]["depends_on"]["migrate"]["condition"] == (
        "service_completed_successfully"
    )
    assert set(override["services"]) == {"worker", "mailpit"}


@pytest.mark.parametrize("name", ["docker-compose.yml", "docker-compose.dev.yml"])
def test_every_dependency_of_a_service_is_a_service(name):
    merged = load_compose()
    if name != "docker-compose.yml":
        merged = merge_compose(merged, load_compose(name))
    services = merged["services"]
    for service_name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{service_name} waits for missing {dependency}"


def test_the_app_services_run_one_image_built_from_the_dockerfile():
    services = load_compose()["services"]
    built = {name for name, service in services.items() if "build" in service}
    assert built == set(APP_SERVICES)
    builds, images = set(), set()
    for name in APP_SERVICES:
        build = services[name]["build"]
        if isinstance(build, str):
            build = {"context": build}
        builds.add((build["context"], build.get("dockerfile", "Dockerfile")))
        images.add(services[name]["image"])
    assert builds == {(".", "Dockerfile")}
    assert len(images) == 1


def test_the_worker_and_beat_run_celery_for_the_portal_app():
    services = load_compose()["services"]
    worker = command_argv(services["worker"]["command"])
    beat = command_argv(services["beat"]["command"])
    assert worker[:4] == ["celery", "-A", "portal", "worker"]
    assert beat[:4] == ["celery", "-A", "portal", "beat"]
    assert "--loglevel=info" in worker
    assert "--loglevel=info" in beat


def test_the_web_service_runs_gunicorn_with_the_portal_wsgi_app():
    argv = command_argv(load_compose()["services"]["web"]["command"])
    assert argv[0] == "gunicorn"
    assert "portal.wsgi:application" in argv
    assert argv[argv.index("--bind") + 1] == "0.0.0.0:8000"
    assert_no_request_paths_logged(argv)


def test_migrations_run_once_before_the_app_starts():
    services = load_compose()["services"]
    migrate = services["migrate"]
    assert command_argv(migrate["command"]) == ["python", "manage.py", "migrate", "--noinput"]
    # A one-shot job: "unless-stopped" would run it again and again.
    assert migrate["restart"] == "no"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("web", "worker", "beat"):
        condition = services[name]["depends_on"]["migrate"]["condition"]
        assert condition == "service_completed_successfully", name


def test_the_web_service_waits_for_healthy_postgres_and_redis():
    depends_on = load_compose()["services"]["web"]["depends_on"]
    assert depends_on["postgres"]["condition"] == "service_healthy"
    assert depends_on["redis"]["condition"] == "service_healthy"


def test_postgres_and_redis_have_health_checks_and_keep_their_data():
    compose = load_compose()
    services = compose["services"]
    assert "pg_isready" in command_argv(services["postgres"]["healthcheck"]["test"])
    assert command_argv(services["redis"]["healthcheck"]["test"])[-2:] == ["redis-cli", "ping"]
    postgres_volume = services["postgres"]["volumes"][0].split(":")
    assert postgres_volume[1] == "/var/lib/postgresql/data"
    assert postgres_volume[0] in compose["volumes"], "postgres data needs a named volume"


def test_the_web_health_check_asks_healthz_on_the_base_domain():
    test = command_argv(load_compose()["services"]["web"]["healthcheck"]["test"])
    assert test[0] == "CMD"
    script = " ".join(test)
    assert "http://127.0.0.1:8000/healthz" in script
    # Production rejects a Host that is not the base domain (or one of its subdomains).
    assert "PORTAL_BASE_DOMAIN" in script


def test_the_services_restart_unless_stopped():
    services = load_compose()["services"]
    for name in ALL_SERVICES:
        assert services[name]["restart"] == "unless-stopped", name


def test_the_app_services_use_production_settings_and_the_compose_backends():
    services = load_compose()["services"]
    for name in APP_SERVICES:
        service = services[name]
        assert service["env_file"] in (".env", [".env"]), name
        environment = service["environment"]
        assert environment["DJANGO_SETTINGS_MODULE"] == "portal.settings.production", name
        assert "@postgres:5432/" in environment["DATABASE_URL"], name
        assert environment["REDIS_URL"].startswith("redis://redis:6379"), name
        assert (
            interpolate(environment["EMAIL_URL"], OPERATOR_VALUES) == (OPERATOR_VALUES["EMAIL_URL"])
        ), name


@pytest.mark.parametrize("variable", ["EMAIL_URL", "PORTAL_BASE_DOMAIN", "POSTGRES_PASSWORD"])
def test_compose_refuses_to_start_while_a_required_variable_is_blank(variable):
    active = {name: value for name, value, is_active in env_example_entries() if is_active}
    filled = {**active, **OPERATOR_VALUES, variable: ""}
    environment = load_compose()["services"]["web"]["environment"]
    with pytest.raises(AssertionError, match=f"compose requires {variable}"):
        for value in environment.values():
            interpolate(value, filled)


def test_compose_sets_only_variables_the_settings_read():
    read = settings_env_vars() | PROCESS_ENV_VARS
    services = load_compose()["services"]
    for name in APP_SERVICES:
        environment = services[name]["environment"]
        if isinstance(environment, list):
            environment = dict(item.split("=", 1) for item in environment)
        unknown = set(environment) - read
        assert not unknown, f"{name} sets variables nothing reads: {sorted(unknown)}"


# --- .env.example ----------------------------------------------------------------------------


def test_env_example_lists_every_variable_the_settings_read():
    listed = {name for name, _, _ in env_example_entries()}
    missing = settings_env_vars() - listed
    assert not missing, f".env.example does not document {sorted(missing)}"


def test_env_example_lists_every_variable_compose_substitutes():
    listed = {name for name, _, _ in env_example_entries()}
    substituted = {
        match[0] for match in COMPOSE_VAR.findall((ROOT / "docker-compose.yml").read_text())
    }
    assert substituted, "the compose file substitutes at least POSTGRES_PASSWORD"
    assert substituted <= listed, sorted(substituted - listed)


def test_env_example_ships_no_secrets_and_no_debug():
    active = {name: value for name, value, is_active in env_example_entries() if is_active}
    for secret in ("SECRET_KEY", "POSTGRES_PASSWORD", "TWILIO_AUTH_TOKEN"):
        assert active.get(secret) == "", f"{secret} must be a blank for the operator to fill in"
    assert active["DEBUG"].lower() in ("false", "off", "0", "no")
    text = (ROOT / ".env.example").read_text()
    assert "secrets.token_urlsafe" in text, "say how to generate SECRET_KEY"


def test_env_example_filled_in_with_compose_values_passes_the_deployment_checks():
    entries = env_example_entries()
    active = {name: value for name, value, is_active in entries if is_active}
    filled = {**active, **OPERATOR_VALUES}
    compose_environment = load_compose()["services"]["web"]["environment"]
    env = {"PATH": os.environ.get("PATH", ""), **filled}
    env.update({name: interpolate(value, filled) for name, value in compose_environment.items()})
    code = (
        "import json, django; django.setup(); from django.conf import settings as s;"
        "db = s.DATABASES['default'];"
        "print(json.dumps([s.DEBUG, db['ENGINE'], db['HOST'], s.CACHES['default']['BACKEND'],"
        " s.EMAIL_HOST, s.EMAIL_PORT, s.ALLOWED_HOSTS[0], s.CELERY_TASK_ALWAYS_EAGER]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == [
        False,
        "django.db.backends.postgresql",
        "postgres",
        "portal.core.redis_cache.KeptClientRedisCache",
        "smtp.example.org",
        587,
        active["PORTAL_BASE_DOMAIN"],
        False,
    ]
    check = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert check.returncode == 0, check.stderr


# --- Dockerfile and .dockerignore ------------------------------------------------------------


def test_the_image_is_python_311_slim_with_the_locked_dependencies():
    instructions = dockerfile_instructions()
    assert instructions[0] == ("FROM", "python:3.11-slim")
    runs = [arguments for keyword, arguments in instructions if keyword == "RUN"]
    installs = [run for run in runs if "pip install" in run]
    # One install, from the hashed lock, wheels only: nothing unpinned is fetched or built.
    assert installs == [
        "pip install --no-cache-dir --require-hashes --only-binary=:all: -r requirements.lock"
    ]
    copies = [arguments for keyword, arguments in instructions if keyword == "COPY"]
    assert copies[0] == "requirements.lock ./", "dependencies before the code, for the cache"
    assert ("EXPOSE", "8000") in instructions


def lock_pins():
    """{canonical name: (version, hashes)} from requirements.lock."""
    pins, current = {}, None
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        pin = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\\s;]+)", line)
        if pin:
            current = canonicalize_name(pin[1])
            pins[current] = (pin[2], [])
        elif line.strip().startswith("--hash=sha256:") and current:
            pins[current][1].append(line.strip())
    return pins


def test_the_lock_pins_every_dependency_of_pyproject_with_hashes():
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = lock_pins()
    assert len(pins) >= len(dependencies)
    for dependency in dependencies:
        requirement = Requirement(dependency)
        # An extra names a package of its own (django-phonenumber-field[phonenumberslite]).
        for name in [requirement.name, *requirement.extras]:
            assert canonicalize_name(name) in pins, f"{name} is not in requirements.lock: make lock"
        version, _ = pins[canonicalize_name(requirement.name)]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"requirements.lock pins {requirement.name}=={version}, pyproject wants "
            f"{requirement.specifier}: make lock"
        )
    for name, (_, hashes) in pins.items():
        assert hashes, f"{name} has no hash in requirements.lock"


def test_the_lock_has_the_raised_floors_and_the_lite_phone_numbers():
    pins = lock_pins()
    assert Version(pins["django"][0]) >= Version("5.2.8")
    assert Version(pins["pillow"][0]) >= Version("10.3")
    assert "phonenumberslite" in pins
    # The full package ships geocoder, carrier and time-zone data the portal never reads.
    assert "phonenumbers" not in pins
    assert "psycopg2-binary" in pins


PHONE_NUMBER_DATA = re.compile(
    r"phonenumbers\.(geocoder|carrier|timezone)\b"
    r"|from phonenumbers import [^\n]*\b(geocoder|carrier|timezone)\b"
)


def test_the_portal_uses_no_phone_number_data_the_lite_package_lacks():
    for package in ("portal", "clinics", "patients", "invitations", "appointments", "messaging"):
        for source in (ROOT / package).rglob("*.py"):
            assert not PHONE_NUMBER_DATA.search(source.read_text()), source


def test_the_image_runs_the_code_from_the_copied_source_tree():
    # BASE_DIR (templates/, static/) is derived from the package's location; the
    # site-packages copy has neither folder.
    workdirs = [
        arguments for keyword, arguments in dockerfile_instructions() if keyword == "WORKDIR"
    ]
    assert dockerfile_env()["PYTHONPATH"] == workdirs[-1]


def test_the_image_runs_as_a_non_root_user():
    instructions = dockerfile_instructions()
    keywords = [keyword for keyword, _ in instructions]
    assert "USER" in keywords
    last_user = len(keywords) - 1 - keywords[::-1].index("USER")
    user = instructions[last_user][1].split(":")[0]
    assert user not in ("root", "0")
    assert last_user < keywords.index("CMD")


def test_the_image_bakes_in_no_secret_key():
    instructions = dockerfile_instructions()
    for keyword, arguments in instructions:
        if keyword in ("ENV", "ARG"):
            assert "SECRET_KEY" not in arguments
    collectstatic = [
        arguments
        for keyword, arguments in instructions
        if keyword == "RUN" and "collectstatic" in arguments
    ]
    assert len(collectstatic) == 1
    assert "--noinput" in collectstatic[0]
    assert "SECRET_KEY=" in collectstatic[0]
    assert "DJANGO_SETTINGS_MODULE=portal.settings.production" in collectstatic[0]
    placeholders = {word.split("=")[0] for word in shlex.split(collectstatic[0]) if "=" in word}
    placeholders -= {"DJANGO_SETTINGS_MODULE"}
    assert placeholders >= {"SECRET_KEY", "PORTAL_BASE_DOMAIN", "EMAIL_URL"}
    for keyword, arguments in instructions:
        if keyword in ("ENV", "ARG"):
            assert not placeholders & set(re.findall(r"[A-Z_]+", arguments)), arguments


def test_the_collectstatic_line_gives_the_production_settings_all_they_need():
    # The whole build runs in CI (scripts/check-image-build); this is its fast half: only
    # the Dockerfile's ENV and the line's own assignments, nothing from this machine.
    (line,) = [
        arguments
        for keyword, arguments in dockerfile_instructions()
        if keyword == "RUN" and "collectstatic" in arguments
    ]
    assignments = dict(
        word.split("=", 1) for word in shlex.split(line.split("python manage.py")[0])
    )
    env = {
        "PATH": os.environ.get("PATH", ""),
        **{k: v for k, v in dockerfile_env().items() if k != "PYTHONPATH"},
        **assignments,
    }
    code = "import django; django.setup(); from django.conf import settings as s; print(s.STORAGES)"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "CompressedManifestStaticFilesStorage" in result.stdout


def test_the_image_serves_gunicorn_without_logging_request_paths():
    cmd = [arguments for keyword, arguments in dockerfile_instructions() if keyword == "CMD"]
    argv = json.loads(cmd[-1])
    assert argv[:2] == ["gunicorn", "portal.wsgi:application"]
    assert argv[argv.index("--bind") + 1] == "0.0.0.0:8000"
    assert argv[argv.index("--worker-class") + 1] == "sync"
    assert "--workers" not in argv and "-w" not in argv, "workers come from WEB_CONCURRENCY"
    assert dockerfile_env()["WEB_CONCURRENCY"] == "3"
    assert_no_request_paths_logged(argv)


@pytest.mark.parametrize("path", [".env", ".git", ".venv", "db.sqlite3", "staticfiles", "media"])
def test_the_build_context_leaves_out_secrets_and_local_state(path):
    patterns = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert path in patterns


# --- the README's production runbook ---------------------------------------------------------


def _runbook():
    readme = (ROOT / "README.md").read_text()
    return readme[readme.index("## Production") :]


def test_the_runbook_runs_compose_commands_on_services_and_files_that_exist():
    services = load_compose()["services"]
    runbook = _runbook()
    execs = re.findall(r"docker compose exec (?:-T )?([a-z]+)", runbook)
    assert {"web", "postgres"} <= set(execs)
    for service in execs:
        assert service in services, service
    for started in re.findall(r"docker compose up -d ([a-z]+)", runbook):
        assert started in services, started
    for name in re.findall(r"docker compose (?:-f \S+ )*-f (\S+)", runbook):
        assert (ROOT / name).is_file(), name


def test_the_runbook_names_management_commands_that_exist():
    from django.core.management import get_commands

    named = set(re.findall(r"manage\.py ([a-z_]+)", _runbook()))
    assert {"createsuperuser", "staff_totp_enrol", "migrate", "check"} <= named
    assert named <= set(get_commands()), named - set(get_commands())
