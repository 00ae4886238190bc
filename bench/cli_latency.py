"""How long a one-off command takes with no Prefect API configured: ``python -m bench.cli_latency [--record]``.

Times ``dripline tick`` on an empty, initialised SQLite database, as a person types it (a new process
each time, no ``PREFECT_API_URL``, no ``dripline serve`` running), against the floor of starting the same
interpreter and importing the CLI module without running anything. Target (issue 8): under 2 s wall, no
server process started, no Prefect line in the output.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
HEADER = "## One-off command latency"
INTRO = (
    "`python -m bench.cli_latency --record`: `dripline tick` on an empty, initialised SQLite database, a new "
    "process each time, no Prefect API configured (in-process, no server). Floor: the same interpreter "
    "starting and importing `dripline.cli`. Target: under 2 s wall."
)
COLUMNS = "| date | code | load (1 min) | runs | tick median s | tick max s | floor median s | ratio | stderr lines |"


def _clean_env(folder: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "DRIPLINE_"))}
    env |= {"DRIPLINE_DATABASE_URL": f"sqlite:///{folder}/bench.db", "XDG_RUNTIME_DIR": str(folder)}
    env["PREFECT_HOME"] = str(folder / "prefect")  # no profile with an API URL
    return env


def _timed(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=120)
    return time.perf_counter() - start, done


def run(runs: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        env = _clean_env(folder)
        dripline = [sys.executable, "-m", "dripline.cli"] if not _script() else [_script()]
        subprocess.run([*dripline, "init"], env=env, cwd=folder, check=True, capture_output=True, timeout=120)
        ticks, floors, stderr_lines = [], [], 0
        for _ in range(runs):
            seconds, done = _timed([*dripline, "tick"], env, folder)
            if done.returncode != 0:
                raise SystemExit(f"dripline tick failed: {done.stderr}")
            ticks.append(seconds)
            stderr_lines = max(stderr_lines, len(done.stderr.strip().splitlines()))
            floors.append(_timed([sys.executable, "-c", "import dripline.cli"], env, folder)[0])
    tick, floor = statistics.median(ticks), statistics.median(floors)
    return {
        "runs": runs,
        "tick median s": tick,
        "tick max s": max(ticks),
        "floor median s": floor,
        "ratio": tick / floor,
        "stderr lines": stderr_lines,
    }


def _script() -> str | None:
    candidate = Path(sys.executable).parent / "dripline"
    return str(candidate) if candidate.exists() else None


def record(row: dict[str, object]) -> None:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    load = os.getloadavg()[0]
    line = (
        f"| {date.today()} | {commit or '?'} | {load:.2f} | {row['runs']} | {row['tick median s']:.2f} | "
        f"{row['tick max s']:.2f} | {row['floor median s']:.2f} | {row['ratio']:.2f} | {row['stderr lines']} |\n"
    )
    text = RESULTS.read_text()
    if HEADER not in text:
        text = text.rstrip("\n") + f"\n\n{HEADER}\n\n{INTRO}\n\n{COLUMNS}\n|" + "---|" * 9 + "\n"
    start = text.index(HEADER)
    end = text.find("\n## ", start + len(HEADER))
    end = len(text) if end == -1 else end + 1
    section = text[start:end].rstrip("\n") + "\n" + line
    RESULTS.write_text(text[:start] + section + ("\n" + text[end:] if end < len(text) else ""))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.cli_latency", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--record", action="store_true", help=f"append the result to {RESULTS.name}")
    args = parser.parse_args()
    row = run(args.runs)
    print(row)
    if args.record:
        record(row)


if __name__ == "__main__":
    main()
