"""Simulated borrowers and loan officers for the demo.

Each lead's fate is drawn once, up front, from the DOMAIN.md benchmark ranges
for its product (a rate is drawn uniformly inside each range, per product).
The simulation then acts only through the product's own entry points:
completing call tasks with outcomes, recording replies and pipeline events,
exactly what a loan officer would do, so the funnel it produces comes out of
the real state machine and outbox.
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from nurture.actions import Outcome, TaskKind, TaskStatus
from nurture.economics import benchmark_for
from nurture.products import Product
from nurture.states import AUTOMATED, Event
from storage.lead_events import complete_task, record_event
from storage.models import CadencePosition, CallTask, Lead, table

_task = table(CallTask)
_lead = table(Lead)
_pos = table(CadencePosition)

CALL_STEPS = {"d0-call": 0, "d2-call": 1, "d6-call": 2}
# How reached leads were reached: on the 1st, 2nd or 3rd call, or by writing back later.
CONTACT_ROUTES = (("call", 0, 0.45), ("call", 1, 0.30), ("call", 2, 0.10), ("reply", None, 0.15))
WRONG_NUMBER, DO_NOT_CALL = 0.03, 0.01
PIPELINE = (
    (Event.PRE_QUALIFIED, 2, 4),
    (Event.APPLICATION, 2, 5),
    (Event.PROCESSING, 1, 3),
    (Event.CLEAR_TO_CLOSE, 10, 18),
    (Event.FUNDED, 3, 7),
)


@dataclass
class Fate:
    route: str | None  # "call", "reply" or None (never reached)
    attempt: int | None
    reply_after_days: float
    educated: bool
    docs: bool
    closes: bool
    bad_phone: Outcome | None


class Simulation:
    """Call it with ``now`` after each replay step."""

    def __init__(self, *, engine: Engine, seed: int, start: datetime) -> None:
        self.engine = engine
        self.rng = random.Random(seed)
        self.fates: dict[int, Fate] = {}
        self.agenda: list[tuple[datetime, int, int, str]] = []
        self._seq = 0
        self.rates = {p: self._draw_rates(p) for p in Product}
        with engine.connect() as conn:
            rows = conn.execute(sa.select(_lead.c.id, _lead.c.product).order_by(_lead.c.id)).all()
        for lead_id, product in rows:
            fate = self._draw_fate(Product(product))
            self.fates[lead_id] = fate
            if fate.route == "reply":
                self._at(start + timedelta(days=fate.reply_after_days), lead_id, "reply")

    def _draw_rates(self, product: Product) -> dict[str, float]:
        bench, _ = benchmark_for(product)
        return {name: self.rng.uniform(*getattr(bench, name)) for name in ("contact", "education", "docs", "close")}

    def _draw_fate(self, product: Product) -> Fate:
        r, rates = self.rng, self.rates[product]
        bad = None
        roll = r.random()
        if roll < WRONG_NUMBER:
            bad = Outcome.WRONG_NUMBER
        elif roll < WRONG_NUMBER + DO_NOT_CALL:
            bad = Outcome.DO_NOT_CALL
        route, attempt = None, None
        if bad is None and r.random() < rates["contact"]:
            pick, acc = r.random(), 0.0
            for route, attempt, weight in CONTACT_ROUTES:  # noqa: B007
                acc += weight
                if pick < acc:
                    break
        educated = r.random() < rates["education"]
        docs = educated and r.random() < rates["docs"]
        return Fate(route, attempt, r.uniform(3, 60), educated, docs, docs and r.random() < rates["close"], bad)

    def _at(self, when: datetime, lead_id: int, action: str) -> None:
        self._seq += 1
        heapq.heappush(self.agenda, (when, self._seq, lead_id, action))

    def __call__(self, now: datetime) -> None:
        self._work_call_tasks(now)
        while self.agenda and self.agenda[0][0] <= now:
            when, _, lead_id, action = heapq.heappop(self.agenda)
            self._act(lead_id, action, when)

    def next_at(self) -> datetime | None:
        """When a simulated person next acts: a call task comes due or an agenda item is reached."""
        with self.engine.connect() as conn:
            task_due = conn.execute(
                sa.select(sa.func.min(_task.c.due_at)).where(
                    _task.c.status == TaskStatus.OPEN.value,
                    _task.c.kind.in_([TaskKind.CADENCE.value, TaskKind.REPLY.value]),
                )
            ).scalar()
        found = [t for t in (task_due, self.agenda[0][0] if self.agenda else None) if t is not None]
        return min(found) if found else None

    def _work_call_tasks(self, now: datetime) -> None:
        """Loan officers dial every cadence and reply task that has come due."""
        with self.engine.connect() as conn:
            due = conn.execute(
                sa.select(_task.c.id, _task.c.lead_id, _task.c.kind, _task.c.step_id, _task.c.due_at)
                .where(
                    _task.c.status == TaskStatus.OPEN.value,
                    _task.c.due_at <= now,
                    _task.c.kind.in_([TaskKind.CADENCE.value, TaskKind.REPLY.value]),
                )
                .order_by(_task.c.due_at, _task.c.id)
            ).all()
        for task in due:
            fate = self.fates[task.lead_id]
            at = max(task.due_at, now - timedelta(minutes=30))
            if task.kind == TaskKind.REPLY.value:
                outcome = Outcome.REACHED
            elif fate.bad_phone is not None:
                outcome = fate.bad_phone
            elif fate.route == "call" and fate.attempt == CALL_STEPS.get(task.step_id or ""):
                outcome = Outcome.REACHED
            else:
                outcome = Outcome.VOICEMAIL if self.rng.random() < 0.4 else Outcome.NO_ANSWER
            complete_task(engine=self.engine, task_id=task.id, outcome=outcome, at=at, actor="simulated LO")
            if outcome is Outcome.REACHED:
                self._at(at + timedelta(days=self.rng.uniform(1, 3)), task.lead_id, "educate")

    def _open_task(self, lead_id: int, kinds: tuple[TaskKind, ...]) -> int | None:
        with self.engine.connect() as conn:
            return conn.execute(
                sa.select(_task.c.id)
                .where(
                    _task.c.lead_id == lead_id,
                    _task.c.status == TaskStatus.OPEN.value,
                    _task.c.kind.in_([k.value for k in kinds]),
                )
                .order_by(_task.c.id.desc())
                .limit(1)
            ).scalar()

    def _act(self, lead_id: int, action: str, at: datetime) -> None:
        fate = self.fates[lead_id]
        if action == "reply":
            with self.engine.connect() as conn:
                status = conn.execute(sa.select(_pos.c.status).where(_pos.c.lead_id == lead_id)).scalar()
            if status in {s.value for s in AUTOMATED}:
                record_event(
                    engine=self.engine,
                    lead_id=lead_id,
                    event=Event.INBOUND_REPLY,
                    at=at,
                    actor="simulated borrower",
                    note="Is this still available? I am self-employed.",
                )
            return
        if action == "educate":
            task_id = self._open_task(lead_id, (TaskKind.HANDOFF,))
            outcome = Outcome.EDUCATED if fate.educated else Outcome.NOT_INTERESTED
            if task_id is not None:
                complete_task(engine=self.engine, task_id=task_id, outcome=outcome, at=at, actor="simulated LO")
            if fate.educated:
                record_event(
                    engine=self.engine, lead_id=lead_id, event=Event.DOCS_REQUESTED, at=at, actor="simulated LO"
                )
                if fate.docs:
                    self._at(at + timedelta(days=self.rng.uniform(4, 14)), lead_id, Event.DOCS_RECEIVED.value)
            return
        event = Event(action)
        record_event(engine=self.engine, lead_id=lead_id, event=event, at=at, actor="simulated LO")
        if event in (Event.FUNDED, Event.LOST):
            return
        step = -1 if event is Event.DOCS_RECEIVED else [e for e, _, _ in PIPELINE].index(event)
        nxt, lo, hi = PIPELINE[step + 1]
        if nxt is Event.CLEAR_TO_CLOSE and not fate.closes:
            nxt = Event.LOST  # declined in underwriting
        self._at(at + timedelta(days=self.rng.uniform(lo, hi)), lead_id, nxt.value)
