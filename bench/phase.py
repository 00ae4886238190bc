"""One measured phase in a fresh process, so its peak RSS is its own: ``tick`` or ``floor``.

python -m bench.phase tick|floor DATABASE_URL BATCH_SIZE
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
from storage.models import CadencePosition, Touch
from storage.sql import for_update, insert_ignore

_pos = CadencePosition.__table__
_touch = Touch.__table__


def run_tick(url: str, batch: int) -> dict[str, float]:
    from channels.local import LocalOutbox
    from dripline.pipeline import Pipeline, tick
    from dripline.settings import Settings
    from storage.cadences import register_cadence

    engine = make_engine(url)
    registry = register_cadence(engine=engine, cadence=cadence(), now=NOW)
    p = Pipeline(Settings(database_url=url), engine, registry, LocalOutbox(Path(tempfile.mkdtemp())))
    started = time.perf_counter()
    stats = tick(p, now=NOW, batch_size=batch)
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


def main() -> None:
    phase, url, batch = sys.argv[1], sys.argv[2], int(sys.argv[3])
    result = (run_tick if phase == "tick" else run_floor)(url, batch)
    result["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


if __name__ == "__main__":
    main()
