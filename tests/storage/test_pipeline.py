"""Time travel through the database: tick + dispatch, hour by hour, for 120 days."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pendulum
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from nurture.actions import Outcome, TaskKind, TaskStatus, TouchStatus
from nurture.cadence import load_cadence
from nurture.states import CadenceStatus, Stage
from service.dispatch import dispatch
from service.pipeline import Pipeline, tick
from service.replay import ReplayStats, replay
from service.settings import Settings
from service.simulate import Simulation
from service.synthetic import generate_leads, write_csv
from storage.cadences import register_cadence
from storage.importer import import_leads
from storage.lead_events import complete_task
from storage.models import CadencePosition, CallTask, Lead, LeadHistory, Touch
from storage.officers import OfficerSettings, add_officer
from storage.queries import list_tasks
from tests.factories import clear_database, insert_lead
from tests.fakes import RecordingSender

ROOT = Path(__file__).resolve().parents[2]
CADENCE = load_cadence((ROOT / "cadences" / "default.yaml").read_text())
START = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)  # 08:00 in Denver, before the first call window
TZ = "America/Denver"


def _pipeline(engine: Engine) -> tuple[Pipeline, RecordingSender]:
    sender = RecordingSender()
    registry = register_cadence(engine=engine, cadence=CADENCE, now=START)
    return Pipeline(Settings(), engine, registry, sender), sender


def _lead(engine: Engine, *, consent: bool = True, **kw) -> int:
    """A Denver bank-statement lead with written consent for its phone and a fresh DNC scrub."""
    denver = dict(phone="+13035550147", address_state="CO", zip="80202", timezone=TZ, inquiry_date=date(2026, 1, 10))
    return insert_lead(engine, consent=consent, at=START, **(denver | kw))


def _local(t: datetime) -> pendulum.DateTime:
    return pendulum.instance(t).in_timezone(TZ)


def test_unresponsive_lead_gets_exactly_the_cadence_in_120_days(engine: Engine):
    p, sender = _pipeline(engine)
    lead_id = _lead(engine)
    stats = replay(p, start=START, until=START + timedelta(days=120), every=timedelta(hours=1))
    assert stats.steps + stats.idle == 120 * 24 + 1

    with engine.connect() as conn:
        tasks = conn.execute(sa.select(CallTask.__table__).where(CallTask.__table__.c.lead_id == lead_id)).all()
        touches = conn.execute(sa.select(Touch.__table__).order_by(Touch.__table__.c.sent_at)).all()
    assert [t.step_id for t in tasks] == ["d0-call", "d2-call", "d6-call"]
    sent = [t for t in touches if t.status == TouchStatus.SENT.value]
    assert len(sent) == len(touches) == len(sender.sent)
    assert Counter(t.channel for t in sent) == {"sms": 2, "voicemail": 1, "email": 7}
    emails = [t for t in sent if t.channel == "email"]
    assert [t.template for t in emails] == [
        "education",
        "documents",
        "success_story",
        "market_update",
        "check_in",
        "program_update",
        "monthly_program_updates",
    ]
    assert _local(emails[-1].sent_at).date() == date(2026, 3, 2) + timedelta(days=92)
    for t in sent:
        step = CADENCE.steps[CADENCE.index_of(t.step_id)]
        assert step.window.contains(_local(t.sent_at).time()), (t.step_id, _local(t.sent_at))
    for t in tasks:
        step = CADENCE.steps[CADENCE.index_of(t.step_id)]
        assert step.window.contains(_local(t.due_at).time())
    evening = _local(tasks[1].due_at)
    assert (evening.date(), evening.hour) == (date(2026, 3, 4), 17)
    assert len(set(sender.sent_keys())) == len(sender.sent_keys()), "nothing sent twice"


def test_lead_reached_on_day_two_leaves_automation_for_its_loan_officer(engine: Engine):
    p, sender = _pipeline(engine)
    lead_id = _lead(engine)
    replay(p, start=START, until=START + timedelta(days=2, hours=10), every=timedelta(hours=1))  # 17:00 day 2
    with engine.connect() as conn:
        evening = conn.execute(sa.select(CallTask.__table__).where(CallTask.__table__.c.step_id == "d2-call")).one()
    reached_at = evening.due_at + timedelta(minutes=20)
    result = complete_task(engine=engine, task_id=evening.id, outcome=Outcome.REACHED, at=reached_at)
    assert result is not None and result.change.cadence_to is CadenceStatus.HANDED_OFF
    sent_before = list(sender.sent_keys())

    replay(p, start=reached_at, until=START + timedelta(days=120), every=timedelta(hours=1))
    later = [k for k in sender.sent_keys() if k not in sent_before]
    assert later == [], "no automated message after a live contact"
    with engine.connect() as conn:
        steps = [r.step_id for r in conn.execute(sa.select(CallTask.__table__.c.step_id)).all()]
        position = conn.execute(sa.select(CadencePosition.__table__)).one()
        lead = conn.execute(sa.select(Lead.__table__)).one()
    assert "d6-call" not in steps and "d2-sms" not in " ".join(sender.sent_keys())
    assert position.status == CadenceStatus.HANDED_OFF.value
    assert lead.stage == Stage.CONTACTED.value
    open_tasks = list_tasks(engine=engine, officer_email="dana@example.com")
    assert [(t["lead_id"], t["kind"]) for t in open_tasks] == [(lead_id, TaskKind.HANDOFF.value)]


def test_a_transient_failure_is_retried_and_a_touch_never_goes_twice(engine: Engine):
    p, sender = _pipeline(engine)
    _lead(engine)
    tick(p, now=START)  # enrolled at 07:00 in Denver: the first call is due at 10:00, its SMS at 12:00
    sms_time = START + timedelta(hours=5)
    tick(p, now=sms_time)
    sender.fail_next = 1
    first = dispatch(p, now=sms_time)
    assert (first.retried, first.sent) == (1, 0)
    assert dispatch(p, now=sms_time).claimed == 0, "the retry waits for its back-off"
    second = dispatch(p, now=sms_time + timedelta(minutes=10))
    assert second.sent == 1
    assert dispatch(p, now=sms_time + timedelta(hours=1)).claimed == 0
    assert len(sender.sent) == 1


def test_a_lead_without_email_gets_skipped_email_steps_with_the_reason(engine: Engine):
    p, sender = _pipeline(engine)
    _lead(engine, email=None)
    replay(p, start=START, until=START + timedelta(days=5), every=timedelta(hours=1))
    with engine.connect() as conn:
        emails = conn.execute(sa.select(Touch.__table__).where(Touch.__table__.c.channel == "email")).all()
    assert [(e.template, e.status, e.reason) for e in emails] == [
        ("education", "skipped", "no email address"),
        ("documents", "skipped", "no email address"),
    ]
    assert all(m.to.startswith("+1") for _, m in sender.sent)


@pytest.mark.parametrize("outcome", [Outcome.DO_NOT_CALL, Outcome.NOT_INTERESTED])
def test_outcomes_that_end_phone_contact(engine: Engine, outcome: Outcome):
    p, sender = _pipeline(engine)
    _lead(engine)
    replay(p, start=START, until=START + timedelta(hours=3), every=timedelta(hours=1))
    with engine.connect() as conn:
        first = conn.execute(sa.select(CallTask.__table__)).one()
    complete_task(engine=engine, task_id=first.id, outcome=outcome, at=first.due_at)
    replay(p, start=START + timedelta(hours=4), until=START + timedelta(days=40), every=timedelta(hours=1))
    channels = Counter(m.__class__.__name__ for _, m in sender.sent)
    assert channels["SmsMessage"] == 0 and channels["VoicemailMessage"] == 0
    with engine.connect() as conn:
        tasks = conn.execute(sa.select(CallTask.__table__.c.status)).all()
    assert [t.status for t in tasks] == [TaskStatus.DONE.value]
    if outcome is Outcome.NOT_INTERESTED:
        assert channels["EmailMessage"] == 2  # nurture emails on days 20 and 34 only
    else:
        assert channels["EmailMessage"] == 0


class _OptedOutSender(RecordingSender):
    def send(self, message, *, key):
        from channels.base import OptedOutError

        raise OptedOutError("twilio HTTP 400 error 21610: unsubscribed recipient")


def test_provider_opt_out_fails_the_touch_and_stops_every_channel(engine: Engine):
    p, _ = _pipeline(engine)
    p.sender = _OptedOutSender()
    lead_id = _lead(engine)
    replay(p, start=START, until=START + timedelta(days=3), every=timedelta(hours=1))
    with engine.connect() as conn:
        touches = conn.execute(sa.select(Touch.__table__).order_by(Touch.__table__.c.id)).all()
        position = conn.execute(sa.select(CadencePosition.__table__)).one()
    assert touches[0].status == TouchStatus.FAILED.value and "21610" in touches[0].reason
    assert [t.step_id for t in touches] == ["d0-sms"], "nothing further is planned once the lead opted out"
    assert position.status == CadenceStatus.STOPPED.value and position.lead_id == lead_id


def _simulated_run(engine: Engine, tmp_path: Path, *, skip_idle: bool) -> tuple[ReplayStats, dict[str, list]]:
    clear_database(engine)
    for n in range(2):
        add_officer(engine=engine, name=f"Officer {n}", email=f"lo{n}@example.com", phone=None, nmls_id=None, now=START,
                    settings=OfficerSettings(licensed_states="all"))  # fmt: skip
    path = tmp_path / f"leads-{skip_idle}.csv"
    write_csv(generate_leads(40, seed=11, as_of=START.date()), path)
    import_leads(engine=engine, path=path, now=START)
    p, _ = _pipeline(engine)
    hook = Simulation(engine=engine, seed=11, start=START)
    stats = replay(p, start=START, until=START + timedelta(days=30), every=timedelta(hours=1), hook=hook,
                   skip_idle=skip_idle)  # fmt: skip
    touch, task, hist = Touch.__table__, CallTask.__table__, LeadHistory.__table__
    with engine.connect() as conn:
        rows = {
            "touches": conn.execute(
                sa.select(touch.c.key, touch.c.status, touch.c.scheduled_for, touch.c.sent_at, touch.c.reason).order_by(
                    touch.c.key
                )
            ).all(),
            "tasks": conn.execute(
                sa.select(task.c.key, task.c.status, task.c.outcome, task.c.due_at, task.c.completed_at).order_by(
                    task.c.key
                )
            ).all(),
            "history": conn.execute(
                sa.select(hist.c.lead_id, hist.c.event, hist.c.at, hist.c.reason).order_by(hist.c.id)
            ).all(),
        }
    return stats, rows


def test_skipping_idle_replay_steps_gives_the_same_result_as_every_step(engine: Engine, tmp_path: Path):
    every_step, expected = _simulated_run(engine, tmp_path, skip_idle=False)
    skipping, got = _simulated_run(engine, tmp_path, skip_idle=True)
    assert every_step.idle == 0 and every_step.steps == 30 * 24 + 1
    assert skipping.idle > skipping.steps, "most hours of a 30-day replay have nothing due"
    assert skipping.steps + skipping.idle == every_step.steps
    assert len(expected["touches"]) > 100 and len(expected["tasks"]) > 40 and len(expected["history"]) > 40
    assert got == expected
