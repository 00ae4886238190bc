"""The tick's shortcuts give exactly what the plain functions give: a plan shared by leads that stand in the same
place is each lead's own plan, and a decision line built from remembered pieces is the JSON of the verdict."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from nurture.cadence import load_cadence
from nurture.gate import Decision, Ruling, Verdict
from nurture.gate_plan import decision_line
from nurture.planner import Home, LeadSnapshot, anchor_date, plan, plan_shared
from nurture.states import CadenceStatus

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = load_cadence((ROOT / "cadences" / "default.yaml").read_text())
REENGAGE = load_cadence((ROOT / "cadences" / "reengage.yaml").read_text())
ZONES = ["America/New_York", "America/Chicago", "America/Phoenix", "America/Los_Angeles", "Pacific/Honolulu"]
START = datetime(2026, 1, 5, tzinfo=UTC)

instants = st.integers(min_value=0, max_value=200 * 24 * 60).map(lambda m: START + timedelta(minutes=m))


@st.composite
def snapshots(draw: st.DrawFn) -> tuple[LeadSnapshot, object, datetime]:
    cadence = draw(st.sampled_from([DEFAULT, REENGAGE]))
    tz = draw(st.sampled_from(ZONES))
    enrolled = draw(instants)
    now = enrolled + timedelta(minutes=draw(st.integers(min_value=0, max_value=150 * 24 * 60)))
    home = None
    if cadence is REENGAGE and draw(st.booleans()):
        home_at = enrolled - timedelta(days=draw(st.integers(min_value=1, max_value=90)))
        home = Home(DEFAULT, anchor_date(enrolled_at=home_at, timezone=tz, cadence=DEFAULT), home_at,
                    draw(st.integers(min_value=0, max_value=len(DEFAULT.steps))), 0)  # fmt: skip
    snap = LeadSnapshot(
        lead_id=draw(st.integers(min_value=1, max_value=10**9)),
        timezone=tz,
        anchor_date=anchor_date(enrolled_at=enrolled, timezone=tz, cadence=cadence),
        enrolled_at=enrolled,
        step_index=draw(st.integers(min_value=0, max_value=len(cadence.steps))),
        repeat=draw(st.integers(min_value=0, max_value=3)),
        status=draw(st.sampled_from([CadenceStatus.ACTIVE, CadenceStatus.NURTURING, CadenceStatus.HANDED_OFF])),
        has_phone=draw(st.booleans()),
        has_email=draw(st.booleans()),
        phone_ok=draw(st.booleans()),
        unsettled_until=draw(st.none() | instants),
        home=home,
    )
    return snap, cadence, now


@settings(max_examples=300, deadline=None)
@given(snapshots(), st.lists(st.integers(min_value=1, max_value=10**9), min_size=1, max_size=4, unique=True))
def test_a_shared_plan_is_each_leads_own_plan(drawn, others) -> None:
    snap, cadence, now = drawn
    shared: dict = {}
    for lead_id in [snap.lead_id, *others, snap.lead_id]:
        lead = LeadSnapshot(**{**{n: getattr(snap, n) for n in snap.__slots__}, "lead_id": lead_id})
        assert plan_shared(lead, cadence, now, shared) == plan(lead, cadence, now)
    assert len(shared) == 1  # every one of them came from the one plan made for lead 0


def test_leads_that_stand_apart_do_not_share() -> None:
    snap = LeadSnapshot(1, "America/New_York", START.date(), START, 0, 0, CadenceStatus.ACTIVE, True, True)
    later = LeadSnapshot(2, "America/New_York", START.date(), START, 1, 0, CadenceStatus.ACTIVE, True, True)
    no_email = LeadSnapshot(3, "America/New_York", START.date(), START, 0, 0, CadenceStatus.ACTIVE, True, False)
    now = START + timedelta(days=3)
    shared: dict = {}
    for lead in (snap, later, no_email):
        assert plan_shared(lead, DEFAULT, now, shared) == plan(lead, DEFAULT, now)
    assert len(shared) == 3


zones = st.sampled_from(["UTC", *ZONES])


@settings(max_examples=300, deadline=None)
@given(instants, instants, zones, zones, st.lists(st.tuples(st.booleans(), instants, zones), max_size=4))
def test_a_decision_line_is_the_json_of_its_verdict_in_any_zone(at, checked, at_zone, checked_zone, moves) -> None:
    """Times print with their own offset even when an equal instant in another zone was printed before."""
    for zone in ("UTC", at_zone):  # the same instant twice, first in UTC: nothing remembered may leak across
        when = at.astimezone(ZoneInfo(zone)) if zone != "UTC" else at
        decisions = tuple(
            Decision("cadence_window", Ruling.DEFER, "outside", until.astimezone(ZoneInfo(z)))
            if deferred
            else Decision("suppression", Ruling.ALLOW)
            for deferred, until, z in moves
        )
        verdict = Verdict(Ruling.DEFER if moves else Ruling.ALLOW, when, decisions, "us v1")
        now = checked.astimezone(ZoneInfo(checked_zone))
        expected = {
            "phase": "plan", "checked_at": now.isoformat(), "table": "us v1", "verdict": verdict.ruling.value,
            "at": when.isoformat(), "rules": [list(d.as_list()) for d in decisions],
        }  # fmt: skip
        assert json.loads(decision_line("plan", verdict, now)) == expected
        assert decision_line("plan", verdict, now) == json.dumps(expected, separators=(",", ":"))
