"""DNC re-scrub as use cases: which numbers are due (and their export for the scrub vendor), and a scrub result
imported, which releases or blocks what waited on it. The file formats are in ``docs/dnc-scrub.md``."""

from __future__ import annotations

import csv
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from nurture.dnc_scrub import ScrubFileError, parse_scrub
from service.pipeline import Pipeline
from storage.dnc import DueNumber, apply_scrub, due_numbers

DUE_COLUMNS = ("number", "leads", "touches", "call_tasks", "last_scrubbed_on", "held_since")


def due(p: Pipeline) -> list[DueNumber]:
    """The numbers whose texts, voicemails or call tasks are held for a DNC scrub, most items first."""
    return due_numbers(engine=p.engine)


def due_row(d: DueNumber) -> dict[str, Any]:
    return {
        "number": d.number,
        "leads": d.leads,
        "touches": d.touches,
        "call_tasks": d.tasks,
        "last_scrubbed_on": d.scrubbed_on.isoformat() if d.scrubbed_on else "",
        "held_since": d.held_since.isoformat(),
    }


def write_due_csv(path: Path, numbers: list[DueNumber]) -> None:
    """The due numbers as CSV: the ``number`` column is what the scrub vendor takes."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=DUE_COLUMNS)
        writer.writeheader()
        writer.writerows(due_row(d) for d in numbers)


def read_scrub_file(path: Path, *, now: datetime) -> list[Any]:
    """The checked results of a scrub file, or :class:`ScrubFileError` naming each bad line and field."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if not header:
                raise ScrubFileError(["the file is empty: expected the header number,listed,scrubbed_on"])
            return parse_scrub(header, list(reader), today=now.date())
    except UnicodeDecodeError:
        raise ScrubFileError(["the file is not UTF-8 text: save it as CSV UTF-8"]) from None
    except csv.Error as exc:
        raise ScrubFileError([f"not readable as CSV: {exc}"]) from None


def import_scrub(p: Pipeline, *, path: Path, now: datetime) -> dict[str, Any]:
    """Apply a scrub result file: refused whole (:class:`ScrubFileError`) or recorded whole, with every held
    touch and call task of its leads released, blocked or left held in the same transaction."""
    results = read_scrub_file(path, now=now)
    outcome = apply_scrub(engine=p.engine, registry=p.registry, policy=p.policy, results=results, now=now)
    return asdict(outcome)
