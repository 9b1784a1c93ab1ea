"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-29 09:11:15.971525

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

import aidflow_shared.storage
from aidflow_shared.schema_history import create_bus_tables_v1, drop_bus_tables_v1


# revision identifiers, used by Alembic.
revision: str = '0001'
down_revision: Union[str, Sequence[str], None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    create_bus_tables_v1()
    op.create_table('review',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('case_id', sa.String(length=36), nullable=False),
    sa.Column('case_number', sa.String(length=32), nullable=False),
    sa.Column('track', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('opened_at', aidflow_shared.storage.UTCDateTime(), nullable=False),
    sa.Column('decided_at', aidflow_shared.storage.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_review')),
    sa.UniqueConstraint('case_id', name=op.f('uq_review_case_id'))
    )
    with op.batch_alter_table('review', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_review_status'), ['status'], unique=False)

    op.create_table('decision',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('review_id', sa.String(length=36), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('total_fen', sa.BigInteger(), nullable=False),
    sa.Column('reason_code', sa.String(length=64), nullable=True),
    sa.Column('explanation', sa.Text(), nullable=True),
    sa.Column('decided_by', sa.String(length=100), nullable=False),
    sa.Column('decided_at', aidflow_shared.storage.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['review_id'], ['review.id'], name=op.f('fk_decision_review_id_review')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_decision')),
    sa.UniqueConstraint('review_id', name=op.f('uq_decision_review_id'))
    )
    op.create_table('review_beneficiary',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('review_id', sa.String(length=36), nullable=False),
    sa.Column('beneficiary_id', sa.String(length=64), nullable=False),
    sa.Column('person_ref', sa.String(length=64), nullable=False),
    sa.Column('is_minor', sa.Boolean(), nullable=False),
    sa.Column('relationship_to_victim', sa.String(length=32), nullable=True),
    sa.ForeignKeyConstraint(['review_id'], ['review.id'], name=op.f('fk_review_beneficiary_review_id_review')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_review_beneficiary')),
    sa.UniqueConstraint('review_id', 'beneficiary_id', name=op.f('uq_review_beneficiary_review_id'))
    )
    with op.batch_alter_table('review_beneficiary', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_review_beneficiary_review_id'), ['review_id'], unique=False)

    op.create_table('award',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('decision_id', sa.String(length=36), nullable=False),
    sa.Column('beneficiary_id', sa.String(length=64), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['decision_id'], ['decision.id'], name=op.f('fk_award_decision_id_decision')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_award')),
    sa.UniqueConstraint('decision_id', 'beneficiary_id', name=op.f('uq_award_decision_id'))
    )
    with op.batch_alter_table('award', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_award_decision_id'), ['decision_id'], unique=False)



def downgrade() -> None:
    """Downgrade schema."""
    drop_bus_tables_v1()
    with op.batch_alter_table('award', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_award_decision_id'))

    op.drop_table('award')
    with op.batch_alter_table('review_beneficiary', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_review_beneficiary_review_id'))

    op.drop_table('review_beneficiary')
    op.drop_table('decision')
    with op.batch_alter_table('review', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_review_status'))

    op.drop_table('review')
