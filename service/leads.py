"""Lead import as a use case: the file's rows into storage (bad rows to a rejects file), then enrollment."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from service.pipeline import Pipeline, enroll
from service.steps import Runner, inline
from storage.importer import import_leads


def _import(p: Pipeline, path: Path, now: datetime, progress: Callable[[int, int], None] | None) -> dict[str, Any]:
    summary = import_leads(engine=p.engine, path=path, now=now, progress=progress)
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(summary).items()}


def import_file(
    p: Pipeline,
    *,
    path: Path,
    now: datetime,
    run: Runner = inline,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Import a purchased lead file and enroll its new leads in the current cadence.

    Not retried as a whole: a re-run is harmless (the same file changes nothing) but a person should see why
    the first one failed.
    """
    summary = run("import-lead-file", _import, p, path, now, progress)
    size = p.settings.batch_size
    summary["enrolled"] = run("enroll-new-leads", enroll, p, now=now, batch_size=size, retry=True)
    return summary
