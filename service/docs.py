"""Documentation generated from the code, so it cannot go stale (a test compares the files)."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import SecretStr

from nurture.cadence import Cadence, load_cadence
from nurture.states import CadenceStatus, Stage, mermaid, transition_table_markdown
from service.settings import Settings, shipped

ROOT = Path(__file__).resolve().parent.parent  # the checkout: the docs are generated into its docs/ folder
STATE_MACHINE_DOC = ROOT / "docs" / "state-machine.md"
COMPLIANCE_DOC = ROOT / "docs" / "compliance.md"
ENV_TEMPLATE = ROOT / "deploy" / "dripline.env.example"
# What a production host sets differently from the shipped defaults (placeholders to replace).
PRODUCTION = {
    "environment": "production",
    "channel": "live",
    "database_url": "postgresql://dripline:CHANGE-ME@db.internal:5432/dripline",
    "public_base_url": "https://dripline.your-company.test",
    "web_host": "127.0.0.1",
}
# Settings a live deployment must set itself: the company's own facts, its keys and where its web app is.
REQUIRED = (
    "company_name", "company_nmls_id", "company_address", "company_phone", "support_email", "unsubscribe_base_url",
    "signing_key", "twilio_account_sid", "twilio_auth_token", "twilio_from_number",
    "twilio_status_callback_url", "twilio_voice_url", "sendgrid_api_key", "sendgrid_from_email", "sendgrid_reply_to",
    "sendgrid_webhook_public_key", "sendgrid_inbound_secret",
)  # fmt: skip


def _steps(cadence: Cadence) -> str:
    """The cadence's steps as Markdown table rows."""
    days = "business day" if cadence.business_days else "day"
    return "\n".join(
        f"| `{s.id}` | {f'{days} {s.day} {s.at:%H:%M}' if s.day is not None and s.at else f'{s.after} + {s.delay}'}"
        f"{f', then every {s.every_days} days' if s.every_days else ''} | {s.channel.value} | "
        f"{', '.join(s.templates)} | {s.window.start:%H:%M}-{s.window.end:%H:%M} |"
        for s in cadence.steps
    )


def state_machine_markdown() -> str:
    cadence = load_cadence((shipped("cadences") / "default.yaml").read_text())
    documents = load_cadence((shipped("cadences") / "documents.yaml").read_text())
    steps = _steps(cadence)
    return f"""# Lead state machines

Generated from `nurture/states.py`, `cadences/default.yaml` and `cadences/documents.yaml` by `dripline docs`; do not
edit by hand.

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

## Documents sequence ({documents.name} v{documents.version})

Started by `educated` or `docs_requested` (event `docs_sequence`); day 0 is the day of that call, whose steps go out
as soon as it is logged (within their windows), and the days after it count business days (Monday to Friday).
`docs_received` stops what is still to come.

| step | when | channel | template(s) | window |
|---|---|---|---|---|
{_steps(documents)}
"""


def compliance_markdown() -> str:
    from nurture.compliance import load_rule_table
    from nurture.gate import RULES

    table = load_rule_table((shipped("compliance") / "us.yaml").read_text())
    rules = "\n".join(
        f"| {i} | `{rule.__name__}` | {' '.join((rule.__doc__ or '').split())} |" for i, rule in enumerate(RULES, 1)
    )
    states = "\n".join(
        f"| {code} | {f'{r.quiet_hours.start:%H:%M}-{r.quiet_hours.end:%H:%M}' if r.quiet_hours else '-'} "
        f"| {r.max_per_24h or '-'} | {'yes' if r.sms_needs_registration else '-'} |"
        for code, r in sorted(table.states.items())
    )

    def channels(values: frozenset) -> str:  # type: ignore[type-arg]
        return ", ".join(sorted(c.value for c in values))

    return f"""# Compliance gate

Generated from `nurture/gate.py` and `compliance/us.yaml` by `dripline docs`; do not edit by hand.

Every touch (text, email, voicemail) and every call task passes these rules, in this order, when the tick
plans it and again when dispatch is about to send it. Each rule allows, defers (to a later time), holds
(until something outside changes; looked at again a day later) or blocks. A deferral moves the contact
and runs every rule again at the new time. Each check is stored with the touch or task (its decision log,
in `dripline outbox --json` and `dripline explain LEAD_ID`), with the rule table's version. Right before
each message goes out, the suppression log is read again, so an opt-out that arrives while a batch is
sending stops the rest of that batch for that person. An automated text or voicemail blocked for want of
consent (or of a Texas registration) becomes a call task for a person instead. A call task held for a
Do Not Call scrub waits as `held`, off the officers' lists; `dripline dnc import` of a scrub result runs the
gate again on every held text, voicemail and call task of its numbers (see `docs/dnc-scrub.md`).

## Rules

| order | rule | what it protects |
|---|---|---|
{rules}

## Rule table ({table.label})

- Quiet hours: {table.quiet_hours.start:%H:%M}-{table.quiet_hours.end:%H:%M} on the recipient's clock, in every
  time zone of the address and of the phone's area code, for {channels(table.quiet_channels)}.
- A lead is held to a state's rules when its address or its phone's area code is in that state.
- Per-lead cap: {table.max_per_24h} contacts in any 24 hours ({channels(table.cap_channels)}).
- State caps count {channels(table.state_cap_channels)}.
- Written consent needed for: {channels(table.consent_required_for)}.
- Do Not Call: scrub data older than {table.max_scrub_age_days} days holds phone contact; a listed number gets human
  calls only within {table.inquiry_window_months} months of the inquiry (or with written consent).

| state | quiet hours | max per 24 h | texts need registration |
|---|---|---|---|
{states}
"""


def env_template() -> str:
    """Every setting as an environment file for a production host: secrets marked, what must be set left blank,
    the rest commented out at its default."""
    lines = [
        "# dripline's settings for a production host (workers, `dripline serve`, `dripline web`).",
        "# Generated from service/settings.py by `dripline docs`; do not edit here: copy it to the host",
        "# (e.g. /etc/dripline/dripline.env, owner dripline, mode 0600) and fill it in there.",
        "# SECRET marks a value to keep out of version control and to rotate as the README's runbook says.",
        "# A commented line shows the default; uncomment it to change it.",
    ]
    for name, spec in Settings.model_fields.items():
        secret = spec.annotation is SecretStr
        lines.append("")
        lines.append(f"# {spec.description}{' (SECRET)' if secret else ''}{' (required)' if name in REQUIRED else ''}")
        variable = f"DRIPLINE_{name.upper()}"
        if name in PRODUCTION:
            lines.append(f"{variable}={PRODUCTION[name]}")
        elif name in REQUIRED:
            lines.append(f"{variable}=")
        else:
            default = spec.get_default(call_default_factory=True)
            shown = json.dumps(default) if isinstance(default, list) else default  # pydantic-settings reads JSON
            if isinstance(shown, Path):
                shown = "(shipped with dripline)" if shown.is_absolute() else shown
            lines.append(f"# {variable}={str(shown).lower() if isinstance(shown, bool) else shown}")
    lines += [
        "",
        "# Not dripline's own settings, read by the same processes:",
        "# the Prefect server every worker, `dripline serve` and one-off command reports to",
        "PREFECT_API_URL=http://127.0.0.1:4200/api",
        "# the checkout (or install) prefect.yaml's pull step changes into, so flows/... entrypoints resolve",
        "DRIPLINE_HOME=/opt/dripline",
    ]
    return "\n".join(lines) + "\n"


def write_docs() -> list[Path]:
    STATE_MACHINE_DOC.parent.mkdir(exist_ok=True)
    STATE_MACHINE_DOC.write_text(state_machine_markdown())
    COMPLIANCE_DOC.write_text(compliance_markdown())
    ENV_TEMPLATE.parent.mkdir(exist_ok=True)
    ENV_TEMPLATE.write_text(env_template())
    return [STATE_MACHINE_DOC, COMPLIANCE_DOC, ENV_TEMPLATE]
