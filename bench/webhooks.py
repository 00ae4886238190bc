"""Signed STOP webhooks against the web app over real HTTP: ``python -m bench --what webhooks``.

``dripline web`` (uvicorn, ``workers`` processes) runs on loopback against a fresh PostgreSQL schema holding one
lead per sender. This process posts ``rate`` STOPs a second for ``seconds`` seconds, each from another lead's
number, each signed by the Twilio SDK's own ``RequestValidator`` for the app's public URL: an open-loop schedule
(request i leaves at start + i / rate whatever the answers before it did), so a slow answer shows as latency instead of
slowing the load down. Latency: from the request leaving to its answer read, as this client sees it.

"Committed before its 200": a checker thread with its own database connection looks up each number's opt-out as
soon as its 200 arrives; one found missing there means the app answered before committing. After the run every
number's opt-out is counted again.
"""

from __future__ import annotations

import asyncio
import gc
import os
import queue
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from rich.console import Console
from twilio.request_validator import RequestValidator

from bench.databases import fresh_database
from bench.world import add_leads, phone
from flows.local_server import free_port
from storage.models import Suppression, table

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "bench-twilio-auth-token-0123456789abcdef"
OURS = "+18005550100"
console = Console()
_suppression = table(Suppression)


@dataclass
class WebhookRun:
    rate: float
    seconds: float
    workers: int = 1  # dripline web processes
    sent: int = 0
    answered: int = 0
    errors: int = 0  # anything but a 200 with TwiML, or no answer
    latencies_ms: list[float] = field(default_factory=list)
    slow: list[tuple[float, float]] = field(default_factory=list)  # (seconds into the run, ms) of answers over 50 ms
    missing_at_200: int = 0  # opt-outs not yet committed when their 200 arrived
    opted_out_after: int = 0  # numbers with an opt-out once the run is over
    span_s: float = 0.0  # from the first request leaving to the last answer
    load: float = 0.0

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")


def _opted_out(conn: sa.Connection, number: str) -> bool:
    query = sa.select(sa.func.count()).where(_suppression.c.address == number, _suppression.c.action == "opt_out")
    return bool(conn.execute(query).scalar_one())


def _checker(url: str, numbers: queue.Queue[str | None], run: WebhookRun) -> None:
    from storage.db import make_engine

    engine = make_engine(url)
    with engine.connect() as conn:
        while (number := numbers.get()) is not None:
            if not _opted_out(conn, number):
                run.missing_at_200 += 1
            conn.rollback()  # a fresh snapshot for the next look-up
    engine.dispose()


async def _post_all(base: str, forms: list[dict[str, str]], signatures: list[str], run: WebhookRun,
                    answered: queue.Queue[str | None]) -> None:  # fmt: skip
    limits = httpx.Limits(max_connections=400, max_keepalive_connections=400)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30.0) as client:

        async def one(i: int, at: float) -> None:
            await asyncio.sleep(max(0.0, at - time.perf_counter()))
            began = time.perf_counter()
            try:
                answer = await client.post("/twilio/sms", data=forms[i], headers={"X-Twilio-Signature": signatures[i]})
                ok = answer.status_code == 200 and answer.text.startswith("<?xml")
            except httpx.HTTPError:
                ok = False
            took = (time.perf_counter() - began) * 1000
            run.latencies_ms.append(took)
            if took > 50:
                run.slow.append((began - start, took))
            if ok:
                run.answered += 1
                answered.put(forms[i]["From"])
            else:
                run.errors += 1

        start = time.perf_counter() + 0.5
        run.sent = len(forms)
        await asyncio.gather(*(one(i, start + i / run.rate) for i in range(len(forms))))
        run.span_s = time.perf_counter() - start


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"dripline web exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("dripline web did not become ready")


def run(pg_url: str, *, rate: float = 200.0, seconds: float = 30.0, workers: int = 1) -> WebhookRun:
    n = round(rate * seconds)
    result = WebhookRun(rate=rate, seconds=seconds, workers=workers, load=os.getloadavg()[0])
    with fresh_database("postgresql", "webhooks", pg_url) as (url, engine):
        add_leads(engine, n)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            # Flush the seeding's writes now, so the checkpoint they call for does not land inside the timed run.
            conn.execute(sa.text("CHECKPOINT"))
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "DRIPLINE_"))} | {
            "DRIPLINE_DATABASE_URL": url,
            "DRIPLINE_TWILIO_AUTH_TOKEN": TOKEN,
            "DRIPLINE_PUBLIC_BASE_URL": base,
            "DRIPLINE_WEB_RATE_PER_MINUTE": "0",
            "DRIPLINE_WEB_WORKERS": str(workers),  # one client sends everything here: no per-client limit
            "XDG_RUNTIME_DIR": str(ROOT / "bench" / "out"),  # no `dripline serve` marker: no Prefect API
            "PREFECT_HOME": str(ROOT / "bench" / "out" / "prefect-home"),
        }
        log = (ROOT / "bench" / "out" / "webhooks-web.log").open("wb")
        web = subprocess.Popen([sys.executable, "-m", "dripline.cli", "web", "--port", str(port)], env=env, cwd=ROOT,
                               stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
        try:
            wait_ready(f"{base}/readyz", web)
            validator = RequestValidator(TOKEN)
            forms = [
                {
                    "MessageSid": f"SM{i:032d}",
                    "AccountSid": "AC" + "1" * 32,
                    "From": phone(i),
                    "To": OURS,
                    "Body": "STOP",
                    "NumMedia": "0",
                }
                for i in range(n)
            ]
            signatures = [validator.compute_signature(f"{base}/twilio/sms", form) for form in forms]
            # A few untimed requests first: the app opens its pipeline and the database pool on the first one.
            warm = [
                {"MessageSid": f"SMwarm{i:028d}", "From": phone(n + i), "To": OURS, "Body": "HELP"} for i in range(5)
            ]
            for form in warm:
                sig = validator.compute_signature(f"{base}/twilio/sms", form)
                httpx.post(f"{base}/twilio/sms", data=form, headers={"X-Twilio-Signature": sig}, timeout=30)
            answered: queue.Queue[str | None] = queue.Queue()
            checker = threading.Thread(target=_checker, args=(url, answered, result), daemon=True)
            checker.start()
            # The load generator's own garbage-collector pauses would show up as the app's latency: none during
            # the timed run (it allocates little that is not freed at once).
            gc.collect()
            gc.disable()
            try:
                asyncio.run(_post_all(base, forms, signatures, result, answered))
            finally:
                gc.enable()
            answered.put(None)
            checker.join(timeout=120)
        finally:
            web.terminate()
            web.wait(timeout=30)
            log.close()
        with engine.connect() as conn:
            opted = conn.execute(
                sa.select(sa.func.count(sa.distinct(_suppression.c.address))).where(
                    _suppression.c.action == "opt_out", _suppression.c.address.in_([f["From"] for f in forms])
                )
            ).scalar_one()
        result.opted_out_after = int(opted)
    console.print(
        f"STOP webhooks: {result.sent:,} sent at {rate:g}/s for {seconds:g} s; {result.answered:,} answered 200, "
        f"{result.errors} errors; latency p50 {result.percentile(0.5):.1f} ms, p95 {result.percentile(0.95):.1f} ms, "
        f"p99 {result.percentile(0.99):.1f} ms, max {max(result.latencies_ms, default=0):.1f} ms; "
        f"{result.missing_at_200} opt-outs not committed at their 200; {result.opted_out_after:,} numbers opted out"
    )
    return result


TABLE = (
    "## STOP webhooks\n\n"
    "`python -m bench --what webhooks`: `dripline web` (uvicorn, `--workers` processes) on loopback "
    "against PostgreSQL, one lead per sender; signed STOPs (the Twilio SDK's `RequestValidator`) "
    "posted at a fixed rate, open loop, each from another lead's number, by one asyncio client on "
    "the same machine. Latency: request out to answer read, at the client. Not committed at 200: "
    "opt-outs a second connection did not find right after their 200 (target 0). Targets: p99 < 50 ms, "
    "0 errors. Load: the 1-minute load average when the run began (2 cores).\n\n"
    "| date | code | machine | web processes | rate /s | seconds | sent | 200s | errors | p50 ms "
    "| p95 ms | p99 ms | max ms | not committed at 200 | opted out after | load |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
)


def line(r: WebhookRun, stamp: str, code: str, where: str) -> str:
    cells: list[Any] = [
        stamp, code, where, r.workers, f"{r.rate:g}", f"{r.seconds:g}", f"{r.sent:,}", f"{r.answered:,}", r.errors,
        f"{r.percentile(0.5):.1f}", f"{r.percentile(0.95):.1f}", f"{r.percentile(0.99):.1f}",
        f"{max(r.latencies_ms, default=0):.1f}", r.missing_at_200, f"{r.opted_out_after:,}", f"{r.load:.2f}",
    ]  # fmt: skip
    return "| " + " | ".join(str(c) for c in cells) + " |\n"
