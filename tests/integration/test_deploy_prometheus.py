"""Prometheus configuration, alert rules and dashboard queries, checked by Prometheus's own promtool.

- ``promtool check config`` on the compose stack's scrape configuration (and the rules it loads);
- ``promtool test rules`` on the rules' unit tests, and every alert has a test that sees it fire
  and one that sees it stay quiet;
- every Grafana query parses as PromQL (Grafana's variables replaced by sample values).

promtool comes with Debian's ``prometheus`` package; ``.ci/run`` installs it. Without it these
tests are skipped, except under ``CI=true``, where they fail.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import IN_CI
from test_deploy_metrics import DASHBOARDS, dashboard_queries

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy/prometheus"
# What Grafana puts in place of its variables, to hand promtool a query it can parse.
GRAFANA_VARIABLES = {"__rate_interval": "1m", "__interval": "5m", "__range": "1h", "stage": "review|payout",
                     "track": "standard", "service": "intake|review", "datasource": "prometheus"}


@pytest.fixture(scope="module")
def promtool():
    found = shutil.which("promtool")
    if found is None:
        if IN_CI:
            pytest.fail("promtool is not installed, and CI=true demands the real thing")
        pytest.skip("promtool is not installed (Debian: apt-get install prometheus)")
    return found


def run(promtool, *args, cwd=PROMETHEUS) -> subprocess.CompletedProcess:
    return subprocess.run([promtool, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_the_scrape_configuration_and_the_rules_it_loads_are_valid(promtool):
    done = run(promtool, "check", "config", "prometheus.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout and "rule files found" in done.stdout


def test_the_alert_rules_pass_their_unit_tests(promtool):
    tests = sorted(str(p.relative_to(PROMETHEUS)) for p in (PROMETHEUS / "tests").glob("*.yml"))
    assert tests
    done = run(promtool, "test", "rules", *tests)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_alert_is_seen_firing_and_seen_quiet():
    alerts = {rule["alert"] for path in (PROMETHEUS / "rules").glob("*.yml")
              for group in yaml.safe_load(path.read_text())["groups"] for rule in group["rules"] if "alert" in rule}
    firing, quiet = set(), set()
    for path in (PROMETHEUS / "tests").glob("*.yml"):
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
    assert alerts - firing == set(), "alerts no test sees firing"
    assert alerts - quiet == set(), "alerts no test sees quiet"


def test_every_scrape_job_the_rules_and_dashboards_name_is_configured():
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    texts = [json.dumps(json.loads(p.read_text())) for p in DASHBOARDS]
    texts += [p.read_text() for p in (PROMETHEUS / "rules").glob("*.yml")]
    named = {m for text in texts for m in re.findall(r'job=\\*"([\w-]+)\\*"', text)}
    assert named and named <= jobs
    by_job = {job["job_name"]: job for job in config["scrape_configs"]}
    for role in ("aidflow-api", "aidflow-worker"):
        apps = {target["labels"]["app"] for target in by_job[role]["static_configs"]}
        assert apps == {"intake", "review", "payout", "followup"}, role


def test_every_dashboard_query_is_valid_promql(promtool, tmp_path):
    rules = []
    for path in DASHBOARDS:
        for number, (where, expr) in enumerate(dashboard_queries(path)):
            text = re.sub(r"\$\{?(\w+)\}?", lambda m: GRAFANA_VARIABLES[m.group(1)], expr)
            rules.append({"record": f"dashboard:{path.stem.replace('-', '_')}:{number}", "expr": text,
                          "labels": {"panel": where}})
    (tmp_path / "dashboards.yml").write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    done = run(promtool, "check", "rules", "dashboards.yml", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_runbook_link_leads_to_a_section_of_the_operations_guide():
    guide = (ROOT / "docs/operations.md").read_text("utf-8")
    anchors = {re.sub(r"[^a-z0-9 -]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
               for line in guide.splitlines() if line.startswith("#")}
    for path in (PROMETHEUS / "rules").glob("*.yml"):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                document, _, anchor = rule["annotations"]["runbook"].partition("#")
                assert document == "docs/operations.md" and anchor in anchors, rule["alert"]
