"""AGPL-3.0 §13: every page offers the running portal's source; the LICENSE is the full text."""

import io
import tarfile
from pathlib import Path

import pytest

from portal.site.source import source_archive
from tests.clients import host_client, staff_client

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.django_db


@pytest.fixture
def fresh_archive():
    source_archive.cache_clear()
    yield
    source_archive.cache_clear()


def _archive_names(content: bytes) -> set[str]:
    with tarfile.open(fileobj=io.BytesIO(content), mode="r:gz") as archive:
        return set(archive.getnames())


def test_the_license_is_the_full_agpl_3_text():
    text = (ROOT / "LICENSE").read_text()
    assert text.lstrip().startswith("GNU AFFERO GENERAL PUBLIC LICENSE")
    assert "Version 3, 19 November 2007" in text
    assert "13. Remote Network Interaction; Use with the GNU General Public License." in text
    assert "END OF TERMS AND CONDITIONS" in text
    assert len(text.splitlines()) == 661


def test_every_portal_page_links_to_the_source_code(clinic):
    page = host_client("demo").get("/portal/").content.decode()
    assert '<a href="/source.tar.gz">Source code</a>' in page


def test_the_link_is_translated(clinic):
    page = host_client("demo").get("/portal/", HTTP_ACCEPT_LANGUAGE="fr-CA,fr;q=0.9")
    assert '<a href="/source.tar.gz">Code source</a>' in page.content.decode()


def test_the_link_goes_where_the_operator_publishes_the_source(clinic, settings):
    settings.PORTAL_SOURCE_URL = "https://git.example.org/clinics/portal"
    page = host_client("demo").get("/portal/").content.decode()
    assert '<a href="https://git.example.org/clinics/portal">Source code</a>' in page


def test_the_landing_page_and_the_admin_link_to_it_too(clinic, clinic_admin):
    assert b'href="/source.tar.gz"' in host_client("localhost").get("/").content
    admin_page = staff_client(clinic_admin).get("/admin/")
    assert admin_page.status_code == 200
    assert b'<a href="/source.tar.gz">Source code</a>' in admin_page.content


@pytest.mark.parametrize("host", ["demo", "localhost"])
def test_the_archive_holds_the_running_code(clinic, host, fresh_archive):
    response = host_client(host).get("/source.tar.gz")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/gzip"
    assert "attachment" in response["Content-Disposition"]
    names = _archive_names(response.content)
    for name in ("LICENSE", "pyproject.toml", "requirements.lock", "portal/site/source.py"):
        assert f"patient-portal/{name}" in names
    assert "patient-portal/templates/base.html" in names


def test_the_archive_leaves_out_secrets_data_and_uploads(settings, tmp_path, fresh_archive):
    for name in (
        "LICENSE",
        "portal/settings/__init__.py",
        ".env",
        "db.sqlite3",
        "media/logo.png",
        "attachments/1/scan.pdf",
        "staticfiles/css/portal.css",
        "portal/__pycache__/urls.cpython-311.pyc",
        "test-artifacts/page.png",
        # Inside the source folders too: hidden files, databases and their side files.
        "portal/.env",
        "portal/.git/config",
        "portal/data.db",
        "portal/db.sqlite3-journal",
        "static/.secret/key.txt",
    ):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    settings.BASE_DIR = tmp_path
    assert _archive_names(source_archive()) == {
        "patient-portal/LICENSE",
        "patient-portal/portal/settings/__init__.py",
    }
