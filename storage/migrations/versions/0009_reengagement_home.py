"""re-engaged leads keep their own enrollment

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02

A re-engaged lead's position remembers the enrollment it was re-engaged from (``home_*``: cadence, version,
day 0, when it enrolled, the step it stood at), and goes back there once the re-engagement sequence has ended
and its last messages are settled, instead of completing for good.

Leads re-engaged before this revision have no such record. Each is given the newest stored cadence other than
the re-engagement one as its home, from day 0 of its import (the lead's ``created_at``: the first tick after
an import enrolls it); those the old code had already marked ``completed`` become ``nurturing`` again, with a
``resume_nurture`` history row at the time they completed, and the next tick sends them home. A downgrade
drops the columns and leaves the statuses as they are.
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel

import storage.types
from nurture.cadence import load_cadence
from nurture.planner import anchor_date


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

REENGAGE = 'reengage'
OPEN_STAGES = ('new_lead', 'nurture')
ACTOR = 'migration 0009'
WHY = "re-engagement ended before its last message was settled (completed for good before 0009): back to nurture"

_ts = storage.types.UTCDateTime(timezone=True)
_position = sa.table(
    'cadence_position',
    sa.column('lead_id', sa.Integer()),
    sa.column('cadence_name', sa.String()),
    sa.column('status', sa.String()),
    sa.column('next_due_at', _ts),
    sa.column('updated_at', _ts),
    sa.column('home_cadence_name', sa.String()),
    sa.column('home_cadence_version', sa.Integer()),
    sa.column('home_anchor_date', sa.Date()),
    sa.column('home_enrolled_at', _ts),
    sa.column('home_step_index', sa.Integer()),
    sa.column('home_repeat', sa.Integer()),
)
_lead = sa.table(
    'lead',
    sa.column('id', sa.Integer()),
    sa.column('timezone', sa.String()),
    sa.column('stage', sa.String()),
    sa.column('created_at', _ts),
)
_history = sa.table(
    'lead_history',
    sa.column('lead_id', sa.Integer()),
    sa.column('at', _ts),
    sa.column('event', sa.String()),
    sa.column('stage_from', sa.String()),
    sa.column('stage_to', sa.String()),
    sa.column('cadence_from', sa.String()),
    sa.column('cadence_to', sa.String()),
    sa.column('reason', sa.String()),
    sa.column('actor', sa.String()),
)


def upgrade() -> None:
    with op.batch_alter_table('cadence_position', schema=None) as batch_op:
        batch_op.add_column(sa.Column('home_cadence_name', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.add_column(sa.Column('home_cadence_version', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('home_anchor_date', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('home_enrolled_at', _ts, nullable=True))
        batch_op.add_column(sa.Column('home_step_index', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('home_repeat', sa.Integer(), nullable=True))
    _give_reengaged_leads_a_home()


def _give_reengaged_leads_a_home() -> None:
    bind = op.get_bind()
    home = bind.execute(
        sa.text(
            'SELECT name, version, body FROM cadence_definition WHERE name != :reengage '
            'ORDER BY loaded_at DESC, version DESC LIMIT 1'
        ),
        {'reengage': REENGAGE},
    ).first()
    if home is None:
        return
    cadence = load_cadence(home.body, source=f'{home.name} v{home.version}')
    rows = bind.execute(
        sa.select(_position.c.lead_id, _position.c.status, _position.c.updated_at, _lead.c.timezone,
                  _lead.c.stage, _lead.c.created_at)
        .join(_lead, _lead.c.id == _position.c.lead_id)
        .where(_position.c.cadence_name == REENGAGE, _position.c.home_cadence_name.is_(None))
    ).all()  # fmt: skip
    homes, back, history = [], [], []
    for r in rows:
        homes.append(
            {
                'b_id': r.lead_id,
                'b_name': home.name,
                'b_version': home.version,
                'b_anchor': anchor_date(enrolled_at=r.created_at, timezone=r.timezone, cadence=cadence),
                'b_enrolled': r.created_at,
            }
        )
        if r.status == 'completed' and r.stage in OPEN_STAGES:
            back.append({'b_id': r.lead_id, 'b_due': r.updated_at})
            history.append(
                {
                    'lead_id': r.lead_id,
                    'at': r.updated_at,
                    'event': 'resume_nurture',
                    'stage_from': r.stage,
                    'stage_to': 'nurture',
                    'cadence_from': 'completed',
                    'cadence_to': 'nurturing',
                    'reason': WHY,
                    'actor': ACTOR,
                }
            )
    if homes:
        bind.execute(
            _position.update()
            .where(_position.c.lead_id == sa.bindparam('b_id'))
            .values(
                home_cadence_name=sa.bindparam('b_name'),
                home_cadence_version=sa.bindparam('b_version'),
                home_anchor_date=sa.bindparam('b_anchor'),
                home_enrolled_at=sa.bindparam('b_enrolled'),
                home_step_index=0,
                home_repeat=0,
            ),
            homes,
        )
    if back:
        bind.execute(
            _position.update()
            .where(_position.c.lead_id == sa.bindparam('b_id'))
            .values(status='nurturing', next_due_at=sa.bindparam('b_due')),
            back,
        )
        bind.execute(
            _lead.update().where(_lead.c.id == sa.bindparam('b_id'), _lead.c.stage == 'new_lead').values(
                stage='nurture'
            ),
            back,
        )
        bind.execute(_history.insert(), history)


def downgrade() -> None:
    with op.batch_alter_table('cadence_position', schema=None) as batch_op:
        batch_op.drop_column('home_repeat')
        batch_op.drop_column('home_step_index')
        batch_op.drop_column('home_enrolled_at')
        batch_op.drop_column('home_anchor_date')
        batch_op.drop_column('home_cadence_version')
        batch_op.drop_column('home_cadence_name')
