"""The review queue: least time left first, each review showing its deadline, band and whether
the deadline is provisional; the review clock runs from acceptance (受理) to the decision."""
from __future__ import annotations

from support import settings_for, start_system


def test_the_queue_puts_urgent_medical_cases_first_and_the_decision_stops_the_clock(tmp_path):
    system = start_system(settings_for(tmp_path))
    try:
        standard = system.refer(41)
        urgent = system.refer(42, urgent_medical=True)
        for case in (standard, urgent):
            system.open_review(case["case_id"])
        queue = system.call("GET", "review", "/api/v1/reviews?status=open", "reviewer").get_json()["items"]
        assert [r["case_id"] for r in queue] == [urgent["case_id"], standard["case_id"]]
        first, second = queue
        assert (first["track"], first["deadline"]["working_days"]) == ("urgent_medical", 2)
        assert second["deadline"]["working_days"] == 5
        for review in queue:
            assert review["deadline"]["band"] in ("ok", "warning", "critical")
            assert review["deadline"]["provisional"] is False and review["deadline"]["due_at"]

        system.approve(first)
        decided = system.call("GET", "review", f"/api/v1/reviews/{first['review_id']}", "reviewer").get_json()
        assert (decided["deadline"]["band"], decided["deadline"]["outcome"]) == ("stopped", "met")
        registry = system.runtimes["review"].metrics.registry
        assert registry.get_sample_value("aidflow_deadline_met_total",
                                         {"stage": "review", "track": "urgent_medical"}) == 1
        assert registry.get_sample_value("aidflow_stage_working_days_count",
                                         {"stage": "review", "track": "urgent_medical"}) == 1
    finally:
        system.stop()
