"""The broker's definitions and configuration, on a real RabbitMQ.

- deploy/rabbitmq/definitions.json is what make-definitions.py makes from the development
  passwords, and its hashes are RabbitMQ's own (the broker authenticates with them);
- imported into a fresh vhost (users under a unique prefix, removed afterwards), a partner agency
  can do exactly what DESIGN.md allows: publish to aidflow.inbound in its own name and under its
  own routing keys, read its own queue; a poison message for it ends in its dead-letter queue;
- a separate RabbitMQ node booted with deploy/rabbitmq/rabbitmq.conf and enabled_plugins loads
  the definitions at boot, answers the compose health check and serves every rabbitmq_* metric
  the dashboards and alert rules query.
"""
from __future__ import annotations

import json
import os
import runpy
import shutil
import signal
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit

import pika
import pika.exceptions
import pytest
import requests
import yaml

from conftest import AMQP_BASE, _reachable, _unavailable, rabbitmqctl
from support import free_port, wait_until
from test_deploy_metrics import all_queries, metric_names

ROOT = Path(__file__).resolve().parents[2]
RABBITMQ = ROOT / "deploy/rabbitmq"
make_definitions = runpy.run_path(str(RABBITMQ / "make-definitions.py"), run_name="make_definitions")


def committed() -> dict:
    return json.loads((RABBITMQ / "definitions.json").read_text("utf-8"))


def without_hashes(definitions: dict) -> dict:
    copy = json.loads(json.dumps(definitions))
    for user in copy["users"]:
        user.pop("password_hash")
    return copy


# -- the file --------------------------------------------------------------------------------------

def test_the_committed_definitions_are_what_the_script_makes_from_the_development_passwords():
    dev = {user: make_definitions["dev_password"](user) for user in make_definitions["users"]()}
    assert without_hashes(committed()) == without_hashes(make_definitions["definitions"](dev))
    for user in committed()["users"]:
        assert user["hashing_algorithm"] == "rabbit_password_hashing_sha256"
        assert make_definitions["check_password"](dev[user["name"]], user["password_hash"]), user["name"]
        assert "impersonator" not in user["tags"]


def test_the_script_takes_real_passwords_from_an_env_file(tmp_path):
    env = tmp_path / "secrets.env"
    names = [make_definitions["password_variable"](u) for u in make_definitions["users"]()]
    env.write_text("".join(f"{name}=s3cret-{i}\n" for i, name in enumerate(names)))
    out = tmp_path / "definitions.json"
    done = subprocess.run([sys.executable, str(RABBITMQ / "make-definitions.py"), "--env-file", str(env),
                           "--require-all", "--output", str(out)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    made = {u["name"]: u["password_hash"] for u in json.loads(out.read_text())["users"]}
    for i, user in enumerate(make_definitions["users"]()):
        assert make_definitions["check_password"](f"s3cret-{i}", made[user])
    assert "s3cret" not in out.read_text()

    env.write_text(f"{names[0]}=only-one\n")
    done = subprocess.run([sys.executable, str(RABBITMQ / "make-definitions.py"), "--env-file", str(env),
                           "--require-all"], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and names[1] in done.stderr
    env.write_text(f"{names[0]}=has@at\n")
    done = subprocess.run([sys.executable, str(RABBITMQ / "make-definitions.py"), "--env-file", str(env)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "URL-safe" in done.stderr


def test_compose_passes_each_service_the_password_of_its_own_broker_user():
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    for name in ("intake", "review", "payout", "followup"):
        url = urlsplit(services[f"{name}-migrate"]["environment"]["AMQP_URL"])
        user = make_definitions["service_user"](name)
        assert url.username == user and url.path == f"/{make_definitions['VHOST']}"
        variable = make_definitions["password_variable"](user)
        assert url.password == f"${{{variable}:-{make_definitions['dev_password'](user)}}}"


# -- on the broker ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Imported:
    """The definitions imported into a fresh vhost, every user's name with a unique prefix."""

    vhost: str
    prefix: str

    def user(self, name: str) -> str:
        return self.prefix + name

    def url(self, name: str) -> str:
        password = make_definitions["dev_password"](name)
        parts = urlsplit(AMQP_BASE)
        return (f"{parts.scheme}://{quote(self.user(name), safe='')}:{password}@{parts.hostname}:{parts.port or 5672}"
                f"/{quote(self.vhost, safe='')}")

    def connect(self, name: str) -> pika.BlockingConnection:
        return pika.BlockingConnection(pika.URLParameters(self.url(name)))


def import_definitions(definitions: dict) -> Imported:
    """Import ``definitions`` renamed into a fresh vhost; the caller removes it with ``remove``."""
    run = uuid.uuid4().hex[:8]
    imported = Imported(vhost=f"aidflow-test-defs-{run}", prefix=f"aidflow-test-{run}-")
    renamed = json.loads(json.dumps(definitions))
    renamed["vhosts"] = [{"name": imported.vhost}]
    for section, entries in renamed.items():
        for entry in entries:
            if "vhost" in entry:
                entry["vhost"] = imported.vhost
            if "user" in entry:
                entry["user"] = imported.user(entry["user"])
            if section == "users":
                entry["name"] = imported.user(entry["name"])
    # On standard input: rabbitmqctl may run as another user, who cannot read the test's files.
    subprocess.run(["rabbitmqctl", "import_definitions", "--format", "json"], input=json.dumps(renamed),
                   capture_output=True, text=True, timeout=60, check=True)

    def complete():  # the import runs in the background
        users = rabbitmqctl("list_users", "-q", check=False).stdout
        queues = rabbitmqctl("list_queues", "-q", "-p", imported.vhost, "name", check=False).stdout
        return (all(imported.user(u["name"]) in users for u in definitions["users"])
                and all(q["name"] in queues for q in definitions["queues"]))
    wait_until(complete, 60, "the definitions to be imported", interval=0.5)
    return imported


def remove(imported: Imported, definitions: dict) -> None:
    commands = [("delete_vhost", imported.vhost)] + [("delete_user", imported.user(u["name"])) for u in definitions["users"]]
    with ThreadPoolExecutor(8) as pool:  # each rabbitmqctl takes most of a second to start
        list(pool.map(lambda args: rabbitmqctl(*args, check=False), commands))


@pytest.fixture(scope="module")
def definitions_on_broker():
    """The definitions on the local broker, shared by the tests below (each uses other agencies)."""
    if not _reachable(AMQP_BASE, 5672):
        _unavailable("RabbitMQ")
    if shutil.which("rabbitmqctl") is None:
        _unavailable("rabbitmqctl (to import the definitions)")
    definitions = committed()
    imported = import_definitions(definitions)
    yield imported
    remove(imported, definitions)


def properties(user_id: str, **kw) -> pika.BasicProperties:
    return pika.BasicProperties(content_type="application/cloudevents+json", delivery_mode=2, user_id=user_id, **kw)


def refused(action) -> str:
    """Run ``action``; return the reply text of the channel or connection error that refused it."""
    with pytest.raises((pika.exceptions.ChannelClosedByBroker, pika.exceptions.ConnectionClosedByBroker)) as caught:
        action()
    return caught.value.reply_text


def test_a_partner_may_send_commands_in_its_own_name_and_read_only_its_own_queue(definitions_on_broker):
    broker = definitions_on_broker
    partner = broker.user("poverty-bureau")
    with broker.connect("aidflow-admin") as admin_conn:
        admin = admin_conn.channel()
        admin.queue_declare("inbound-probe", exclusive=True)
        admin.queue_bind("inbound-probe", "aidflow.inbound", "#")

        with broker.connect("poverty-bureau") as conn:
            channel = conn.channel()
            channel.confirm_delivery()
            channel.basic_publish("aidflow.inbound", "poverty-bureau.referral.submit.v1", b"{}", properties(partner))
        method, props, _ = _get(admin, "inbound-probe")
        assert method.routing_key == "poverty-bureau.referral.submit.v1" and props.user_id == partner

        def publish(exchange, key, user_id=partner):
            with broker.connect("poverty-bureau") as conn:
                channel = conn.channel()
                channel.confirm_delivery()
                channel.basic_publish(exchange, key, b"{}", properties(user_id))

        # In another agency's name: the broker checks user_id against the connection's user.
        assert "PRECONDITION_FAILED" in refused(lambda: publish("aidflow.inbound", "poverty-bureau.referral.submit.v1",
                                                                broker.user("civil-affairs")))
        # Under another agency's routing key (topic permission), or anywhere but aidflow.inbound.
        assert "ACCESS_REFUSED" in refused(lambda: publish("aidflow.inbound", "civil-affairs.referral.submit.v1"))
        assert "ACCESS_REFUSED" in refused(lambda: publish("aidflow.events", "intake.case.opened.v1"))
        assert "ACCESS_REFUSED" in refused(lambda: publish("", "aidflow.intake"))
        assert admin.queue_declare("inbound-probe", passive=True).method.message_count == 0

    with broker.connect("poverty-bureau") as conn:
        channel = conn.channel()
        assert channel.basic_get("aidflow.partner.poverty-bureau")[0] is None  # its own: allowed, empty
    for action in (lambda ch: ch.basic_get("aidflow.partner.civil-affairs"),
                   lambda ch: ch.basic_get("aidflow.intake"),
                   lambda ch: ch.queue_declare("my-own-queue"),
                   lambda ch: ch.queue_delete("aidflow.partner.poverty-bureau")):
        with broker.connect("poverty-bureau") as conn:
            assert "ACCESS_REFUSED" in refused(lambda: action(conn.channel()))


def _get(channel, queue, *, ack=True, timeout=10.0):
    """The next message of ``queue``, waiting for it; ``ack=False`` leaves it to the caller to settle."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        method, props, body = channel.basic_get(queue, auto_ack=ack)
        if method is not None:
            return method, props, body
        time.sleep(0.05)
    raise AssertionError(f"nothing arrived in {queue}")


def test_what_the_system_sends_a_partner_reaches_only_that_partner(definitions_on_broker):
    broker = definitions_on_broker
    with broker.connect("aidflow-followup") as conn:
        channel = conn.channel()
        channel.confirm_delivery()
        channel.basic_publish("aidflow.partners", "civil-affairs.handoff.requested.v1", b"{}",
                              properties(broker.user("aidflow-followup")))
        # A service may not forge a partner's command.
        assert "ACCESS_REFUSED" in refused(lambda: channel.basic_publish(
            "aidflow.inbound", "civil-affairs.referral.submit.v1", b"{}", properties(broker.user("aidflow-followup"))))
    with broker.connect("civil-affairs") as conn:
        method, _, _ = _get(conn.channel(), "aidflow.partner.civil-affairs")
        assert method.routing_key == "civil-affairs.handoff.requested.v1"
    with broker.connect("aidflow-admin") as conn:
        channel = conn.channel()
        for agency in ("poverty-bureau", "youth-league"):
            assert channel.queue_declare(f"aidflow.partner.{agency}", passive=True).method.message_count == 0


def test_a_message_a_partner_cannot_take_ends_in_its_dead_letter_queue(definitions_on_broker):
    broker = definitions_on_broker
    limit = committed()["policies"][1]["definition"]["delivery-limit"]
    with broker.connect("aidflow-intake") as conn:
        channel = conn.channel()
        channel.confirm_delivery()
        channel.basic_publish("aidflow.partners", "legal-aid.referral.accepted.v1", b"poison",
                              properties(broker.user("aidflow-intake")))
    with broker.connect("legal-aid") as conn:
        channel = conn.channel()
        for _ in range(limit + 1):  # a partner client that crashes on it every time
            method, _, _ = _get(channel, "aidflow.partner.legal-aid", ack=False)
            channel.basic_nack(method.delivery_tag, requeue=True)
        method, _, body = _get(channel, "aidflow.partner.legal-aid.dead")
        assert body == b"poison" and method.routing_key == "legal-aid.referral.accepted.v1"
        assert channel.basic_get("aidflow.partner.legal-aid")[0] is None


# -- a node booted with our configuration ----------------------------------------------------------

@dataclass
class Node:
    name: str
    env: dict
    bin: Path
    amqp: int
    management: int
    prometheus: int

    def cli(self, tool: str, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(self.bin / tool), "-n", self.name, *args], env=self.env, capture_output=True,
                              text=True, timeout=60)


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    """A RabbitMQ node of its own, started from deploy/rabbitmq as the compose file mounts it.

    Only addresses and paths differ: its ports are free ones on 127.0.0.1 and the definitions
    path points into the repository instead of /etc/rabbitmq."""
    wrapper = shutil.which("rabbitmq-server")
    if wrapper is None:
        _unavailable("rabbitmq-server (to boot a node with the deploy configuration)")
    bin_dir = Path(wrapper).resolve().parent
    work = tmp_path_factory.mktemp("rabbitmq-node")
    ports = {"amqp": free_port(), "management": free_port(), "prometheus": free_port(), "dist": free_port()}
    conf = (RABBITMQ / "rabbitmq.conf").read_text()
    replaced = {"load_definitions = /etc/rabbitmq/definitions.json": f"load_definitions = {RABBITMQ / 'definitions.json'}",
                "listeners.tcp.default = 5672": f"listeners.tcp.default = 127.0.0.1:{ports['amqp']}",
                "management.tcp.port = 15672": f"management.tcp.port = {ports['management']}",
                "prometheus.tcp.port = 15692": f"prometheus.tcp.port = {ports['prometheus']}"}
    for old, new in replaced.items():
        assert old in conf, old
        conf = conf.replace(old, new)
    (work / "rabbitmq.conf").write_text(conf)
    shutil.copy(RABBITMQ / "enabled_plugins", work / "enabled_plugins")
    (work / "rabbitmq-env.conf").write_text("")
    name = f"aidflow-deploy-{uuid.uuid4().hex[:8]}@localhost"
    env = dict(os.environ, HOME=str(work), RABBITMQ_NODENAME=name, RABBITMQ_CONFIG_FILE=str(work / "rabbitmq.conf"),
               RABBITMQ_ENABLED_PLUGINS_FILE=str(work / "enabled_plugins"), RABBITMQ_MNESIA_BASE=str(work / "mnesia"),
               RABBITMQ_LOG_BASE=str(work / "log"), RABBITMQ_CONF_ENV_FILE=str(work / "rabbitmq-env.conf"),
               RABBITMQ_DIST_PORT=str(ports["dist"]), RABBITMQ_PLUGINS_EXPAND_DIR=str(work / "plugins"),
               ERL_EPMD_ADDRESS="127.0.0.1")
    log = open(work / "server.log", "w")
    server = subprocess.Popen([str(bin_dir / "rabbitmq-server")], env=env, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    node = Node(name, env, bin_dir, ports["amqp"], ports["management"], ports["prometheus"])

    def up():
        try:
            return requests.get(f"http://127.0.0.1:{node.prometheus}/metrics", timeout=2).status_code == 200
        except requests.RequestException:
            assert server.poll() is None, (work / "server.log").read_text()[-3000:]
            return False
    try:
        wait_until(up, 120, "the RabbitMQ node to boot", interval=0.5)
        yield node
    finally:
        node.cli("rabbitmqctl", "stop")
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        log.close()


@pytest.mark.slow
def test_the_node_loads_the_definitions_at_boot_and_passes_the_compose_health_check(node):
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["rabbitmq"]
    command = compose["healthcheck"]["test"]
    assert command[0] == "CMD"
    check = node.cli(command[1], *command[2:])
    assert check.returncode == 0, check.stdout + check.stderr

    users = requests.get(f"http://127.0.0.1:{node.management}/api/users", timeout=10,
                         auth=("aidflow-admin", make_definitions["dev_password"]("aidflow-admin")))
    assert users.status_code == 200, users.text
    assert {u["name"] for u in users.json()} == {u["name"] for u in committed()["users"]}  # and no guest
    policies = requests.get(f"http://127.0.0.1:{node.management}/api/policies/aidflow", timeout=10,
                            auth=("aidflow-admin", make_definitions["dev_password"]("aidflow-admin"))).json()
    assert {p["name"] for p in policies} == {p["name"] for p in committed()["policies"]}

    params = pika.URLParameters(f"amqp://aidflow-review:dev-review@127.0.0.1:{node.amqp}/aidflow")
    with pika.BlockingConnection(params) as conn:
        conn.channel().exchange_declare("aidflow.events", "topic", passive=True)


@pytest.mark.slow
def test_the_node_serves_every_broker_metric_the_dashboards_and_rules_query(node):
    config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"] if job["job_name"].startswith("rabbitmq")}

    def fetch(job) -> str:
        response = requests.get(f"http://127.0.0.1:{node.prometheus}{job.get('metrics_path', '/metrics')}",
                                params=job.get("params"), timeout=10)
        assert response.status_code == 200
        return response.text
    assert set(jobs) == {"rabbitmq", "rabbitmq-queues"}
    wait_until(lambda: 'queue="aidflow.partner.legal-aid"' in fetch(jobs["rabbitmq-queues"]), 30,
               "per-queue figures of the aidflow vhost", interval=0.5)
    pages = {name: fetch(job) for name, job in jobs.items()}
    served = {line.split()[2] for page in pages.values() for line in page.splitlines() if line.startswith("# TYPE ")}
    wanted = {(where, name) for where, expr in all_queries() for name in metric_names(expr) if name.startswith("rabbitmq_")}
    assert wanted
    missing = sorted(f"{where}: {name}" for where, name in wanted if name not in served)
    assert not missing, "\n".join(missing)
