#!/usr/bin/env python3
"""Set up the environment from the pinned lock file, then run a project command.

    python3 scripts/dev.py demo      # the whole job on a fresh SQLite database
    python3 scripts/dev.py test      # the test suite (PostgreSQL too when DRIPLINE_TEST_DATABASE_URL is set)
    python3 scripts/dev.py bench     # the benchmarks (python -m bench --help; README "Benchmark")
    python3 scripts/dev.py lint      # ruff and mypy
    python3 scripts/dev.py lock      # re-resolve requirements.lock from pyproject.toml

Needs only Python 3.11+. The virtual environment lives in .venv and is rebuilt
when requirements.lock or pyproject.toml changes.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"
STAMP = VENV / ".dripline-installed"


def _digest() -> str:
    h = hashlib.sha256()
    for name in ("requirements.lock", "pyproject.toml"):
        h.update((ROOT / name).read_bytes())
    return h.hexdigest()


def ensure_env() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036  (this script may be started by an older python3)
        sys.exit(f"dripline needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    if STAMP.exists() and STAMP.read_text() == _digest() and PY.exists():
        return
    if not PY.exists():
        print("creating .venv ...", flush=True)
        venv.create(VENV, with_pip=True)
    print("installing pinned dependencies from requirements.lock (first run takes a minute or two) ...", flush=True)
    pip = [str(PY), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "-c", "requirements.lock", "-r", "requirements.lock"], cwd=ROOT, check=True)
    subprocess.run([*pip, "--no-deps", "-e", "."], cwd=ROOT, check=True)
    STAMP.write_text(_digest())


def run(*cmd: str) -> int:
    return subprocess.run(cmd, cwd=ROOT).returncode


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    command, rest = argv[0], argv[1:]
    if command == "lock":
        ensure_env()
        run(str(PY), "-m", "pip", "install", "--quiet", "uv")
        return run(
            str(BIN / "uv"),
            "pip",
            "compile",
            "pyproject.toml",
            "--extra",
            "dev",
            "--python-version",
            "3.11",
            "--no-annotate",
            "--no-header",
            "-o",
            "requirements.lock",
        )
    ensure_env()
    if command == "demo":
        return run(str(BIN / "dripline"), "demo", *rest)
    if command == "test":
        return run(str(PY), "-m", "pytest", *rest)
    if command == "bench":
        return run(str(PY), "-m", "bench", *rest)
    if command == "lint":
        return (
            run(str(PY), "-m", "ruff", "check", ".")
            or run(str(PY), "-m", "ruff", "format", "--check", ".")
            or run(str(PY), "-m", "mypy", "nurture", "storage", "channels", "service", "dripline", "flows", "web")
        )
    if command == "dripline":
        return run(str(BIN / "dripline"), *rest)
    print(f"unknown command {command!r}\n{__doc__}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
