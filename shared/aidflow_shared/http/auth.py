"""The one authentication check of every API: a bearer token before any ``/api/`` view runs.

The check is installed on the app, not on views, so a view cannot be forgotten: whatever a
service registers under ``/api/`` is closed until a valid token arrives. Views then narrow
access by role with :func:`require` and read the caller with :func:`current_principal`.
"""
from __future__ import annotations

import functools
from typing import Callable, TypeVar

from flask import Flask, g, request

from aidflow_shared.auth import AuthError, Principal, verify_token
from aidflow_shared.http.errors import ApiError
from aidflow_shared.settings import Settings

API_PREFIX = "/api/"
REALM = "aidflow"

View = TypeVar("View", bound=Callable)


def install_auth(app: Flask, settings: Settings) -> None:
    """Demand ``Authorization: Bearer <jwt>`` on every ``/api/`` request of ``app``."""

    @app.before_request
    def authenticate() -> None:
        if not _is_api_request():
            return
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _unauthorized("unauthenticated")
        try:
            g.principal = verify_token(settings, token.strip())
        except AuthError as exc:
            raise _unauthorized(exc.code) from exc


def require(*roles: str) -> Callable[[View], View]:
    """Let the view run only for callers holding at least one of ``roles``; others get 403."""

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def guarded(*args, **kwargs):
            if not current_principal().has_any(*roles):
                raise ApiError(403, "forbidden")
            return view(*args, **kwargs)

        guarded.required_roles = roles  # read by the OpenAPI document
        return guarded  # type: ignore[return-value]

    return decorate


def current_principal() -> Principal:
    """The verified caller of this request; outside ``/api/`` there is none, which is a 401."""
    principal = g.get("principal")
    if principal is None:
        raise _unauthorized("unauthenticated")
    return principal


def _is_api_request() -> bool:
    # The matched rule is checked as well as the raw path, so no spelling of a path can reach
    # an API view without passing through the check.
    rule = request.url_rule
    return request.path.startswith(API_PREFIX) or (rule is not None and rule.rule.startswith(API_PREFIX))


def _unauthorized(code: str) -> ApiError:
    challenge = f'Bearer realm="{REALM}"'
    if code != "unauthenticated":
        challenge += ', error="invalid_token"'  # RFC 6750: tells clients to get a new token
    return ApiError(401, code, headers={"WWW-Authenticate": challenge})
