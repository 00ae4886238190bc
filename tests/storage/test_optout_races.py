"""Opt-outs racing each other and racing a dispatch, on real connections (SQLite file, PostgreSQL schema).

- Two STOP handlers per number, in two processes, released together: one confirmation per number (counted at
  the recording senders), no deadlock, no error, every planned touch of those leads cancelled.
- A STOP storm while a dispatch sends to the same people: no send begins after its lead's opt-out committed.
  The opt-out lists, inside its own locked transaction, the touches whose send had already begun
  (``begun``); ``begin_send`` stamps a send under the same lead lock, so every touch stamped later than the
  opt-out would be missing from that list.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter, deque
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

import service.inbound
from channels.messages import Message, SendResult
from nurture.actions import TaskStatus, TouchStatus
from service.dispatch import DispatchStats, dispatch
from service.inbound import InboundResult, handle_inbound_sms
from service.pipeline import tick
from storage.models import CadencePosition, CallTask, InboundMessage, Suppression, Touch, table
from tests.fakes import RecordingSender
from tests.storage.race_workers import run_together, stop_worker
from tests.storage.test_compliance import OURS, START, _lead, _pipeline

_touch, _task, _pos, _sup = table(Touch), table(CallTask), table(CadencePosition), table(Suppression)
AT = START + timedelta(hours=5)  # every lead's first text is due
PAIRS = 12
STORM_LEADS = 150
TIMEOUT = 180.0


def _statuses(engine: Engine, lead_ids: list[int]) -> Counter[str]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(_touch.c.status).where(_touch.c.lead_id.in_(lead_ids))).scalars()
        return Counter(str(r.value) for r in rows)


def _open_cadence_tasks(engine: Engine, lead_ids: list[int]) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count()).where(
                    _task.c.lead_id.in_(lead_ids), _task.c.kind == "cadence", _task.c.status == TaskStatus.OPEN.value
                )
            ).scalar_one()
        )


def test_two_stops_from_each_number_at_once_get_one_confirmation_and_cancel_everything(
    engine: Engine, database_url: str
):
    p, _ = _pipeline(engine)
    numbers = [f"+1305555{2000 + i:04d}" for i in range(PAIRS)]
    leads: list[int] = []
    for i, number in enumerate(numbers):
        leads.append(_lead(engine, phone=number, email=f"pair{i}@example.com"))
        if i % 3 == 0:  # the same person bought again under another number: one STOP covers both leads
            leads.append(_lead(engine, phone=f"+1305555{3000 + i:04d}", alt_phone=number, email=f"twin{i}@example.com"))
    tick(p, now=START)
    tick(p, now=AT)
    planned_before = _statuses(engine, leads)[TouchStatus.PLANNED.value]
    tasks_before = _open_cadence_tasks(engine, leads)
    assert planned_before >= len(leads) and tasks_before >= len(leads)

    args = [(database_url, AT, numbers)] * 2
    reports = run_together(stop_worker, args, parties=2 * PAIRS, timeout=TIMEOUT)

    errors = [e for status, errs, _, _ in reports for e in errs if status != "ok" or errs]
    assert errors == [], errors[0] if errors else ""
    confirmations = Counter(to for *_, sent in reports for key, to in sent if key.startswith("inbound:"))
    answered = Counter(number for _, _, results, _ in reports for number, reply, *_ in results if reply)
    handled = Counter(number for _, _, results, _ in reports for number, *_ in results)
    print(f"\n{engine.dialect.name}: {sum(handled.values())} STOP handlers on {PAIRS} numbers, "
          f"{sum(confirmations.values())} confirmations at the senders; {planned_before} planned touches and "
          f"{tasks_before} open call tasks before, all cancelled")  # fmt: skip
    assert handled == dict.fromkeys(numbers, 2)
    assert confirmations == dict.fromkeys(numbers, 1), "exactly one confirmation per number"
    assert answered == dict.fromkeys(numbers, 1)
    after = _statuses(engine, leads)
    assert after[TouchStatus.PLANNED.value] == 0 and after[TouchStatus.CANCELLED.value] == planned_before
    open_tasks = _open_cadence_tasks(engine, leads)
    with engine.connect() as conn:
        positions = Counter(conn.execute(sa.select(_pos.c.status).where(_pos.c.lead_id.in_(leads))).scalars())
        suppressions = conn.execute(sa.select(sa.func.count()).select_from(_sup)).scalar_one()
        inbound = conn.execute(sa.select(sa.func.count()).select_from(table(InboundMessage))).scalar_one()
    assert open_tasks == 0 and positions == {"stopped": len(leads)}
    assert suppressions == 4 * len(leads), "one opt-out per lead and channel: the second STOP recorded nothing"
    assert inbound == 2 * PAIRS


class _Storm:
    """Who texts STOP next: first the leads whose text the sender is holding right now (every third one it
    receives, so the opt-out commits while that send is in flight), else the others in a shuffled order.
    Each lead once."""

    def __init__(self, lead_ids: list[int]) -> None:
        self.backlog = list(lead_ids)
        random.Random(7).shuffle(self.backlog)
        self.urgent: deque[int] = deque()
        self.taken: set[int] = set()
        self.started = threading.Event()
        self.lock = threading.Lock()

    def next(self) -> int | None:
        with self.lock:
            for line in (self.urgent, self.backlog):
                while line:
                    lead_id = line.popleft() if isinstance(line, deque) else line.pop()
                    if lead_id not in self.taken:
                        self.taken.add(lead_id)
                        return lead_id
        return None


class _StormSender(RecordingSender):
    """Takes a few milliseconds per text to a lead, noting when each reached it and when it accepted it;
    starts the storm at the tenth text and points it at every third text it holds."""

    def __init__(self, delay: float, storm: _Storm) -> None:
        super().__init__()
        self.delay, self.storm = delay, storm
        self.arrivals: list[tuple[str, str, float]] = []  # (key, to, when it reached the sender)
        self.accepted: dict[str, float] = {}  # key -> when the sender accepted it, a few ms later
        self.lock = threading.Lock()

    def send(self, message: Message, *, key: str) -> SendResult:
        with self.lock:
            self.arrivals.append((key, message.to, time.monotonic()))
            texts = sum(1 for k, *_ in self.arrivals if not k.startswith("inbound:"))
        if not key.startswith("inbound:"):
            if texts % 3 == 0:
                with self.storm.lock:
                    self.storm.urgent.append(int(key.split(":")[0]))
            if texts == 10:
                self.storm.started.set()
            time.sleep(self.delay)  # a text to a lead in flight; confirmations go at once
        self.accepted[key] = time.monotonic()
        return super().send(message, key=key)


def test_a_stop_storm_during_a_dispatch_never_lets_a_send_begin_after_the_opt_out(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
):
    committed: dict[str, float] = {}  # number -> a moment just after its opt-out's transaction committed
    locked = service.inbound.with_people_read

    def timed(engine: Engine, address: str, work):  # type: ignore[no-untyped-def]
        done = locked(engine, address, work)
        committed[address] = time.monotonic()
        return done

    monkeypatch.setattr(service.inbound, "with_people_read", timed)
    phones = {_lead(engine, phone=f"+1305555{4000 + i:04d}", email=f"storm{i}@example.com"): f"+1305555{4000 + i:04d}"
              for i in range(STORM_LEADS)}  # fmt: skip
    plan = _Storm(list(phones))
    sender = _StormSender(0.05, plan)
    p, _ = _pipeline(engine, sender, dispatch_concurrency=2)
    tick(p, now=START)
    tick(p, now=AT)
    opted: dict[int, InboundResult] = {}
    failures: list[str] = []

    def storm() -> None:
        if not plan.started.wait(60):
            failures.append("the dispatch never reached its tenth message")
            return
        while (lead_id := plan.next()) is not None:
            try:
                opted[lead_id] = handle_inbound_sms(p, from_number=phones[lead_id], to_number=OURS, body="STOP", at=AT)
            except BaseException as exc:  # a deadlock or a constraint error is the failure counted here
                failures.append(f"lead {lead_id}: {type(exc).__name__}: {exc}")

    dispatched: list[DispatchStats] = []
    threads = [threading.Thread(target=storm) for _ in range(6)]
    threads.append(threading.Thread(target=lambda: dispatched.append(dispatch(p, now=AT))))
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT)
    assert not any(t.is_alive() for t in threads), "the dispatch or a STOP handler never finished (deadlock?)"
    assert len(dispatched) == 1, "the dispatch raised"
    stats = dispatched[0]
    assert failures == [] and len(opted) == STORM_LEADS, failures[:3]

    with engine.connect() as conn:
        touches = conn.execute(
            sa.select(_touch.c.key, _touch.c.lead_id, _touch.c.status, _touch.c.send_started_at)
        ).all()
    started = {key: lead for key, lead, _, began in touches if began is not None}
    late = [key for key, lead in started.items() if key not in opted[lead].begun]
    assert late == [], f"{len(late)} sends began after their lead's opt-out committed: {late[:3]}"
    lead_of = {key: lead for key, lead, _, _ in touches}
    to_touches = [(key, when) for key, _, when in sender.arrivals if not key.startswith("inbound:")]
    after_opt_out = [key for key, when in to_touches if when > committed[phones[lead_of[key]]]]
    accepted_after = [key for key, _ in to_touches if sender.accepted[key] > committed[phones[lead_of[key]]]]
    assert all(key in opted[lead_of[key]].begun for key in after_opt_out + accepted_after)
    statuses = Counter(str(status.value) for _, _, status, _ in touches)
    confirmations = Counter(to for key, to, _ in sender.arrivals if key.startswith("inbound:"))
    print(f"\n{engine.dialect.name}: {STORM_LEADS} STOPs during a dispatch of {stats.claimed} texts: "
          f"{len(to_touches)} reached the sender, every one begun before its lead's opt-out committed "
          f"({len(after_opt_out)} reached it and {len(accepted_after)} were accepted after that commit, all listed "
          f"by the opt-out as begun); {stats.blocked} stopped at begin_send; touches {dict(statuses)}")  # fmt: skip
    assert stats.claimed >= 100 and len(to_touches) == len(started) == stats.sent
    assert stats.blocked > 0 and stats.sent > 0, "the storm did not overlap the dispatch"
    assert statuses[TouchStatus.PLANNED.value] == statuses[TouchStatus.SENDING.value] == 0
    assert confirmations == dict.fromkeys(phones.values(), 1)
