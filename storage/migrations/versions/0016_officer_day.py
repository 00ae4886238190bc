"""the loan officer's day

Officers get licensing, hours, capacity, a role and alert preferences (existing officers: licensed in no
state until told, see `dripline officers set`); call tasks remember their alert and reminder. New tables: the
officers' outbox, the task log, sign-in links, web sessions, lead edits and notes, click-to-call bridges.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30 05:35:43.010550
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel
import storage.types


revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "officer_alert",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("loan_officer_id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column(
            "channel",
            sa.Enum("call", "sms", "email", "voicemail", name="channel", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("to_address", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
        sa.Column("subject", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True),
        sa.Column("body_text", sa.Text(), nullable=False),
        sa.Column("task_ids", sa.Text(), nullable=False),
        sa.Column("scheduled_for", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "planned",
                "sending",
                "unknown",
                "sent",
                "failed",
                "cancelled",
                "skipped",
                "blocked",
                name="touchstatus",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("lease_until", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("send_started_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("sent_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("provider_id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("created_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["loan_officer_id"],
            ["loan_officer.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    with op.batch_alter_table("officer_alert", schema=None) as batch_op:
        batch_op.create_index("ix_officer_alert_due", ["status", "scheduled_for"], unique=False)
        batch_op.create_index(batch_op.f("ix_officer_alert_loan_officer_id"), ["loan_officer_id"], unique=False)

    op.create_table(
        "sign_in_link",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("loan_officer_id", sa.Integer(), nullable=False),
        sa.Column("next_path", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("created_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["loan_officer_id"],
            ["loan_officer.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_sha256"),
    )
    with op.batch_alter_table("sign_in_link", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sign_in_link_loan_officer_id"), ["loan_officer_id"], unique=False)

    op.create_table(
        "web_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("loan_officer_id", sa.Integer(), nullable=False),
        sa.Column("csrf_token", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["loan_officer_id"],
            ["loan_officer.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_sha256"),
    )
    with op.batch_alter_table("web_session", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_web_session_loan_officer_id"), ["loan_officer_id"], unique=False)

    op.create_table(
        "lead_edit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lead_id", sa.Integer(), nullable=False),
        sa.Column("field", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("old_value", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("new_value", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["lead_id"],
            ["lead.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("lead_edit", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_lead_edit_lead_id"), ["lead_id"], unique=False)

    op.create_table(
        "lead_note",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lead_id", sa.Integer(), nullable=False),
        sa.Column("loan_officer_id", sa.Integer(), nullable=True),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("body", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
        sa.Column("at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["lead_id"],
            ["lead.id"],
        ),
        sa.ForeignKeyConstraint(
            ["loan_officer_id"],
            ["loan_officer.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("lead_note", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_lead_note_lead_id"), ["lead_id"], unique=False)

    op.create_table(
        "bridge_call",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("lead_id", sa.Integer(), nullable=False),
        sa.Column("loan_officer_id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=True),
        sa.Column("call_sid", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column(
            "outcome",
            sa.Enum(
                "no_answer",
                "voicemail",
                "reached",
                "educated",
                "docs_requested",
                "not_interested",
                "wrong_number",
                "do_not_call",
                name="outcome",
                native_enum=False,
                length=32,
            ),
            nullable=True,
        ),
        sa.Column("decisions", sa.Text(), nullable=False),
        sa.Column("created_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["lead_id"],
            ["lead.id"],
        ),
        sa.ForeignKeyConstraint(
            ["loan_officer_id"],
            ["loan_officer.id"],
        ),
        sa.ForeignKeyConstraint(
            ["task_id"],
            ["call_task.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    with op.batch_alter_table("bridge_call", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_bridge_call_call_sid"), ["call_sid"], unique=False)
        batch_op.create_index(batch_op.f("ix_bridge_call_lead_id"), ["lead_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_bridge_call_loan_officer_id"), ["loan_officer_id"], unique=False)

    op.create_table(
        "task_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("from_officer_id", sa.Integer(), nullable=True),
        sa.Column("to_officer_id", sa.Integer(), nullable=True),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.ForeignKeyConstraint(
            ["from_officer_id"],
            ["loan_officer.id"],
        ),
        sa.ForeignKeyConstraint(
            ["task_id"],
            ["call_task.id"],
        ),
        sa.ForeignKeyConstraint(
            ["to_officer_id"],
            ["loan_officer.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("task_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_task_log_from_officer_id"), ["from_officer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_task_log_task_id"), ["task_id"], unique=False)

    with op.batch_alter_table("call_task", schema=None) as batch_op:
        batch_op.add_column(sa.Column("alerted_at", storage.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("reminded_at", storage.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_call_task_status_due", ["status", "due_at"], unique=False)

    with op.batch_alter_table("loan_officer", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "role", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False, server_default=sa.text("'officer'")
            )
        )
        batch_op.add_column(
            sa.Column(
                "licensed_states",
                sqlmodel.sql.sqltypes.AutoString(length=160),
                nullable=False,
                server_default=sa.text("''"),
            )
        )
        batch_op.add_column(
            sa.Column(
                "timezone",
                sqlmodel.sql.sqltypes.AutoString(length=64),
                nullable=False,
                server_default=sa.text("'America/New_York'"),
            )
        )
        batch_op.add_column(sa.Column("work_start", sa.Integer(), nullable=False, server_default=sa.text("'540'")))
        batch_op.add_column(sa.Column("work_end", sa.Integer(), nullable=False, server_default=sa.text("'1080'")))
        batch_op.add_column(
            sa.Column(
                "work_days",
                sqlmodel.sql.sqltypes.AutoString(length=7),
                nullable=False,
                server_default=sa.text("'12345'"),
            )
        )
        batch_op.add_column(sa.Column("quiet_start", sa.Integer(), nullable=False, server_default=sa.text("'1260'")))
        batch_op.add_column(sa.Column("quiet_end", sa.Integer(), nullable=False, server_default=sa.text("'480'")))
        batch_op.add_column(sa.Column("max_open_tasks", sa.Integer(), nullable=False, server_default=sa.text("'150'")))
        batch_op.add_column(sa.Column("alert_sms", sa.Boolean(), nullable=False, server_default=sa.true()))
        batch_op.add_column(sa.Column("alert_email", sa.Boolean(), nullable=False, server_default=sa.true()))


def downgrade() -> None:
    with op.batch_alter_table("loan_officer", schema=None) as batch_op:
        batch_op.drop_column("alert_email")
        batch_op.drop_column("alert_sms")
        batch_op.drop_column("max_open_tasks")
        batch_op.drop_column("quiet_end")
        batch_op.drop_column("quiet_start")
        batch_op.drop_column("work_days")
        batch_op.drop_column("work_end")
        batch_op.drop_column("work_start")
        batch_op.drop_column("timezone")
        batch_op.drop_column("licensed_states")
        batch_op.drop_column("role")

    with op.batch_alter_table("call_task", schema=None) as batch_op:
        batch_op.drop_index("ix_call_task_status_due")
        batch_op.drop_column("reminded_at")
        batch_op.drop_column("alerted_at")

    with op.batch_alter_table("task_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_task_log_task_id"))
        batch_op.drop_index(batch_op.f("ix_task_log_from_officer_id"))

    op.drop_table("task_log")
    with op.batch_alter_table("bridge_call", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bridge_call_loan_officer_id"))
        batch_op.drop_index(batch_op.f("ix_bridge_call_lead_id"))
        batch_op.drop_index(batch_op.f("ix_bridge_call_call_sid"))

    op.drop_table("bridge_call")
    with op.batch_alter_table("lead_note", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lead_note_lead_id"))

    op.drop_table("lead_note")
    with op.batch_alter_table("lead_edit", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lead_edit_lead_id"))

    op.drop_table("lead_edit")
    with op.batch_alter_table("web_session", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_web_session_loan_officer_id"))

    op.drop_table("web_session")
    with op.batch_alter_table("sign_in_link", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sign_in_link_loan_officer_id"))

    op.drop_table("sign_in_link")
    with op.batch_alter_table("officer_alert", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_officer_alert_loan_officer_id"))
        batch_op.drop_index("ix_officer_alert_due")

    op.drop_table("officer_alert")
