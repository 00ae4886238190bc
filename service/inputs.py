"""Text people and providers hand dripline, checked before it reaches a text column.

Command options now, webhook fields later: each use case's input is a small frozen pydantic model. A one-line field
takes no control character, free text keeps tabs and line breaks (``nurture.text``), and nothing is longer than the
column that stores it (read from ``storage.models``, never repeated here). A borrower's own text message is never
refused: its control characters are dropped instead, since a STOP must be honoured whatever came with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

import sqlalchemy as sa
from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError

from nurture.geo import normalize_phone
from nurture.model_errors import describe
from nurture.text import checked, stripped
from storage.limits import DISCLOSURE_MAX_CHARS, text_for
from storage.models import CallTask, Consent, InboundMessage, table
from storage.officers import normalize_email

_inbound, _consent, _task = table(InboundMessage), table(Consent), table(CallTask)


def _line(column: sa.Column[Any]) -> AfterValidator:
    return AfterValidator(text_for(column))


def _borrower_text(text: str) -> str:
    return stripped(text)[0]


def _disclosure(text: str) -> str:
    return checked(text, limit=DISCLOSURE_MAX_CHARS, multiline=True)


Phone = Annotated[str, AfterValidator(normalize_phone)]  # E.164
Email = Annotated[str, AfterValidator(normalize_email)]  # lower-cased


class _Input(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class InboundSms(_Input):
    """A text a borrower sent us, as the provider reports it. ``body`` loses any control character but tab and line
    breaks; compare it with what arrived to say so."""

    from_number: Phone
    to_number: Annotated[str, _line(_inbound.c.to_address)]  # our number, or a short code
    body: Annotated[str, AfterValidator(_borrower_text)]
    provider_id: Annotated[str, _line(_inbound.c.provider_id)] | None = None


class ConsentGiven(_Input):
    """A written-consent record a person enters (the number it covers is checked against the lead)."""

    seller: Annotated[str, _line(_consent.c.seller)]
    disclosure: Annotated[str, AfterValidator(_disclosure)]  # word for word, paragraphs and all
    source: Annotated[str, _line(_consent.c.source)]


class EmailEvent(_Input):
    """An unsubscribe, bounce or spam report for one address."""

    address: Email


class CallNote(_Input):
    """What a loan officer writes about a call or a pipeline step."""

    note: Annotated[str, AfterValidator(text_for(_task.c.note, multiline=True))]


def problems(exc: ValidationError, names: Mapping[str, str]) -> list[tuple[str, str]]:
    """(name, reason) for each error of ``exc``, the field named as the person gave it (``names``: field -> name)."""
    out = []
    for error in exc.errors(include_url=False):
        field = str(error["loc"][0]) if error["loc"] else ""
        out.append((names.get(field, field), describe(error)))
    return out
