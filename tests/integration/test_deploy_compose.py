"""docker-compose.yml, read as a file: complete, and consistent with the files it mounts.

No container engine runs here; test_deployment.py runs the compose file's commands as plain
processes, test_deploy_rabbitmq.py boots a broker from its RabbitMQ files and
test_deploy_prometheus.py checks its Prometheus files. This module checks what joins them.
"""
from __future__ import annotations

import re
from pathlib import Path

import yaml

from aidflow_shared.settings import DEFAULT_PORTS, SERVICES
from test_deploy_rabbitmq import make_definitions

ROOT = Path(__file__).resolve().parents[2]


def compose_text() -> str:
    return (ROOT / "docker-compose.yml").read_text("utf-8")


def services() -> dict:
    return yaml.safe_load(compose_text())["services"]


def test_every_service_has_its_migration_api_and_worker_from_its_own_dockerfile():
    all_ = services()
    for service in SERVICES:
        migrate, api, worker = (all_[f"{service}-{role}"] for role in ("migrate", "api", "worker"))
        dockerfile = ROOT / migrate["build"]["dockerfile"]
        assert dockerfile == ROOT / f"services/{service}/Dockerfile" and dockerfile.exists()
        assert migrate["build"] == api["build"] == worker["build"]
        assert migrate["command"] == [f"aidflow-{service}", "migrate"] and migrate["restart"] == "no"
        assert api["command"][:2] == [f"aidflow-{service}", "api"]
        assert worker["command"] == [f"aidflow-{service}", "worker", "--port", str(DEFAULT_PORTS[service])]
        for role in (api, worker):
            assert role["restart"] == "unless-stopped"
            assert role["environment"] == migrate["environment"]
            assert role["depends_on"][f"{service}-migrate"] == {"condition": "service_completed_successfully"}
            assert role["depends_on"]["rabbitmq"] == {"condition": "service_healthy"}
        # The image's HEALTHCHECK asks the API's port, which is where the worker listens too.
        text = dockerfile.read_text()
        assert f"AIDFLOW_{service.upper()}_PORT={DEFAULT_PORTS[service]}" in text and "/healthz" in text
        assert api["ports"] == [f"{DEFAULT_PORTS[service]}:{DEFAULT_PORTS[service]}"]


def test_the_servers_and_the_monitoring_have_health_checks_and_restart():
    all_ = services()
    for name in ("rabbitmq", "postgres", "prometheus", "grafana"):
        assert all_[name]["restart"] == "unless-stopped", name
        assert all_[name]["healthcheck"]["test"][0] == "CMD", name
    assert all_["rabbitmq"]["image"].endswith("-management")


def mounts(service: dict) -> dict[str, str]:
    """{container path: source} of a service's volumes, variables at their defaults."""
    out = {}
    for volume in service.get("volumes", []):
        source, target = re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", volume).split(":")[:2]
        out[target] = source
    return out


def test_every_file_the_compose_file_mounts_exists():
    for name, service in services().items():
        for source in mounts(service).values():
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name}: {source}"
    rabbitmq = mounts(services()["rabbitmq"])
    conf = (ROOT / "deploy/rabbitmq/rabbitmq.conf").read_text()
    load = re.search(r"^load_definitions = (\S+)$", conf, re.M).group(1)
    assert load in rabbitmq, "rabbitmq.conf loads the file the compose file mounts"


def test_every_variable_the_compose_file_reads_is_in_the_example_environment():
    used = set(re.findall(r"\$\{(\w+)", compose_text()))
    example = (ROOT / "deploy/production.env.example").read_text()
    listed = set(re.findall(r"^(\w+)=", example, re.M))
    broker_users = {make_definitions["password_variable"](u) for u in make_definitions["users"]()}
    assert used <= listed, used - listed
    assert listed - used <= broker_users, "only make-definitions.py reads the others"
    assert broker_users <= listed


def test_each_service_connects_as_its_own_broker_and_database_user():
    all_ = services()
    for service in SERVICES:
        env = all_[f"{service}-api"]["environment"]
        assert env["AMQP_URL"].startswith(f"amqp://aidflow-{service}:") and env["AMQP_URL"].endswith("@rabbitmq:5672/aidflow")
        assert env["DATABASE_URL"].startswith(f"postgresql+psycopg://{service}:")
        assert env["DATABASE_URL"].endswith(f"@postgres:5432/{service}")
    postgres = all_["postgres"]["environment"]
    assert {f"AIDFLOW_DB_PASSWORD_{s.upper()}" for s in SERVICES} <= set(postgres)
