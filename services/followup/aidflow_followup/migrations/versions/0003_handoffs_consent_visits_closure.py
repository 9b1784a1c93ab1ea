"""hand-offs, consent, visits, closure and re-referral

Follow-up learns each case's facts (``case_file``, ``known_beneficiary``); plans get their needs
and assessments, consents and sealed contact details, hand-offs to partner agencies and every
answer to them, return visits, escalations, closures and re-referrals. Plans may now open at the
approval of an advance payment, before any payout. Follow-up's registry of partner agencies is
seeded with the agencies that provide assistance, each answering as the broker user of the same
name; the village committee is served by staff, without a broker connection.

Existing plans keep working: each gets the case file of its case (facts not known yet).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 10:32:19.994800

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

import aidflow_shared.storage

# The agencies that provide assistance (see aidflow_followup.needs.PROVIDERS), and how each is reached.
AGENCIES = (
    ("civil-affairs", "民政局", "broker"),
    ("poverty-bureau", "扶贫和移民工作局", "broker"),
    ("youth-league", "共青团委员会", "broker"),
    ("womens-federation", "妇女联合会", "broker"),
    ("psych-center", "心理咨询中心", "broker"),
    ("legal-aid", "法律援助中心", "broker"),
    ("village-committee", "村（居）民委员会", "staff"),
)

# revision identifiers, used by Alembic.
revision: str = '0003'
down_revision: Union[str, Sequence[str], None] = '0002'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('case_file',
    sa.Column('case_id', sa.String(length=36), nullable=False),
    sa.Column('case_number', sa.String(length=32), nullable=True),
    sa.Column('criminal_case_ref', sa.String(length=64), nullable=True),
    sa.Column('track', sa.String(length=16), nullable=False),
    sa.Column('eligibility_situation', sa.String(length=32), nullable=True),
    sa.Column('victim_deceased', sa.Boolean(), nullable=False),
    sa.Column('facts_known', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', aidflow_shared.storage.UTCDateTime(), nullable=False),
    sa.Column('updated_at', aidflow_shared.storage.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('case_id', name=op.f('pk_case_file'))
    )
    with op.batch_alter_table('case_file', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_file_status'), ['status'], unique=False)

    op.create_table('contact_access',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('handoff_id', sa.String(length=64), nullable=False),
    sa.Column('plan_id', sa.String(length=36), nullable=True),
    sa.Column('agency', sa.String(length=64), nullable=True),
    sa.Column('subject', sa.String(length=100), nullable=False),
    sa.Column('role', sa.String(length=32), nullable=False),
    sa.Column('granted', sa.Boolean(), nullable=False),
    sa.Column('reason', sa.String(length=64), nullable=True),
    sa.Column('at', aidflow_shared.storage.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contact_access'))
    )
    with op.batch_alter_table('contact_access', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_contact_access_handoff_id'), ['handoff_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_contact_access_plan_id'), ['plan_id'], unique=False)

    op.create_table('handoff_answer',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('handoff_id', sa.String(length=64), nullable=True),
    sa.Column('agency', sa.String(length=64), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=True),
    sa.Column('channel', sa.String(length=8), nullable=False),
    sa.Column('message_id', sa.String(length=255), nullable=True),
    sa.Column('stated_at', aidflow_shared.storage.UTCDateTime(), nullable=True),
    sa.Column('received_at', aidflow_shared.storage.UTCDateTime(), nullable=False),
    sa.Column('result', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=64), nullable=True),
    sa.Column('errors', sa.JSON(), nullable=True),
    sa.Column('recorded_by', sa.String(length=100), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_handoff_answer'))
    )
    with op.batch_alter_table('handoff_answer', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_handoff_answer_handoff_id'), ['handoff_id'], unique=False)

    op.create_table('partner_agency',
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('broker_user', sa.String(length=64), nullable=True),
    sa.Column('channel', sa.String(length=8), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_partner_agency')),
    sa.UniqueConstraint('broker_user', name=op.f('uq_partner_agency_broker_user'))
    )
    op.bulk_insert(sa.table('partner_agency', sa.column('code'), sa.column('name'), sa.column('broker_user'),
                            sa.column('channel'), sa.column('active', sa.Boolean())),
                   [dict(code=code, name=name, broker_user=code, channel=channel, active=True)
                    for code, name, channel in AGENCIES])
    op.create_table('closure',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('case_id', sa.String(length=36), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=32), nullable=False),
    sa.Column('note', sa.String(length=1000), nullable=True),
    sa.Column('by', sa.String(length=100), nullable=False),
    sa.Column('at', aidflow_shared.storage.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['case_file.case_id'], name=op.f('fk_closure_case_id_case_file')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_closure'))
    )
    with op.batch_alter_table('closure', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_closure_case_id'), ['case_id'], unique=False)

    op.create_table('known_beneficiary',
    sa.Column('beneficiary_id', sa.String(length=64), nullable=False),
    sa.Column('case_id', sa.String(length=36), nullable=False),
    sa.Column('person_ref', sa.String(length=64), nullable=False),
    sa.Column('is_minor', sa.Boolean(), nullable=False),
    sa.Column('relationship_to_victim', sa.String(length=32), nullable=True),
    sa.Column('poverty_markers', sa.JSON(), nullable=False),
    sa.Column('urgent_medical_need', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['case_file.case_id'], name=op.f('fk_known_beneficiary_case_id_case_file')),
    sa.PrimaryKeyConstraint('beneficiary_id', name=op.f('pk_known_beneficiary'))
    )
    with op.batch_alter_table('known_beneficiary', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_known_beneficiary_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_known_beneficiary_person_ref'), ['person_ref'], unique=False)

    op.create_table('assessment',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('plan_id', sa.String(length=36), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('assessed_by', sa.String(length=100), nullable=False),
    sa.Column('assessed_at', aidflow_shared.storage.UTCDateTime(), nullable=False),
    sa.Column('returned_to_hardship', sa.Boolean(), nullable=False),
    sa.Column('psychological_state', sa.String(length=16), nullable=True),
    sa.Column('needs', sa.JSON(), nullable=False),
    sa.Column('note', sa.String(length=1000), nullable=True),
    sa.ForeignKeyConstraint(['plan_id'], ['plan.id'], name=op.f('fk_assessment_plan_id_plan')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_assessment'))
    )
    with op.batch_alter_table('assessment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_assessment_plan_id'), ['plan_id'], unique=False)

    op.create_table('consent',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('plan_id', sa.String(length=36), nullable=False),
    sa.Column('agency', sa.String(length=64), nullable=False),
    sa.Column('categories', sa.JSON(), nullable=False),
    sa.Column('given_by', sa.String(length=16), nullable=False),
    sa.Column('given_at', aidflow_shared.storage.UTCDateTime(), nullable=False),
    sa.Column('recorded_by', sa.String(length=100), nullable=False),
    sa.Column('recorded_at', aidflow_shared.storage.UTCDateTime(), nullable=False),
    sa.Column('withdrawn_at', aidflow_shared.storage.UTCDateTime(), nullable=True),
    sa.Column('withdrawal_reason', sa.String(length=500), nullable=True),
    sa.ForeignKeyConstraint(['agency'], ['partner_agency.code'], name=op.f('fk_consent_agency_partner_agency')),
    sa.ForeignKeyConstraint(['plan_id'], ['plan.id'], name=op.f('fk_consent_plan_id_plan')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consent'))
    )
    with op.batch_alter_table('consent', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consent_plan_id'), ['plan_id'], unique=False)

    op.create_table('contact',
    sa.Column('plan_id', sa.String(length=36), nullable=False),
    sa.Column('name_sealed', sa.Text(), nullable=False),
    sa.Column('phone_sealed', sa.Text(), nullable=True),
    sa.Column('address_sealed', sa.Text(), nullable=True),
    sa.Column('guardian_name_sealed', sa.Text(), nullable=True),
    sa.Column('guardian_phone_sealed', sa.Text(), nullable=True),
    sa.Column('recorded_by', sa.String(length=100), nullable=False),
    sa.Column('recorded_at', aidflow_shared.storage.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['plan_id'], ['plan.id'], name=op.f('fk_contact_plan_id_plan')),
    sa.PrimaryKeyConstraint('plan_id', name=op.f('pk_contact'))
    )
    op.create_table('escalation',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('stage', sa.String(length=16), nullable=False),
    sa.Column('subject_id', sa.String(length=64), nullable=False),
    sa.Column('plan_id', sa.String(length=36), nullable=False),
    sa.Column('agency', sa.String(length=64), nullable=True),
    sa.Column('due_at', aidflow_shared.storage.UTCDateTime(), nullable=False),
    sa.Column('escalated_at', aidflow_shared.storage.UTCDateTime(), nullable=False),
    sa.Column('resolved_at', aidflow_shared.storage.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['plan_id'], ['plan.id'], name=op.f('fk_escalation_plan_id_plan')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_escalation')),
    sa.UniqueConstraint('stage', 'subject_id', name=op.f('uq_escalation_stage'))
    )
    with op.batch_alter_table('escalation', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_escalation_plan_id'), ['plan_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_escalation_resolved_at'), ['resolved_at'], unique=False)

    op.create_table('handoff',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('plan_id', sa.String(length=36), nullable=False),
    sa.Column('service', sa.String(length=32), nullable=False),
    sa.Column('agency', sa.String(length=64), nullable=False),
    sa.Column('channel', sa.String(length=8), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('shared_categories', sa.JSON(), nullable=False),
    sa.Column('note', sa.String(length=500), nullable=True),
    sa.Column('requested_by', sa.String(length=100), nullable=False),
    sa.Column('requested_at', aidflow_shared.storage.UTCDateTime(), nullable=False),
    sa.Column('acknowledge_by', aidflow_shared.storage.UTCDateTime(), nullable=False),
    sa.Column('acknowledged_at', aidflow_shared.storage.UTCDateTime(), nullable=True),
    sa.Column('updated_at', aidflow_shared.storage.UTCDateTime(), nullable=False),
    sa.Column('reason', sa.String(length=64), nullable=True),
    sa.Column('outcome', sa.JSON(), nullable=True),
    sa.Column('escalated_at', aidflow_shared.storage.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['agency'], ['partner_agency.code'], name=op.f('fk_handoff_agency_partner_agency')),
    sa.ForeignKeyConstraint(['plan_id'], ['plan.id'], name=op.f('fk_handoff_plan_id_plan')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_handoff'))
    )
    with op.batch_alter_table('handoff', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_handoff_agency'), ['agency'], unique=False)
        batch_op.create_index(batch_op.f('ix_handoff_plan_id'), ['plan_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_handoff_status'), ['status'], unique=False)

    op.create_table('need',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('plan_id', sa.String(length=36), nullable=False),
    sa.Column('service', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=24), nullable=False),
    sa.Column('reason', sa.String(length=32), nullable=True),
    sa.Column('note', sa.String(length=1000), nullable=True),
    sa.Column('updated_at', aidflow_shared.storage.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['plan_id'], ['plan.id'], name=op.f('fk_need_plan_id_plan')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_need')),
    sa.UniqueConstraint('plan_id', 'service', name=op.f('uq_need_plan_id'))
    )
    with op.batch_alter_table('need', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_need_plan_id'), ['plan_id'], unique=False)

    op.create_table('rereferral',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('plan_id', sa.String(length=36), nullable=False),
    sa.Column('from_case_id', sa.String(length=36), nullable=False),
    sa.Column('criminal_case_ref', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('requested_by', sa.String(length=100), nullable=False),
    sa.Column('requested_at', aidflow_shared.storage.UTCDateTime(), nullable=False),
    sa.Column('answered_at', aidflow_shared.storage.UTCDateTime(), nullable=True),
    sa.Column('reason', sa.String(length=64), nullable=True),
    sa.Column('new_case_id', sa.String(length=36), nullable=True),
    sa.Column('new_case_number', sa.String(length=32), nullable=True),
    sa.ForeignKeyConstraint(['plan_id'], ['plan.id'], name=op.f('fk_rereferral_plan_id_plan')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rereferral'))
    )
    with op.batch_alter_table('rereferral', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rereferral_plan_id'), ['plan_id'], unique=False)

    op.create_table('visit',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('plan_id', sa.String(length=36), nullable=False),
    sa.Column('months_after', sa.Integer(), nullable=True),
    sa.Column('due_on', sa.Date(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('visited_at', aidflow_shared.storage.UTCDateTime(), nullable=True),
    sa.Column('method', sa.String(length=16), nullable=True),
    sa.Column('living_situation', sa.String(length=16), nullable=True),
    sa.Column('psychological_state', sa.String(length=16), nullable=True),
    sa.Column('services_received', sa.JSON(), nullable=True),
    sa.Column('satisfaction', sa.Integer(), nullable=True),
    sa.Column('aware_of_aid', sa.Boolean(), nullable=True),
    sa.Column('returned_to_hardship', sa.Boolean(), nullable=True),
    sa.Column('note', sa.String(length=1000), nullable=True),
    sa.Column('recorded_by', sa.String(length=100), nullable=True),
    sa.Column('recorded_at', aidflow_shared.storage.UTCDateTime(), nullable=True),
    sa.Column('cancel_reason', sa.String(length=500), nullable=True),
    sa.ForeignKeyConstraint(['plan_id'], ['plan.id'], name=op.f('fk_visit_plan_id_plan')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_visit'))
    )
    with op.batch_alter_table('visit', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_visit_due_on'), ['due_on'], unique=False)
        batch_op.create_index(batch_op.f('ix_visit_plan_id'), ['plan_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_visit_status'), ['status'], unique=False)

    # Every plan so far opened on a payout, for a case follow-up has no facts of yet.
    op.get_bind().execute(sa.text(
        "INSERT INTO case_file (case_id, track, victim_deceased, facts_known, status, created_at, updated_at) "
        "SELECT case_id, 'standard', :no, :no, 'open', MIN(opened_at), MIN(opened_at) FROM plan GROUP BY case_id"),
        {"no": False})
    with op.batch_alter_table('plan', schema=None) as batch_op:
        batch_op.add_column(sa.Column('decision_id', sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column('opened_on', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('closed_at', aidflow_shared.storage.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('assessed_at', aidflow_shared.storage.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('next_assessment_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('psychological_state', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('relapsed_at', aidflow_shared.storage.UTCDateTime(), nullable=True))
        batch_op.alter_column('payout_id',
               existing_type=sa.VARCHAR(length=36),
               nullable=True)
        batch_op.create_index(batch_op.f('ix_plan_next_assessment_on'), ['next_assessment_on'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_plan_case_id_case_file'), 'case_file', ['case_id'], ['case_id'])
    op.execute("UPDATE plan SET opened_on = 'payout'")
    with op.batch_alter_table('plan', schema=None) as batch_op:
        batch_op.alter_column('opened_on', existing_type=sa.String(length=16), nullable=False)


def downgrade() -> None:
    """Downgrade schema."""
    # Plans opened on an advance have no payout yet; the old schema demands one.
    op.execute("UPDATE plan SET payout_id = '' WHERE payout_id IS NULL")
    with op.batch_alter_table('plan', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_plan_case_id_case_file'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_plan_next_assessment_on'))
        batch_op.alter_column('payout_id',
               existing_type=sa.VARCHAR(length=36),
               nullable=False)
        batch_op.drop_column('relapsed_at')
        batch_op.drop_column('psychological_state')
        batch_op.drop_column('next_assessment_on')
        batch_op.drop_column('assessed_at')
        batch_op.drop_column('closed_at')
        batch_op.drop_column('opened_on')
        batch_op.drop_column('decision_id')

    with op.batch_alter_table('visit', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_visit_status'))
        batch_op.drop_index(batch_op.f('ix_visit_plan_id'))
        batch_op.drop_index(batch_op.f('ix_visit_due_on'))

    op.drop_table('visit')
    with op.batch_alter_table('rereferral', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rereferral_plan_id'))

    op.drop_table('rereferral')
    with op.batch_alter_table('need', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_need_plan_id'))

    op.drop_table('need')
    with op.batch_alter_table('handoff', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_handoff_status'))
        batch_op.drop_index(batch_op.f('ix_handoff_plan_id'))
        batch_op.drop_index(batch_op.f('ix_handoff_agency'))

    op.drop_table('handoff')
    with op.batch_alter_table('escalation', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_escalation_resolved_at'))
        batch_op.drop_index(batch_op.f('ix_escalation_plan_id'))

    op.drop_table('escalation')
    op.drop_table('contact')
    with op.batch_alter_table('consent', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_consent_plan_id'))

    op.drop_table('consent')
    with op.batch_alter_table('assessment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_assessment_plan_id'))

    op.drop_table('assessment')
    with op.batch_alter_table('known_beneficiary', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_known_beneficiary_person_ref'))
        batch_op.drop_index(batch_op.f('ix_known_beneficiary_case_id'))

    op.drop_table('known_beneficiary')
    with op.batch_alter_table('closure', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_closure_case_id'))

    op.drop_table('closure')
    op.drop_table('partner_agency')
    with op.batch_alter_table('handoff_answer', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_handoff_answer_handoff_id'))

    op.drop_table('handoff_answer')
    with op.batch_alter_table('contact_access', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_contact_access_plan_id'))
        batch_op.drop_index(batch_op.f('ix_contact_access_handoff_id'))

    op.drop_table('contact_access')
    with op.batch_alter_table('case_file', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_file_status'))

    op.drop_table('case_file')
