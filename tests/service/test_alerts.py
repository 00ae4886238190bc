"""``run_alerts``: loan officers alerted once per priority task, hourly digests, one reminder, managers' notices,
never inside quiet hours, through the borrowers' channels with their error table (SQLite and PostgreSQL)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from channels.messages import EmailMessage, OutcomeUnknownError, PermanentSendError, SmsMessage, TransientSendError
from nurture.alerts import SIGNIN_MARK
from service.alerts import run_alerts
from storage.models import SignInLink, table
from storage.signin import LinkRefused, use_sign_in_link
from tests.factories import NOW
from tests.service.alert_support import BASE, add_officer, add_task, alert_pipeline, alerts, task, task_log

NIGHT = NOW + timedelta(hours=15)  # 23:00 in New York: quiet until 08:00, which is NOW + 1 day


def test_a_reply_alerts_its_officer_at_once_by_text_and_email_with_a_working_sign_in_link(engine: Engine) -> None:
    officer = add_officer(engine)
    reply = add_task(engine, officer=officer, first_name="Maria")
    p, sender = alert_pipeline(engine)

    stats = run_alerts(p, now=NOW + timedelta(minutes=1))

    assert (stats.planned, stats.sent, stats.failed) == (2, 2, 0)
    [(sms_key, sms), (email_key, email)] = sender.sent
    assert (sms_key, email_key) == (f"task:{reply}:due:{officer}:sms", f"task:{reply}:due:{officer}:email")
    assert isinstance(sms, SmsMessage) and sms.to == "+13055550001"
    assert sms.body.startswith("Acme Mortgage: Maria wrote back. Call now: " + BASE + "/signin/")
    assert "Lopez" not in sms.body, "no borrower PII beyond the first name in a text"
    assert isinstance(email, EmailMessage) and email.to == "dana1@lender.test" and "Maria" in email.subject
    tokens = [
        re.search(r"/signin/([A-Za-z0-9_-]{20,})", m.body if isinstance(m, SmsMessage) else m.text)[1]
        for _, m in sender.sent
    ]
    stored = alerts(engine)
    assert [a.status for a in stored] == ["sent", "sent"]
    assert all(BASE + SIGNIN_MARK in a.body_text and not any(t in a.body_text for t in tokens) for a in stored)
    signed_in = use_sign_in_link(engine, tokens[0], now=NOW + timedelta(minutes=5))
    assert signed_in.officer_id == officer
    with pytest.raises(LinkRefused):
        use_sign_in_link(engine, tokens[0], now=NOW + timedelta(minutes=6))
    assert task(engine, reply).alerted_at == NOW + timedelta(minutes=1) and task_log(engine, reply) == ["alerted"]

    again = run_alerts(p, now=NOW + timedelta(minutes=10))
    assert (again.planned, again.sent) == (0, 0) and len(sender.sent) == 2, "an alert is sent once"


def test_cadence_calls_come_as_one_digest_an_hour(engine: Engine) -> None:
    officer = add_officer(engine, phone=None)
    cadence = "cadence"
    first = [
        add_task(
            engine,
            officer=officer,
            kind=cadence,
            due_at=NOW + timedelta(minutes=m),
            first_name=name,
            key=f"{m}:aged-nonqm:v1:d0-call:call",
        )
        for m, name in ((5, "Ana"), (10, "Bo"))
    ]
    p, sender = alert_pipeline(engine)

    at_10 = run_alerts(p, now=NOW + timedelta(minutes=10))
    assert (at_10.digests, at_10.sent, at_10.skipped) == (1, 1, 1), "email sent; text skipped: no phone"
    [(key, digest)] = sender.sent
    assert key == f"digest:{officer}:2026-03-02T13:email" and isinstance(digest, EmailMessage)
    assert digest.subject == "2 calls due" and "Ana" in digest.text and "Bo" in digest.text
    [skipped] = alerts(engine, channel="sms")
    assert skipped.status == "skipped" and "no phone number" in skipped.reason

    late = add_task(
        engine,
        officer=officer,
        kind=cadence,
        due_at=NOW + timedelta(minutes=20),
        first_name="Cy",
        key="20:aged-nonqm:v1:d0-call:call",
    )
    at_20 = run_alerts(p, now=NOW + timedelta(minutes=20))
    assert at_20.sent == 0, "one digest an hour: the 13:00 one went"
    at_14 = run_alerts(p, now=NOW + timedelta(hours=1))
    assert at_14.sent == 1 and sender.sent[-1][0] == f"digest:{officer}:2026-03-02T14:email"
    assert "Cy" in sender.sent[-1][1].text and "Ana" not in sender.sent[-1][1].text
    assert [task(engine, t).alerted_at is not None for t in [*first, late]] == [True] * 3


def test_nothing_goes_inside_quiet_hours_and_the_night_comes_as_one_digest_when_they_end(engine: Engine) -> None:
    officer = add_officer(engine)
    reply = add_task(engine, officer=officer, due_at=NIGHT)
    calls = [
        add_task(
            engine,
            officer=officer,
            kind="cadence",
            due_at=NIGHT + timedelta(hours=h),
            key=f"{h}:aged-nonqm:v1:d0-call:call",
        )
        for h in (0, 2, 4)
    ]
    p, sender = alert_pipeline(engine, alert_reminder_minutes=30)

    for hour in range(0, 9):
        run_alerts(p, now=NIGHT + timedelta(hours=hour, minutes=5))
    assert sender.sent == [], "quiet until 08:00 in New York"
    morning = NOW + timedelta(days=1)
    assert {a.scheduled_for for a in alerts(engine)} == {morning}
    assert len(alerts(engine, kind="digest")) == 2, "one digest per channel for the whole night"

    stats = run_alerts(p, now=morning)
    assert stats.sent == 4 and {k for k, _ in sender.sent} == {
        f"task:{reply}:due:{officer}:sms",
        f"task:{reply}:due:{officer}:email",
        f"digest:{officer}:2026-03-03T13:sms",
        f"digest:{officer}:2026-03-03T13:email",
    }
    assert "3 calls due" in sender.sent[-1][1].subject
    assert all(task(engine, t).alerted_at is not None for t in calls)
    not_yet = run_alerts(p, now=morning + timedelta(minutes=29))
    assert not_yet.reminders == 0, "the reminder counts from the alert that went at 08:00, not from the night"


def test_a_priority_task_left_unworked_gets_one_reminder_and_a_worked_one_none(engine: Engine) -> None:
    officer = add_officer(engine)
    waiting = add_task(engine, officer=officer, kind="handoff")
    worked = add_task(
        engine, officer=officer, kind="cadence", key="9:reengage:v1@2026-03-02:d0-call:call", first_name="Bo"
    )
    p, sender = alert_pipeline(engine, alert_reminder_minutes=30)
    run_alerts(p, now=NOW)
    assert len(sender.sent) == 4, "a hand-off and a re-engagement call each alert at once"
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE call_task SET status = 'done' WHERE id = :id"), {"id": worked})

    assert run_alerts(p, now=NOW + timedelta(minutes=29)).reminders == 0
    half_hour = run_alerts(p, now=NOW + timedelta(minutes=30))
    assert (half_hour.reminders, half_hour.sent) == (2, 2)
    assert {k for k, _ in sender.sent[4:]} == {
        f"task:{waiting}:reminder:{officer}:sms",
        f"task:{waiting}:reminder:{officer}:email",
    }
    assert "still waits for your call" in sender.sent[4][1].body
    assert run_alerts(p, now=NOW + timedelta(hours=3)).reminders == 0, "one reminder only"
    assert task_log(engine, waiting) == ["alerted", "reminded"] and task_log(engine, worked) == ["alerted"]


def test_managers_hear_of_unassigned_work_once_an_hour_and_officers_never(engine: Engine) -> None:
    manager = add_officer(engine, 1, role="manager")
    add_officer(engine, 2)
    add_officer(engine, 3, role="manager", active=False)
    add_task(engine, officer=None)
    p, sender = alert_pipeline(engine)

    first = run_alerts(p, now=NOW + timedelta(minutes=1))
    assert first.notices == 2 and {k for k, _ in sender.sent} == {
        f"unassigned:{manager}:2026-03-02T13:sms",
        f"unassigned:{manager}:2026-03-02T13:email",
    }
    assert "1 call task and 1 lead have no loan officer" in sender.sent[0][1].body
    assert run_alerts(p, now=NOW + timedelta(minutes=40)).notices == 0, "not again within the hour"
    assert run_alerts(p, now=NOW + timedelta(minutes=61)).notices == 2


def test_officers_without_a_phone_or_with_alerts_off_are_skipped_with_the_reason(engine: Engine) -> None:
    quiet = add_officer(engine, 1, alert_sms=False, alert_email=False)
    add_task(engine, officer=quiet)
    p, sender = alert_pipeline(engine)
    stats = run_alerts(p, now=NOW)
    assert sender.sent == [] and stats.skipped == 2
    assert sorted(a.reason for a in alerts(engine)) == [
        "skipped: the officer turned email alerts off",
        "skipped: the officer turned text alerts off",
    ]


def test_an_alert_whose_task_was_worked_before_it_could_go_is_skipped(engine: Engine) -> None:
    officer = add_officer(engine)
    reply = add_task(engine, officer=officer, due_at=NIGHT)
    p, sender = alert_pipeline(engine)
    run_alerts(p, now=NIGHT)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE call_task SET status = 'done' WHERE id = :id"), {"id": reply})
    stats = run_alerts(p, now=NOW + timedelta(days=1))
    assert sender.sent == [] and stats.skipped == 2
    assert all(a.reason.startswith("skipped: nothing left") for a in alerts(engine))


def test_a_task_handed_to_another_officer_alerts_them_and_not_the_first(engine: Engine) -> None:
    first, second = add_officer(engine, 1), add_officer(engine, 2)
    reply = add_task(engine, officer=first, due_at=NIGHT)
    p, sender = alert_pipeline(engine)
    run_alerts(p, now=NIGHT)
    with engine.begin() as conn:  # reassigned overnight: the new officer is to be alerted afresh
        conn.execute(
            sa.text("UPDATE call_task SET loan_officer_id = :o, alerted_at = NULL, reminded_at = NULL WHERE id = :id"),
            {"o": second, "id": reply},
        )
    run_alerts(p, now=NOW + timedelta(days=1))
    assert sorted(k for k, _ in sender.sent) == [f"task:{reply}:due:{second}:email", f"task:{reply}:due:{second}:sms"]
    assert {a.reason for a in alerts(engine, loan_officer_id=first)} == {
        "skipped: nothing left to say, every task it was about was worked, closed or reassigned meanwhile"
    }


class Failing:
    """A sender that raises ``error`` for every message."""

    name = "failing"

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.tries = 0

    def send(self, message, *, key):
        self.tries += 1
        raise self.error


@pytest.mark.parametrize(
    ("error", "status", "reason"),
    [
        (TransientSendError("busy", retry_after=1.0), "planned", "retry: busy"),
        (PermanentSendError("HTTP 400: bad number"), "failed", "refused: HTTP 400: bad number"),
        (OutcomeUnknownError("read timeout"), "unknown", "unknown: read timeout"),
        (RuntimeError("adapter bug"), "unknown", "unknown: the sender raised RuntimeError: adapter bug"),
    ],
)
def test_each_send_error_maps_as_dispatch_maps_it_and_an_unknown_alert_is_never_resent(
    engine: Engine, error: Exception, status: str, reason: str
) -> None:
    add_task(engine, officer=add_officer(engine, email="dana@lender.test", alert_email=False))
    p, sender = alert_pipeline(engine, sender=Failing(error))
    run_alerts(p, now=NOW)
    [sms] = alerts(engine, channel="sms")
    assert (sms.status, sms.reason, sms.attempts) == (status, reason, 1)
    if status == "planned":
        assert sms.scheduled_for == NOW + timedelta(minutes=5) and sms.send_started_at is None
    for hours in (1, 2, 3):
        run_alerts(p, now=NOW + timedelta(hours=hours))
    expected = {"planned": 3, "failed": 1, "unknown": 1}[status]  # a transient error is tried three times in all
    assert sender.tries == expected
    if status == "planned":
        assert alerts(engine, channel="sms")[0].status == "failed"


def test_a_lease_that_runs_out_before_the_send_began_plans_the_alert_again(engine: Engine) -> None:
    from storage.alerts import claim_alerts, expire_alert_leases

    add_task(engine, officer=add_officer(engine, alert_email=False))
    p, sender = alert_pipeline(engine, lease_seconds=60)
    from storage.alert_plans import plan_alerts

    plan_alerts(engine, now=NOW, reminder_after=timedelta(minutes=30))
    [claimed] = claim_alerts(engine, now=NOW, limit=10, worker="dead", lease=timedelta(seconds=60)).alerts
    assert expire_alert_leases(engine, now=NOW + timedelta(seconds=30)) == (0, 0), "the lease still runs"
    stats = run_alerts(p, now=NOW + timedelta(minutes=2))
    assert (stats.expired, stats.sent) == (1, 1) and [k for k, _ in sender.sent] == [claimed.key]
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(table(SignInLink))).scalar_one() == 1
