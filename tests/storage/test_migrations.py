"""Migrations: the schema they build is the models' schema, upgrades keep existing rows, downgrades work."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from storage.db import current_revision, upgrade

AT = datetime(2026, 3, 2, 13, 0, tzinfo=UTC)


def test_head_matches_the_models(blank_engine: Engine):
    upgrade(blank_engine)
    with blank_engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), SQLModel.metadata)
    assert diff == []


def test_upgrade_is_idempotent(blank_engine: Engine):
    upgrade(blank_engine)
    head = current_revision(blank_engine)
    upgrade(blank_engine)
    assert current_revision(blank_engine) == head is not None


def test_compliance_migration_keeps_leads_touches_and_tasks(blank_engine: Engine):
    upgrade(blank_engine, "0001")
    with blank_engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO lead (first_name, last_name, timezone, self_employed, investment_property, "
                "foreign_national, high_dti, product, product_matched, inquiry_date, stage, phone_ok, row_digest, "
                "created_at, updated_at) VALUES ('Maria', 'Lopez', 'America/New_York', true, false, false, false, "
                "'bank_statement', true, :d, 'new_lead', true, 'x', :at, :at)"
            ),
            {"d": date(2026, 1, 5), "at": AT.replace(tzinfo=None)},
        )
        conn.execute(
            sa.text(
                "INSERT INTO touch (key, lead_id, step_id, channel, template, scheduled_for, not_after, status, "
                "reason, attempts, created_at, updated_at) VALUES ('k', 1, 'd0-sms', 'sms', 'intro', :at, :at, "
                "'sent', '', 1, :at, :at)"
            ),
            {"at": AT.replace(tzinfo=None)},
        )
    upgrade(blank_engine)
    with blank_engine.connect() as conn:
        lead = conn.execute(sa.text("SELECT first_name, dnc_listed, dnc_scrubbed_on, alt_phone FROM lead")).one()
        touch = conn.execute(sa.text("SELECT key, status, decisions FROM touch")).one()
    assert tuple(lead) == ("Maria", False, None, None)
    assert tuple(touch) == ("k", "sent", "")


def test_downgrade_to_the_first_revision_and_back(blank_engine: Engine):
    from alembic import command

    from storage.db import alembic_config

    upgrade(blank_engine)
    command.downgrade(alembic_config(blank_engine), "0001")
    assert current_revision(blank_engine) == "0001"
    assert "consent" not in sa.inspect(blank_engine).get_table_names()
    upgrade(blank_engine)
    assert {"consent", "suppression", "inbound_message"} <= set(sa.inspect(blank_engine).get_table_names())


def test_money_becomes_64_bit_keeping_the_amounts_and_a_downgrade_refuses_what_would_not_fit(blank_engine: Engine):
    from alembic import command
    from alembic.script import ScriptDirectory

    from storage.db import alembic_config

    before = ScriptDirectory.from_config(alembic_config(blank_engine)).get_revision("0006").down_revision
    assert isinstance(before, str)
    upgrade(blank_engine, before)
    lead = (
        "INSERT INTO lead (first_name, last_name, timezone, self_employed, investment_property, foreign_national, "
        "high_dti, product, product_matched, inquiry_date, stage, phone_ok, row_digest, created_at, updated_at, "
        "dnc_listed, liquid_assets, loan_amount, monthly_rent, cost_cents) VALUES ('Maria', 'Lopez', "
        "'America/New_York', true, false, false, false, 'asset_depletion', true, :d, 'new_lead', true, :digest, "
        ":at, :at, false, :assets, :loan, 2450, 450)"
    )
    values = {"d": date(2026, 1, 5), "at": AT.replace(tzinfo=None), "loan": 650_000, "assets": 2**31 - 1}
    with blank_engine.begin() as conn:
        conn.execute(sa.text(lead), values | {"digest": "a"})
    upgrade(blank_engine, "0006")
    with blank_engine.begin() as conn:
        conn.execute(sa.text(lead), values | {"digest": "b", "assets": 5 * 10**11})
        amounts = conn.execute(
            sa.text("SELECT liquid_assets, loan_amount, monthly_rent, cost_cents FROM lead ORDER BY id")
        )
        assert [tuple(r) for r in amounts] == [(2**31 - 1, 650_000, 2450, 450), (5 * 10**11, 650_000, 2450, 450)]
    assert {c["name"]: type(c["type"]) for c in sa.inspect(blank_engine).get_columns("lead")}["cost_cents"] is sa.BIGINT

    config = alembic_config(blank_engine)
    with pytest.raises(RuntimeError, match="1 lead holds an amount above 2,147,483,647"):
        command.downgrade(config, before)
    with blank_engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM lead WHERE row_digest = 'b'"))
    command.downgrade(config, before)
    with blank_engine.connect() as conn:
        assert conn.execute(sa.text("SELECT liquid_assets FROM lead")).scalar_one() == 2**31 - 1
    assert current_revision(blank_engine) == before


def test_call_tasks_held_for_a_dnc_scrub_become_held_and_the_others_stay_blocked(blank_engine: Engine):
    from alembic import command

    from storage.db import alembic_config

    upgrade(blank_engine, "0007")
    at = AT.replace(tzinfo=None)
    with blank_engine.begin() as conn:
        lead_id = conn.execute(
            sa.text(
                "INSERT INTO lead (first_name, last_name, timezone, self_employed, investment_property, "
                "foreign_national, high_dti, product, product_matched, inquiry_date, stage, phone_ok, row_digest, "
                "created_at, updated_at, dnc_listed) VALUES ('Maria', 'Lopez', 'America/New_York', true, false, "
                "false, false, 'bank_statement', true, :d, 'new_lead', true, 'a', :at, :at, false) RETURNING id"
            ),
            {"d": date(2026, 1, 5), "at": at},
        ).scalar_one()
        task = (
            "INSERT INTO call_task (key, lead_id, kind, template, due_at, priority, status, note, decisions, "
            "created_at) VALUES (:key, :lead, 'cadence', 'reengage', :at, 0, 'blocked', :note, '', :at)"
        )
        conn.execute(sa.text(task), {"key": "a", "lead": lead_id, "at": at,
                                     "note": "held: dnc_scrub: held until re-scrubbed (never scrubbed)"})  # fmt: skip
        conn.execute(sa.text(task), {"key": "b", "lead": lead_id, "at": at,
                                     "note": "blocked: dnc_registry: on the DNC registry"})  # fmt: skip
    upgrade(blank_engine)
    query = sa.text("SELECT key, status FROM call_task ORDER BY key")
    with blank_engine.connect() as conn:
        assert [tuple(r) for r in conn.execute(query)] == [("a", "held"), ("b", "blocked")]
    command.downgrade(alembic_config(blank_engine), "0007")
    with blank_engine.connect() as conn:
        assert [tuple(r) for r in conn.execute(query)] == [("a", "blocked"), ("b", "blocked")]
