"""What the race tests run in separate processes (started with ``spawn``: a fresh interpreter, its own engine
and connections). Each worker opens the pipeline the way a command does, waits at a barrier shared with the
others so they start together, does its work and reports on a queue; it never raises."""

from __future__ import annotations

import multiprocessing
import queue
import threading
import time
import traceback
from datetime import datetime
from typing import Any

from service.inbound import handle_inbound_sms
from service.pipeline import Pipeline, tick
from service.settings import Settings
from tests.fakes import RecordingSender

BARRIER_SECONDS = 60
OURS = "+18005550100"


def _open(url: str, at: datetime, **settings: Any) -> tuple[Pipeline, RecordingSender]:
    sender = RecordingSender()
    return Pipeline.open(Settings(database_url=url, **settings), now=at, sender=sender), sender


def tick_worker(url: str, times: list[datetime], batch_size: int, barrier: Any, out: Any) -> None:
    """A ``tick`` at each of ``times``, each started with the other processes' at the barrier; reports ("ok",
    the summaries) or ("error", the traceback)."""
    try:
        p, _ = _open(url, times[0], batch_size=batch_size)
        summaries = []
        for at in times:
            barrier.wait(BARRIER_SECONDS)
            summaries.append(tick(p, now=at).as_dict())
        out.put(("ok", summaries))
    except BaseException:
        out.put(("error", traceback.format_exc()))


def stop_worker(url: str, at: datetime, numbers: list[str], barrier: Any, out: Any) -> None:
    """One thread per number, each texting STOP from it (every thread on its own connection), all released
    together with the other process's threads; reports what each handler answered and what the sender got."""
    results: list[tuple[str, str | None, str, tuple[str, ...]]] = []
    errors: list[str] = []
    try:
        p, sender = _open(url, at)
    except BaseException:
        out.put(("error", [traceback.format_exc()], [], []))
        return

    def stop(number: str) -> None:
        try:
            barrier.wait(BARRIER_SECONDS)
            r = handle_inbound_sms(p, from_number=number, to_number=OURS, body="STOP", at=at)
            results.append((number, r.reply, r.reply_status, r.begun))
        except BaseException:
            errors.append(traceback.format_exc())

    threads = [threading.Thread(target=stop, args=(n,)) for n in numbers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(BARRIER_SECONDS * 2)
    if any(t.is_alive() for t in threads):
        errors.append("a STOP handler did not finish in time (deadlock?)")
    out.put(("ok" if not errors else "error", errors, results, [(k, m.to) for k, m in sender.sent]))


def run_together(target: Any, args: list[tuple[Any, ...]], *, parties: int, timeout: float) -> list[Any]:
    """Start one spawned process per ``args`` running ``target(*args, barrier, queue)``, with a barrier of
    ``parties``; return what each reported. Every process is killed if they have not all reported and ended
    within ``timeout`` seconds (the caller's test then fails on the missing reports)."""
    ctx = multiprocessing.get_context("spawn")
    barrier, out = ctx.Barrier(parties), ctx.Queue()
    procs = [ctx.Process(target=target, args=(*a, barrier, out), daemon=True) for a in args]
    deadline = time.monotonic() + timeout
    reports: list[Any] = []
    try:
        for proc in procs:
            proc.start()
        for _ in procs:
            reports.append(out.get(timeout=max(0.1, deadline - time.monotonic())))
        for proc in procs:
            proc.join(max(0.1, deadline - time.monotonic()))
    except queue.Empty:
        pass
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.kill()
                proc.join(5)
        out.close()
    assert len(reports) == len(procs), f"only {len(reports)} of {len(procs)} processes reported in {timeout} s"
    return reports
