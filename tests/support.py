"""Helpers for tests that run the services: build a system, call its APIs, wait for effects."""
from __future__ import annotations

import os
import time
from datetime import date, timedelta

from aidflow.embedded import System
from aidflow.ports import free_port  # noqa: F401 - the tests' servers take their ports here
from aidflow.reviewing import approve_chain, approved_proposal, decide, rejected_proposal  # noqa: F401
from aidflow_intake.checklist import complete_file
from aidflow_intake.identity import check_character
from aidflow_intake.settings import PII_KEY_VARIABLE
from aidflow_shared.auth import mint_token
from aidflow_shared.settings import SERVICES, Settings

TEST_SECRET = "test-secret-for-aidflow-integration-tests-0123456789"
# The deployment's key for personal data at rest, as an operator would set it (32 bytes, base64).
TEST_PII_KEY = "dGVzdC1waWkta2V5LWZvci1haWRmbG93LXRlc3RzLTA="
os.environ.setdefault(PII_KEY_VARIABLE, TEST_PII_KEY)
FAST_RETRIES = dict(max_retries=3, retry_delays=(0.2, 0.4, 0.8), relay_interval=0.05)


def settings_for(tmp_path, *, amqp_url: str = "", db_urls: dict | None = None, **overrides) -> dict[str, Settings]:
    out = {}
    for name in SERVICES:
        values = dict(FAST_RETRIES, service=name, data_dir=tmp_path, amqp_url=amqp_url, jwt_secret=TEST_SECRET,
                      log_json=False)
        if db_urls:
            values["database_url"] = db_urls[name]
        values.update(overrides)
        out[name] = Settings(**values)
    return out


class Running:
    """A started system plus test clients of each service's API."""

    def __init__(self, system: System):
        self.system = system
        self.runtimes = system.runtimes
        self.clients = {name: rt.create_app().test_client() for name, rt in system.runtimes.items()}

    def call(self, method: str, service: str, path: str, role: str, *, agency: str | None = "procuratorate",
             subject: str | None = None, **kw):
        token = mint_token(self.runtimes[service].settings, subject or f"test-{role}", [role], agency,
                           ttl=timedelta(minutes=10))
        return self.clients[service].open(path, method=method, headers={"Authorization": f"Bearer {token}"}, **kw)

    def fund(self, amount_fen: int = 10_000_000_00) -> dict:
        fund = self.call("POST", "payout", "/api/v1/funds", "finance_officer",
                         json={"name": "test fund", "source": "finance_bureau", "year": date.today().year}).get_json()
        return self.call("POST", "payout", f"/api/v1/funds/{fund['fund_id']}/allocations", "finance_officer",
                         json={"amount_fen": amount_fen}).get_json()

    def refer(self, n: int = 0, **changes) -> dict:
        response = self.call("POST", "intake", "/api/v1/referrals", "intake_clerk", json=referral(n, **changes))
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    def open_review(self, case_id: str, timeout: float = 20) -> dict:
        """The case's review once it is open (the case accepted), ready for a decision."""
        def find():
            items = self.call("GET", "review", f"/api/v1/reviews?case_id={case_id}", "reviewer").get_json()["items"]
            return items[0] if items and items[0]["status"] != "awaiting_acceptance" else None
        return wait_until(find, timeout, f"review of case {case_id}")

    def approve(self, review: dict, amount_fen: int = 20_000_00, **proposal):
        """Propose an award of ``amount_fen`` to each beneficiary and approve it up the chain."""
        awards = [{"beneficiary_id": b["beneficiary_id"], "amount_fen": amount_fen} for b in review["beneficiaries"]]
        return self.decide(review, approved_proposal(awards, **proposal))

    def decide(self, review: dict, proposal: dict) -> dict:
        """The reviewer's proposal, then every approval it needs: the review as decided."""
        decided = decide(self.post_review, review["review_id"], proposal)
        assert decided["status"] == "decided", decided
        return decided

    def post_review(self, path: str, role: str, body: dict) -> dict:
        """POST to review's API as ``role``, expecting 201."""
        response = self.call("POST", "review", f"/api/v1{path}", role, json=body)
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    def case_status(self, case_id: str) -> str:
        return self.call("GET", "intake", f"/api/v1/cases/{case_id}", "intake_clerk").get_json()["status"]

    def plans(self, case_id: str) -> list:
        return self.call("GET", "followup", f"/api/v1/plans?case_id={case_id}", "followup_worker").get_json()["items"]

    def stop(self):
        self.system.stop()


def start_system(settings: dict[str, Settings]) -> Running:
    system = System(settings)
    system.start(http=False)
    return Running(system)


def resident_id(n: int, birth: date = date(1980, 5, 17), region: str = "510104") -> str:
    first17 = f"{region}{birth:%Y%m%d}{n % 1000:03d}"
    return first17 + check_character(first17)


def referral(n: int = 0, **changes) -> dict:
    """An ex officio referral with its paperwork complete, accepted (受理) as it is registered.

    Unless ``documents`` is given, the documents are the ones its source and people need, so
    a change of source or beneficiaries still gives a complete checklist.
    """
    body = {
        "source": "ex_officio", "stage": "prosecution_review", "criminal_case_ref": f"川检刑诉〔2026〕{n}号",
        "urgent_medical": False, "summary": "被害人遭故意伤害致重伤，家庭因案致贫。",
        "beneficiaries": [{"name": f"测试{n}", "id_type": "resident_id", "id_number": resident_id(n),
                           "relationship": "victim"}],
        "accept": True,
    }
    body.update(changes)
    if "documents" not in changes:
        body["documents"] = complete_file(body)
    return body


def wait_until(predicate, timeout: float = 20.0, what: str = "condition", interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class IntakeApp:
    """The intake service alone, migrated, with a test client of its API and no background work.

    Nothing is relayed, so what a request emitted stays in the outbox to be read: the events
    are checked where they are written, in the same transaction as the case.
    """

    def __init__(self, settings: Settings):
        from aidflow_intake.service import service
        from aidflow_shared.runtime import ServiceRuntime
        self.runtime = ServiceRuntime(service, settings)
        self.runtime.migrate()
        self.db = self.runtime.db
        self.client = self.runtime.create_app().test_client()

    def call(self, method: str, path: str, role: str = "intake_clerk", *, agency: str | None = "procuratorate",
             subject: str | None = None, **kw):
        token = mint_token(self.runtime.settings, subject or f"test-{role}", [role], agency,
                           ttl=timedelta(minutes=10))
        headers = {"Authorization": f"Bearer {token}", **kw.pop("headers", {})}
        return self.client.open(f"/api/v1{path}", method=method, headers=headers, **kw)

    def post(self, path: str, body, role: str = "intake_clerk", **kw):
        return self.call("POST", path, role, json=body, **kw)

    def get(self, path: str, role: str = "intake_clerk", **kw) -> dict:
        response = self.call("GET", path, role, **kw)
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    def refer(self, body: dict, role: str = "intake_clerk") -> dict:
        response = self.post("/referrals", body, role)
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    def events(self, type_suffix: str = "") -> list[dict]:
        """What intake emitted, oldest first: each the whole envelope, with the routing key."""
        import json
        outbox = self.db.metadata.tables["outbox"]
        with self.db.engine.connect() as conn:
            rows = conn.execute(outbox.select().order_by(outbox.c.id)).all()
        return [{**json.loads(row.body), "routing_key": row.routing_key, "correlation_id": row.correlation_id}
                for row in rows if row.type.endswith(type_suffix)]

    def count(self, table: str) -> int:
        from sqlalchemy import func, select
        with self.db.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(self.db.metadata.tables[table])).scalar()

    def close(self):
        self.runtime.stop()
