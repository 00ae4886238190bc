"""The loan-officer roster: adding officers, changing their licensing, hours, capacity and alerts, listing them.

Who gets which lead is ``storage.assignment``; the rules themselves are ``nurture.roster``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email
from sqlalchemy.engine import Connection, Engine

from nurture import roster
from nurture.actions import TaskStatus
from nurture.geo import normalize_phone
from storage.limits import text_for
from storage.models import CallTask, Lead, LoanOfficer, table

_officer = table(LoanOfficer)
_lead = table(Lead)
_task = table(CallTask)


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


@dataclass(frozen=True)
class OfficerSettings:
    """What ``officers add`` and ``officers set`` may change besides name, phone and NMLS id; None keeps (or, for
    a new officer, defaults) the stored value. Hours are (start, end) minutes after the officer's local midnight."""

    licensed_states: str | None = None  # "TX,FL", "all" or "" (none)
    timezone: str | None = None
    hours: tuple[int, int] | None = None
    work_days: str | None = None  # "12345"
    quiet_hours: tuple[int, int] | None = None
    max_open_tasks: int | None = None
    alerts: tuple[bool, bool] | None = None  # (by text, by email)
    role: str | None = None

    def values(self) -> dict[str, Any]:
        """The columns to write, each checked again (``ValueError`` names the setting)."""
        out: dict[str, Any] = {}
        checks = (("licensed_states", self.licensed_states, roster.parse_states),
                  ("timezone", self.timezone, roster.parse_timezone), ("work_days", self.work_days, roster.parse_days),
                  ("role", self.role, roster.parse_role))  # fmt: skip
        for column, value, parse in checks:
            if value is not None:
                try:
                    out[column] = parse(value)
                except ValueError as exc:
                    raise ValueError(f"{column}: {exc}") from None
        for name, pair in (("work", self.hours), ("quiet", self.quiet_hours)):
            if pair is not None:
                if not all(0 <= m <= 24 * 60 for m in pair) or pair[0] == pair[1]:
                    raise ValueError(f"{name} hours: {pair} is not a time range of minutes after midnight")
                out[f"{name}_start"], out[f"{name}_end"] = pair
        if self.max_open_tasks is not None:
            if not 0 <= self.max_open_tasks <= 100_000:
                raise ValueError(f"max_open_tasks: {self.max_open_tasks} is not between 0 and 100000")
            out["max_open_tasks"] = self.max_open_tasks
        if self.alerts is not None:
            out["alert_sms"], out["alert_email"] = self.alerts
        return out


def add_officer(
    *, engine: Engine, name: str, email: str, now: datetime, phone: str | None = None, nmls_id: str | None = None,
    settings: OfficerSettings = OfficerSettings(),
) -> LoanOfficer:  # fmt: skip
    """Add a loan officer, or rename and reactivate the one with this email (keeping a phone, NMLS id or setting
    that is not given again). Raises ``ValueError`` for an email, phone, name, NMLS id or setting that cannot be
    stored. A new officer licensed nowhere gets no leads until ``update_officer`` names their states."""
    email = normalize_email(email)
    values: dict[str, Any] = {"name": _checked("name", name.strip()), "active": True, **settings.values()}
    values.update(_contact(phone, nmls_id))
    with engine.begin() as conn:
        found = conn.execute(sa.select(_officer.c.id).where(_officer.c.email == email)).scalar()
        if found is None:
            conn.execute(sa.insert(_officer).values(email=email, created_at=now, **values))
        else:
            conn.execute(sa.update(_officer).where(_officer.c.id == found).values(**values))
        return _get(conn, email)


def _contact(phone: str | None, nmls_id: str | None) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if phone:
        values["phone"] = normalize_phone(phone)
    if nmls_id:
        values["nmls_id"] = _checked("nmls_id", nmls_id.strip())
    return values


def update_officer(
    *, engine: Engine, email: str, name: str | None = None, phone: str | None = None, nmls_id: str | None = None,
    settings: OfficerSettings = OfficerSettings(),
) -> LoanOfficer:  # fmt: skip
    """Change what is given of an officer and keep the rest. Raises :class:`OfficerNotFound` and ``ValueError``
    (naming the setting). Deactivating moves work and is ``storage.assignment.deactivate_officer``."""
    email = normalize_email(email)
    values = {**settings.values(), **_contact(phone, nmls_id)}
    if name is not None:
        values["name"] = _checked("name", name.strip())
    with engine.begin() as conn:
        officer = _get(conn, email)
        if values:
            conn.execute(sa.update(_officer).where(_officer.c.id == officer.id).values(**values))
        return _get(conn, email)


def set_officer_active(*, engine: Engine, email: str, active: bool) -> LoanOfficer:
    """Put an officer back into (or take them out of) the rotation without moving anything they hold; to take
    one out and hand their work to others use ``storage.assignment.deactivate_officer``."""
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


def open_task_counts(conn: Connection) -> dict[int, int]:
    """Open call tasks per officer (officers with none left out)."""
    query = (
        sa.select(_task.c.loan_officer_id, sa.func.count())
        .where(_task.c.status == TaskStatus.OPEN.value, _task.c.loan_officer_id.is_not(None))
        .group_by(_task.c.loan_officer_id)
    )
    return {officer_id: n for officer_id, n in conn.execute(query)}


def list_officers(*, engine: Engine) -> list[dict[str, Any]]:
    """The roster, by id: contact, role, licensed states (``none``: gets no leads), hours, capacity, alerts,
    with each officer's assigned leads and open call tasks."""
    with engine.connect() as conn:
        counts, tasks = lead_counts(conn), open_task_counts(conn)
        rows = conn.execute(sa.select(_officer).order_by(_officer.c.id)).mappings().all()
    keys = ("id", "name", "email", "phone", "nmls_id", "active", "role")
    return [
        {
            **{k: r[k] for k in keys},
            "states": roster.describe_states(r["licensed_states"]),
            "timezone": r["timezone"],
            "hours": roster.format_hours(r["work_start"], r["work_end"]),
            "days": roster.format_days(r["work_days"]),
            "quiet": roster.format_hours(r["quiet_start"], r["quiet_end"]),
            "max_open": r["max_open_tasks"],
            "alerts": roster.format_alerts(r["alert_sms"], r["alert_email"]),
            "leads": counts.get(r["id"], 0),
            "open_tasks": tasks.get(r["id"], 0),
        }
        for r in rows
    ]
