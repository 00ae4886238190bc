"""Magic sign-in links and the web sessions they open.

A link's token and a session's token are random (``secrets.token_urlsafe``); only their sha256 is stored, so a
copy of the database signs nobody in. A link works once and before ``expires_at``: using it is one conditional
``UPDATE ... WHERE used_at IS NULL AND expires_at > now``, so two clicks racing on the same link open at most
one session. Nothing here reads the clock: callers pass ``now``.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from storage.models import LoanOfficer, SignInLink, WebSession, table

_link = table(SignInLink)
_session = table(WebSession)
_officer = table(LoanOfficer)

LINK_TTL = timedelta(hours=12)  # an alert's link is good for the working day it was sent in
SESSION_TTL = timedelta(days=14)


class LinkRefused(LookupError):
    """The link is unknown, used already, expired, or its officer is no longer active."""


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_sign_in_link(
    conn: Connection, *, officer_id: int, now: datetime, next_path: str = "/calls", ttl: timedelta = LINK_TTL
) -> str:
    """Store a new single-use link for ``officer_id`` and return its raw token (the URL is
    ``{public_base_url}/signin/{token}``). ``next_path`` must be a path on this site."""
    if not next_path.startswith("/") or next_path.startswith("//"):
        raise ValueError(f"next_path must be a path on this site, not {next_path!r}")
    token = secrets.token_urlsafe(32)
    conn.execute(
        sa.insert(_link).values(
            token_sha256=digest(token),
            loan_officer_id=officer_id,
            next_path=next_path[:300],
            created_at=now,
            expires_at=now + ttl,
        )
    )
    return token


@dataclass(frozen=True, slots=True)
class SignedIn:
    officer_id: int
    session_token: str  # goes into the HttpOnly cookie
    csrf_token: str
    next_path: str
    expires_at: datetime


def use_sign_in_link(engine: Engine, token: str, *, now: datetime, ttl: timedelta = SESSION_TTL) -> SignedIn:
    """Spend the link and open a session, in one transaction. Raises :class:`LinkRefused` otherwise."""
    with engine.begin() as conn:
        row = conn.execute(
            sa.update(_link)
            .where(_link.c.token_sha256 == digest(token), _link.c.used_at.is_(None), _link.c.expires_at > now)
            .values(used_at=now)
            .returning(_link.c.loan_officer_id, _link.c.next_path)
        ).first()
        if row is None:
            raise LinkRefused("this sign-in link is not valid: it was used already or has expired")
        active = conn.execute(sa.select(_officer.c.active).where(_officer.c.id == row.loan_officer_id)).scalar()
        if not active:
            raise LinkRefused("this sign-in link belongs to an officer who is no longer active")
        session_token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
        conn.execute(
            sa.insert(_session).values(
                token_sha256=digest(session_token),
                loan_officer_id=row.loan_officer_id,
                csrf_token=csrf,
                created_at=now,
                expires_at=now + ttl,
            )
        )
    return SignedIn(row.loan_officer_id, session_token, csrf, row.next_path, now + ttl)


@dataclass(frozen=True, slots=True)
class Session:
    officer_id: int
    name: str
    role: str  # officer | manager
    csrf_token: str

    @property
    def manager(self) -> bool:
        return self.role == "manager"


def session_for(conn: Connection, token: str, *, now: datetime) -> Session | None:
    """The live session with this cookie token (its officer active), or None."""
    row = conn.execute(
        sa.select(_session.c.loan_officer_id, _session.c.csrf_token, _officer.c.name, _officer.c.role)
        .join(_officer, _officer.c.id == _session.c.loan_officer_id)
        .where(
            _session.c.token_sha256 == digest(token),
            _session.c.revoked_at.is_(None),
            _session.c.expires_at > now,
            _officer.c.active.is_(True),
        )
    ).first()
    return None if row is None else Session(row.loan_officer_id, row.name, row.role, row.csrf_token)


def end_session(engine: Engine, token: str, *, now: datetime) -> None:
    with engine.begin() as conn:
        conn.execute(sa.update(_session).where(_session.c.token_sha256 == digest(token)).values(revoked_at=now))
