"""The compliance facts the gate reads, in bulk, and the records it depends on: consent and suppression.

Suppression rows are an append-only log. For a lead and a channel the latest
row that names the lead, or one of its phone numbers or its email address,
decides; so an opt-out sent from any of a person's numbers reaches every lead
with that number, including leads imported later. Nothing here deletes or
edits a consent or suppression row.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from nurture.actions import Channel, SuppressionAction, TaskStatus, TouchStatus
from nurture.gate import ContactFacts
from storage.bridge import bridge_contacts
from storage.models import CallTask, Consent, Lead, Suppression, Touch, table
from storage.sql import among
from storage.twilio_callbacks import not_textable

_lead = table(Lead)
_consent = table(Consent)
_sup = table(Suppression)
_touch = table(Touch)
_task = table(CallTask)

ALL_CHANNELS = tuple(Channel)
PHONE_CHANNELS = (Channel.SMS, Channel.VOICEMAIL, Channel.CALL)
_COUNTED_TOUCHES = [s.value for s in (TouchStatus.SENT, TouchStatus.PLANNED, TouchStatus.SENDING, TouchStatus.UNKNOWN)]
_COUNTED_TASKS = [TaskStatus.OPEN.value, TaskStatus.DONE.value]
_CHUNK = 5000


def load_facts(conn: Connection, lead_ids: Collection[int], *, since: datetime) -> dict[int, ContactFacts]:
    """What the gate needs about each lead: address, phones, DNC, consent, opt-outs, and its contacts from
    ``since`` on (sent, scheduled or called: call tasks and click-to-calls alike)."""
    facts: dict[int, ContactFacts] = {}
    ids = sorted(set(lead_ids))
    for start in range(0, len(ids), _CHUNK):
        facts |= _load_chunk(conn, ids[start : start + _CHUNK], since)
    return facts


def _load_chunk(conn: Connection, ids: list[int], since: datetime) -> dict[int, ContactFacts]:
    leads = conn.execute(
        sa.select(
            _lead.c.id,
            _lead.c.timezone,
            _lead.c.address_state,
            _lead.c.phone,
            _lead.c.alt_phone,
            _lead.c.email,
            _lead.c.inquiry_date,
            _lead.c.dnc_listed,
            _lead.c.dnc_scrubbed_on,
        ).where(among(conn, _lead.c.id, ids))
    ).all()
    consents: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for lead_id, phone, seller in conn.execute(
        sa.select(_consent.c.lead_id, _consent.c.phone, _consent.c.seller).where(among(conn, _consent.c.lead_id, ids))
    ):
        consents[lead_id].append((phone, seller))
    people = [(lead_id, phone, alt, email) for lead_id, _tz, _state, phone, alt, email, *_ in leads]
    opted_out = _opted_out_of(conn, people)
    contacts: dict[int, list[tuple[datetime, Channel, str]]] = defaultdict(list)
    touch_at = sa.func.coalesce(_touch.c.sent_at, _touch.c.scheduled_for)
    # By lead, always: without statistics (a database never analyzed) SQLite would walk the status index instead,
    # every touch of every lead, to find a batch's few.
    touches = (
        sa.select(_touch.c.lead_id, touch_at.label("at"), _touch.c.channel, _touch.c.key)
        .where(among(conn, _touch.c.lead_id, ids), _touch.c.status.in_(_COUNTED_TOUCHES), touch_at > since)
        .with_hint(_touch, "INDEXED BY ix_touch_lead_id", dialect_name="sqlite")
    )
    for row in conn.execute(touches):
        contacts[row.lead_id].append((row.at, Channel(row.channel), row.key))
    task_at = sa.func.coalesce(_task.c.completed_at, _task.c.due_at)
    task_rows = conn.execute(
        sa.select(_task.c.lead_id, task_at.label("at"), _task.c.key)
        .where(among(conn, _task.c.lead_id, ids), _task.c.status.in_(_COUNTED_TASKS), task_at > since)
        .with_hint(_task, "INDEXED BY ix_call_task_lead_id", dialect_name="sqlite")
    )
    for lead_id, at, key in task_rows:
        contacts[lead_id].append((at, Channel.CALL, key))
    for lead_id, at, key in bridge_contacts(conn, ids, since=since):  # click-to-call: a call like any other
        contacts[lead_id].append((at, Channel.CALL, key))
    no_opt_outs: dict[Channel, str] = {}
    refused = not_textable(conn, sorted({phone for _id, phone, _alt, _email in people if phone}))
    return {
        lead_id: ContactFacts(
            lead_id,
            timezone,
            state,
            phone,
            inquiry_date,
            dnc_listed,
            scrubbed_on,
            tuple(consents.get(lead_id, ())),
            opted_out.get(lead_id, no_opt_outs),
            tuple(contacts.get(lead_id, ())),
            {phone: refused[phone]} if phone in refused else {},
        )
        for lead_id, timezone, state, phone, _alt, _email, inquiry_date, dnc_listed, scrubbed_on in leads
    }


def _opted_out(conn: Connection, leads: Sequence[Any]) -> dict[int, dict[Channel, str]]:
    return _opted_out_of(conn, [(r.id, r.phone, r.alt_phone, r.email) for r in leads])


def _opted_out_of(conn: Connection, people: list[tuple[int, Any, Any, Any]]) -> dict[int, dict[Channel, str]]:
    """The opt-outs of ``people``: (lead id, phone, alt phone, email) each."""
    ids = [p[0] for p in people]
    addresses = sorted({a for _id, *theirs in people for a in theirs if a is not None})
    condition: sa.ColumnElement[bool] = among(conn, _sup.c.lead_id, ids)
    if addresses:
        condition = sa.or_(condition, among(conn, _sup.c.address, addresses))
    rows = conn.execute(sa.select(_sup).where(condition).order_by(_sup.c.at, _sup.c.id)).all()
    if not rows:  # the usual case: nobody in the batch ever opted out
        return {}
    named = {r.address for r in rows if r.address}
    return _opted_out_by(set(ids), _addresses(people, only=named), rows)


def _addresses(people: Iterable[tuple[int, Any, Any, Any]], only: set[str] | None = None) -> dict[str, list[int]]:
    """The leads by address, from (lead id, phone, alt phone, email) tuples; ``only`` those addresses if given."""
    by_address: dict[str, list[int]] = defaultdict(list)
    for lead_id, phone, alt, email in people:
        if only is not None and phone not in only and alt not in only and email not in only:
            continue
        if phone is not None:
            by_address[phone].append(lead_id)
        if alt is not None and alt != phone:
            by_address[alt].append(lead_id)
        if email is not None and email != phone and email != alt:
            by_address[email].append(lead_id)
    return by_address


def opted_out_among(leads: Sequence[Any], rows: Iterable[Any]) -> dict[int, dict[Channel, str]]:
    """The opt-outs of ``leads`` (rows with ``id``, ``phone``, ``alt_phone``, ``email``) by the suppression
    ``rows`` (oldest first; any superset of those naming the leads or their addresses): what
    :func:`opted_out_now` reads, from rows already read."""
    people = [(r.id, r.phone, r.alt_phone, r.email) for r in leads]
    return _opted_out_by({p[0] for p in people}, _addresses(people), rows)


def _opted_out_by(
    ids: set[int], by_address: dict[str, list[int]], rows: Iterable[Any]
) -> dict[int, dict[Channel, str]]:
    events: dict[int, list[Any]] = defaultdict(list)
    for row in rows:
        targets = set(by_address.get(row.address, ())) if row.address else set()
        if row.lead_id is not None and row.lead_id in ids:
            targets.add(row.lead_id)
        for lead_id in targets:
            events[lead_id].append(row)
    return {lead_id: latest_opt_outs(rows) for lead_id, rows in events.items()}


def latest_opt_outs(rows: Iterable[Any]) -> dict[Channel, str]:
    state: dict[Channel, str | None] = {}
    for row in rows:  # oldest first: the latest row per channel wins
        channel = Channel(row.channel)
        if row.action == SuppressionAction.OPT_OUT.value:
            state[channel] = f"{row.reason} ({row.source}, {row.at:%Y-%m-%d %H:%M} UTC)"
        else:
            state[channel] = None
    return {channel: why for channel, why in state.items() if why is not None}


def opted_out_now(conn: Connection, lead_ids: Collection[int]) -> dict[int, dict[Channel, str]]:
    """Only the opt-outs of ``lead_ids``: the cheap re-check right before a message goes out."""
    leads = conn.execute(
        sa.select(_lead.c.id, _lead.c.phone, _lead.c.alt_phone, _lead.c.email).where(_lead.c.id.in_(list(lead_ids)))
    ).all()
    return _opted_out(conn, leads)


def sms_opted_out(conn: Connection, number: str, lead_ids: Collection[int]) -> bool:
    """Whether texts to ``number`` are opted out right now (by the number itself or by one of its leads)."""
    condition = _sup.c.address == number
    if lead_ids:
        condition = sa.or_(condition, _sup.c.lead_id.in_(list(lead_ids)))
    rows = conn.execute(
        sa.select(_sup).where(condition, _sup.c.channel == Channel.SMS.value).order_by(_sup.c.at, _sup.c.id)
    ).all()
    return Channel.SMS in latest_opt_outs(rows)


def sms_opted_out_among(rows: Iterable[Any], number: str, lead_ids: Collection[int]) -> bool:
    """:func:`sms_opted_out` from suppression ``rows`` already read (oldest first; any superset of those naming
    ``number`` or one of ``lead_ids``)."""
    ids = set(lead_ids)
    sms = Channel.SMS.value
    return Channel.SMS in latest_opt_outs(
        r for r in rows if r.channel == sms and (r.address == number or (r.lead_id is not None and r.lead_id in ids))
    )


def suppression_watermark(conn: Connection) -> int:
    """The newest suppression row's id, read inside the caller's transaction."""
    return int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(_sup.c.id), 0))).scalar_one())


def fresh_suppression_watermark(conn: Connection) -> int:
    """The newest suppression row's id, on a connection with no transaction of its own to keep.

    Read straight from the driver and the read ended at once, so the next call sees every commit made
    since: dispatch asks before every single message it sends.
    """
    dbapi = conn.connection.dbapi_connection
    assert dbapi is not None
    cursor = dbapi.cursor()
    try:
        cursor.execute("SELECT coalesce(max(id), 0) FROM suppression")
        row = cursor.fetchone()
    finally:
        cursor.close()
        dbapi.rollback()
    return int(row[0]) if row else 0


def leads_with_address(conn: Connection, address: str) -> list[int]:
    """Every lead whose phone, second phone or email is ``address``."""
    query = sa.select(_lead.c.id).where(
        sa.or_(_lead.c.phone == address, _lead.c.alt_phone == address, _lead.c.email == address)
    )
    return sorted(conn.execute(query).scalars())


def record_suppression(
    conn: Connection,
    *,
    action: SuppressionAction,
    channels: Iterable[Channel],
    lead_ids: Collection[int],
    address: str | None,
    source: str,
    reason: str,
    at: datetime,
) -> int:
    """Append one row per lead (or one for the bare address when no lead has it) and channel."""
    rows = suppression_rows(action=action, channels=channels, lead_ids=lead_ids, address=address, source=source,
                            reason=reason, at=at)  # fmt: skip
    conn.execute(_sup.insert(), rows)
    return len(rows)


def suppression_rows(*, action: SuppressionAction, channels: Iterable[Channel], lead_ids: Collection[int],
                     address: str | None, source: str, reason: str, at: datetime) -> list[dict[str, Any]]:  # fmt: skip
    """The rows :func:`record_suppression` appends."""
    if not lead_ids and address is None:
        raise ValueError("a suppression needs a lead or an address")
    targets: list[int | None] = list(lead_ids) or [None]
    return [
        {
            "lead_id": lead_id,
            "address": address,
            "channel": channel.value,
            "action": action.value,
            "reason": reason[:500],
            "source": source,
            "at": at,
            "created_at": at,
        }
        for lead_id in targets
        for channel in channels
    ]


def add_consent(
    conn: Connection,
    *,
    lead_id: int,
    phone: str,
    seller: str,
    disclosure: str,
    source: str,
    consented_at: datetime,
    now: datetime,
    recorded_by: str,
) -> bool:
    """Store a written-consent record (a repeat of an existing one is ignored). True when it was new."""
    row = {
        "lead_id": lead_id,
        "phone": phone,
        "seller": seller,
        "disclosure": disclosure,
        "source": source,
        "consented_at": consented_at,
        "recorded_at": now,
        "recorded_by": recorded_by,
    }
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(_consent).on_conflict_do_nothing(
        index_elements=["lead_id", "phone", "seller", "consented_at"]
    )
    return conn.execute(stmt.returning(_consent.c.id), [row]).first() is not None


def contacts_since(now: datetime) -> datetime:
    """How far back the frequency caps look."""
    return now - timedelta(hours=24)
