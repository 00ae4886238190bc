"""``dripline serve`` and the demo as real processes, each with the real Prefect server it starts.

A one-off command finds a running serve by itself and shows up there as a named flow run with an artifact;
stopping the serve withdraws its marker and leaves no server behind; a killed demo takes its temporary server
with it. Each test waits for a Prefect server to boot (12-24 s), so there is one of each, on SQLite only: the
flows and commands are run against Prefect on SQLite and PostgreSQL by ``tests/cli/test_cli_prefect.py`` and
``tests/flows/``; what these add is the processes.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId, FlowRunFilterName
from prefect.client.schemas.objects import StateType
from prefect.settings import PREFECT_API_URL, temporary_settings

from flows.api import api_url
from flows.local_server import free_port
from tests.waiting import wait_for

pytestmark = [
    pytest.mark.prefect,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads processes from /proc"),
]

DRIPLINE = str(Path(sys.executable).parent / "dripline")
BOOT = 120.0  # seconds a Prefect server may take to answer on a busy machine


def _env(tmp_path: Path, database_url: str) -> dict[str, str]:
    """A command's environment with no Prefect API and no Prefect profile; markers and Prefect's files in tmp."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "DRIPLINE_"))}
    (tmp_path / "run").mkdir(exist_ok=True)
    return env | {
        "DRIPLINE_DATABASE_URL": database_url,
        "DRIPLINE_OUTBOX_DIR": str(tmp_path / "outbox"),
        "XDG_RUNTIME_DIR": str(tmp_path / "run"),  # where dripline serve leaves its marker
        "PREFECT_HOME": str(tmp_path / "prefect"),  # the local server's database, no profile
    }


def _processes() -> dict[int, tuple[int, int, str]]:
    """Every live process: pid -> (parent pid, session id, command line); a zombie counts as gone."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        state, ppid, _group, session = stat[stat.rindex(")") + 2 :].split()[:4]
        if state not in ("Z", "X"):
            found[int(entry.name)] = (int(ppid), int(session), cmdline)
    return found


def _server_child(pid: int) -> tuple[int, int] | None:
    """The ``prefect server start`` that process ``pid`` started: its pid and port."""
    for child, (ppid, _, cmdline) in _processes().items():
        if ppid == pid and "prefect server start" in cmdline:
            return child, int(re.search(r"--port (\d+)", cmdline).group(1))
    return None


def _session(sid: int) -> list[int]:
    """The processes of session ``sid``: the local server runs in a session of its own, with anything it starts."""
    return [pid for pid, (_, session, _) in _processes().items() if session == sid]


def _answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2) as answer:
            return answer.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _get_json(url: str) -> object:
    with urllib.request.urlopen(url, timeout=5) as answer:
        return json.loads(answer.read())


def _stop(process: subprocess.Popen[bytes], server: tuple[int, int] | None, log: Path) -> None:
    """Whatever a failed test left running is killed; the command's own output is printed for pytest to show."""
    if process.poll() is None:
        process.kill()
        process.wait(timeout=10)
    for pid in _session(server[0]) if server else []:
        os.kill(pid, signal.SIGKILL)
    print(f"--- output of {' '.join(map(str, process.args))}:\n{log.read_text(errors='replace')}")


def test_a_tick_finds_the_running_serve_and_stopping_serve_leaves_nothing_behind(tmp_path: Path, monkeypatch):
    database_url = f"sqlite:///{tmp_path / 'dripline.db'}"
    env = _env(tmp_path, database_url)
    subprocess.run([DRIPLINE, "init"], env=env, cwd=tmp_path, check=True, capture_output=True, timeout=120)
    log = tmp_path / "serve.log"
    port, web_port = free_port(), free_port()
    with log.open("wb") as out:
        command = [DRIPLINE, "serve", "--port", str(port), "--web-port", str(web_port)]
        serve = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT,
                                 start_new_session=True)  # fmt: skip
    server = None
    try:
        marker = wait_for("serve announces its API", lambda: list((tmp_path / "run").glob("dripline-serve-*")),
                           BOOT, serve)  # fmt: skip
        api = f"http://127.0.0.1:{port}/api"
        assert json.loads(marker[0].read_text()) == {"api_url": api, "pid": serve.pid}
        server = _server_child(serve.pid)
        assert server is not None and server[1] == port, "serve started its own local Prefect server"
        for name in ("PREFECT_API_URL", "PREFECT_PROFILE"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("XDG_RUNTIME_DIR", env["XDG_RUNTIME_DIR"])
        monkeypatch.setenv("PREFECT_HOME", env["PREFECT_HOME"])
        assert api_url(database_url) == api, "the marker is found for this database"
        ready = _get_json(f"http://127.0.0.1:{web_port}/readyz")
        assert ready == {"status": "ready", "problems": []}, "the web app runs beside the deployments"

        tick = subprocess.run([DRIPLINE, "tick", "--at", "2026-06-17T19:00:00Z"], env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=120)  # fmt: skip
        assert tick.returncode == 0, tick.stderr
        assert json.loads(tick.stdout)["leads"] == 0
        found = re.fullmatch(rf"flow run tick 2026-06-17 19:00Z: http://127\.0\.0\.1:{port}/runs/flow-run/(\S+)\n",
                             tick.stderr)  # fmt: skip
        assert found, f"one line naming the run and its URL in the served UI, and nothing else:\n{tick.stderr}"
        with temporary_settings(updates={PREFECT_API_URL: api}), get_client(sync_client=True) as client:
            [run] = client.read_flow_runs(
                flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=["tick 2026-06-17 19:00Z"]))
            )
            artifacts = client.read_artifacts(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run.id])))
        assert str(run.id) == found.group(1) and run.state_type == StateType.COMPLETED
        assert [(a.key, a.type) for a in artifacts] == [("tick-summary", "markdown")]
        assert "| enrolled | 0 |" in str(artifacts[0].data)

        serve.send_signal(signal.SIGINT)  # what Ctrl-C sends
        assert serve.wait(timeout=60) == 0
        assert not list((tmp_path / "run").iterdir()), "the marker is withdrawn"
        assert api_url(database_url) is None
        wait_for("the local Prefect server exits with serve", lambda: not _session(server[0]), 10, serve)
        with pytest.raises(urllib.error.URLError):
            _get_json(f"http://127.0.0.1:{web_port}/healthz")  # the same Ctrl-C stopped the web app
    finally:
        _stop(serve, server, log)


def test_a_killed_demo_leaves_no_prefect_server_behind(tmp_path: Path):
    log = tmp_path / "demo.log"
    env = _env(tmp_path, f"sqlite:///{tmp_path / 'unused.db'}")
    with log.open("wb") as out:
        demo = subprocess.Popen([DRIPLINE, "demo", "--out", str(tmp_path / "out"), "--leads", "10"], env=env,
                                cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    server = None
    try:
        server = wait_for("the demo starts a Prefect server", lambda: _server_child(demo.pid), 60, demo)
        wait_for("the demo's Prefect server answers", lambda: _answers(server[1]), BOOT, demo)
        assert demo.poll() is None, "the demo is still running when it is killed"
        demo.kill()  # SIGKILL: no finally block, no atexit, only the kernel's parent-death signal
        demo.wait(timeout=10)
        wait_for("the server and anything it started exit", lambda: not _session(server[0]), 10, demo)
        assert not _answers(server[1])
    finally:
        _stop(demo, server, log)
