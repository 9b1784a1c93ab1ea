"""Query-string parameters, checked like bodies are: bad values get field errors, not 500s."""
from __future__ import annotations

from flask import request

from aidflow_shared.http.errors import ApiError


def int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, "validation_failed", {name: ["invalid"]}) from None
    if not low <= value <= high:
        raise ApiError(400, "validation_failed", {name: ["range"]})
    return value


def page() -> tuple[int, int]:
    """``limit`` (1..500, default 50) and ``offset`` of a list request."""
    return int_arg("limit", 50, 1, 500), int_arg("offset", 0, 0, 10**9)
