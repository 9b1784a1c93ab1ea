"""``aidflow partner add`` grants an agency exactly what the deployment's broker definitions grant
the design's agencies: one rule, checked here without a broker so the two cannot drift."""
from __future__ import annotations

import runpy
from pathlib import Path

import pytest

from aidflow.provisioning import ProvisioningError, Registries, add, definitions, permissions

MAKE_DEFINITIONS = runpy.run_path(str(Path(__file__).parents[2] / "deploy" / "rabbitmq" / "make-definitions.py"),
                                  run_name="make_definitions")


def _of(entries: list[dict], agency: str, key: str) -> list[dict]:
    return [e for e in entries if agency in str(e.get(key, ""))]


def test_an_added_agency_gets_what_the_deployment_gives_the_design_agencies():
    deployed = MAKE_DEFINITIONS["definitions"]({u: "pw" for u in MAKE_DEFINITIONS["users"]()})
    mine = definitions("civil-affairs", "secret", "aidflow")
    strip = ("password_hash",)
    [user] = [{k: v for k, v in u.items() if k not in strip} for u in deployed["users"] if u["name"] == "civil-affairs"]
    assert [{k: v for k, v in u.items() if k not in strip} for u in mine["users"]] == [user]
    assert mine["permissions"] == _of(deployed["permissions"], "civil-affairs", "user")
    assert mine["topic_permissions"] == _of(deployed["topic_permissions"], "civil-affairs", "user")
    assert mine["queues"] == _of(deployed["queues"], "civil-affairs", "name")
    assert mine["bindings"] == _of(deployed["bindings"], "civil-affairs", "destination")
    [partner_policy] = [p for p in deployed["policies"] if p["name"] == "aidflow-partner-queues"]
    [policy] = mine["policies"]
    assert policy["definition"].items() <= partner_policy["definition"].items()
    assert policy["pattern"] == r"^aidflow\.partner\.civil-affairs$" and policy["priority"] > partner_policy["priority"]
    assert {e["name"] for e in mine["exchanges"]} <= {e["name"] for e in deployed["exchanges"]}


def test_permissions_name_only_the_agencys_own_queue_and_keys():
    granted = permissions("tax-bureau")
    assert granted == {"configure": "^$", "write": r"^(aidflow\.inbound)$",
                       "read": r"^(aidflow\.partner\.tax-bureau|aidflow\.partner\.tax-bureau\.dead)$",
                       "topic_write": r"^tax-bureau\.", "topic_read": "^$"}
    assert "secret" not in str(definitions("tax-bureau", "secret", "aidflow"))  # only its salted hash


@pytest.mark.parametrize("code", ["Tax", "t", "tax_bureau", "-tax", "tax.bureau", "tax bureau"])
def test_bad_agency_codes_are_refused_before_anything_changes(code):
    untouchable = Registries("http://unused.invalid", "http://unused.invalid", "token")
    with pytest.raises(ProvisioningError, match="agency code"):
        add(None, untouchable, code, "secret", None)
