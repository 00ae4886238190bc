"""Dispatch against its floor, the providers' rate limits: ``python -m bench --what dispatch``.

Leads are stored by plain SQL (each with an email; a share of them, by default the SMS rate's share of the
two rates, also with a phone and written consent), and the real ``tick`` plans their day-0 text and email.
Then, in a fresh process (its peak RSS is the dispatcher's own), the real ``service.dispatch.dispatch`` sends
every due touch through the real Twilio and SendGrid SDK senders (``RoutingSender``), pointed at the loopback
fake providers answering after ``latency`` seconds, paced by the ``RateLimitedSender`` that
``service.senders.make_pace`` builds from the settings.

The achieved rate of a channel is measured at the fake: (arrivals - 1) / (last arrival - first arrival) of
that channel's create requests, nothing left out (no ramp-up is excluded; the claims, the batch ends and the
drain between batches are all inside the span). The floor is the configured rate; the target is >= 90% of it.

The fake runs in a process of its own by default (``--fake process``), so it shares neither the dispatcher's
GIL nor its memory; ``--fake inline`` runs it in the dispatching process (both are recorded when measured).

    python -m bench.dispatch_rate phase CONFIG_JSON   # one measured dispatch; prints one JSON line
"""

from __future__ import annotations

import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from rich.console import Console

from bench.databases import OUT, fresh_database
from bench.fake_providers import FakeProviders, max_in_window
from bench.fake_server import report
from bench.world import CADENCE, DUE, LIVE, START, add_leads, settings
from channels.base import RoutingSender
from channels.local import LocalOutbox
from channels.sendgrid_channel import SendGridSender
from channels.twilio_channel import RedirectedHttpClient, TwilioSender
from service.dispatch import dispatch
from service.pipeline import Pipeline, tick
from service.senders import make_pace
from service.settings import Settings
from storage.cadences import register_cadence
from storage.db import make_engine
from storage.models import Touch, table

ROOT = Path(__file__).resolve().parent.parent
console = Console()
_touch = table(Touch)
WARM_UP = 2.0  # seconds of a channel's first requests left out of its "warm" max in any second


@dataclass(frozen=True)
class Config:
    db: str
    touches: int  # about this many due touches (texts + emails)
    sms_per_second: float = 30.0
    email_per_second: float = 100.0
    texted: float | None = None  # the share of leads also texted; None: sms / (sms + email) of the rates' share
    latency: float = 0.15
    concurrency: int = 32
    batch: int = 2000
    fake: str = "process"  # or "inline"
    run: str = "throughput"  # what the row is for: throughput, memory

    def share(self) -> float:
        if self.texted is not None:
            return self.texted
        return self.sms_per_second / self.email_per_second

    def leads(self) -> int:
        return math.ceil(self.touches / (1 + self.share()))


def texted(share: float):  # type: ignore[no-untyped-def]
    """Lead i is texted when the running count of ``share`` * i steps up at i: an even spread."""
    return lambda i: math.floor((i + 1) * share) > math.floor(i * share)


def bench_settings(url: str, cfg: dict[str, Any]) -> Settings:
    return settings(
        url,
        **LIVE,
        twilio_status_callback_url="https://harborlending.test/twilio/status",
        sms_per_second=cfg["sms_per_second"],
        email_per_second=cfg["email_per_second"],
        dispatch_concurrency=cfg["concurrency"],
        batch_size=cfg["batch"],
    )


def live_sender(s: Settings, base_url: str, *, timeout: float = 10.0) -> RoutingSender:
    """What ``service.senders.make_sender`` builds for the live channel, with both SDKs pointed at ``base_url``."""
    twilio = TwilioSender(
        account_sid=s.twilio_account_sid,
        auth_token=s.twilio_auth_token.get_secret_value(),
        from_number=s.twilio_from_number,
        status_callback_url=s.twilio_status_callback_url,
        http_client_factory=lambda: RedirectedHttpClient(base_url, timeout=timeout),
        timeout=timeout,
    )
    sendgrid = SendGridSender(
        api_key=s.sendgrid_api_key.get_secret_value(),
        from_email=s.sendgrid_from_email,
        from_name=s.company_name,
        host=base_url,
        timeout=timeout,
    )
    return RoutingSender(sms=twilio, voicemail=twilio, email=sendgrid)


def phase(cfg: dict[str, Any]) -> dict[str, Any]:
    """The measured dispatch, in this (fresh) process."""
    url = cfg["url"]
    engine = make_engine(url)
    registry = register_cadence(engine=engine, cadence=CADENCE, now=START)
    s = bench_settings(url, cfg)
    fake = None
    base = cfg.get("fake_url")
    if base is None:
        fake = FakeProviders(latency=cfg["latency"], keep_requests=False).start()
        base = fake.url
    pace = make_pace(s)
    p = Pipeline(s, engine, registry, live_sender(s, base), pace=pace)
    started = time.monotonic()
    stats = dispatch(p, now=DUE)
    ended = time.monotonic()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    close = getattr(pace, "close", None)
    if close:
        close()
    out: dict[str, Any] = {"started": started, "ended": ended, "stats": stats.as_dict(), "max_rss_mb": rss}
    if fake is not None:
        out["fake"] = report(fake)
        fake.stop()
    return out


def _due_by_channel(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(_touch.c.channel, sa.func.count()).where(_touch.c.status == "planned").group_by(_touch.c.channel)
        ).all()
    return {channel: n for channel, n in rows}


def _statuses(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(_touch.c.status, sa.func.count()).group_by(_touch.c.status)).all()
    return {status: n for status, n in rows}


class _FakeProcess:
    def __init__(self, latency: float) -> None:
        cmd = [sys.executable, "-m", "bench.fake_server", str(latency)]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()
        if not self.url.startswith("http"):
            raise RuntimeError(f"the fake providers did not start: {self.url!r}")

    def report(self) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("report\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def stop(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.write("stop\n")
            self.proc.stdin.close()
        self.proc.wait(timeout=30)


def rate(arrivals: list[float]) -> float:
    """Arrivals per second over the span from the first to the last (0 with fewer than two)."""
    if len(arrivals) < 2:
        return 0.0
    ordered = sorted(arrivals)
    return (len(ordered) - 1) / (ordered[-1] - ordered[0])


def warm(arrivals: list[float], after: float = WARM_UP) -> list[float]:
    """The arrivals from ``after`` seconds past the first one on (the SDKs' first requests import and connect)."""
    if not arrivals:
        return []
    start = min(arrivals) + after
    return [t for t in arrivals if t >= start]


def run(cfg: Config, pg_url: str) -> dict[str, Any]:
    leads = cfg.leads()
    console.print(
        f"[bold]dispatch[/] ({cfg.run}) on [bold]{cfg.db}[/]: {leads:,} leads, {cfg.share():.0%} texted, "
        f"{cfg.sms_per_second:g} SMS/s, {cfg.email_per_second:g} emails/s, fake latency {cfg.latency * 1000:.0f} ms "
        f"({cfg.fake}), {cfg.concurrency} in flight per lane, batch {cfg.batch:,}"
    )
    load = os.getloadavg()[0]
    with fresh_database(cfg.db, "dispatch", pg_url) as (url, engine):
        started = time.perf_counter()
        add_leads(engine, leads, texted=texted(cfg.share()))
        p = Pipeline(settings(url), engine, register_cadence(engine=engine, cadence=CADENCE, now=START),
                     LocalOutbox(Path(tempfile.mkdtemp())))  # fmt: skip
        tick(p, now=DUE, batch_size=5000)
        due = _due_by_channel(engine)
        if engine.dialect.name == "postgresql":
            with engine.begin() as conn:
                conn.execute(sa.text("ANALYZE"))
        console.print(f"  seeded and planned {due} in {time.perf_counter() - started:.0f} s")
        fake = _FakeProcess(cfg.latency) if cfg.fake == "process" else None
        try:
            params = asdict(cfg) | {"url": url, "fake_url": fake.url if fake else None}
            out = subprocess.run([sys.executable, "-m", "bench.dispatch_rate", "phase", json.dumps(params)],
                                 cwd=ROOT, check=True, capture_output=True, text=True)  # fmt: skip
            result = json.loads(out.stdout.strip().splitlines()[-1])
            at_fake = fake.report() if fake else result["fake"]
        finally:
            if fake:
                fake.stop()
        left = _statuses(engine)
    arrivals = at_fake["arrivals"]
    name = cfg.run.replace(" ", "-").replace(":", "-")
    (OUT / f"arrivals-{name}-{cfg.db}.json").write_text(json.dumps(arrivals | {"started": result["started"]}))
    row: dict[str, Any] = {
        "what": "dispatch",
        "run": cfg.run,
        "db": cfg.db,
        "leads": leads,
        "sms_due": due.get("sms", 0),
        "email_due": due.get("email", 0),
        "latency_ms": cfg.latency * 1000,
        "concurrency": cfg.concurrency,
        "batch": cfg.batch,
        "fake": cfg.fake,
        "sms_rate": cfg.sms_per_second,
        "email_rate": cfg.email_per_second,
        "sms_achieved": rate(arrivals["sms"]),
        "email_achieved": rate(arrivals["email"]),
        "sms_max_1s": max_in_window(arrivals["sms"], 1.0),
        "email_max_1s": max_in_window(arrivals["email"], 1.0),
        "sms_max_1s_warm": max_in_window(warm(arrivals["sms"]), 1.0),
        "email_max_1s_warm": max_in_window(warm(arrivals["email"]), 1.0),
        "arrived": sum(len(a) for a in arrivals.values()),
        "duplicates": len(at_fake["duplicates"]),
        "not_sent": sum(n for status, n in left.items() if status not in ("sent", "skipped")),
        "seconds": result["ended"] - result["started"],
        "rss_mb": result["max_rss_mb"],
        "load": load,
        "stats": result["stats"],
    }
    console.print(
        f"  SMS   {row['sms_achieved']:.1f}/s of {cfg.sms_per_second:g} "
        f"({row['sms_achieved'] / cfg.sms_per_second:.1%}), at most {row['sms_max_1s']} in any second "
        f"({row['sms_max_1s_warm']} after the first {WARM_UP:g} s)\n"
        f"  email {row['email_achieved']:.1f}/s of {cfg.email_per_second:g} "
        f"({row['email_achieved'] / cfg.email_per_second:.1%}), at most {row['email_max_1s']} in any second "
        f"({row['email_max_1s_warm']} after the first {WARM_UP:g} s)\n"
        f"  {row['arrived']:,} requests at the fake, {row['duplicates']} duplicates, {row['not_sent']} not sent "
        f"({left}); dispatch {row['seconds']:.1f} s, peak RSS {row['rss_mb']:.0f} MB"
    )
    return row


TABLE = (
    "## Dispatch throughput\n\n"
    "`python -m bench --what dispatch`: the real `dispatch` sends every due day-0 text and email through the real "
    "Twilio and SendGrid SDK senders to the loopback fake providers (`bench/fake_providers.py`), which answer "
    "each request after the given latency; the pace is the `RateLimitedSender` built from the settings. Achieved: "
    "that channel's requests at the fake over the span from its first to its last arrival, nothing excluded. "
    "Ratio: achieved / configured; target >= 0.90, peak RSS < 400 MB for 100,000 due touches. Max 1 s: the most "
    "requests of the channel in any one second at the fake, over the whole run / leaving out the channel's first "
    "2 s (its first requests import the SDK's API modules and connect, and those acquired meanwhile arrive "
    "together). Peak RSS: the dispatching process (ru_maxrss). "
    "Fake: `process` runs the fake providers in a process of their own, `inline` in the dispatching process. "
    "Load: the 1-minute load average when the run began (2 cores).\n\n"
    "| date | code | machine | run | db | due texts | due emails | latency ms | in flight | batch | fake "
    "| SMS/s set | SMS/s got | ratio | max 1 s | emails/s set | emails/s got | ratio | max 1 s "
    "| duplicates | not sent | dispatch s | peak RSS MB | load |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
)


def line(r: dict[str, Any], stamp: str, code: str, where: str) -> str:
    cells = [
        stamp, code, where, r["run"], r["db"], f"{r['sms_due']:,}", f"{r['email_due']:,}", f"{r['latency_ms']:.0f}",
        r["concurrency"], f"{r['batch']:,}", r["fake"],
        f"{r['sms_rate']:g}", f"{r['sms_achieved']:.1f}", f"{r['sms_achieved'] / r['sms_rate']:.2f}",
        f"{r['sms_max_1s']} / {r['sms_max_1s_warm']}",
        f"{r['email_rate']:g}", f"{r['email_achieved']:.1f}", f"{r['email_achieved'] / r['email_rate']:.2f}",
        f"{r['email_max_1s']} / {r['email_max_1s_warm']}",
        r["duplicates"], r["not_sent"], f"{r['seconds']:.1f}", f"{r['rss_mb']:.0f}", f"{r['load']:.2f}",
    ]  # fmt: skip
    return "| " + " | ".join(str(c) for c in cells) + " |\n"


if __name__ == "__main__":
    if sys.argv[1:2] != ["phase"]:
        sys.exit("usage: python -m bench.dispatch_rate phase CONFIG_JSON (or python -m bench --what dispatch)")
    print(json.dumps(phase(json.loads(sys.argv[2]))))
