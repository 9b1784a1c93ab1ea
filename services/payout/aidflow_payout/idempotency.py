"""HTTP ``Idempotency-Key``: a request that moves money may be sent again safely.

A client that is not sure its request arrived (a timeout, a dropped connection) sends it again
with the same key and gets the first answer back, with ``Idempotent-Replayed: true``, instead of
a second effect. The key is bound to the request: a hash of its method, path and JSON body. The
same key with a different request is refused (422 ``idempotency_conflict``); while the first
request with a key is still running, a second gets 409 ``idempotency_in_progress``.

Keys belong to the caller (the token's subject). The key is claimed in the same transaction as
the request's effect: a request refused for bad input writes nothing, not even its key, so it
can be corrected and sent again, with the same key or a new one.
"""
from __future__ import annotations

import hashlib
import json
from typing import Callable

from flask import request
from sqlalchemy import select, update

from aidflow_payout.orm import IdempotentRequest
from aidflow_shared.http.auth import current_principal
from aidflow_shared.http.errors import ApiError
from aidflow_shared.storage import UnitOfWork, claim_into, utcnow

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
MAX_KEY = 255

#: What a view's work returns: after the commit, the body and status to answer with.
Answer = Callable[[], tuple[dict, int]]


def request_hash() -> str:
    body = request.get_json(silent=True)
    canonical = (json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
                 if body is not None else request.get_data())
    return hashlib.sha256(request.method.encode() + b" " + request.path.encode() + b"\n" + canonical).hexdigest()


def once(unit_of_work: Callable[[], UnitOfWork], work: Callable[[UnitOfWork], Answer]):
    """Run ``work`` in a transaction, at most once per idempotency key if the request has one.

    ``work(uow)`` changes state and returns a function that builds the answer once the
    transaction has committed (it may do more, e.g. send payment orders, before answering)."""
    key = request.headers.get(HEADER)
    if key is None:
        with unit_of_work() as uow:
            answer = work(uow)
            uow.commit()
        body, status = answer()
        return body, status, {REPLAYED: "false"}
    if not key.strip() or len(key) > MAX_KEY:
        raise ApiError(400, "validation_failed", {HEADER: ["length"]})
    subject, digest = current_principal().subject, request_hash()
    with unit_of_work() as uow:
        if not _claim(uow, subject, key, digest):
            uow.session.rollback()
            return _replay(uow, subject, key, digest)
        answer = work(uow)
        uow.commit()
    body, status = answer()
    with unit_of_work() as uow:
        uow.session.execute(update(IdempotentRequest).where(IdempotentRequest.subject == subject,
                                                            IdempotentRequest.key == key)
                            .values(status_code=status, response=json.dumps(body, default=str, ensure_ascii=False)))
        uow.commit()
    return body, status, {REPLAYED: "false"}


def _claim(uow: UnitOfWork, subject: str, key: str, digest: str) -> bool:
    # A concurrent first request with this key holds the row: we wait for it, then find it.
    claim = claim_into(IdempotentRequest.__table__, uow.db.dialect, "key")
    return uow.session.execute(claim, dict(subject=subject, key=key, request_hash=digest,
                                           created_at=utcnow())).first() is not None


def _replay(uow: UnitOfWork, subject: str, key: str, digest: str):
    stored = uow.session.scalars(select(IdempotentRequest).where(IdempotentRequest.subject == subject,
                                                                 IdempotentRequest.key == key)).one()
    if stored.request_hash != digest:
        raise ApiError(422, "idempotency_conflict")
    if stored.status_code is None:
        raise ApiError(409, "idempotency_in_progress")
    return json.loads(stored.response), stored.status_code, {REPLAYED: "true"}
