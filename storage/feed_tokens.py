"""Lenders' feed tokens: stored as sha256 only, compared in constant time, revoked by setting a date.

A token is high-entropy (``secrets.token_urlsafe``), so an unsalted sha256 is enough: nobody can guess a token
from its digest, and a database leak gives no usable token.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, fields
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from storage.models import FeedToken, table

_token = table(FeedToken)


@dataclass(frozen=True, slots=True)
class FeedTokenInfo:
    """What may be shown about a token: never the token, never its digest."""

    id: int
    lender: str
    created_at: datetime
    created_by: str
    last_used_at: datetime | None
    revoked_at: datetime | None


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def store_token(*, engine: Engine, lender: str, token: str, created_by: str, now: datetime) -> int:
    """Keep ``token``'s digest for ``lender``; returns the token's id."""
    with engine.begin() as conn:
        return int(
            conn.execute(
                _token.insert()
                .values(lender=lender, token_sha256=token_sha256(token), created_at=now, created_by=created_by[:120])
                .returning(_token.c.id)
            ).scalar_one()
        )


def use_token(*, engine: Engine, lender: str, token: str, now: datetime) -> int | None:
    """The id of ``lender``'s live token equal to ``token``, its last use set to ``now``; None when there is none.

    Every live token of the lender is compared with ``hmac.compare_digest``, so how long the check takes does not
    depend on how much of a guess is right. Nothing is written when no token matches."""
    digest = token_sha256(token)
    live = sa.and_(_token.c.lender == lender, _token.c.revoked_at.is_(None))
    with engine.begin() as conn:
        match = None
        for row in conn.execute(sa.select(_token.c.id, _token.c.token_sha256).where(live)):
            if hmac.compare_digest(row.token_sha256, digest):
                match = int(row.id)
        if match is None:
            return None
        used = conn.execute(_token.update().where(live, _token.c.id == match).values(last_used_at=now))
        return match if used.rowcount == 1 else None  # revoked between the two statements


def revoke_tokens(
    *, engine: Engine, now: datetime, lender: str | None = None, token_id: int | None = None
) -> list[int]:
    """Revoke ``lender``'s live tokens, or the one token ``token_id`` (both given: that token, if it is the
    lender's). Returns the ids revoked now; a token revoked before is left as it was."""
    if lender is None and token_id is None:
        raise ValueError("name a lender or a token id")
    query = _token.update().where(_token.c.revoked_at.is_(None)).values(revoked_at=now).returning(_token.c.id)
    if lender is not None:
        query = query.where(_token.c.lender == lender)
    if token_id is not None:
        query = query.where(_token.c.id == token_id)
    with engine.begin() as conn:
        return sorted(int(i) for i in conn.execute(query).scalars())


def list_tokens(*, engine: Engine, lender: str | None = None) -> list[FeedTokenInfo]:
    """Every token ever made (revoked ones too), by lender then id."""
    columns = [_token.c[f.name] for f in fields(FeedTokenInfo)]
    query = sa.select(*columns).order_by(_token.c.lender, _token.c.id)
    if lender is not None:
        query = query.where(_token.c.lender == lender)
    with engine.connect() as conn:
        return [FeedTokenInfo(**row._mapping) for row in conn.execute(query)]
