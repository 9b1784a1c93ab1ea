"""Intake's published figures for a period: cases opened and accepted (受理), the distinct persons
they aid, where they came from (the ex officio share), minors, partners' transfers and the
transfer-stage deadline.

Served at ``GET /api/v1/reports/summary``; aggregates only (see :mod:`aidflow_shared.reporting`).
"""
from __future__ import annotations

from marshmallow import fields
from sqlalchemy import distinct, func, select

from aidflow_intake.orm import Beneficiary, Case, PartnerTransfer
from aidflow_shared.contracts.common import SOURCES
from aidflow_shared.reporting import Period, SummaryOut, counts, share, summary_blueprint

TRANSFER_OUTCOMES = ("accepted", "repeated", "rejected")


class IntakeSummaryOut(SummaryOut):
    cases = fields.Dict(keys=fields.String(), values=fields.Integer(),
                        metadata={"description": "opened (registered) and accepted (受理) in the period; of the "
                                                 "accepted: urgent_medical, rereferred, migrated (from paper)"})
    persons = fields.Integer(metadata={"description": "distinct persons aided by the cases accepted"})
    minors = fields.Integer(metadata={"description": "distinct minors among those persons"})
    beneficiaries = fields.Integer(metadata={"description": "beneficiaries of the cases accepted"})
    by_source = fields.Dict(keys=fields.String(), values=fields.Integer())
    ex_officio_share = fields.Float(allow_none=True)
    transfers = fields.Dict(keys=fields.String(), values=fields.Integer(),
                            metadata={"description": "partner transfers received in the period, by outcome"})


def figures(session, period: Period) -> dict:
    accepted = period.within(Case.accepted_at)
    opened = session.scalar(select(func.count()).select_from(Case).where(*period.within(Case.opened_at)))
    by_source = counts(session, select(Case.source, func.count()).where(*accepted).group_by(Case.source))
    taken = sum(by_source.values())

    def of_accepted(*conditions):
        return session.scalar(select(func.count()).select_from(Case).where(*accepted, *conditions))

    people = select(Beneficiary).join(Case, Beneficiary.case_id == Case.id).where(*accepted).subquery()
    persons = session.scalar(select(func.count(distinct(people.c.person_id))))
    minors = session.scalar(select(func.count(distinct(people.c.person_id))).where(people.c.is_minor.is_(True)))
    beneficiaries = session.scalar(select(func.count()).select_from(people))
    transfers = counts(session, select(PartnerTransfer.outcome, func.count())
                       .where(*period.within(PartnerTransfer.received_at)).group_by(PartnerTransfer.outcome))
    return {
        "cases": {"opened": opened, "accepted": taken,
                  "urgent_medical": of_accepted(Case.track == "urgent_medical"),
                  "rereferred": of_accepted(Case.rereferred_from_id.is_not(None)),
                  "migrated": of_accepted(Case.migrated.is_(True))},
        "persons": persons, "minors": minors, "beneficiaries": beneficiaries,
        "by_source": {source: by_source.get(source, 0) for source in SOURCES},
        "ex_officio_share": share(by_source.get("ex_officio", 0), taken),
        "transfers": {"received": sum(transfers.values()),
                      **{outcome: transfers.get(outcome, 0) for outcome in TRANSFER_OUTCOMES}},
    }


def blueprint(runtime):
    return summary_blueprint(runtime, figures, IntakeSummaryOut, stages=("transfer",),
                             description="Cases opened and accepted, distinct persons and minors, cases by source "
                                         "and the ex officio share, partner transfers by outcome, and the "
                                         "transfer deadline met or missed.")
