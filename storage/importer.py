"""Import a lead CSV (columns, formats and rules: docs/leads-csv.md).

The file is streamed (``storage.import_csv``). Each batch of rows is checked (``storage.import_parse``),
matched against stored leads with chunked set lookups (``storage.import_match``), and written set-based in
one transaction, leads and their consent records together.
Rejected rows go to ``<name>.rejects.csv`` with their line and reason.
"""

from __future__ import annotations

import csv
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Connection, Engine

from nurture.products import Product
from nurture.roster import licensed_states
from nurture.states import Stage
from storage.assignment import Roster
from storage.db import first_line
from storage.import_csv import COLUMNS, ImportFileError, RejectsFile, count_rows, header_columns, header_key, records
from storage.import_match import KEYS, LOOKUP_CHUNK, Index, lookup
from storage.import_parse import LEAD_FIELDS, ConsentRecord, Row, RowError, RowParser
from storage.locks import lock_leads
from storage.models import Consent, Lead, LoanOfficer, table

__all__ = [
    "COLUMNS",
    "ImportFileError",
    "ImportInterrupted",
    "ImportSummary",
    "count_rows",
    "header_key",
    "import_leads",
]

MAX_ERRORS = 1000

_lead = table(Lead)
_officer = table(LoanOfficer)
_consent = table(Consent)
_CONSENT_KEY = ("lead_id", "phone", "seller", "consented_at")  # the table's unique constraint
# Columns an update rewrites: the imported facts, never stage, officer, cadence or created_at.
_UPDATED = (*LEAD_FIELDS, "phone_ok", "updated_at")
_UPDATE = sa.update(_lead).where(_lead.c.id == sa.bindparam("lead_id")).values({c: sa.bindparam(c) for c in _UPDATED})
_NEXT_IDS = sa.text("SELECT nextval(pg_get_serial_sequence('lead', 'id')) FROM generate_series(1, :n)")
_CONSENT_FIELDS = ("lead_id", "phone", "seller", "disclosure", "source", "consented_at")
# PostgreSQL: one statement per batch from column arrays (an executemany costs ~0.1 ms a row in psycopg).
_PG_CONSENTS = sa.text(
    "INSERT INTO consent (lead_id, phone, seller, disclosure, source, consented_at, recorded_at, recorded_by) "
    "SELECT *, :recorded_at, :recorded_by FROM unnest(CAST(:lead_id AS integer[]), CAST(:phone AS text[]), "
    "CAST(:seller AS text[]), CAST(:disclosure AS text[]), CAST(:source AS text[]), "
    "CAST(:consented_at AS timestamptz[])) ON CONFLICT ON CONSTRAINT uq_consent_record DO NOTHING"
)


@dataclass
class ImportSummary:
    total: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    unassigned: int = 0  # new leads left in the unassigned queue (sum of ``unassigned_by_state``)
    # new leads nobody licensed in their state had room for, by state ("" for leads without a state)
    unassigned_by_state: dict[str, int] = field(default_factory=dict)
    consents: int = 0  # consent records added (a re-imported one is not counted again)
    rejects_path: Path | None = None
    errors: list[str] = field(default_factory=list)  # the first MAX_ERRORS "line N: field: reason"
    done_through: int = 1  # the last line of the file whose row is imported, unchanged or rejected for good


class ImportInterrupted(RuntimeError):
    """The import stopped part way (the database went away, Ctrl-C, a full disk).

    Batches commit in file order, so lines 2 to ``summary.done_through`` are in and nothing from line ``stopped_at``
    on is, except when the failure came while committing the batch in flight (``in_doubt``): that batch, up to line
    ``in_doubt_through``, may be in or not. Either way running the same import again finishes it, since a row
    already imported is recognised as unchanged.
    """

    def __init__(self, summary: ImportSummary, *, stopped_at: int, in_doubt_through: int | None, cause: str):
        self.summary, self.stopped_at, self.in_doubt_through = summary, stopped_at, in_doubt_through
        self.cause = cause
        done = summary.done_through
        if done > 1:
            state = f"lines 2-{done:,} are imported ({summary.created:,} new, {summary.updated:,} updated)"
        else:
            state = "no row is imported"
        if in_doubt_through is not None:
            state += (f"; lines {stopped_at:,}-{in_doubt_through:,} may be (it failed while committing them), "
                      f"nothing after line {in_doubt_through:,} is")  # fmt: skip
        else:
            state += f"; nothing from line {stopped_at:,} on is"
        super().__init__(
            f"stopped at line {stopped_at:,}: {cause}\n{state}. Run the same import again to finish: "
            "rows already imported are recognised and left unchanged"
        )

    @property
    def in_doubt(self) -> bool:
        return self.in_doubt_through is not None


class _Import:
    def __init__(self, *, engine: Engine, path: Path, header: list[str], now: datetime,
                 default_product: Product | None) -> None:  # fmt: skip
        self.engine, self.now = engine, now
        self.summary = ImportSummary()
        self.rejects = RejectsFile(path, header)
        self.seen = array("I")  # lead id -> the line of this file that created or matched it
        self.committing = False  # the batch in flight is being committed
        with engine.connect() as conn:
            roster = conn.execute(sa.select(_officer.c.id, _officer.c.email, _officer.c.active,
                                            _officer.c.licensed_states)).all()  # fmt: skip
            self.roster = Roster.load(conn, now=now)
        officers = {r.email: (r.id, r.active) for r in roster}
        self.licensed = {r.id: (r.email, licensed_states(r.licensed_states)) for r in roster}
        self.parser = RowParser(now=now, default_product=default_product, officers=officers)

    def reject(self, line: int, fields: list[str], reason: str) -> None:
        self.summary.rejected += 1
        if len(self.summary.errors) < MAX_ERRORS:
            self.summary.errors.append(f"line {line}: {reason}")
        self.rejects.write(line, fields, reason)

    def close(self) -> None:
        self.summary.rejects_path = self.rejects.close()

    def _mark(self, lead_id: int, line: int) -> None:
        if lead_id >= len(self.seen):
            self.seen.frombytes(bytes(self.seen.itemsize * (lead_id + 1024 - len(self.seen))))
        self.seen[lead_id] = line

    def flush(self, rows: list[Row], through: int) -> None:
        """Write one batch in one transaction (a row is rejected before anything of it is written); then every
        line up to ``through`` is done."""
        self.committing = False
        if not rows:
            self.summary.done_through = through
            return
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # psycopg prepares repeated lookups; a generic plan chosen while the table was
                # small would scan it whole for the rest of a large import.
                conn.execute(sa.text("SET LOCAL plan_cache_mode = force_custom_plan"))
            creates, updates, consents = self._plan(rows, lookup(conn, rows))
            if creates:
                for lead_id, row in zip(_insert(conn, [r.values for r in creates]), creates, strict=True):
                    self._mark(lead_id, row.line)
                    row.lead_id = lead_id
            if updates:  # lead rows in ascending id, the one lock order (storage/locks.py): a STOP may be waiting
                lock_leads(conn, [u["lead_id"] for u in updates])
                conn.execute(_UPDATE, sorted(updates, key=lambda u: u["lead_id"]))
            records = [_consent_record(r, p) for r, p in consents]
            updated = {u["lead_id"] for u in updates}
            self.summary.consents += _insert_consents(conn, records, updated=updated, recorded_at=self.now)
            self.committing = True  # leaving the block commits: a failure from here on leaves the batch in doubt
        self.committing = False
        self.summary.created += len(creates)
        self.summary.updated += len(updates)
        self.summary.done_through = through

    def _plan(
        self, rows: list[Row], stored: dict[int, sa.Row[Any]]
    ) -> tuple[list[Row], list[dict[str, Any]], list[tuple[Row, str]]]:
        """Match each row and decide: the leads to create, the updates, and (row, phone) of each consent.

        Rejects rows that repeat an earlier row's lead or whose consent covers no phone of the lead.
        """
        index = Index()
        for lead in sorted(stored.values(), key=lambda r: r.id):
            index.add(lead.id, lead._mapping)
        creates: list[Row] = []
        updates: list[dict[str, Any]] = []
        consents: list[tuple[Row, str]] = []
        for row in rows:
            matched: int | None = None
            if hit := index.find(row.values):
                target, on = hit
                if isinstance(target, Row) or (target < len(self.seen) and self.seen[target]):
                    earlier = target.line if isinstance(target, Row) else self.seen[target]
                    self.reject(row.line, row.fields, f"{on}: {row.values[on]} is also on line {earlier}")
                    continue
                lead = stored[target]
                if lead.row_digest == row.values["row_digest"]:  # its consent was written with it
                    self._mark(target, row.line)
                    self.summary.unchanged += 1
                    index.add(target, row.values)
                    continue
                matched, change = target, self._update(row.values, lead)
                phones = (change["phone"], change["alt_phone"])
            else:
                phones = (row.values["phone"], row.values["alt_phone"])
                if problem := self._unlicensed(row):
                    self.reject(row.line, row.fields, problem)
                    continue
            if row.consent is not None:
                phone, problem = _consent_phone(row.consent, phones)
                if problem:
                    self.reject(row.line, row.fields, problem)
                    continue
                consents.append((row, phone))
            if matched is not None:
                self._mark(matched, row.line)
                row.lead_id = matched
                updates.append(change)
                index.add(matched, row.values)
            else:
                row.values.update(self._new_lead_fields(row.officer_id, row.values["address_state"]))
                creates.append(row)
                index.add(row, row.values)
        return creates, updates, consents

    def _unlicensed(self, row: Row) -> str | None:
        """Why the officer a new lead's row names may not take it: not licensed in its state (or it has none)."""
        if row.officer_id is None:
            return None
        email, states = self.licensed[row.officer_id]
        state = row.values["address_state"]
        if state in states:
            return None
        where = f"in {state}" if state else "for a lead without an address_state"
        return f"loan_officer_email: {email} is not licensed {where} ('dripline officers set {email} --states')"

    def _new_lead_fields(self, officer_id: int | None, state: str | None) -> dict[str, Any]:
        """A new lead's officer: the one its row names (licensed there: ``_unlicensed``), else the roster's pick
        for its state, else the unassigned queue."""
        if officer_id is not None:
            self.roster.took(officer_id)
        else:
            officer_id = self.roster.pick(state)
            if officer_id is None:
                self.summary.unassigned += 1
                by_state = self.summary.unassigned_by_state
                by_state[state or ""] = by_state.get(state or "", 0) + 1
        return {"loan_officer_id": officer_id, "stage": Stage.NEW_LEAD, "phone_ok": True,
                "created_at": self.now, "updated_at": self.now}  # fmt: skip

    def _update(self, values: dict[str, Any], lead: sa.Row[Any]) -> dict[str, Any]:
        """The row's facts, merged with what the row cannot know.

        A key the row leaves blank keeps its stored value, but the second phone never
        repeats the first (a row whose phone is the stored second number swaps them).
        While the phone stays the same, a scrub result the row does not bring (or an
        older one) keeps the stored one; a new number drops it and gets a fresh try
        (``phone_ok``).
        """
        changed = dict(values, lead_id=lead.id, updated_at=self.now)
        changed.update({key: values[key] or getattr(lead, key) for key in KEYS})
        phone = changed["phone"]
        changed["alt_phone"] = next((p for p in (values["alt_phone"], lead.alt_phone) if p and p != phone), None)
        if changed["alt_phone"] is None and phone == lead.alt_phone:  # the two numbers swapped places
            changed["alt_phone"] = lead.phone
        same_number = phone == lead.phone
        changed["phone_ok"] = lead.phone_ok or not same_number
        scrubbed: date | None = values["dnc_scrubbed_on"]
        if same_number and lead.dnc_scrubbed_on and (scrubbed is None or scrubbed < lead.dnc_scrubbed_on):
            changed.update(dnc_listed=lead.dnc_listed, dnc_scrubbed_on=lead.dnc_scrubbed_on)
        return changed


def _consent_phone(consent: ConsentRecord, phones: tuple[str | None, str | None]) -> tuple[str, str | None]:
    """The number a consent covers (the lead's phone unless the row names one), or a reason to reject."""
    phone = consent.phone or phones[0]
    if phone is None:
        return "", "consent_phone: the lead has no phone number for the consent to cover"
    if phone not in phones:
        numbers = " or ".join(p for p in phones if p)
        return phone, f"consent_phone: {phone} is not one of the lead's phones ({numbers})"
    return phone, None


def _insert(conn: Connection, rows: list[dict[str, Any]]) -> list[int]:
    """Insert new leads and return their ids, in order.

    PostgreSQL: ids from the sequence, then a plain pipelined executemany (a
    many-row INSERT .. RETURNING costs more in psycopg's query parsing than the
    insert). SQLite: unordered RETURNING, paired back by digest, which no two
    new rows of a batch share.
    """
    if conn.dialect.name == "postgresql":
        ids = list(conn.execute(_NEXT_IDS, {"n": len(rows)}).scalars())
        conn.execute(sa.insert(_lead), [dict(r, id=i) for r, i in zip(rows, ids, strict=True)])
        return ids
    returned = conn.execute(sa.insert(_lead).returning(_lead.c.row_digest, _lead.c.id), rows)
    by_digest = {digest: lead_id for digest, lead_id in returned}
    return [by_digest[r["row_digest"]] for r in rows]


def _consent_record(row: Row, phone: str) -> dict[str, Any]:
    c = row.consent
    assert c is not None and row.lead_id is not None
    return {"lead_id": row.lead_id, "phone": phone, "seller": c.seller, "disclosure": c.disclosure,
            "source": c.source, "consented_at": c.consented_at}  # fmt: skip


def _insert_consents(conn: Connection, rows: list[dict[str, Any]], *, updated: set[int], recorded_at: datetime) -> int:
    """Append the consent records not already stored (same lead, phone, seller and time); returns how many.

    Only leads updated in this batch can hold some already. The table is append-only: nothing here updates or
    deletes, and a record another writer adds meanwhile is skipped, not doubled.
    """
    key = [_consent.c[c] for c in _CONSENT_KEY]
    ids = sorted({r["lead_id"] for r in rows} & updated)
    stored: set[tuple[Any, ...]] = set()
    for start in range(0, len(ids), LOOKUP_CHUNK):
        query = sa.select(*key).where(_consent.c.lead_id.in_(ids[start : start + LOOKUP_CHUNK]))
        stored.update(tuple(r) for r in conn.execute(query))
    new = [r for r in rows if tuple(r[c] for c in _CONSENT_KEY) not in stored]
    if not new:
        return 0
    if conn.dialect.name == "postgresql":
        columns = {f: [r[f] for r in new] for f in _CONSENT_FIELDS}
        conn.execute(_PG_CONSENTS, columns | {"recorded_at": recorded_at, "recorded_by": "import"})
    else:
        insert = sqlite.insert(_consent).on_conflict_do_nothing(index_elements=_CONSENT_KEY)
        conn.execute(insert, [dict(r, recorded_at=recorded_at, recorded_by="import") for r in new])
    return len(new)


def _cause(exc: BaseException) -> str:
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    if isinstance(exc, sa.exc.DBAPIError):
        return f"database: {first_line(exc.orig)}"
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.filename or 'file'}: {exc.strerror}"
    return f"{type(exc).__name__}: {first_line(exc)}"


def import_leads(
    *, engine: Engine, path: Path, now: datetime, default_product: Product | None = None,
    progress: Callable[[int, int], None] | None = None, batch_size: int = 5000,
) -> ImportSummary:  # fmt: skip
    """Import the lead CSV at ``path`` as of ``now`` (created_at / updated_at; product seasoning).

    ``default_product`` fills a blank product column before matching would.
    ``progress(done, total)`` is called after each batch; ``total`` starts as a
    line count estimate. Raises :class:`ImportFileError`, writing nothing, when
    the header is wrong or the file is not UTF-8 text, and :class:`ImportInterrupted`,
    saying which lines are in, when anything stops it part way.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    estimate = count_rows(path)  # also refuses a file that is not UTF-8 text before anything is written
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        try:
            header = next(reader, None)
        except csv.Error as exc:
            raise ImportFileError(f"line 1: the header cannot be read as CSV ({exc})") from None
        columns = header_columns(header)
        job = _Import(engine=engine, path=path, header=header or [], now=now, default_product=default_product)
        batch: list[Row] = []
        try:
            for line, fields, problem in records(reader):
                job.summary.total += 1
                if fields is None:
                    job.reject(line, [], problem)
                    continue
                try:
                    batch.append(job.parser.parse(line, fields, columns))
                except RowError as exc:
                    job.reject(line, fields, str(exc))
                if len(batch) >= batch_size:
                    job.flush(batch, reader.line_num)
                    batch = []
                    if progress:
                        progress(job.summary.total, max(estimate, job.summary.total))
            job.flush(batch, reader.line_num)
        except (Exception, KeyboardInterrupt) as exc:
            doubt = reader.line_num if job.committing else None
            raise ImportInterrupted(job.summary, stopped_at=job.summary.done_through + 1, in_doubt_through=doubt,
                                    cause=_cause(exc)) from exc  # fmt: skip
        finally:
            job.close()
    if progress:
        progress(job.summary.total, job.summary.total)
    return job.summary
