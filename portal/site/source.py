"""The Corresponding Source of the running portal (AGPL-3.0 §13), as a tar.gz archive.

Every page links to ``PORTAL_SOURCE_URL``. By default that is this archive, built from the
files of the running code itself, so a deployment that changed the code offers its own
changes. Only the project's code, templates, static files, translations and build files go
in (an allow-list): never .env, the database, uploads or message attachments.
"""

import io
import tarfile
from functools import cache
from pathlib import Path

from django.conf import settings

SOURCE_FOLDERS = (
    "portal",
    "clinics",
    "patients",
    "invitations",
    "appointments",
    "messaging",
    "templates",
    "static",
    "locale",
    "tests",
    "bench",
    "scripts",
    ".ci",
)
SOURCE_FILES = (
    "LICENSE",
    "README.md",
    "pyproject.toml",
    "requirements.lock",
    "manage.py",
    "Makefile",
    "Dockerfile",
    ".dockerignore",
    "docker-compose.yml",
    "docker-compose.dev.yml",
    ".env.example",
    "package.json",
    "package-lock.json",
)
SKIPPED_PARTS = {"__pycache__", ".pytest_cache", ".ruff_cache"}
SKIPPED_SUFFIXES = {".pyc", ".pyo", ".sqlite3"}
ARCHIVE_ROOT = "patient-portal"


def source_paths(base: Path) -> list[Path]:
    """The files of the archive, relative to ``base``, sorted; what is absent is skipped
    (the image leaves out tests, benchmarks and CI files)."""
    paths = [Path(name) for name in SOURCE_FILES if (base / name).is_file()]
    for folder in SOURCE_FOLDERS:
        for path in (base / folder).rglob("*"):
            relative = path.relative_to(base)
            if (
                path.is_file()
                and not path.is_symlink()
                and not SKIPPED_PARTS & set(relative.parts)
                and path.suffix not in SKIPPED_SUFFIXES
            ):
                paths.append(relative)
    return sorted(paths)


@cache
def source_archive() -> bytes:
    """The archive, built once per process (the running code does not change)."""
    base = Path(settings.BASE_DIR)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for relative in source_paths(base):
            info = archive.gettarinfo(base / relative, arcname=f"{ARCHIVE_ROOT}/{relative}")
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            with open(base / relative, "rb") as handle:
                archive.addfile(info, handle)
    return buffer.getvalue()
