"""The AsyncAPI document of the message contract: generated, committed, and valid.

The committed document must be what the registry generates today (``make contract`` rewrites it),
and the official AsyncAPI parser must accept it, as it must refuse a deliberately broken copy.
"""
from __future__ import annotations

import dataclasses
import json
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
import yaml

from aidflow_shared.asyncapi import build_asyncapi, render
from aidflow_shared.contracts import EVENTS, INBOUND, PARTNERS, Registry, registry
from aidflow_shared.contracts.review import ReviewOpened
from aidflow_shared.envelope import CONTENT_TYPE, new_event
from aidflow_shared.schema import BaseSchema
from contract_checks import CONTRACT, ContractValidator, run_asyncapi_parser
from marshmallow import fields

COMMITTED = CONTRACT / "asyncapi.yaml"


@pytest.fixture(scope="module")
def document() -> dict:
    return build_asyncapi()


class ReviewOpenedV2(BaseSchema):
    review_id = fields.String(required=True)
    case_id = fields.String(required=True)
    track = fields.String(required=True)
    deadline_at = fields.DateTime(required=True, format="iso")


def registry_with_a_deprecated_version() -> Registry:
    """review.opened in two versions: v1 deprecated, flowing beside v2 until its sunset."""
    versions = Registry()
    versions.register("org.aidflow.review.review.opened.v1", ReviewOpened, exchange=EVENTS, producer="review",
                      consumers=("intake",), summary="Review started.", deprecated=True,
                      sunset=date(2027, 6, 30), superseded_by="org.aidflow.review.review.opened.v2")
    versions.register("org.aidflow.review.review.opened.v2", ReviewOpenedV2, exchange=EVENTS, producer="review",
                      consumers=("intake",), summary="Review started, with its deadline.")
    return versions


def test_the_committed_document_is_what_the_registry_generates(document):
    assert COMMITTED.read_text(encoding="utf-8") == render(document, "yaml"), \
        "docs/contract/asyncapi.yaml is stale: run `make contract` and commit it"
    assert yaml.safe_load(COMMITTED.read_text(encoding="utf-8")) == json.loads(render(document, "json"))


def test_the_official_parser_accepts_the_contract_and_refuses_broken_copies(tmp_path, document):
    def broken_copy(name: str, change) -> Path:
        broken = json.loads(json.dumps(document))
        change(broken["operations"]["send.review.decision.recorded.v1"])
        (tmp_path / name).write_text(render(broken, "yaml"), encoding="utf-8")
        return tmp_path / name

    wrong_action = broken_copy("action.yaml", lambda op: op.update(action="publish"))  # the AsyncAPI 2 word
    no_channel = broken_copy("channel.yaml", lambda op: op.update(
        channel={"$ref": "#/channels/events.review.decision.made.v1"}))
    versions = tmp_path / "versions.yaml"
    versions.write_text(render(build_asyncapi(registry_with_a_deprecated_version()), "yaml"), encoding="utf-8")

    results = run_asyncapi_parser(COMMITTED, versions, wrong_action, no_channel)
    assert results[COMMITTED].valid, results[COMMITTED].output
    assert results[versions].valid, results[versions].output
    assert not results[wrong_action].valid and not results[no_channel].valid
    assert "operations.send.review.decision.recorded.v1.action: " in results[wrong_action].output
    assert "events.review.decision.made.v1' does not exist" in results[no_channel].output


def test_every_registered_type_has_a_message_a_channel_and_operations(document):
    messages, channels, operations = (document["components"]["messages"], document["channels"],
                                      document["operations"])
    assert len(messages) == len(registry.types) and document["asyncapi"] == "3.0.0"
    for message_type in registry:
        message = messages[message_type.short]
        assert message["name"] == message_type.type and message["contentType"] == CONTENT_TYPE
        assert message["bindings"]["amqp"]["messageType"] == message_type.type
        [channel_id] = [cid for cid, c in channels.items() if message_type.short in c["messages"]]
        binding = channels[channel_id]["bindings"]["amqp"]
        assert binding["is"] == "routingKey"
        assert binding["exchange"] == {"name": message_type.exchange, "type": "topic", "durable": True,
                                       "autoDelete": False}
        address = channels[channel_id]["address"]
        if message_type.exchange == EVENTS:
            assert address == message_type.routing_key()
        else:
            assert address.format(agency="legal-aid") == message_type.routing_key("legal-aid")
        ops = {op["action"]: op for op in operations.values()
               if op["messages"] == [{"$ref": f"#/channels/{channel_id}/messages/{message_type.short}"}]}
        assert ("send" in ops) == (message_type.producer != "partner")
        assert ("receive" in ops) == bool(message_type.consumers)
        if "send" in ops:
            assert ops["send"]["bindings"]["amqp"]["deliveryMode"] == 2
            assert ops["send"]["bindings"]["amqp"]["mandatory"] is True
        payload = message["payload"]["allOf"]
        assert payload[0] == {"$ref": "#/components/schemas/CloudEvent"}
        assert payload[1]["properties"]["type"] == {"const": message_type.type}
        assert payload[1]["properties"]["data"]["$ref"].removeprefix("#/components/schemas/") \
            in document["components"]["schemas"]


def test_partner_channels_carry_the_identity_rule_and_the_broker_login(document):
    security = [{"$ref": "#/components/securitySchemes/brokerUser"}]
    assert document["components"]["securitySchemes"]["brokerUser"]["type"] == "userPassword"
    assert document["servers"]["broker"]["protocol"] == "amqp"
    assert "user_id" in document["info"]["description"]
    for message_type in registry:
        message = document["components"]["messages"][message_type.short]
        inbound = message_type.exchange == INBOUND
        assert ("user_id" in message["headers"]["required"]) == inbound
        for operation in document["operations"].values():
            if operation["messages"][0]["$ref"].endswith(f"/messages/{message_type.short}"):
                assert (operation.get("security") == security) == (message_type.exchange in (INBOUND, PARTNERS))
                if inbound:
                    assert operation["bindings"]["amqp"]["userId"] == "{broker_user}"
                    assert "user_id" in operation["description"]


def test_a_deprecated_version_is_marked_with_its_sunset_and_successor():
    document = build_asyncapi(registry_with_a_deprecated_version())
    old, new = (document["components"]["messages"][f"review.review.opened.{v}"] for v in ("v1", "v2"))
    assert old["x-deprecated"] is True and old["payload"]["deprecated"] is True
    assert (old["x-sunset"], old["x-superseded-by"]) == ("2027-06-30", "org.aidflow.review.review.opened.v2")
    assert old["description"].startswith("Deprecated: superseded by org.aidflow.review.review.opened.v2")
    assert "x-deprecated" not in new and "deprecated" not in new["payload"]
    assert "2027-06-30" in document["operations"]["send.review.review.opened.v1"]["description"]


def test_what_the_services_build_validates_against_the_document(document):
    """The envelope and payload a service builds with new_event match the generated schemas."""
    validator = ContractValidator(document)
    now = datetime.now(timezone.utc)
    event = new_event("org.aidflow.review.decision.recorded.v1", {
        "decision_id": "d-1", "case_id": "c-1", "outcome": "approved", "total_fen": 1000, "decided_at": now,
        "awards": [{"beneficiary_id": "b-1", "amount_fen": 1000}]}, source="/aidflow/review")
    properties = {"content_type": CONTENT_TYPE, "message_id": event.id, "type": event.type, "delivery_mode": 2}
    assert validator.problems(properties, event.to_dict()) == []
    wrong = dataclasses.replace(event, data={**event.data, "total_fen": "1000", "awards": [{}]})
    problems = validator.problems({**properties, "delivery_mode": 1}, wrong.to_dict())
    assert any("total_fen" in p for p in problems) and any("awards.0" in p for p in problems)
    assert any("delivery_mode" in p for p in problems)
