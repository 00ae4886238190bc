"""``dripline feeds token create|revoke|list``: the bearer tokens lenders post their guideline feeds with."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from datetime import datetime
from typing import Annotated

import typer
from rich.table import Table

from dripline.cli_common import AtOpt, JsonOpt, _engine, console, parse_time, record_id
from dripline.cli_errors import fail

feeds_app = typer.Typer(help="Lender feeds over HTTP (POST /feeds/LENDER): each lender's bearer tokens.",
                        no_args_is_help=True)  # fmt: skip
token_app = typer.Typer(help="Create, revoke and list lenders' feed tokens.", no_args_is_help=True)
feeds_app.add_typer(token_app, name="token")
LenderArg = Annotated[str, typer.Argument(help='the lender as its feeds name it, e.g. "Harbor Capital"')]


@token_app.command("create")
def create(lender: LenderArg, at: AtOpt = None) -> None:
    """A new token for LENDER, printed once (only its sha256 is stored); the lender's older tokens stay live."""
    from service.feeds import create_token

    try:
        new = create_token(engine=_engine(), lender=lender, created_by="cli", now=parse_time(at))
    except ValueError as exc:
        fail(f"lender: {exc}")
    console.print(f"feed token {new.id} for {new.lender}; shown this once, only its hash is kept:", soft_wrap=True)
    sys.stdout.write(new.token + "\n")


@token_app.command("revoke")
def revoke(
    lender: Annotated[str | None, typer.Argument(help="revoke every live token of this lender")] = None,
    token_id: Annotated[
        int | None, typer.Option("--id", parser=record_id("feed token"), help="only this token")
    ] = None,
    at: AtOpt = None,
) -> None:
    """Revoke LENDER's tokens, or one token by --id: a feed posted with it gets 403 from then on."""
    from service.feeds import revoke as revoke_tokens

    if lender is None and token_id is None:
        raise typer.BadParameter("name a lender, or a token with --id", param_hint="LENDER")
    try:
        revoked = revoke_tokens(engine=_engine(), now=parse_time(at), lender=lender, token_id=token_id)
    except ValueError as exc:
        fail(f"lender: {exc}")
    if not revoked:
        which = [f"{token_id}"] * (token_id is not None) + [f"of {lender}"] * (lender is not None)
        fail(f"no live token {' '.join(which)}")
    console.print(f"revoked feed token(s) {', '.join(map(str, revoked))}", soft_wrap=True)


@token_app.command("list")
def list_(
    lender: Annotated[str | None, typer.Option(help="only this lender")] = None, as_json: JsonOpt = False
) -> None:
    """Every feed token: lender, when created and last used, whether revoked. Never the token itself."""
    from service.feeds import tokens

    try:
        rows = tokens(engine=_engine(), lender=lender)
    except ValueError as exc:
        fail(f"--lender: {exc}")
    if as_json:
        for t in rows:
            sys.stdout.write(json.dumps(asdict(t), default=datetime.isoformat) + "\n")
        return
    if not rows:
        console.print("no feed tokens: dripline feeds token create LENDER")
        return
    table = Table(title="Feed tokens")
    for column in ("id", "lender", "created", "by", "last used", "revoked"):
        table.add_column(column)
    for t in rows:
        table.add_row(str(t.id), t.lender, _shown(t.created_at), t.created_by, _shown(t.last_used_at) or "never",
                      _shown(t.revoked_at) or "live")  # fmt: skip
    console.print(table)


def _shown(at: datetime | None) -> str:
    return f"{at:%Y-%m-%d %H:%M}" if at else ""
