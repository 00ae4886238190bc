"""The officers' outbox as a ledger: planned once by key, claimed by one worker, its send begun once, its
result written only by the worker holding it, leases that run out settled (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from nurture.actions import TouchStatus
from storage.alert_plans import plan_alerts
from storage.alerts import (
    AlertResult,
    Began,
    begin_alert_send,
    claim_alerts,
    expire_alert_leases,
    list_alerts,
    record_alert_results,
)
from storage.models import SignInLink, table
from tests.factories import NOW
from tests.service.alert_support import BASE, add_officer, add_task, alerts

HALF_HOUR = timedelta(minutes=30)


def _plan(engine: Engine, at=NOW):
    return plan_alerts(engine, now=at, reminder_after=HALF_HOUR)


def _begin(engine: Engine, alert, worker: str, at=NOW):
    return begin_alert_send(engine, alert=alert, worker=worker, now=at, base_url=BASE, brand="Acme")


def _links(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table(SignInLink))).scalar_one())


def test_planning_twice_plans_each_alert_once(engine: Engine) -> None:
    officer = add_officer(engine)
    reply = add_task(engine, officer=officer)
    add_task(engine, officer=officer, kind="cadence", key="5:aged-nonqm:v1:d0-call:call")
    first = _plan(engine)
    with engine.begin() as conn:  # as if a planner had read the task before the first one stamped it
        conn.execute(sa.text("UPDATE call_task SET alerted_at = NULL"))
    second = _plan(engine)
    assert (first.due, first.digests, first.tasks) == (2, 2, 2)
    assert (second.due, second.digests) == (0, 0), "the same keys: nothing new"
    keys = [a.key for a in alerts(engine)]
    assert sorted(keys) == sorted(
        [f"task:{reply}:due:{officer}:sms", f"task:{reply}:due:{officer}:email", f"digest:{officer}:2026-03-02T13:sms",
         f"digest:{officer}:2026-03-02T13:email"]
    )  # fmt: skip


def test_a_claimed_alert_is_one_workers_and_its_send_begins_once(engine: Engine) -> None:
    add_task(engine, officer=add_officer(engine, alert_email=False))
    _plan(engine)
    [mine] = claim_alerts(engine, now=NOW, limit=10, worker="a").alerts
    assert claim_alerts(engine, now=NOW, limit=10, worker="b").alerts == [], "no second claim"
    assert _begin(engine, mine, "b").startswith("lost"), "another worker cannot begin it"
    assert _links(engine) == 0, "no link for a send that did not begin"
    began = _begin(engine, mine, "a")
    assert isinstance(began, Began) and began.link.startswith(BASE + "/signin/")
    assert began.link in began.text and _links(engine) == 1
    [row] = alerts(engine, channel="sms")
    assert row.send_started_at == NOW and began.link not in row.body_text and BASE + "/signin/…" in row.body_text
    assert _begin(engine, mine, "a").startswith("lost"), "begun once"


def test_only_the_worker_holding_an_alert_writes_its_result_and_a_late_answer_settles_an_unknown(
    engine: Engine,
) -> None:
    add_task(engine, officer=add_officer(engine, alert_email=False))
    _plan(engine)
    [alert] = claim_alerts(engine, now=NOW, limit=10, worker="a", lease=timedelta(minutes=1)).alerts
    assert isinstance(_begin(engine, alert, "a"), Began)
    sent = [AlertResult(alert.id, TouchStatus.SENT, provider_id="SM1")]
    assert record_alert_results(engine, results=sent, now=NOW, worker="b") == 0
    assert expire_alert_leases(engine, now=NOW + timedelta(minutes=2)) == (0, 1)
    assert alerts(engine, channel="sms")[0].status == "unknown"
    assert record_alert_results(engine, results=sent, now=NOW + timedelta(minutes=3), worker="a") == 1
    [row] = alerts(engine, channel="sms")
    assert (row.status, row.provider_id, row.sent_at) == ("sent", "SM1", NOW + timedelta(minutes=3))


def test_a_lease_that_runs_out_before_the_send_began_is_planned_again(engine: Engine) -> None:
    add_task(engine, officer=add_officer(engine, alert_email=False))
    _plan(engine)
    claim_alerts(engine, now=NOW, limit=10, worker="dead", lease=timedelta(minutes=1))
    assert expire_alert_leases(engine, now=NOW + timedelta(seconds=59)) == (0, 0)
    assert expire_alert_leases(engine, now=NOW + timedelta(minutes=2)) == (1, 0)
    [row] = alerts(engine, channel="sms")
    assert (row.status, row.claimed_by) == ("planned", None)
    assert len(claim_alerts(engine, now=NOW + timedelta(minutes=2), limit=10, worker="b").alerts) == 1


def test_a_retry_is_planned_again_later_with_its_send_not_begun(engine: Engine) -> None:
    add_task(engine, officer=add_officer(engine, alert_email=False))
    _plan(engine)
    [alert] = claim_alerts(engine, now=NOW, limit=10, worker="a").alerts
    _begin(engine, alert, "a")
    later = NOW + timedelta(minutes=5)
    again = [AlertResult(alert.id, TouchStatus.PLANNED, reason="retry: busy", retry_at=later)]
    record_alert_results(engine, results=again, now=NOW, worker="a")
    [row] = alerts(engine, channel="sms")
    assert (row.status, row.scheduled_for, row.send_started_at, row.claimed_by) == ("planned", later, None, None)
    assert claim_alerts(engine, now=NOW + timedelta(minutes=4), limit=10, worker="a").alerts == []
    assert claim_alerts(engine, now=later, limit=10, worker="a").alerts[0].attempts == 2


def test_the_claim_checks_the_officer_as_they_are_now(engine: Engine) -> None:
    officer = add_officer(engine, alert_email=False)
    add_task(engine, officer=officer)
    _plan(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE loan_officer SET quiet_start = 0, quiet_end = 23 * 60 + 59"))
    claim = claim_alerts(engine, now=NOW, limit=10, worker="a")
    assert (claim.alerts, claim.deferred) == ([], 1)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE loan_officer SET quiet_start = 0, quiet_end = 0, alert_sms = false"))
    skipped = claim_alerts(engine, now=NOW + timedelta(days=1), limit=10, worker="a")
    assert (
        skipped.skipped == 1
        and alerts(engine, channel="sms")[0].reason == "skipped: the officer turned text alerts off"
    )


def test_alerts_are_listed_newest_first_for_one_officer(engine: Engine) -> None:
    dana = add_officer(engine, 1)
    add_task(engine, officer=dana)
    add_task(engine, officer=add_officer(engine, 2), due_at=NOW - timedelta(minutes=5))
    _plan(engine)
    mine = list_alerts(engine, officer_email="DANA1@lender.test")
    assert [(a.officer, a.kind) for a in mine] == [("dana1@lender.test", "due")] * 2
    assert len(list_alerts(engine)) == 4
