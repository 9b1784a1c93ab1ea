"""One JSON error format for every API, whatever went wrong.

Every error a client sees looks like this, in the language it asked for::

    {"error": {"code": "validation_failed", "message": "...",
               "fields": {"beneficiaries.0.id_number": [{"code": "invalid_id_number",
                                                          "message": "..."}]}}}

``code`` is stable and for programs; ``message`` is for people; ``fields`` appears only when
individual fields are at fault. Views raise :class:`ApiError` (or let a marshmallow
``ValidationError`` escape) and never build error bodies themselves.
"""
from __future__ import annotations

import logging
from typing import Any, Mapping

from flask import Flask, Response, jsonify, request
from marshmallow import Schema, ValidationError
from marshmallow import fields as ma_fields
from werkzeug.exceptions import BadRequest, HTTPException

from aidflow_shared.i18n import message, pick_language
from aidflow_shared.schema import flatten_errors, instance

logger = logging.getLogger(__name__)

# Codes for errors the framework raises (unknown route, wrong method, body too large ...).
_STATUS_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "too_many_requests",
    503: "unavailable",
}


class ApiError(Exception):
    """An error to answer with: HTTP status, a code from the message catalog, field errors.

    ``fields`` maps dotted paths to codes (``{"amount_fen": ["range"]}``); ``params`` fill the
    message's placeholders; ``headers`` go onto the response (``WWW-Authenticate`` on a 401).
    """

    def __init__(
        self,
        status: int,
        code: str,
        fields: Mapping[str, list[str]] | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        **params: object,
    ):
        super().__init__(code)
        self.status = status
        self.code = code
        self.fields = dict(fields or {})
        self.headers = dict(headers or {})
        self.params = params


def register_error_handlers(app: Flask) -> None:
    """Make every error from ``app`` (ours, marshmallow's, the framework's, bugs) use the format."""
    app.register_error_handler(ApiError, _on_api_error)
    app.register_error_handler(ValidationError, _on_validation_error)
    app.register_error_handler(HTTPException, _on_http_exception)
    app.register_error_handler(Exception, _on_unexpected_error)


def answer_refusals(blueprint, *refusals: type[Exception]) -> None:
    """Answer a service's own refusals raised by ``blueprint``'s views as :class:`ApiError` would be.

    A refusal is a domain exception carrying ``status``, ``code`` and ``fields`` (the rules say
    no, in their own words); raised inside a unit of work, it rolls the work back on its way out,
    and the view need not catch and convert it.
    """
    for refusal in refusals:
        blueprint.register_error_handler(
            refusal, lambda exc: _on_api_error(ApiError(exc.status, exc.code, exc.fields)))


def load_json(schema: Schema | type[Schema]) -> dict[str, Any]:
    """The request's JSON object, loaded by ``schema``.

    415 when the body is not declared as JSON, 400 when it does not parse, 422 when it is not an
    object; invalid fields raise marshmallow's ``ValidationError``, answered as 422 with the
    schema's codes per field.
    """
    if not request.is_json:
        raise ApiError(415, "unsupported_media_type")
    try:
        data = request.get_json()
    except BadRequest as exc:
        raise ApiError(400, "invalid_json") from exc
    if not isinstance(data, dict):
        raise ApiError(422, "not_json_object")
    loader = instance(schema) if isinstance(schema, type) else schema
    return loader.load(data)


class FieldErrorSchema(Schema):
    """What is wrong with one field (documents the format; never loaded)."""

    code = ma_fields.String(required=True)
    message = ma_fields.String(required=True)


class ErrorBodySchema(Schema):
    code = ma_fields.String(required=True)
    message = ma_fields.String(required=True)
    # "fields" would shadow Schema.fields, hence the data key.
    field_errors = ma_fields.Dict(
        data_key="fields",
        keys=ma_fields.String(),
        values=ma_fields.List(ma_fields.Nested(FieldErrorSchema)),
    )


class ErrorSchema(Schema):
    """The body of every error response, for the OpenAPI document."""

    error = ma_fields.Nested(ErrorBodySchema, required=True)


def _on_api_error(exc: ApiError) -> Response:
    return _error_response(exc.status, exc.code, exc.fields, exc.headers, **exc.params)


def _on_validation_error(exc: ValidationError) -> Response:
    return _error_response(422, "validation_failed", flatten_errors(exc.messages))


def _on_http_exception(exc: HTTPException) -> Response:
    status = exc.code or 500
    code = _STATUS_CODES.get(status, "bad_request" if status < 500 else "internal_error")
    # Keep what the exception says about itself (Allow on a 405), not its HTML content type.
    headers = {name: value for name, value in exc.get_headers() if name.lower() != "content-type"}
    return _error_response(status, code, headers=headers)


def _on_unexpected_error(exc: Exception) -> Response:
    # The traceback helps; the request body could hold a person's data, so it is not logged.
    logger.error("unhandled error on %s %s", request.method, request.path, exc_info=exc)
    return _error_response(500, "internal_error")


def _error_response(
    status: int,
    code: str,
    fields: Mapping[str, list[str]] | None = None,
    headers: Mapping[str, str] | None = None,
    **params: object,
) -> Response:
    lang = pick_language(request.headers.get("Accept-Language"))
    body: dict[str, Any] = {"code": code, "message": message(code, lang, **params)}
    if fields:
        body["fields"] = {
            path: [{"code": field_code, "message": message(field_code, lang)} for field_code in codes]
            for path, codes in fields.items()
        }
    response = jsonify(error=body)
    response.status_code = status
    response.headers.update(headers or {})
    response.vary.add("Accept-Language")
    return response
