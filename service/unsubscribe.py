"""Unsubscribe links: signed tokens that name a lead and the day the link was made, and the unsubscribe itself.

A token is ``itsdangerous``'s URL-safe signed JSON (HMAC-SHA256) of ``[lead id, "YYYY-MM-DD"]`` under the
signing key (``DRIPLINE_SIGNING_KEY``; links signed with one of ``previous_signing_keys`` still read), salted for
this one use. It is not encrypted: it shows a lead id and a date, no address. The date is the caller's ``now``
(nothing here reads the clock). A token older than ``unsubscribe_token_days`` is still genuine: it unsubscribes
after a confirmation click instead of at once, so an old link forwarded or scanned never fails to stop email, yet
is not acted on by a bare visit.

:func:`unsubscribe_lead` commits the suppression before it returns: the lead's address and the lead itself
are opted out of email, through the same handler as a provider's unsubscribe event.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from itsdangerous import BadData, URLSafeSerializer
from sqlalchemy.engine import Engine

from nurture.actions import Channel
from service.email_events import handle_email_event
from service.settings import Settings
from storage.locks import lock_leads, write_transaction
from storage.models import Lead, table
from storage.optouts import record_opt_out

SALT = "dripline-unsubscribe"
_lead = table(Lead)


class BadToken(ValueError):
    """Not a token we signed (forged, altered, truncated or signed with another key)."""


@dataclass(frozen=True, slots=True)
class Token:
    lead_id: int
    issued: date | None  # None: made without a date (treated as old)
    expired: bool


@dataclass(frozen=True, slots=True)
class Unsubscribed:
    lead_id: int
    address: str | None  # the lead's email address when it has one
    stopped: bool  # email was still allowed until now
    found: bool = True  # False: no lead has this id (nothing to stop)


def unsubscribe_endpoint(settings: Settings) -> str:
    """``unsubscribe_base_url`` when it is set, else ``public_base_url`` + ``/unsubscribe``."""
    if "unsubscribe_base_url" in settings.model_fields_set:
        return settings.unsubscribe_base_url
    return settings.public_base_url.rstrip("/") + "/unsubscribe"


def _keys(settings: Settings) -> list[str]:
    """Every key a link may be signed with, the one new links are signed with last."""
    return [*settings.previous_signing_keys.get_secret_value().split(), settings.signing_key.get_secret_value()]


def _serializer(settings: Settings) -> URLSafeSerializer:
    return URLSafeSerializer(_keys(settings), salt=SALT, signer_kwargs={"digest_method": hashlib.sha256})


def make_token(settings: Settings, lead_id: int, issued: date | None) -> str:
    return str(_serializer(settings).dumps([lead_id, issued.isoformat() if issued else ""]))


def unsubscribe_url(settings: Settings, lead_id: int, issued: date | None) -> str:
    """The link in an email's footer and its List-Unsubscribe header."""
    return f"{unsubscribe_endpoint(settings)}?token={make_token(settings, lead_id, issued)}"


def read_token(settings: Settings, token: str, *, today: date, lead: str | None = None) -> Token:
    """The lead and issue day a token names. Raises :class:`BadToken` when we did not sign it.

    ``lead`` comes with the links of emails sent before these tokens (``?lead=ID&token=HEX``, an HMAC of the lead id
    under the same key): they still work, as old links (a confirmation click), since an unsubscribe link must keep
    working after the email went."""
    if lead is not None:
        return _legacy(settings, lead, token)
    try:
        value = _serializer(settings).loads(token)
    except BadData as exc:
        raise BadToken("not a token we signed") from exc
    if not (isinstance(value, list) and len(value) == 2 and type(value[0]) is int and isinstance(value[1], str)):
        raise BadToken("a signed value that is not an unsubscribe token")
    try:
        issued = date.fromisoformat(value[1]) if value[1] else None
    except ValueError as exc:
        raise BadToken("a token with no readable date") from exc
    expired = issued is None or today - issued > timedelta(days=settings.unsubscribe_token_days)
    return Token(lead_id=value[0], issued=issued, expired=expired)


def _legacy(settings: Settings, lead: str, token: str) -> Token:
    if not lead.isdigit() or len(lead) > 18:
        raise BadToken("not a lead id")
    for key in _keys(settings):
        expected = hmac.new(key.encode(), f"unsubscribe:{int(lead)}".encode(), hashlib.sha256).hexdigest()[:24]
        if hmac.compare_digest(expected.encode(), token.encode()):
            return Token(lead_id=int(lead), issued=None, expired=True)
    raise BadToken("not a link we made")


def unsubscribe_lead(*, engine: Engine, lead_id: int, at: datetime) -> Unsubscribed:
    """Stop email to the lead and to its address (every lead with it), committed before this returns."""
    with engine.connect() as conn:
        address = conn.execute(sa.select(_lead.c.email).where(_lead.c.id == lead_id)).one_or_none()
    if address is None:
        return Unsubscribed(lead_id, None, False, found=False)
    email = (address[0] or "").strip().lower() or None
    stopped = False
    covered: tuple[int, ...] = ()
    if email:
        done = handle_email_event(engine=engine, event="unsubscribe", address=email, at=at)
        stopped, covered = done.stopped, done.lead_ids
    if lead_id not in covered:  # no address, or it changed since the email went: stop the lead itself
        with write_transaction(engine) as conn:
            lock_leads(conn, [lead_id])
            done_lead = record_opt_out(conn, lead_ids=[lead_id], address=None, channels=[Channel.EMAIL],
                                       source="email_unsubscribe", reason="unsubscribe link", at=at,
                                       actor="borrower by unsubscribe link")  # fmt: skip
        stopped = stopped or bool(done_lead.changed)
    return Unsubscribed(lead_id, email, stopped)
