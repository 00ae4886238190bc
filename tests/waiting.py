"""Waiting for something a separate process does, with a clear failure when it does not happen in time."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(
    what: str, condition: Callable[[], T], timeout: float, process: subprocess.Popen[bytes] | None = None
) -> T:
    """Poll ``condition`` until it returns something true (returned); fail naming ``what`` (and the exit code of
    ``process``, when given) after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            code = f" (the process exit code: {process.poll()})" if process is not None else ""
            raise AssertionError(f"{what}: not within {timeout:.0f} s{code}")
        time.sleep(0.2)
    return value
