"""reviews wait for the case's acceptance

A review now exists from the case's registration as ``awaiting_acceptance`` and opens when intake
accepts the case (受理). Reviews made before this revision opened on registration: they keep
their status and count as accepted when they were opened.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 09:41:18.213425

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

import aidflow_shared.storage


# revision identifiers, used by Alembic.
revision: str = '0003'
down_revision: Union[str, Sequence[str], None] = '0002'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('review', schema=None) as batch_op:
        batch_op.add_column(sa.Column('source', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('eligibility_situation', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('victim_deceased', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('documents_complete', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('migrated', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('received_at', aidflow_shared.storage.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('accepted_at', aidflow_shared.storage.UTCDateTime(), nullable=True))
        batch_op.alter_column('status',
               existing_type=sa.VARCHAR(length=16),
               type_=sa.String(length=32),
               existing_nullable=False)
    op.execute(sa.text("UPDATE review SET victim_deceased = false, migrated = false, received_at = opened_at, "
                       "accepted_at = opened_at"))
    with op.batch_alter_table('review', schema=None) as batch_op:
        batch_op.alter_column('victim_deceased', existing_type=sa.Boolean(), nullable=False)
        batch_op.alter_column('migrated', existing_type=sa.Boolean(), nullable=False)

    with op.batch_alter_table('review_beneficiary', schema=None) as batch_op:
        batch_op.add_column(sa.Column('poverty_markers', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('urgent_medical_need', sa.Boolean(), nullable=True))
    op.execute(sa.text("UPDATE review_beneficiary SET poverty_markers = '[]', urgent_medical_need = false"))
    with op.batch_alter_table('review_beneficiary', schema=None) as batch_op:
        batch_op.alter_column('poverty_markers', existing_type=sa.JSON(), nullable=False)
        batch_op.alter_column('urgent_medical_need', existing_type=sa.Boolean(), nullable=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('review_beneficiary', schema=None) as batch_op:
        batch_op.drop_column('urgent_medical_need')
        batch_op.drop_column('poverty_markers')

    # Before this revision a review opened with its case.
    op.execute(sa.text("UPDATE review SET status = 'open' WHERE status = 'awaiting_acceptance'"))
    with op.batch_alter_table('review', schema=None) as batch_op:
        batch_op.alter_column('status',
               existing_type=sa.String(length=32),
               type_=sa.VARCHAR(length=16),
               existing_nullable=False)
        batch_op.drop_column('accepted_at')
        batch_op.drop_column('received_at')
        batch_op.drop_column('migrated')
        batch_op.drop_column('documents_complete')
        batch_op.drop_column('victim_deceased')
        batch_op.drop_column('eligibility_situation')
        batch_op.drop_column('source')
