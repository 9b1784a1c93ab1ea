"""No /api/v1 route of any service is open: each refuses a missing, forged or expired token."""
from __future__ import annotations

from datetime import timedelta

import jwt
import pytest

from aidflow_shared.auth import mint_token
from support import settings_for, start_system, wait_until

SERVICES = ("intake", "review", "payout", "followup")


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    running = start_system(settings_for(tmp_path_factory.mktemp("auth")))
    yield running
    running.stop()


def api_routes(app):
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/"):
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                path = rule.rule
                for argument in rule.arguments:
                    path = path.replace(f"<{argument}>", "x").replace(f"<string:{argument}>", "x")
                yield method, path


@pytest.mark.parametrize("name", SERVICES)
def test_every_api_route_refuses_without_a_valid_token(system, name):
    client = system.clients[name]
    settings = system.runtimes[name].settings
    expired = mint_token(settings, "someone", ["auditor"], ttl=timedelta(seconds=-120))
    forged = jwt.encode({"sub": "x", "roles": ["auditor"], "iss": settings.jwt_issuer, "aud": settings.jwt_audience,
                         "exp": 4102444800}, "not-the-secret-not-the-secret-not-the-secret", algorithm="HS256")
    routes = list(api_routes(client.application))
    assert routes, f"{name} has no API routes"
    for method, path in routes:
        for headers, code in (({}, "unauthenticated"),
                              ({"Authorization": f"Bearer {forged}"}, "token_invalid"),
                              ({"Authorization": f"Bearer {expired}"}, "token_expired"),
                              ({"Authorization": "Basic Z3Vlc3Q6Z3Vlc3Q="}, "unauthenticated")):
            response = client.open(path, method=method, headers=headers, json={})
            assert response.status_code == 401, (method, path, headers)
            assert response.get_json()["error"]["code"] == code
            assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("name", SERVICES)
def test_health_metrics_and_openapi_are_open(system, name):
    client = system.clients[name]
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").get_json()["status"] == "ready"
    metrics = client.get("/metrics").get_data(as_text=True)
    assert "aidflow_outbox_backlog" in metrics and "aidflow_bus_connected" in metrics
    document = client.get("/openapi.json").get_json()
    assert document["openapi"].startswith("3.") and document["paths"]


def test_healthz_fails_once_background_work_has_stopped(system):
    """A worker whose consumer (or relay, scanner, task) thread ended is not alive: restart it."""
    runtime = system.runtimes["review"]
    client = system.clients["review"]
    assert client.get("/healthz").status_code == 200
    runtime._spawn("probe", lambda: None)  # a background thread that ends at once
    try:
        wait_until(lambda: client.get("/healthz").status_code == 503)
        body = client.get("/healthz").get_json()
        assert body["status"] == "failed" and "review-probe" in body["checks"]["background"]
    finally:
        runtime._threads[:] = [t for t in runtime._threads if t.name != "review-probe"]
    assert client.get("/healthz").status_code == 200


def test_a_role_without_the_right_gets_403_in_the_language_asked(system):
    token = mint_token(system.runtimes["payout"].settings, "clerk", ["intake_clerk"])
    for language, word in (("zh-CN", "无权"), ("en", "not allowed")):
        response = system.clients["payout"].post("/api/v1/funds", json={}, headers={
            "Authorization": f"Bearer {token}", "Accept-Language": language})
        assert response.status_code == 403
        assert word in response.get_json()["error"]["message"].lower()
