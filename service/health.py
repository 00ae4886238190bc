"""Is this process ready to serve: the database reachable and at the schema this code needs."""

from __future__ import annotations

from service.settings import Settings
from storage.db import DatabaseNotReady, DatabaseUnreachable, DatabaseURLError, check_database


def database_problems(settings: Settings) -> list[str]:
    """One line per reason the database cannot be used (none when it can)."""
    try:
        check_database(settings.database_url)
    except (DatabaseNotReady, DatabaseUnreachable, DatabaseURLError) as exc:
        return [str(exc)]
    return []
