"""Lender feeds over HTTP as use cases: each lender's bearer tokens, and a feed a lender posts about itself.

A posted feed goes through exactly what ``dripline guidelines load`` does (:mod:`service.guideline_load`): the same
validation, the same snapshot (the same feed twice is a no-op), the same re-score of each loosening, run the way the
caller's ``rescore`` says. What it adds: the feed may only name the lender its token belongs to.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine

from nurture.guideline_feed import ProgramRules, lender_name
from nurture.guidelines import Direction, FeedError, parse_feed
from service.guideline_load import LoadOutcome, Rescore, decode_feed, load_programs
from service.pipeline import Pipeline
from storage.feed_tokens import FeedTokenInfo, list_tokens, revoke_tokens, store_token, use_token
from storage.guidelines import change_dict

MEDIA_TYPES = {"text/csv": "csv", "application/json": "json"}
TOKEN_BYTES = 32  # 256 bits from secrets.token_urlsafe: 43 characters


class MediaTypeError(ValueError):
    """The body is neither ``text/csv`` nor ``application/json`` (in UTF-8)."""


@dataclass(frozen=True, slots=True)
class NewToken:
    id: int
    lender: str
    token: str  # shown once; only its sha256 is stored


def create_token(*, engine: Engine, lender: str, created_by: str, now: datetime) -> NewToken:
    """A new token for ``lender`` (its name as its feeds give it). ``ValueError`` for a name no feed could carry."""
    name = lender_name(lender)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    return NewToken(store_token(engine=engine, lender=name, token=token, created_by=created_by, now=now), name, token)


def revoke(*, engine: Engine, now: datetime, lender: str | None = None, token_id: int | None = None) -> list[int]:
    """Revoke every live token of ``lender``, or the token ``token_id``; returns the ids revoked now."""
    return revoke_tokens(engine=engine, now=now, lender=lender_name(lender) if lender else None, token_id=token_id)


def tokens(*, engine: Engine, lender: str | None = None) -> list[FeedTokenInfo]:
    return list_tokens(engine=engine, lender=lender_name(lender) if lender else None)


def authenticate(*, engine: Engine, lender: str, token: str, now: datetime) -> int | None:
    """The id of the live token ``token`` of ``lender`` (its last use recorded), or None: a token of another
    lender, a revoked or unknown token, a lender name no feed could carry."""
    try:
        name = lender_name(lender)
    except ValueError:
        return None
    return use_token(engine=engine, lender=name, token=token, now=now)


def feed_format(content_type: str) -> str:
    """``json`` or ``csv`` from a Content-Type header; :class:`MediaTypeError` for any other type or charset."""
    media, _, params = content_type.partition(";")
    format = MEDIA_TYPES.get(media.strip().lower())
    if format is None:
        raise MediaTypeError(f"send the feed as {' or '.join(MEDIA_TYPES)}, not {media.strip() or 'no type'}")
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in ("utf-8", "utf8"):
            raise MediaTypeError(f"send the feed in UTF-8, not {value.strip()}")
    return format


@dataclass(slots=True)
class FeedReceipt:
    """What a posted feed did: a new snapshot with its changes, or nothing (the same as the snapshot in force)."""

    lender: str
    snapshot_id: int
    previous_id: int | None
    stored: bool
    changes: list[dict[str, Any]]
    unchanged: list[str]  # programs of the feed with no change at all
    events: list[str] = field(default_factory=list)
    rescored: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        def of(direction: Direction) -> list[dict[str, Any]]:
            return [{k: v for k, v in c.items() if k not in ("lender", "direction")} for c in self.changes
                    if c["direction"] == direction.value]  # fmt: skip

        return {
            "lender": self.lender,
            "status": "stored" if self.stored else "unchanged",
            "snapshot_id": self.snapshot_id,
            "previous_snapshot_id": self.previous_id,
            "loosened": of(Direction.LOOSENING),
            "tightened": of(Direction.TIGHTENING),
            "neutral": of(Direction.NEUTRAL),
            "unchanged": self.unchanged,
            "events": self.events,
            "rescored": self.rescored,
        }


def receive_feed(
    p: Pipeline, *, lender: str, data: bytes, format: str, token_id: int, now: datetime, rescore: Rescore
) -> FeedReceipt:
    """Validate a feed ``lender`` posted (raises :class:`FeedError` with every problem, nothing stored), store its
    snapshot unless it is the one in force, and hand each loosening to ``rescore``."""
    name = lender_name(lender)
    try:
        programs = parse_feed(decode_feed(data), format=format, lender=name)
    except RecursionError:
        raise FeedError(["nested too deeply to be a guideline feed"]) from None
    outcome = load_programs(
        p, programs=programs, source=f"POST /feeds ({format})", now=now, loaded_by=f"feed token {token_id}",
        rescore=rescore,
    )  # fmt: skip
    return _receipt(outcome, programs)


def _receipt(outcome: LoadOutcome, programs: list[ProgramRules]) -> FeedReceipt:
    [load] = outcome.result.lenders  # the feed names one lender: parse_feed refused any other
    changed = {c.program for c in load.changes}
    return FeedReceipt(
        lender=load.lender,
        snapshot_id=load.snapshot_id or load.previous_id or 0,
        previous_id=load.previous_id if load.snapshot_id is not None else None,
        stored=load.snapshot_id is not None,
        changes=[change_dict(c) for c in load.changes],
        unchanged=[p.program.value for p in programs if p.program not in changed],
        events=outcome.events,
        rescored=[stats.as_dict() for stats in outcome.rescored],
    )
