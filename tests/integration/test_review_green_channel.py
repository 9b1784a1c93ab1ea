"""The green channel end to end: an urgent-medical case leads the queue, its advance payment
(先行救助) is approved at once and paid by payout as an advance, follow-up opens its plan, and
review tracks the paperwork until it is complete. A withdrawn application is closed without
assessment, with the explanation recorded."""
from __future__ import annotations

from support import approved_proposal, rejected_proposal, settings_for, start_system, wait_until


def test_an_advance_is_paid_at_once_and_its_paperwork_tracked(tmp_path):
    system = start_system(settings_for(tmp_path))
    try:
        system.fund(amount_fen=1_000_000_00)
        standard = system.refer(71)
        urgent = system.refer(72, urgent_medical=True)
        for case in (standard, urgent):
            system.open_review(case["case_id"])
        queue = system.call("GET", "review", "/api/v1/reviews?status=open", "reviewer").get_json()["items"]
        review = queue[0]
        assert review["case_id"] == urgent["case_id"] and review["track"] == "urgent_medical"

        awards = [{"beneficiary_id": b["beneficiary_id"], "amount_fen": 50_000_00} for b in review["beneficiaries"]]
        decided = system.decide(review, approved_proposal(awards, advance=True, eligibility={
            "situation": "urgent_treatment_unaffordable", "exclusions": {}, "evidence": ["医院催款通知"]}))
        assert decided["decision"]["advance"] is True
        assert [a["level"] for a in decided["proposals"][0]["approvals"]] == ["department_head"]

        def paid():
            items = system.call("GET", "payout", f"/api/v1/payouts?case_id={urgent['case_id']}",
                                "finance_officer").get_json()["items"]
            return items if items and items[0]["status"] == "disbursed" else None
        payouts = wait_until(paid, 30, "the advance to be paid")
        assert [(p["kind"], p["amount_fen"]) for p in payouts] == [("advance", 50_000_00)]
        wait_until(lambda: system.plans(urgent["case_id"]), 30, "follow-up to open the plan")

        outstanding = system.call("GET", "review", "/api/v1/advances", "department_head").get_json()
        assert [a["case_id"] for a in outstanding["items"]] == [urgent["case_id"]]
        full = approved_proposal([])["eligibility"]
        done = system.call("POST", "review", f"/api/v1/reviews/{review['review_id']}/paperwork", "reviewer",
                           json={"eligibility": dict(full, situation="urgent_treatment_unaffordable")})
        assert done.status_code == 200, done.get_json()
        assert system.call("GET", "review", "/api/v1/advances", "auditor").get_json()["total"] == 0

        other = system.open_review(standard["case_id"])
        no_reason = system.call("POST", "review", f"/api/v1/reviews/{other['review_id']}/proposal", "reviewer",
                                json={"outcome": "rejected", "reason_code": "withdrawn", "eligibility": {}})
        assert no_reason.status_code == 422 and "explanation" in no_reason.get_json()["error"]["fields"]
        withdrawn = system.decide(other, rejected_proposal("withdrawn", eligibility={},
                                                           explanation="申请人书面撤回救助申请。"))
        assert withdrawn["decision"]["reason_code"] == "withdrawn"
        wait_until(lambda: system.case_status(standard["case_id"]) == "rejected", 30, "intake to learn it")
    finally:
        system.stop()
