"""The loopback fake providers in a process of their own, so the dispatcher measured shares neither its GIL nor
its memory with them: ``python -m bench.fake_server LATENCY``.

Prints the fake's URL, then answers commands on stdin, one a line: ``report`` prints one JSON line (each
create request's arrival time per channel, as ``time.monotonic()``, which on Linux is one clock for every
process; the touch keys kept more than once; how many messages were kept), ``stop`` (or end of input) stops.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from bench.fake_providers import FakeProviders


def report(fake: FakeProviders) -> dict[str, Any]:
    """What the dispatch benchmark reads from a fake, in process or not."""
    return {
        "arrivals": {channel: fake.arrivals(channel) for channel in ("sms", "voicemail", "email")},
        "duplicates": fake.duplicates(),
        "kept": sum(fake.count_by_touch().values()),
    }


def main(argv: list[str]) -> int:
    latency = float(argv[0]) if argv else 0.15
    with FakeProviders(latency=latency, keep_requests=False) as fake:
        print(fake.url, flush=True)
        for line in sys.stdin:
            command = line.strip()
            if command == "report":
                print(json.dumps(report(fake)), flush=True)
            elif command == "stop":
                break
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
