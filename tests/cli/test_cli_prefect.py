"""One-off commands and Prefect: in-process without an API, a named flow run with an artifact with one, and
never a secret among a flow run's parameters."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.settings import PREFECT_API_URL
from typer.testing import CliRunner

from dripline.cli import app
from flows.api import announce_serve, api_url, withdraw_serve
from service.settings import get_settings

ROOT = Path(__file__).resolve().parents[2]
SECRET = "s3cret-pw"


def _with_password(url: str) -> str:
    """The test database's URL with a password in it (PostgreSQL's trust auth ignores it)."""
    u = sa.engine.make_url(url)
    return u.set(password=SECRET).render_as_string(hide_password=False) if u.get_backend_name() != "sqlite" else url


def test_a_running_serve_is_found_for_its_database_and_forgotten_when_it_stops(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "no-profile"))
    assert api_url("sqlite:///a.db") is None
    announce_serve("sqlite:///a.db", "http://127.0.0.1:4200/api")
    assert api_url("sqlite:///a.db") == "http://127.0.0.1:4200/api"
    assert api_url("sqlite:///other.db") is None, "a serve of another database is not ours"
    withdraw_serve("sqlite:///a.db")
    assert api_url("sqlite:///a.db") is None
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    marker = announce_serve("sqlite:///a.db", "http://127.0.0.1:4200/api")
    marker.write_text(json.dumps({"api_url": "http://127.0.0.1:4200/api", "pid": dead.pid}))
    assert api_url("sqlite:///a.db") is None, "a serve that died (its marker left behind) is not used"


def test_without_an_api_a_tick_runs_here_and_starts_no_server(tmp_path: Path):
    env = os.environ | {"DRIPLINE_DATABASE_URL": f"sqlite:///{tmp_path / 'd.db'}", "PREFECT_HOME": str(tmp_path)}
    env.pop("PREFECT_API_URL", None)
    env["XDG_RUNTIME_DIR"] = str(tmp_path)
    dripline = str(Path(sys.executable).parent / "dripline")
    subprocess.run([dripline, "init"], env=env, check=True, capture_output=True, cwd=tmp_path)
    done = subprocess.run([dripline, "tick"], env=env, capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["leads"] == 0
    assert done.stderr.count("\n") == 1 and "no Prefect API configured" in done.stderr
    assert "prefect" not in done.stdout.lower() and "INFO" not in done.stderr


@pytest.mark.prefect
def test_with_an_api_commands_are_named_flow_runs_with_artifacts_and_no_secret(
    engine, database_url, tmp_path: Path, prefect_server, monkeypatch
):
    url = _with_password(database_url)
    monkeypatch.setenv("DRIPLINE_DATABASE_URL", url)
    monkeypatch.setenv("DRIPLINE_OUTBOX_DIR", str(tmp_path / "outbox"))
    monkeypatch.setenv("PREFECT_API_URL", PREFECT_API_URL.value())
    get_settings.cache_clear()
    runner = CliRunner()
    at = "2026-06-17T19:00:00Z"
    ran = []
    for args in (["tick", "--now", at], ["dispatch", "--now", at], ["guidelines", "sweep", "--now", at],
                 ["run", "--from", at, "--until", "2026-06-17T21:00:00Z"]):  # fmt: skip
        result = runner.invoke(app, args, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        assert "no Prefect API configured" not in result.output
        [line] = [x for x in result.output.splitlines() if x.startswith("flow run ")]
        ran.append(line.rsplit("/", 1)[1])
    get_settings.cache_clear()
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ran)))
        artifacts = client.read_artifacts(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ran)))
    names = sorted(r.name for r in runs)
    assert names == sorted(
        ["tick 2026-06-17 19:00Z", "dispatch 2026-06-17 19:00Z", "guideline sweep 2026-06-17",
         "replay 2026-06-17 19:00Z .. 2026-06-17 21:00Z"]
    )  # fmt: skip
    keys = {a.key for a in artifacts}
    assert {"tick-summary", "dispatch-summary", "guideline-daily", "daily-funnel", "replay-summary"} <= keys
    for run in runs:
        shown = json.dumps(run.parameters, default=str)
        assert SECRET not in shown and "sqlite:" not in shown and "postgresql" not in shown, (run.name, shown)
