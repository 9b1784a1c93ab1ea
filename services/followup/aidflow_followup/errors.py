"""A request the rules or the state refuse: an HTTP status, a stable code, and codes per field.

The same refusal reaches staff as an HTTP error and a partner agency as a ``handoff.refused``
answer on its queue, so the domain raises it once and each edge translates it.
"""
from __future__ import annotations


class Refused(Exception):
    def __init__(self, status: int, code: str, fields: dict[str, list[str]] | None = None):
        super().__init__(code)
        self.status = status
        self.code = code
        self.fields = fields or {}


def conflict(code: str, path: str | None = None) -> Refused:
    """409: the state does not allow it, said once as the code and, if given, on ``path``."""
    return Refused(409, code, {path: [code]} if path else None)


def invalid(fields: dict[str, list[str]]) -> Refused:
    return Refused(422, "validation_failed", fields)
