"""One way to write dates and times per language, on every page, in the admin, in emails.

The formats live in ``portal/formats/<lang>/formats.py`` (FORMAT_MODULE_PATH). Templates
name a format (``|date:"DATE_FORMAT"``, ``|weekday_date``) and never spell one out; code
formats through ``django.utils.formats`` with a named format, never ``strftime`` or an
f-string's ``%`` format. The only exceptions are machine formats: ``|date:"c"`` (ISO
8601, in ``datetime`` attributes and date inputs) and the audit export's file name.
"""

import ast
import datetime as dt
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.template import Context, Template
from django.utils import formats, translation
from django.utils.formats import FORMAT_SETTINGS

from portal.core.dates import weekday_date

ROOT = Path(__file__).resolve().parents[1]
APPS = ["portal", "clinics", "patients", "invitations", "appointments", "messaging"]
PORTAL_NAMES = {"WEEKDAY_DATE_FORMAT"}
MACHINE = {"c", "U"}
# Where a spelled-out format is a machine's, not a reader's (file, line's code).
CODE_ALLOWED = {("portal/audit/admin.py", 'timezone.localtime().strftime("%Y%m%d-%H%M")')}

DATE_FILTER = re.compile(r"\|(date|time):\s*(\"[^\"]*\"|'[^']*')")


def spelled_out_template_formats(text: str) -> list[str]:
    found = []
    for match in DATE_FILTER.finditer(text):
        fmt = match.group(2)[1:-1]
        if fmt not in FORMAT_SETTINGS and fmt not in MACHINE:
            found.append(match.group(0))
    return found


def spelled_out_code_formats(source: str) -> list[str]:
    """``strftime``/``strptime`` calls, f-string ``%`` formats and ``date_format`` with a
    literal that is not a named format."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in ("strftime", "strptime"):
                found.append(ast.get_source_segment(source, node))
            if node.func.attr in ("date_format", "time_format") and len(node.args) > 1:
                arg = node.args[1]
                if isinstance(arg, ast.Constant) and arg.value not in FORMAT_SETTINGS:
                    found.append(ast.get_source_segment(source, node))
        if isinstance(node, ast.FormattedValue) and node.format_spec is not None:
            spec = ast.get_source_segment(source, node.format_spec) or ""
            if "%" in spec:
                found.append(ast.get_source_segment(source, node))
    return found


def test_no_template_spells_out_a_date_format():
    problems = []
    for path in sorted((ROOT / "templates").rglob("*")):
        if path.suffix in (".html", ".txt"):
            for found in spelled_out_template_formats(path.read_text()):
                problems.append(f"{path.relative_to(ROOT)}: {found}")
    assert not problems, "\n".join(problems)


def test_no_code_spells_out_a_date_format():
    problems = []
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            relative = str(path.relative_to(ROOT))
            if "migrations" in path.parts or relative.startswith("portal/formats/"):
                continue
            for found in spelled_out_code_formats(path.read_text()):
                if (relative, found) not in CODE_ALLOWED:
                    problems.append(f"{relative}: {found}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    "text, caught",
    [
        ('{{ day|date:"l j F Y" }}', True),
        ("{{ day|date:'Y-m-d' }}", True),
        ('{{ start|time:"H:i" }}', True),
        ('{{ day|date:"DATE_FORMAT" }}', False),
        ("{{ at|date:'c' }}", False),
        ("{{ day|weekday_date }}", False),
    ],
)
def test_the_template_check_can_fail(text, caught):
    assert bool(spelled_out_template_formats(text)) is caught


@pytest.mark.parametrize(
    "source, caught",
    [
        ('x = day.strftime("%Y-%m-%d")', True),
        ('x = f"{day:%Y-%m-%d}"', True),
        ('x = formats.date_format(day, "j F Y")', True),
        ('x = formats.date_format(day, "DATE_FORMAT")', False),
        ('x = f"{count:>5}"', False),
    ],
)
def test_the_code_check_can_fail(source, caught):
    assert bool(spelled_out_code_formats(source)) is caught


def test_every_language_has_the_same_named_formats():
    names = {}
    for code, _name in settings.LANGUAGES:
        module = __import__(f"portal.formats.{code}.formats", fromlist=["*"])
        names[code] = {n for n in dir(module) if n.isupper()}
    assert len({frozenset(n) for n in names.values()}) == 1, names
    assert PORTAL_NAMES | {"DATE_FORMAT", "DATETIME_FORMAT", "TIME_FORMAT"} <= names["en"]


@pytest.mark.parametrize(
    "language, date, time, weekday",
    [
        ("en", "14 March 1958", "2:30 PM", "Friday 14 March 1958"),
        ("fr", "14 mars 1958", "14 h 30", "vendredi 14 mars 1958"),
    ],
)
def test_each_language_writes_dates_and_times_one_way(language, date, time, weekday):
    day = dt.date(1958, 3, 14)
    moment = dt.datetime(1958, 3, 14, 14, 30)
    with translation.override(language):
        assert formats.date_format(day) == date
        assert formats.time_format(moment) == time
        assert formats.date_format(moment, "DATETIME_FORMAT") == f"{date}, {time}"
        assert weekday_date(day) == weekday
        rendered = Template("{{ d|date }} · {{ d|weekday_date }}").render(Context({"d": day}))
        assert rendered == f"{date} · {weekday}"


def test_date_fields_show_and_read_iso_first_in_every_language():
    for code, _name in settings.LANGUAGES:
        with translation.override(code):
            assert formats.get_format("DATE_INPUT_FORMATS")[0] == "%Y-%m-%d"
