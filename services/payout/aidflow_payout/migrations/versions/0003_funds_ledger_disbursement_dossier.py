"""funds ledger disbursement dossier

Funds get the balances of two-phase money (available, reserved, paid, recovered) with CHECK
constraints that keep them non-negative and balanced; the single-entry ledger_entry becomes the
double-entry, append-only ledger_line (UPDATE and DELETE refused by triggers); payouts get what
instructions, escrow, cancellation, recovery and advances need; and the new tables: decision,
fund_request, instruction, bank_answer, recovery, notification, activity, idempotent_request.

Existing data is carried over: a fund's available balance is what was allocated less what was
paid; each old disbursement becomes a reservation and a disbursement line.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 09:54:26.398522

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
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        # Recreating fund and payout (SQLite's way to add constraints) drops the old tables while
        # rows point at them; the check waits until the commit, when they exist again.
        op.execute("PRAGMA defer_foreign_keys = ON")

    with op.batch_alter_table('fund', schema=None) as batch_op:
        batch_op.add_column(sa.Column('available_fen', sa.BigInteger(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('reserved_fen', sa.BigInteger(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('recovered_fen', sa.BigInteger(), server_default='0', nullable=False))
    op.execute("UPDATE fund SET available_fen = allocated_fen - paid_fen")
    with op.batch_alter_table('fund', schema=None) as batch_op:
        for column in ('available_fen', 'reserved_fen', 'recovered_fen'):
            batch_op.alter_column(column, server_default=None, existing_type=sa.BigInteger(), existing_nullable=False)
        for name, condition in FUND_CHECKS:
            batch_op.create_check_constraint(op.f(f'ck_fund_{name}'), condition)

    with op.batch_alter_table('payout', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=16), server_default='standard', nullable=False))
        batch_op.add_column(sa.Column('paid_fen', sa.BigInteger(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('recovered_fen', sa.BigInteger(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('reserved_at', aidflow_shared.storage.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('completed_at', aidflow_shared.storage.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('cancelled_at', aidflow_shared.storage.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('cancel_reason', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('failure', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('paperwork_completed_at', aidflow_shared.storage.UTCDateTime(), nullable=True))
    op.execute("UPDATE payout SET paid_fen = amount_fen, reserved_at = disbursed_at, completed_at = disbursed_at "
               "WHERE status = 'disbursed'")
    with op.batch_alter_table('payout', schema=None) as batch_op:
        for column, type_ in (('kind', sa.String(length=16)), ('paid_fen', sa.BigInteger()),
                              ('recovered_fen', sa.BigInteger())):
            batch_op.alter_column(column, server_default=None, existing_type=type_, existing_nullable=False)
        for name, condition in PAYOUT_CHECKS:
            batch_op.create_check_constraint(op.f(f'ck_payout_{name}'), condition)

    op.create_table('activity',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('case_id', sa.String(length=36), nullable=False),
    sa.Column('payout_id', sa.String(length=36), nullable=True),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('actor', sa.String(length=100), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=True),
    sa.Column('at', aidflow_shared.storage.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_activity'))
    )
    with op.batch_alter_table('activity', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_activity_case_id'), ['case_id'], unique=False)

    op.create_table('decision',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('case_id', sa.String(length=36), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('total_fen', sa.BigInteger(), nullable=False),
    sa.Column('advance', sa.Boolean(), nullable=False),
    sa.Column('decided_at', aidflow_shared.storage.UTCDateTime(), nullable=False),
    sa.Column('received_at', aidflow_shared.storage.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_decision'))
    )
    with op.batch_alter_table('decision', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_decision_case_id'), ['case_id'], unique=False)

    op.create_table('fund_request',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('allocated_fen', sa.BigInteger(), nullable=False),
    sa.Column('requested_by', sa.String(length=100), nullable=False),
    sa.Column('requested_at', aidflow_shared.storage.UTCDateTime(), nullable=False),
    sa.Column('answered_at', aidflow_shared.storage.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fund_request'))
    )
    with op.batch_alter_table('fund_request', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_fund_request_status'), ['status'], unique=False)

    op.create_table('idempotent_request',
    sa.Column('subject', sa.String(length=100), nullable=False),
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=True),
    sa.Column('response', sa.Text(), nullable=True),
    sa.Column('created_at', aidflow_shared.storage.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('subject', 'key', name=op.f('pk_idempotent_request'))
    )
    op.create_table('ledger_line',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('fund_id', sa.String(length=36), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('debit', sa.String(length=16), nullable=False),
    sa.Column('credit', sa.String(length=16), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('payout_id', sa.String(length=36), nullable=True),
    sa.Column('case_id', sa.String(length=36), nullable=True),
    sa.Column('instruction_id', sa.String(length=36), nullable=True),
    sa.Column('fund_request_id', sa.String(length=36), nullable=True),
    sa.Column('reference', sa.String(length=100), nullable=True),
    sa.Column('actor', sa.String(length=100), nullable=True),
    sa.Column('at', aidflow_shared.storage.UTCDateTime(), nullable=False),
    sa.CheckConstraint('amount_fen > 0', name=op.f('ck_ledger_line_amount_positive')),
    sa.CheckConstraint('debit <> credit', name=op.f('ck_ledger_line_two_accounts')),
    sa.ForeignKeyConstraint(['fund_id'], ['fund.id'], name=op.f('fk_ledger_line_fund_id_fund')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_line'))
    )
    with op.batch_alter_table('ledger_line', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ledger_line_at'), ['at'], unique=False)
        batch_op.create_index('ix_ledger_line_fund', ['fund_id', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ledger_line_payout_id'), ['payout_id'], unique=False)

    op.create_table('instruction',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('payout_id', sa.String(length=36), nullable=False),
    sa.Column('instalment', sa.Integer(), nullable=False),
    sa.Column('method', sa.String(length=16), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('idempotency_key', sa.String(length=64), nullable=False),
    sa.Column('payee_kind', sa.String(length=16), nullable=False),
    sa.Column('payee_holder', sa.Text(), nullable=True),
    sa.Column('payee_account', sa.Text(), nullable=True),
    sa.Column('payee_account_index', sa.String(length=64), nullable=True),
    sa.Column('payee_bank', sa.String(length=100), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('lease_until', aidflow_shared.storage.UTCDateTime(), nullable=True),
    sa.Column('sent_at', aidflow_shared.storage.UTCDateTime(), nullable=True),
    sa.Column('answered_at', aidflow_shared.storage.UTCDateTime(), nullable=True),
    sa.Column('bank_reference', sa.String(length=64), nullable=True),
    sa.Column('failure', sa.String(length=64), nullable=True),
    sa.Column('receipt_number', sa.String(length=64), nullable=True),
    sa.Column('receipt_signer', sa.Text(), nullable=True),
    sa.Column('receipt_signed_at', aidflow_shared.storage.UTCDateTime(), nullable=True),
    sa.Column('receipt_sha256', sa.String(length=64), nullable=True),
    sa.Column('created_by', sa.String(length=100), nullable=False),
    sa.Column('created_at', aidflow_shared.storage.UTCDateTime(), nullable=False),
    sa.CheckConstraint('amount_fen > 0', name=op.f('ck_instruction_amount_positive')),
    sa.ForeignKeyConstraint(['payout_id'], ['payout.id'], name=op.f('fk_instruction_payout_id_payout')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_instruction')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_instruction_idempotency_key'))
    )
    with op.batch_alter_table('instruction', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_instruction_payee_account_index'), ['payee_account_index'], unique=False)
        batch_op.create_index(batch_op.f('ix_instruction_payout_id'), ['payout_id'], unique=False)
        batch_op.create_index('ix_instruction_work', ['status', 'due_on'], unique=False)
        batch_op.create_index('uq_instruction_live', ['payout_id', 'instalment'], unique=True, postgresql_where=sa.text("status NOT IN ('rejected', 'cancelled')"), sqlite_where=sa.text("status NOT IN ('rejected', 'cancelled')"))

    op.create_table('notification',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('payout_id', sa.String(length=36), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('notified_at', aidflow_shared.storage.UTCDateTime(), nullable=False),
    sa.Column('note', sa.String(length=200), nullable=True),
    sa.Column('recorded_by', sa.String(length=100), nullable=False),
    sa.Column('recorded_at', aidflow_shared.storage.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['payout_id'], ['payout.id'], name=op.f('fk_notification_payout_id_payout')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notification'))
    )
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notification_payout_id'), ['payout_id'], unique=False)

    op.create_table('recovery',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('payout_id', sa.String(length=36), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('reason', sa.String(length=32), nullable=False),
    sa.Column('reference', sa.String(length=100), nullable=True),
    sa.Column('recovered_on', sa.Date(), nullable=False),
    sa.Column('recorded_by', sa.String(length=100), nullable=False),
    sa.Column('recorded_at', aidflow_shared.storage.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['payout_id'], ['payout.id'], name=op.f('fk_recovery_payout_id_payout')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recovery'))
    )
    with op.batch_alter_table('recovery', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recovery_payout_id'), ['payout_id'], unique=False)

    op.create_table('bank_answer',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('instruction_id', sa.String(length=36), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('bank_reference', sa.String(length=64), nullable=True),
    sa.Column('reason', sa.String(length=64), nullable=True),
    sa.Column('via', sa.String(length=16), nullable=False),
    sa.Column('applied', sa.Boolean(), nullable=False),
    sa.Column('received_at', aidflow_shared.storage.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['instruction_id'], ['instruction.id'], name=op.f('fk_bank_answer_instruction_id_instruction')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bank_answer'))
    )
    with op.batch_alter_table('bank_answer', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bank_answer_instruction_id'), ['instruction_id'], unique=False)

    _carry_over_the_ledger()
    with op.batch_alter_table('ledger_entry', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ledger_entry_fund_id'))
    op.drop_table('ledger_entry')

    if sqlite:
        for statement in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER ledger_line_no_{statement.lower()} BEFORE {statement} ON ledger_line "
                       f"BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END")
    else:
        op.execute("CREATE FUNCTION ledger_line_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
                   "BEGIN RAISE EXCEPTION 'the ledger is append-only'; END $$")
        op.execute("CREATE TRIGGER ledger_line_append_only BEFORE UPDATE OR DELETE ON ledger_line "
                   "FOR EACH ROW EXECUTE FUNCTION ledger_line_append_only()")


FUND_CHECKS = (
    ('available_not_negative', 'available_fen >= 0'),
    ('reserved_not_negative', 'reserved_fen >= 0'),
    ('paid_not_negative', 'paid_fen >= 0'),
    ('recovered_not_negative', 'recovered_fen >= 0'),
    ('balanced', 'allocated_fen = available_fen + reserved_fen + paid_fen + recovered_fen'),
)
PAYOUT_CHECKS = (
    ('not_overpaid', 'paid_fen <= amount_fen'),
    ('recovered_within_paid', 'recovered_fen <= paid_fen'),
)
LEDGER_ENTRY = sa.table('ledger_entry', sa.column('id'), sa.column('fund_id'), sa.column('kind'),
                        sa.column('amount_fen'), sa.column('payout_id'), sa.column('reference'),
                        sa.column('at', aidflow_shared.storage.UTCDateTime()))
LEDGER_LINE = sa.table('ledger_line', sa.column('fund_id'), sa.column('kind'), sa.column('debit'), sa.column('credit'),
                       sa.column('amount_fen'), sa.column('payout_id'), sa.column('case_id'), sa.column('reference'),
                       sa.column('actor'), sa.column('at', aidflow_shared.storage.UTCDateTime()))
PAYOUT = sa.table('payout', sa.column('id'), sa.column('case_id'))


def _carry_over_the_ledger() -> None:
    """Old allocations stay allocations; an old disbursement (straight from available to paid)
    becomes a reservation and a disbursement, as money moves now."""
    bind = op.get_bind()
    rows = bind.execute(sa.select(LEDGER_ENTRY, PAYOUT.c.case_id)
                        .select_from(LEDGER_ENTRY.outerjoin(PAYOUT, PAYOUT.c.id == LEDGER_ENTRY.c.payout_id))
                        .order_by(LEDGER_ENTRY.c.at, LEDGER_ENTRY.c.id)).mappings().all()
    lines = []
    for row in rows:
        common = dict(fund_id=row["fund_id"], amount_fen=row["amount_fen"], payout_id=row["payout_id"],
                      case_id=row["case_id"], reference=row["reference"], actor="migration 0003", at=row["at"])
        if row["kind"] == "allocation":
            lines.append(dict(common, kind="allocation", debit="available", credit="allocations"))
        else:
            lines.append(dict(common, kind="reservation", debit="reserved", credit="available"))
            lines.append(dict(common, kind="disbursement", debit="paid", credit="reserved"))
    if lines:
        bind.execute(LEDGER_LINE.insert(), lines)


def downgrade() -> None:
    """Downgrade schema. Reservations, voids and recoveries have no place in the old ledger: they
    are lost, and a fund's paid balance is what it was."""
    if op.get_bind().dialect.name == "sqlite":
        op.execute("PRAGMA defer_foreign_keys = ON")
        op.execute("DROP TRIGGER ledger_line_no_update")
        op.execute("DROP TRIGGER ledger_line_no_delete")
    else:
        op.execute("DROP TRIGGER ledger_line_append_only ON ledger_line")
        op.execute("DROP FUNCTION ledger_line_append_only()")
    op.create_table('ledger_entry',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('fund_id', sa.String(length=36), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('payout_id', sa.String(length=36), nullable=True),
    sa.Column('reference', sa.String(length=100), nullable=True),
    sa.Column('at', aidflow_shared.storage.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['fund_id'], ['fund.id'], name=op.f('fk_ledger_entry_fund_id_fund')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_entry'))
    )
    with op.batch_alter_table('ledger_entry', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ledger_entry_fund_id'), ['fund_id'], unique=False)
    op.execute("INSERT INTO ledger_entry (id, fund_id, kind, amount_fen, payout_id, reference, at) "
               "SELECT 'line-' || CAST(id AS VARCHAR(20)), fund_id, kind, amount_fen, payout_id, reference, at "
               "FROM ledger_line WHERE kind IN ('allocation', 'disbursement')")
    with op.batch_alter_table('bank_answer', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_bank_answer_instruction_id'))

    op.drop_table('bank_answer')
    with op.batch_alter_table('recovery', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recovery_payout_id'))

    op.drop_table('recovery')
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notification_payout_id'))

    op.drop_table('notification')
    with op.batch_alter_table('instruction', schema=None) as batch_op:
        batch_op.drop_index('uq_instruction_live', postgresql_where=sa.text("status NOT IN ('rejected', 'cancelled')"), sqlite_where=sa.text("status NOT IN ('rejected', 'cancelled')"))
        batch_op.drop_index('ix_instruction_work')
        batch_op.drop_index(batch_op.f('ix_instruction_payout_id'))
        batch_op.drop_index(batch_op.f('ix_instruction_payee_account_index'))

    op.drop_table('instruction')
    with op.batch_alter_table('ledger_line', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ledger_line_payout_id'))
        batch_op.drop_index('ix_ledger_line_fund')
        batch_op.drop_index(batch_op.f('ix_ledger_line_at'))

    op.drop_table('ledger_line')
    op.drop_table('idempotent_request')
    with op.batch_alter_table('fund_request', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_fund_request_status'))

    op.drop_table('fund_request')
    with op.batch_alter_table('decision', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_decision_case_id'))

    op.drop_table('decision')
    with op.batch_alter_table('activity', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_activity_case_id'))

    op.drop_table('activity')

    with op.batch_alter_table('payout', schema=None) as batch_op:
        for name, _ in PAYOUT_CHECKS:
            batch_op.drop_constraint(op.f(f'ck_payout_{name}'), type_='check')
        for column in ('paperwork_completed_at', 'failure', 'cancel_reason', 'cancelled_at', 'completed_at',
                       'reserved_at', 'recovered_fen', 'paid_fen', 'kind'):
            batch_op.drop_column(column)
    with op.batch_alter_table('fund', schema=None) as batch_op:
        for name, _ in FUND_CHECKS:
            batch_op.drop_constraint(op.f(f'ck_fund_{name}'), type_='check')
        for column in ('recovered_fen', 'reserved_fen', 'available_fen'):
            batch_op.drop_column(column)
