"""Import charts (CSV) from the patient list of the clinic admin: the file's bounds, each
row's outcome in the preview (which writes nothing), duplicates in the clinic and in the
file, canonical values stored, who may import, a confirmation bound to the previewed file,
the audit event, the import's query count, and two imports of one ID at once."""

import datetime as dt
import threading

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, connections

from patients import chart_import, services
from patients.models import Patient, PatientIdentifier
from portal.audit.models import AuditEvent
from tests.clients import portal_client, staff_client
from tests.factories import (
    ClinicAdminFactory,
    PatientFactory,
    PatientIdentifierFactory,
)
from tests.invitations.flows import flash

pytestmark = pytest.mark.django_db

IMPORT = "/admin/patients/patient/import/"
TEMPLATE = "/admin/patients/patient/import/template.csv"
LIST = "/admin/patients/patient/"
HEADER = "first_name,last_name,date_of_birth,sex,id_type,id_number,email,mobile"
AMARA = "Amara,Nwosu,1990-07-04,F,health-card,1234 567 890,Amara@Example.COM,613 555 0142"
JONAS = "Jonas,Lévesque,1975-01-31,m,health-card,2345-678-901,,"


def csv_file(*lines, header=HEADER, name="charts.csv", encoding="utf-8"):
    text = "\r\n".join([header, *lines]) + "\r\n"
    return SimpleUploadedFile(name, text.encode(encoding), content_type="text/csv")


def preview(client, upload):
    return client.post(IMPORT, {"file": upload})


def digest_of(response) -> str:
    return response.context["confirm_form"].initial["digest"]


def plan_of(clinic, *lines, header=HEADER):
    rows = chart_import.read_chart_file(("\n".join([header, *lines]) + "\n").encode())
    return chart_import.chart_import_plan(clinic=clinic, rows=rows)


def written():
    return (
        Patient.objects.count(),
        PatientIdentifier.objects.count(),
        Patient.history.count(),
        AuditEvent.objects.count(),
    )


@pytest.fixture
def admin_client(clinic_admin):
    return staff_client(clinic_admin)


# --- The page and who may use it ---------------------------------------------------------


def test_the_patient_list_offers_the_import_to_clinic_admins(admin_client):
    page = admin_client.get(LIST).content.decode()
    assert IMPORT in page and "Import charts (CSV)" in page


def test_the_front_desk_sees_no_import_and_is_refused_it(clinic, front_desk):
    client = staff_client(front_desk)
    assert IMPORT not in client.get(LIST).content.decode()
    before = written()
    assert client.get(IMPORT).status_code == 403
    assert client.get(TEMPLATE).status_code == 403
    assert preview(client, csv_file(AMARA)).status_code == 403
    assert client.post(IMPORT, {"digest": "0" * 64}).status_code == 403
    assert written() == before


def test_another_clinics_admin_and_a_patient_are_sent_to_sign_in(clinic, outsider_staff, alice):
    before = written()
    for client in (staff_client(outsider_staff, host="demo"), portal_client(alice)):
        for answer in (client.get(IMPORT), preview(client, csv_file(AMARA))):
            assert answer.status_code == 302
            assert "/admin/login/" in answer["Location"]
    assert written() == before


def test_the_page_documents_the_columns_and_the_clinics_id_types(admin_client):
    page = admin_client.get(IMPORT).content.decode()
    for column in chart_import.COLUMNS:
        assert f"<code>{column}</code>" in page
    assert "<code>health-card</code>" in page
    assert "5 MB" in page and "2000 rows" in page
    assert "if one of them cannot be created" not in page  # said with the preview


def test_the_template_is_a_csv_the_import_reads(clinic, admin_client):
    answer = admin_client.get(TEMPLATE)
    assert answer["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in answer["Content-Disposition"]
    rows = chart_import.read_chart_file(answer.content)
    plan = chart_import.chart_import_plan(clinic=clinic, rows=rows)
    assert [row.outcome for row in plan.rows] == [chart_import.CREATE]


def test_the_page_and_the_preview_are_in_french(admin_client):
    admin_client.cookies["django_language"] = "fr"
    page = admin_client.get(IMPORT).content.decode()
    assert "Importer des dossiers (CSV)" in page
    assert "Télécharger le modèle (CSV)" in page
    page = preview(admin_client, csv_file(AMARA, "Sam,,1990-07-04,,health-card,1,,"))
    page = page.content.decode()
    assert "Aperçu : rien n'a encore été importé" in page
    assert "Champ manquant : Nom de famille." in page
    assert "Importer 1 dossier" in page


# --- The preview -------------------------------------------------------------------------


def test_a_preview_shows_each_row_and_writes_nothing(clinic, admin_client):
    before = written()
    answer = preview(admin_client, csv_file(AMARA, JONAS, "Sam,Roy,14/03/1958,,health-card,3,,"))
    assert answer.status_code == 200
    assert written() == before
    page = answer.content.decode()
    assert page.count("<strong>Will be created</strong>") == 2
    assert "Error: left out" in page
    assert "Import 2 charts" in page
    assert answer.context["counts"] == {
        "rows": 3,
        "to_create": 2,
        "possible_duplicates": 0,
        "duplicates": 0,
        "errors": 1,
    }


def test_a_semicolon_file_with_a_byte_order_mark_is_read(clinic, admin_client):
    line = AMARA.replace(",", ";")
    upload = csv_file(line, header=HEADER.replace(",", ";"), encoding="utf-8-sig")
    answer = preview(admin_client, upload)
    assert answer.context["counts"]["to_create"] == 1


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "The submitted file is empty"),
        (b"\n", "The file is empty"),
        (f"{HEADER}\n".encode(), "no rows to import"),
        (
            f"{HEADER},favourite_colour\n{AMARA},blue\n".encode(),
            "Unknown columns: favourite_colour",
        ),
        (b"first_name,last_name,date_of_birth\nA,B,1990-01-01\n", "Missing columns: id_type"),
        (f"{HEADER},email\n".encode(), "Columns named twice: email"),
        (f"{HEADER}\n{JONAS}".encode("latin-1"), "not in UTF-8"),
        (f'{HEADER}\n"Amara,Nwosu\n'.encode(), "cannot be read as CSV"),
    ],
)
def test_a_file_that_cannot_be_read_is_refused_with_the_reason(admin_client, content, reason):
    before = written()
    answer = preview(admin_client, SimpleUploadedFile("charts.csv", content))
    assert answer.status_code == 200
    assert reason in answer.content.decode()
    assert "confirm_form" not in answer.context
    assert written() == before


def test_a_file_over_the_row_limit_is_refused(clinic, admin_client, monkeypatch):
    monkeypatch.setattr(chart_import, "MAX_ROWS", 3)
    lines = [f"A{i},B,1990-01-01,,health-card,{i}00,," for i in range(4)]
    page = preview(admin_client, csv_file(*lines)).content.decode()
    assert "more than 3 rows" in page
    assert len(chart_import.read_chart_file(f"{HEADER}\n{lines[0]}\n{lines[1]}\n".encode())) == 2


def test_a_file_over_the_size_limit_is_refused(clinic, admin_client, monkeypatch):
    monkeypatch.setattr(chart_import, "MAX_BYTES", 100)
    page = preview(admin_client, csv_file(AMARA, JONAS)).content.decode()
    assert "larger than" in page
    assert Patient.objects.count() == 0


LOOK_ALIKE_EMAIL = "amara@gm\u0430il.com"  # a Cyrillic а


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (
            "Amara,Nwosu,14/03/1958,F,health-card,1,,",
            "Date of birth “14/03/1958” is not a date written YYYY-MM-DD",
        ),
        ("Amara,Nwosu,1958-02-30,F,health-card,1,,", "is not a date written YYYY-MM-DD"),
        ("Amara,Nwosu,2090-01-01,F,health-card,1,,", "Date of birth is in the future."),
        ("Amara,Nwosu,1958-03-14,F,ssn,1,,", "ID Type “ssn” is not one the clinic accepts"),
        ("Amara,Nwosu,1958-03-14,F,,1,,", "ID Type is missing."),
        ("Amara,Nwosu,1958-03-14,F,health-card,,,", "ID number is missing."),
        ("Amara,Nwosu,1958-03-14,F,health-card,12\u00e9,,", "ID number: Enter the number"),
        ("Amara,Nwosu,1958-03-14,F,health-card,1,not-an-email,", "Email: Enter an email"),
        (f"Amara,Nwosu,1958-03-14,F,health-card,1,{LOOK_ALIKE_EMAIL},", "Email: Enter an email"),
        (f"Amara,Nwosu,1958-03-14,F,health-card,1,{'a' * 250}@example.com,", "Email: Enter an"),
        ("Amara,Nwosu,1958-03-14,F,health-card,1,,555 01", "Mobile: Enter a mobile number"),
        (",Nwosu,1958-03-14,F,health-card,1,,", "First name is missing."),
        ("Amara,  ,1958-03-14,F,health-card,1,,", "Last name is missing."),
        ("Amara,Nwosu,1958-03-14,Q,health-card,1,,", "Sex “Q” is not one of F, M, X or U"),
        ("Amara,Nwosu,1958-03-14,F,health-card,1,,,extra", "more cells than the file has columns"),
    ],
)
def test_each_rows_errors_are_named_in_plain_words(clinic, line, reason):
    (row,) = plan_of(clinic, line).rows
    assert row.outcome == chart_import.ERROR
    assert any(reason in text for text in row.reasons), row.reasons


def test_a_row_with_several_errors_lists_them_all_on_the_page(clinic, admin_client):
    page = preview(admin_client, csv_file(",,someday,,ssn,,bad,")).content.decode()
    for reason in ("First name is missing.", "Last name is missing.", "not a date", "ssn"):
        assert reason in page


# --- Duplicates --------------------------------------------------------------------------


def test_an_id_already_on_a_chart_of_the_clinic_is_a_duplicate_whatever_its_spelling(clinic):
    existing = PatientIdentifierFactory(
        patient=PatientFactory(clinic=clinic), number="1234567890"
    ).patient
    (row,) = plan_of(clinic, AMARA).rows  # "1234 567 890"
    assert row.outcome == chart_import.DUPLICATE
    assert row.charts == [existing.pk]
    assert "A chart of the clinic already has this ID." in row.reasons


def test_the_same_id_twice_in_the_file_leaves_both_rows_out(clinic):
    twin = "Ama,Nwosu,1990-07-04,F,health-card,1234567890,,"
    first, second = plan_of(clinic, AMARA, twin).rows
    assert first.outcome == second.outcome == chart_import.DUPLICATE
    assert "The same ID is on row 3 of this file." in first.reasons
    assert "The same ID is on row 2 of this file." in second.reasons


def test_another_clinics_identical_id_is_not_a_duplicate(clinic, other_clinic):
    PatientIdentifierFactory(patient=PatientFactory(clinic=other_clinic), number="1234567890")
    PatientFactory(
        clinic=other_clinic,
        first_name="Amara",
        last_name="Nwosu",
        date_of_birth=dt.date(1990, 7, 4),
    )
    (row,) = plan_of(clinic, AMARA).rows
    assert row.outcome == chart_import.CREATE and row.reasons == []


def test_the_same_name_and_birth_date_is_created_with_a_warning(clinic, admin_client):
    namesake = PatientFactory(
        clinic=clinic, first_name="AMARA", last_name="nwosu ", date_of_birth=dt.date(1990, 7, 4)
    )
    PatientIdentifierFactory(patient=namesake, number="999")
    answer = preview(admin_client, csv_file(AMARA, JONAS, "Jonas,LÉVESQUE,1975-01-31,,mrn,77,,"))
    amara, jonas, jonas_again = answer.context["plan"].rows
    assert amara.outcome == chart_import.POSSIBLE_DUPLICATE
    assert amara.charts == [namesake.pk]
    assert jonas.outcome == jonas_again.outcome == chart_import.POSSIBLE_DUPLICATE
    assert "Row 4 of this file has the same name and date of birth." in jonas.reasons
    assert f"/admin/patients/patient/{namesake.pk}/change/" in answer.content.decode()
    answer = admin_client.post(IMPORT, {"digest": digest_of(answer)})
    assert answer.status_code == 302
    assert Patient.objects.filter(first_name="Amara").count() == 1  # the imported one
    assert Patient.objects.count() == 4


# --- Confirming --------------------------------------------------------------------------


def test_confirming_creates_the_valid_rows_with_canonical_values(clinic, admin_client):
    answer = preview(admin_client, csv_file(AMARA, JONAS, "Sam,Roy,1990-13-01,,health-card,5,,"))
    answer = admin_client.post(IMPORT, {"digest": digest_of(answer)})
    assert answer.status_code == 302 and answer["Location"] == LIST
    assert any("2 charts imported" in text for text in flash(answer))
    amara = Patient.objects.get(first_name="Amara")
    assert (amara.clinic, amara.last_name, amara.date_of_birth) == (
        clinic,
        "Nwosu",
        dt.date(1990, 7, 4),
    )
    assert (amara.sex, amara.email, str(amara.mobile)) == ("F", "amara@example.com", "+16135550142")
    assert amara.identifiers.get().number == "1234567890"
    jonas = Patient.objects.get(first_name="Jonas")
    assert (jonas.sex, jonas.email, jonas.mobile) == ("M", "", "")
    assert jonas.identifiers.get().number == "2345678901"
    assert not Patient.objects.filter(last_name="Roy").exists()


def test_the_import_is_audited_with_counts_and_no_health_information(
    clinic, clinic_admin, admin_client
):
    answer = preview(admin_client, csv_file(AMARA, JONAS, "Sam,Roy,1990-13-01,,health-card,5,,"))
    admin_client.post(IMPORT, {"digest": digest_of(answer)})
    event = AuditEvent.objects.get(action="patient.imported")
    assert (event.clinic, event.actor) == (clinic, clinic_admin)
    assert event.details == {
        "rows": 3,
        "created": 2,
        "possible_duplicates": 0,
        "duplicates_left_out": 0,
        "errors_left_out": 1,
    }
    assert "Amara" not in str(event.details) and "1990" not in str(event.details)


def test_a_confirmation_for_a_file_never_previewed_is_refused(clinic, admin_client):
    preview(admin_client, csv_file(AMARA))
    other = chart_import.file_digest(f"{HEADER}\r\n{JONAS}\r\n".encode())
    before = written()
    answer = admin_client.post(IMPORT, {"digest": other})
    assert answer.status_code == 400
    assert "this is not a file you previewed" in answer.content.decode()
    answer = admin_client.post(IMPORT, {"digest": "not a digest"})
    assert answer.status_code == 400
    assert written() == before


def test_a_confirmation_sent_with_another_file_is_refused(clinic, admin_client):
    answer = preview(admin_client, csv_file(AMARA))
    before = written()
    forged = admin_client.post(IMPORT, {"digest": digest_of(answer), "file": csv_file(JONAS)})
    assert forged.status_code == 400
    assert written() == before
    same = admin_client.post(IMPORT, {"digest": digest_of(answer), "file": csv_file(AMARA)})
    assert same.status_code == 302
    assert list(Patient.objects.values_list("first_name", flat=True)) == ["Amara"]


def test_a_colleague_cannot_confirm_someone_elses_preview(clinic, admin_client):
    answer = preview(admin_client, csv_file(AMARA))
    colleague = staff_client(ClinicAdminFactory(clinic=clinic, username="colleague"))
    assert colleague.post(IMPORT, {"digest": digest_of(answer)}).status_code == 400
    assert Patient.objects.count() == 0


def test_a_preview_is_used_once(clinic, admin_client):
    digest = digest_of(preview(admin_client, csv_file(AMARA)))
    assert admin_client.post(IMPORT, {"digest": digest}).status_code == 302
    assert admin_client.post(IMPORT, {"digest": digest}).status_code == 400
    assert Patient.objects.count() == 1


def test_charts_changed_since_the_preview_show_the_new_preview_and_import_nothing(
    clinic, admin_client
):
    digest = digest_of(preview(admin_client, csv_file(AMARA, JONAS)))
    PatientIdentifierFactory(patient=PatientFactory(clinic=clinic), number="2345678901")
    before = written()
    answer = admin_client.post(IMPORT, {"digest": digest})
    assert answer.status_code == 200
    assert "charts changed since the preview" in answer.content.decode()
    assert written() == before
    assert answer.context["counts"]["to_create"] == 1
    assert admin_client.post(IMPORT, {"digest": digest}).status_code == 302
    assert Patient.objects.filter(first_name="Amara").count() == 1


def test_an_id_taken_during_the_import_leaves_nothing_written(clinic, clinic_admin):
    plan = plan_of(clinic, AMARA, JONAS)
    PatientIdentifierFactory(patient=PatientFactory(clinic=clinic), number="2345678901")
    before = written()
    with pytest.raises(services.ImportRaced) as raced:
        services.charts_import(clinic=clinic, plan=plan, imported_by=clinic_admin)
    assert raced.value.row_number == 3
    assert written() == before


def test_the_import_runs_a_fixed_number_of_queries_per_chart(
    clinic, clinic_admin, django_assert_num_queries
):
    lines = [f"First{i},Last{i},1980-01-{i % 28 + 1:02d},,health-card,77{i:05d},,"
             for i in range(100)]  # fmt: skip
    rows = chart_import.read_chart_file(("\n".join([HEADER, *lines]) + "\n").encode())
    with django_assert_num_queries(3):  # ID types, IDs, charts born those days
        plan = chart_import.chart_import_plan(clinic=clinic, rows=rows)
    # Per chart: a savepoint, the chart and its ID each with their history row, the
    # savepoint released; then the audit event, in the import's own transaction (here a
    # savepoint of the test's, begun and released).
    with django_assert_num_queries(100 * 6 + 1 + 2):
        assert services.charts_import(clinic=clinic, plan=plan, imported_by=clinic_admin) == 100


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_imports_of_the_same_id_at_once_make_one_chart(clinic, clinic_admin):
    if connection.vendor != "postgresql":
        pytest.skip("needs concurrent writers on one table; this run uses " + connection.vendor)
    # Both previews were made before either import: each plan says "will be created".
    plans = [plan_of(clinic, AMARA), plan_of(clinic, AMARA.replace("Amara,", "Ama,"))]
    barrier = threading.Barrier(2)
    outcomes, errors = [], []

    def run(plan):
        try:
            connection.ensure_connection()
            barrier.wait(timeout=20)
            services.charts_import(clinic=clinic, plan=plan, imported_by=clinic_admin)
            outcomes.append("imported")
        except services.ImportRaced:
            outcomes.append("raced")
        except Exception as exc:  # noqa: BLE001 - any other error is the failure we look for
            errors.append(repr(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(plan,)) for plan in plans]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert sorted(outcomes) == ["imported", "raced"]
    assert PatientIdentifier.objects.filter(clinic=clinic, number="1234567890").count() == 1
    assert Patient.objects.filter(clinic=clinic).count() == 1
    assert AuditEvent.objects.filter(action="patient.imported").count() == 1
