"""The loan-officer roster, and sharing new leads out among the active officers."""

from __future__ import annotations

import heapq
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email
from sqlalchemy.engine import Connection, Engine

from nurture.geo import normalize_phone
from storage.limits import text_for
from storage.models import Lead, LoanOfficer, table

_officer = table(LoanOfficer)
_lead = table(Lead)


class OfficerNotFound(LookupError):
    pass


def normalize_email(email: str) -> str:
    """The stored form of an email: validated, domain lower-cased, local part lower-cased.

    Raises ``ValueError`` with the validator's reason when it is not an address.
    """
    try:
        return validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from None


def _get(conn: Connection, email: str) -> LoanOfficer:
    row = conn.execute(sa.select(_officer).where(_officer.c.email == email)).mappings().first()
    if row is None:
        raise OfficerNotFound(f"no loan officer with email {email}")
    return LoanOfficer.model_validate(dict(row))


def _checked(column: str, text: str) -> str:
    """``text`` fit for the officer's ``column`` (one line, short enough), else ``ValueError`` naming the column."""
    try:
        return text_for(_officer.c[column])(text)
    except ValueError as exc:
        raise ValueError(f"{column}: {exc}") from None


def add_officer(*, engine: Engine, name: str, email: str, now: datetime, phone: str | None = None,
                nmls_id: str | None = None) -> LoanOfficer:  # fmt: skip
    """Add a loan officer, or rename and reactivate the one with this email (keeping a phone or NMLS id
    that is not given again). Raises ``ValueError`` for an email, phone, name or NMLS id that cannot be stored."""
    email = normalize_email(email)
    values: dict[str, Any] = {"name": _checked("name", name.strip()), "active": True}
    if phone:
        values["phone"] = normalize_phone(phone)
    if nmls_id:
        values["nmls_id"] = _checked("nmls_id", nmls_id.strip())
    with engine.begin() as conn:
        found = conn.execute(sa.select(_officer.c.id).where(_officer.c.email == email)).scalar()
        if found is None:
            conn.execute(sa.insert(_officer).values(email=email, created_at=now, **values))
        else:
            conn.execute(sa.update(_officer).where(_officer.c.id == found).values(**values))
        return _get(conn, email)


def set_officer_active(*, engine: Engine, email: str, active: bool) -> LoanOfficer:
    """Take an officer out of (or back into) the round-robin. Their assigned leads stay theirs."""
    email = normalize_email(email)
    with engine.begin() as conn:
        result = conn.execute(sa.update(_officer).where(_officer.c.email == email).values(active=active))
        if result.rowcount == 0:
            raise OfficerNotFound(f"no loan officer with email {email}")
        return _get(conn, email)


def lead_counts(conn: Connection) -> dict[int, int]:
    """Leads assigned to each officer, every officer present (zero included)."""
    query = (
        sa.select(_officer.c.id, sa.func.count(_lead.c.id))
        .select_from(_officer.outerjoin(_lead, _lead.c.loan_officer_id == _officer.c.id))
        .group_by(_officer.c.id)
    )
    return {officer_id: count for officer_id, count in conn.execute(query)}


def list_officers(*, engine: Engine) -> list[dict[str, Any]]:
    """The roster, by id, with each officer's assigned lead count."""
    with engine.connect() as conn:
        counts = lead_counts(conn)
        rows = conn.execute(sa.select(_officer).order_by(_officer.c.id)).mappings().all()
    keys = ("id", "name", "email", "phone", "nmls_id", "active")
    return [{**{k: r[k] for k in keys}, "leads": counts.get(r["id"], 0)} for r in rows]


class RoundRobin:
    """Hands out active officers, fewest assigned leads first, ties to the lowest id.

    Counts live in memory once loaded, so a batch of new leads rotates through
    the roster instead of piling onto whoever was lightest before the batch.
    """

    def __init__(self, counts: dict[int, int]) -> None:
        self._heap = [(count, officer_id) for officer_id, count in counts.items()]
        heapq.heapify(self._heap)

    @classmethod
    def load(cls, conn: Connection) -> RoundRobin:
        counts = lead_counts(conn)
        active = conn.execute(sa.select(_officer.c.id).where(_officer.c.active.is_(True))).scalars()
        return cls({officer_id: counts.get(officer_id, 0) for officer_id in active})

    def __bool__(self) -> bool:
        return bool(self._heap)

    def next(self) -> int | None:
        """The officer for the next unassigned lead, or None when nobody is active."""
        if not self._heap:
            return None
        count, officer_id = self._heap[0]
        heapq.heapreplace(self._heap, (count + 1, officer_id))
        return officer_id

    def took(self, officer_id: int) -> None:
        """Count a lead given to ``officer_id`` by name, so the rotation stays balanced."""
        for i, (count, oid) in enumerate(self._heap):
            if oid == officer_id:
                self._heap[i] = (count + 1, oid)
                heapq.heapify(self._heap)
                return
