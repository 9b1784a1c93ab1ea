"""Each service's OpenAPI document, as served at ``/openapi.json``, is a valid OpenAPI 3.1 document.

Checked with openapi-spec-validator, which validates against the official OpenAPI schema and
resolves every reference; a deliberately broken copy must be refused.
"""
from __future__ import annotations

import copy

import pytest
from openapi_spec_validator import OpenAPIV31SpecValidator, validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError
from referencing.exceptions import Unresolvable

from aidflow.embedded import load_service
from aidflow_shared.runtime import ServiceRuntime
from aidflow_shared.settings import SERVICES
from support import settings_for


@pytest.fixture(scope="module")
def documents(tmp_path_factory) -> dict[str, dict]:
    settings = settings_for(tmp_path_factory.mktemp("openapi"))
    served = {}
    for name in SERVICES:
        runtime = ServiceRuntime(load_service(name), settings[name])
        try:
            response = runtime.create_app().test_client().get("/openapi.json")
            assert response.status_code == 200
            served[name] = response.get_json()
        finally:
            runtime.db.engine.dispose()
    return served


@pytest.mark.parametrize("name", SERVICES)
def test_the_served_openapi_document_is_valid(documents, name):
    document = documents[name]
    assert document["openapi"] == "3.1.0"
    validate(document, cls=OpenAPIV31SpecValidator)
    assert any(path.startswith("/api/v1/") for path in document["paths"])


def test_a_broken_openapi_document_is_refused(documents):
    broken = copy.deepcopy(documents["intake"])
    path = next(p for p in broken["paths"] if p.startswith("/api/v1/"))
    operation = next(iter(broken["paths"][path].values()))
    operation["responses"] = {"ok": {"description": "not a status code"}}
    with pytest.raises(OpenAPIValidationError):
        validate(broken, cls=OpenAPIV31SpecValidator)
    dangling = copy.deepcopy(documents["intake"])
    dangling["paths"][path] = {"get": {"responses": {"200": {"$ref": "#/components/responses/Nothing"}}}}
    with pytest.raises(Unresolvable):
        validate(dangling, cls=OpenAPIV31SpecValidator)
