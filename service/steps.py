"""How a use case runs its batches: directly here, or each as a Prefect task when a flow passes its runner.

Every long use case (tick, dispatch, re-score) is written once, in the service layer, as a
sequence of named steps. It calls ``run(name, fn, *args, retry=..., **kwargs)`` for each
batch; :func:`inline` just calls ``fn``. The flows pass a runner that wraps each step in a
Prefect task (one per batch of thousands of leads, never one per lead), with retries only
where ``retry`` says the step is safe to run again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

R = TypeVar("R")


class Runner(Protocol):
    def __call__(self, name: str, fn: Callable[..., R], /, *args: Any, retry: bool = False, **kwargs: Any) -> R: ...


def inline(name: str, fn: Callable[..., R], /, *args: Any, retry: bool = False, **kwargs: Any) -> R:
    """Run the step here and now (the CLI without a Prefect API, replays, the demo's simulation, the benchmark)."""
    return fn(*args, **kwargs)
