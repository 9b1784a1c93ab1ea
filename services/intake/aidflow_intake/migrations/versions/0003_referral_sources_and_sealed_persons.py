"""every referral source, documents, acceptance, sealed personal data

Persons' names, ID numbers and phone numbers move into sealed columns with a blind index (rows
already stored are sealed here, with the deployment's key); cases get their provenance,
received/accepted dates and the one-open-case claims; leads, documents, the partner agency
registry (seeded with the agency codes of the design) and partner transfers are new. Cases
registered before this revision went straight into review, so they count as accepted.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 09:38:57.261236

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

import aidflow_shared.storage

# The agency codes of the design, each publishing as the broker user of the same name.
AGENCIES = (
    ("procuratorate", "人民检察院"),
    ("poverty-bureau", "扶贫和移民工作局"),
    ("civil-affairs", "民政局"),
    ("youth-league", "共青团委员会"),
    ("womens-federation", "妇女联合会"),
    ("psych-center", "心理咨询中心"),
    ("legal-aid", "法律援助中心"),
    ("village-committee", "村（居）民委员会"),
    ("finance-bureau", "财政局"),
)


# revision identifiers, used by Alembic.
revision: str = '0003'
down_revision: Union[str, Sequence[str], None] = '0002'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('lead',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('channel', sa.String(length=32), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('location', sa.String(length=200), nullable=True),
    sa.Column('reference', sa.String(length=200), nullable=True),
    sa.Column('criminal_case_ref', sa.String(length=64), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('received_at', aidflow_shared.storage.UTCDateTime(), nullable=False),
    sa.Column('reported_by', sa.String(length=100), nullable=False),
    sa.Column('decided_by', sa.String(length=100), nullable=True),
    sa.Column('decided_at', aidflow_shared.storage.UTCDateTime(), nullable=True),
    sa.Column('verification_note', sa.String(length=1000), nullable=True),
    sa.Column('dismissal_reason', sa.String(length=500), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lead'))
    )
    with op.batch_alter_table('lead', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lead_status'), ['status'], unique=False)

    op.create_table('partner_agency',
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('broker_user', sa.String(length=64), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_partner_agency')),
    sa.UniqueConstraint('broker_user', name=op.f('uq_partner_agency_broker_user'))
    )
    op.bulk_insert(sa.table('partner_agency', sa.column('code'), sa.column('name'), sa.column('broker_user'),
                            sa.column('active', sa.Boolean())),
                   [dict(code=code, name=name, broker_user=code, active=True) for code, name in AGENCIES])
    op.create_table('case_claim',
    sa.Column('person_id', sa.String(length=36), nullable=False),
    sa.Column('criminal_case_ref', sa.String(length=64), nullable=False),
    sa.Column('case_id', sa.String(length=36), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['aid_case.id'], name=op.f('fk_case_claim_case_id_aid_case')),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_case_claim_person_id_person')),
    sa.PrimaryKeyConstraint('person_id', 'criminal_case_ref', name=op.f('pk_case_claim'))
    )
    with op.batch_alter_table('case_claim', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_claim_case_id'), ['case_id'], unique=False)

    op.create_table('partner_transfer',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('agency', sa.String(length=64), nullable=False),
    sa.Column('partner_reference', sa.String(length=64), nullable=True),
    sa.Column('channel', sa.String(length=8), nullable=False),
    sa.Column('message_id', sa.String(length=255), nullable=True),
    sa.Column('sent_at', aidflow_shared.storage.UTCDateTime(), nullable=True),
    sa.Column('received_at', aidflow_shared.storage.UTCDateTime(), nullable=False),
    sa.Column('answered_at', aidflow_shared.storage.UTCDateTime(), nullable=True),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=64), nullable=True),
    sa.Column('errors', sa.JSON(), nullable=True),
    sa.Column('case_id', sa.String(length=36), nullable=True),
    sa.ForeignKeyConstraint(['agency'], ['partner_agency.code'], name=op.f('fk_partner_transfer_agency_partner_agency')),
    sa.ForeignKeyConstraint(['case_id'], ['aid_case.id'], name=op.f('fk_partner_transfer_case_id_aid_case')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_partner_transfer'))
    )
    with op.batch_alter_table('partner_transfer', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_partner_transfer_case_id'), ['case_id'], unique=False)
        batch_op.create_index('uq_partner_transfer_accepted_reference', ['agency', 'partner_reference'], unique=True, postgresql_where=sa.text("outcome = 'accepted'"), sqlite_where=sa.text("outcome = 'accepted'"))

    op.create_table('case_document',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('case_id', sa.String(length=36), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('beneficiary_id', sa.String(length=36), nullable=True),
    sa.Column('reference', sa.String(length=100), nullable=True),
    sa.Column('note', sa.String(length=500), nullable=True),
    sa.Column('received_at', aidflow_shared.storage.UTCDateTime(), nullable=False),
    sa.Column('recorded_by', sa.String(length=100), nullable=False),
    sa.ForeignKeyConstraint(['beneficiary_id'], ['beneficiary.id'], name=op.f('fk_case_document_beneficiary_id_beneficiary')),
    sa.ForeignKeyConstraint(['case_id'], ['aid_case.id'], name=op.f('fk_case_document_case_id_aid_case')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_document'))
    )
    with op.batch_alter_table('case_document', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_document_case_id'), ['case_id'], unique=False)

    with op.batch_alter_table('aid_case', schema=None) as batch_op:
        batch_op.add_column(sa.Column('partner_reference', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('lead_id', sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column('rereferred_from_id', sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column('application_form', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('applicant', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('agent_kind', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('agent_person_id', sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column('recorded_by', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('eligibility_situation', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('situation_reason', sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column('victim_deceased', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('registered_by', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('received_at', aidflow_shared.storage.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('accepted_at', aidflow_shared.storage.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('accepted_by', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('acceptance_override_reason', sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column('migrated', sa.Boolean(), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_aid_case_lead_id'), ['lead_id'])
        batch_op.create_foreign_key(batch_op.f('fk_aid_case_agent_person_id_person'), 'person', ['agent_person_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_aid_case_lead_id_lead'), 'lead', ['lead_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_aid_case_rereferred_from_id_aid_case'), 'aid_case',
                                    ['rereferred_from_id'], ['id'])

    _fill_cases()
    with op.batch_alter_table('aid_case', schema=None) as batch_op:
        for name in ('victim_deceased', 'registered_by', 'received_at', 'migrated'):
            batch_op.alter_column(name, nullable=False)

    with op.batch_alter_table('beneficiary', schema=None) as batch_op:
        for name in ('registered_poor_household', 'impoverished_by_case', 'returned_to_poverty_by_case',
                     'urgent_medical_need'):
            batch_op.add_column(sa.Column(name, sa.Boolean(), nullable=False, server_default=sa.false()))

    with op.batch_alter_table('person', schema=None) as batch_op:
        batch_op.add_column(sa.Column('name_sealed', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('id_number_sealed', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('id_index', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('phone_sealed', sa.Text(), nullable=True))
        batch_op.drop_constraint(batch_op.f('uq_person_id_type'), type_='unique')

    _seal_persons()
    with op.batch_alter_table('person', schema=None) as batch_op:
        for name in ('name_sealed', 'id_number_sealed', 'id_index'):
            batch_op.alter_column(name, nullable=False)
        batch_op.create_unique_constraint(batch_op.f('uq_person_id_index'), ['id_index'])
        batch_op.drop_column('phone')
        batch_op.drop_column('id_number')
        batch_op.drop_column('name')

    _claim_open_cases()


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('person', schema=None) as batch_op:
        batch_op.add_column(sa.Column('name', sa.VARCHAR(length=100), nullable=True))
        batch_op.add_column(sa.Column('id_number', sa.VARCHAR(length=64), nullable=True))
        batch_op.add_column(sa.Column('phone', sa.VARCHAR(length=32), nullable=True))
        batch_op.drop_constraint(batch_op.f('uq_person_id_index'), type_='unique')

    _open_persons()
    with op.batch_alter_table('person', schema=None) as batch_op:
        batch_op.alter_column('name', nullable=False)
        batch_op.alter_column('id_number', nullable=False)
        batch_op.create_unique_constraint(batch_op.f('uq_person_id_type'), ['id_type', 'id_number'])
        batch_op.drop_column('phone_sealed')
        batch_op.drop_column('id_index')
        batch_op.drop_column('id_number_sealed')
        batch_op.drop_column('name_sealed')

    with op.batch_alter_table('beneficiary', schema=None) as batch_op:
        batch_op.drop_column('urgent_medical_need')
        batch_op.drop_column('returned_to_poverty_by_case')
        batch_op.drop_column('impoverished_by_case')
        batch_op.drop_column('registered_poor_household')

    op.execute(sa.text("UPDATE aid_case SET status = 'open' WHERE status IN ('registered', 'accepted')"))
    with op.batch_alter_table('aid_case', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_aid_case_rereferred_from_id_aid_case'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_aid_case_lead_id_lead'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_aid_case_agent_person_id_person'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('uq_aid_case_lead_id'), type_='unique')
        batch_op.drop_column('migrated')
        batch_op.drop_column('acceptance_override_reason')
        batch_op.drop_column('accepted_by')
        batch_op.drop_column('accepted_at')
        batch_op.drop_column('received_at')
        batch_op.drop_column('registered_by')
        batch_op.drop_column('victim_deceased')
        batch_op.drop_column('situation_reason')
        batch_op.drop_column('eligibility_situation')
        batch_op.drop_column('recorded_by')
        batch_op.drop_column('agent_person_id')
        batch_op.drop_column('agent_kind')
        batch_op.drop_column('applicant')
        batch_op.drop_column('application_form')
        batch_op.drop_column('lead_id')
        batch_op.drop_column('rereferred_from_id')
        batch_op.drop_column('partner_reference')

    with op.batch_alter_table('case_document', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_document_case_id'))

    op.drop_table('case_document')
    with op.batch_alter_table('partner_transfer', schema=None) as batch_op:
        batch_op.drop_index('uq_partner_transfer_accepted_reference', postgresql_where=sa.text("outcome = 'accepted'"), sqlite_where=sa.text("outcome = 'accepted'"))
        batch_op.drop_index(batch_op.f('ix_partner_transfer_case_id'))

    op.drop_table('partner_transfer')
    with op.batch_alter_table('case_claim', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_claim_case_id'))

    op.drop_table('case_claim')
    op.drop_table('partner_agency')
    with op.batch_alter_table('lead', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lead_status'))

    op.drop_table('lead')


def _fill_cases() -> None:
    op.execute(sa.text("UPDATE aid_case SET received_at = opened_at, registered_by = 'system', "
                       "victim_deceased = false, migrated = false"))
    op.execute(sa.text("UPDATE aid_case SET status = 'accepted', accepted_at = opened_at, accepted_by = 'system' "
                       "WHERE status = 'open'"))


def _vault():
    from aidflow_intake.pii import PURPOSE, master_key_for
    from aidflow_shared.vault import Vault
    return Vault(master_key_for(op.get_bind().engine.url), purpose=PURPOSE)


def _seal_persons() -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, name, id_type, id_number, phone FROM person")).all()
    if not rows:
        return  # a new database: no key needed to migrate it
    from aidflow_intake.pii import id_index
    vault = _vault()
    for row in rows:
        bind.execute(sa.text("UPDATE person SET name_sealed = :name, id_number_sealed = :number, id_index = :index, "
                             "phone_sealed = :phone WHERE id = :id"),
                     dict(id=row.id, name=vault.seal(row.name, field="name"),
                          number=vault.seal(row.id_number, field="id_number"),
                          index=id_index(vault, row.id_type, row.id_number),
                          phone=vault.seal(row.phone, field="phone")))


def _open_persons() -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, name_sealed, id_number_sealed, phone_sealed FROM person")).all()
    if not rows:
        return
    vault = _vault()
    for row in rows:
        bind.execute(sa.text("UPDATE person SET name = :name, id_number = :number, phone = :phone WHERE id = :id"),
                     dict(id=row.id, name=vault.open(row.name_sealed, field="name"),
                          number=vault.open(row.id_number_sealed, field="id_number"),
                          phone=vault.open(row.phone_sealed, field="phone")))


def _claim_open_cases() -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.text(
        "SELECT b.person_id, c.criminal_case_ref, c.id FROM beneficiary b JOIN aid_case c ON c.id = b.case_id "
        "WHERE c.criminal_case_ref IS NOT NULL AND c.status <> 'rejected' ORDER BY c.opened_at")).all()
    claims = {}
    for person_id, ref, case_id in rows:
        claims.setdefault((person_id, ref), case_id)
    if claims:
        op.bulk_insert(sa.table('case_claim', sa.column('person_id'), sa.column('criminal_case_ref'),
                                sa.column('case_id')),
                       [dict(person_id=p, criminal_case_ref=r, case_id=c) for (p, r), c in claims.items()])
