"""Twilio's status callbacks, stored once each, and what the carriers told us about a number.

A callback is stored once per (sid, status): :func:`store_callback` inserts or ignores, inside the caller's
transaction, so a retried callback finds the first delivery's row and changes nothing. The caller applies the
callback's effects in that same transaction (the row and its effects commit together or not at all).

``phone_fact`` holds numbers that cannot take texts: a landline (error 30006) or a number unreachable again
and again (30003/30005 without a delivery in between). The compliance gate blocks texts to them
(``nurture.gate.textable``); calls and voicemail are not affected.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from nurture.actions import Channel, TouchStatus
from storage.models import PhoneFact, Touch, TwilioCallback, table
from storage.sql import among

_cb = table(TwilioCallback)
_fact = table(PhoneFact)
_touch = table(Touch)


def _dialect(conn: Connection) -> Any:
    return postgresql if conn.dialect.name == "postgresql" else sqlite


def store_callback(
    conn: Connection,
    *,
    sid: str,
    status: str,
    touch_key: str | None,
    address: str | None,
    error_code: int | None,
    received_at: datetime,
) -> int | None:
    """Insert one callback; its id, or None when Twilio delivered this sid and status before (nothing stored)."""
    values = {"sid": sid[:64], "status": status[:32], "touch_key": touch_key, "address": address,
              "error_code": error_code, "received_at": received_at, "outcome": ""}  # fmt: skip
    stmt = _dialect(conn).insert(_cb).values(**values).on_conflict_do_nothing(index_elements=["sid", "status"])
    return conn.execute(stmt.returning(_cb.c.id)).scalar()


def set_callback_outcome(conn: Connection, callback_id: int, outcome: str) -> None:
    conn.execute(_cb.update().where(_cb.c.id == callback_id).values(outcome=outcome[:500]))


def callback_outcome(conn: Connection, *, sid: str, status: str) -> str:
    """What the stored callback for ``sid`` and ``status`` changed, in words."""
    query = sa.select(_cb.c.outcome).where(_cb.c.sid == sid[:64], _cb.c.status == status[:32])
    return str(conn.execute(query).scalar_one())


def unreachable_streak(conn: Connection, number: str, codes: Collection[int]) -> int:
    """How many of our messages to ``number`` failed with one of ``codes`` since the last one delivered to it."""
    last_delivered = (
        sa.select(sa.func.coalesce(sa.func.max(_cb.c.id), 0))
        .where(_cb.c.address == number, _cb.c.status == "delivered")
        .scalar_subquery()
    )
    query = sa.select(sa.func.count(sa.distinct(_cb.c.sid))).where(
        _cb.c.address == number, _cb.c.error_code.in_(list(codes)), _cb.c.id > last_delivered
    )
    return int(conn.execute(query).scalar_one())


def mark_not_textable(conn: Connection, number: str, *, reason: str, at: datetime) -> bool:
    """Record that ``number`` cannot take texts; True when it was textable until now."""
    was = conn.execute(sa.select(_fact.c.textable).where(_fact.c.number == number)).scalar()
    if was is False:
        return False
    values = {"number": number, "textable": False, "reason": reason[:300], "updated_at": at}
    stmt = _dialect(conn).insert(_fact).values(**values)
    conn.execute(stmt.on_conflict_do_update(index_elements=["number"], set_=values))
    return True


def not_textable(conn: Connection, numbers: Sequence[str]) -> dict[str, str]:
    """Of ``numbers``, those that cannot take texts, with the reason."""
    if not numbers:
        return {}
    query = sa.select(_fact.c.number, _fact.c.reason).where(among(conn, _fact.c.number, list(numbers)))
    return {number: reason for number, reason in conn.execute(query.where(_fact.c.textable.is_(False)))}


def touch_for_callback(conn: Connection, key: str) -> Any:
    """The touch a callback names (its key from ``?touch=``), or None."""
    query = sa.select(_touch.c.id, _touch.c.lead_id, _touch.c.channel, _touch.c.status, _touch.c.provider_id,
                      _touch.c.to_address, _touch.c.body_text).where(_touch.c.key == key)  # fmt: skip
    return conn.execute(query).first()


def fail_sent_touch(conn: Connection, key: str, *, reason: str, at: datetime) -> bool:
    """The provider gave up on a ``sent`` touch: it is ``failed`` now. True when one changed."""
    done = conn.execute(
        _touch.update()
        .where(_touch.c.key == key, _touch.c.status == TouchStatus.SENT.value)
        .values(status=TouchStatus.FAILED.value, reason=reason[:500], updated_at=at)
    ).rowcount
    return done == 1


def note_delivered(conn: Connection, key: str, *, reason: str, at: datetime) -> bool:
    """A ``sent`` touch reached the handset (or the voicemail box): its reason says so."""
    done = conn.execute(
        _touch.update()
        .where(_touch.c.key == key, _touch.c.status == TouchStatus.SENT.value)
        .values(reason=reason[:500], updated_at=at)
    ).rowcount
    return done == 1


def is_voicemail(row: Any) -> bool:
    return bool(row.channel == Channel.VOICEMAIL.value)
