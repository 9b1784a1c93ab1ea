"""Checking documents and messages against the published contract.

- :func:`run_asyncapi_parser` runs the official AsyncAPI parser (Node.js, installed into
  tools/contract by ``make test``) on document files; where Node.js or the parser is missing the
  test is skipped, except under ``CI=true``, where it fails;
- :class:`ContractValidator` checks a message's AMQP properties and body against the JSON Schemas
  of its message in the AsyncAPI document, with the document as the base of every ``$ref``.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = ROOT / "docs" / "contract"
TOOLS = ROOT / "tools" / "contract"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
DOCUMENT_URI = "urn:aidflow:asyncapi"


@dataclass(frozen=True)
class ParserResult:
    valid: bool
    output: str  # the parser's lines about this file: its diagnostics and the verdict


def run_asyncapi_parser(*paths: Path) -> dict[Path, ParserResult]:
    """The official parser's verdict on each document (one Node.js process for all of them)."""
    node = shutil.which("node")
    if node is None or not (TOOLS / "node_modules" / "@asyncapi" / "parser").is_dir():
        what = "Node.js and the AsyncAPI parser (make tools)"
        if IN_CI:
            pytest.fail(f"{what} are not installed, and CI=true demands the real check")
        pytest.skip(f"{what} are not installed")
    run = subprocess.run([node, str(TOOLS / "validate.mjs"), *map(str, paths)], capture_output=True, text=True,
                         timeout=300, cwd=TOOLS)
    assert not run.stderr.strip() or run.returncode in (0, 1), run.stderr
    results = {}
    for path in paths:
        lines = [line for line in run.stdout.splitlines() if line.startswith(f"{path}: ")]
        verdict = lines[-1] if lines else ""
        assert verdict.endswith((" errors)", "valid AsyncAPI 3.0.0")), run.stdout + run.stderr
        results[path] = ParserResult(" valid AsyncAPI " in verdict, "\n".join(lines))
    return results


def _date_time(value) -> bool:
    if not isinstance(value, str) or "T" not in value:
        return False
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).tzinfo is not None
    except ValueError:
        return False


def _date(value) -> bool:
    try:
        date.fromisoformat(value)
        return True
    except (TypeError, ValueError):
        return False


FORMATS = FormatChecker(formats=())
FORMATS.checks("date-time")(_date_time)
FORMATS.checks("date")(_date)


class ContractValidator:
    """The JSON Schemas of the AsyncAPI document's messages, by message type."""

    def __init__(self, document: dict):
        registry = Registry().with_resource(DOCUMENT_URI, Resource.from_contents(
            document, default_specification=DRAFT202012))
        self.messages = {}
        for message_id, message in document["components"]["messages"].items():
            pointer = f"{DOCUMENT_URI}#/components/messages/{message_id}"
            self.messages[message["name"]] = tuple(
                Draft202012Validator({"$ref": f"{pointer}/{part}"}, registry=registry, format_checker=FORMATS)
                for part in ("headers", "payload"))

    def problems(self, properties: dict, body: dict) -> list[str]:
        """Why a message does not match its contract; empty when it does."""
        validators = self.messages.get(body.get("type")) if isinstance(body, dict) else None
        if validators is None:
            return [f"type {body.get('type') if isinstance(body, dict) else body!r} is not in the contract"]
        headers, payload = validators
        found = [f"properties {'.'.join(map(str, e.absolute_path))}: {e.message}"
                 for e in headers.iter_errors(properties)]
        found += [f"body {'.'.join(map(str, e.absolute_path))}: {e.message}" for e in payload.iter_errors(body)]
        if properties.get("message_id") != body.get("id"):
            found.append("the message_id property differs from the envelope's id")
        return found
