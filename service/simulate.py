"""Simulated borrowers and loan officers for the demo.

Each lead's fate is drawn once, up front, from the DOMAIN.md benchmark ranges
for its product (a rate is drawn uniformly inside each range, per product). The
ranges are published for 30-90 day leads only, so a lead's age at import does not
change its fate: the report's age bands differ by chance alone.
The simulation then acts only through the product's own entry points:
completing call tasks with outcomes, recording replies and pipeline events,
exactly what a loan officer would do, so the funnel it produces comes out of
the real state machine and outbox.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from nurture.actions import Channel, Outcome, TaskKind, TaskStatus, TouchStatus
from nurture.cadence import parse_duration
from nurture.economics import benchmark_for
from nurture.products import Product
from nurture.states import AUTOMATED, Event
from service.pipeline import Pipeline
from service.replay import replay
from service.settings import Settings
from storage.lead_events import TaskNotOpen, complete_task, record_event
from storage.models import CadencePosition, CallTask, Lead, Touch, table

_task = table(CallTask)
_touch = table(Touch)
_lead = table(Lead)
_pos = table(CadencePosition)

CALL_STEPS = {"d0-call": 0, "d2-call": 1, "d6-call": 2}
# How reached leads were reached: on the 1st, 2nd or 3rd call, or by writing back later.
CONTACT_ROUTES = (("call", 0, 0.45), ("call", 1, 0.30), ("call", 2, 0.10), ("reply", None, 0.15))
WRONG_NUMBER, DO_NOT_CALL = 0.03, 0.01
# What some borrowers text back after their first text, and how often: opt-outs, in keywords and in words,
# HELP, and one that only might be an opt-out. Anyone else who writes back sends REPLY_TEXT.
TEXT_BACKS = (
    ("STOP", 0.030),
    ("Please stop texting me", 0.010),
    ("HELP", 0.010),
    ("Why would I stop looking? Who is this?", 0.005),
)
TEXT_CHECK_EVERY = timedelta(hours=6)
GUIDELINES = "guidelines:"  # an agenda action: load the feed at this path
REENGAGE_TEMPLATE = "reengage"  # the re-engagement cadence's call tasks
REFERRAL_TEMPLATE = "referral"  # the referral asks' call tasks
REFERRAL_REACHED = 0.5  # the simulation's guess: a borrower whose loan just funded answers their officer half the time
REPLY_TEXT = "Is this still available? I am self-employed and got turned down last year."
PIPELINE = (
    (Event.PRE_QUALIFIED, 2, 4),
    (Event.APPLICATION, 2, 5),
    (Event.PROCESSING, 1, 3),
    (Event.CLEAR_TO_CLOSE, 10, 18),
    (Event.FUNDED, 3, 7),
)


@dataclass
class Fate:
    product: Product
    route: str | None  # "call", "reply" or None (never reached)
    attempt: int | None
    reply_after_days: float
    educated: bool
    docs: bool
    closes: bool
    bad_phone: Outcome | None


class Simulation:
    """Call it with ``now`` after each replay step.

    With a ``pipeline``, borrowers also text back through the real inbound handler: a few send STOP (or
    say it in their own words) or HELP after their first text, and those who write back do it by text;
    and each of ``guideline_feeds`` (when, file) is loaded as a lender's feed would be at that time, which
    re-engages the leads it makes newly eligible. A re-engagement call reaches its lead at the product's
    contact rate; what the lead does next follows its fate as for any other contact.
    """

    def __init__(
        self,
        *,
        engine: Engine,
        seed: int,
        start: datetime,
        pipeline: Pipeline | None = None,
        guideline_feeds: Sequence[tuple[datetime, Path]] = (),
        scrub_every: timedelta | None = None,
        scrub_folder: Path | None = None,
    ) -> None:
        self.engine = engine
        self.pipeline = pipeline
        self.rng = random.Random(seed)
        texting = random.Random(seed + 1)
        self.texters: dict[int, str] = {}  # lead -> what they will text after their first SMS
        self._texts_checked = start - TEXT_CHECK_EVERY
        self.fates: dict[int, Fate] = {}
        self.agenda: list[tuple[datetime, int, int, str]] = []
        self._seq = 0
        self.rates = {p: self._draw_rates(p) for p in Product}
        self.guideline_loads: list[dict[str, Any]] = []
        # The DNC re-scrub as marketing ops run it: every ``scrub_every``, `dnc due --csv` goes to the vendor
        # and its answer comes back through `dnc import` (both files are kept in ``scrub_folder``).
        self.scrub_every, self.scrub_folder = scrub_every, scrub_folder
        self._next_scrub = start
        self._vendor = random.Random(seed + 2)
        self.scrubs: list[dict[str, Any]] = []
        self.reengage_reached: dict[int, bool] = {}  # lead -> whether its re-engagement calls reach it
        for when, path in guideline_feeds:
            self._at(when, 0, f"{GUIDELINES}{path}")
        with engine.connect() as conn:
            rows = conn.execute(sa.select(_lead.c.id, _lead.c.product).order_by(_lead.c.id)).all()
        for lead_id, product in rows:
            fate = self._draw_fate(Product(product))
            self.fates[lead_id] = fate
            if fate.route == "reply":
                self._at(start + timedelta(days=fate.reply_after_days), lead_id, "reply")
            elif pipeline is not None and (body := _text_back(texting)):
                self.texters[lead_id] = body

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
        closes = docs and r.random() < rates["close"]
        return Fate(product, route, attempt, r.uniform(3, 60), educated, docs, closes, bad)

    def _at(self, when: datetime, lead_id: int, action: str) -> None:
        self._seq += 1
        heapq.heappush(self.agenda, (when, self._seq, lead_id, action))

    def __call__(self, now: datetime) -> None:
        if self.scrub_every is not None and now >= self._next_scrub:
            self._scrub(now)
            self._next_scrub = now + self.scrub_every
        self._work_call_tasks(now)
        self._schedule_text_backs(now)
        while self.agenda and self.agenda[0][0] <= now:
            when, _, lead_id, action = heapq.heappop(self.agenda)
            self._act(lead_id, action, when)

    def _schedule_text_backs(self, now: datetime) -> None:
        """Every few simulated hours, find the texters whose first text has gone out; they answer later."""
        if not self.texters or now - self._texts_checked < TEXT_CHECK_EVERY:
            return
        self._texts_checked = now
        with self.engine.connect() as conn:
            first_texts = conn.execute(
                sa.select(_touch.c.lead_id, sa.func.min(_touch.c.sent_at))
                .where(
                    _touch.c.lead_id.in_(list(self.texters)),
                    _touch.c.channel == Channel.SMS.value,
                    _touch.c.status == TouchStatus.SENT.value,
                )
                .group_by(_touch.c.lead_id)
            ).all()
        for lead_id, sent_at in first_texts:
            body = self.texters.pop(lead_id)
            self._at(max(sent_at + timedelta(hours=self.rng.uniform(0.2, 30)), now), lead_id, f"text:{body}")

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
                sa.select(_task.c.id, _task.c.lead_id, _task.c.kind, _task.c.step_id, _task.c.template, _task.c.due_at)
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
            elif task.template == REFERRAL_TEMPLATE:
                outcome = Outcome.REACHED if self.rng.random() < REFERRAL_REACHED else Outcome.VOICEMAIL
            elif task.template == REENGAGE_TEMPLATE and fate.bad_phone is None:
                # Whether the sequence's calls reach this lead at all, drawn once per lead at the product's
                # contact rate (the benchmarks' rate is per lead); a lead who answers does so the first time.
                if task.lead_id not in self.reengage_reached:
                    self.reengage_reached[task.lead_id] = self.rng.random() < self.rates[fate.product]["contact"]
                outcome = Outcome.REACHED if self.reengage_reached[task.lead_id] else Outcome.NO_ANSWER
            elif fate.bad_phone is not None:
                outcome = fate.bad_phone
            elif fate.route == "call" and fate.attempt == CALL_STEPS.get(task.step_id or ""):
                outcome = Outcome.REACHED
            else:
                outcome = Outcome.VOICEMAIL if self.rng.random() < 0.4 else Outcome.NO_ANSWER
            try:
                complete_task(engine=self.engine, task_id=task.id, outcome=outcome, at=at, actor="simulated LO")
            except TaskNotOpen:
                continue  # an earlier call of this pass closed it (a lead reached has its other calls cancelled)
            if outcome is Outcome.REACHED and task.template != REFERRAL_TEMPLATE:
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

    def _text(self, lead_id: int, body: str, at: datetime) -> bool:
        """Text us as the borrower would, through the real inbound handler. False when they cannot."""
        if self.pipeline is None:
            return False
        with self.engine.connect() as conn:
            phone = conn.execute(sa.select(_lead.c.phone).where(_lead.c.id == lead_id)).scalar()
        if phone is None:
            return False
        from service.inbound import handle_inbound_sms

        ours = self.pipeline.settings.twilio_from_number or self.pipeline.settings.company_phone
        handle_inbound_sms(self.pipeline, from_number=phone, to_number=ours, body=body, at=at)
        return True

    def _scrub(self, now: datetime) -> None:
        """Export the numbers waiting on a DNC scrub, have the "vendor" answer (a number listed before stays
        listed; about 1 in 100 others is newly listed) and import the answer, as ``dripline dnc`` does."""
        if self.pipeline is None or self.scrub_folder is None:
            raise ValueError("the DNC re-scrub needs the simulation's pipeline and a folder for its files")
        from service.dnc import due, import_scrub, write_due_csv

        numbers = due(self.pipeline)
        if not numbers:
            return
        self.scrub_folder.mkdir(parents=True, exist_ok=True)
        asked = self.scrub_folder / f"due-{now:%Y-%m-%d}.csv"
        write_due_csv(asked, numbers)
        with self.engine.connect() as conn:
            listed_before = set(
                conn.execute(sa.select(_lead.c.phone).where(_lead.c.dnc_listed.is_(True))).scalars().all()
            )
        answer = self.scrub_folder / f"scrubbed-{now:%Y-%m-%d}.csv"
        rows = [
            f"{d.number},{'yes' if d.number in listed_before or self._vendor.random() < 0.01 else 'no'},{now:%Y-%m-%d}"
            for d in numbers
        ]
        answer.write_text("number,listed,scrubbed_on\n" + "\n".join(rows) + "\n", encoding="utf-8")
        outcome = import_scrub(self.pipeline, path=answer, now=now)
        self.scrubs.append({"at": now.isoformat(), **outcome})

    def _load_guidelines(self, path: Path, at: datetime) -> None:
        """A lender's feed arrives: load it as ``dripline guidelines load`` would (re-scoring in this process)."""
        if self.pipeline is None:
            raise ValueError("loading guideline feeds needs the simulation's pipeline")
        from service.guideline_load import inline_rescore, load_guideline_file

        rescore = inline_rescore(self.pipeline, at)
        outcome = load_guideline_file(self.pipeline, path=path, now=at, loaded_by="demo", rescore=rescore)
        reengaged = sum(r.reengaged for r in outcome.rescored)
        self.guideline_loads.append({"at": at.isoformat(), "file": path.name, "reengaged": reengaged})

    def _act(self, lead_id: int, action: str, at: datetime) -> None:
        if action.startswith(GUIDELINES):
            self._load_guidelines(Path(action.removeprefix(GUIDELINES)), at)
            return
        fate = self.fates[lead_id]
        if action.startswith("text:"):
            self._text(lead_id, action.removeprefix("text:"), at)
            return
        if action == "reply":
            with self.engine.connect() as conn:
                status = conn.execute(sa.select(_pos.c.status).where(_pos.c.lead_id == lead_id)).scalar()
            if status in {s.value for s in AUTOMATED} and not self._text(lead_id, REPLY_TEXT, at):
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


def _text_back(rng: random.Random) -> str | None:
    roll, acc = rng.random(), 0.0
    for body, share in TEXT_BACKS:
        acc += share
        if roll < acc:
            return body
    return None


def demo_settings(folder: Path) -> Settings:
    """The demo's settings: its own SQLite database and outbox in ``folder``, the local channel."""
    return Settings(database_url=f"sqlite:///{folder / 'dripline.db'}", outbox_dir=folder / "outbox", channel="local")


def simulate(
    p: Pipeline,
    *,
    start: datetime,
    days: int,
    seed: int,
    every: str = "1h",
    guideline_feeds: Sequence[tuple[datetime, Path]] = (),
    scrub_every: timedelta | None = None,
    scrub_folder: Path | None = None,
) -> dict[str, Any]:
    """Replay ``days`` of ticks and dispatch from ``start`` with simulated borrowers and loan officers (and,
    with ``scrub_every``, a DNC re-scrub of the waiting numbers that often, its files kept in ``scrub_folder``)."""
    sim = Simulation(engine=p.engine, seed=seed, start=start, pipeline=p, guideline_feeds=guideline_feeds,
                     scrub_every=scrub_every, scrub_folder=scrub_folder)  # fmt: skip
    stats = replay(p, start=start, until=start + timedelta(days=days), every=parse_duration(every), hook=sim)
    return {
        "steps": stats.steps,
        "idle_steps_skipped": stats.idle,
        "planned": stats.tick.touches,
        "call_tasks": stats.tick.tasks,
        "sent": stats.dispatch.sent,
        "by_channel": {str(k): v for k, v in stats.dispatch.by_channel.items()},
        "guideline_loads": sim.guideline_loads,
        "dnc_scrubs": sim.scrubs,
    }
