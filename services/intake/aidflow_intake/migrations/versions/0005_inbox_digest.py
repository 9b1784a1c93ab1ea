"""inbox digest

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 21:30:00.000000

"""
from typing import Sequence, Union

from aidflow_shared.schema_history import add_inbox_digest_v1, drop_inbox_digest_v1


# revision identifiers, used by Alembic.
revision: str = '0005'
down_revision: Union[str, Sequence[str], None] = '0004'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    add_inbox_digest_v1()


def downgrade() -> None:
    drop_inbox_digest_v1()
