"""The four services on RabbitMQ and PostgreSQL: a minor's case is paid, follow-up assesses it from
intake's acceptance, a return visit finds the family back in hardship (返困), and the re-referral
becomes a new case at intake, linked to the old; never a second aid for the same person and
criminal case. Nothing on the bus carries a resident ID number or a mobile number."""
from __future__ import annotations

from datetime import date

from support import referral, resident_id, settings_for, start_system, wait_until
from test_followup_support import CONTACT_KEY, tap  # noqa: F401

SERVICES = ("intake", "review", "payout", "followup")


def test_a_relapse_makes_a_linked_referral_that_intake_accepts_once(tmp_path, broker, pg_database, tap):  # noqa: F811
    db_urls = {name: pg_database(name) for name in SERVICES}
    system = start_system(settings_for(tmp_path, amqp_url=broker.url, db_urls=db_urls,
                                       extra={"AIDFLOW_FOLLOWUP_CONTACT_KEY": CONTACT_KEY}))
    try:
        system.fund()
        child = {"name": "测试童", "id_type": "resident_id", "id_number": resident_id(30, birth=date(2014, 3, 4)),
                 "relationship": "victim", "poverty_markers": ["impoverished_by_case"]}
        case = system.refer(30, beneficiaries=[child])
        system.approve(system.open_review(case["case_id"]))

        def call(method, path, role="followup_worker", **kw):
            return system.call(method, "followup", f"/api/v1{path}", role, **kw)

        def assessed_plan():
            items = call("GET", f"/plans?case_id={case['case_id']}").get_json()["items"]
            return items and items[0]["assessed_at"] and call("GET", f"/plans/{items[0]['plan_id']}").get_json()

        plan = wait_until(assessed_plan, 60, "the plan, assessed from intake's acceptance")
        needs = {n["service"]: n["reason"] for n in plan["needs"]}
        assert needs["psych_counselling"] == "minor" and plan["is_minor"] and plan["payout_id"]
        wait_until(lambda: system.case_status(case["case_id"]) == "in_followup", 30, "intake to see the plan")

        visit = call("POST", f"/plans/{plan['plan_id']}/visits", json={
            "visited_at": plan["opened_at"], "method": "home", "living_situation": "in_crisis",
            "psychological_state": "distressed", "satisfaction": 4, "aware_of_aid": True,
            "returned_to_hardship": True})
        assert visit.status_code == 201, visit.get_json()

        old_ref = referral(30)["criminal_case_ref"]
        same = call("POST", f"/plans/{plan['plan_id']}/rereferrals", json={"criminal_case_ref": old_ref})
        assert same.status_code == 409 and same.get_json()["error"]["code"] == "same_criminal_case"

        new_ref = "川检刑诉〔2027〕30号"

        def rerefer():
            made = call("POST", f"/plans/{plan['plan_id']}/rereferrals",
                        json={"criminal_case_ref": new_ref, "urgent_medical": True})
            assert made.status_code == 201, made.get_json()
            rereferral_id = made.get_json()["rereferral_id"]

            def answered():
                found = [r for r in call("GET", f"/plans/{plan['plan_id']}").get_json()["rereferrals"]
                         if r["rereferral_id"] == rereferral_id and r["status"] != "requested"]
                return found and found[0]
            return wait_until(answered, 30, "intake's answer")

        accepted = rerefer()
        assert accepted["status"] == "accepted" and accepted["new_case_number"]
        new_case = system.call("GET", "intake", f"/api/v1/cases/{accepted['new_case_id']}", "intake_clerk").get_json()
        assert new_case["rereferred_from_id"] == case["case_id"] and new_case["criminal_case_ref"] == new_ref
        assert (new_case["status"], new_case["track"]) == ("registered", "urgent_medical")
        assert new_case["beneficiaries"][0]["person_ref"] == case["beneficiaries"][0]["person_ref"]

        refused = rerefer()  # the same person and the new criminal case again: intake says no
        assert (refused["status"], refused["reason"], refused["new_case_id"]) == ("refused", "duplicate_case", None)
        cases = system.call("GET", "intake", "/api/v1/cases", "intake_clerk").get_json()
        assert cases["total"] == 2
        assert tap.personal_numbers() == []
        assert {"followup.rereferral.requested.v1", "intake.rereferral.answered.v1", "intake.case.accepted.v1",
                "followup.plan.opened.v1"} <= {key for key, _ in tap.seen}
    finally:
        system.stop()
