"""Property: whatever the leads and whenever the ticks run, the pipeline never breaks a compliance rule.

Random leads (states, zips, area codes, consent, DNC listing and scrub age, a
second phone) and random texts from them (STOP in words or keyword, START,
HELP, from either phone, at random times) go through 120 days of ticks and
dispatches at irregular intervals, with a loan officer who makes every call
task when it falls due. Then, from what was actually sent and called:

- no text or voicemail outside the allowed hours in any zone the lead may be in;
- nothing on a channel after an opt-out on it (until a START, for texts only);
- no strict-state lead gets a 4th call/text/voicemail within 24 hours, and nobody a 5th contact;
- no automated text or voicemail without written consent for that number;
- nothing is sent twice.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from nurture.actions import Outcome, SuppressionAction, TaskStatus, TouchStatus
from nurture.cadence import load_cadence
from nurture.compliance import exposure, load_rule_table
from nurture.products import Product
from nurture.states import Stage
from service.dispatch import dispatch
from service.inbound import handle_inbound_sms
from service.pipeline import Pipeline, tick
from service.settings import Settings
from storage.cadences import register_cadence
from storage.compliance import add_consent
from storage.lead_events import complete_task
from storage.models import CallTask, Lead, LoanOfficer, Suppression, Touch, table
from storage.tick import next_work_at
from tests.factories import clear_database
from tests.fakes import RecordingSender

ROOT = Path(__file__).resolve().parents[2]
CADENCE = load_cadence((ROOT / "cadences" / "default.yaml").read_text())
TABLE = load_rule_table((ROOT / "compliance" / "us.yaml").read_text())
START = datetime(2026, 3, 2, 5, 0, tzinfo=UTC)
DAYS = 120
DAY = timedelta(hours=24)
SELLER = Settings().company_name
PLACES = [
    ("FL", "33101", "America/New_York"),
    ("GA", "30303", "America/New_York"),
    ("NY", "10001", "America/New_York"),
    ("MD", "21201", "America/New_York"),
    ("OK", "73102", "America/Chicago"),
    ("TX", "75201", "America/Chicago"),
    ("CO", "80202", "America/Denver"),
    ("AZ", "85004", "America/Phoenix"),
    ("CA", "90012", "America/Los_Angeles"),
]
AREA_CODES = ["305", "407", "404", "212", "410", "405", "214", "303", "602", "213", "808"]
TEXTS = ["STOP", "Stop texting me please", "START", "HELP", "unsubscribe", "Is this still available?"]
_touch, _task, _lead, _sup = table(Touch), table(CallTask), table(Lead), table(Suppression)

lead_strategy = st.fixed_dictionaries(
    {
        "place": st.sampled_from(PLACES),
        "area": st.sampled_from(AREA_CODES),
        "alt_area": st.none() | st.sampled_from(AREA_CODES),
        "consent": st.sampled_from(["none", "phone", "both", "other seller"]),
        "dnc": st.booleans(),
        "scrub_age": st.sampled_from([None, 0, 20, 45]),
        "inquiry_days_ago": st.integers(30, 150),
        "texts": st.lists(st.tuples(st.integers(0, DAYS * 24 * 60), st.sampled_from(TEXTS), st.booleans()), max_size=3),
    }
)
schedule_strategy = st.lists(st.integers(7, 8 * 60), min_size=2, max_size=6)  # minutes between runs, cycled


def _insert(engine: Engine, leads: list[dict]) -> list[dict]:
    made = []
    with engine.begin() as conn:
        officer = conn.execute(
            sa.insert(table(LoanOfficer)).values(
                name="Dana Whitfield", email="dana@example.com", nmls_id="1456789", active=True, created_at=START
            )
        ).inserted_primary_key[0]
        for i, spec in enumerate(leads):
            state, zip_, tz = spec["place"]
            phone = f"+1{spec['area']}555{1000 + i:04d}"
            alt = f"+1{spec['alt_area']}556{1000 + i:04d}" if spec["alt_area"] else None
            lead_id = conn.execute(
                sa.insert(_lead).values(
                    first_name=f"Lead{i}",
                    last_name="Test",
                    phone=phone,
                    alt_phone=alt,
                    email=f"lead{i}@example.com",
                    address_state=state,
                    zip=zip_,
                    timezone=tz,
                    product=Product.BANK_STATEMENT.value,
                    self_employed=True,
                    inquiry_date=(START - timedelta(days=spec["inquiry_days_ago"])).date(),
                    stage=Stage.NEW_LEAD.value,
                    loan_officer_id=officer,
                    phone_ok=True,
                    dnc_listed=spec["dnc"],
                    dnc_scrubbed_on=None if spec["scrub_age"] is None else START.date() - timedelta(spec["scrub_age"]),
                    created_at=START,
                    updated_at=START,
                    row_digest="x",
                )
            ).inserted_primary_key[0]
            numbers = {"none": [], "phone": [phone], "both": [phone, alt], "other seller": [phone]}[spec["consent"]]
            for number in filter(None, numbers):
                add_consent(
                    conn, lead_id=lead_id, phone=number,
                    seller="Acme Leads LLC" if spec["consent"] == "other seller" else SELLER,
                    disclosure="I agree to automated texts and prerecorded calls.", source="test form",
                    consented_at=START - timedelta(days=60), now=START, recorded_by="test",
                )  # fmt: skip
            made.append({**spec, "id": lead_id, "phone": phone, "alt": alt, "state": state, "tz": tz})
    return made


def _run(engine: Engine, leads: list[dict], gaps: list[int]) -> RecordingSender:
    sender = RecordingSender()
    registry = register_cadence(engine=engine, cadence=CADENCE, now=START)
    p = Pipeline(Settings(), engine, registry, sender)
    texts = sorted(
        (START + timedelta(minutes=minute), lead["alt"] if from_alt and lead["alt"] else lead["phone"], body)
        for lead in leads
        for minute, body, from_alt in lead["texts"]
    )
    now, end, i = START, START + timedelta(days=DAYS), 0
    while now <= end:
        while texts and texts[0][0] <= now:
            at, number, body = texts.pop(0)
            handle_inbound_sms(p, from_number=number, to_number="+18005550100", body=body, at=at)
        tick(p, now=now)
        dispatch(p, now=now)
        _officer_calls(engine, now)
        # the next run of the irregular schedule that can find anything to do (the runs between would not)
        wake = min(filter(None, [next_work_at(engine=engine), texts[0][0] if texts else None]), default=end)
        now += timedelta(minutes=gaps[i % len(gaps)])
        i += 1
        while now < wake:
            now += timedelta(minutes=gaps[i % len(gaps)])
            i += 1
    return sender


def _officer_calls(engine: Engine, now: datetime) -> None:
    with engine.connect() as conn:
        due = conn.execute(
            sa.select(_task.c.id, _task.c.due_at).where(_task.c.status == TaskStatus.OPEN.value, _task.c.due_at <= now)
        ).all()
    for task_id, due_at in due:
        complete_task(engine=engine, task_id=task_id, outcome=Outcome.NO_ANSWER, at=due_at)


def _check(engine: Engine, leads: list[dict], sender: RecordingSender) -> None:
    keys = sender.sent_keys()
    assert len(keys) == len(set(keys)), "nothing is sent twice"
    with engine.connect() as conn:
        sent = conn.execute(sa.select(_touch).where(_touch.c.status == TouchStatus.SENT.value)).all()
        calls = conn.execute(sa.select(_task).where(_task.c.status == TaskStatus.DONE.value)).all()
        log = conn.execute(sa.select(_sup).order_by(_sup.c.at, _sup.c.id)).all()
    assert len({t.key for t in sent}) == len(sent)
    for lead in leads:
        exp = exposure(lead["tz"], lead["state"], lead["phone"])
        window = TABLE.window_for(exp.states)
        mine = [t for t in sent if t.lead_id == lead["id"]]
        my_calls = [c for c in calls if c.lead_id == lead["id"]]
        addresses = {lead["phone"], lead["alt"], f"lead{leads.index(lead)}@example.com"} - {None}
        events = [e for e in log if e.lead_id == lead["id"] or e.address in addresses]
        for t in mine:
            if t.channel in ("sms", "voicemail"):
                for zone in exp.timezones:
                    local = t.sent_at.astimezone(ZoneInfo(zone)).time()
                    assert window.start <= local < window.end, (t.key, zone, local, window)
                assert lead["consent"] in ("phone", "both"), f"{t.key}: no consent from us on file"
        for item_at, channel, key in [(t.sent_at, t.channel, t.key) for t in mine] + [
            (c.completed_at, "call", c.key) for c in my_calls if c.kind == "cadence"
        ]:
            last = [e for e in events if e.channel == channel and e.at <= item_at]
            assert not last or last[-1].action != SuppressionAction.OPT_OUT.value, f"{key} after an opt-out"
        phone_contacts = sorted([t.sent_at for t in mine if t.channel in ("sms", "voicemail")]
                                + [c.completed_at for c in my_calls])  # fmt: skip
        every = sorted([t.sent_at for t in mine] + [c.completed_at for c in my_calls])
        cap = TABLE.state_cap(exp.states)
        for i, at in enumerate(phone_contacts):
            if cap:
                within = [x for x in phone_contacts[i:] if x - at < DAY]
                assert len(within) <= cap[0], f"lead {lead['id']} ({cap[1]}): {len(within)} contacts in 24 h"
        for i, at in enumerate(every):
            assert len([x for x in every[i:] if x - at < DAY]) <= TABLE.max_per_24h


@settings(
    max_examples=8,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(leads=st.lists(lead_strategy, min_size=1, max_size=5), gaps=schedule_strategy)
def test_no_contact_ever_breaks_a_rule(engine: Engine, leads: list[dict], gaps: list[int]):
    clear_database(engine)
    made = _insert(engine, leads)
    sender = _run(engine, made, gaps)
    _check(engine, made, sender)


def test_the_property_checks_can_fail(engine: Engine):
    """The checker itself: a text at 21:30 in Miami with no consent must be caught."""
    clear_database(engine)
    spec = {"place": PLACES[0], "area": "305", "alt_area": None, "consent": "none", "dnc": False, "scrub_age": 0,
            "inquiry_days_ago": 40, "texts": []}  # fmt: skip
    made = _insert(engine, [spec])
    late = datetime(2026, 3, 3, 2, 30, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(
            _touch.insert().values(
                key="forged",
                lead_id=made[0]["id"],
                step_id="d0-sms",
                channel="sms",
                template="intro",
                scheduled_for=late,
                not_after=late,
                status="sent",
                reason="",
                attempts=1,
                decisions="",
                sent_at=late,
                created_at=late,
                updated_at=late,
            )
        )
    try:
        _check(engine, made, RecordingSender())
    except AssertionError as exc:
        assert "08:00" in str(exc) or "window" in str(exc).lower() or "20:00" in str(exc)
    else:
        raise AssertionError("the checker let a 21:30 text through")
    assert date(2026, 3, 3)  # the forged text is on the evening of the first cadence day
