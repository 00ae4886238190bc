"""How a use case runs its batches: directly here, or each as a Prefect task when a flow passes its runner.

Every long use case (tick, dispatch, re-score) is written once, in the service layer, as a
sequence of named steps. It calls ``run(name, fn, *args, retry=..., **kwargs)`` for each
batch; :func:`inline` just calls ``fn``. The flows pass a runner that wraps each step in a
Prefect task (one per batch of thousands of leads, never one per lead), with retries only
where ``retry`` says the step is safe to run again.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar

R = TypeVar("R")


class Runner(Protocol):
    def __call__(self, name: str, fn: Callable[..., R], /, *args: Any, retry: bool = False, **kwargs: Any) -> R: ...


def inline(name: str, fn: Callable[..., R], /, *args: Any, retry: bool = False, **kwargs: Any) -> R:
    """Run the step here and now (the CLI without a Prefect API, replays, the demo's simulation, the benchmark)."""
    return fn(*args, **kwargs)


# Objects made between two collections of the youngest generation while a batch runs (CPython's default: 700).
BATCH_GC_THRESHOLD = 100_000


@contextmanager
def fewer_gc_passes(threshold: int = BATCH_GC_THRESHOLD) -> Iterator[None]:
    """Let the cyclic garbage collector run less often while a batch runs, then as before.

    A tick batch makes a few hundred thousand small objects (rows, plans, decision lines) that all live until it
    commits: the default collects the youngest generation every 700 of them, finds nothing to free, and promotes
    them, so the older generations are walked again and again. Measured on the 1,000,000-lead tick, those passes
    cost about 5% of its time. Nothing is kept longer than the batch: the collector still runs, less often."""
    old = gc.get_threshold()
    gc.set_threshold(max(threshold, old[0]), *old[1:])
    try:
        yield
    finally:
        gc.set_threshold(*old)
