"""One dispatcher process for the fault tests: ``python -m tests.faults.dispatcher URL AT LEDGER [LATENCY]``.

It prints ``ready`` once imported and connected, then dispatches everything due at ``AT``.
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

from service.dispatch import dispatch
from tests.faults.world import pipeline


def main(argv: list[str]) -> int:
    url, at, ledger = argv[:3]
    latency = float(argv[3]) if len(argv) > 3 else 0.0
    p = pipeline(url, Path(ledger), now=datetime.fromisoformat(at), latency=latency)
    print("ready", flush=True)
    stats = dispatch(p, now=datetime.fromisoformat(at), batch_size=200)
    print(stats.as_dict(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
