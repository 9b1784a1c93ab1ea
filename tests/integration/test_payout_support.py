"""Helpers for payout's tests: a real payout runtime, decisions published on its bus, and the
ledger audited after every test (allocations = available + reserved + paid + recovered, per fund,
from the ledger lines alone, at every line, and against the fund rows).

Imported by the ``test_payout_*`` modules; it has no tests of its own.
"""
from __future__ import annotations

import json
import uuid
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from aidflow_payout import ledger
from aidflow_payout.bootstrap import context
from aidflow_payout.orm import Fund, Payout
from aidflow_payout.service import service as payout_service
from aidflow_shared.auth import mint_token
from aidflow_shared.bus.transport import Outgoing
from aidflow_shared.contracts import EVENTS
from aidflow_shared.contracts.catalogue import DECISION_RECORDED
from aidflow_shared.envelope import new_event
from aidflow_shared.runtime import ServiceRuntime
from aidflow_shared.settings import Settings
from aidflow_shared.vault import new_key
from support import FAST_RETRIES, TEST_SECRET, wait_until

PAYEE_KEY = new_key()


class PayoutUnderTest:
    """One payout runtime (API, consumer, relay and disbursement worker) on real parts."""

    def __init__(self, tmp_path, *, database_url: str, amqp_url: str = "", start: bool = True, **extra):
        values = {"AIDFLOW_PAYOUT_PAYEE_KEY": PAYEE_KEY, "AIDFLOW_PAYOUT_SWEEP_INTERVAL": "0.1"}
        values.update({f"AIDFLOW_PAYOUT_{k.upper()}": str(v) for k, v in extra.items()})
        self.settings = Settings(**FAST_RETRIES, service="payout", data_dir=tmp_path, database_url=database_url,
                                 amqp_url=amqp_url, jwt_secret=TEST_SECRET, log_json=False,
                                 deadline_scan_interval=3600, extra=values)
        self.runtime = ServiceRuntime(payout_service, self.settings)
        self.runtime.migrate()
        self.ctx = context(self.runtime.db)
        self.client = self.runtime.create_app().test_client()
        if start:
            self.runtime.start()

    # -- HTTP -----------------------------------------------------------------------------------

    def call(self, method: str, path: str, role: str = "finance_officer", headers=None, **kw):
        token = mint_token(self.settings, f"test-{role}", [role], "procuratorate", ttl=timedelta(minutes=10))
        return self.client.open(path, method=method, headers={"Authorization": f"Bearer {token}", **(headers or {})},
                                **kw)

    def fund(self, amount_fen: int, *, name: str = "fund", source: str = "finance_bureau") -> dict:
        made = self.call("POST", "/api/v1/funds", json={"name": name, "source": source, "year": date.today().year})
        assert made.status_code == 201, made.get_json()
        if amount_fen:
            allocated = self.call("POST", f"/api/v1/funds/{made.get_json()['fund_id']}/allocations",
                                  json={"amount_fen": amount_fen})
            assert allocated.status_code == 201, allocated.get_json()
            return allocated.get_json()
        return made.get_json()

    # -- the bus --------------------------------------------------------------------------------

    def decide(self, *awards: tuple[str, int], case_id: str | None = None, outcome: str = "approved",
               decision_id: str | None = None, advance: bool = False, envelope=None):
        """Publish review's decision as review would; returns the envelope (publish it again to
        redeliver the very same message)."""
        if envelope is None:
            data = {"decision_id": decision_id or str(uuid.uuid4()), "case_id": case_id or str(uuid.uuid4()),
                    "outcome": outcome, "awards": [{"beneficiary_id": b, "amount_fen": a} for b, a in awards],
                    "total_fen": sum(a for _, a in awards), "reason_code": None if outcome == "approved" else "other",
                    "decided_at": datetime.now(timezone.utc)}
            envelope = new_event(DECISION_RECORDED.type, data, source="/aidflow/review", subject=data["case_id"])
        body = json.loads(envelope.to_json())
        if advance:
            body["data"]["advance"] = True  # the additive field review is to send
        self.runtime.transport.publish([Outgoing(
            exchange=EVENTS, routing_key=DECISION_RECORDED.routing_key(), body=json.dumps(body),
            message_id=envelope.id, type=envelope.type, content_type="application/cloudevents+json")])
        return envelope

    def payouts(self, **where) -> list[Payout]:
        with self.runtime.db.sessions() as session:
            return session.scalars(select(Payout).filter_by(**where).order_by(Payout.approved_at)).all()

    def wait_for(self, status: str, count: int = 1, timeout: float = 30, **where) -> list[Payout]:
        return wait_until(lambda: (found := self.payouts(status=status, **where)) and len(found) >= count and found,
                          timeout, f"{count} payout(s) {status}")

    def funds(self) -> list[Fund]:
        with self.runtime.db.sessions() as session:
            return session.scalars(select(Fund).order_by(Fund.created_at)).all()

    def count(self, model, **where) -> int:
        with self.runtime.db.sessions() as session:
            return session.scalar(select(func.count()).select_from(model).filter_by(**where))

    def outbox(self, type_suffix: str) -> list:
        outbox = self.runtime.db.metadata.tables["outbox"]
        with self.runtime.db.engine.connect() as conn:
            return conn.execute(outbox.select().where(outbox.c.type.like(f"%{type_suffix}"))).all()

    def audit(self) -> None:
        with self.runtime.db.sessions() as session:
            result = ledger.audit(session)
        assert result.ok, result.problems

    def stop(self) -> None:
        self.runtime.stop()


@pytest.fixture
def start_payout(tmp_path):
    """Start payout runtimes; after the test, the ledger of each is audited, then they stop."""
    started: list[PayoutUnderTest] = []

    def start(database_url: str | None = None, **kw) -> PayoutUnderTest:
        url = database_url or f"sqlite:///{tmp_path / 'payout.sqlite3'}"
        running = PayoutUnderTest(tmp_path, database_url=url, **kw)
        started.append(running)
        return running

    yield start
    try:
        for running in started:
            running.audit()
    finally:
        for running in started:
            running.stop()
