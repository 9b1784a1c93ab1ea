"""The answer to a referral POST is built from what the request just wrote, not read back: it
must be the case exactly as ``GET /cases/<id>`` shows it afterwards, and the POST must stay a
handful of statements."""
from __future__ import annotations

import pytest
from sqlalchemy import event

from aidflow_shared.settings import SERVICES
from support import IntakeApp, referral, resident_id, settings_for


@pytest.fixture
def intake(tmp_path, database_url):
    """Intake alone on SQLite and on PostgreSQL."""
    app = IntakeApp(settings_for(tmp_path, db_urls=dict.fromkeys(SERVICES, database_url))["intake"])
    try:
        yield app
    finally:
        app.close()


def posted_and_read(intake, body: dict, role: str = "intake_clerk") -> tuple[dict, dict]:
    answer = intake.refer(body, role)
    warnings = answer.pop("warnings")
    assert isinstance(warnings, list)
    return answer, intake.get(f"/cases/{answer['case_id']}", role=role)


@pytest.mark.parametrize("role", ["intake_clerk", "department_head"])
def test_the_answer_is_the_case_as_read_back(intake, role):
    answer, read = posted_and_read(intake, referral(1), role)
    assert answer == read
    assert [h["status"] for h in answer["history"]] == ["registered", "accepted"]


def test_known_people_linked_cases_and_an_agent_are_answered_as_read_back(intake):
    first = intake.refer(referral(2))
    # The same person in another criminal case, a relative in the same one, an agent who applies.
    again, read = posted_and_read(intake, referral(2, criminal_case_ref="川检刑诉〔2026〕902号"))
    assert again == read and again["beneficiaries"][0]["other_case_numbers"] == [first["case_number"]]
    relative = referral(3, criminal_case_ref=first["criminal_case_ref"], source="application", stage=None,
                        victim_deceased=True, eligibility_situation="death_or_incapacity", accept=False,
                        application={"applicant": "agent", "form": "written", "agent": {
                            "kind": "entrusted", "name": "代理人乙", "id_number": resident_id(903, region="510703"),
                            "id_type": "resident_id"}},
                        beneficiaries=[{"name": "测试3", "id_type": "resident_id", "id_number": resident_id(3),
                                        "relationship": "spouse"}])
    answer, read = posted_and_read(intake, relative)
    assert answer == read
    assert answer["status"] == "registered" and answer["application"]["agent"]["name"] == "代理人乙"
    assert [c["case_number"] for c in answer["linked_cases"]] == [first["case_number"]]


def test_a_referral_post_stays_a_handful_of_statements(intake):
    intake.refer(referral(4))  # warm: the first request builds caches
    statements = []
    event.listen(intake.db.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    intake.refer(referral(5))
    # Registration: the person looked up, one INSERT per table, two outbox rows, the linked
    # cases; the audit entry's own few. Twenty-six before the answer was built in memory.
    assert len(statements) <= 16, "\n".join(s.split("\n")[0] for s in statements)


def test_acceptance_and_eligibility_are_answered_as_read_back(intake):
    body = referral(6, accept=False, eligibility_situation=None)
    case = intake.refer(body)
    response = intake.call("PUT", f"/cases/{case['case_id']}/eligibility",
                           json={"eligibility_situation": "serious_injury"})
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == intake.get(f"/cases/{case['case_id']}")
    intake.post(f"/cases/{case['case_id']}/documents", {"kind": "injury_appraisal"})
    response = intake.post(f"/cases/{case['case_id']}/acceptance", {})
    assert response.status_code == 201, response.get_json()
    accepted = response.get_json()
    assert accepted == intake.get(f"/cases/{case['case_id']}")
    assert accepted["status"] == "accepted" and [h["status"] for h in accepted["history"]] == ["registered",
                                                                                                 "accepted"]
