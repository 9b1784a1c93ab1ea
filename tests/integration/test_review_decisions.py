"""Review's decisions over its API, on SQLite and PostgreSQL: a proposal with its reasoning, the
amount checked against the cap, the approvals its amount needs (never by the proposer), joint aid,
rejections with the explanation owed, the green channel's advance with its paperwork tracked, and
the clock paused while the case waits for the applicant.

Review runs alone, migrated, with no background work: cases arrive through its own handlers, and
what it announces stays in its outbox to be read where it was written.
"""
from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import event, select, update

from aidflow.reviewing import approved_proposal, rejected_proposal
from aidflow_review.service import service as review_service
from aidflow_shared.auth import mint_token
from aidflow_shared.contracts.catalogue import CASE_ACCEPTED
from aidflow_shared.envelope import new_event
from aidflow_shared.runtime import ServiceRuntime
from aidflow_shared.storage import utcnow
from support import TEST_SECRET, settings_for

CAP_2026_FEN = 100_469 * 3 * 100  # 36 months of Sichuan's latest published wage (2021, as a fallback)


class ReviewApp:
    def __init__(self, tmp_path, database_url: str, **extra):
        settings = settings_for(tmp_path, db_urls={"review": database_url, "intake": "", "payout": "",
                                                   "followup": ""})["review"]
        if extra:
            settings = settings.replace(extra={f"AIDFLOW_REVIEW_{k.upper()}": v for k, v in extra.items()})
        self.runtime = ServiceRuntime(review_service, settings)
        self.runtime.migrate()
        self.client = self.runtime.create_app().test_client()

    def accept(self, *, track: str = "standard", minors: tuple[bool, ...] = (False,)) -> dict:
        """A case accepted by intake (受理): the review opens and its clock runs."""
        case_id = str(uuid.uuid4())
        now = utcnow()
        data = {"case_id": case_id, "case_number": f"R{case_id[:8]}", "source": "ex_officio", "track": track,
                "victim_deceased": False, "documents_complete": True, "received_at": now, "accepted_at": now,
                "migrated": False,
                "beneficiaries": [{"beneficiary_id": f"b{i}-{case_id[:8]}", "person_ref": f"p{i}", "is_minor": minor,
                                   "relationship": "victim", "poverty_markers": [],
                                   "urgent_medical_need": track == "urgent_medical"}
                                  for i, minor in enumerate(minors)]}
        event = new_event(CASE_ACCEPTED.type, data, source="/aidflow/test")
        with self.runtime.unit_of_work(correlation_id=event.id) as uow:
            review_service.handlers[CASE_ACCEPTED.type](event, uow)
            uow.commit()
        return self.get_review(case_id=case_id)

    def call(self, method: str, path: str, role: str, subject: str | None = None, **kw):
        token = mint_token(self.runtime.settings, subject or f"test-{role}", [role], "procuratorate",
                           ttl=timedelta(minutes=10))
        return self.client.open(f"/api/v1{path}", method=method, headers={"Authorization": f"Bearer {token}"}, **kw)

    def get_review(self, review_id: str | None = None, case_id: str | None = None) -> dict:
        if review_id:
            return self.call("GET", f"/reviews/{review_id}", "reviewer").get_json()
        return self.call("GET", f"/reviews?case_id={case_id}", "reviewer").get_json()["items"][0]

    def propose(self, review: dict, body: dict, subject: str = "li-handler"):
        return self.call("POST", f"/reviews/{review['review_id']}/proposal", "reviewer", subject, json=body)

    def sign(self, review: dict, role: str, subject: str, verdict: str = "approved", **body):
        return self.call("POST", f"/reviews/{review['review_id']}/approvals", role, subject,
                         json={"verdict": verdict, **body})

    def decisions(self) -> list[dict]:
        outbox = self.runtime.db.metadata.tables["outbox"]
        with self.runtime.db.engine.connect() as conn:
            rows = conn.execute(select(outbox).order_by(outbox.c.id)).all()
        return [json.loads(r.body)["data"] for r in rows if r.type.endswith("decision.recorded.v1")]

    def close(self):
        self.runtime.stop()


@pytest.fixture
def app(tmp_path, database_url):
    review_app = ReviewApp(tmp_path, database_url)
    yield review_app
    review_app.close()


def awards_for(review: dict, amount_fen: int, **extra) -> list[dict]:
    return [{"beneficiary_id": b["beneficiary_id"], "amount_fen": amount_fen, **extra} for b in review["beneficiaries"]]


def test_a_small_award_needs_the_department_head_and_never_the_proposer(app):
    review = app.accept()
    proposed = app.propose(review, approved_proposal(awards_for(review, 5_000_00)), subject="li")
    assert proposed.status_code == 201, proposed.get_json()
    proposal = proposed.get_json()["proposals"][0]
    assert proposal["required_levels"] == ["department_head"] and proposal["next_level"] == "department_head"
    assert proposal["cap"]["cap_fen"] == CAP_2026_FEN and proposal["situation"] == "serious_injury_uncompensated"
    assert app.propose(review, approved_proposal(awards_for(review, 5_000_00))).get_json()["error"]["code"] \
        == "proposal_pending"

    # The proposer holding the department head's role too still may not approve it.
    own = app.sign(review, "department_head", "li")
    assert (own.status_code, own.get_json()["error"]["code"]) == (403, "own_proposal")
    wrong_role = app.sign(review, "reviewer", "zhou")
    assert wrong_role.status_code == 403
    assert app.decisions() == []

    decided = app.sign(review, "department_head", "wang")
    assert decided.status_code == 201, decided.get_json()
    body = decided.get_json()
    assert body["status"] == "decided" and body["deadline"]["band"] == "stopped"
    assert (body["decision"]["proposed_by"], body["decision"]["decided_by"]) == ("li", "wang")
    [event] = app.decisions()
    assert event["outcome"] == "approved" and event["total_fen"] == 5_000_00
    assert event["advance"] is False and event["joint_aid"] is False
    again = app.sign(review, "department_head", "zhao")
    assert (again.status_code, again.get_json()["error"]["code"]) == (409, "no_pending_proposal")


def test_thresholds_climb_to_the_chief_and_above_the_cap_to_the_office_meeting(app):
    review = app.accept()
    app.propose(review, approved_proposal(awards_for(review, 10_000_00)))
    assert app.get_review(review["review_id"])["proposals"][0]["required_levels"] == \
        ["department_head", "chief_procurator"]
    app.sign(review, "department_head", "wang")
    twice = app.sign(review, "chief_procurator", "wang")  # one person, two personal signatures
    assert (twice.status_code, twice.get_json()["error"]["code"]) == (403, "approves_twice")
    head_only = app.sign(review, "department_head", "qian")
    assert (head_only.status_code, head_only.get_json()["error"]["code"]) == (403, "approval_level_not_held")
    assert app.sign(review, "chief_procurator", "zhao").get_json()["status"] == "decided"

    above = app.accept()
    no_reason = app.propose(above, approved_proposal(awards_for(above, CAP_2026_FEN + 1)))
    assert no_reason.status_code == 422 and "explanation" in no_reason.get_json()["error"]["fields"]
    proposed = app.propose(above, approved_proposal(awards_for(above, CAP_2026_FEN + 1),
                                                    explanation="医疗费用远超上限，经集体研究特别救助。"))
    proposal = proposed.get_json()["proposals"][0]
    assert proposal["special_approval"] and proposal["awards"][0]["check"] == "above_cap_needs_special_approval"
    assert proposal["required_levels"] == ["department_head", "chief_procurator", "office_meeting"]
    app.sign(above, "department_head", "wang")
    app.sign(above, "chief_procurator", "zhao")
    no_minutes = app.sign(above, "chief_procurator", "zhao")
    assert no_minutes.status_code == 422 and no_minutes.get_json()["error"]["fields"]["reference"]
    done = app.sign(above, "chief_procurator", "zhao", reference="检察长办公会纪要〔2026〕3号")
    assert done.get_json()["status"] == "decided"
    assert [a["level"] for a in done.get_json()["proposals"][0]["approvals"]] == \
        ["department_head", "chief_procurator", "office_meeting"]


def test_amounts_never_exceed_court_damages_and_minors_may_exceed_the_cap(app):
    review = app.accept()
    refused = app.propose(review, approved_proposal(awards_for(review, 60_000_00, court_damages_fen=50_000_00)))
    assert refused.status_code == 422
    assert refused.get_json()["error"]["fields"]["awards.0.amount_fen"][0]["code"] == "above_court_damages"

    minor = app.accept(minors=(True,))
    proposed = app.propose(minor, approved_proposal(awards_for(minor, CAP_2026_FEN + 100_00),
                                                    explanation="未成年人，依2018年意见超出上限救助。"))
    assert proposed.status_code == 201, proposed.get_json()
    assert proposed.get_json()["proposals"][0]["awards"][0]["check"] == "minor_above_cap"


def test_reasoning_is_recorded_and_a_rejection_carries_its_reason_and_explanation(app):
    review = app.accept()
    incomplete = app.propose(review, approved_proposal(awards_for(review, 5_000_00),
                                                       eligibility={"situation": "serious_injury_uncompensated",
                                                                    "exclusions": {"major_fault": False}}))
    fields = incomplete.get_json()["error"]["fields"]
    assert "eligibility.exclusions.already_compensated" in fields and "eligibility.evidence" in fields
    contradicts = app.propose(review, approved_proposal(awards_for(review, 5_000_00),
                                                        eligibility=rejected_proposal()["eligibility"]))
    assert contradicts.get_json()["error"]["fields"]["outcome"][0]["code"] == "not_eligible_by_reasoning"
    unexplained = app.propose(review, rejected_proposal(explanation=None))
    assert "explanation" in unexplained.get_json()["error"]["fields"]

    proposed = app.propose(review, rejected_proposal())
    assert proposed.get_json()["proposals"][0]["required_levels"] == ["department_head"]
    returned = app.sign(review, "department_head", "wang", verdict="returned", note="请补充赔偿协议原件")
    assert returned.get_json()["proposals"][0]["status"] == "returned" and returned.get_json()["status"] == "open"
    app.propose(review, rejected_proposal())
    decided = app.sign(review, "department_head", "wang").get_json()
    assert decided["decision"]["reason_code"] == "excluded_already_compensated"
    assert decided["decision"]["explanation"].startswith("您已通过其他途径")
    [event] = app.decisions()
    assert (event["outcome"], event["reason_code"], event["awards"]) == ("rejected", "excluded_already_compensated", [])


def test_joint_aid_with_the_superior_procuratorate_is_its_own_approval(app):
    review = app.accept()
    missing = app.propose(review, approved_proposal(awards_for(review, 8_000_00), joint_aid=True))
    assert "joint_aid_with" in missing.get_json()["error"]["fields"]
    app.propose(review, approved_proposal(awards_for(review, 8_000_00), joint_aid=True,
                                          joint_aid_with="四川省成都市人民检察院"))
    assert app.get_review(review["review_id"])["proposals"][0]["required_levels"] == \
        ["department_head", "chief_procurator", "superior_procuratorate"]
    app.sign(review, "department_head", "wang")
    app.sign(review, "chief_procurator", "zhao")
    decided = app.sign(review, "chief_procurator", "zhao", reference="成检救〔2026〕12号").get_json()
    assert decided["status"] == "decided" and decided["decision"]["joint_aid"] is True
    assert app.decisions()[0]["joint_aid"] is True


def test_the_green_channel_advances_at_once_and_tracks_the_paperwork(app):
    standard = app.accept()
    not_urgent = app.propose(standard, approved_proposal(awards_for(standard, 5_000_00), advance=True))
    assert (not_urgent.status_code, not_urgent.get_json()["error"]["code"]) == (409, "not_urgent_medical")

    urgent = app.accept(track="urgent_medical")
    queue = app.call("GET", "/reviews?status=open", "reviewer").get_json()["items"]
    assert queue[0]["review_id"] == urgent["review_id"]  # the green channel leads the queue
    above = app.propose(urgent, approved_proposal(awards_for(urgent, CAP_2026_FEN + 1), advance=True,
                                                  explanation="急需手术"))
    assert above.get_json()["error"]["fields"]["awards.0.amount_fen"][0]["code"] == "advance_above_cap"
    proposed = app.propose(urgent, approved_proposal(
        awards_for(urgent, 30_000_00), advance=True,
        eligibility={"situation": "urgent_treatment_unaffordable", "exclusions": {}, "evidence": []}))
    assert proposed.status_code == 201, proposed.get_json()
    assert proposed.get_json()["proposals"][0]["required_levels"] == ["department_head"]  # whatever the amount
    decided = app.sign(urgent, "department_head", "wang").get_json()
    assert decided["decision"]["advance"] is True and decided["decision"]["paperwork_completed_at"] is None
    [event] = app.decisions()
    assert event["advance"] is True and event["outcome"] == "approved"

    outstanding = app.call("GET", "/advances", "department_head").get_json()
    assert [a["review_id"] for a in outstanding["items"]] == [urgent["review_id"]]
    assert outstanding["items"][0]["working_days_outstanding"] == 0
    not_advance = app.call("POST", f"/reviews/{standard['review_id']}/paperwork", "reviewer",
                           json={"eligibility": approved_proposal([])["eligibility"]})
    assert not_advance.get_json()["error"]["code"] == "decision_not_an_advance"
    done = app.call("POST", f"/reviews/{urgent['review_id']}/paperwork", "reviewer",
                    json={"eligibility": dict(approved_proposal([])["eligibility"],
                                              situation="urgent_treatment_unaffordable")})
    assert done.status_code == 200, done.get_json()
    assert done.get_json()["decision"]["paperwork"]["eligible"] is True
    assert app.call("GET", "/advances", "reviewer").get_json()["total"] == 0
    assert app.call("GET", "/advances?status=complete", "auditor").get_json()["total"] == 1
    twice = app.call("POST", f"/reviews/{urgent['review_id']}/paperwork", "reviewer",
                     json={"eligibility": approved_proposal([])["eligibility"]})
    assert twice.get_json()["error"]["code"] == "paperwork_complete"


def test_the_clock_pauses_while_the_case_waits_and_the_deadline_moves_by_the_days_paused(app):
    review = app.accept()
    due_before = review["deadline"]["due_at"]
    paused = app.call("POST", f"/reviews/{review['review_id']}/pause", "reviewer",
                      json={"reason": "等待申请人补交医疗费用票据"})
    assert paused.status_code == 200, paused.get_json()
    assert (paused.get_json()["deadline"]["band"], paused.get_json()["waiting_reason"]) == \
        ("paused", "等待申请人补交医疗费用票据")
    assert paused.get_json() == app.get_review(review["review_id"])  # answered with the clock as written
    queue = app.call("GET", "/reviews?status=open", "reviewer").get_json()["items"]
    assert queue[0]["deadline"]["band"] == "paused"
    again = app.call("POST", f"/reviews/{review['review_id']}/pause", "reviewer", json={"reason": "x"})
    assert (again.status_code, again.get_json()["error"]["code"]) == (409, "review_not_running")

    # The applicant took three working days: move the pause's start back by three working days.
    clocks, calendar = app.runtime.clocks, app.runtime.calendar
    now = utcnow()
    start = now
    while calendar.working_days_between(start, now) < 3:
        start -= timedelta(days=1)
    with app.runtime.db.engine.begin() as conn:
        conn.execute(update(clocks.table).where(clocks.table.c.subject_id == review["review_id"])
                     .values(paused_at=start))
    resumed = app.call("POST", f"/reviews/{review['review_id']}/resume", "reviewer", json={})
    assert resumed.status_code == 200, resumed.get_json()
    deadline = resumed.get_json()["deadline"]
    assert deadline["working_days"] == 5 + 3 and deadline["band"] != "paused"
    assert resumed.get_json()["waiting_reason"] is None
    assert resumed.get_json() == app.get_review(review["review_id"])
    # The deadline is now the end of the 8th working day after acceptance, not the 5th.
    started = _parse(review["accepted_at"])
    assert _parse(due_before) == calendar.deadline(started, 5).due_at
    assert _parse(deadline["due_at"]) == calendar.deadline(started, 8).due_at
    not_paused = app.call("POST", f"/reviews/{review['review_id']}/resume", "reviewer", json={})
    assert not_paused.get_json()["error"]["code"] == "review_not_paused"


def test_approval_thresholds_are_configuration(tmp_path, database_url):
    app = ReviewApp(tmp_path, database_url, approval_chief_procurator_from_fen="3000000")
    try:
        review = app.accept()
        app.propose(review, approved_proposal(awards_for(review, 20_000_00)))
        assert app.get_review(review["review_id"])["proposals"][0]["required_levels"] == ["department_head"]
    finally:
        app.close()


def _parse(text: str):
    from datetime import datetime
    return datetime.fromisoformat(text)


def test_two_approvers_at_once_make_one_decision(app):
    import threading
    review = app.accept()
    app.propose(review, approved_proposal(awards_for(review, 5_000_00)))
    barrier, answers = threading.Barrier(2), []

    def sign(subject):
        barrier.wait()
        answers.append(app.sign(review, "department_head", subject).status_code)
    threads = [threading.Thread(target=sign, args=(s,)) for s in ("wang", "qian")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == [201, 409]
    assert len(app.decisions()) == 1
    assert len(app.get_review(review["review_id"])["proposals"][0]["approvals"]) == 1


def test_a_proposal_and_its_approval_answer_as_read_back_in_a_handful_of_statements(app):
    """Each POST answers from the review it locked and changed: the answer equals a read of the
    review afterwards, and the locked read brings its beneficiaries and decision in the locking
    statement itself (only the review's row is locked)."""
    warm = app.accept()  # the first requests build caches
    app.propose(warm, approved_proposal(awards_for(warm, 5_000_00)))
    app.sign(warm, "department_head", "wang")
    review = app.accept(minors=(False, True))
    statements = []

    def record(conn, cursor, statement, *args):
        statements.append(statement)
    event.listen(app.runtime.db.engine, "before_cursor_execute", record)

    proposed = app.propose(review, approved_proposal(awards_for(review, 2_000_00)))  # the department head's
    proposing, statements[:] = list(statements), []
    decided = app.sign(review, "department_head", "wang")
    deciding = list(statements)
    event.remove(app.runtime.db.engine, "before_cursor_execute", record)

    assert proposed.status_code == 201 and decided.status_code == 201, (proposed.get_json(), decided.get_json())
    read = app.get_review(review["review_id"])
    assert decided.get_json() == read and read["status"] == "decided"
    assert [b["beneficiary_id"] for b in read["beneficiaries"]] == [b["beneficiary_id"] for b in review["beneficiaries"]]
    assert len(read["decision"]["awards"]) == 2
    # The proposal: the locked review (with its beneficiaries and decision), its proposals, the
    # new proposal, the clock, the audit entry's few. The approval that decides also writes the
    # decision and its awards, stops the clock (answered as stopped, not read again) and
    # announces the decision. Nine and eighteen before.
    assert len(proposing) <= 7, "\n".join(s.split("\n")[0] for s in proposing)
    assert len(deciding) <= 15, "\n".join(s.split("\n")[0] for s in deciding)
