"""The loan officer's pages: "My calls", a lead page, and the lead page's buttons (call outcomes, the checklist, fact
edits, notes).

Each route reads as the ``service.desk`` or ``service.lead_edits`` use case it calls. A lead or task the officer
may not see answers 404, as one that does not exist; a manager sees the team's. Every POST carries the session's
CSRF token (``web.deps.Posted``) and answers with a redirect back to the page (303), or the page again with one
line saying what to fix.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from nurture.actions import Outcome
from nurture.income import StatementType
from nurture.products import CreditEventType, Product
from nurture.states import InvalidTransition
from service import desk
from service.lead_edits import LABELS, EditRefused, edit_lead_facts
from storage.lead_events import LeadNotFound, TaskNotOpen
from storage.signin import Session
from web.deps import Posted, SignedIn
from web.pages import page
from web.state import WebState, web_state

router = APIRouter()
State = Annotated[WebState, Depends(web_state)]

OUTCOMES = {
    Outcome.NO_ANSWER: "No answer",
    Outcome.VOICEMAIL: "Left a voicemail",
    Outcome.REACHED: "Reached",
    Outcome.EDUCATED: "Educated",
    Outcome.DOCS_REQUESTED: "Docs requested",
    Outcome.NOT_INTERESTED: "Not interested",
    Outcome.WRONG_NUMBER: "Wrong number",
    Outcome.DO_NOT_CALL: "Do not call",
}
DONE = {
    "logged": "Call logged.",
    "saved": "Facts saved; programs worked out again.",
    "unchanged": "Nothing changed.",
    "noted": "Note added.",
    "checklist": "Checklist requested: the documents sequence starts with the next scheduled run.",
}
CHOICES = {
    "product": [(p.value, p.label) for p in Product],
    "credit_event_type": [(c.value, c.value.replace("_", " ").capitalize()) for c in CreditEventType],
    "statement_type": [(s.value, s.value.capitalize()) for s in StatementType],
}


def scope(session: Session) -> int | None:
    """Whose leads the session sees: the officer's own, or (None) everyone's for a manager."""
    return None if session.manager else session.officer_id


def actor(session: Session) -> str:
    return f"{session.name} (officer {session.officer_id})"


def not_found(request: Request) -> HTMLResponse:
    return page(request, "missing.html", status_code=404)


@router.get("/calls")
async def calls(request: Request, session: SignedIn, state: State, team: bool = False, done: str = "") -> Response:
    officer_id = None if team and session.manager else session.officer_id
    found = await run_in_threadpool(lambda: desk.my_calls(state.pipeline(), officer_id=officer_id, now=state.clock()))
    return page(request, "calls.html", calls=found, outcomes=OUTCOMES, done=DONE.get(done, ""))


async def _lead_page(request: Request, session: Session, state: WebState, lead_id: int, *, status_code: int = 200,
                     error: str = "", done: str = "", form: dict[str, str] | None = None) -> Response:  # fmt: skip
    try:
        shown = await run_in_threadpool(
            lambda: desk.lead_page(state.pipeline(), lead_id=lead_id, officer_id=scope(session), now=state.clock())
        )
    except desk.NotFound:
        return not_found(request)
    return page(
        request, "lead.html", status_code=status_code, view=shown, lead=shown.lead, outcomes=OUTCOMES,
        labels=LABELS, choices=CHOICES, form=form or _form_values(shown.lead), error=error, done=DONE.get(done, ""),
    )  # fmt: skip


@router.get("/leads/{lead_id}")
async def lead(request: Request, lead_id: int, session: SignedIn, state: State, done: str = "") -> Response:
    return await _lead_page(request, session, state, lead_id, done=done)


def _form_values(lead: Any) -> dict[str, str]:
    """The facts form filled with the lead's values as the officer would type them."""
    out = {}
    for name in LABELS:
        value = getattr(lead, "expense_ratio_bp" if name == "expense_ratio" else name)
        if value is None:
            out[name] = ""
        elif name == "expense_ratio":
            out[name] = f"{value / 100:g}"
        else:
            out[name] = str(getattr(value, "value", value))
    return out


def _back(lead_id: int, done: str) -> RedirectResponse:
    return RedirectResponse(f"/leads/{lead_id}?done={done}", status_code=303)


@router.post("/tasks/{task_id}/outcome")
async def outcome(request: Request, task_id: int, session: Posted, state: State) -> Response:
    form = await request.form()
    raw, note, back = (str(form.get(k, "")) for k in ("outcome", "note", "back"))
    lead_id = await run_in_threadpool(lambda: _lead_of_task(state, session, task_id))
    if lead_id is None:
        return not_found(request)
    if raw not in {o.value for o in Outcome}:
        return await _lead_page(request, session, state, lead_id, status_code=400,
                                error=f"Outcome: {raw!r} is not one of the buttons; tap one of them.")  # fmt: skip
    try:
        await run_in_threadpool(
            lambda: desk.log_outcome(state.pipeline(), task_id=task_id, outcome=Outcome(raw),
                                     officer_id=scope(session), actor=actor(session), now=state.clock(), note=note)
        )  # fmt: skip
    except desk.NotFound:
        return not_found(request)
    except TaskNotOpen as exc:
        return await _lead_page(request, session, state, lead_id, status_code=409, error=f"Call: {exc}.")
    except desk.NoteRefused as exc:
        return await _lead_page(request, session, state, lead_id, status_code=400, error=str(exc))
    if back == "calls":
        return RedirectResponse("/calls?done=logged", status_code=303)
    return _back(lead_id, "logged")


def _lead_of_task(state: WebState, session: Session, task_id: int) -> int | None:
    try:
        return desk.visible_task(state.pipeline(), task_id, scope(session))
    except desk.NotFound:
        return None


@router.post("/leads/{lead_id}/facts")
async def facts(request: Request, lead_id: int, session: Posted, state: State) -> Response:
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    try:
        await run_in_threadpool(lambda: desk.visible_lead(state.pipeline(), lead_id, scope(session)))
        result = await run_in_threadpool(
            lambda: edit_lead_facts(state.pipeline(), lead_id=lead_id, form=form, actor=actor(session),
                                    now=state.clock())
        )  # fmt: skip
    except (desk.NotFound, LeadNotFound):
        return not_found(request)
    except EditRefused as exc:
        kept = {name: form.get(name, "") for name in LABELS}
        return await _lead_page(request, session, state, lead_id, status_code=400, error=str(exc), form=kept)
    return _back(lead_id, "saved" if result.changes else "unchanged")


@router.post("/leads/{lead_id}/notes")
async def notes(request: Request, lead_id: int, session: Posted, state: State) -> Response:
    body = str((await request.form()).get("body", ""))
    try:
        await run_in_threadpool(
            lambda: desk.write_note(state.pipeline(), lead_id=lead_id, officer_id=session.officer_id,
                                    scope=scope(session), body=body, actor=actor(session), now=state.clock())
        )  # fmt: skip
    except desk.NotFound:
        return not_found(request)
    except desk.NoteRefused as exc:
        return await _lead_page(request, session, state, lead_id, status_code=400, error=str(exc))
    return _back(lead_id, "noted")


@router.post("/leads/{lead_id}/checklist")
async def checklist(request: Request, lead_id: int, session: Posted, state: State) -> Response:
    try:
        await run_in_threadpool(
            lambda: desk.send_checklist(state.pipeline(), lead_id=lead_id, officer_id=scope(session),
                                        actor=actor(session), now=state.clock())
        )  # fmt: skip
    except (desk.NotFound, LeadNotFound):
        return not_found(request)
    except InvalidTransition as exc:
        return await _lead_page(request, session, state, lead_id, status_code=409, error=f"Checklist: {exc}")
    return _back(lead_id, "checklist")
