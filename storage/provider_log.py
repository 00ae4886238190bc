"""The log of what providers told us, each message or event stored once: inbound texts (with the one reply each
may get) and email events, keyed by the provider's id. Callers insert under the locks of the opt-out they act on
(:mod:`storage.optouts`), so a provider's retry finds the first delivery and changes nothing."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from storage.locks import write_transaction
from storage.models import EmailEvent, InboundMessage, table

_inbound = table(InboundMessage)
_email_event = table(EmailEvent)
REPLY_PENDING, REPLY_SENDING = "", "sending"


def _insert_once(conn: Connection, table: sa.Table, values: dict[str, Any]) -> int | None:
    stmt = _INSERT_ONCE.get((table.name, conn.dialect.name))
    if stmt is None:  # built once per table and database: its values are bound at each execution
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        insert = dialect.insert(table).on_conflict_do_nothing(index_elements=["provider_id"])
        stmt = _INSERT_ONCE[(table.name, conn.dialect.name)] = insert.returning(table.c.id)
    return conn.execute(stmt, values).scalar()


_INSERT_ONCE: dict[tuple[str, str], sa.Insert] = {}


def store_inbound(conn: Connection, **values: Any) -> int | None:
    """Insert one inbound text; returns its id, or None when the provider delivered this ``provider_id`` before
    (nothing is stored). A message without a provider id is always new."""
    return _insert_once(conn, _inbound, values)


def inbound_by_provider_id(conn: Connection, provider_id: str) -> Any:
    return conn.execute(sa.select(_inbound).where(_inbound.c.provider_id == provider_id)).one()


def claim_reply(engine: Engine, message_id: int) -> bool:
    """Take the one right to send the reply to inbound message ``message_id`` (pending -> sending)."""
    with write_transaction(engine) as conn:
        done = conn.execute(
            _inbound.update()
            .where(_inbound.c.id == message_id, _inbound.c.reply_status == REPLY_PENDING)
            .values(reply_status=REPLY_SENDING)
        ).rowcount
    return done == 1


def record_reply(engine: Engine, message_id: int, *, body: str | None, status: str) -> None:
    with write_transaction(engine) as conn:
        conn.execute(
            _inbound.update().where(_inbound.c.id == message_id).values(reply_body=body, reply_status=status[:300])
        )


def store_email_event(conn: Connection, **values: Any) -> int | None:
    """Insert one email event; None when the provider delivered this ``provider_id`` before."""
    return _insert_once(conn, _email_event, values)


def email_event_by_provider_id(conn: Connection, provider_id: str) -> Any:
    return conn.execute(sa.select(_email_event).where(_email_event.c.provider_id == provider_id)).one()


def set_email_event_outcome(conn: Connection, event_id: int, outcome: str) -> None:
    conn.execute(_email_event.update().where(_email_event.c.id == event_id).values(outcome=outcome[:300]))
