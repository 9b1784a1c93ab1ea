"""Intake's OpenAPI document lists every route it serves, with its request and response schemas."""
from __future__ import annotations

import re

import pytest

from support import IntakeApp, settings_for

ROUTES = {
    ("post", "/api/v1/referrals"), ("get", "/api/v1/cases"), ("get", "/api/v1/cases/{case_id}"),
    ("get", "/api/v1/cases/{case_id}/documents"), ("post", "/api/v1/cases/{case_id}/documents"),
    ("put", "/api/v1/cases/{case_id}/eligibility"), ("post", "/api/v1/cases/{case_id}/acceptance"),
    ("post", "/api/v1/leads"), ("get", "/api/v1/leads"), ("get", "/api/v1/leads/{lead_id}"),
    ("post", "/api/v1/leads/{lead_id}/promotion"), ("post", "/api/v1/leads/{lead_id}/dismissal"),
    ("post", "/api/v1/partner-referrals"), ("get", "/api/v1/agencies"), ("put", "/api/v1/agencies/{code}"),
    ("get", "/api/v1/reports/summary"), ("get", "/api/v1/audit"), ("get", "/api/v1/audit/verification"),
}


@pytest.fixture
def document(tmp_path):
    app = IntakeApp(settings_for(tmp_path)["intake"])
    response = app.client.get("/openapi.json")  # open to all, like the health endpoints
    assert response.status_code == 200
    served = {(method.lower(), re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule))
              for rule in app.client.application.url_map.iter_rules() if rule.rule.startswith("/api/")
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    yield response.get_json(), served
    app.close()


def resolve(document: dict, schema: dict) -> dict:
    ref = schema.get("$ref")
    return document["components"]["schemas"][ref.rsplit("/", 1)[1]] if ref else schema


def test_every_intake_route_is_documented_with_its_schemas(document):
    doc, served = document
    listed = {(method, path) for path, operations in doc["paths"].items() for method in operations
              if path.startswith("/api/") and method != "parameters"}
    assert listed == served == ROUTES
    for method, path in ROUTES:
        operation = doc["paths"][path][method]
        assert operation["summary"] and operation["security"] == [{"bearerAuth": []}], (method, path)
        assert operation["x-roles"], (method, path)
        success = [code for code in operation["responses"] if code.startswith("2")]
        assert len(success) == 1, (method, path)
        body = operation["responses"][success[0]]["content"]["application/json"]["schema"]
        assert resolve(doc, body)["properties"], (method, path)
        if method in ("post", "put"):
            request = operation["requestBody"]["content"]["application/json"]["schema"]
            assert resolve(doc, request)["properties"], (method, path)
        assert "4XX" in operation["responses"]


def test_the_referral_schema_tells_the_sources_and_the_person_fields(document):
    doc, _ = document
    referral = resolve(doc, doc["paths"]["/api/v1/referrals"]["post"]["requestBody"]["content"]
                       ["application/json"]["schema"])
    assert set(referral["properties"]["source"]["enum"]) == {"ex_officio", "partner_transfer", "application"}
    assert {"received_at", "accepted_at", "accept", "override_reason", "documents", "application",
            "eligibility_situation", "victim_deceased"} <= set(referral["properties"])
    person = resolve(doc, referral["properties"]["beneficiaries"]["items"])
    fields = {"name", "id_type", "id_number", "phone", "poverty_markers", "urgent_medical_need"}
    assert fields <= set(person["properties"])
    case = resolve(doc, doc["paths"]["/api/v1/cases/{case_id}"]["get"]["responses"]["200"]["content"]
                   ["application/json"]["schema"])
    assert {"checklist", "transfers", "linked_cases", "beneficiaries", "migrated"} <= set(case["properties"])
