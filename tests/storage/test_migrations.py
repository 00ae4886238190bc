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


def test_the_head_read_from_the_files_is_alembics():
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from storage.db import MIGRATIONS, head_revision

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    assert head_revision() == ScriptDirectory.from_config(cfg).get_current_head() is not None


def test_leads_re_engaged_before_0009_get_their_home_back_and_the_completed_ones_return_to_nurture(
    blank_engine: Engine,
):
    from datetime import timedelta
    from pathlib import Path

    from alembic.script import ScriptDirectory

    from nurture.cadence import load_cadence
    from service.pipeline import Pipeline, tick
    from service.settings import Settings
    from storage.cadences import register_cadence
    from storage.db import alembic_config
    from tests.fakes import RecordingSender

    root = Path(__file__).resolve().parents[2] / "cadences"
    default, reengage = (load_cadence((root / name).read_text()) for name in ("default.yaml", "reengage.yaml"))
    before = ScriptDirectory.from_config(alembic_config(blank_engine)).get_revision("0009").down_revision
    assert isinstance(before, str)
    upgrade(blank_engine, before)
    completed_at = AT + timedelta(days=130)  # the old code completed the lead right after its day-7 email
    naive = {"at": AT.replace(tzinfo=None), "done": completed_at.replace(tzinfo=None)}
    with blank_engine.begin() as conn:
        for c in (default, reengage):
            conn.execute(
                sa.text("INSERT INTO cadence_definition VALUES (:name, :version, :digest, :body, :at)"),
                {"name": c.name, "version": c.version, "digest": c.digest, "body": c.body, "at": naive["at"]},
            )
        for n, (status, step) in enumerate((("completed", 5), ("nurturing", 4)), 1):
            conn.execute(
                sa.text(
                    "INSERT INTO lead (first_name, last_name, timezone, self_employed, investment_property, "
                    "foreign_national, high_dti, product, product_matched, inquiry_date, stage, phone_ok, "
                    "row_digest, created_at, updated_at, dnc_listed) VALUES ('Maria', 'Lopez', "
                    "'America/New_York', true, false, false, false, 'bank_statement', true, :d, 'nurture', true, "
                    ":digest, :at, :at, false)"
                ),
                naive | {"d": date(2026, 1, 5), "digest": str(n)},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO cadence_position (lead_id, cadence_name, cadence_version, anchor_date, step_index, "
                    "repeat, status, next_due_at, reason, enrolled_at, updated_at) VALUES (:id, 'reengage', 1, :d, "
                    ":step, 0, :status, NULL, 'lowered its minimum credit score', :done, :done)"
                ),
                naive | {"id": n, "d": date(2026, 7, 2), "step": step, "status": status},
            )
    upgrade(blank_engine)

    with blank_engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT * FROM cadence_position ORDER BY lead_id")).all()
        history = conn.execute(sa.text("SELECT lead_id, event, cadence_from, cadence_to, actor FROM lead_history"))
        assert [tuple(h) for h in history] == [(1, "resume_nurture", "completed", "nurturing", "migration 0009")]
    for row in rows:
        assert (row.home_cadence_name, row.home_cadence_version, row.home_step_index, row.home_repeat) == (
            "aged-nonqm",
            1,
            0,
            0,
        )
        assert row.home_anchor_date in (date(2026, 3, 2), "2026-03-02")  # 08:00 in New York: enrolled that day
    assert [r.status for r in rows] == ["nurturing", "nurturing"]

    registry = register_cadence(engine=blank_engine, cadence=default, now=completed_at, others=(reengage,))
    p = Pipeline(Settings(), blank_engine, registry, RecordingSender())
    tick(p, now=completed_at + timedelta(hours=1))
    with blank_engine.connect() as conn:
        back = conn.execute(sa.text("SELECT * FROM cadence_position WHERE lead_id = 1")).one()
        events = conn.execute(sa.text("SELECT event FROM lead_history WHERE lead_id = 1 ORDER BY id")).scalars()
        assert list(events) == ["resume_nurture", "reengagement_ended"]
    assert (back.cadence_name, back.status, back.home_cadence_name) == ("aged-nonqm", "nurturing", None)
    # day 130 from March 2: the monthly emails of days 92 and 122 are behind it, day 152 is next
    assert (back.step_index, back.repeat) == (default.index_of("monthly-email"), 2)


def test_the_income_inputs_are_added_empty_to_existing_leads_and_dropped_on_downgrade(blank_engine: Engine):
    from alembic import command
    from alembic.script import ScriptDirectory

    from storage.db import alembic_config

    config = alembic_config(blank_engine)
    before = ScriptDirectory.from_config(config).get_revision("0008").down_revision
    assert isinstance(before, str)
    upgrade(blank_engine, before)
    with blank_engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO lead (first_name, last_name, phone, timezone, self_employed, investment_property, "
                "foreign_national, high_dti, product, product_matched, inquiry_date, stage, phone_ok, row_digest, "
                "created_at, updated_at, dnc_listed, loan_amount) VALUES ('Maria', 'Lopez', '+13055550147', "
                "'America/New_York', true, false, false, false, 'bank_statement', true, :d, 'new_lead', true, 'x', "
                ":at, :at, false, 400000)"
            ),
            {"d": date(2026, 1, 5), "at": AT.replace(tzinfo=None)},
        )
    indexes = {i["name"] for i in sa.inspect(blank_engine).get_indexes("lead")}
    upgrade(blank_engine, "0008")
    income = "monthly_deposits, statement_type, statement_months, expense_ratio_bp, monthly_debts, property_value"
    with blank_engine.begin() as conn:
        assert tuple(conn.execute(sa.text(f"SELECT loan_amount, {income} FROM lead")).one()) == (400_000, *[None] * 6)
        conn.execute(
            sa.text(
                "UPDATE lead SET monthly_deposits = 20000, statement_type = 'business', statement_months = 24, "
                "expense_ratio_bp = 3500, gross_1099 = 5000000000, gross_1099_months = 12, pl_net = 96000, "
                "monthly_debts = 1500, property_value = 500000"
            )
        )
        row = conn.execute(sa.text(f"SELECT {income}, gross_1099 FROM lead")).one()
    assert tuple(row) == (20_000, "business", 24, 3_500, 1_500, 500_000, 5_000_000_000)

    command.downgrade(config, before)
    columns = {c["name"] for c in sa.inspect(blank_engine).get_columns("lead")}
    assert "monthly_deposits" not in columns and "pl_net" not in columns and "loan_amount" in columns
    assert {i["name"] for i in sa.inspect(blank_engine).get_indexes("lead")} == indexes
    with blank_engine.connect() as conn:
        assert conn.execute(sa.text("SELECT phone, loan_amount FROM lead")).one() == ("+13055550147", 400_000)
    upgrade(blank_engine)
    with blank_engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), SQLModel.metadata)
    assert diff == []


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
