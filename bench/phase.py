"""One measured phase in a fresh process, so its peak RSS is its own.

python -m bench.phase tick|floor|rescore|rescore-floor DATABASE_URL BATCH_SIZE

``tick`` and ``floor``: one cadence tick and its plain-SQL floor. ``rescore`` and ``rescore-floor``:
re-scoring the lead table after a lender lowered its minimum FICO (the guideline-rescore flow's work,
range by range) and the floor for it: the same leads picked by a hand-written predicate, their
re-engagement rows inserted, positions moved and history written by plain batched SQL.
"""

from __future__ import annotations

import json
import resource
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from bench.seed import NOW, cadence
from storage.db import make_engine
from storage.models import CadencePosition, GuidelineSnapshot, Lead, LeadHistory, Reengagement, Touch
from storage.sql import for_update, insert_ignore

_pos = CadencePosition.__table__
_touch = Touch.__table__
_snap = GuidelineSnapshot.__table__


def run_tick(url: str, batch: int) -> dict[str, float]:
    from channels.local import LocalOutbox
    from service.pipeline import Pipeline, tick
    from service.settings import Settings
    from storage.cadences import register_cadence

    engine = make_engine(url)
    registry = register_cadence(engine=engine, cadence=cadence(), now=NOW)
    p = Pipeline(Settings(database_url=url), engine, registry, LocalOutbox(Path(tempfile.mkdtemp())))
    started = time.perf_counter()
    stats = tick(p, now=NOW, batch_size=batch).plan  # the function the cadence-tick flow runs
    return {"seconds": time.perf_counter() - started, "leads": stats.leads, "rows": stats.touches + stats.tasks}


def run_floor(url: str, batch: int) -> dict[str, float]:
    """The same rows written with no domain logic: claim due ids, insert one touch each, move the position."""
    engine = make_engine(url)
    leads = rows = 0
    started = time.perf_counter()
    while True:
        with engine.begin() as conn:
            query = (
                sa.select(_pos.c.lead_id)
                .where(_pos.c.status.in_(["active", "nurturing"]), _pos.c.next_due_at <= NOW)
                .order_by(_pos.c.next_due_at, _pos.c.lead_id)
                .limit(batch)
            )
            ids = [r[0] for r in conn.execute(for_update(query, conn, of=_pos))]
            if not ids:
                break
            touches = [
                {
                    "key": f"{i}:floor",
                    "lead_id": i,
                    "step_id": "floor",
                    "channel": "email",
                    "template": "floor",
                    "scheduled_for": NOW,
                    "not_after": NOW + timedelta(hours=1),
                    "status": "planned",
                    "reason": "",
                    "attempts": 0,
                    "created_at": NOW,
                    "updated_at": NOW,
                }
                for i in ids
            ]
            rows += insert_ignore(conn, _touch, touches, "key")
            conn.execute(
                _pos.update()
                .where(_pos.c.lead_id == sa.bindparam("b_id"))
                .values(
                    step_index=sa.bindparam("b_step"),
                    repeat=0,
                    status="active",
                    next_due_at=sa.bindparam("b_due"),
                    updated_at=NOW,
                ),
                [{"b_id": i, "b_step": 1, "b_due": NOW + timedelta(days=1)} for i in ids],
            )
            leads += len(ids)
    return {"seconds": time.perf_counter() - started, "leads": leads, "rows": rows}


TOUCH_COLUMNS = ("key", "lead_id", "step_id", "channel", "template", "scheduled_for", "not_after", "status", "reason",
                 "attempts", "decisions", "created_at", "updated_at")  # fmt: skip
# About as long as the decision log the gate writes on a planned touch, so the floor writes as many bytes.
FLOOR_DECISIONS = '{"at":"2026-03-02T13:00:00+00:00","decision":"allow","rules":["consent","opt_out","window","caps"]}'


def run_lean_floor(url: str, batch: int) -> dict[str, float]:
    """The fastest plain way to write the tick's rows on this schema: one select of every due lead id, then per
    ``batch`` ids the touch rows and the position moves, through the raw driver. SQLite: ``executemany`` in one
    streaming pass, a commit per batch. PostgreSQL: ``COPY ... FROM STDIN`` for the touches and one
    ``UPDATE ... FROM unnest(...)`` for the positions, a commit per batch."""
    engine = make_engine(url)
    pg = engine.dialect.name == "postgresql"
    due, later, until = (NOW, NOW + timedelta(days=1), NOW + timedelta(hours=1))
    if not pg:  # SQLite keeps naive UTC text, as storage.types.UTCDateTime writes it
        due, later, until = (
            t.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds") for t in (due, later, until)
        )
    raw = engine.raw_connection()
    leads = rows = 0
    started = time.perf_counter()
    try:
        cur = raw.cursor()
        mark = "%s" if pg else "?"
        cur.execute(
            "SELECT lead_id FROM cadence_position WHERE status IN ('active', 'nurturing') "
            f"AND next_due_at <= {mark} ORDER BY next_due_at, lead_id",
            (due,),
        )
        every = [r[0] for r in cur.fetchall()]
        raw.commit()
        for at in range(0, len(every), batch):
            ids = every[at : at + batch]
            touches = [(f"{i}:floor", i, "floor", "email", "floor", due, until, "planned", "", 0, FLOOR_DECISIONS,
                        due, due) for i in ids]  # fmt: skip
            if pg:
                with cur.copy(f"COPY touch ({', '.join(TOUCH_COLUMNS)}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                    for row in touches:
                        copy.write_row(row)
                cur.execute(
                    "UPDATE cadence_position AS p SET step_index = 1, repeat = 0, status = 'active', "
                    "next_due_at = %s, updated_at = %s FROM unnest(%s::int[]) AS u(id) WHERE p.lead_id = u.id",
                    (later, due, ids),
                )
            else:
                cur.executemany(
                    f"INSERT OR IGNORE INTO touch ({', '.join(TOUCH_COLUMNS)}) "
                    f"VALUES ({', '.join('?' * len(TOUCH_COLUMNS))})",
                    touches,
                )
                cur.executemany(
                    "UPDATE cadence_position SET step_index = 1, repeat = 0, status = 'active', next_due_at = ?, "
                    "updated_at = ? WHERE lead_id = ?",
                    [(later, due, i) for i in ids],
                )
            raw.commit()
            leads += len(ids)
            rows += len(touches)
    finally:
        raw.close()
    return {"seconds": time.perf_counter() - started, "leads": leads, "rows": rows}


def run_rescore(url: str, batch: int) -> dict[str, float]:
    from channels.local import LocalOutbox
    from nurture.cadence import load_cadence
    from service.pipeline import Pipeline
    from service.rescore import rescore_snapshots
    from service.settings import Settings, shipped
    from storage.cadences import register_cadence

    engine = make_engine(url)
    reengage = load_cadence((shipped("cadences") / "reengage.yaml").read_text())
    registry = register_cadence(engine=engine, cadence=cadence(), now=NOW, others=(reengage,))
    snapshot = newest_snapshot(url)
    settings = Settings(database_url=url, batch_size=batch)
    p = Pipeline(settings, engine, registry, LocalOutbox(Path(tempfile.mkdtemp())))
    started = time.perf_counter()
    stats = rescore_snapshots(p, [snapshot], now=NOW)  # what the guideline-rescore flow runs, range by range
    if stats.mismatched:
        raise SystemExit(f"SQL and Python disagreed on {stats.mismatched} leads")
    return {"seconds": time.perf_counter() - started, "leads": stats.reengaged, "rows": stats.reengaged}


def run_rescore_flow(url: str, batch: int) -> dict[str, float]:
    """The ``guideline-rescore`` flow end to end, as its deployment runs it: a Prefect flow run against a local
    Prefect server (started, and up, before the clock starts: a deployment's server is already running), one
    task per id range, then the seasoning re-date pass, the run's artifact and its log lines."""
    import os

    from flows.local_server import running

    snapshot = newest_snapshot(url)
    with running() as server:
        os.environ |= {"PREFECT_API_URL": server.url, "DRIPLINE_DATABASE_URL": url, "DRIPLINE_BATCH_SIZE": str(batch),
                       "DRIPLINE_OUTBOX_DIR": tempfile.mkdtemp()}  # fmt: skip
        from flows.rescore import rescore_flow

        started = time.perf_counter()
        result = rescore_flow(snapshot_id=snapshot, at=NOW)
        seconds = time.perf_counter() - started
    if result["mismatched"]:
        raise SystemExit(f"SQL and Python disagreed on {result['mismatched']} leads")
    return {"seconds": seconds, "leads": result["reengaged"], "rows": result["reengaged"],
            "seasoning_dated": result["scheduled"]}  # fmt: skip


def newest_snapshot(url: str) -> int:
    """The newest guideline snapshot's id (the loosening the bench loaded)."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.max(_snap.c.id))).scalar_one())
    finally:
        engine.dispose()


def run_rescore_floor(url: str, batch: int) -> dict[str, float]:
    engine = make_engine(url)
    lead, history, again = Lead.__table__, LeadHistory.__table__, Reengagement.__table__
    leads = 0
    started = time.perf_counter()
    query = (
        sa.select(lead.c.id, _pos.c.status)
        .join(_pos, _pos.c.lead_id == lead.c.id)
        .where(
            lead.c.stage.in_(["new_lead", "nurture"]),
            _pos.c.status.in_(["nurturing", "completed"]),
            lead.c.product == "bank_statement",
            lead.c.fico >= 600,
            lead.c.fico < 640,
            lead.c.address_state.in_(["FL", "GA", "TX"]),
            lead.c.loan_amount >= 125_000,
        )
        .order_by(lead.c.id)
    )
    why = "lowered its minimum credit score from 640 to 600 for bank statement loans"
    with engine.connect() as reader:
        for rows in reader.execution_options(yield_per=batch).execute(query).partitions(batch):
            with engine.begin() as conn:
                conn.execute(again.insert(), [_reengagement(r.id, why) for r in rows])
                conn.execute(
                    _pos.update()
                    .where(_pos.c.lead_id == sa.bindparam("b_id"))
                    .values(
                        cadence_name="reengage",
                        cadence_version=1,
                        step_index=0,
                        repeat=0,
                        status="active",
                        next_due_at=NOW,
                        reason=why,
                        enrolled_at=NOW,
                        updated_at=NOW,
                    ),
                    [{"b_id": r.id} for r in rows],
                )
                conn.execute(history.insert(), [_history(r.id, r.status, why) for r in rows])
            leads += len(rows)
    return {"seconds": time.perf_counter() - started, "leads": leads, "rows": leads}


def run_rescore_lean_floor(url: str, batch: int) -> dict[str, float]:
    """The re-score's rows by the fastest plain SQL: the same leads by the hand-written predicate in one select,
    then per ``batch`` ids the re-engagement and history rows (PostgreSQL: ``COPY``; SQLite: raw ``executemany``)
    and the position moved onto the re-engagement cadence, keeping where it stood in the home columns (PostgreSQL:
    one ``UPDATE ... FROM unnest(...)``)."""
    engine = make_engine(url)
    pg = engine.dialect.name == "postgresql"
    now: object = NOW if pg else NOW.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    why = "lowered its minimum credit score from 640 to 600 for bank statement loans"
    mark = "%s" if pg else "?"
    raw = engine.raw_connection()
    leads = 0
    started = time.perf_counter()
    try:
        cur = raw.cursor()
        cur.execute(
            "SELECT l.id, p.status FROM lead AS l JOIN cadence_position AS p ON p.lead_id = l.id "
            "WHERE l.stage IN ('new_lead', 'nurture') AND p.status IN ('nurturing', 'completed') "
            "AND l.product = 'bank_statement' AND l.fico >= 600 AND l.fico < 640 "
            "AND l.address_state IN ('FL', 'GA', 'TX') AND l.loan_amount >= 125000 ORDER BY l.id"
        )
        found = cur.fetchall()
        raw.commit()
        again_cols = "lead_id, change_key, lender, program, reason, status, score, created_at"
        hist_cols = "lead_id, at, event, stage_from, stage_to, cadence_from, cadence_to, reason, actor"
        move = (
            "cadence_name = 'reengage', cadence_version = 1, step_index = 0, repeat = 0, status = 'active', "
            f"next_due_at = {mark}, reason = {mark}, enrolled_at = {mark}, updated_at = {mark}, "
            "home_cadence_name = cadence_name, home_cadence_version = cadence_version, "
            "home_anchor_date = anchor_date, home_enrolled_at = enrolled_at, home_step_index = step_index, "
            "home_repeat = repeat"
        )
        for at in range(0, len(found), batch):
            part = found[at : at + batch]
            again = [(i, "floor", "Harbor Capital", "bank_statement", why, "enrolled", 0.0, now) for i, _ in part]
            hist = [(i, now, "reengage", "nurture", "nurture", status, "active", why, "floor") for i, status in part]
            if pg:
                for table, cols, rows in (("reengagement", again_cols, again), ("lead_history", hist_cols, hist)):
                    with cur.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                        for row in rows:
                            copy.write_row(row)
                cur.execute(
                    f"UPDATE cadence_position AS p SET {move} FROM unnest(%s::int[]) AS u(id) WHERE p.lead_id = u.id",
                    (now, why, now, now, [i for i, _ in part]),
                )
            else:
                cur.executemany(f"INSERT INTO reengagement ({again_cols}) VALUES ({', '.join('?' * 8)})", again)
                cur.executemany(f"INSERT INTO lead_history ({hist_cols}) VALUES ({', '.join('?' * 9)})", hist)
                cur.executemany(
                    f"UPDATE cadence_position SET {move} WHERE lead_id = ?", [(now, why, now, now, i) for i, _ in part]
                )
            raw.commit()
            leads += len(part)
    finally:
        raw.close()
    return {"seconds": time.perf_counter() - started, "leads": leads, "rows": leads}


def _reengagement(lead_id: int, why: str) -> dict[str, object]:
    return {
        "lead_id": lead_id,
        "change_key": "floor",
        "lender": "Harbor Capital",
        "program": "bank_statement",
        "reason": why,
        "status": "enrolled",
        "score": 0.0,
        "created_at": NOW,
    }


def _history(lead_id: int, status: str, why: str) -> dict[str, object]:
    return {
        "lead_id": lead_id,
        "at": NOW,
        "event": "reengage",
        "stage_from": "nurture",
        "stage_to": "nurture",
        "cadence_from": status,
        "cadence_to": "active",
        "reason": why,
        "actor": "floor",
    }


PHASES = {
    "tick": run_tick,
    "floor": run_floor,
    "lean-floor": run_lean_floor,
    "rescore": run_rescore,
    "rescore-floor": run_rescore_floor,
    "rescore-flow": run_rescore_flow,
    "rescore-lean-floor": run_rescore_lean_floor,
}


def peak_rss_mb() -> float:
    """This process's own peak resident set, MB. Linux keeps ``ru_maxrss`` across fork and exec, so a phase started
    by a big parent (the test suite) would report the parent's peak; ``VmHWM`` belongs to the program's own
    memory and starts afresh at exec. ``ru_maxrss`` elsewhere."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    phase, url, batch = sys.argv[1], sys.argv[2], int(sys.argv[3])
    result = PHASES[phase](url, batch)
    result["max_rss_mb"] = peak_rss_mb()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
