"""Loading a lender guideline feed: store what changed, then hand each loosening to the caller's re-score.

The service never decides how re-scoring runs: the CLI and the web app pass ``rescore``, a
function of one stored loosening (the flows' event emitter when a Prefect API is configured,
:func:`inline_rescore` otherwise). A load that only tightens re-dates seasoning here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from nurture.guideline_feed import FeedProblem
from nurture.guidelines import FeedError, parse_feed
from service.pipeline import Pipeline
from service.rescore import rescore
from storage.guidelines import LenderLoad, LoadResult, load_snapshot
from storage.rescore import RescoreStats
from storage.seasoning import schedule_seasoning

FORMATS = {".json": "json", ".csv": "csv"}


Rescore = Callable[[LenderLoad], "str | RescoreStats"]


@dataclass(slots=True)
class LoadOutcome:
    result: LoadResult
    events: list[str] = field(default_factory=list)  # ids of the events the rescore function emitted
    rescored: list[RescoreStats] = field(default_factory=list)  # what it re-scored in this process
    seasoning: RescoreStats | None = None


def feed_format(path: Path) -> str:
    try:
        return FORMATS[path.suffix.lower()]
    except KeyError:
        raise ValueError(f"{path.name}: a guideline feed is .json or .csv") from None


def decode_feed(data: bytes) -> str:
    """A feed's bytes as text: UTF-8, with or without a byte-order mark. Anything else (binary, UTF-16, latin-1)
    raises :class:`FeedError` with one problem, before anything is parsed."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise FeedError(["the feed is UTF-16 text; save it as UTF-8"])
    if b"\x00" in data[:65536]:
        raise FeedError(["not a text file (it holds NUL bytes); a feed is JSON or CSV text"])
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise FeedError(
            [FeedProblem(f"not UTF-8 text (byte 0x{data[exc.start]:02x}); save it as UTF-8", line)]
        ) from None


def inline_rescore(p: Pipeline, now: datetime) -> Rescore:
    """Re-score each loosening here and now (no Prefect API configured, or the demo's simulation)."""
    return lambda load: rescore(p, load.snapshot_id or 0, now=now)


def load_guideline_file(
    p: Pipeline, *, path: Path, now: datetime, loaded_by: str, rescore: Rescore | None
) -> LoadOutcome:
    """Parse (raises ``nurture.guidelines.FeedError`` listing every problem), store, and start re-scoring
    each loosening with ``rescore`` (None: store only)."""
    programs = parse_feed(decode_feed(path.read_bytes()), format=feed_format(path))
    return load_programs(p, programs=programs, source=path.name, now=now, loaded_by=loaded_by, rescore=rescore)


def load_programs(
    p: Pipeline, *, programs: list[Any], source: str, now: datetime, loaded_by: str, rescore: Rescore | None
) -> LoadOutcome:
    result = load_snapshot(engine=p.engine, programs=programs, source=source, loaded_by=loaded_by, now=now)
    outcome = LoadOutcome(result)
    loosened = [x for x in result.stored if x.loosened]
    if rescore is None:
        return outcome
    for load in loosened:
        done = rescore(load)
        if isinstance(done, str):
            outcome.events.append(done)
        else:
            outcome.rescored.append(done)
    if result.stored and not loosened:
        outcome.seasoning = schedule_seasoning(engine=p.engine, now=now)
    return outcome
