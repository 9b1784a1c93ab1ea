"""The baseline of ``bench/http_intake.py``: a bare Flask JSON endpoint, nothing behind it.

It reads the same JSON body the referral endpoint gets and answers 201 with a small JSON
document: what Flask and gunicorn cost by themselves, with no validation, database or outbox.
"""
from __future__ import annotations

import uuid

from flask import Flask, jsonify, request

app = Flask(__name__)


@app.post("/api/v1/referrals")
def referrals():
    body = request.get_json()
    return jsonify(referral_id=str(uuid.uuid4()), fields=len(body)), 201


@app.get("/readyz")
def ready():
    return jsonify(status="ready")
