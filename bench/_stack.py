"""Running the production configuration on loopback for a benchmark.

A dedicated PostgreSQL database (created, then dropped), a dedicated Redis database
number (flushed before and after), gunicorn and Celery processes on 127.0.0.1 that are
stopped when the script ends however it ends (normal exit, exception, Ctrl-C, SIGTERM),
and wrk runs parsed into numbers.
"""

import atexit
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
BASE_DOMAIN = "portal.test"
SETTINGS = "bench.settings_production"
# PostgreSQL server (trust auth) and Redis server; each script uses its own database in them.
PG_SERVER = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
REDIS_SERVER = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379")

_processes: list[tuple[str, subprocess.Popen]] = []
_cleanups: list = []


def _cleanup():
    while _processes:
        name, proc = _processes.pop()
        _stop(name, proc)
    while _cleanups:
        fn = _cleanups.pop()
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - keep cleaning up
            print(f"cleanup: {exc}", file=sys.stderr)


def _on_signal(signum, frame):
    raise SystemExit(128 + signum)


atexit.register(_cleanup)
signal.signal(signal.SIGTERM, _on_signal)
signal.signal(signal.SIGHUP, _on_signal)


def on_exit(fn):
    """Run ``fn`` when the script ends (after the processes are stopped), last in first out."""
    _cleanups.append(fn)
    return fn


def _stop(name, proc, timeout=15):
    if proc.poll() is not None:
        return
    # Each process leads its own group: gunicorn and celery workers go with their master.
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        print(f"{name} did not stop in {timeout}s; killing it", file=sys.stderr)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


def stop(proc_to_stop):
    """Stop one process started with ``start`` (and its children) now."""
    for i, (name, proc) in enumerate(_processes):
        if proc is proc_to_stop:
            del _processes[i]
            _stop(name, proc)
            return


def start(name, args, env, log_dir):
    """Start a process in its own process group; its output goes to ``log_dir/name.log``."""
    log = open(Path(log_dir) / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    _processes.append((name, proc))
    return proc


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def scratch_dir(name):
    """A temporary folder for logs and static files; BENCH_KEEP_LOGS=1 keeps it."""
    path = Path(tempfile.mkdtemp(prefix=f"portal-bench-{name}-"))
    if os.environ.get("BENCH_KEEP_LOGS"):
        print(f"logs and static files: {path} (kept)")
    else:
        on_exit(lambda: shutil.rmtree(path, ignore_errors=True))
    return path


# --- PostgreSQL and Redis ----------------------------------------------------------------


def _pg_admin():
    import psycopg2

    conn = psycopg2.connect(f"{PG_SERVER}/postgres")
    conn.autocommit = True
    return conn


def pg_database(name, *, keep=False, reuse=False):
    """Create ``name`` (dropping a leftover first); drop it at exit unless ``keep``.

    Returns its DATABASE_URL. ``portal_bench_*`` names are made afresh; any other name
    must be a database that exists and holds no table yet (made for the bench by hand),
    so a test database, the server's own or a developer's data is never touched.
    ``reuse`` connects to a database an earlier run kept (``keep``) as it is: no drop,
    no create.
    """
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name) or name.startswith(
        ("test_", "postgres", "template")
    ):
        raise ValueError(f"refusing to manage database {name!r}")
    if reuse:
        return f"{PG_SERVER}/{name}"
    conn = _pg_admin()
    if name.startswith("portal_bench_"):
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            cur.execute(f'CREATE DATABASE "{name}"')
    else:
        import psycopg2

        own = psycopg2.connect(f"{PG_SERVER}/{name}")
        with own.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
            (tables,) = cur.fetchone()
        own.close()
        if tables:
            raise ValueError(f"{name} already holds {tables} tables: pass --reuse, or empty it")
    conn.close()

    def drop():
        admin = _pg_admin()
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()

    if not keep:
        on_exit(drop)
    return f"{PG_SERVER}/{name}"


def redis_database(number):
    """A Redis database number for this script, flushed now and at exit."""
    import redis

    url = f"{REDIS_SERVER}/{number}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    on_exit(lambda: redis.Redis.from_url(url).flushdb())
    return url


# --- The portal's environment --------------------------------------------------------------


def production_env(*, database_url, redis_url, static_root, **extra):
    """Environment for the production settings (via bench.settings_production) on loopback.

    HTTPS stays required (SECURE_SSL_REDIRECT on, as deployed): requests carry
    ``X-Forwarded-Proto: https`` as the TLS proxy would set it.
    """
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "DATABASE_", "REDIS_", "EMAIL_", "SMS_", "TWILIO_"))
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": SETTINGS,
            "PYTHONPATH": str(ROOT),
            "SECRET_KEY": secrets.token_urlsafe(50),
            "PORTAL_BASE_DOMAIN": BASE_DOMAIN,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "EMAIL_URL": "smtp://127.0.0.1:9",
            "SMS_BACKEND": "portal.notifications.sms.LocmemSmsBackend",
            "STATIC_ROOT": str(static_root),
            # Every bench runs on this one machine; scaleout.py adds a bucket (S3_*).
            "PORTAL_SINGLE_MACHINE": "true",
            "LOG_LEVEL": "WARNING",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    env.update({k: str(v) for k, v in extra.items()})
    return env


def django_setup(env):
    """Set up Django in this process with ``env`` (migrate and collectstatic included)."""
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)


def gunicorn(name, *, env, port, workers, log_dir):
    args = [
        str(VENV_BIN / "gunicorn"),
        "portal.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--worker-class",
        "sync",
        "--workers",
        str(workers),
        "--worker-tmp-dir",
        "/dev/shm",
        "--backlog",
        "256",
        # gunicorn 23+ opens a control socket at one fixed path per user; two masters
        # (bench/scaleout.py) would fight over it, and the benches do not use it.
        "--no-control-socket",
    ]
    proc = start(name, args, env, log_dir)
    wait_http(f"http://127.0.0.1:{port}/healthz", host=BASE_DOMAIN, proc=proc)
    return proc


def celery_worker(name, *, env, log_dir, concurrency=1, pool="prefork"):
    args = [
        str(VENV_BIN / "celery"),
        "-A",
        "portal",
        "worker",
        "--loglevel=warning",
        f"--concurrency={concurrency}",
        f"--pool={pool}",
        f"--hostname={name}@%h",
        "--without-gossip",
        "--without-mingle",
    ]
    proc = start(name, args, env, log_dir)
    _wait_celery(name, env, proc)
    return proc


def _wait_celery(name, env, proc, timeout=60):
    deadline = time.monotonic() + timeout
    args = [str(VENV_BIN / "celery"), "-A", "portal", "inspect", "ping", "-d", f"{name}@"]
    args[-1] += socket.gethostname()
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}; see its log")
        done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, timeout=30)
        if done.returncode == 0:
            return
        time.sleep(0.5)
    raise RuntimeError(f"{name} did not answer a ping within {timeout}s")


def wait_http(url, *, host, proc=None, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{url}: server exited with {proc.returncode}; see its log")
        try:
            request = urllib.request.Request(url, headers={"Host": host})
            with urllib.request.urlopen(request, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def http_get(url, *, host, cookie=None, https=True):
    """One GET without following redirects: (status, headers, body)."""
    headers = {"Host": host}
    if https:
        headers["X-Forwarded-Proto"] = "https"
    if cookie:
        headers["Cookie"] = cookie
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(urllib.request.Request(url, headers=headers), timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


# --- CPU time -----------------------------------------------------------------------------

_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_of(pid) -> float:
    """User + system CPU seconds of one process (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS


def _children(pid):
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except FileNotFoundError:
            continue
    return found


def _pg_backends(database):
    """PostgreSQL server processes serving ``database`` (from their process titles)."""
    pids = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            title = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        if title.startswith("postgres: ") and f" {database} " in title:
            pids.append(int(proc.name))
    return pids


class CpuMeter:
    """CPU seconds spent by the given server processes' children (gunicorn and Celery
    workers) and by the PostgreSQL backends of one database, between two readings.

    CPU per request is what limits throughput on a saturated machine, and unlike requests
    per second it barely moves when other work shares the cores.
    """

    def __init__(self, *, masters, database):
        self.masters = masters
        self.database = database

    def read(self) -> dict[str, dict[int, float]]:
        web = [m.pid for m in self.masters] + [c for m in self.masters for c in _children(m.pid)]
        return {
            "web": {p: _cpu_of(p) for p in web},
            "db": {p: _cpu_of(p) for p in _pg_backends(self.database)},
        }

    @staticmethod
    def spent(before, after) -> dict[str, float]:
        """CPU seconds per kind between two readings (processes started in between count
        from zero)."""
        return {
            kind: sum(max(cpu - before[kind].get(pid, 0.0), 0.0) for pid, cpu in pids.items())
            for kind, pids in after.items()
        }


# --- wrk --------------------------------------------------------------------------------


@dataclass
class WrkResult:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int  # socket errors plus non-2xx/3xx answers
    command: str


def _ms(text):
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def wrk(url, *, host, cookie=None, duration=10, connections=8, threads=1):
    """Load ``url`` with wrk and return its throughput and latency percentiles."""
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    args = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration}s",
        "--latency",
        "-H",
        f"Host: {host}",
        "-H",
        "X-Forwarded-Proto: https",
    ]
    if cookie:
        args += ["-H", f"Cookie: {cookie}"]
    args.append(url)
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    latency = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", out, re.M))
    rps = float(re.search(r"^Requests/sec:\s+([\d.]+)", out, re.M).group(1))
    total = int(re.search(r"^\s+(\d+) requests in", out, re.M).group(1))
    errors = 0
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non_2xx:
        errors += int(non_2xx.group(1))
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    if sockets:
        # Sync workers close each connection after answering; wrk may count the close
        # as a read error, which is not a failed request. Connects and timeouts are.
        errors += int(sockets.group(1)) + int(sockets.group(4))
    shown = " ".join(a if " " not in a else repr(a) for a in args)
    shown = shown.replace(cookie or "\0", "<session cookie>")
    # No percentiles when no request finished (a short warm-up on a very busy machine).
    p50, p99 = (_ms(latency[p]) if p in latency else float("nan") for p in ("50", "99"))
    return WrkResult(rps, p50, p99, total, errors, shown)


def host_of(url):
    return urlsplit(url).hostname
