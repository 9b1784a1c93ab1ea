"""The OpenAPI 3.1 document of a service, read off the app itself.

The document is built from ``app.url_map``, so every route appears, documented or not, and the
document cannot drift from what the service serves. :func:`doc` adds what the routing table
cannot know: a summary, the request and response schemas, the success status. Every ``/api/``
operation carries the bearer security requirement and the shared error response.
"""
from __future__ import annotations

import http
import inspect
import re
from dataclasses import dataclass
from typing import Any, Callable, Sequence, TypeVar

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask, jsonify
from marshmallow import Schema
from werkzeug.routing import Rule

from aidflow_shared.http.auth import API_PREFIX
from aidflow_shared.http.errors import ErrorSchema

OPENAPI_VERSION = "3.1.0"
SECURITY_SCHEME = "bearerAuth"
ERROR_RESPONSE = "Error"

View = TypeVar("View", bound=Callable)

# Werkzeug converters as JSON Schema types; anything else is a string.
_CONVERTER_TYPES = {
    "int": {"type": "integer"},
    "float": {"type": "number"},
    "uuid": {"type": "string", "format": "uuid"},
}
_RULE_ARGUMENT = re.compile(r"<(?:(?P<converter>\w+)(?:\([^)]*\))?:)?(?P<name>\w+)>")


@dataclass(frozen=True)
class Operation:
    """What :func:`doc` records about a view."""

    summary: str | None = None
    request: type[Schema] | None = None
    response: type[Schema] | None = None
    status: int = 200
    tags: Sequence[str] = ()
    roles: Sequence[str] = ()


def doc(
    *,
    summary: str | None = None,
    request: type[Schema] | None = None,
    response: type[Schema] | None = None,
    status: int = 200,
    tags: Sequence[str] = (),
    roles: Sequence[str] = (),
) -> Callable[[View], View]:
    """Describe a view for the OpenAPI document.

    ``summary`` defaults to the first line of the view's docstring, ``tags`` to its blueprint,
    ``roles`` to those given to :func:`aidflow_shared.http.auth.require`.
    """

    def attach(view: View) -> View:
        view.openapi_operation = Operation(summary, request, response, status, tuple(tags), tuple(roles))
        return view

    return attach


def install_openapi(app: Flask, *, title: str, version: str) -> None:
    """Serve the document at ``/openapi.json``, open to everyone like the health endpoints."""

    @app.get("/openapi.json")
    def openapi_document():
        """The OpenAPI document of this service."""
        return jsonify(build_openapi(app, title=title, version=version))


def build_openapi(app: Flask, *, title: str, version: str) -> dict[str, Any]:
    spec = APISpec(
        title=title, version=version, openapi_version=OPENAPI_VERSION, plugins=[MarshmallowPlugin()]
    )
    spec.components.security_scheme(
        SECURITY_SCHEME, {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    )
    spec.components.response(
        ERROR_RESPONSE,
        {
            "description": "The request was refused or failed; see error.code.",
            "content": {"application/json": {"schema": ErrorSchema}},
        },
    )
    for rule in sorted(app.url_map.iter_rules(), key=lambda rule: rule.rule):
        view = app.view_functions[rule.endpoint]
        methods = sorted(rule.methods - {"HEAD", "OPTIONS"})
        spec.path(
            path=_RULE_ARGUMENT.sub(r"{\g<name>}", rule.rule),
            parameters=_path_parameters(rule),
            operations={method.lower(): _operation(rule, method, view) for method in methods},
        )
    return spec.to_dict()


def _operation(rule: Rule, method: str, view: Callable) -> dict[str, Any]:
    meta: Operation = getattr(view, "openapi_operation", Operation())
    summary, _, description = inspect.cleandoc(view.__doc__ or "").partition("\n")
    operation: dict[str, Any] = {
        "operationId": f"{rule.endpoint}.{method.lower()}",
        "summary": meta.summary or summary or rule.endpoint,
        "responses": {str(meta.status): _success_response(meta)},
    }
    if description.strip():
        operation["description"] = description.strip()
    tags = meta.tags or ([rule.endpoint.split(".")[0]] if "." in rule.endpoint else [])
    if tags:
        operation["tags"] = list(tags)
    if meta.request is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": meta.request}},
        }
    if rule.rule.startswith(API_PREFIX):
        operation["security"] = [{SECURITY_SCHEME: []}]
        operation["responses"].update({"4XX": ERROR_RESPONSE, "5XX": ERROR_RESPONSE})
        roles = meta.roles or getattr(view, "required_roles", ())
        if roles:
            operation["x-roles"] = list(roles)
    return operation


def _success_response(meta: Operation) -> dict[str, Any]:
    response: dict[str, Any] = {"description": http.HTTPStatus(meta.status).phrase}
    if meta.response is not None:
        response["content"] = {"application/json": {"schema": meta.response}}
    return response


def _path_parameters(rule: Rule) -> list[dict[str, Any]]:
    return [
        {
            "name": match["name"],
            "in": "path",
            "required": True,
            "schema": _CONVERTER_TYPES.get(match["converter"] or "", {"type": "string"}),
        }
        for match in _RULE_ARGUMENT.finditer(rule.rule)
    ]
