"""Whether a Prefect API is there to run flows against, found without importing Prefect (which costs seconds).

In order: ``PREFECT_API_URL`` in the environment; the ``dripline serve`` running for the same
database (it leaves a marker naming its API and process id); the active Prefect profile's
``PREFECT_API_URL``. None: one-off commands run the service code in-process and start no server.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import tomllib
from pathlib import Path


def _marker(database_url: str) -> Path:
    digest = hashlib.sha256(database_url.encode()).hexdigest()[:16]
    folder = Path(os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir())
    return folder / f"dripline-serve-{os.getuid() if hasattr(os, 'getuid') else 0}-{digest}.json"


def announce_serve(database_url: str, api_url: str) -> Path:
    """Tell later commands on this machine that ``dripline serve`` runs the flows of ``database_url``."""
    path = _marker(database_url)
    path.write_text(json.dumps({"api_url": api_url, "pid": os.getpid()}))
    return path


def withdraw_serve(database_url: str) -> None:
    _marker(database_url).unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _served(database_url: str) -> str | None:
    path = _marker(database_url)
    try:
        marker = json.loads(path.read_text())
        return str(marker["api_url"]) if _alive(int(marker["pid"])) else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _profile() -> str | None:
    home = Path(os.environ.get("PREFECT_HOME") or Path.home() / ".prefect")
    try:
        profiles = tomllib.loads((home / "profiles.toml").read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return None
    active = os.environ.get("PREFECT_PROFILE") or profiles.get("active")
    value = profiles.get("profiles", {}).get(active, {}).get("PREFECT_API_URL")
    return str(value) if value else None


def api_url(database_url: str) -> str | None:
    """The Prefect API this process should report to, or None."""
    return os.environ.get("PREFECT_API_URL") or _served(database_url) or _profile()
