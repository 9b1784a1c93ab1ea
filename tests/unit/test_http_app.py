"""The shared HTTP shell, exercised through a tiny service built with create_api_app."""
import logging
import re
from datetime import timedelta

import pytest
from flask import Blueprint, jsonify
from marshmallow import ValidationError, fields, validate
from prometheus_client import CollectorRegistry

from aidflow_shared.auth import mint_token
from aidflow_shared.http.app import MAX_BODY_BYTES, create_api_app
from aidflow_shared.http.auth import current_principal, require
from aidflow_shared.http.errors import ApiError, answer_refusals, load_json
from aidflow_shared.http.openapi import doc
from aidflow_shared.schema import BaseSchema
from aidflow_shared.settings import Settings

SECRET = "unit-test-secret-that-is-long-enough-for-hs256"


def id_number(value):
    if len(value) != 18:
        raise ValidationError("invalid_id_number")


class BeneficiarySchema(BaseSchema):
    name = fields.String(required=True)
    id_number = fields.String(required=True, validate=id_number)


class OpenCaseSchema(BaseSchema):
    source = fields.String(required=True, validate=validate.OneOf(["ex_officio", "partner"]))
    beneficiaries = fields.List(fields.Nested(BeneficiarySchema), required=True)


class CaseSchema(BaseSchema):
    case_id = fields.Integer(required=True)
    opened_by = fields.String(required=True)


cases = Blueprint("cases", __name__, url_prefix="/api/v1/cases")


@cases.post("")
@doc(summary="Open a case", request=OpenCaseSchema, response=CaseSchema, status=201)
@require("intake_clerk")
def open_case():
    load_json(OpenCaseSchema)
    return jsonify(case_id=7, opened_by=current_principal().subject), 201


@cases.get("/<int:case_id>")
def show_case(case_id):
    """Show a case to any signed-in caller."""
    if case_id == 404:
        raise ApiError(404, "not_found")
    return jsonify(case_id=case_id, agency=current_principal().agency)


crashes = Blueprint("crashes", __name__)


@crashes.post("/api/v1/crash")
def crash():
    raise RuntimeError("bug while handling")


@pytest.fixture
def settings():
    return Settings(service="intake", jwt_secret=SECRET)


@pytest.fixture
def readiness():
    return {"database": lambda: None}


@pytest.fixture
def app(settings, readiness):
    return create_api_app(
        settings,
        title="Intake",
        version="1.0.0",
        blueprints=[cases, crashes],
        readiness=readiness,
        metrics_registry=CollectorRegistry(),
    )


@pytest.fixture
def client(app):
    return app.test_client()


def bearer(settings, *roles, agency=None, ttl=timedelta(hours=1)):
    return {"Authorization": "Bearer " + mint_token(settings, "alice", roles, agency=agency, ttl=ttl)}


def error_of(response):
    return response.get_json()["error"]


GOOD_CASE = {"source": "partner", "beneficiaries": [{"name": "张三", "id_number": "11010119900307123X"}]}


# Authentication and roles


def api_requests(app):
    adapter = app.url_map.bind("localhost")
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/"):
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                values = {name: 1 for name in rule.arguments}
                yield method, adapter.build(rule.endpoint, values, method=method)


def test_every_api_route_refuses_a_request_without_a_token(app, client):
    seen = list(api_requests(app))
    assert len(seen) == 3
    for method, url in seen:
        response = client.open(url, method=method, json=GOOD_CASE)
        assert response.status_code == 401, (method, url)
        assert error_of(response)["code"] == "unauthenticated"
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="aidflow"'


def test_unknown_api_paths_are_closed_too(client, settings):
    assert client.get("/api/v1/nothing-here").status_code == 401
    response = client.get("/api/v1/nothing-here", headers=bearer(settings, "ops"))
    assert response.status_code == 404


@pytest.mark.parametrize("authorization", ["", "Bearer", "Bearer ", "Basic YWxpY2U6c2VjcmV0", "alice"])
def test_a_missing_or_foreign_scheme_is_unauthenticated(client, authorization):
    response = client.get("/api/v1/cases/1", headers={"Authorization": authorization})
    assert response.status_code == 401
    assert error_of(response)["code"] == "unauthenticated"


def test_an_expired_token_says_so(client, settings):
    response = client.get("/api/v1/cases/1", headers=bearer(settings, "reviewer", ttl=timedelta(minutes=-5)))
    assert response.status_code == 401
    assert error_of(response)["code"] == "token_expired"
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_a_token_signed_with_another_secret_is_invalid(client, settings):
    headers = bearer(settings.replace(jwt_secret="another-secret-that-is-long-enough-too"), "reviewer")
    response = client.get("/api/v1/cases/1", headers=headers)
    assert response.status_code == 401
    assert error_of(response)["code"] == "token_invalid"


def test_a_valid_token_reaches_the_view_with_its_principal(client, settings):
    response = client.get("/api/v1/cases/3", headers=bearer(settings, "partner_agency", agency="legal-aid"))
    assert response.status_code == 200
    assert response.get_json() == {"case_id": 3, "agency": "legal-aid"}


def test_the_wrong_role_is_forbidden(client, settings):
    response = client.post("/api/v1/cases", json=GOOD_CASE, headers=bearer(settings, "reviewer", "auditor"))
    assert response.status_code == 403
    assert error_of(response) == {"code": "forbidden", "message": "无权执行此操作。"}


def test_the_right_role_is_served(client, settings):
    headers = bearer(settings, "reviewer", "intake_clerk")
    response = client.post("/api/v1/cases", json=GOOD_CASE, headers=headers)
    assert response.status_code == 201
    assert response.get_json() == {"case_id": 7, "opened_by": "alice"}


# The error format


def test_field_errors_have_codes_and_chinese_messages_by_default(client, settings):
    body = {"source": "rumour", "beneficiaries": [{"name": "张三", "id_number": "123"}], "extra": 1}
    response = client.post("/api/v1/cases", json=body, headers=bearer(settings, "intake_clerk"))
    assert response.status_code == 422
    assert error_of(response) == {
        "code": "validation_failed",
        "message": "提交的数据有误，请按字段提示修改。",
        "fields": {
            "source": [{"code": "one_of", "message": "取值不在允许的选项中。"}],
            "beneficiaries.0.id_number": [{"code": "invalid_id_number", "message": "居民身份证号码无效。"}],
            "extra": [{"code": "unknown_field", "message": "不允许提交此字段。"}],
        },
    }
    assert "Accept-Language" in response.headers["Vary"]


def test_field_errors_in_english_when_preferred(client, settings):
    headers = {**bearer(settings, "intake_clerk"), "Accept-Language": "en-GB,en;q=0.9,zh;q=0.5"}
    response = client.post("/api/v1/cases", json={"source": "partner"}, headers=headers)
    assert response.status_code == 422
    assert error_of(response) == {
        "code": "validation_failed",
        "message": "Some fields are invalid; see the field errors.",
        "fields": {"beneficiaries": [{"code": "required", "message": "This field is required."}]},
    }


@pytest.mark.parametrize(
    "data, content_type, status, code",
    [
        ('{"source": ', "application/json", 400, "invalid_json"),
        (b"\xff\xfe{", "application/json", 400, "invalid_json"),
        ('["a list"]', "application/json", 422, "not_json_object"),
        ("null", "application/json", 422, "not_json_object"),
        ("source=partner", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
        ("{}", None, 415, "unsupported_media_type"),
    ],
)
def test_bodies_that_are_not_a_json_object(client, settings, data, content_type, status, code):
    response = client.post("/api/v1/cases", data=data, content_type=content_type,
                           headers=bearer(settings, "intake_clerk"))
    assert response.status_code == status
    error = error_of(response)
    assert error["code"] == code
    assert error["message"] != code
    assert "fields" not in error


def test_a_body_over_the_limit_is_refused(app, client, settings):
    assert app.config["MAX_CONTENT_LENGTH"] == MAX_BODY_BYTES == 1024 * 1024
    body = '{"source": "' + "x" * MAX_BODY_BYTES + '"}'
    response = client.post("/api/v1/cases", data=body, content_type="application/json",
                           headers=bearer(settings, "intake_clerk"))
    assert response.status_code == 413
    assert error_of(response)["code"] == "payload_too_large"


def test_not_found_uses_the_format(client, settings):
    response = client.get("/nowhere", headers={"Accept-Language": "en"})
    assert response.status_code == 404
    assert response.get_json() == {"error": {"code": "not_found", "message": "Not found."}}
    raised = client.get("/api/v1/cases/404", headers=bearer(settings, "reviewer"))
    assert raised.status_code == 404
    assert error_of(raised)["code"] == "not_found"


def test_a_wrong_method_says_which_are_allowed(client, settings):
    response = client.delete("/api/v1/cases/1", headers=bearer(settings, "ops"))
    assert response.status_code == 405
    assert error_of(response)["code"] == "method_not_allowed"
    assert "GET" in response.headers["Allow"]


def test_a_bug_is_a_500_logged_without_the_request_body(client, settings, caplog):
    secret_body = {"id_number": "11010119900307123X"}
    with caplog.at_level(logging.ERROR):
        response = client.post("/api/v1/crash", json=secret_body, headers=bearer(settings, "ops"))
    assert response.status_code == 500
    assert error_of(response)["code"] == "internal_error"
    assert "bug while handling" not in response.get_data(as_text=True)
    [record] = [r for r in caplog.records if r.exc_info]
    assert record.exc_info[0] is RuntimeError
    assert "/api/v1/crash" in record.getMessage()
    assert "11010119900307123X" not in caplog.text


# Probes, metrics, OpenAPI


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_when_every_check_passes(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ready", "checks": {"database": "ok"}}


def test_readyz_names_the_failing_check_without_secrets(client, readiness):
    def broker():
        raise ConnectionRefusedError("amqp://aidflow:hunter2@rabbitmq:5672/ refused")

    readiness["broker"] = broker
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json() == {
        "status": "not_ready",
        "checks": {"database": "ok", "broker": "failed: ConnectionRefusedError"},
    }
    assert "hunter2" not in response.get_data(as_text=True)


def test_metrics_count_requests_by_route_template(client, settings):
    client.get("/api/v1/cases/12345", headers=bearer(settings, "reviewer"))
    client.get("/api/v1/cases/12345")
    client.get("/no/such/page")
    text = client.get("/metrics").get_data(as_text=True)
    assert "aidflow_http_requests_total" in text
    assert re.search(r'aidflow_http_requests_total\{method="GET",route="/api/v1/cases/<int:case_id>",'
                     r'service="intake",status="200"\} 1\.0', text)
    assert 'route="/api/v1/cases/<int:case_id>",service="intake",status="401"' in text
    assert 'route="<unmatched>",service="intake",status="404"' in text
    assert "aidflow_http_request_seconds_bucket" in text
    assert "12345" not in text


def test_apps_sharing_a_registry_share_the_request_metrics(settings):
    registry = CollectorRegistry()
    apps = [
        create_api_app(settings.replace(service=service), title=service, version="1", blueprints=[],
                       readiness={}, metrics_registry=registry)
        for service in ("intake", "review")
    ]
    for app in apps:
        app.test_client().get("/healthz")
    text = apps[0].test_client().get("/metrics").get_data(as_text=True)
    assert 'route="/healthz",service="intake",status="200"} 1.0' in text
    assert 'route="/healthz",service="review",status="200"} 1.0' in text


def test_probes_and_documents_need_no_token(client):
    for path in ("/healthz", "/readyz", "/metrics", "/openapi.json"):
        assert client.get(path).status_code == 200, path


def resolve(document, ref):
    node = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def refs_in(node):
    if isinstance(node, dict):
        if "$ref" in node:
            yield node["$ref"]
        for value in node.values():
            yield from refs_in(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs_in(value)


def test_openapi_document_is_3_1_with_bearer_auth(client):
    document = client.get("/openapi.json").get_json()
    assert document["openapi"] == "3.1.0"
    assert document["info"] == {"title": "Intake", "version": "1.0.0"}
    assert document["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    for ref in refs_in(document):
        assert resolve(document, ref), ref
    assert set(document["paths"]) == {
        "/api/v1/cases", "/api/v1/cases/{case_id}", "/api/v1/crash",
        "/healthz", "/readyz", "/metrics", "/openapi.json",
    }
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            assert operation["responses"], (path, method)
            if path.startswith("/api/"):
                assert operation["security"] == [{"bearerAuth": []}]
                assert operation["responses"]["4XX"] == {"$ref": "#/components/responses/Error"}
            else:
                assert "security" not in operation


def test_openapi_operations_carry_their_documentation(client):
    document = client.get("/openapi.json").get_json()
    open_case = document["paths"]["/api/v1/cases"]["post"]
    assert open_case["summary"] == "Open a case"
    assert open_case["tags"] == ["cases"]
    assert open_case["x-roles"] == ["intake_clerk"]
    assert open_case["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/OpenCase"}
    assert "201" in open_case["responses"]
    show_case = document["paths"]["/api/v1/cases/{case_id}"]
    assert show_case["get"]["summary"] == "Show a case to any signed-in caller."
    assert show_case["parameters"] == [
        {"name": "case_id", "in": "path", "required": True, "schema": {"type": "integer"}}]
    error = document["components"]["schemas"]["ErrorBody"]
    assert set(error["properties"]) == {"code", "message", "fields"}


def test_the_development_secret_is_warned_about(caplog):
    with caplog.at_level(logging.WARNING):
        create_api_app(Settings(service="review"), title="Review", version="1", blueprints=[],
                       readiness={}, metrics_registry=CollectorRegistry())
    assert "development JWT secret" in caplog.text


def test_a_real_secret_is_not_warned_about(settings, caplog):
    with caplog.at_level(logging.WARNING):
        create_api_app(settings, title="Intake", version="1", blueprints=[],
                       readiness={}, metrics_registry=CollectorRegistry())
    assert "development JWT secret" not in caplog.text


class Refusal(Exception):
    """A service's own refusal, as its rules raise it: a status, a code, field codes."""

    def __init__(self, status, code, fields=None):
        super().__init__(code)
        self.status, self.code, self.fields = status, code, fields or {}


def test_a_services_own_refusal_is_answered_like_an_api_error_where_its_blueprint_says_so(settings, readiness):
    refusing, other = Blueprint("refusing", __name__), Blueprint("other", __name__)
    answer_refusals(refusing, Refusal)

    @refusing.post("/api/v1/cases/<int:case_id>/closure")
    def close_case(case_id):
        raise Refusal(409, "conflict", {"status": ["conflict"]})

    @other.post("/api/v1/elsewhere")
    def elsewhere():
        raise Refusal(409, "conflict")  # this blueprint did not say it answers them: a bug, a 500

    app = create_api_app(settings, title="Intake", version="1.0.0", blueprints=[refusing, other],
                         readiness=readiness, metrics_registry=CollectorRegistry())
    client = app.test_client()
    response = client.post("/api/v1/cases/3/closure", headers=bearer(settings, "intake_clerk"))
    assert response.status_code == 409
    error = error_of(response)
    assert error["code"] == "conflict" and [f["code"] for f in error["fields"]["status"]] == ["conflict"]
    unanswered = client.post("/api/v1/elsewhere", headers=bearer(settings, "intake_clerk"))
    assert unanswered.status_code == 500 and error_of(unanswered)["code"] == "internal_error"
