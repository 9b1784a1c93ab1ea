"""The partner client without a broker: the envelope it builds, the files it reads, its store.

The client is a separate package that must not depend on the services' code; these tests hold
what it builds against the services' own registry and envelope parser, so the two cannot drift.
"""
from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timezone

import pytest

from aidflow_partner import PartnerClient
from aidflow_partner.envelope import (COMMANDS, CONTENT_TYPE, INBOUND, BadMessage, build_command, check_agency,
                                      parse_incoming)
from aidflow_partner.referrals import from_csv, from_json
from aidflow_partner.store import Store
from aidflow_shared.contracts import registry
from aidflow_shared.envelope import parse

REFERRAL = {"partner_reference": "扶移〔2026〕3号", "beneficiaries": [{"name": "张三", "id_number": "x"}]}


def test_the_envelope_follows_the_design_and_the_services_parse_it():
    moment = datetime(2026, 3, 2, 8, 30, tzinfo=timezone.utc)
    out = build_command("poverty-bureau", "poverty-bureau", "referral.submit", REFERRAL, now=moment)
    assert out.exchange == INBOUND and out.routing_key == "poverty-bureau.referral.submit.v1"
    assert out.properties == {"content_type": CONTENT_TYPE, "message_id": out.message_id,
                              "type": "org.aidflow.partner.referral.submit.v1", "delivery_mode": 2,
                              "user_id": "poverty-bureau"}
    document = json.loads(out.body)
    assert document == {"specversion": "1.0", "id": out.message_id, "source": "/partners/poverty-bureau",
                        "type": "org.aidflow.partner.referral.submit.v1", "time": "2026-03-02T08:30:00.000Z",
                        "datacontenttype": "application/json", "data": REFERRAL}
    envelope = parse(out.body, content_type=CONTENT_TYPE, message_id=out.message_id, type=out.type,
                     user_id="poverty-bureau", routing_key=out.routing_key)
    assert envelope.data == REFERRAL and "张三" in out.body.decode()  # UTF-8, not \\u escapes


def test_every_command_is_a_registered_inbound_type_with_the_same_routing_key():
    for command, type_ in COMMANDS.items():
        registered = registry.get(type_)
        assert registered.exchange == INBOUND and registered.producer == "partner"
        out = build_command("civil-affairs", "ca-user", command, {"handoff_id": "h1"}, correlation_id="m0",
                            subject="case-1")
        assert out.routing_key == registered.routing_key("civil-affairs")
        assert out.properties["correlation_id"] == "m0" and out.properties["user_id"] == "ca-user"
        assert json.loads(out.body)["subject"] == "case-1"
    partner_types = {t.type for t in registry if t.producer == "partner"}
    assert partner_types == set(COMMANDS.values())


@pytest.mark.parametrize("code", ["Poverty", "1abc", "", "a_b", "a.b", "a b"])
def test_agency_codes_are_checked(code):
    with pytest.raises(ValueError):
        check_agency(code)
    with pytest.raises(ValueError):
        build_command(code, "u", "referral.submit", {})


def test_unknown_commands_and_non_objects_are_refused_before_anything_is_sent():
    with pytest.raises(ValueError):
        build_command("legal-aid", "legal-aid", "case.delete", {})
    with pytest.raises(ValueError):
        build_command("legal-aid", "legal-aid", "referral.submit", ["not", "an", "object"])


def test_incoming_messages_are_read_and_checked():
    body = json.dumps({"specversion": "1.0", "id": "m1", "source": "/followup", "time": "2026-03-02T08:30:00Z",
                       "type": "org.aidflow.followup.handoff.requested.v1", "data": {"handoff_id": "h1"}}).encode()
    message = parse_incoming("legal-aid.handoff.requested.v1", CONTENT_TYPE, "m1",
                             "org.aidflow.followup.handoff.requested.v1", None, body)
    assert (message.kind, message.message_id, message.data) == ("handoff.requested", "m1", {"handoff_id": "h1"})
    for args in ((CONTENT_TYPE, "other-id", None, None, body), ("application/json", "m1", None, None, body),
                 (CONTENT_TYPE, None, None, None, b"not json"),
                 (CONTENT_TYPE, None, "org.aidflow.x.y.v1", None, body)):
        with pytest.raises(BadMessage):
            parse_incoming("legal-aid.x", *args)


CSV = """partner_reference,summary,urgent_medical,documents,name,id_number,relationship,poverty_markers,birth_date
扶移〔2026〕1号,受伤,true,transfer_letter;identity,张三,ID1,victim,registered_poor_household,1980-05-17
扶移〔2026〕1号,,,,张小三,ID2,child,,
扶移〔2026〕2号,,maybe,,李四,,victim,,1980-13-01
,,,,王五,ID5,,,
"""


def test_a_csv_groups_rows_by_reference_and_reports_each_bad_row():
    items = {i.label: i for i in from_csv(CSV)}
    assert set(items) == {"rows 2,3", "row 4", "row 5"}
    good = items["rows 2,3"]
    assert good.problems == []
    assert good.referral == {
        "partner_reference": "扶移〔2026〕1号", "summary": "受伤", "urgent_medical": True,
        "documents": [{"kind": "transfer_letter"}, {"kind": "identity"}],
        "beneficiaries": [
            {"name": "张三", "id_number": "ID1", "relationship": "victim", "birth_date": "1980-05-17",
             "poverty_markers": ["registered_poor_household"]},
            {"name": "张小三", "id_number": "ID2", "relationship": "child"}]}
    assert items["row 4"].problems == ["urgent_medical: expected true or false", "row 4: id_number: required",
                                       "row 4: birth_date: expected YYYY-MM-DD"]
    assert items["row 5"].problems == ["partner_reference: required"] and items["row 5"].referral is None
    assert from_csv("reference,name\nx,y\n")[0].problems == ["missing column partner_reference",
                                                            "missing column id_number"]
    assert from_csv("partner_reference,name,id_number,colour\n")[0].problems == ["unknown column colour"]


def test_a_json_file_holds_one_referral_or_a_list():
    [one] = from_json(json.dumps(REFERRAL))
    assert one.referral == REFERRAL and not one.problems and one.reference == REFERRAL["partner_reference"]
    items = from_json(json.dumps([REFERRAL, {"summary": "x"}, 3]))
    assert [i.problems for i in items] == [[], ["partner_reference: required", "beneficiaries: required"],
                                          ["not a JSON object"]]
    assert from_json("{")[0].problems[0].startswith("not JSON")


def test_the_store_keeps_each_message_once_and_follows_a_handoff(tmp_path):
    store = Store(tmp_path / "state" / "legal-aid.sqlite3")

    def message(kind, message_id, **data):
        body = json.dumps({"specversion": "1.0", "id": message_id, "source": "/followup", "time": "t",
                           "type": f"org.aidflow.followup.{kind}.v1", "data": data}).encode()
        return parse_incoming(f"legal-aid.{kind}.v1", CONTENT_TYPE, message_id, None, "sent-1", body)

    requested = message("handoff.requested", "m1", handoff_id="h1", service="legal_aid", requested_at="a",
                        acknowledge_by="b")
    store.add(requested)
    store.add(requested)  # delivered again after a lost acknowledgement
    assert [h["status"] for h in store.waiting()] == ["requested"]
    store.add(message("handoff.recorded", "m2", handoff_id="h1", status="accepted"))
    store.add(message("handoff.overdue", "m3", handoff_id="h1"))
    [waiting] = store.waiting()
    assert waiting["status"] == "accepted" and waiting["overdue"] is True
    store.add(message("handoff.recorded", "m4", handoff_id="h1", status="completed"))
    assert store.waiting() == [] and [h["status"] for h in store.handoffs()] == ["completed"]
    assert store.handoff_request("h1")[0] == "m1" and store.answer_to("sent-1")["id"] == "m1"
    store.close()


def test_the_client_package_imports_nothing_of_the_services():
    code = ("import sys, aidflow_partner, aidflow_partner.cli; "
            "bad = [m for m in sys.modules if m.split('.')[0] in "
            "('aidflow_shared', 'kombu', 'marshmallow', 'sqlalchemy', 'flask')]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_an_amqps_url_verifies_the_brokers_certificate_for_its_host():
    client = PartnerClient("amqps://legal-aid:secret@mq.example.org:5671/aidflow", "legal-aid")
    tls = client.parameters.ssl_options
    assert tls.server_hostname == "mq.example.org" and tls.context.check_hostname
    assert (client.user, client.queue, client.parameters.virtual_host) == ("legal-aid", "aidflow.partner.legal-aid",
                                                                           "aidflow")
    assert PartnerClient("amqp://legal-aid:secret@127.0.0.1/aidflow", "legal-aid").parameters.ssl_options is None
    with pytest.raises(ValueError):
        PartnerClient("amqp://u:p@127.0.0.1/", "Legal_Aid")


def test_the_command_line_says_what_is_missing_and_gives_up_on_an_unreachable_broker(tmp_path):
    def run(*args, **env):
        return subprocess.run([sys.executable, "-m", "aidflow_partner", "--state", str(tmp_path / "s"), *args],
                              capture_output=True, text=True, timeout=60,
                              env={"PATH": "", "AIDFLOW_PARTNER_STATE": str(tmp_path), **env})

    assert run("sync").returncode == 2  # no URL
    assert run("--url", "amqp://u:p@127.0.0.1:1/", "--agency", "Bad_Code", "sync").returncode == 2
    unreachable = run("--url", "amqp://u@127.0.0.1:1/", "--agency", "legal-aid", "--retries", "1", "sync",
                      AIDFLOW_PARTNER_PASSWORD="p")
    assert unreachable.returncode == 1 and "no connection after 2 attempts" in unreachable.stderr
