"""deadline clocks

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 09:32:01.805410

"""
from typing import Sequence, Union

from aidflow_shared.schema_history import create_deadline_tables_v1, drop_deadline_tables_v1


# revision identifiers, used by Alembic.
revision: str = '0002'
down_revision: Union[str, Sequence[str], None] = '0001'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    create_deadline_tables_v1()


def downgrade() -> None:
    drop_deadline_tables_v1()
