"""Which stored lead each row of a lead CSV batch is (docs/leads-csv.md, "Matching"): the set lookups that find the
candidates, and the index that picks a row's match among them and the rows placed earlier in the batch."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection

from storage.import_parse import Row
from storage.models import Lead, table

KEYS = ("external_id", "phone", "alt_phone", "email")  # a key the row leaves blank keeps its stored value
LOOKUP_CHUNK = 5000

_lead = table(Lead)
_MATCH_COLUMNS = [_lead.c[k] for k in ("id", *KEYS, "row_digest", "phone_ok", "dnc_listed", "dnc_scrubbed_on")]
_TEXT_ARRAY = postgresql.ARRAY(sa.String())

_Target = int | Row  # a stored lead's id, or a row placed earlier in this batch


class Index:
    """What a row may be: stored leads (by id), then rows already placed in this batch."""

    def __init__(self) -> None:
        self.ext: dict[str, _Target] = {}
        self.phone: dict[str, list[tuple[_Target, str | None]]] = {}  # both numbers of a lead
        self.email: dict[str, list[tuple[_Target, str | None]]] = {}

    def add(self, target: _Target, values: Any) -> None:
        ext = values["external_id"]
        if ext:
            self.ext.setdefault(ext, target)
        for key, index in (("phone", self.phone), ("alt_phone", self.phone), ("email", self.email)):
            if values[key]:
                index.setdefault(values[key], []).append((target, ext))

    def find(self, values: dict[str, Any]) -> tuple[_Target, str] | None:
        """The match and the field it matched on: external_id, else phone, else alt_phone, else email.

        Either number of the row matches either number of a lead. A row carrying an
        external_id falls back only to leads without one, so it never takes over
        another vendor record.
        """
        ext = values["external_id"]
        if ext and ext in self.ext:
            return self.ext[ext], "external_id"
        for key, index in (("phone", self.phone), ("alt_phone", self.phone), ("email", self.email)):
            for target, target_ext in index.get(values[key] or "", ()):
                if not ext or target_ext is None:
                    return target, key
        return None


def lookup(conn: Connection, rows: list[Row]) -> dict[int, sa.Row[Any]]:
    """The stored leads ``rows`` may match, by id.

    Those sharing an external_id, then those sharing a phone number (in either column) or an email with a
    row whose external_id matched none: a row that matched by external_id needs nothing else.
    """
    found = _select_leads(conn, "external_id", {r.values["external_id"] for r in rows if r.values["external_id"]})
    stored_ext = {lead.external_id for lead in found.values()}
    rest = [r for r in rows if r.values["external_id"] not in stored_ext]
    phones = {r.values[k] for r in rest for k in ("phone", "alt_phone") if r.values[k]}
    for key, wanted in (("phone", phones), ("alt_phone", phones), ("email", {r.values["email"] for r in rest})):
        found.update(_select_leads(conn, key, wanted - {None}))
    return found


def _select_leads(conn: Connection, key: str, wanted: set[str]) -> dict[int, sa.Row[Any]]:
    ordered, found = sorted(wanted), dict[int, sa.Row[Any]]()
    array = conn.dialect.name == "postgresql"  # one array parameter binds far faster than thousands
    for start in range(0, len(ordered), LOOKUP_CHUNK):
        chunk = ordered[start : start + LOOKUP_CHUNK]
        match = _lead.c[key] == sa.any_(sa.literal(chunk, _TEXT_ARRAY)) if array else _lead.c[key].in_(chunk)
        found.update((r.id, r) for r in conn.execute(sa.select(*_MATCH_COLUMNS).where(match)))
    return found
