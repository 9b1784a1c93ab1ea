"""The commands operators run, as plain processes: what docker-compose and ``make run`` start.

- one process per role and service (``migrate``, ``api`` under gunicorn, ``worker``) on
  RabbitMQ and PostgreSQL, the way the compose file wires them;
- ``aidflow run`` (the embedded default) with ``aidflow demo`` feeding it, stopped and started
  again without losing a case.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

import pytest
import requests

from aidflow.reviewing import DECIDING_ROLES
from aidflow_followup.settings import CONTACT_KEY_VARIABLE
from aidflow_intake.settings import PII_KEY_VARIABLE
from aidflow_payout.settings import PAYEE_KEY_VARIABLE
from aidflow_shared.auth import mint_token
from aidflow_shared.settings import SERVICES, Settings
from aidflow_shared.vault import new_key
from support import TEST_PII_KEY, TEST_SECRET, approved_proposal, decide, free_port, referral, wait_until

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent


class Processes:
    def __init__(self, env: dict, workdir: Path):
        self.env = env
        self.workdir = workdir
        self.running: list[subprocess.Popen] = []

    def run(self, *command: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([str(BIN / command[0]), *command[1:]], env=self.env, cwd=self.workdir,
                              capture_output=True, text=True, timeout=timeout)

    def start(self, *command: str, name: str) -> subprocess.Popen:
        log = open(self.workdir / f"{name}.log", "w")
        process = subprocess.Popen([str(BIN / command[0]), *command[1:]], env=self.env, cwd=self.workdir,
                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.running.append(process)
        return process

    def stop_all(self):
        for process in self.running:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.running:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        self.running.clear()

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in self.workdir.glob("*.log"))


@contextmanager
def processes(env: dict, workdir: Path):
    procs = Processes(env, workdir)
    try:
        yield procs
    except Exception:
        print(procs.logs())
        raise
    finally:
        procs.stop_all()


def ready(url: str) -> bool:
    try:
        return requests.get(url + "/readyz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def base_env(tmp_path: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIDFLOW_", "DATABASE_URL", "AMQP_URL"))}
    env.update(AIDFLOW_JWT_SECRET=TEST_SECRET, AIDFLOW_DATA_DIR=str(tmp_path / "data"), AIDFLOW_LOG_LEVEL="WARNING",
               AIDFLOW_RELAY_INTERVAL="0.1")
    for name in SERVICES:
        env[f"AIDFLOW_{name.upper()}_PORT"] = str(free_port())
    return env


class Api:
    def __init__(self, env: dict):
        settings = Settings.from_env("intake", env)
        self.ports = {name: int(env[f"AIDFLOW_{name.upper()}_PORT"]) for name in SERVICES}
        self.tokens = {role: mint_token(settings, f"test-{role}", [role], "procuratorate", ttl=timedelta(minutes=30))
                       for role in ("intake_clerk", "finance_officer", "followup_worker") + DECIDING_ROLES}

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def call(self, method, service, path, role, **kw):
        response = requests.request(method, self.url(service) + path, timeout=10,
                                    headers={"Authorization": f"Bearer {self.tokens[role]}"}, **kw)
        assert response.status_code < 400, response.text
        return response.json()

    def approve(self, review: dict, amount_fen: int) -> dict:
        """The reviewer's proposal to award ``amount_fen`` to each beneficiary, and its approvals."""
        awards = [{"beneficiary_id": b["beneficiary_id"], "amount_fen": amount_fen} for b in review["beneficiaries"]]
        return decide(lambda path, role, body: self.call("POST", "review", "/api/v1" + path, role, json=body),
                      review["review_id"], approved_proposal(awards))


def test_one_process_per_role_and_service_on_rabbitmq_and_postgresql(tmp_path, broker, pg_database):
    env = base_env(tmp_path)
    env["AMQP_URL"] = broker.url
    # A deployment on a broker must bring its keys for personal data: it refuses to start without them.
    env.update({PII_KEY_VARIABLE: TEST_PII_KEY, PAYEE_KEY_VARIABLE: new_key(), CONTACT_KEY_VARIABLE: new_key()})
    for name in SERVICES:
        env[f"AIDFLOW_{name.upper()}_DATABASE_URL"] = pg_database(name)
    api = Api(env)
    with processes(env, tmp_path) as procs:
        for name in SERVICES:
            done = procs.run(f"aidflow-{name}", "migrate")
            assert done.returncode == 0, done.stderr
        health = {}
        for name in SERVICES:
            procs.start(f"aidflow-{name}", "api", "--workers", "1", name=f"{name}-api")
            health[name] = free_port()
            procs.start(f"aidflow-{name}", "worker", "--port", str(health[name]), name=f"{name}-worker")
        for name in SERVICES:
            wait_until(lambda: ready(api.url(name)), 60, f"{name} api ready")
            wait_until(lambda: ready(f"http://127.0.0.1:{health[name]}"), 60, f"{name} worker ready")
            metrics = requests.get(f"http://127.0.0.1:{health[name]}/metrics", timeout=5).text
            assert "aidflow_bus_connected" in metrics

        fund = api.call("POST", "payout", "/api/v1/funds", "finance_officer",
                        json={"name": "fund", "source": "finance_bureau", "year": date.today().year})
        api.call("POST", "payout", f"/api/v1/funds/{fund['fund_id']}/allocations", "finance_officer",
                 json={"amount_fen": 100_000_00})
        case = api.call("POST", "intake", "/api/v1/referrals", "intake_clerk", json=referral(1))
        review = wait_until(lambda: api.call("GET", "review", f"/api/v1/reviews?case_id={case['case_id']}&status=open",
                                             "reviewer")["items"], 60, "the review, open once accepted")[0]
        api.approve(review, 9_000_00)
        wait_until(lambda: api.call("GET", "followup", f"/api/v1/plans?case_id={case['case_id']}",
                                    "followup_worker")["items"], 60, "the plan")
        wait_until(lambda: api.call("GET", "intake", f"/api/v1/cases/{case['case_id']}",
                                    "intake_clerk")["status"] == "in_followup", 60, "intake to see it through")

        listing = procs.run("aidflow-review", "parked")
        assert listing.returncode == 0 and "0 parked in aidflow.review.parking" in listing.stdout, listing.stderr


def test_make_run_and_make_demo_as_a_newcomer_runs_them(tmp_path):
    """``aidflow run`` (embedded, no servers), fed by ``aidflow demo``; a restart keeps every case."""
    env = base_env(tmp_path)
    api = Api(env)
    with processes(env, tmp_path) as procs:
        system = procs.start("aidflow", "run", name="run")
        wait_until(lambda: all(ready(api.url(n)) for n in SERVICES), 60, "aidflow run to be ready")
        demo = procs.run("aidflow", "demo", "--count", "4", "--rate", "8", "--timeout", "60", "--seed", "7")
        assert demo.returncode == 0, demo.stdout + demo.stderr
        assert "4/4 cases settled" in demo.stdout
        cases = api.call("GET", "intake", "/api/v1/cases", "intake_clerk")
        assert cases["total"] == 4
        os.killpg(system.pid, signal.SIGTERM)
        assert system.wait(30) == 0
        procs.start("aidflow", "run", name="run-again")
        wait_until(lambda: all(ready(api.url(n)) for n in SERVICES), 60, "aidflow run to come back")
        again = api.call("GET", "intake", "/api/v1/cases", "intake_clerk")
        assert {c["case_id"]: c["status"] for c in again["items"]} == {c["case_id"]: c["status"] for c in cases["items"]}
        assert "http://127.0.0.1" in (tmp_path / "run.log").read_text()
