"""The compose deployment, run as plain processes: no container engine needed to know it works.

Everything comes from the deployment files themselves, so the test cannot drift from them:

- the broker gets deploy/rabbitmq/definitions.json (in a fresh vhost, users under a unique
  prefix) and every service connects as its own broker user, with the permissions it has there;
- PostgreSQL gets its databases and roles from deploy/postgres/init-databases.sh (names under a
  unique prefix) and every service connects as its own role;
- each process runs the command docker-compose.yml gives it, read from that file, with that
  file's environment. Only addresses change: host names, ports, vhost and database names (a
  worker's ``--port`` value too, as every container has its own network and these share one).

Review and payout run two API and two worker processes each, as competing consumers; a handful
of cases go from referral to follow-up over HTTP, spread over the replicas; every process's
/metrics is read.
"""
from __future__ import annotations

import os
import re
import subprocess
import uuid
from contextlib import ExitStack
from datetime import date
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families

from aidflow_shared.vault import new_key
from conftest import PG_ADMIN, _reachable, _unavailable, rabbitmqctl
from support import TEST_SECRET, referral, wait_until
from test_deploy_rabbitmq import definitions_on_broker, make_definitions  # noqa: F401 (a fixture)
from test_processes import Api, base_env, free_port, processes, ready

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("intake", "review", "payout", "followup")
REPLICAS = {"intake": 1, "review": 2, "payout": 2, "followup": 1}
CASES = 4


def interpolate(text: str, environ: dict) -> str:
    """Compose's variable substitution: ${VAR}, ${VAR:-default}, ${VAR:?error}, $$."""
    def one(match):
        name, op, arg = match.group(1), match.group(2), match.group(3)
        value = environ.get(name, "")
        if op == ":-":
            return value or arg
        if op == ":?" and not value:
            raise KeyError(f"{name}: {arg}")
        return value
    return re.sub(r"\$\{(\w+)(?:(:-|:\?)([^}]*))?\}", one, text).replace("$$", "$")


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text("utf-8"))["services"]


@pytest.fixture
def service_databases():
    """The service databases and roles, made by deploy/postgres/init-databases.sh; {service: URL part}."""
    if not _reachable(PG_ADMIN.replace("postgresql+psycopg", "postgresql"), 5432):
        _unavailable("PostgreSQL")
    import psycopg
    from sqlalchemy.engine import make_url

    admin = make_url(PG_ADMIN)
    prefix = f"aidflow_test_{uuid.uuid4().hex[:8]}_"
    postgres_env = {k: interpolate(str(v), {}) for k, v in compose()["postgres"]["environment"].items()}
    env = dict(os.environ, PGHOST=admin.host or "127.0.0.1", PGPORT=str(admin.port or 5432),
               POSTGRES_USER=admin.username or "postgres", POSTGRES_DB=admin.database or "postgres",
               AIDFLOW_DB_PREFIX=prefix, **{k: v for k, v in postgres_env.items() if k.startswith("AIDFLOW_DB_")})
    if admin.password:
        env["PGPASSWORD"] = admin.password
    try:
        made = subprocess.run(["bash", str(ROOT / "deploy/postgres/init-databases.sh")], env=env,
                              capture_output=True, text=True, timeout=120)
    except FileNotFoundError:
        _unavailable("bash")
    if made.returncode != 0 and "psql" in made.stderr and "not found" in made.stderr:
        _unavailable("psql (to run the database init script)")
    conninfo = dict(host=env["PGHOST"], port=int(env["PGPORT"]), user=env["POSTGRES_USER"], dbname=env["POSTGRES_DB"],
                    autocommit=True, password=admin.password or None)
    try:
        assert made.returncode == 0, made.stdout + made.stderr
        yield prefix, admin
    finally:
        with psycopg.connect(**{k: v for k, v in conninfo.items() if v is not None}) as conn:
            for service in SERVICES:
                conn.execute(f'DROP DATABASE IF EXISTS "{prefix}{service}" WITH (FORCE)')
                conn.execute(f'DROP ROLE IF EXISTS "{prefix}{service}"')


def local_environment(service: str, broker, databases, secrets: dict) -> dict:
    """The compose environment of ``service`` with its addresses pointed at the local servers."""
    prefix, admin = databases
    raw = compose()[f"{service}-api"]["environment"]
    env = {k: interpolate(str(v), secrets) for k, v in raw.items()}
    amqp = urlsplit(env["AMQP_URL"])
    assert amqp.path == f"/{make_definitions['VHOST']}"
    assert amqp.password == make_definitions["dev_password"](amqp.username)
    env["AMQP_URL"] = broker.url(amqp.username)
    db = urlsplit(env["DATABASE_URL"])
    env["DATABASE_URL"] = (f"{db.scheme}://{quote(prefix + db.username)}:{db.password}@{admin.host or '127.0.0.1'}:"
                           f"{admin.port or 5432}/{prefix}{db.path.lstrip('/')}")
    return env


def scrape(url: str) -> dict[tuple[str, tuple], float]:
    text = requests.get(url + "/metrics", timeout=10).text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples: dict, name: str, **labels) -> float:
    return sum(v for (n, ls), v in samples.items() if n == name and labels.items() <= dict(ls).items())


def test_the_compose_deployment_as_processes_two_replicas_of_review_and_payout(
        tmp_path, definitions_on_broker, service_databases):  # noqa: F811
    broker = definitions_on_broker
    services = compose()
    common = base_env(tmp_path)
    # What an operator must set before `docker compose up` (the compose file refuses to start without).
    secrets = {"AIDFLOW_JWT_SECRET": TEST_SECRET, "AIDFLOW_INTAKE_PII_KEY": new_key(),
               "AIDFLOW_PAYOUT_PAYEE_KEY": new_key(), "AIDFLOW_FOLLOWUP_CONTACT_KEY": new_key()}
    # Each replica's API listens on a port of its own (in a container: the image's port).
    replica_envs = {}
    for service in SERVICES:
        env = {**common, **local_environment(service, broker, service_databases, secrets)}
        for replica in range(REPLICAS[service]):
            replica_envs[service, replica] = dict(env, **{f"AIDFLOW_{service.upper()}_PORT": str(free_port())})

    def url(service, replica, role="api"):
        return f"http://127.0.0.1:{ports[service, replica, role]}"

    ports = {}
    with ExitStack() as stack:
        for service in SERVICES:
            migrate = services[f"{service}-migrate"]["command"]
            procs = stack.enter_context(processes(replica_envs[service, 0], _dir(tmp_path, f"{service}-migrate")))
            done = procs.run(*migrate)
            assert done.returncode == 0, done.stderr
        for (service, replica), env in replica_envs.items():
            api = services[f"{service}-api"]["command"]
            worker = list(services[f"{service}-worker"]["command"])
            ports[service, replica, "api"] = int(env[f"AIDFLOW_{service.upper()}_PORT"])
            ports[service, replica, "worker"] = free_port()
            assert worker[-2] == "--port"
            worker[-1] = str(ports[service, replica, "worker"])
            for role, command in (("api", api), ("worker", worker)):
                workdir = _dir(tmp_path, f"{service}-{role}-{replica}")
                stack.enter_context(processes(env, workdir)).start(*command, name=role)
        for service, replica, role in ports:
            wait_until(lambda: ready(url(service, replica, role)), 90, f"{service} {role} {replica} ready")
        # Competing consumers: both replicas hold a consumer on the service's queue.
        for service in SERVICES:
            wait_until(lambda: _consumers(broker.vhost, f"aidflow.{service}") == REPLICAS[service], 60,
                       f"{REPLICAS[service]} consumer(s) on aidflow.{service}")

        def client(replica: int) -> Api:
            """Calls go to this replica of every service (to the only one where there is one)."""
            return Api(dict(common, **{f"AIDFLOW_{s.upper()}_PORT": str(ports[s, min(replica, REPLICAS[s] - 1), "api"])
                                       for s in SERVICES}))

        drive_cases_to_followup([client(0), client(1)])

        # Every process answers /metrics; every worker holds its broker connection; both
        # replicas of review and payout took a share of the work.
        metrics = {key: scrape(url(*key)) for key in ports}
        for (service, replica, role), samples in metrics.items():
            assert any(name == "aidflow_deadline_open" for name, _ in samples), (service, replica, role)
            if role == "worker":
                assert value(samples, "aidflow_bus_connected", service=service) == 1, (service, replica)
        for service in ("review", "payout"):
            handled = [value(metrics[service, r, "worker"], "aidflow_bus_consumed_total", service=service,
                             outcome="handled") for r in range(2)]
            assert all(n >= 1 for n in handled) and sum(handled) >= CASES, (service, handled)
        assert value(metrics["payout", 0, "worker"], "aidflow_outbox_backlog", service="payout") == 0

        # Each service is connected as its own broker user, nothing as an administrator.
        users = set(rabbitmqctl("list_connections", "-q", "vhost", "user").stdout.split())
        mine = {u for u in users if u.startswith(broker.prefix)}
        assert mine == {broker.user(f"aidflow-{s}") for s in SERVICES}


def drive_cases_to_followup(replicas: list[Api]) -> None:
    """A fund, then CASES referrals approved and followed up, the calls spread over the replicas."""
    first, second = replicas
    fund = second.call("POST", "payout", "/api/v1/funds", "finance_officer",
                       json={"name": "fund", "source": "finance_bureau", "year": date.today().year})
    first.call("POST", "payout", f"/api/v1/funds/{fund['fund_id']}/allocations", "finance_officer",
               json={"amount_fen": 100_000_00})
    cases = [first.call("POST", "intake", "/api/v1/referrals", "intake_clerk", json=referral(100 + n))
             for n in range(CASES)]
    for n, case in enumerate(cases):
        reader, decider = replicas[n % 2], replicas[(n + 1) % 2]

        def open_review():
            items = reader.call("GET", "review", f"/api/v1/reviews?case_id={case['case_id']}", "reviewer")["items"]
            return [r for r in items if r["status"] == "open"]
        review = wait_until(open_review, 60, "the review to open (the case accepted)")[0]
        decider.approve(review, 9_000_00)
    for case in cases:
        wait_until(lambda: first.call("GET", "intake", f"/api/v1/cases/{case['case_id']}",
                                      "intake_clerk")["status"] == "in_followup", 90, "the case to reach follow-up")
        assert first.call("GET", "followup", f"/api/v1/plans?case_id={case['case_id']}", "followup_worker")["items"]


def _dir(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    path.mkdir()
    return path


def _consumers(vhost: str, queue: str) -> int:
    for line in rabbitmqctl("list_queues", "-q", "-p", vhost, "name", "consumers").stdout.splitlines():
        name, _, count = line.partition("\t")
        if name == queue:
            return int(count)
    return 0
