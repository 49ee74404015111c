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
SKIPPED_SUFFIXES = {".pyc", ".pyo", ".sqlite3", ".db", ".sqlite", ".env"}
# Database side files and anything hidden (.env, .git) are never source, wherever they are.
SKIPPED_ENDINGS = ("-journal", "-wal", "-shm")
ARCHIVE_ROOT = "patient-portal"


def source_paths(base: Path) -> list[Path]:
    """The files of the archive, relative to ``base``, sorted; what is absent is skipped
    (the image leaves out tests, benchmarks and CI files)."""
    paths = [
        Path(name)
        for name in SOURCE_FILES
        if (base / name).is_file() and not (base / name).is_symlink()
    ]
    root = base.resolve()
    for folder in SOURCE_FOLDERS:
        top = base / folder
        # A folder that is a link, or leads outside the project, is not the project's.
        if top.is_symlink() or not top.is_dir() or not top.resolve().is_relative_to(root):
            continue
        for path in top.rglob("*"):
            relative = path.relative_to(base)
            if (
                path.is_file()
                and not path.is_symlink()
                and not SKIPPED_PARTS & set(relative.parts)
                and not any(part.startswith(".") for part in relative.parts[1:])
                and path.suffix not in SKIPPED_SUFFIXES
                and not path.name.endswith(SKIPPED_ENDINGS)
                and "\n" not in path.name
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
