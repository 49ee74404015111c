#!/usr/bin/env python3
"""Run the Dockerfile's Python build steps in a clean environment, without Docker.

No Docker engine runs in CI, so this reads the Dockerfile itself and replays what the image
build does with Python: a fresh virtual environment stands in for the base image's Python,
a temporary folder for WORKDIR, the build context is copied as `.dockerignore` filters it,
and every RUN line that runs pip or python is executed with `env -i` (only PATH, HOME,
the Dockerfile's ENV values and the network's proxy and CA settings), so nothing from this
machine's environment, pip configuration or installed packages helps it pass. RUN lines
that change the system (users, ownership) need root and are listed as skipped. Afterwards
the processes the image starts (gunicorn, celery) must be installed and `pip check` pass.

    python3 scripts/check_image_build.py [--keep]     # exit status 0 when the image would build
"""

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NETWORK_VARIABLES = (
    "PIP_CERT",
    "SSL_CERT_FILE",
    "REQUESTS_CA_BUNDLE",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
)
SYSTEM_COMMANDS = ("groupadd", "useradd", "chown", "apt-get", "mkdir")


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments), continuation lines joined and comment lines dropped (as
    Docker drops them, even inside a continued instruction)."""
    found, current = [], ""
    for raw in dockerfile.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        keyword, _, arguments = current.partition(" ")
        found.append((keyword.upper(), arguments.strip()))
        current = ""
    if current:
        raise SystemExit("Dockerfile ends inside a continued instruction")
    return found


def ignore_patterns(dockerignore: Path) -> list[re.Pattern]:
    """.dockerignore patterns as regular expressions over context-relative paths."""
    patterns = []
    for raw in dockerignore.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("!"):
            raise SystemExit(f".dockerignore exception {line!r} is not supported here")
        line = line.strip("/")
        regex = ""
        index = 0
        while index < len(line):
            if line.startswith("**/", index):
                regex += "(?:.*/)?"
                index += 3
            elif line.startswith("**", index):
                regex += ".*"
                index += 2
            elif line[index] == "*":
                regex += "[^/]*"
                index += 1
            elif line[index] == "?":
                regex += "[^/]"
                index += 1
            else:
                regex += re.escape(line[index])
                index += 1
        # A pattern that names a folder excludes everything under it.
        patterns.append(re.compile(f"^{regex}(?:/.*)?$"))
    return patterns


def build_context(destination: Path) -> int:
    """Copy the build context (the repository minus .dockerignore) to ``destination``."""
    patterns = ignore_patterns(ROOT / ".dockerignore")
    copied = 0
    for folder, dirs, files in os.walk(ROOT):
        relative_folder = Path(folder).relative_to(ROOT)
        kept = []
        for name in dirs:
            relative = (relative_folder / name).as_posix()
            if not any(p.match(relative) for p in patterns):
                kept.append(name)
        dirs[:] = kept
        for name in files:
            relative = (relative_folder / name).as_posix()
            if any(p.match(relative) for p in patterns):
                continue
            target = destination / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / relative, target)
            copied += 1
    return copied


def copy(arguments: str, context: Path, workdir: Path) -> None:
    *sources, destination = shlex.split(arguments)
    if any(source.startswith("--") for source in sources):
        raise SystemExit(f"COPY flags are not supported here: {arguments}")
    target = workdir / destination if not destination.startswith("/") else None
    if target is None:
        raise SystemExit(f"COPY to an absolute path is not supported here: {arguments}")
    for source in sources:
        path = context / source
        if path.is_dir():
            shutil.copytree(path, target, dirs_exist_ok=True)
        elif path.exists():
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target / Path(source).name)
        else:
            raise SystemExit(f"COPY {source}: not in the build context (.dockerignore?)")


def run(command: str, *, env: dict, cwd: Path) -> None:
    assignments = [f"{name}={value}" for name, value in env.items()]
    started = time.monotonic()
    result = subprocess.run(
        ["env", "-i", *assignments, "/bin/sh", "-c", command], cwd=cwd, check=False
    )
    print(f"    ({time.monotonic() - started:.0f}s, exit {result.returncode})", flush=True)
    if result.returncode != 0:
        raise SystemExit(f"RUN failed: {command}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    options = parser.parse_args()
    started = time.monotonic()
    steps = instructions(ROOT / "Dockerfile")
    base = steps[0][1] if steps and steps[0][0] == "FROM" else ""
    version = re.fullmatch(r"python:(\d+\.\d+)(?:[.-].*)?", base)
    if not version:
        raise SystemExit(f"the image must start FROM python:<version>, not {base!r}")
    python = shutil.which(f"python{version[1]}")
    if python is None:
        raise SystemExit(f"python{version[1]} (the image's Python) is not installed here")

    temp = Path(tempfile.mkdtemp(prefix="check-image-build-"))
    try:
        context, home, venv = temp / "context", temp / "home", temp / "python"
        home.mkdir()
        print(f"build context: {build_context(context)} files", flush=True)
        # The base image's Python: a fresh venv with nothing but pip.
        subprocess.run(["env", "-i", f"HOME={home}", python, "-m", "venv", str(venv)], check=True)
        env = {
            "PATH": f"{venv / 'bin'}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(home),
            # No pip configuration of this machine (local indexes, wheel folders).
            "PIP_CONFIG_FILE": os.devnull,
        }
        # How this machine reaches PyPI (a proxy, the CA that proxy presents) is the
        # network's business, not the project's: passed through when set.
        env.update({name: os.environ[name] for name in NETWORK_VARIABLES if name in os.environ})
        image_workdir, workdir = "/", temp / "root"
        for keyword, arguments in steps[1:]:
            if keyword == "ENV":
                for pair in shlex.split(arguments):
                    name, _, value = pair.partition("=")
                    if value.startswith(image_workdir) and image_workdir != "/":
                        value = str(workdir) + value[len(image_workdir) :]
                    env[name] = value
            elif keyword == "WORKDIR":
                image_workdir = arguments
                workdir = temp / arguments.strip("/")
                workdir.mkdir(parents=True, exist_ok=True)
                env = {
                    name: (str(workdir) if value == image_workdir else value)
                    for name, value in env.items()
                }
            elif keyword == "COPY":
                copy(arguments, context, workdir)
            elif keyword == "RUN":
                words = set(re.findall(r"[\w.-]+", arguments))
                if words & set(SYSTEM_COMMANDS):
                    print(f"skip (needs root): RUN {arguments[:70]}…", flush=True)
                    continue
                print(f"RUN {arguments}", flush=True)
                run(arguments, env=env, cwd=workdir)
        print("installed processes and dependency consistency", flush=True)
        for program in ("gunicorn", "celery"):
            if not (venv / "bin" / program).exists():
                raise SystemExit(f"the image would have no {program}")
        run("pip check", env=env, cwd=workdir)
        print(f"the image's Python build steps pass ({time.monotonic() - started:.0f}s)")
        return 0
    finally:
        if options.keep:
            print(f"kept {temp}")
        else:
            shutil.rmtree(temp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
