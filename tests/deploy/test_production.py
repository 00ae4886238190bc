"""The production shape on this machine: a real Prefect server on PostgreSQL, the process work pool, the
deployments of prefect.yaml registered with ``prefect deploy --all``, two process workers and the web app, all on
one PostgreSQL database for dripline's data.

One test, run in phases so each claim is checked where it is made:

1. worker 1 alone runs a tick and a dispatch (both deployments run on it);
2. worker 2 joins; worker 1 is killed with its whole process group in the middle of a slow dispatch (a crashed
   machine); worker 2 runs the next tick and dispatch after the lease ran out and finishes the work;
3. a signed lender feed posted to the web app starts the re-score deployment once through its event, and a
   signed STOP suppresses its lead.

Messages go out on the live channel: the real Twilio SDK, over real HTTP, to the loopback fake provider this test
runs (``DRIPLINE_TWILIO_API_BASE``), which answers after 0.3 s on a clock that reads the simulated day and counts
every text it is given: duplicates are counted there, not assumed. Slow (a Prefect server, two workers and the web
app boot, a lease runs out): about two minutes.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from twilio.request_validator import RequestValidator

from bench.fake_providers import FakeProviders
from bench.world import LIVE, START, add_leads, phone
from flows.local_server import free_port
from nurture.guidelines import parse_feed
from storage.db import make_engine, upgrade
from storage.guidelines import load_snapshot
from storage.models import Suppression, Touch, table
from tests.waiting import wait_for

pytestmark = [
    pytest.mark.prefect,
    pytest.mark.production,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="process groups and /proc"),
]

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
BOOT = 180.0  # seconds the Prefect server may take on a busy machine
LEADS = 120
_touch, _suppression = table(Touch), table(Suppression)


def _pg_base() -> str:
    url = os.environ.get("DRIPLINE_TEST_DATABASE_URL")
    if not url:
        pytest.skip("set DRIPLINE_TEST_DATABASE_URL: the production shape runs on PostgreSQL only")
    return url


def _database_url(base: str, name: str) -> str:
    return sa.engine.make_url(base).set(database=name).render_as_string(hide_password=False)


@pytest.fixture
def databases() -> Iterator[tuple[str, str]]:
    """Two fresh PostgreSQL databases: dripline's data and the Prefect server's."""
    base = _pg_base()
    names = (f"dl_prod_data_{os.getpid()}", f"dl_prod_prefect_{os.getpid()}")
    admin = make_engine(base).execution_options(isolation_level="AUTOCOMMIT")

    def drop() -> None:
        with admin.connect() as conn:
            for name in names:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    drop()
    with admin.connect() as conn:
        for name in names:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield (
            _database_url(base, names[0]),
            _database_url(base, names[1]).replace("postgresql", "postgresql+asyncpg", 1),
        )
    finally:
        drop()
        admin.dispose()


class Processes:
    """Every process the test starts, each in a session of its own, killed (with its children) at the end."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.started: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        with (self.folder / f"{name}.log").open("wb") as out:
            proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)  # fmt: skip
        self.started[name] = proc
        return proc

    def kill(self, name: str) -> None:
        proc = self.started[name]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # the worker and the flow run it started: a machine gone
        proc.wait(timeout=30)

    def log(self, name: str) -> str:
        return (self.folder / f"{name}.log").read_text(errors="replace")

    def stop_all(self) -> None:
        for name, proc in self.started.items():
            if proc.poll() is None:
                self.kill(name)
        for name in self.started:
            print(f"--- {name}:\n{self.log(name)[-4000:]}")


def _get(url: str) -> Any:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return json.loads(answer.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None


def _run(argv: list[str], env: dict[str, str], timeout: float = 180) -> str:
    done = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(argv)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


_READ_RUNS = """
import json, sys
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName
names = DeploymentFilterName(any_=[sys.argv[1]])
with get_client(sync_client=True) as client:
    runs = client.read_flow_runs(deployment_filter=DeploymentFilter(name=names))
print(json.dumps([{"id": str(r.id), "name": r.name, "state": r.state_type.value} for r in runs]))
"""


def _flow_runs(env: dict[str, str], deployment: str) -> list[dict[str, Any]]:
    """The flow runs of one deployment as the Prefect API reports them (read in a child process, whose Prefect
    settings are the test's ``env``)."""
    return json.loads(_run([sys.executable, "-c", _READ_RUNS, deployment], env))


def _run_deployment(env: dict[str, str], name: str, **parameters: Any) -> str:
    params = [arg for key, value in parameters.items() for arg in ("--param", f"{key}={value}")]
    out = _run([str(BIN / "prefect"), "deployment", "run", name, *params], env)
    [run_id] = [line.split()[-1] for line in out.splitlines() if "UUID" in line]
    return run_id


def _state(env: dict[str, str], deployment: str, run_id: str) -> str | None:
    return next((r["state"] for r in _flow_runs(env, deployment) if r["id"] == run_id), None)


def _post_feed(port: int, token: str, feed: bytes) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "text/csv"}
    url = f"http://127.0.0.1:{port}/feeds/Harbor%20Capital"
    request = urllib.request.Request(url, data=feed, method="POST", headers=headers)
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.loads(answer.read())


def _post_form(url: str, fields: dict[str, str], headers: dict[str, str]) -> str:
    data = urllib.parse.urlencode(fields).encode()
    request = urllib.request.Request(url, data=data, method="POST", headers=headers)
    with urllib.request.urlopen(request, timeout=60) as answer:
        return answer.read().decode()


def _opted_out(url: str, address: str) -> list[str]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.select(_suppression.c.channel).where(
                    _suppression.c.address == address, _suppression.c.action == "opt_out"
                )
            ).scalars()
            return sorted(set(rows))
    finally:
        engine.dispose()


def _runs_in(env: dict[str, str], deployment: str, state: str) -> list[dict[str, Any]]:
    return [r for r in _flow_runs(env, deployment) if r["state"] == state]


def _completed(env: dict[str, str], deployment: str, run_id: str) -> Callable[[], bool]:
    return lambda: _state(env, deployment, run_id) == "COMPLETED"


def _ran_on(processes: Processes, worker: str, run_id: str) -> bool:
    return run_id in processes.log(worker)


def _statuses(url: str, channel: str = "sms") -> dict[str, int]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.select(_touch.c.status, sa.func.count()).where(_touch.c.channel == channel).group_by(_touch.c.status)
            ).all()
    finally:
        engine.dispose()
    return {status: n for status, n in rows}


def test_two_workers_share_the_work_and_one_finishes_what_a_killed_one_left(databases, tmp_path: Path):
    data_url, prefect_url = databases
    engine = make_engine(data_url)
    upgrade(engine)
    add_leads(engine, LEADS)  # each a text and an email on day 0, an officer's call first
    baseline = (ROOT / "guidelines" / "examples" / "harbor-2026-02.json").read_text()
    load_snapshot(engine=engine, programs=parse_feed(baseline, format="json"), source="baseline", loaded_by="test",
                  now=START)  # fmt: skip
    engine.dispose()
    port, web_port = free_port(), free_port()
    texts_due = START + timedelta(hours=3)
    began = datetime.now(UTC)
    fake = FakeProviders(latency=0.3, clock=lambda: texts_due + (datetime.now(UTC) - began)).start()
    live = {f"DRIPLINE_{name.upper()}": str(value) for name, value in LIVE.items()}
    env = (
        {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "DRIPLINE_"))}
        | live
        | {
            "PREFECT_HOME": str(tmp_path / "prefect"),
            "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
            "PREFECT_API_DATABASE_CONNECTION_URL": prefect_url,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_SERVER_CONCURRENCY_INITIAL_DEPLOYMENT_LEASE_DURATION": "30",  # a dead run's slot comes back soon
            "PREFECT_WORKER_QUERY_SECONDS": "1",
            "PREFECT_WORKER_PREFETCH_SECONDS": "1",
            "DRIPLINE_HOME": str(ROOT),
            "DRIPLINE_DATABASE_URL": data_url,
            "DRIPLINE_TWILIO_API_BASE": fake.url,
            "DRIPLINE_SENDGRID_API_HOST": fake.url,
            # the callback URL names each text's touch: the fake counts texts by touch
            "DRIPLINE_TWILIO_STATUS_CALLBACK_URL": "https://harborlending.test/twilio/status",
            "DRIPLINE_SMS_PER_SECOND": "8",  # the texts take ~15 s to send: time to kill the dispatch in the middle
            "DRIPLINE_LEASE_SECONDS": "20",
            "DRIPLINE_RECONCILE_AFTER_SECONDS": "60",
            "DRIPLINE_PUBLIC_BASE_URL": f"http://127.0.0.1:{web_port}",  # what the webhooks are signed for
        }
    )
    processes = Processes(tmp_path)
    try:
        processes.start("prefect-server", [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port",
                                           str(port), "--no-ui", "--no-scheduler"], env)  # fmt: skip
        wait_for("the Prefect server answers", lambda: _get(f"http://127.0.0.1:{port}/api/health"), BOOT)
        _run([str(BIN / "prefect"), "work-pool", "create", "dripline-process", "--type", "process"], env)
        _run([str(BIN / "prefect"), "--no-prompt", "deploy", "--all"], env)

        processes.start("web", [str(BIN / "dripline"), "web", "--port", str(web_port)], env)
        ready = f"http://127.0.0.1:{web_port}/readyz"
        wait_for("the web app is ready", lambda: (_get(ready) or {}).get("status") == "ready", 60)

        # 1. One worker: a tick plans the day's first call tasks and texts, a dispatch sends the texts due.
        processes.start("worker-1", [str(BIN / "prefect"), "worker", "start", "--pool", "dripline-process",
                                     "--type", "process", "--name", "worker-1"], env)  # fmt: skip
        for at in (START, texts_due):  # the day-0 call tasks, then the texts that follow them
            first_tick = _run_deployment(env, "cadence-tick/cadence-tick", at=at.isoformat())
            wait_for("a tick completes", _completed(env, "cadence-tick", first_tick), 120)
        assert _statuses(data_url) == {"planned": LEADS}
        first_dispatch = _run_deployment(env, "dispatch/dispatch", at=texts_due.isoformat())
        assert _ran_on(processes, "worker-1", first_tick)

        # 2. Worker 2 joins; worker 1 dies (with the flow run it started) while its dispatch is sending.
        processes.start("worker-2", [str(BIN / "prefect"), "worker", "start", "--pool", "dripline-process",
                                     "--type", "process", "--name", "worker-2"], env)  # fmt: skip
        wait_for("worker 1 is sending", lambda: len(fake.arrivals("sms")) >= 10, 120)
        assert _ran_on(processes, "worker-1", first_dispatch)
        processes.kill("worker-1")
        sent_by_the_dead = len(fake.arrivals("sms"))
        stranded = _statuses(data_url)
        assert 10 <= sent_by_the_dead < LEADS and stranded.get("sending", 0) > 0, (sent_by_the_dead, stranded)

        time.sleep(21)  # the dead dispatcher's lease runs out
        later = texts_due + timedelta(minutes=5)
        second_tick = _run_deployment(env, "cadence-tick/cadence-tick", at=later.isoformat())
        wait_for("worker 2 ticks", _completed(env, "cadence-tick", second_tick), 180)
        second_dispatch = _run_deployment(env, "dispatch/dispatch", at=later.isoformat())
        # The dead run still holds the dispatch deployment's concurrency slot until its lease (30 s) is revoked.
        wait_for("worker 2 dispatches", _completed(env, "dispatch", second_dispatch), 240)
        assert _ran_on(processes, "worker-2", second_tick) and _ran_on(processes, "worker-2", second_dispatch)

        # The dead worker's texts: never begun ones went back to planned when its lease ran out, begun ones became
        # unknown and were settled from the provider's records; worker 2 sent the rest. Each text went exactly once.
        assert _statuses(data_url) == {"sent": LEADS}
        assert len(fake.arrivals("sms")) == LEADS > sent_by_the_dead
        assert fake.duplicates() == {}

        # 3. A lender posts a loosening feed to the web app: its event starts the re-score deployment, once; the
        # same upload again changes nothing and starts nothing.
        token = _run([str(BIN / "dripline"), "feeds", "token", "create", "Harbor Capital"], env).split()[-1]
        rows = (ROOT / "guidelines" / "examples" / "harbor-2026-06.csv").read_text().splitlines()
        feed = "\n".join(r for i, r in enumerate(rows) if i == 0 or r.startswith("Harbor Capital,")).encode() + b"\n"
        first, again = (_post_feed(web_port, token, feed) for _ in range(2))
        assert first["status"] == "stored" and first["loosened"] and first["events"], first
        assert again["status"] == "unchanged", again
        done = wait_for("the event starts the re-score", lambda: _runs_in(env, "guideline-rescore", "COMPLETED"), 180)
        time.sleep(3)  # a second run, if the event were handled twice, would be there by now
        assert len(done) == len(_flow_runs(env, "guideline-rescore")) == 1

        # 4. A signed STOP from the first lead's phone: its opt-out is stored before the web app's 200.
        stop = {"MessageSid": "SM" + "7" * 32, "AccountSid": LIVE["twilio_account_sid"], "From": phone(0),
                "To": LIVE["twilio_from_number"], "Body": "STOP"}  # fmt: skip
        url = f"http://127.0.0.1:{web_port}/twilio/sms"
        signed = RequestValidator(LIVE["twilio_auth_token"]).compute_signature(url, stop)
        answer = _post_form(url, stop, {"X-Twilio-Signature": signed})
        assert answer.startswith("<?xml") and "<Response" in answer
        assert _opted_out(data_url, phone(0)) == ["call", "email", "sms", "voicemail"], "STOP stops every channel"
        with pytest.raises(urllib.error.HTTPError) as refused:
            _post_form(url, stop | {"MessageSid": "SM" + "8" * 32}, {"X-Twilio-Signature": signed})
        assert refused.value.code == 403, "a signature for other fields is refused"
    finally:
        processes.stop_all()
        fake.stop()
