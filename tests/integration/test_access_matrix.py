"""The permission matrix, tested: every API route of every service, called as every role.

Routes come from each service's own URL map, so a route missing from
``aidflow_shared.permissions.MATRIX`` fails here, and so does an entry for a route that is gone.
A role the matrix lists must get past the role check (any answer but 403 ``forbidden``: the
dummy ids give 404s and 400s); a role it does not list gets 403 ``forbidden``; a token that
is missing, expired, for another issuer or audience, or signed with another key gets 401.
"""
from __future__ import annotations

import importlib
from datetime import timedelta

import pytest

from aidflow_shared.auth import ROLES, mint_token
from aidflow_shared.permissions import MATRIX
from aidflow_shared.runtime import ServiceRuntime
from support import settings_for

SERVICES = ("intake", "review", "payout", "followup")
DUMMY_ID = "00000000-0000-4000-8000-000000000000"
OTHER_SECRET = "another-deployment-secret-long-enough-for-hs256"


class Api:
    """One service, migrated, with a test client and no background work."""

    def __init__(self, service: str, tmp_path):
        self.runtime = ServiceRuntime(importlib.import_module(f"aidflow_{service}.service").service,
                                      settings_for(tmp_path)[service])
        self.runtime.migrate()
        self.settings = self.runtime.settings
        self.client = self.runtime.create_app().test_client()
        self.app = self.client.application

    def call(self, method, path, token):
        return self.client.open(path, method=method, json={},
                                headers={"Authorization": f"Bearer {token}"} if token else {})


@pytest.fixture(scope="module", params=SERVICES)
def api(request, tmp_path_factory):
    service = Api(request.param, tmp_path_factory.mktemp(request.param))
    service.name = request.param
    yield service
    service.runtime.stop()


def api_routes(app):
    """(method, rule, path with dummy arguments, view) of every ``/api/`` route of ``app``."""
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/"):
            path = rule.rule
            for argument in rule.arguments:
                path = path.replace(f"<{argument}>", DUMMY_ID)
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                yield method, rule.rule, path, app.view_functions[rule.endpoint]


def test_every_route_has_an_entry_and_every_entry_a_route(api):
    routes = {(method, rule) for method, rule, _, _ in api_routes(api.app)}
    listed = {(method, rule) for svc, method, rule in MATRIX if svc == api.name}
    assert sorted(routes - listed) == [], "routes without an entry in the permission matrix"
    assert sorted(listed - routes) == [], "entries in the permission matrix for routes that are gone"


def test_each_views_require_says_what_the_matrix_says(api):
    for method, rule, _, view in api_routes(api.app):
        assert set(getattr(view, "required_roles", ())) == set(MATRIX[api.name, method, rule].roles), (method, rule)


def test_every_role_on_every_route_gets_what_the_matrix_says(api):
    settings = api.settings
    tokens = {role: mint_token(settings, f"matrix-{role}", [role], agency="civil-affairs" if role == "partner_agency"
                               else None, ttl=timedelta(minutes=10)) for role in ROLES}
    wrong = [mint_token(settings, "x", ["auditor"], ttl=timedelta(seconds=-120)),
             mint_token(settings.replace(jwt_issuer="someone-else"), "x", ["auditor"]),
             mint_token(settings.replace(jwt_audience="someone-else"), "x", ["auditor"]),
             mint_token(settings.replace(jwt_secret=OTHER_SECRET), "x", ["auditor"]),
             None]
    wrong_answers, checked = [], 0
    for method, rule, path, _ in api_routes(api.app):
        allowed = set(MATRIX[api.name, method, rule].roles) if (api.name, method, rule) in MATRIX else set()
        for role in ROLES:
            response = api.call(method, path, tokens[role])
            forbidden = response.status_code == 403 and response.get_json()["error"]["code"] == "forbidden"
            if forbidden == (role in allowed) or response.status_code >= 500:
                wrong_answers.append((method, rule, role, response.status_code))
            checked += 1
        for token in wrong:
            response = api.call(method, path, token)
            if response.status_code != 401:
                wrong_answers.append((method, rule, "bad token", response.status_code))
    assert wrong_answers == []
    assert checked >= len(ROLES) * 3
