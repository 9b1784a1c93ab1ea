"""The published figures: each service's summary for a period, driven by cases through the real
system (embedded, then RabbitMQ + PostgreSQL), and ``aidflow report`` combining the four over HTTP
into a text, a CSV and a chart.

The seed: four cases accepted (受理) from three sources, five persons of whom one is a minor; three
approved (¥58,000 to four beneficiaries, all paid), one urgent-medical case rejected; a plan per
paid beneficiary, one hand-off to legal aid completed and two return visits scored 5 and 4.
"""
from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from datetime import date, timedelta

import pytest

from aidflow.embedded import System
from aidflow_shared.calendar import BEIJING
from aidflow_shared.storage import utcnow
from aidflow_shared.vault import new_key
from support import (TEST_SECRET, Running, free_port, rejected_proposal, resident_id, settings_for,
                     start_system, wait_until)
from test_intake_partners import transfer

SERVICES = ("intake", "review", "payout", "followup")
CONTACT_KEY = {"AIDFLOW_FOLLOWUP_CONTACT_KEY": new_key()}
# The period of the seed: the last 30 Beijing days, today and tomorrow included (the first visits
# fall due later). Tomorrow, because the date is taken when the tests are collected: a run that
# crosses midnight in Beijing makes its cases on the next day.
TODAY = utcnow().astimezone(BEIJING).date()
SINCE, UNTIL = TODAY - timedelta(days=30), TODAY + timedelta(days=1)


def seed(system: Running) -> list[str]:
    """Drive the seed's cases through the system; returns the case ids."""
    system.fund()
    ex_officio = system.refer(1)
    answer = system.call("POST", "intake", "/api/v1/partner-referrals", "partner_agency", agency="poverty-bureau",
                         json=transfer(2))
    assert answer.status_code == 201, answer.get_json()
    cases = system.call("GET", "intake", "/api/v1/cases", "intake_clerk").get_json()["items"]
    transferred = next(c for c in cases if c["source"] == "partner_transfer")
    accepted = system.call("POST", "intake", f"/api/v1/cases/{transferred['case_id']}/acceptance", "intake_clerk",
                           json={"override_reason": "转办函随后补交"})
    assert accepted.status_code == 201, accepted.get_json()
    family = [{"name": "测试配偶", "id_type": "resident_id", "id_number": resident_id(3), "relationship": "spouse"},
              {"name": "测试子女", "id_type": "resident_id", "id_number": resident_id(4, birth=date(2015, 3, 1)),
               "relationship": "child"}]
    applied = system.refer(3, source="application", stage=None, application={"applicant": "self", "form": "written"},
                           victim_deceased=True, eligibility_situation="death_or_incapacity", beneficiaries=family)
    urgent = system.refer(5, urgent_medical=True)
    for case, amount_fen in ((ex_officio, 18_000_00), (transferred, 20_000_00), (applied, 10_000_00)):
        system.approve(system.open_review(case["case_id"]), amount_fen=amount_fen)
    system.decide(system.open_review(urgent["case_id"]), rejected_proposal("excluded_already_compensated"))
    ids = [c["case_id"] for c in (ex_officio, transferred, applied, urgent)]
    wait_until(lambda: all(len(system.plans(case_id)) == n for case_id, n in zip(ids, (1, 1, 2))), 30,
               "a plan for every beneficiary paid")
    follow_up(system, system.plans(ex_officio["case_id"])[0]["plan_id"])
    return ids


def follow_up(system: Running, plan_id: str) -> None:
    """One hand-off to legal aid, completed, and two return visits scored 5 and 4."""
    def post(path, body, method="POST", expect=201):
        response = system.call(method, "followup", f"/api/v1{path}", "followup_worker", json=body)
        assert response.status_code == expect, response.get_json()
        return response.get_json()

    post(f"/plans/{plan_id}/contact", {"name": "李小华", "phone": "13912345678", "address": "某县某镇某村三组"},
         method="PUT", expect=200)
    post(f"/plans/{plan_id}/consents", {"agency": "legal-aid", "categories": ["contact", "harm"], "given_by": "person"})
    plan = post(f"/plans/{plan_id}/assessments", {"needs": [{"service": "legal_aid", "status": "needed"}]})["plan"]
    handoff = post(f"/plans/{plan_id}/handoffs", {"service": "legal_aid", "agency": "legal-aid"})
    post(f"/handoffs/{handoff['handoff_id']}/answers", {
        "status": "completed", "at": utcnow().isoformat(),
        "outcome": {"received_on": TODAY.isoformat(), "summary": "代理民事诉讼，已获判决"}})
    for visit, score in zip(plan["visits"][:2], (5, 4)):
        post(f"/visits/{visit['visit_id']}/outcome", {
            "visited_at": utcnow().isoformat(), "method": "home", "living_situation": "stable",
            "psychological_state": "stable", "services_received": ["legal_aid"], "satisfaction": score,
            "aware_of_aid": True})


def summary(system: Running, service: str, since: date = SINCE, until: date = UNTIL, role: str = "auditor"):
    response = system.call("GET", service, f"/api/v1/reports/summary?from={since}&to={until}", role)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def stage(met: int, missed: int = 0, *, urgent_met: int = 0) -> dict:
    return {"met": met, "missed": missed, "met_share": 1.0 if met and not missed else None, "overdue_open": 0,
            "by_track": {"standard": {"met": met - urgent_met, "missed": missed},
                         "urgent_medical": {"met": urgent_met, "missed": 0}}}


def assert_seed_figures(system: Running, case_ids: list[str]) -> None:
    intake, review, payout, followup = (summary(system, name) for name in SERVICES)
    for name, body in zip(SERVICES, (intake, review, payout, followup)):
        assert (body["service"], body["from"], body["to"]) == (name, SINCE.isoformat(), UNTIL.isoformat())
        text = json.dumps(body, ensure_ascii=False)
        assert not any(case_id in text for case_id in case_ids) and "测试" not in text  # no ids, no names
    assert intake["cases"] == {"opened": 4, "accepted": 4, "urgent_medical": 1, "rereferred": 0, "migrated": 0}
    assert (intake["persons"], intake["minors"], intake["beneficiaries"]) == (5, 1, 5)
    assert intake["by_source"] == {"ex_officio": 2, "partner_transfer": 1, "application": 1, "lead": 0}
    assert intake["ex_officio_share"] == 0.5
    assert intake["transfers"] == {"received": 1, "accepted": 1, "repeated": 0, "rejected": 0}
    assert intake["compliance"] == {"transfer": stage(1)}

    assert review["reviews_opened"] == 4
    assert review["decisions"] == {"total": 4, "approved": 3, "rejected": 1} and review["approval_share"] == 0.75
    assert review["amount_decided_fen"] == 58_000_00 and review["beneficiaries_awarded"] == 4
    assert review["urgent_medical"] == {"decided": 1, "approved": 0}
    assert review["rejected_by_reason"] == {"excluded_already_compensated": 1}
    assert review["compliance"] == {"review": stage(4, urgent_met=1)}

    assert (payout["paid_fen"], payout["recovered_fen"], payout["net_paid_fen"], payout["approved_fen"]) == (
        58_000_00, 0, 58_000_00, 58_000_00)
    assert (payout["beneficiaries_paid"], payout["cases_paid"]) == (4, 3)
    assert payout["payouts_paid"] == {"total": 4, "bank_transfer": 4, "advance": 0}
    assert payout["compliance"] == {"payout": stage(4)}

    assert followup["plans"] == {"opened": 4, "open": 4, "closed": 0}
    assert followup["handoffs"] == {"sent": 1, "completed": 1, "completed_share": 1.0,
                                    "by_service": {"legal_aid": {"completed": 1}},
                                    "by_agency": {"legal-aid": {"requested": 1, "completed": 1}}}
    assert followup["visits"] == {"made": 2, "due": 0, "overdue": 0, "returned_to_hardship": 0}
    assert followup["satisfaction"] == {"answered": 2, "mean": 4.5, "satisfied": 2, "satisfied_share": 1.0,
                                        "distribution": {"1": 0, "2": 0, "3": 0, "4": 1, "5": 1}}
    assert followup["rereferrals"] == {"requested": 0, "accepted": 0, "refused": 0}
    assert followup["compliance"] == {"handoff": stage(1), "visit": stage(0)}

    # A period before the seed has nothing in it.
    earlier = summary(system, "intake", date(2020, 1, 1), date(2020, 12, 31))
    assert earlier["cases"]["accepted"] == 0 and earlier["persons"] == 0 and earlier["ex_officio_share"] is None
    assert summary(system, "payout", date(2020, 1, 1), date(2020, 12, 31))["paid_fen"] == 0


def test_summaries_on_the_embedded_default(tmp_path):
    system = start_system(settings_for(tmp_path, extra=CONTACT_KEY))
    try:
        assert_seed_figures(system, seed(system))
    finally:
        system.stop()


def test_summaries_on_rabbitmq_and_postgresql(tmp_path, broker, pg_database):
    db_urls = {name: pg_database(name) for name in SERVICES}
    system = start_system(settings_for(tmp_path, amqp_url=broker.url, db_urls=db_urls, extra=CONTACT_KEY))
    try:
        assert_seed_figures(system, seed(system))
    finally:
        system.stop()


def fields_of(response) -> dict:
    return {path: [e["code"] for e in errors] for path, errors in response.get_json()["error"]["fields"].items()}


def test_a_summary_refuses_bad_periods_and_other_roles(tmp_path):
    system = start_system(settings_for(tmp_path))
    try:
        for service in SERVICES:
            path = "/api/v1/reports/summary"
            missing = system.call("GET", service, path, "auditor")
            assert missing.status_code == 400 and fields_of(missing) == {"from": ["required"], "to": ["required"]}
            bad = system.call("GET", service, f"{path}?from=2026-02-30&to=soon", "auditor")
            assert fields_of(bad) == {"from": ["invalid_date"], "to": ["invalid_date"]}
            reversed_ = system.call("GET", service, f"{path}?from=2026-03-01&to=2026-02-01", "auditor")
            assert reversed_.status_code == 400 and fields_of(reversed_) == {"to": ["range"]}
            for role in ("chief_procurator", "department_head", "ops"):
                assert system.call("GET", service, f"{path}?from=2026-01-01&to=2026-01-31", role).status_code == 200
            assert system.call("GET", service, f"{path}?from=2026-01-01&to=2026-01-31",
                               "intake_clerk").status_code == 403
            document = system.clients[service].get("/openapi.json").get_json()
            operation = document["paths"][path]["get"]
            assert operation["x-roles"] == ["auditor", "chief_procurator", "department_head", "ops"]
            assert operation["responses"]["200"]["content"]["application/json"]["schema"]
    finally:
        system.stop()


# -- aidflow report ------------------------------------------------------------------------------------


def aidflow_report(*args: str, **env) -> subprocess.CompletedProcess:
    environ = {**os.environ, "AIDFLOW_JWT_SECRET": TEST_SECRET, **env}
    environ.pop("AIDFLOW_REPORT_TOKEN", None)
    return subprocess.run([sys.executable, "-m", "aidflow", "report", *args], capture_output=True, text=True,
                          timeout=120, env=environ)


def test_the_report_command_combines_every_service_over_http(tmp_path):
    settings = {name: s.replace(http_host="127.0.0.1", http_port=free_port())
                for name, s in settings_for(tmp_path, extra=CONTACT_KEY).items()}
    system = System(settings)
    system.start(http=True)
    try:
        seed(Running(system))
        urls = system.urls()
        out = tmp_path / "report"
        flags = [f"--{name}-url={url}" for name, url in urls.items()]
        done = aidflow_report("--from", SINCE.isoformat(), "--to", UNTIL.isoformat(), "--out", str(out), *flags)
        assert done.returncode == 0, done.stderr + done.stdout
        headline = "4 cases, 5 persons, ¥58,000 paid; 50.0% started ex officio."
        assert headline in done.stdout and "受理司法救助案件 4 件，救助 5 人，发放救助金 ¥58,000" in done.stdout

        text = (out / "report.txt").read_text(encoding="utf-8")
        assert headline in text and "Deadlines met per stage" in text and "测试" not in text
        rows = list(csv.reader(io.StringIO((out / "report.csv").read_text(encoding="utf-8-sig"))))
        assert rows[0] == ["service", "figure", "value"]
        figures = {(service, figure): value for service, figure, value in rows[1:]}
        assert figures[("intake", "cases.accepted")] == "4" and figures[("intake", "persons")] == "5"
        assert figures[("intake", "by_source.ex_officio")] == "2" and figures[("intake", "ex_officio_share")] == "0.5"
        assert figures[("review", "amount_decided_fen")] == "5800000"
        assert figures[("payout", "paid_fen")] == "5800000" and figures[("payout", "compliance.payout.met")] == "4"
        assert figures[("followup", "handoffs.by_agency.legal-aid.completed")] == "1"
        assert figures[("followup", "satisfaction.mean")] == "4.5"
        assert {service for service, _ in figures} == set(SERVICES)
        png = (out / "report.png").read_bytes()
        assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000

        # The same secret is needed: a token from another one is refused, and the report says by whom.
        refused = aidflow_report("--from", "2026-01-01", "--to", "2026-01-31", "--out", str(tmp_path / "x"), *flags,
                                 AIDFLOW_JWT_SECRET="another-secret-of-enough-length-0123456789abcdef")
        assert refused.returncode == 1 and "intake" in refused.stdout and "401" in refused.stdout
    finally:
        system.stop()
    # A service that is down is named, without a traceback.
    down = aidflow_report("--from", "2026-01-01", "--to", "2026-01-31", "--out", str(tmp_path / "y"),
                          *(f"--{name}-url=http://127.0.0.1:{free_port()}" for name in SERVICES))
    assert down.returncode == 1 and "the intake service at http://127.0.0.1:" in down.stdout
    assert "Traceback" not in down.stderr and not (tmp_path / "y").exists()
