"""Property: whatever the officers' zones and quiet hours, whenever tasks fall due and the alerts run, no alert
is sent inside its officer's quiet hours, none twice, and at most one digest goes per officer, channel and hour.
Time travels by an injected clock: every run is given its ``now``."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from nurture.alerts import hour_window
from service.alerts import run_alerts
from storage.models import CallTask, OfficerAlert, table
from tests.factories import NOW, clear_database
from tests.service.alert_support import add_officer, add_task, alert_pipeline

DAYS = 2
ZONES = ["America/New_York", "America/Los_Angeles", "America/Phoenix", "Pacific/Honolulu", "Asia/Kolkata"]
KINDS = {
    "reply": "{n}:reply:x",
    "handoff": "{n}:handoff:x",
    "cadence": "{n}:aged-nonqm:v1:d0-call:call",
    "reengage": "{n}:reengage:v1@2026-03-02:d0-call:call",
}

officer_strategy = st.fixed_dictionaries(
    {
        "timezone": st.sampled_from(ZONES),
        "quiet_start": st.integers(0, 95).map(lambda q: q * 15),
        "quiet_end": st.integers(0, 95).map(lambda q: q * 15),
        "alert_sms": st.booleans(),
        "alert_email": st.booleans(),
    }
)
task_strategy = st.tuples(
    st.integers(0, 2),  # whose (modulo the officers)
    st.sampled_from(sorted(KINDS)),
    st.integers(0, DAYS * 24 * 60),  # due, minutes after the start
    st.none() | st.integers(0, 6 * 60),  # worked this many minutes after it fell due
)


def inside_quiet_hours(at: datetime, zone: str, start: int, end: int) -> bool:
    local = at.astimezone(ZoneInfo(zone))
    minute = local.hour * 60 + local.minute
    if start == end:
        return False
    return start <= minute < end if start < end else (minute >= start or minute < end)


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    officers=st.lists(officer_strategy, min_size=1, max_size=3),
    tasks=st.lists(task_strategy, min_size=1, max_size=8),
    gaps=st.lists(st.integers(10, 4 * 60), min_size=1, max_size=5),
)
def test_no_alert_goes_inside_quiet_hours_none_twice_and_one_digest_an_hour(
    engine: Engine, officers: list[dict], tasks: list[tuple], gaps: list[int]
) -> None:
    clear_database(engine)
    ids = [add_officer(engine, n, **spec) for n, spec in enumerate(officers)]
    worked: list[tuple[datetime, int]] = []
    for n, (whose, kind, minute, after) in enumerate(tasks):
        due = NOW + timedelta(minutes=minute)
        task_id = add_task(
            engine,
            officer=ids[whose % len(ids)],
            kind="cadence" if kind == "reengage" else kind,
            key=KINDS[kind].format(n=n),
            due_at=due,
            first_name=f"B{n}",
        )
        if after is not None:
            worked.append((due + timedelta(minutes=after), task_id))
    p, sender = alert_pipeline(engine)

    now, i = NOW, 0
    while now <= NOW + timedelta(days=DAYS + 1):
        for at, task_id in [w for w in worked if w[0] <= now]:
            worked.remove((at, task_id))
            with engine.begin() as conn:
                conn.execute(table(CallTask).update().where(table(CallTask).c.id == task_id).values(status="done"))
        run_alerts(p, now=now)
        now += timedelta(minutes=gaps[i % len(gaps)])
        i += 1

    keys = sender.sent_keys()
    assert len(keys) == len(set(keys)), "an alert sent twice"
    alert = table(OfficerAlert)
    with engine.connect() as conn:
        sent = conn.execute(
            sa.select(alert.c.key, alert.c.kind, alert.c.channel, alert.c.loan_officer_id, alert.c.sent_at).where(
                alert.c.status == "sent"
            )
        ).all()
        open_tasks = conn.execute(
            sa.select(sa.func.count()).where(table(CallTask).c.status == "open", table(CallTask).c.alerted_at.is_(None))
        ).scalar_one()
    assert sorted(keys) == sorted(r.key for r in sent)
    by_id = dict(zip(ids, officers, strict=True))
    for r in sent:
        spec = by_id[r.loan_officer_id]
        assert not inside_quiet_hours(
            r.sent_at.astimezone(UTC), spec["timezone"], spec["quiet_start"], spec["quiet_end"]
        ), f"{r.key} went at {r.sent_at} inside quiet hours"
    digests = Counter((r.loan_officer_id, r.channel, hour_window(r.sent_at)) for r in sent if r.kind == "digest")
    assert max(digests.values(), default=1) == 1, "two digests in one hour"
    assert open_tasks == 0, "every open task that fell due was alerted"
