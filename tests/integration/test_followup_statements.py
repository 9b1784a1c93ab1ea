"""Follow-up's two handlers on every case's path, on SQLite and PostgreSQL: learning the case from
intake's acceptance and opening the plan when the money is paid stay a handful of statements, and
still do all they did (facts kept, the latest acceptance winning, a plan opened before the facts
assessed once they come)."""
from __future__ import annotations

import uuid

import pytest
from sqlalchemy import event, select

from aidflow_followup.orm import CaseFile, KnownBeneficiary, Plan
from aidflow_followup.service import service as followup_service
from aidflow_shared.contracts.catalogue import CASE_ACCEPTED, PAYOUT_DISBURSED
from aidflow_shared.envelope import new_event
from aidflow_shared.runtime import ServiceRuntime
from aidflow_shared.storage import utcnow
from support import settings_for


@pytest.fixture
def runtime(tmp_path, database_url):
    settings = settings_for(tmp_path, db_urls={"followup": database_url, "intake": "", "review": "",
                                               "payout": ""})["followup"]
    running = ServiceRuntime(followup_service, settings)
    running.migrate()
    yield running
    running.stop()


def handle(runtime, message_type, data: dict) -> list[str]:
    """Run follow-up's handler for one event in its own transaction; the statements it sent."""
    statements = []

    def record(conn, cursor, statement, *args):
        statements.append(statement.split("\n")[0])
    message = new_event(message_type.type, data, source="/aidflow/test", subject=data["case_id"])
    event.listen(runtime.db.engine, "before_cursor_execute", record)
    try:
        with runtime.unit_of_work(correlation_id=message.id) as uow:
            followup_service.handlers[message_type.type](message, uow)
            uow.commit()
    finally:
        event.remove(runtime.db.engine, "before_cursor_execute", record)
    return statements


def accepted(case_id: str, *, minor: bool, situation: str = "serious_injury") -> dict:
    now = utcnow()
    return {"case_id": case_id, "case_number": f"JZ-{case_id[:6]}", "source": "ex_officio", "source_agency": None,
            "track": "standard", "criminal_case_ref": "川检刑诉〔2026〕7号", "eligibility_situation": situation,
            "victim_deceased": False, "documents_complete": True, "received_at": now, "accepted_at": now,
            "migrated": False,
            "beneficiaries": [{"beneficiary_id": f"b-{case_id[:8]}", "person_ref": f"p-{case_id[:8]}",
                               "is_minor": minor, "relationship": "victim", "poverty_markers": ["impoverished_by_case"],
                               "urgent_medical_need": False}]}


def paid(case_id: str) -> dict:
    return {"payout_id": str(uuid.uuid4()), "decision_id": str(uuid.uuid4()), "case_id": case_id,
            "beneficiary_id": f"b-{case_id[:8]}", "amount_fen": 20_000_00, "fund_id": "f1",
            "method": "bank_transfer", "disbursed_at": utcnow()}


def test_a_case_learned_and_its_plan_opened_in_a_handful_of_statements(runtime):
    warm = str(uuid.uuid4())  # the first messages build caches
    handle(runtime, CASE_ACCEPTED, accepted(warm, minor=False))
    handle(runtime, PAYOUT_DISBURSED, paid(warm))

    case_id = str(uuid.uuid4())
    learning = handle(runtime, CASE_ACCEPTED, accepted(case_id, minor=True))
    opening = handle(runtime, PAYOUT_DISBURSED, paid(case_id))
    # The case file and each beneficiary: one upsert each, then the plans opened before the facts
    # (none here). Eight before: a read, a savepoint around the insert, an update, and the same
    # read-then-insert for the beneficiary.
    assert len([s for s in learning if not s.startswith("BEGIN")]) <= 3, learning
    # The case file locked, no plan yet, the person's facts, then the plan with its assessment,
    # needs and visits and the event, each written once (the plan was inserted, then updated).
    assert len([s for s in opening if not s.startswith("BEGIN")]) <= 8, opening

    with runtime.db.sessions() as session:
        case = session.get(CaseFile, case_id)
        assert case.facts_known and case.case_number == f"JZ-{case_id[:6]}" and case.status == "open"
        assert session.get(KnownBeneficiary, f"b-{case_id[:8]}").is_minor is True
        [plan] = session.scalars(select(Plan).where(Plan.case_id == case_id)).all()
        assert plan.assessed_at is not None and {a.kind for a in plan.assessments} == {"initial"}
        assert len(plan.visits) >= 1 and plan.needs


def test_the_plan_paid_before_the_acceptance_is_assessed_when_it_comes_and_the_latest_acceptance_wins(runtime):
    case_id = str(uuid.uuid4())
    handle(runtime, PAYOUT_DISBURSED, paid(case_id))  # reordered by a retry: the money first
    with runtime.db.sessions() as session:
        case = session.get(CaseFile, case_id)
        assert case.facts_known is False and case.status == "open"
        [plan] = session.scalars(select(Plan).where(Plan.case_id == case_id)).all()
        assert plan.assessed_at is None  # nothing known of the person yet

    handle(runtime, CASE_ACCEPTED, accepted(case_id, minor=False))
    handle(runtime, CASE_ACCEPTED, accepted(case_id, minor=True, situation="death_or_incapacity"))
    with runtime.db.sessions() as session:
        case = session.get(CaseFile, case_id)
        assert case.facts_known and case.eligibility_situation == "death_or_incapacity"
        assert session.get(KnownBeneficiary, f"b-{case_id[:8]}").is_minor is True
        [plan] = session.scalars(select(Plan).where(Plan.case_id == case_id)).all()
        assert plan.assessed_at is not None and [a.kind for a in plan.assessments] == ["initial"]
