"""Versioning: the published contract is held in a snapshot, and a breaking change to a published
version fails here until it is made as the next version instead.

The checker is tried on deliberately broken copies of the real contract (a field removed or
renamed, a type changed, a required field added, an enum narrowed ...): each must be reported
as breaking; additions that old readers and writers survive must not be.
"""
from __future__ import annotations

import copy
import dataclasses
from datetime import date, timedelta

import pytest
from marshmallow import fields

from aidflow_shared.contracts import EVENTS, Registry, UnknownMessageType, registry
from aidflow_shared.contracts.compat import compare, dump, load, main, snapshot
from aidflow_shared.contracts.review import DecisionRecorded, ReviewOpened
from contract_checks import CONTRACT

SNAPSHOT = CONTRACT / "snapshot.json"
DECISION = "org.aidflow.review.decision.recorded.v1"
SUBMIT = "org.aidflow.partner.referral.submit.v1"
DISBURSED = "org.aidflow.payout.disbursed.v1"
HANDOFF = "org.aidflow.followup.handoff.requested.v1"


@pytest.fixture(scope="module")
def published() -> dict:
    return load(SNAPSHOT)


@pytest.fixture(scope="module")
def current() -> dict:
    return snapshot()


def breaking(changes) -> list[tuple[str, str, str]]:
    return [(c.type, c.path, c.kind) for c in changes if c.breaking]


def test_no_published_version_changed_in_a_breaking_way(published, current):
    changes = compare(published, current)
    assert not breaking(changes), "\n".join(
        [str(c) for c in changes if c.breaking]
        + ["A published version must not break: register the change as the next version (.vN+1) beside it."])


def test_the_snapshot_is_the_current_contract(published, current):
    changes = compare(published, current)
    assert dump(current) == SNAPSHOT.read_text(encoding="utf-8"), \
        "docs/contract/snapshot.json is stale: run `make contract` and commit it\n" + "\n".join(map(str, changes))


def data_schema(contract: dict, type_name: str, *path: str) -> dict:
    schema = contract["types"][type_name]["schema"]
    for name in path:
        schema = schema["properties"][name]
        schema = schema.get("items", schema)
        schema = next((a for a in schema.get("anyOf", ()) if a != {"type": "null"}), schema)
    return schema


def remove_field(contract):
    del data_schema(contract, DECISION)["properties"]["reason_code"]


def rename_field(contract):
    schema = data_schema(contract, DISBURSED)
    schema["properties"]["payout_ref"] = schema["properties"].pop("payout_id")
    schema["required"] = sorted({*schema["required"], "payout_ref"} - {"payout_id"})


def change_a_type(contract):
    data_schema(contract, DISBURSED)["properties"]["amount_fen"]["type"] = "string"


def add_a_required_field(contract):
    schema = data_schema(contract, SUBMIT)
    schema["properties"]["agency_case_officer"] = {"type": "string"}
    schema["required"].append("agency_case_officer")


def make_a_field_required(contract):
    data_schema(contract, SUBMIT)["required"].append("summary")


def narrow_an_enum(contract):
    data_schema(contract, SUBMIT, "beneficiaries", "relationship")["enum"].remove("witness")


def refuse_null(contract):
    data_schema(contract, HANDOFF)["properties"]["note"]["type"] = "string"


def remove_a_nested_field(contract):
    del data_schema(contract, HANDOFF, "health")["properties"]["psychological_state"]


def narrow_a_limit(contract):
    data_schema(contract, SUBMIT)["properties"]["partner_reference"]["maxLength"] = 32


def route_elsewhere(contract):
    contract["types"][DISBURSED]["routing_key"] = "payout.paid.v1"


def remove_a_type(contract):
    del contract["types"][DISBURSED]


@pytest.mark.parametrize("break_it, where, kind", [
    (remove_field, (DECISION, "reason_code"), "field-removed"),
    (rename_field, (DISBURSED, "payout_id"), "field-removed"),  # and payout_ref added, required
    (change_a_type, (DISBURSED, "amount_fen"), "type-changed"),
    (add_a_required_field, (SUBMIT, "agency_case_officer"), "field-added-required"),
    (make_a_field_required, (SUBMIT, "summary"), "field-now-required"),
    (narrow_an_enum, (SUBMIT, "beneficiaries.[].relationship"), "enum-narrowed"),
    (refuse_null, (HANDOFF, "note"), "type-changed"),
    (remove_a_nested_field, (HANDOFF, "health.psychological_state"), "field-removed"),
    (narrow_a_limit, (SUBMIT, "partner_reference"), "limit-narrowed"),
    (route_elsewhere, (DISBURSED, ""), "route-changed"),
    (remove_a_type, (DISBURSED, ""), "type-removed"),
])
def test_a_broken_copy_of_the_contract_is_refused(published, break_it, where, kind):
    broken = copy.deepcopy(published)
    break_it(broken)
    found = breaking(compare(published, broken))
    assert (*where, kind) in found
    assert len(found) == (2 if break_it is rename_field else 1), found


def add_an_optional_field(contract):
    data_schema(contract, DECISION)["properties"]["appeal_deadline"] = {"type": ["string", "null"],
                                                                         "format": "date"}


def widen_an_enum(contract):
    data_schema(contract, SUBMIT, "beneficiaries", "relationship")["enum"].append("guardian")


def loosen_a_limit(contract):
    data_schema(contract, SUBMIT)["properties"]["partner_reference"]["maxLength"] = 128


def add_the_next_version(contract):
    contract["types"][DISBURSED.replace(".v1", ".v2")] = copy.deepcopy(contract["types"][DISBURSED])


def bound_money_by_what_json_keeps(contract):
    data_schema(contract, DISBURSED)["properties"]["amount_fen"]["maximum"] = 2**53 - 1


@pytest.mark.parametrize("change_it, kind", [
    (add_an_optional_field, "field-added"),
    (widen_an_enum, "enum-widened"),
    (loosen_a_limit, "limit-loosened"),
    (add_the_next_version, "type-added"),
    (bound_money_by_what_json_keeps, None),
])
def test_a_compatible_change_passes(published, change_it, kind):
    changed = copy.deepcopy(published)
    change_it(changed)
    changes = compare(published, changed)
    assert not breaking(changes)
    assert [c.kind for c in changes] == ([kind] if kind else [])


def registry_copy(**replacements) -> Registry:
    copied = Registry(dict(registry.types))
    for type_name, message_type in replacements.items():
        copied.types[type_name] = message_type
    return copied


class DecisionWithoutReason(DecisionRecorded):
    class Meta:
        exclude = ("reason_code",)


class DecisionWithAppeal(DecisionRecorded):
    appeal_deadline = fields.Date(load_default=None, allow_none=True)


def test_a_schema_edited_in_place_is_caught_and_the_next_version_is_not(published):
    edited = dataclasses.replace(registry.get(DECISION), schema=DecisionWithoutReason)
    assert breaking(compare(published, snapshot(registry_copy(**{DECISION: edited})))) == \
        [(DECISION, "reason_code", "field-removed")]

    v2 = dataclasses.replace(edited, type=DECISION.replace(".v1", ".v2"))
    with_v2 = snapshot(registry_copy(**{v2.type: v2}))
    assert [(c.type, c.kind, c.breaking) for c in compare(published, with_v2)] == [(v2.type, "type-added", False)]

    added = dataclasses.replace(edited, schema=DecisionWithAppeal)
    assert [(c.path, c.kind, c.breaking) for c in compare(published, snapshot(registry_copy(**{DECISION: added})))] \
        == [("appeal_deadline", "field-added", False)]


def test_a_deprecated_type_may_go_only_after_its_sunset(published):
    for sunset, allowed in ((date.today() - timedelta(days=1), True), (date.today() + timedelta(days=30), False)):
        old = copy.deepcopy(published)
        old["types"][DISBURSED].update(deprecated=True, sunset=sunset.isoformat(),
                                       superseded_by=DISBURSED.replace(".v1", ".v2"))
        gone = copy.deepcopy(published)
        del gone["types"][DISBURSED]
        [change] = compare(old, gone)
        assert (change.kind, change.breaking) == (("type-retired", False) if allowed else ("type-removed", True))


def test_a_deprecation_leaves_readers_and_writers_time_to_move(published):
    for days, allowed in ((200, True), (30, False)):
        deprecated = copy.deepcopy(published)
        deprecated["types"][DISBURSED].update(deprecated=True, sunset=(date.today() + timedelta(days=days)).isoformat(),
                                              superseded_by=DISBURSED.replace(".v1", ".v2"))
        [change] = compare(published, deprecated)
        assert (change.kind, change.breaking) == (("deprecated", False) if allowed else ("sunset-too-soon", True))


def test_the_command_refuses_to_publish_a_break_unless_told(tmp_path, published, capsys):
    broken = copy.deepcopy(published)
    remove_field(broken)
    (tmp_path / "broken.json").write_text(dump(broken), encoding="utf-8")
    target = tmp_path / "snapshot.json"
    target.write_text(dump(published), encoding="utf-8")

    assert main(["--snapshot", str(target), "--current", str(tmp_path / "broken.json")]) == 1
    assert f"BREAKING field-removed: {DECISION} reason_code" in capsys.readouterr().out
    assert main(["--snapshot", str(target), "--current", str(tmp_path / "broken.json"), "--update"]) == 1
    assert load(target) == published
    assert main(["--snapshot", str(target), "--current", str(tmp_path / "broken.json"), "--update",
                 "--accept-breaking"]) == 0
    assert load(target) == broken


# -- deprecation in the registry -----------------------------------------------------------------------


def two_versions(*, sunset: date) -> Registry:
    versions = Registry()
    versions.register("org.aidflow.review.review.opened.v1", ReviewOpened, exchange=EVENTS, producer="review",
                      summary="v1", deprecated=True, sunset=sunset,
                      superseded_by="org.aidflow.review.review.opened.v2")
    versions.register("org.aidflow.review.review.opened.v2", ReviewOpened, exchange=EVENTS, producer="review",
                      summary="v2")
    return versions


def test_both_versions_flow_until_the_sunset_then_only_the_new_one():
    sunset = date(2027, 6, 30)
    versions = two_versions(sunset=sunset)
    versions.check()
    assert [t.version for t in versions.versions("review.review.opened")] == [1, 2]
    assert [t.type[-2:] for t in versions.flowing("org.aidflow.review.review.opened.v2", sunset)] == ["v2", "v1"]
    assert [t.type[-2:] for t in versions.flowing("org.aidflow.review.review.opened.v2",
                                                  sunset + timedelta(days=1))] == ["v2"]


@pytest.mark.parametrize("changes, problem", [
    (dict(deprecated=True), "needs its sunset"),
    (dict(sunset=date(2027, 1, 1)), "only goes with deprecated"),
    (dict(deprecated=True, sunset=date(2027, 1, 1), superseded_by="org.aidflow.review.case.opened.v2"),
     "later version of itself"),
    (dict(deprecated=True, sunset=date(2027, 1, 1), superseded_by="org.aidflow.review.review.opened.v1"),
     "later version of itself"),
])
def test_a_deprecation_names_a_sunset_and_a_later_version(changes, problem):
    with pytest.raises(ValueError, match=problem):
        Registry().register("org.aidflow.review.review.opened.v1", ReviewOpened, exchange=EVENTS,
                            producer="review", summary="v1", **changes)


def test_a_successor_that_is_not_registered_is_reported():
    versions = Registry()
    versions.register("org.aidflow.review.review.opened.v1", ReviewOpened, exchange=EVENTS, producer="review",
                      summary="v1", deprecated=True, sunset=date(2027, 1, 1),
                      superseded_by="org.aidflow.review.review.opened.v2")
    with pytest.raises(ValueError, match="not registered"):
        versions.check()
    with pytest.raises(UnknownMessageType):
        versions.flowing("org.aidflow.review.review.opened.v2", date(2026, 1, 1))
    registry.check()  # the real registry is whole
