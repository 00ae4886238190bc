"""Documentation generated from the code, so it cannot go stale (a test compares the files)."""

from __future__ import annotations

from pathlib import Path

from nurture.cadence import load_cadence
from nurture.states import CadenceStatus, Stage, mermaid, transition_table_markdown

ROOT = Path(__file__).resolve().parent.parent
STATE_MACHINE_DOC = ROOT / "docs" / "state-machine.md"


def state_machine_markdown() -> str:
    cadence = load_cadence((ROOT / "cadences" / "default.yaml").read_text())
    steps = "\n".join(
        f"| `{s.id}` | {f'day {s.day} {s.at:%H:%M}' if s.day is not None and s.at else f'{s.after} + {s.delay}'}"
        f"{f', then every {s.every_days} days' if s.every_days else ''} | {s.channel.value} | "
        f"{', '.join(s.templates)} | {s.window.start:%H:%M}-{s.window.end:%H:%M} |"
        for s in cadence.steps
    )
    return f"""# Lead state machines

Generated from `nurture/states.py` and `cadences/default.yaml` by `dripline docs`; do not edit by hand.

A lead has two states that move together: its **pipeline stage** ({", ".join(s.value for s in Stage)})
and its **cadence status** ({", ".join(s.value for s in CadenceStatus)}). Every event is one row of
the transition table below; an event not allowed from the lead's current states is refused.

## Transitions

{transition_table_markdown()}

## Pipeline stage

```mermaid
{mermaid("stage")}
```

## Cadence status

```mermaid
{mermaid("cadence")}
```

## Default cadence ({cadence.name} v{cadence.version})

Days count in the lead's local calendar from enrollment (day 0); times are lead-local.
The contact days end after `{cadence.steps[cadence.contact_phase_end].id}`; then the lead is in nurture.

| step | when | channel | template(s) | window |
|---|---|---|---|---|
{steps}
"""


def write_docs() -> list[Path]:
    STATE_MACHINE_DOC.parent.mkdir(exist_ok=True)
    STATE_MACHINE_DOC.write_text(state_machine_markdown())
    return [STATE_MACHINE_DOC]
