"""Hostile input on every service's HTTP API, generated from its own OpenAPI document.

Each service runs in-process on SQLite (WSGI, no server); its ``/openapi.json`` drives
schemathesis, which sends valid requests (positive mode) and requests that break the document
(negative mode) to every operation. Every response must pass the checks:

- ``not_a_server_error``: no 5xx, whatever was sent;
- ``response_schema_conformance``: the body is what the document says for that status;
- ``status_code_conformance``: the status is one the document lists;
- ``content_type_conformance``: the content type is the documented one.

With a valid token (every role) the operations do their work; without one every ``/api/``
operation answers 401 and still conforms. Every failure of every operation is collected and
reported together, with the request that caused it.

``AIDFLOW_HOSTILE_EXAMPLES`` (default 3) is the number of requests per operation and mode with a
token (a fifth of it, valid requests only, without); a deep run sets it to a few hundred.
"""
from __future__ import annotations

import importlib
import os
from collections import Counter
from datetime import timedelta

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance, response_schema_conformance,
                                               status_code_conformance)

from aidflow_shared.auth import ROLES, mint_token
from aidflow_shared.runtime import ServiceRuntime
from support import settings_for

EXAMPLES = int(os.environ.get("AIDFLOW_HOSTILE_EXAMPLES", "3"))
# A deep run takes longer than the suite's default timeout.
pytestmark = pytest.mark.timeout(max(300, EXAMPLES * 40))
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance, content_type_conformance]
SERVICES = ("intake", "review", "payout", "followup")
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)


class Fuzzed:
    """What one service answered: requests per status, and the failures found."""

    def __init__(self):
        self.statuses: Counter[int] = Counter()
        self.failures: dict[tuple[str, str], str] = {}

    @property
    def tried(self) -> int:
        return sum(self.statuses.values())

    def report(self) -> str:
        return "\n\n".join(f"{label} [{mode}]:\n{text}" for (label, mode), text in sorted(self.failures.items()))


@pytest.fixture(params=SERVICES)
def api(request, tmp_path):
    name = request.param
    service_settings = settings_for(tmp_path)[name]
    runtime = ServiceRuntime(importlib.import_module(f"aidflow_{name}.service").service, service_settings)
    runtime.migrate()
    yield name, runtime, runtime.create_app()
    runtime.db.dispose()


def fuzz(app, headers: dict, examples: int, *, only_api: bool = False, modes=MODES) -> Fuzzed:
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    found = Fuzzed()
    for result in schema.get_all_operations():
        operation = result.ok()
        if only_api and not operation.path.startswith("/api/"):
            continue
        for mode in modes:
            _fuzz_operation(operation, mode, headers, examples, found)
    return found


def _fuzz_operation(operation, mode, headers, examples: int, found: Fuzzed) -> None:
    key = (operation.label, mode.value)

    @settings(max_examples=examples, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case):
        if key in found.failures:
            return  # one failure per operation and mode is enough to report
        try:
            response = case.call(headers=headers)
            found.statuses[response.status_code] += 1
            case.validate_response(response, checks=CHECKS)
        except (KeyboardInterrupt, SystemExit, pytest.fail.Exception):  # the last: pytest-timeout
            raise
        except BaseException as exc:  # schemathesis reports failures as a BaseExceptionGroup
            found.failures[key] = str(exc)[:3000]

    try:
        run()
    except Unsatisfiable:  # nothing to break in an operation without parameters or body
        assert mode is GenerationMode.NEGATIVE, key


def test_no_server_error_and_no_undocumented_answer_with_a_token(api):
    name, runtime, app = api
    token = mint_token(runtime.settings, "hostile-input", ROLES, "procuratorate", ttl=timedelta(hours=1))
    found = fuzz(app, {"Authorization": f"Bearer {token}"}, EXAMPLES)
    print(f"{name}: {found.tried} requests with a token, by status {dict(sorted(found.statuses.items()))}")
    assert not found.failures, found.report()
    assert found.statuses[500] == 0


def test_without_a_token_every_api_operation_answers_401(api):
    name, _, app = api
    # The token is checked before anything else: a few requests per operation show it.
    found = fuzz(app, {}, max(1, EXAMPLES // 5), only_api=True, modes=(GenerationMode.POSITIVE,))
    print(f"{name}: {found.tried} requests without a token, by status {dict(sorted(found.statuses.items()))}")
    assert not found.failures, found.report()
    assert set(found.statuses) == {401}
