"""``dripline explain``, ``inbound``, ``consent`` and ``email-event``: the compliance side of the command."""

from __future__ import annotations

import dataclasses
import json
import sys
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from dripline.cli_common import AtOpt as NowOpt
from dripline.cli_common import JsonOpt, checked_input, console, err, id_argument, open_pipeline, parse_time

inbound_app = typer.Typer(help="Messages borrowers send us.", no_args_is_help=True)
consent_app = typer.Typer(help="Written-consent records for automated texts and voicemail.", no_args_is_help=True)
AtOpt = Annotated[str | None, typer.Option("--at", help="ISO 8601 time it happened (default: now)")]
LeadId = Annotated[int, id_argument("lead")]


def explain(lead_id: LeadId, as_json: JsonOpt = False, now: NowOpt = None) -> None:
    """Why each touch of a lead went, waited or was blocked: the facts, the rules and a timeline."""
    from storage.explain import explain_lead

    at = parse_time(now)
    p = open_pipeline(at)
    doc = explain_lead(engine=p.engine, lead_id=lead_id, policy=p.policy, now=at)
    if doc is None:
        err.print(f"[red]no lead with id {lead_id}[/]")
        raise typer.Exit(1)
    if as_json:
        sys.stdout.write(json.dumps(doc, default=str) + "\n")
        return
    _print_explanation(doc)


def _print_explanation(doc: dict[str, Any]) -> None:
    lead, rules, dnc = doc["lead"], doc["rules"], doc["dnc"]
    console.print(
        f"[bold]Lead {lead['id']}[/] {lead['name']} · {lead['product']} · stage {lead['stage']} · "
        f"officer {lead['loan_officer'] or '(none)'}",
        soft_wrap=True,
    )
    console.print(
        f"phone {lead['phone'] or '-'}" + (f" (also {lead['alt_phone']})" if lead["alt_phone"] else "")
        + f" · email {lead['email'] or '-'} · address {lead['address_state'] or '-'} {lead['zip'] or ''}",
        soft_wrap=True,
    )  # fmt: skip
    console.print(
        f"rules {rules['table']}: zones {', '.join(rules['zones'])}; states {', '.join(rules['states']) or '-'}; "
        f"quiet hours {rules['quiet_hours']}; state cap {rules['state_cap'] or 'none'}; "
        f"global cap {rules['global_cap']}"
        + (f"; texts need registration in {', '.join(rules['sms_registration_needed'])}"
           if rules["sms_registration_needed"] else ""),
        soft_wrap=True,
    )  # fmt: skip
    listed = "listed" if dnc["listed"] else "not listed"
    console.print(f"DNC registry: {listed}, scrubbed {dnc['scrubbed_on'] or 'never'}", soft_wrap=True)
    for c in doc["consents"]:
        console.print(
            f"consent: {c['phone']} for {c['seller']!r} at {c['consented_at']} via {c['source']}", soft_wrap=True
        )
    if not doc["consents"]:
        console.print("consent: none on file (no automated texts or voicemail)")
    for channel, why in doc["opted_out_now"].items():
        console.print(f"[red]opted out of {channel}[/]: {why}", soft_wrap=True)
    elig = doc.get("eligibility") or {}
    for program in elig.get("programs", []):
        verdict = "eligible" if program["eligible"] else "blocked: " + "; ".join(program["blockers"])
        console.print(f"program {program['lender']} {program['program']}: {verdict}", soft_wrap=True)
    if elig.get("seasons_on"):
        console.print(f"credit event seasons on {elig['seasons_on']}: re-engagement scheduled for that day")
    for r in elig.get("reengagements", []):
        console.print(f"re-engagement {r['change']} ({r['status']}): one of our lenders {r['reason']}", soft_wrap=True)
    table = Table(title="Timeline", show_lines=False)
    for column in ("when (UTC)", "what", "status", "why"):
        table.add_column(column, overflow="fold")
    for e in doc["timeline"]:
        table.add_row((e["at"] or "")[:16].replace("T", " "), f"{e['kind']}: {e['what']}", e["status"], _why(e))
    console.print(table)


def _why(entry: dict[str, Any]) -> str:
    lines = [entry["reason"]] if entry["reason"] else []
    for d in entry["decisions"]:
        moved = [r for r in d["rules"] if r[1] != "allow"]
        if moved:
            lines += [f"{d['phase']}: {r[0]} {r[1]}: {r[2] if len(r) > 2 else ''}" for r in moved]
        else:
            names = ", ".join(r[0] for r in d["rules"])
            lines.append(f"{d['phase']}: allowed by {names}" if names else f"{d['phase']}: no rule applies")
    return "\n".join(lines)


@inbound_app.command("sms")
def inbound_sms(
    from_number: Annotated[str, typer.Option("--from", help="the sender's number")],
    to_number: Annotated[str, typer.Option("--to", help="our number they wrote to")],
    body: Annotated[str, typer.Option("--body", help="the message text")],
    at: AtOpt = None,
    sid: Annotated[str | None, typer.Option("--sid", help="the provider's message id (retries are ignored)")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Handle a text a borrower sent: opt-out, opt-in, HELP, or a reply for their loan officer."""
    from service.inbound import handle_inbound_sms
    from service.inputs import InboundSms

    names = {"from_number": "--from", "to_number": "--to", "body": "--body", "provider_id": "--sid"}
    sms = checked_input(InboundSms, names, from_number=from_number, to_number=to_number, body=body, provider_id=sid)
    when = parse_time(at, option="--at")
    p = open_pipeline(when)
    if removed := len(body) - len(sms.body):
        err.print(f"--body: {removed} control character{'s' if removed > 1 else ''} removed", markup=False)
    try:
        result = handle_inbound_sms(p, from_number=sms.from_number, to_number=sms.to_number, body=sms.body, at=when,
                                    provider_id=sms.provider_id)  # fmt: skip
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--from") from None
    if as_json:
        sys.stdout.write(json.dumps(dataclasses.asdict(result), default=str) + "\n")
        return
    leads = ", ".join(map(str, result.lead_ids)) or "none"
    console.print(f"{result.kind.value}: {result.reason} (leads: {leads})", soft_wrap=True)
    if result.duplicate:
        console.print("already handled: the provider sent this message before")
    if result.reply:
        console.print(f"replied: {result.reply} [{result.reply_status}]", soft_wrap=True)
    for lead in result.resumed:
        text = f"next text {lead.next_text}" if lead.next_text else "no text left in its cadence"
        console.print(f"lead {lead.lead_id}: cadence resumed ({lead.status.value}, next step {lead.next_step}); {text}")
    if result.task_ids:
        console.print(f"call tasks for the loan officer: {', '.join(map(str, result.task_ids))}")
    elif not result.lead_ids and result.kind.value in ("reply", "ambiguous"):
        err.print("[yellow]no lead has this number: nobody to hand the message to[/]")


@consent_app.command("add")
def consent_add(
    lead_id: LeadId,
    phone: Annotated[str, typer.Option(help="the number consent covers (default: the lead's phone)")] = "",
    seller: Annotated[str, typer.Option(help="the company named in the consent")] = "",
    text: Annotated[str, typer.Option("--text", help="the disclosure language the borrower agreed to")] = "",
    source: Annotated[str, typer.Option(help="where it was captured: form URL, vendor, recording id")] = "",
    consented_at: Annotated[str | None, typer.Option("--consented-at", help="ISO 8601")] = None,
    at: AtOpt = None,
) -> None:
    """Record prior express written consent for one phone number (kept; never edited or deleted)."""
    from service.consent import record_consent
    from service.inputs import ConsentGiven
    from storage.lead_events import LeadNotFound

    now = parse_time(at, option="--at")
    when = parse_time(consented_at, option="--consented-at") if consented_at else now
    missing = [name for name, value in (("--seller", seller), ("--text", text), ("--source", source)) if not value]
    if missing:
        raise typer.BadParameter(f"consent needs {', '.join(missing)}")
    names = {"seller": "--seller", "disclosure": "--text", "source": "--source"}
    given = checked_input(ConsentGiven, names, seller=seller, disclosure=text, source=source)
    if when > now:
        raise typer.BadParameter("consent cannot be given in the future", param_hint="--consented-at")
    p = open_pipeline(now)
    try:
        number, new = record_consent(engine=p.engine, lead_id=lead_id, phone=phone or None, seller=given.seller,
                                     disclosure=given.disclosure, source=given.source, consented_at=when, now=now,
                                     recorded_by="cli")  # fmt: skip
    except LeadNotFound:
        err.print(f"[red]no lead with id {lead_id}[/]")
        raise typer.Exit(1) from None
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--phone") from None
    console.print(f"lead {lead_id}: consent for {number} " + ("recorded" if new else "was already on file"))


def email_event(
    event: Annotated[str, typer.Argument(help="unsubscribe, bounce, spam_report or dropped")],
    address: Annotated[str, typer.Argument(help="the email address")],
    at: AtOpt = None,
    event_id: Annotated[
        str | None, typer.Option("--event-id", help="the provider's event id (a repeated event is ignored)")
    ] = None,
) -> None:
    """Stop email to an address after an unsubscribe, a bounce or a spam report (every lead with it)."""
    from service.email_events import EMAIL_EVENTS, handle_email_event
    from service.inputs import EmailEvent

    if event not in EMAIL_EVENTS:
        raise typer.BadParameter(f"{event!r} is not one of {', '.join(EMAIL_EVENTS)}", param_hint="EVENT")
    when: datetime = parse_time(at, option="--at")
    email = checked_input(EmailEvent, {"address": "ADDRESS"}, address=address).address
    p = open_pipeline(when)
    result = handle_email_event(engine=p.engine, event=event, address=email, at=when, provider_id=event_id)
    leads = ", ".join(map(str, result.lead_ids)) or "none yet"
    if result.duplicate:
        console.print(f"{result.address}: already handled (the provider reported this event before); leads {leads}")
        return
    what = "email stopped" if result.stopped else "email was already stopped"
    console.print(f"{result.address}: {what} ({event}); leads {leads}")
