"""Every metric the dashboards and the alert rules query is one the services really export.

The system runs in-process (embedded transport, SQLite), a case goes from referral to follow-up
so the deadline and money figures have samples, and each service's ``/metrics`` is read. Then
every PromQL expression of every Grafana panel and variable and of every alert rule is taken
apart: each metric name must be exported, each label it is filtered on must exist on that metric
and, for an exact match, the value too. RabbitMQ's own metrics are checked against a real node
in test_deploy_rabbitmq.py; ``up`` is made by Prometheus itself.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from support import settings_for, start_system, wait_until

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = sorted((ROOT / "deploy/grafana/dashboards").glob("*.json"))
RULE_FILES = sorted((ROOT / "deploy/prometheus/rules").glob("*.yml"))
# Labels Prometheus attaches to every target (deploy/prometheus/prometheus.yml, deploy/k8s/monitoring).
TARGET_LABELS = {"job", "instance", "app"}
MADE_BY_PROMETHEUS = {"up"}
BROKER_PREFIX = "rabbitmq_"

_STRING = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`')
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_NAME = re.compile(r"(?<![\w.:$])[A-Za-z_:][\w:]*")
_SELECTOR = re.compile(r"(?<![\w.:$])([A-Za-z_:][\w:]*)\s*\{([^}]*)\}")
_MATCHER = re.compile(r'([A-Za-z_]\w*)\s*(=~|!~|!=|=)\s*("(?:\\.|[^"\\])*")')
_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool", "and", "or",
             "unless", "inf", "nan"}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads: not functions, keywords, labels or variables."""
    text = _STRING.sub('""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # ranges and subqueries
    text = _GROUPING.sub(" ", text)
    text = re.sub(r"\$\{?\w+\}?", " ", text)  # Grafana variables
    names = set()
    for match in _NAME.finditer(text):
        if text[match.end():].lstrip().startswith("("):
            continue  # a function or an aggregation
        if match.group(0).lower() not in _KEYWORDS:
            names.add(match.group(0))
    return names


def label_filters(expr: str) -> list[tuple[str, str, str, str]]:
    """(metric, label, operator, value) for every matcher of every named selector."""
    out = []
    for selector in _SELECTOR.finditer(expr):
        for label, op, quoted in _MATCHER.findall(selector.group(2)):
            out.append((selector.group(1), label, op, re.sub(r"\\(.)", r"\1", quoted[1:-1])))
    return out


def dashboard_queries(path: Path) -> list[tuple[str, str]]:
    """(where, expr) for every target of every panel (rows included) and every query variable."""
    board = json.loads(path.read_text("utf-8"))
    found = []

    def panels(items):
        for panel in items:
            yield panel
            yield from panels(panel.get("panels", []))

    for panel in panels(board["panels"]):
        for target in panel.get("targets", []):
            found.append((f"{path.name}: {panel['title']} ({target['refId']})", target["expr"]))
    for variable in board.get("templating", {}).get("list", []):
        if variable.get("type") == "query":
            query = variable["query"]["query"] if isinstance(variable["query"], dict) else variable["query"]
            found.append((f"{path.name}: variable {variable['name']}", query))
    return found


def rule_queries() -> list[tuple[str, str]]:
    found = []
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text("utf-8"))["groups"]:
            for rule in group["rules"]:
                found.append((f"{path.name}: {rule.get('alert') or rule.get('record')}", rule["expr"]))
    return found


def all_queries() -> list[tuple[str, str]]:
    return [q for path in DASHBOARDS for q in dashboard_queries(path)] + rule_queries()


class Exported:
    """What a set of /metrics pages declares: names (histogram parts included) and label values."""

    def __init__(self, pages: list[str]):
        self.names: set[str] = set()
        self.labels: dict[str, dict[str, set[str]]] = {}
        for page in pages:
            for family in text_string_to_metric_families(page):
                self.names.add(family.name)
                if family.type == "counter":
                    self.names.add(family.name + "_total")
                if family.type == "histogram":
                    self.names.update(family.name + suffix for suffix in ("_bucket", "_sum", "_count"))
                for sample in family.samples:
                    self.names.add(sample.name)
                    seen = self.labels.setdefault(sample.name, {})
                    for label, value in sample.labels.items():
                        seen.setdefault(label, set()).add(value)


def test_metric_names_are_read_from_promql_as_prometheus_would():
    expr = ('histogram_quantile(0.95, sum by (le, service) (rate(aidflow_bus_handler_seconds_bucket'
            '{service=~"$service", type!="x"}[$__rate_interval]))) / on(service) group_left(app) '
            'max without (instance) (up offset 1h) or vector(0) '
            '+ count(rabbitmq_detailed_queue_messages{queue=~"aidflow\\\\..+"} > 1e3) and time() - 300')
    assert metric_names(expr) == {"aidflow_bus_handler_seconds_bucket", "up", "rabbitmq_detailed_queue_messages"}
    assert metric_names("sum(increase(a_total[1h])) / (sum(increase(b_total[$__range])) or vector(0))") == {
        "a_total", "b_total"}
    assert label_filters('max by (band) (aidflow_deadline_open{stage="payout", band=~"ok|warning"})') == [
        ("aidflow_deadline_open", "stage", "=", "payout"), ("aidflow_deadline_open", "band", "=~", "ok|warning")]


def test_dashboards_are_provisionable():
    assert {p.stem for p in DASHBOARDS} >= {"aidflow-deadlines", "aidflow-money", "aidflow-followup", "aidflow-bus"}
    uids = set()
    for path in DASHBOARDS:
        board = json.loads(path.read_text("utf-8"))
        assert board["uid"] == path.stem and board["uid"] not in uids
        uids.add(board["uid"])
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids)), f"{path.name}: panel ids repeat"
        names = [v["name"] for v in board["templating"]["list"]]
        assert "datasource" in names
        for panel in board["panels"]:
            if panel["type"] != "row":
                assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
                assert panel["targets"], panel["title"]
            for target in panel.get("targets", []):
                # Every variable a query uses is defined (or is one of Grafana's own).
                for variable in re.findall(r"\$\{?(\w+)", target["expr"]):
                    assert variable.startswith("__") or variable in names, (path.name, panel["title"], variable)
    provider = yaml.safe_load((ROOT / "deploy/grafana/provisioning/dashboards/aidflow.yml").read_text())
    datasource = yaml.safe_load((ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text())
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    mounts = {m.split(":")[1]: m.split(":")[0] for m in compose["services"]["grafana"]["volumes"]}
    assert mounts[provider["providers"][0]["options"]["path"]] == "./deploy/grafana/dashboards"
    assert mounts["/etc/grafana/provisioning"] == "./deploy/grafana/provisioning"
    assert datasource["datasources"][0]["uid"] == "prometheus"
    assert datasource["datasources"][0]["url"] == "http://prometheus:9090" and "prometheus" in compose["services"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """The /metrics pages of the four services after a case went from referral to follow-up."""
    system = start_system(settings_for(tmp_path_factory.mktemp("metrics")))
    try:
        system.fund()
        case = system.refer(1)
        system.approve(system.open_review(case["case_id"]))
        wait_until(lambda: system.plans(case["case_id"]), 30, "the follow-up plan")
        pages = [system.clients[name].get("/metrics").get_data(as_text=True) for name in system.runtimes]
    finally:
        system.stop()
    return Exported(pages)


def test_every_metric_queried_by_a_dashboard_or_an_alert_is_exported(exported):
    missing = []
    for where, expr in all_queries():
        for name in sorted(metric_names(expr)):
            if name in MADE_BY_PROMETHEUS or name.startswith(BROKER_PREFIX):
                continue
            if name not in exported.names:
                missing.append(f"{where}: {name}")
    assert not missing, "metrics no service exports:\n" + "\n".join(missing)


def test_every_label_filtered_on_exists_with_that_value(exported):
    wrong = []
    for where, expr in all_queries():
        for metric, label, op, value in label_filters(expr):
            if metric.startswith(BROKER_PREFIX) or metric in MADE_BY_PROMETHEUS or label in TARGET_LABELS:
                continue
            seen = exported.labels.get(metric)
            if not seen:
                continue  # a labelled metric with no samples yet: its name was checked above
            if label not in seen:
                wrong.append(f"{where}: {metric} has no label {label!r} (it has {sorted(seen)})")
            elif op == "=" and value not in seen[label]:
                wrong.append(f"{where}: {metric}{{{label}={value!r}}} never seen; values: {sorted(seen[label])}")
    assert not wrong, "\n".join(wrong)
