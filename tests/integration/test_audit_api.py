"""The audit log as a service keeps it: one entry per authenticated API call, reads of personal data
marked, exported to auditors only, append-only in the database, and tampering found by the API's
verification and by ``aidflow-intake audit verify``."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from aidflow_intake.service import service as intake_service
from aidflow_shared.cli import service_main
from support import IntakeApp, referral, settings_for


@pytest.fixture
def intake(database_url, tmp_path):
    app = IntakeApp(settings_for(tmp_path, db_urls={name: database_url for name in
                                                    ("intake", "review", "payout", "followup")})["intake"])
    yield app
    app.runtime.stop()


def entries(intake, **params):
    response = intake.call("GET", "/audit", "auditor", query_string=params)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def drop_append_only_guard(db):
    """What only someone with the database owner's rights could do; the chain must still tell."""
    with db.writer.connect() as conn, conn.begin():
        if db.dialect == "postgresql":
            conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"))
        else:
            conn.execute(text("DROP TRIGGER audit_log_no_update"))


def test_each_call_is_recorded_with_who_what_which_case_and_how_it_ended(intake):
    case = intake.post("/referrals", referral(1), subject="clerk-li")
    assert case.status_code == 201
    case_id = case.get_json()["case_id"]
    assert intake.call("GET", f"/cases/{case_id}", "reviewer", subject="reviewer-wang").status_code == 200
    assert intake.call("GET", f"/cases/{case_id}/documents", "reviewer").status_code == 200
    assert intake.call("PUT", "/agencies/legal-aid", "finance_officer", json={}).status_code == 403
    assert intake.client.get(f"/api/v1/cases/{case_id}").status_code == 401  # no one to attribute it to

    items = entries(intake)["items"]
    registered, read, documents, refused = items[:4]
    assert registered["actor"] == "clerk-li" and registered["actor_roles"] == "intake_clerk"
    assert registered["action"] == "POST /api/v1/referrals" and registered["status"] == 201
    assert read == {**read, "actor": "reviewer-wang", "action": "GET /api/v1/cases/<case_id>", "target_type": "case",
                    "target_id": case_id, "outcome": "ok", "status": 200, "pii": True}
    assert documents["pii"] is False  # the checklist names documents, not people
    assert refused == {**refused, "outcome": "refused", "status": 403, "pii": False, "target_id": "legal-aid"}
    assert len(items) == 4
    assert entries(intake, after=4)["items"][0]["action"] == "GET /api/v1/audit"  # the export is a read too
    # Nothing personal in the log: not the name, not the ID number.
    person = referral(1)["beneficiaries"][0]
    dumped = json.dumps(items, ensure_ascii=False)
    assert person["name"] not in dumped and person["id_number"] not in dumped


def test_a_change_and_its_entry_commit_together_or_not_at_all(intake):
    """A write's entry is the last statement of the write's own transaction: one entry per call,
    and a transaction that fails at its commit leaves neither the change nor an "ok" entry, only
    the entry of the failed call."""
    assert intake.post("/referrals", referral(1)).status_code == 201
    [registered] = entries(intake)["items"]
    assert (registered["action"], registered["outcome"], registered["status"]) == ("POST /api/v1/referrals", "ok", 201)

    def fail_at_commit(uow):
        raise RuntimeError("the database went away at COMMIT")
    intake.runtime.uow_hooks.append(lambda uow: uow.before_commit(fail_at_commit))  # after the audit entry's
    intake.client.application.config["PROPAGATE_EXCEPTIONS"] = False
    try:
        assert intake.post("/referrals", referral(2)).status_code == 500
    finally:
        intake.runtime.uow_hooks.pop()
    assert intake.call("GET", "/cases", "intake_clerk").get_json()["total"] == 1
    items = entries(intake)["items"]
    assert [(e["action"], e["outcome"], e["status"]) for e in items[1:]] == [
        ("GET /api/v1/audit", "ok", 200), ("POST /api/v1/referrals", "failed", 500), ("GET /api/v1/cases", "ok", 200)]
    assert intake.call("GET", "/audit/verification", "auditor").get_json()["ok"]


def test_only_auditors_export_and_the_export_is_paged(intake):
    for _ in range(4):
        intake.call("GET", "/cases", "intake_clerk")
    assert intake.call("GET", "/audit", "chief_procurator").status_code == 403
    first = entries(intake, limit=3)
    assert [e["seq"] for e in first["items"]] == [1, 2, 3] and first["next_after"] == 3
    rest = entries(intake, after=3, limit=100)
    assert [e["seq"] for e in rest["items"]][:3] == [4, 5, 6] and rest["next_after"] is None
    assert intake.call("GET", "/audit", "auditor", query_string={"limit": 0}).status_code == 400


def test_the_database_refuses_to_change_or_delete_an_entry(intake):
    intake.call("GET", "/cases", "intake_clerk")
    for statement in ("UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log"):
        with pytest.raises(Exception, match="append-only"):
            with intake.db.writer.connect() as conn, conn.begin():
                conn.execute(text(statement))


def test_a_tampered_entry_is_found_by_the_api_and_the_command_line(intake, database_url, monkeypatch, capsys):
    for _ in range(3):
        intake.call("GET", "/cases", "intake_clerk")
    verified = intake.call("GET", "/audit/verification", "auditor").get_json()
    assert verified["ok"] and verified["entries"] == 3

    monkeypatch.setenv("AIDFLOW_INTAKE_DATABASE_URL", database_url)
    assert service_main(intake_service, ["audit", "verify"]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True

    drop_append_only_guard(intake.db)
    with intake.db.writer.connect() as conn, conn.begin():
        conn.execute(text("UPDATE audit_log SET actor = 'nobody' WHERE seq = 2"))
    verified = intake.call("GET", "/audit/verification", "auditor").get_json()
    assert not verified["ok"] and verified["broken_at"] == 2 and "changed" in verified["reason"]

    assert service_main(intake_service, ["audit", "verify"]) == 1
    assert json.loads(capsys.readouterr().out)["broken_at"] == 2
    assert service_main(intake_service, ["audit", "export", "--after", "3"]) == 0
    exported = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [e["seq"] for e in exported] == [4, 5]  # the two verifications asked through the API
