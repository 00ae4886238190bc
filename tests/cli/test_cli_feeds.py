"""dripline feeds token create|revoke|list: the token shown once and stored as its sha256 only; revoked by lender
or by id; listed without secrets. SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from dripline.cli import app
from service.feeds import authenticate
from storage.models import FeedToken, table

AT = "2026-06-02T14:00:00Z"
LATER = datetime(2026, 6, 3, 9, 0, tzinfo=UTC)
_token = table(FeedToken)


def invoke(*args: str):
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def _create(database_url: str, lender: str) -> str:
    result = invoke("--db", database_url, "feeds", "token", "create", lender, "--at", AT)
    assert result.exit_code == 0, result.output
    head, token = result.stdout.splitlines()
    assert "shown this once" in head
    return token


def _stored(engine: Engine) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.select(_token.c.id, _token.c.lender, _token.c.token_sha256,
                                                              _token.c.revoked_at).order_by(_token.c.id))]  # fmt: skip


def test_create_prints_the_token_once_and_stores_only_its_hash(engine, database_url, app_env):
    token = _create(database_url, "  Harbor   Capital ")
    assert len(token) == 43
    [(token_id, lender, digest, revoked)] = _stored(engine)
    assert (token_id, lender, revoked) == (1, "Harbor Capital", None)
    assert digest == hashlib.sha256(token.encode()).hexdigest() != token
    assert authenticate(engine=engine, lender="Harbor Capital", token=token, now=LATER) == 1

    listed = invoke("--db", database_url, "feeds", "token", "list", "--json")
    [row] = [json.loads(line) for line in listed.stdout.splitlines()]
    assert row == {"id": 1, "lender": "Harbor Capital", "created_at": "2026-06-02T14:00:00+00:00",
                   "created_by": "cli", "last_used_at": "2026-06-03T09:00:00+00:00", "revoked_at": None}  # fmt: skip
    table_out = invoke("--db", database_url, "feeds", "token", "list").stdout
    assert "Harbor Capital" in table_out and "live" in table_out
    assert token not in listed.stdout + table_out and digest not in listed.stdout + table_out


def test_a_lender_name_no_feed_could_carry_is_refused(engine, database_url, app_env):
    result = invoke("--db", database_url, "feeds", "token", "create", "   ")
    assert result.exit_code == 2
    assert "lender: must not be blank" in result.stderr
    assert _stored(engine) == []


def test_revoke_by_lender_or_by_id(engine, database_url, app_env):
    harbor_1, harbor_2 = _create(database_url, "Harbor Capital"), _create(database_url, "Harbor Capital")
    bayline = _create(database_url, "Bayline Mortgage")

    by_id = invoke("--db", database_url, "feeds", "token", "revoke", "--id", "2", "--at", AT)
    assert by_id.exit_code == 0 and "revoked feed token(s) 2" in by_id.stdout
    assert authenticate(engine=engine, lender="Harbor Capital", token=harbor_2, now=LATER) is None
    assert authenticate(engine=engine, lender="Harbor Capital", token=harbor_1, now=LATER) == 1

    by_lender = invoke("--db", database_url, "feeds", "token", "revoke", "Harbor Capital", "--at", AT)
    assert by_lender.exit_code == 0 and "revoked feed token(s) 1" in by_lender.stdout
    assert [(i, revoked is not None) for i, _, _, revoked in _stored(engine)] == [(1, True), (2, True), (3, False)]
    assert authenticate(engine=engine, lender="Bayline Mortgage", token=bayline, now=LATER) == 3

    again = invoke("--db", database_url, "feeds", "token", "revoke", "Harbor Capital")
    assert again.exit_code == 2 and "no live token of Harbor Capital" in again.stderr
    neither = invoke("--db", database_url, "feeds", "token", "revoke")
    assert neither.exit_code == 2 and "name a lender, or a token with --id" in neither.stderr
