"""deadline clocks

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

import aidflow_shared.storage


# revision identifiers, used by Alembic.
revision: str = '0002'
down_revision: Union[str, Sequence[str], None] = '0001'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""

    op.create_table('deadline_clock',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('stage', sa.String(length=16), nullable=False),
    sa.Column('subject_id', sa.String(length=64), nullable=False),
    sa.Column('case_id', sa.String(length=36), nullable=True),
    sa.Column('track', sa.String(length=16), nullable=False),
    sa.Column('unit', sa.String(length=16), nullable=False),
    sa.Column('allowance', sa.Integer(), nullable=False),
    sa.Column('extension', sa.Integer(), server_default='0', nullable=False),
    sa.Column('started_at', aidflow_shared.storage.UTCDateTime(), nullable=False),
    sa.Column('due_at', aidflow_shared.storage.UTCDateTime(), nullable=False),
    sa.Column('warning_at', aidflow_shared.storage.UTCDateTime(), nullable=False),
    sa.Column('critical_at', aidflow_shared.storage.UTCDateTime(), nullable=False),
    sa.Column('provisional', sa.Boolean(), nullable=False),
    sa.Column('calendar', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('paused_at', aidflow_shared.storage.UTCDateTime(), nullable=True),
    sa.Column('stopped_at', aidflow_shared.storage.UTCDateTime(), nullable=True),
    sa.Column('outcome', sa.String(length=8), nullable=True),
    sa.Column('working_days_used', sa.Integer(), nullable=True),
    sa.Column('breached_at', aidflow_shared.storage.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deadline_clock')),
    sa.UniqueConstraint('stage', 'subject_id', name=op.f('uq_deadline_clock_stage'))
    )
    with op.batch_alter_table('deadline_clock', schema=None) as batch_op:
        batch_op.create_index('ix_deadline_clock_case', ['case_id'], unique=False)
        batch_op.create_index('ix_deadline_clock_open', ['status', 'due_at'], unique=False)

    op.create_table('deadline_change',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('clock_id', sa.String(length=36), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('at', aidflow_shared.storage.UTCDateTime(), nullable=False),
    sa.Column('due_at', aidflow_shared.storage.UTCDateTime(), nullable=True),
    sa.Column('provisional', sa.Boolean(), nullable=True),
    sa.Column('reason', sa.String(length=255), nullable=True),
    sa.ForeignKeyConstraint(['clock_id'], ['deadline_clock.id'], name=op.f('fk_deadline_change_clock_id_deadline_clock')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deadline_change'))
    )
    with op.batch_alter_table('deadline_change', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_deadline_change_clock_id'), ['clock_id'], unique=False)




def downgrade() -> None:
    """Downgrade schema."""

    with op.batch_alter_table('deadline_change', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_deadline_change_clock_id'))

    op.drop_table('deadline_change')
    with op.batch_alter_table('deadline_clock', schema=None) as batch_op:
        batch_op.drop_index('ix_deadline_clock_open')
        batch_op.drop_index('ix_deadline_clock_case')

    op.drop_table('deadline_clock')

