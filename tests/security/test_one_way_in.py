"""Sign-in completion is the only code that starts a patient session.

Read from the project's own source (ast), so a way in added later that calls Django's
``login`` (or writes the session's user key) itself fails here, before review.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APPS = ["portal", "clinics", "patients", "invitations", "appointments", "messaging"]
THE_ONE_PLACE = ("patients/signin.py", "_login")
SESSION_USER_KEYS = {"_auth_user_id", "SESSION_KEY", "HASH_SESSION_KEY", "BACKEND_SESSION_KEY"}


def _sources():
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" not in path.parts:
                yield path


def _session_starts(path: Path):
    """(function, line) of every call of django.contrib.auth's login in ``path``, and of
    every mention of the session's user keys."""
    tree = ast.parse(path.read_text(), filename=str(path))
    login_names = set()
    auth_modules = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "django.contrib.auth":
            for alias in node.names:
                if alias.name == "login":
                    login_names.add(alias.asname or "login")
                if alias.name in SESSION_USER_KEYS:
                    yield ("import", node.lineno)
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "django.contrib.auth":
                    auth_modules.add(alias.asname or "django")
        if isinstance(node, ast.ImportFrom) and node.module == "django.contrib":
            auth_modules.update(a.asname or a.name for a in node.names if a.name == "auth")
    parents = {}
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            parents[child] = node

    def enclosing(node):
        while node in parents:
            node = parents[node]
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                return node.name
        return "<module>"

    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            direct = isinstance(func, ast.Name) and func.id in login_names
            dotted = (
                isinstance(func, ast.Attribute)
                and func.attr == "login"
                and isinstance(func.value, ast.Name)
                and func.value.id in auth_modules
            )
            if direct or dotted:
                yield (enclosing(node), node.lineno)
        if isinstance(node, ast.Constant) and node.value in SESSION_USER_KEYS:
            yield (enclosing(node), node.lineno)


def test_only_sign_in_completion_starts_a_patient_session():
    found = {}
    for path in _sources():
        for function, line in _session_starts(path):
            found[(str(path.relative_to(ROOT)), function)] = line
    assert set(found) == {THE_ONE_PLACE}, (
        "a session may be started only by patients.signin (signin_complete); found: "
        f"{sorted(found)}"
    )


def test_the_reader_finds_a_login_call(tmp_path):
    """The reader itself must see the forms a way in would take, or the test above could
    pass by seeing nothing."""
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from django.contrib.auth import login as sign\n"
        "from django.contrib import auth\n"
        "def a(request, user):\n    sign(request, user)\n"
        "def b(request, user):\n    auth.login(request, user)\n"
        "def c(request, user):\n    request.session['_auth_user_id'] = user.pk\n"
    )
    assert {f for f, _ in _session_starts(sample)} == {"a", "b", "c"}
