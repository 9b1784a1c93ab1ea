"""``aidflow-partner``, the command line, run as an agency runs it against the services on RabbitMQ:
referrals from a JSON and a CSV file, hand-offs listed (as often as wanted) and answered."""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from urllib.parse import quote, urlsplit

from support import resident_id
from test_followup_support import ready_plan
from test_intake_partners import transfer
from test_partner_client_support import (agencies, broker_admin, intake, partner_clients,  # noqa: F401
                                         start_followup)


def cli(client, tmp_path, broker):
    """Runs ``aidflow-partner`` with the agency's settings in the environment, the password apart."""
    password = urlsplit(client.url).password
    env = {**os.environ, "AIDFLOW_PARTNER_URL": f"amqp://{client.user}@127.0.0.1:5672/{quote(broker.vhost, safe='')}",
           "AIDFLOW_PARTNER_AGENCY": client.agency, "AIDFLOW_PARTNER_PASSWORD": password,
           "AIDFLOW_PARTNER_STATE": str(tmp_path / "state")}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "aidflow_partner", *args], env=env, capture_output=True,
                              text=True, timeout=180)
    return run


def test_referrals_from_a_json_and_a_csv_file(broker, intake, agencies, tmp_path):  # noqa: F811
    client = agencies()
    client.close()  # the command line connects by itself
    run = cli(client, tmp_path, broker)

    one = tmp_path / "referral.json"
    one.write_text(json.dumps(transfer(401), ensure_ascii=False), "utf-8")
    done = run("submit", str(one))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "item 1: 扶移〔2026〕401号: accepted as case JZ" in done.stdout

    bad_checksum = resident_id(403)[:17] + ("0" if resident_id(403)[17] != "0" else "1")
    rows = [
        {"partner_reference": "扶移〔2026〕402号", "criminal_case_ref": "川检刑诉〔2026〕402号", "summary": "重伤",
         "name": "赵四", "id_number": resident_id(402), "poverty_markers": "registered_poor_household",
         "documents": "transfer_letter", "urgent_medical": "false"},
        {"partner_reference": "扶移〔2026〕403号", "criminal_case_ref": "川检刑诉〔2026〕403号", "name": "钱五",
         "id_number": bad_checksum},
        {"partner_reference": "扶移〔2026〕404号", "name": "孙六", "id_number": "", "urgent_medical": "maybe"},
    ]
    table = tmp_path / "referrals.csv"
    with table.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    done = run("submit", str(table))
    assert done.returncode == 3, done.stdout + done.stderr  # something was rejected, each one reported
    lines = done.stdout.splitlines()
    assert "row 4: not sent: urgent_medical: expected true or false; row 4: id_number: required" in lines
    assert any(line.startswith("row 2: 扶移〔2026〕402号: accepted as case") for line in lines)
    assert "row 3: 扶移〔2026〕403号: rejected (validation_failed) beneficiaries.0.id_number: invalid_id_checksum" \
        in lines
    assert bad_checksum not in done.stdout and intake.count("aid_case") == 2

    again = run("submit", str(one))  # the agency's retry: the same case, said so
    assert again.returncode == 0 and "(already received)" in again.stdout
    assert run("submit", str(tmp_path / "missing.csv")).returncode == 2


def test_handoffs_are_listed_as_often_as_wanted_and_answered(broker, start_followup, partner_clients,  # noqa: F811
                                                             tmp_path):
    followup = start_followup(amqp_url=broker.url)
    client = partner_clients("womens-federation")
    client.close()
    run = cli(client, tmp_path, broker)
    assert followup.call("PUT", "/agencies/womens-federation", "ops",
                         json={"channel": "broker", "active": True}).status_code == 200
    plan = ready_plan(followup, minor=True, consents={"womens-federation": ["contact", "health", "minor"]})
    handoff_id = followup.post(f"/plans/{plan['plan_id']}/handoffs",
                               {"service": "psych_counselling", "agency": "womens-federation"})["handoff_id"]

    listed = run("handoffs", "list", "--json")
    for _ in range(10):  # follow-up's relay may take a moment to send it
        if handoff_id in listed.stdout:
            break
        listed = run("handoffs", "list", "--json")
    assert listed.returncode == 0
    [row] = [json.loads(line) for line in listed.stdout.splitlines()]
    assert (row["handoff_id"], row["service"], row["status"]) == (handoff_id, "psych_counselling", "requested")
    assert handoff_id in run("handoffs", "list").stdout  # listing again does not lose it
    shown = run("handoffs", "show", handoff_id)
    assert json.loads(shown.stdout)["data"]["shared_categories"] == ["contact", "health", "minor"]

    accepted = run("handoffs", "answer", handoff_id, "--accept", "--note", "已联系")
    assert accepted.returncode == 0 and "recorded: accepted" in accepted.stdout, accepted.stdout + accepted.stderr
    assert run("handoffs", "answer", handoff_id, "--complete").returncode == 2  # needs --summary
    completed = run("handoffs", "answer", handoff_id, "--complete", "--summary", "完成3次心理疏导", "--sessions", "3")
    assert completed.returncode == 0 and "recorded: completed" in completed.stdout
    assert run("handoffs", "list").stdout.strip().endswith("0 hand-off(s)")
    assert f"{handoff_id}  psych_counselling" in run("handoffs", "list", "--all").stdout

    unknown = run("handoffs", "answer", "no-such-handoff", "--accept")
    assert unknown.returncode == 3 and "refused (unknown_handoff" in unknown.stdout
    [stored] = followup.plan(plan["plan_id"])["handoffs"]
    assert stored["status"] == "completed" and stored["outcome"]["sessions"] == 3
