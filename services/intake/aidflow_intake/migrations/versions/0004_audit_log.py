"""audit log

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 12:40:00.000000

"""
from typing import Sequence, Union

from aidflow_shared.schema_history import create_audit_log_v1, drop_audit_log_v1


# revision identifiers, used by Alembic.
revision: str = '0004'
down_revision: Union[str, Sequence[str], None] = '0003'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    create_audit_log_v1()


def downgrade() -> None:
    drop_audit_log_v1()
