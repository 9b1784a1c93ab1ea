"""Faults injected on purpose into message handling: the fault-injection suite's hook.

Off unless configured; a deployment never sets these. Each consumed message, after its handler
ran and before its transaction commits, may be held up or made to fail:

- ``AIDFLOW_FAULT_SLOW_RATE`` (0..1): share of handler runs that sleep
  ``AIDFLOW_FAULT_SLOW_SECONDS`` (default 2) inside the transaction, as a slow handler would;
- ``AIDFLOW_FAULT_ERROR_RATE`` (0..1): share of handler runs that raise :class:`InjectedFault`,
  so the transaction rolls back and the message takes the retry path.

Every injected fault is logged at WARNING with ``fault`` = ``slow`` or ``error``, so a run can
count them from the services' logs.
"""
from __future__ import annotations

import logging
import os
import random
import time

log = logging.getLogger(__name__)


class InjectedFault(RuntimeError):
    """A failure the fault-injection suite asked for."""


def _rate(name: str) -> float:
    try:
        return min(1.0, max(0.0, float(os.environ.get(name, "") or 0)))
    except ValueError:
        return 0.0


ERROR_RATE = _rate("AIDFLOW_FAULT_ERROR_RATE")
SLOW_RATE = _rate("AIDFLOW_FAULT_SLOW_RATE")
SLOW_SECONDS = float(os.environ.get("AIDFLOW_FAULT_SLOW_SECONDS", "") or 2.0)


def before_commit(message_type: str) -> None:
    """Called by the consumer between the handler and the commit; nothing unless configured."""
    if not (ERROR_RATE or SLOW_RATE):
        return
    if SLOW_RATE and random.random() < SLOW_RATE:
        log.warning("fault injected", extra={"fault": "slow", "type": message_type, "seconds": SLOW_SECONDS})
        time.sleep(SLOW_SECONDS)
    if ERROR_RATE and random.random() < ERROR_RATE:
        log.warning("fault injected", extra={"fault": "error", "type": message_type})
        raise InjectedFault(f"injected handler failure ({message_type})")
