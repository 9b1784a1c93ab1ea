"""The transfer deadline: a partner's transfer is to be accepted (受理) within the policy's working days.

The clock starts when the transfer is received, stops at acceptance, and feeds the fixed
metrics of stage ``transfer``.
"""
from __future__ import annotations

from datetime import timedelta

import pytest

from aidflow_shared.storage import utcnow
from support import IntakeApp, settings_for
from test_intake_partners import AGENCY, partner_post, transfer


@pytest.fixture
def intake(tmp_path):
    app = IntakeApp(settings_for(tmp_path)["intake"])
    yield app
    app.close()


def clock(app, case_id):
    with app.db.sessions() as session:
        return app.runtime.clocks.get(session, "transfer", case_id)


def test_a_transfer_starts_its_clock_and_acceptance_stops_it_in_time(intake):
    answer = partner_post(intake, transfer(31)).get_json()
    case = intake.get("/cases")["items"][0]
    assert case["case_number"] == answer["case_number"] and case["source_agency"] == AGENCY
    running = clock(intake, case["case_id"])
    assert running["status"] == "running" and running["unit"] == "working" and running["allowance"] == 5
    assert running["due_at"] > running["started_at"]
    registry = intake.runtime.metrics.registry
    assert registry.get_sample_value("aidflow_deadline_open", {"stage": "transfer", "band": "ok"}) == 1

    accepted = intake.post(f"/cases/{case['case_id']}/acceptance", {"override_reason": "转办函随后补交"})
    assert accepted.status_code == 201, accepted.get_json()
    stopped = clock(intake, case["case_id"])
    assert (stopped["status"], stopped["outcome"]) == ("stopped", "met")
    assert registry.get_sample_value("aidflow_deadline_met_total", {"stage": "transfer", "track": "standard"}) == 1


def test_an_unaccepted_transfer_breaches_once(intake):
    partner_post(intake, transfer(32))
    case = intake.get("/cases")["items"][0]
    later = utcnow() + timedelta(days=30)
    assert intake.runtime.clocks.scan(intake.runtime.unit_of_work, now=later) == 1
    assert intake.runtime.clocks.scan(intake.runtime.unit_of_work, now=later) == 0
    assert clock(intake, case["case_id"])["breached_at"] is not None


def test_staff_referrals_have_no_transfer_clock(intake):
    from support import referral
    case = intake.refer(referral(33))
    assert clock(intake, case["case_id"]) is None
