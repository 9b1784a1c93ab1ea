"""What follow-up knows of a case and its beneficiaries: intake's acceptance (受理), read from
``intake.case.accepted``. No personal data: a person is intake's opaque ``person_ref``.

Events can be reordered by retries: a payout (or an advance) may reach follow-up before the
acceptance, so a case file is made by whichever comes first, and ``facts_known`` says whether
the acceptance has been read.
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from aidflow_followup.needs import PersonFacts
from aidflow_followup.orm import CaseFile, KnownBeneficiary, Plan
from aidflow_shared.storage import conflict_insert, utcnow

ATTEMPTS = 3


def case_file(session, case_id: str, *, lock: bool = False) -> CaseFile:
    """The case file of ``case_id``, made if follow-up has not heard of the case yet.

    Two instances making the same case file at once collide on its primary key; the loser's
    savepoint is rolled back and it reads the winner's.
    """
    for _ in range(ATTEMPTS):
        query = select(CaseFile).where(CaseFile.case_id == case_id)
        if lock and session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update()
        found = session.scalars(query).first()
        if found is not None:
            return found
        try:
            with session.begin_nested():
                made = CaseFile(case_id=case_id, status="open", track="standard", victim_deceased=False,
                                facts_known=False, created_at=utcnow(), updated_at=utcnow())
                session.add(made)
                session.flush()
            return made
        except IntegrityError:
            continue
    raise RuntimeError(f"case file {case_id} could not be made or read")


def learn_case(session, accepted: dict) -> CaseFile:
    """Keep what the acceptance says about the case and each beneficiary (again: the latest wins).

    Each is one ``INSERT … ON CONFLICT DO UPDATE``: the case file is made with these facts or,
    made earlier by a payout, given them, under its row lock, with no read first and no
    savepoint for two instances making it at once.
    """
    now = utcnow()
    upsert = conflict_insert(session.get_bind().dialect.name)
    facts = dict(case_number=accepted["case_number"], criminal_case_ref=accepted.get("criminal_case_ref"),
                 track=accepted["track"], eligibility_situation=accepted.get("eligibility_situation"),
                 victim_deceased=bool(accepted.get("victim_deceased")), facts_known=True, updated_at=now)
    case = session.scalars(
        upsert(CaseFile).values(case_id=accepted["case_id"], status="open", created_at=now, **facts)
        .on_conflict_do_update(index_elements=[CaseFile.case_id], set_=facts).returning(CaseFile),
        execution_options={"populate_existing": True}).one()
    for entry in accepted["beneficiaries"]:
        known = dict(person_ref=entry["person_ref"], is_minor=bool(entry["is_minor"]),
                     relationship_to_victim=entry.get("relationship"),
                     poverty_markers=list(entry.get("poverty_markers") or ()),
                     urgent_medical_need=bool(entry.get("urgent_medical_need")))
        session.scalars(upsert(KnownBeneficiary).values(beneficiary_id=entry["beneficiary_id"], case_id=case.case_id,
                                                        **known)
                        .on_conflict_do_update(index_elements=[KnownBeneficiary.beneficiary_id], set_=known)
                        .returning(KnownBeneficiary), execution_options={"populate_existing": True}).one()
    return case


def beneficiary_of(session, plan: Plan) -> KnownBeneficiary | None:
    return session.get(KnownBeneficiary, plan.beneficiary_id)


def facts_of(session, plan: Plan) -> PersonFacts | None:
    """What the rules need to know of the plan's person; None until the acceptance is read."""
    known = beneficiary_of(session, plan)
    case = plan.case
    if known is None or not case.facts_known:
        return None
    return PersonFacts(is_minor=known.is_minor, poverty_markers=frozenset(known.poverty_markers or ()),
                       eligibility_situation=case.eligibility_situation, victim_deceased=case.victim_deceased,
                       urgent_medical_need=known.urgent_medical_need)


def is_minor(session, plan: Plan) -> bool:
    """Whether the plan's person is a minor; unknown counts as a minor, the safer side for consent."""
    known = beneficiary_of(session, plan)
    return True if known is None else known.is_minor
