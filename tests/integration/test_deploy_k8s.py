"""The cluster manifests in deploy/k8s: valid, complete, and running what docker-compose.yml runs.

Built-in kinds are validated against the Kubernetes API schemas (kubernetes-validate, strict: an
unknown field fails). The operators' kinds (RabbitmqCluster, CloudNativePG's Cluster and
Database, the Prometheus Operator's PodMonitor and PrometheusRule) have no schema offline; each is
checked against the part of its CRD these manifests use, field names and types as the operators
define them. Where kubectl is installed, ``kubectl kustomize`` must render both kustomizations.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import jsonschema
import kubernetes_validate
import pytest
import yaml

from aidflow_shared.settings import DEFAULT_PORTS, SERVICES

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy/k8s"
KUBERNETES_VERSION = "1.30.0"  # the oldest release these manifests promise to work on


def documents(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text("utf-8")) if d]


def manifests() -> list[tuple[Path, dict]]:
    return [(path, doc) for path in sorted(K8S.rglob("*.yaml")) if path.name != "kustomization.yaml"
            for doc in documents(path)]


def find(kind: str, name: str) -> dict:
    matches = [doc for _, doc in manifests() if doc["kind"] == kind and doc["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} found"
    return matches[0]


def compose_services() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text("utf-8"))["services"]


def _obj(properties: dict, required=()) -> dict:
    return {"type": "object", "properties": properties, "required": list(required), "additionalProperties": False}


_STR, _INT, _BOOL = {"type": "string"}, {"type": "integer"}, {"type": "boolean"}
_ANY_OBJECT = {"type": "object"}
_QUANTITY = {"type": ["string", "integer"]}
_RESOURCES = _obj({"requests": {"type": "object", "additionalProperties": _QUANTITY},
                   "limits": {"type": "object", "additionalProperties": _QUANTITY}})
_METADATA = _obj({"name": _STR, "namespace": _STR, "labels": {"type": "object", "additionalProperties": _STR},
                  "annotations": {"type": "object", "additionalProperties": _STR}}, ["name"])


def _kind(api_version: str, kind: str, spec: dict) -> dict:
    return _obj({"apiVersion": {"const": api_version}, "kind": {"const": kind}, "metadata": _METADATA, "spec": spec},
                ["apiVersion", "kind", "metadata", "spec"])


_RELABEL = _obj({"sourceLabels": {"type": "array", "items": _STR}, "targetLabel": _STR, "replacement": _STR,
                 "regex": _STR, "action": _STR, "separator": _STR})
# The fields of each operator's CRD that deploy/k8s uses, as the CRDs define them.
CRD_SCHEMAS = {
    # rabbitmq.com_rabbitmqclusters.yaml (RabbitMQ Cluster Operator), v1beta1
    ("rabbitmq.com/v1beta1", "RabbitmqCluster"): _kind("rabbitmq.com/v1beta1", "RabbitmqCluster", _obj({
        "replicas": _INT, "image": _STR, "resources": _RESOURCES,
        "persistence": _obj({"storage": _QUANTITY, "storageClassName": _STR}),
        "rabbitmq": _obj({"additionalConfig": _STR, "additionalPlugins": {"type": "array", "items": _STR},
                          "advancedConfig": _STR, "envConfig": _STR}),
        "affinity": _ANY_OBJECT, "tolerations": {"type": "array"},
        "override": _obj({"statefulSet": _obj({"spec": _obj({"template": _obj({"spec": _obj({
            "containers": {"type": "array", "items": {"type": "object", "required": ["name"]}},
            "volumes": {"type": "array", "items": {"type": "object", "required": ["name"]}}})})})}),
            "service": _ANY_OBJECT}),
    })),
    # postgresql.cnpg.io_clusters.yaml (CloudNativePG), v1
    ("postgresql.cnpg.io/v1", "Cluster"): _kind("postgresql.cnpg.io/v1", "Cluster", _obj({
        "instances": {"type": "integer", "minimum": 1}, "imageName": _STR,
        "storage": _obj({"size": _STR, "storageClass": _STR}),
        "resources": _RESOURCES,
        "postgresql": _obj({"parameters": {"type": "object", "additionalProperties": _STR}}),
        "affinity": _obj({"enablePodAntiAffinity": _BOOL, "topologyKey": _STR, "podAntiAffinityType": _STR}),
        "managed": _obj({"roles": {"type": "array", "items": _obj({
            "name": _STR, "ensure": {"enum": ["present", "absent"]}, "login": _BOOL, "comment": _STR,
            "passwordSecret": _obj({"name": _STR}, ["name"])}, ["name"])}}),
    }, ["instances"])),
    # postgresql.cnpg.io_databases.yaml (CloudNativePG 1.25+), v1
    ("postgresql.cnpg.io/v1", "Database"): _kind("postgresql.cnpg.io/v1", "Database", _obj({
        "name": _STR, "owner": _STR, "cluster": _obj({"name": _STR}, ["name"]),
        "ensure": {"enum": ["present", "absent"]}, "databaseReclaimPolicy": {"enum": ["delete", "retain"]},
    }, ["name", "owner", "cluster"])),
    # monitoring.coreos.com_podmonitors.yaml (Prometheus Operator), v1
    ("monitoring.coreos.com/v1", "PodMonitor"): _kind("monitoring.coreos.com/v1", "PodMonitor", _obj({
        "selector": _obj({"matchLabels": {"type": "object", "additionalProperties": _STR},
                          "matchExpressions": {"type": "array", "items": _obj(
                              {"key": _STR, "operator": _STR, "values": {"type": "array", "items": _STR}},
                              ["key", "operator"])}}),
        "podMetricsEndpoints": {"type": "array", "minItems": 1, "items": _obj({
            "port": _STR, "path": _STR, "interval": _STR, "scheme": _STR,
            "params": {"type": "object", "additionalProperties": {"type": "array", "items": _STR}},
            "relabelings": {"type": "array", "items": _RELABEL}})},
    }, ["selector", "podMetricsEndpoints"])),
    # monitoring.coreos.com_prometheusrules.yaml (Prometheus Operator), v1
    ("monitoring.coreos.com/v1", "PrometheusRule"): _kind("monitoring.coreos.com/v1", "PrometheusRule", _obj({
        "groups": {"type": "array", "items": _obj({"name": _STR, "interval": _STR, "rules": {"type": "array", "items": _obj({
            "alert": _STR, "record": _STR, "expr": _STR, "for": _STR,
            "labels": {"type": "object", "additionalProperties": _STR},
            "annotations": {"type": "object", "additionalProperties": _STR}}, ["expr"])}}, ["name", "rules"])},
    }, ["groups"])),
}


def test_every_manifest_is_valid_against_its_schema():
    checked = set()
    for path, doc in manifests():
        key = (doc["apiVersion"], doc["kind"])
        if key in CRD_SCHEMAS:
            jsonschema.validate(doc, CRD_SCHEMAS[key])
        else:
            try:
                kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
            except kubernetes_validate.ValidationError as exc:
                pytest.fail(f"{path.name}: {doc['kind']}/{doc['metadata']['name']}: {exc.message} at {list(exc.path)}")
        checked.add(doc["kind"])
    assert {"Deployment", "Service", "HorizontalPodAutoscaler", "Job", "ConfigMap", "RabbitmqCluster", "Cluster",
            "Database", "PodMonitor", "PrometheusRule"} <= checked


def test_a_mistake_is_caught_by_the_validation():
    deployment = find("Deployment", "review-worker")
    broken = yaml.safe_load(yaml.safe_dump(deployment))
    broken["spec"]["template"]["spec"]["containers"][0]["readinessprobe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)
    cluster = yaml.safe_load(yaml.safe_dump(find("RabbitmqCluster", "aidflow-rabbitmq")))
    cluster["spec"]["replica"] = 3
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(cluster, CRD_SCHEMAS[("rabbitmq.com/v1beta1", "RabbitmqCluster")])


def test_the_kustomizations_list_every_manifest():
    for directory in (K8S, K8S / "monitoring"):
        listed = set(yaml.safe_load((directory / "kustomization.yaml").read_text())["resources"])
        present = {p.name for p in directory.glob("*.yaml") if p.name != "kustomization.yaml"}
        assert listed == present, directory


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
@pytest.mark.parametrize("directory", ["deploy/k8s", "deploy/k8s/monitoring"])
def test_kubectl_renders_the_kustomization(directory):
    done = subprocess.run(["kubectl", "kustomize", directory], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    rendered = [d for d in yaml.safe_load_all(done.stdout) if d]
    assert all(d["metadata"].get("namespace") == "aidflow" for d in rendered if d["kind"] != "Namespace")


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_runs_the_commands_of_the_compose_file(service):
    compose = compose_services()
    for role, kind in (("migrate", "Job"), ("api", "Deployment"), ("worker", "Deployment")):
        pod = find(kind, f"{service}-{role}")["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert container["command"] == compose[f"{service}-{role}"]["command"], (service, role)
        assert container["image"] == compose[f"{service}-{role}"]["image"] == f"aidflow-{service}"
        env = {e["name"]: e for e in container["env"]}
        assert set(compose[f"{service}-{role}"]["environment"]) <= set(env), "every variable compose sets"
        amqp = urlsplit(env["AMQP_URL"]["value"])
        assert (amqp.username, amqp.path) == (f"aidflow-{service}", "/aidflow")
        assert urlsplit(env["DATABASE_URL"]["value"]).path == f"/{service}"
        assert env["AMQP_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "aidflow-amqp", "key": service}
        assert env["DB_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == f"aidflow-db-{service}"
        assert pod["securityContext"]["runAsNonRoot"] and container["securityContext"]["readOnlyRootFilesystem"]
        assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]


@pytest.mark.parametrize("service", SERVICES)
def test_each_api_and_worker_has_probes_a_service_an_autoscaler(service):
    port = DEFAULT_PORTS[service]
    for role in ("api", "worker"):
        deployment = find("Deployment", f"{service}-{role}")
        template = deployment["spec"]["template"]
        assert deployment["spec"]["selector"]["matchLabels"].items() <= template["metadata"]["labels"].items()
        (container,) = template["spec"]["containers"]
        assert container["ports"] == [{"name": "http", "containerPort": port}]
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        hpa = find("HorizontalPodAutoscaler", f"{service}-{role}")["spec"]
        assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": f"{service}-{role}"}
        assert hpa["minReplicas"] == deployment["spec"]["replicas"] <= hpa["maxReplicas"]
    api = find("Service", f"{service}-api")["spec"]
    assert api["selector"].items() <= find("Deployment", f"{service}-api")["spec"]["template"]["metadata"]["labels"].items()
    if service in ("review", "payout"):
        assert find("Deployment", f"{service}-worker")["spec"]["replicas"] >= 2


def test_rabbitmq_is_a_three_node_cluster_loading_the_definitions():
    cluster = find("RabbitmqCluster", "aidflow-rabbitmq")["spec"]
    assert cluster["replicas"] == 3
    config = dict(line.split(" = ", 1) for line in cluster["rabbitmq"]["additionalConfig"].splitlines() if " = " in line)
    pod = cluster["override"]["statefulSet"]["spec"]["template"]["spec"]
    (mount,) = pod["containers"][0]["volumeMounts"]
    (volume,) = pod["volumes"]
    assert config["load_definitions"] == mount["mountPath"].rstrip("/") + "/definitions.json"
    assert volume == {"name": mount["name"], "secret": {"secretName": "aidflow-rabbitmq-definitions"}}
    assert cluster["image"] == compose_services()["rabbitmq"]["image"]


def test_postgresql_has_a_role_and_a_database_per_service():
    roles = {r["name"]: r for r in find("Cluster", "aidflow-postgres")["spec"]["managed"]["roles"]}
    assert set(roles) == set(SERVICES)
    for service in SERVICES:
        assert roles[service]["passwordSecret"]["name"] == f"aidflow-db-{service}" and roles[service]["login"]
        database = find("Database", f"aidflow-{service}")["spec"]
        assert database == {"name": service, "owner": service, "cluster": {"name": "aidflow-postgres"}}


def test_every_secret_the_manifests_need_is_documented():
    needed = set()
    for _, doc in manifests():
        text = yaml.safe_dump(doc)
        needed |= {line.split("secretName:")[1].strip() for line in text.splitlines() if "secretName:" in line}
        for container in (doc.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [])):
            needed |= {e["valueFrom"]["secretKeyRef"]["name"] for e in container.get("env", []) if "valueFrom" in e}
        for role in doc.get("spec", {}).get("managed", {}).get("roles", []):
            needed.add(role["passwordSecret"]["name"])
    readme = (K8S / "README.md").read_text("utf-8")
    assert needed and all(name in readme for name in needed), needed - {n for n in needed if n in readme}


def test_the_operator_rules_are_the_promtool_tested_rules():
    rules = yaml.safe_load((ROOT / "deploy/prometheus/rules/aidflow.yml").read_text())
    assert find("PrometheusRule", "aidflow")["spec"] == rules


def test_pod_monitors_give_the_labels_rules_and_dashboards_expect():
    aidflow = find("PodMonitor", "aidflow")["spec"]
    (endpoint,) = aidflow["podMetricsEndpoints"]
    relabel = {r["targetLabel"]: r for r in endpoint["relabelings"]}
    assert relabel["job"]["sourceLabels"] == ["__meta_kubernetes_pod_label_app_kubernetes_io_component"]
    roles = set(aidflow["selector"]["matchExpressions"][0]["values"])
    assert {relabel["job"]["replacement"].replace("$1", role) for role in roles} == {"aidflow-api", "aidflow-worker"}
    assert relabel["app"]["sourceLabels"] == ["__meta_kubernetes_pod_label_app_kubernetes_io_name"]
    broker = find("PodMonitor", "aidflow-rabbitmq")["spec"]["podMetricsEndpoints"]
    jobs = {next(r["replacement"] for r in e["relabelings"] if r["targetLabel"] == "job") for e in broker}
    assert jobs == {"rabbitmq", "rabbitmq-queues"}
    scrape_configs = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())["scrape_configs"]
    compose_jobs = {job["job_name"]: job for job in scrape_configs}
    queues = next(e for e in broker if e["path"] == "/metrics/detailed")
    assert queues["params"] == compose_jobs["rabbitmq-queues"]["params"]
