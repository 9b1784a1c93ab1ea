"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-29 09:11:15.922145

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
    op.create_table('aid_case',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('case_number', sa.String(length=32), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('source_agency', sa.String(length=64), nullable=True),
    sa.Column('stage', sa.String(length=32), nullable=True),
    sa.Column('criminal_case_ref', sa.String(length=64), nullable=True),
    sa.Column('track', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('summary', sa.Text(), nullable=True),
    sa.Column('opened_at', aidflow_shared.storage.UTCDateTime(), nullable=False),
    sa.Column('updated_at', aidflow_shared.storage.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_aid_case')),
    sa.UniqueConstraint('case_number', name=op.f('uq_aid_case_case_number'))
    )
    with op.batch_alter_table('aid_case', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_aid_case_criminal_case_ref'), ['criminal_case_ref'], unique=False)
        batch_op.create_index(batch_op.f('ix_aid_case_status'), ['status'], unique=False)

    op.create_table('person',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('id_type', sa.String(length=32), nullable=False),
    sa.Column('id_number', sa.String(length=64), nullable=False),
    sa.Column('birth_date', sa.Date(), nullable=True),
    sa.Column('phone', sa.String(length=32), nullable=True),
    sa.Column('created_at', aidflow_shared.storage.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_person')),
    sa.UniqueConstraint('id_type', 'id_number', name=op.f('uq_person_id_type'))
    )
    op.create_table('beneficiary',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('case_id', sa.String(length=36), nullable=False),
    sa.Column('person_id', sa.String(length=36), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('relationship_to_victim', sa.String(length=32), nullable=False),
    sa.Column('is_minor', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['aid_case.id'], name=op.f('fk_beneficiary_case_id_aid_case')),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_beneficiary_person_id_person')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_beneficiary')),
    sa.UniqueConstraint('case_id', 'person_id', name=op.f('uq_beneficiary_case_id'))
    )
    with op.batch_alter_table('beneficiary', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_beneficiary_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_beneficiary_person_id'), ['person_id'], unique=False)

    op.create_table('case_history',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('case_id', sa.String(length=36), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('event_type', sa.String(length=255), nullable=True),
    sa.Column('note', sa.String(length=255), nullable=True),
    sa.Column('at', aidflow_shared.storage.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['aid_case.id'], name=op.f('fk_case_history_case_id_aid_case')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_history'))
    )
    with op.batch_alter_table('case_history', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_history_case_id'), ['case_id'], unique=False)



def downgrade() -> None:
    """Downgrade schema."""
    drop_bus_tables_v1()
    with op.batch_alter_table('case_history', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_history_case_id'))

    op.drop_table('case_history')
    with op.batch_alter_table('beneficiary', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_beneficiary_person_id'))
        batch_op.drop_index(batch_op.f('ix_beneficiary_case_id'))

    op.drop_table('beneficiary')
    op.drop_table('person')
    with op.batch_alter_table('aid_case', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_aid_case_status'))
        batch_op.drop_index(batch_op.f('ix_aid_case_criminal_case_ref'))

    op.drop_table('aid_case')
