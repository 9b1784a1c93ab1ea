"""proposals and their approvals; advance paperwork; why a review waits

A decision is now made by a handler's proposal (with its recorded eligibility reasoning, amounts
checked against the cap) and the approvals its amount needs. Decisions recorded before this
revision keep no proposal, and were neither advances nor joint aid.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 12:05:25.735996

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

import aidflow_shared.storage


# revision identifiers, used by Alembic.
revision: str = '0004'
down_revision: Union[str, Sequence[str], None] = '0003'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('proposal',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('review_id', sa.String(length=36), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('advance', sa.Boolean(), nullable=False),
    sa.Column('situation', sa.String(length=40), nullable=True),
    sa.Column('exclusions', sa.JSON(), nullable=False),
    sa.Column('evidence', sa.JSON(), nullable=False),
    sa.Column('reason_code', sa.String(length=64), nullable=True),
    sa.Column('explanation', sa.Text(), nullable=True),
    sa.Column('awards', sa.JSON(), nullable=False),
    sa.Column('total_fen', sa.BigInteger(), nullable=False),
    sa.Column('cap', sa.JSON(), nullable=True),
    sa.Column('special_approval', sa.Boolean(), nullable=False),
    sa.Column('joint_aid', sa.Boolean(), nullable=False),
    sa.Column('joint_aid_with', sa.String(length=100), nullable=True),
    sa.Column('required_levels', sa.JSON(), nullable=False),
    sa.Column('proposed_by', sa.String(length=100), nullable=False),
    sa.Column('proposed_at', aidflow_shared.storage.UTCDateTime(timezone=True), nullable=False),
    sa.Column('closed_at', aidflow_shared.storage.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['review_id'], ['review.id'], name=op.f('fk_proposal_review_id_review')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_proposal'))
    )
    with op.batch_alter_table('proposal', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_proposal_review_id'), ['review_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_proposal_status'), ['status'], unique=False)

    op.create_table('approval',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('proposal_id', sa.String(length=36), nullable=False),
    sa.Column('level', sa.String(length=32), nullable=False),
    sa.Column('verdict', sa.String(length=16), nullable=False),
    sa.Column('approver', sa.String(length=100), nullable=False),
    sa.Column('note', sa.String(length=1000), nullable=True),
    sa.Column('reference', sa.String(length=100), nullable=True),
    sa.Column('at', aidflow_shared.storage.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['proposal_id'], ['proposal.id'], name=op.f('fk_approval_proposal_id_proposal')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_approval')),
    sa.UniqueConstraint('proposal_id', 'level', name=op.f('uq_approval_proposal_id'))
    )
    with op.batch_alter_table('approval', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_approval_proposal_id'), ['proposal_id'], unique=False)

    with op.batch_alter_table('decision', schema=None) as batch_op:
        batch_op.add_column(sa.Column('proposal_id', sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column('proposed_by', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('joint_aid', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('advance', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('paperwork', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('paperwork_completed_at', aidflow_shared.storage.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('paperwork_completed_by', sa.String(length=100), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_decision_proposal_id_proposal'), 'proposal', ['proposal_id'], ['id'])
    op.execute(sa.text("UPDATE decision SET joint_aid = false, advance = false"))
    with op.batch_alter_table('decision', schema=None) as batch_op:
        batch_op.alter_column('joint_aid', existing_type=sa.Boolean(), nullable=False)
        batch_op.alter_column('advance', existing_type=sa.Boolean(), nullable=False)

    with op.batch_alter_table('review', schema=None) as batch_op:
        batch_op.add_column(sa.Column('waiting_reason', sa.String(length=500), nullable=True))



def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('review', schema=None) as batch_op:
        batch_op.drop_column('waiting_reason')

    with op.batch_alter_table('decision', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_decision_proposal_id_proposal'), type_='foreignkey')
        batch_op.drop_column('paperwork_completed_by')
        batch_op.drop_column('paperwork_completed_at')
        batch_op.drop_column('paperwork')
        batch_op.drop_column('advance')
        batch_op.drop_column('joint_aid')
        batch_op.drop_column('proposed_by')
        batch_op.drop_column('proposal_id')

    with op.batch_alter_table('approval', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_approval_proposal_id'))

    op.drop_table('approval')
    with op.batch_alter_table('proposal', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_proposal_status'))
        batch_op.drop_index(batch_op.f('ix_proposal_review_id'))

    op.drop_table('proposal')
