"""Agency scoping: a partner agency's token sees and answers only its own agency's hand-offs, and
whatever it asks about another agency's is refused the same way (403 ``not_your_handoff``), so an
answer never tells one agency what another is doing. Partners reach nothing else of follow-up or
intake's case files, and their reads of personal data are in the audit log."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from test_followup_support import ready_plan, start_followup  # noqa: F401

DIBAO = "minimum_living_guarantee"
MINE, THEIRS = "civil-affairs", "poverty-bureau"


@pytest.fixture
def followup(start_followup):  # noqa: F811
    return start_followup()


def handoff_to(followup, agency: str, service: str) -> dict:
    plan = ready_plan(followup, markers=["impoverished_by_case", "registered_poor_household"],
                      consents={agency: ["contact", "household"]})
    made = followup.call("POST", f"/plans/{plan['plan_id']}/handoffs", json={"service": service, "agency": agency})
    assert made.status_code == 201, made.get_json()
    return made.get_json()


def as_partner(followup, method, path, agency=MINE, **kw):
    return followup.call(method, path, "partner_agency", agency=agency, **kw)


def test_a_partner_sees_and_answers_only_its_own_agencys_handoffs(followup):
    mine = handoff_to(followup, MINE, DIBAO)
    theirs = handoff_to(followup, THEIRS, "poverty_alleviation")

    listed = as_partner(followup, "GET", "/handoffs").get_json()
    assert [h["handoff_id"] for h in listed["items"]] == [mine["handoff_id"]] and listed["total"] == 1
    # Asking for the other agency's by filter gives nothing, not theirs.
    assert as_partner(followup, "GET", "/handoffs", query_string={"agency": THEIRS}).get_json()["items"] == []
    assert as_partner(followup, "GET", f"/handoffs/{mine['handoff_id']}").status_code == 200

    other = theirs["handoff_id"]
    refusals = [as_partner(followup, "GET", f"/handoffs/{other}"),
                as_partner(followup, "GET", f"/handoffs/{other}/contact"),
                as_partner(followup, "POST", f"/handoffs/{other}/answers",
                           json={"status": "accepted", "at": datetime.now(timezone.utc).isoformat()})]
    assert [(r.status_code, r.get_json()["error"]["code"]) for r in refusals] == [(403, "not_your_handoff")] * 3
    # The other agency's hand-off is untouched, and that agency still sees it as it was.
    seen_by_them = as_partner(followup, "GET", f"/handoffs/{other}", agency=THEIRS).get_json()
    assert seen_by_them["status"] == theirs["status"] and seen_by_them["answers"] == []


def test_a_partner_token_without_an_agency_is_refused(followup):
    handoff_to(followup, MINE, DIBAO)
    response = followup.call("GET", "/handoffs", "partner_agency", agency=None)
    assert response.status_code == 403 and response.get_json()["error"]["code"] == "token_agency_required"


@pytest.mark.parametrize("path", ["/plans", "/statistics", "/escalations", "/contact-reads", "/audit"])
def test_a_partner_reaches_nothing_of_followup_but_its_handoffs(followup, path):
    response = as_partner(followup, "GET", path)
    assert response.status_code == 403 and response.get_json()["error"]["code"] == "forbidden"


def test_a_partners_read_of_contact_details_is_in_the_audit_log_as_a_read_of_personal_data(followup):
    mine = handoff_to(followup, MINE, DIBAO)
    assert as_partner(followup, "GET", f"/handoffs/{mine['handoff_id']}/contact").status_code == 200
    entries = followup.get("/audit", "auditor", query_string={"target_id": mine["handoff_id"]})["items"]
    [read] = [e for e in entries if e["action"] == "GET /api/v1/handoffs/<handoff_id>/contact"]
    assert read["actor_roles"] == "partner_agency" and read["actor_agency"] == MINE
    assert read["pii"] is True and read["outcome"] == "ok" and read["target_type"] == "handoff"
