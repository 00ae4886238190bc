"""What every flow shares: settings, the pipeline per process, ``now``, the Prefect step runner and artifacts."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

import pendulum

os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")

from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import TaskRun
from prefect.states import State
from sqlalchemy.exc import DBAPIError, OperationalError

from service.pipeline import Pipeline
from service.settings import Settings, get_settings

R = TypeVar("R")
RETRY_DELAYS = [5, 30, 120]  # seconds: a database restart or a failover, not a bug, is what a retry waits out

_pipelines: dict[str, Pipeline] = {}


def resolve_now(now: str | datetime | None) -> datetime:
    """The flow's ``now``: the parameter if given, else the wall clock at the edge."""
    if now is None:
        return pendulum.now("UTC")
    if isinstance(now, datetime):
        return pendulum.instance(now).in_timezone("UTC")
    parsed = pendulum.parse(now)
    if not isinstance(parsed, pendulum.DateTime):
        raise ValueError(f"now: {now!r} is not a date and time")
    return parsed.in_timezone("UTC")


def pipeline(now: datetime, settings: Settings | None = None) -> Pipeline:
    """One Pipeline per database URL per process (engines are pooled, not rebuilt per batch).

    The database URL comes from the worker's environment (``DRIPLINE_DATABASE_URL``), never from a
    flow parameter: parameters are stored by Prefect and shown in its UI.
    """
    settings = settings or get_settings()
    key = settings.database_url
    if key not in _pipelines:
        _pipelines[key] = Pipeline.open(settings, now=now)
    return _pipelines[key]


def forget_pipelines() -> None:
    for p in _pipelines.values():
        p.engine.dispose()
    _pipelines.clear()


def _operational(task: Any, task_run: TaskRun, state: State[Any]) -> bool:
    """Retry only what a retry can cure: a lost connection or a database that is briefly unavailable."""
    try:
        state.result()
    except (OperationalError, TimeoutError, ConnectionError):
        return True
    except DBAPIError as exc:
        return bool(exc.connection_invalidated)
    except Exception:
        return False
    return False


def prefect_step(name: str, fn: Callable[..., R], /, *args: Any, retry: bool = False, **kwargs: Any) -> R:
    """The flows' :class:`service.steps.Runner`: each step of a use case is one Prefect task run.

    Steps marked ``retry`` (safe to run twice) are retried with backoff on operational errors;
    the others (a dispatch batch, which may have sent messages) never are.
    """
    step = task(
        name=name,
        cache_policy=NO_CACHE,
        retries=len(RETRY_DELAYS) if retry else 0,
        retry_delay_seconds=list(RETRY_DELAYS) if retry else 0,
        retry_condition_fn=_operational if retry else None,
    )(lambda: fn(*args, **kwargs))
    return step()


def stamp(at: datetime) -> str:
    """How a flow run names its time: ``2026-06-17 19:00Z``."""
    return pendulum.instance(at).in_timezone("UTC").strftime("%Y-%m-%d %H:%MZ")


def markdown_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "_nothing_\n"
    head = list(rows[0])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(r.get(k, "")) for k in head) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def publish(key: str, title: str, body: str, description: str) -> None:
    """A markdown artifact on the current flow run (the Prefect UI's Artifacts tab)."""
    create_markdown_artifact(key=key, markdown=f"# {title}\n\n{body}", description=description)
