"""Chart onboarding without a record system: a CSV file of charts read, checked row by row
and, once staff have seen the preview, imported through ``patients.services.chart_create``.

Why the portal's own reader rather than django-import-export: a new chart's rules (the
canonical email, mobile and ID numbers, the clinic's ID types, the chart's model
validation, the ID's uniqueness per clinic) already live in ``chart_create``, which the
admin's Quick Add and the FHIR API use; import-export would validate through its own
resource classes and widgets and write with ``save()``/``bulk_create`` of its own, a
second copy of those rules to keep in step, and its dry run is a database transaction
rolled back (a preview that writes, then undoes). The file here is eight fixed columns;
Python's ``csv`` reads it, and the preview is computed without touching the database
beyond three reads.

The steps:

- ``read_chart_file(content)``: the bytes as rows (UTF-8 with or without a BOM, comma or
  semicolon, at most ``MAX_BYTES`` and ``MAX_ROWS``) or ``FileRefused`` saying why;
- ``chart_import_plan(clinic=…, rows=…)``: each row's outcome — will be created,
  will be created but may be a chart the clinic has (same name and date of birth),
  a duplicate (its ID is on a chart of the clinic, or on another row of the file), or an
  error in plain words — in three queries whatever the number of rows;
- the preview keeps the uploaded bytes server-side (``preview_keep``), keyed by clinic,
  staff member and the bytes' SHA-256; the confirmation names that digest, so only the
  file that was previewed can be imported, and only by who previewed it;
- ``patients.services.charts_import`` writes the plan's rows.
"""

import csv
import hashlib
import io
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date

from django.core.cache import cache
from django.utils import timezone
from django.utils.translation import gettext as _

from clinics.models import Clinic, IdentifierType
from patients.models import Patient, PatientIdentifier
from portal.core.fields import EMAIL_ERROR, ID_NUMBER_ERROR
from portal.core.identifiers import (
    InvalidIdentifier,
    canonical_email,
    canonical_id_number,
    canonical_mobile,
)
from portal.core.phones import phone_error

MAX_BYTES = 5 * 1024 * 1024
# The import is one request and one transaction, about six queries a chart: 2,000 rows
# stay well inside the web worker's 30-second timeout on a busy machine (5,000 took 33 s
# on a loaded two-core test machine). A bigger practice imports several files.
MAX_ROWS = 2000
PREVIEW_SECONDS = 30 * 60
NAME_MAX_LENGTH = Patient._meta.get_field("first_name").max_length
ID_NUMBER_MAX_LENGTH = PatientIdentifier._meta.get_field("number").max_length

REQUIRED_COLUMNS = ("first_name", "last_name", "date_of_birth", "id_type", "id_number")
OPTIONAL_COLUMNS = ("sex", "email", "mobile")
COLUMNS = (*REQUIRED_COLUMNS[:3], "sex", *REQUIRED_COLUMNS[3:], "email", "mobile")
SEX_CODES = {choice.value for choice in Patient.Sex}
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

CREATE = "create"
POSSIBLE_DUPLICATE = "possible_duplicate"  # created, with a warning
DUPLICATE = "duplicate"
ERROR = "error"
CREATED_OUTCOMES = (CREATE, POSSIBLE_DUPLICATE)


class FileRefused(Exception):  # noqa: N818 - the reason a staff member reads
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass
class Row:
    number: int  # the row of the file as a spreadsheet numbers it (the header is 1)
    values: dict[str, str]


@dataclass
class PlannedRow:
    number: int
    typed: dict[str, str]
    outcome: str = CREATE
    reasons: list[str] = field(default_factory=list)
    charts: list[int] = field(default_factory=list)  # existing charts it may duplicate
    # Set when the row is valid: what chart_create receives.
    first_name: str = ""
    last_name: str = ""
    date_of_birth: date | None = None
    sex: str = Patient.Sex.UNKNOWN
    id_type: IdentifierType | None = None
    id_number: str = ""
    email: str = ""
    mobile: str = ""

    @property
    def will_be_created(self) -> bool:
        return self.outcome in CREATED_OUTCOMES


@dataclass
class Plan:
    rows: list[PlannedRow]

    def of(self, *outcomes: str) -> list[PlannedRow]:
        return [row for row in self.rows if row.outcome in outcomes]

    @property
    def to_create(self) -> list[PlannedRow]:
        return self.of(*CREATED_OUTCOMES)

    def counts(self) -> dict[str, int]:
        return {
            "rows": len(self.rows),
            "to_create": len(self.to_create),
            "possible_duplicates": len(self.of(POSSIBLE_DUPLICATE)),
            "duplicates": len(self.of(DUPLICATE)),
            "errors": len(self.of(ERROR)),
        }

    def digest(self) -> str:
        """What the preview promised, row by row: a confirmation whose plan has a different
        digest (the clinic's charts changed meanwhile) shows the new preview instead."""
        text = "\n".join(
            f"{row.number}:{row.outcome}:{','.join(map(str, row.charts))}" for row in self.rows
        )
        return hashlib.sha256(text.encode()).hexdigest()


# --- Reading the file ---------------------------------------------------------------------


def file_digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def upload_digest(upload) -> str:
    """The SHA-256 of an uploaded file, read in chunks (never whole into memory)."""
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    return digest.hexdigest()


def _column(name: str) -> str:
    return re.sub(r"[\s-]+", "_", unicodedata.normalize("NFKC", name).strip().lower())


def read_chart_file(content: bytes) -> list[Row]:
    """The file's data rows (blank lines skipped), or FileRefused with the reason."""
    if len(content) > MAX_BYTES:
        raise FileRefused(
            _("The file is larger than %(size)s MB: split it into smaller files.")
            % {"size": MAX_BYTES // (1024 * 1024)}
        )
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FileRefused(
            _(
                "The file is not in UTF-8. In your spreadsheet, save it as “CSV UTF-8” "
                "and upload it again."
            )
        ) from exc
    if "\x00" in text:
        raise FileRefused(_("The file is not a text (CSV) file."))
    first_line = text.split("\n", 1)[0]
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader, None)
        if not header or not any(cell.strip() for cell in header):
            raise FileRefused(_("The file is empty: its first line must name the columns."))
        columns = [_column(cell) for cell in header]
        unknown = [header[i].strip() for i, c in enumerate(columns) if c not in COLUMNS]
        if unknown:
            raise FileRefused(
                _("Unknown columns: %(columns)s. The columns are: %(expected)s.")
                % {"columns": ", ".join(unknown), "expected": ", ".join(COLUMNS)}
            )
        repeated = sorted({c for c in columns if columns.count(c) > 1})
        if repeated:
            raise FileRefused(
                _("Columns named twice: %(columns)s.") % {"columns": ", ".join(repeated)}
            )
        missing = [c for c in REQUIRED_COLUMNS if c not in columns]
        if missing:
            raise FileRefused(_("Missing columns: %(columns)s.") % {"columns": ", ".join(missing)})
        rows = []
        for number, cells in enumerate(reader, start=2):
            if not any(cell.strip() for cell in cells):
                continue
            if len(rows) == MAX_ROWS:
                raise FileRefused(
                    _("The file has more than %(count)s rows: split it into smaller files.")
                    % {"count": MAX_ROWS}
                )
            values = {c: cells[i] if i < len(cells) else "" for i, c in enumerate(columns)}
            if len(cells) > len(columns):
                values["_extra"] = "yes"
            rows.append(Row(number=number, values=values))
    except csv.Error as exc:
        raise FileRefused(
            _("Line %(line)s cannot be read as CSV (a quote left open?).")
            % {"line": reader.line_num}
        ) from exc
    if not rows:
        raise FileRefused(_("The file has no rows to import, only the column names."))
    return rows


# --- Checking each row --------------------------------------------------------------------


def _clean_name(value: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", value).split())


def _same_person_key(first_name: str, last_name: str, born: date) -> tuple:
    """Names compared the way people read them (case and spacing aside), in Python: the
    database's case folding differs between SQLite and PostgreSQL."""
    return (_clean_name(first_name).casefold(), _clean_name(last_name).casefold(), born)


def _check_row(row: Row, *, clinic: Clinic, id_types: dict[str, IdentifierType], today):
    values = {k: v.strip() for k, v in row.values.items() if k != "_extra"}
    planned = PlannedRow(number=row.number, typed=values)
    errors = planned.reasons
    if "_extra" in row.values:
        errors.append(_("The row has more cells than the file has columns."))
    for name, label in (("first_name", _("First name")), ("last_name", _("Last name"))):
        text = _clean_name(values.get(name, ""))
        if not text:
            errors.append(_("%(field)s is missing.") % {"field": label})
        elif len(text) > NAME_MAX_LENGTH:
            errors.append(
                _("%(field)s is longer than %(count)s characters.")
                % {"field": label, "count": NAME_MAX_LENGTH}
            )
        setattr(planned, name, text)
    born = values.get("date_of_birth", "")
    try:
        if not _ISO_DATE.fullmatch(born):
            raise ValueError
        planned.date_of_birth = date.fromisoformat(born)
    except ValueError:
        if born:
            errors.append(
                _("Date of birth “%(value)s” is not a date written YYYY-MM-DD (1958-03-14).")
                % {"value": born}
            )
        else:
            errors.append(_("%(field)s is missing.") % {"field": _("Date of birth")})
    else:
        if planned.date_of_birth > today:
            errors.append(_("Date of birth is in the future."))
        elif planned.date_of_birth.year < 1900:
            errors.append(_("Date of birth is before 1900."))
    sex = values.get("sex", "").upper() or Patient.Sex.UNKNOWN
    if sex not in SEX_CODES:
        errors.append(
            _("Sex “%(value)s” is not one of F, M, X or U (or empty).") % {"value": values["sex"]}
        )
    planned.sex = sex
    code = values.get("id_type", "")
    planned.id_type = id_types.get(code.lower())
    if not code:
        errors.append(_("%(field)s is missing.") % {"field": _("ID Type")})
    elif planned.id_type is None:
        errors.append(
            _("ID Type “%(value)s” is not one the clinic accepts (%(codes)s).")
            % {"value": code, "codes": ", ".join(id_types) or "—"}
        )
    try:
        planned.id_number = canonical_id_number(values.get("id_number", ""))
    except InvalidIdentifier:
        errors.append(_("ID number: %(error)s") % {"error": ID_NUMBER_ERROR})
    else:
        if not planned.id_number:
            errors.append(_("%(field)s is missing.") % {"field": _("ID number")})
        elif len(planned.id_number) > ID_NUMBER_MAX_LENGTH:
            errors.append(
                _("ID number is longer than %(count)s characters.")
                % {"count": ID_NUMBER_MAX_LENGTH}
            )
    if values.get("email"):
        try:
            planned.email = canonical_email(values["email"])
        except InvalidIdentifier:
            errors.append(_("Email: %(error)s") % {"error": EMAIL_ERROR})
    if values.get("mobile"):
        try:
            planned.mobile = canonical_mobile(values["mobile"], clinic.country)
        except InvalidIdentifier:
            errors.append(
                _("Mobile: %(error)s") % {"error": phone_error(clinic.country, mobile=True)}
            )
    if errors:
        planned.outcome = ERROR
    return planned


def chart_import_plan(*, clinic: Clinic, rows: list[Row]) -> Plan:
    """Each row's outcome; reads only (the clinic's ID types, the IDs and the charts born
    on the file's dates), three queries whatever the number of rows. Writes nothing.

    A row is a duplicate when its ID (type + canonical number) is on a chart of the
    clinic or on another row of the file (every such row: which one is right is for
    staff to say). A row with the same name and date of birth as a chart of the clinic,
    or as another row, is created with a warning: two people may share both."""
    id_types = {
        t.code.lower(): t for t in IdentifierType.objects.for_clinic(clinic).filter(is_active=True)
    }
    today = timezone.localdate(timezone=clinic.tz)
    planned = [_check_row(row, clinic=clinic, id_types=id_types, today=today) for row in rows]
    valid = [p for p in planned if p.outcome != ERROR]

    numbers = {p.id_number for p in valid}
    taken = {}
    for type_id, number, chart_id in (
        PatientIdentifier.objects.for_clinic(clinic)
        .filter(number__in=numbers)
        .values_list("id_type_id", "number", "patient_id")
    ):
        taken[(type_id, number)] = chart_id
    in_file: dict[tuple, list[PlannedRow]] = {}
    for p in valid:
        in_file.setdefault((p.id_type.pk, p.id_number), []).append(p)
    for p in valid:
        key = (p.id_type.pk, p.id_number)
        if key in taken:
            p.outcome = DUPLICATE
            p.charts.append(taken[key])
            p.reasons.append(_("A chart of the clinic already has this ID."))
        others = [o.number for o in in_file[key] if o is not p]
        if others:
            p.outcome = DUPLICATE
            p.reasons.append(
                _("The same ID is on row %(rows)s of this file.")
                % {"rows": ", ".join(map(str, others))}
            )

    creatable = [p for p in valid if p.outcome == CREATE]
    people: dict[tuple, list[int]] = {}
    for chart_id, first, last, born in (
        Patient.objects.for_clinic(clinic)
        .filter(date_of_birth__in={p.date_of_birth for p in creatable})
        .values_list("pk", "first_name", "last_name", "date_of_birth")
    ):
        people.setdefault(_same_person_key(first, last, born), []).append(chart_id)
    same_in_file: dict[tuple, list[int]] = {}
    for p in valid:
        same_in_file.setdefault(
            _same_person_key(p.first_name, p.last_name, p.date_of_birth), []
        ).append(p.number)
    for p in creatable:
        key = _same_person_key(p.first_name, p.last_name, p.date_of_birth)
        if key in people:
            p.outcome = POSSIBLE_DUPLICATE
            p.charts.extend(sorted(people[key]))
            p.reasons.append(
                _("A chart of the clinic has the same name and date of birth (another ID).")
            )
        others = [n for n in same_in_file[key] if n != p.number]
        if others:
            p.outcome = POSSIBLE_DUPLICATE
            p.reasons.append(
                _("Row %(rows)s of this file has the same name and date of birth.")
                % {"rows": ", ".join(map(str, others))}
            )
    return Plan(rows=planned)


# --- The previewed file, kept until it is confirmed ---------------------------------------


def _preview_key(clinic_id: int, user_id: int, digest: str) -> str:
    return f"clinic:{clinic_id}:chart-import:{user_id}:{digest}"


def preview_keep(*, clinic: Clinic, user, content: bytes, plan: Plan) -> str:
    """Keep the previewed bytes (and what the preview promised) for ``PREVIEW_SECONDS``;
    returns the digest the confirmation must name."""
    digest = file_digest(content)
    cache.set(
        _preview_key(clinic.pk, user.pk, digest),
        {"content": content, "plan": plan.digest()},
        PREVIEW_SECONDS,
    )
    return digest


def preview_load(*, clinic: Clinic, user, digest: str) -> tuple[bytes, str] | None:
    """The bytes this staff member previewed under ``digest`` (checked against it) and the
    preview's plan digest; None when there is no such preview (expired, or never made)."""
    if not re.fullmatch(r"[0-9a-f]{64}", digest or ""):
        return None
    kept = cache.get(_preview_key(clinic.pk, user.pk, digest))
    if not kept or file_digest(kept["content"]) != digest:
        return None
    return kept["content"], kept["plan"]


def preview_drop(*, clinic: Clinic, user, digest: str) -> None:
    cache.delete(_preview_key(clinic.pk, user.pk, digest))


def template_csv(*, id_type_code: str) -> str:
    """The file staff download to start from: the columns and one example row."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    example = ["Amara", "Nwosu", "1990-07-04", "F", id_type_code, "1234 567 890"]
    writer.writerow([*example, "amara@example.com", "613 555 0142"])
    return out.getvalue()
