"""Who a partner agency is on the broker: the AMQP user RabbitMQ validated, never the body.

Each service that takes commands from partners keeps its own registry table of agencies
(``code``, ``broker_user``, ``active``); this is the one rule for reading it.
"""
from __future__ import annotations

from sqlalchemy import select

from aidflow_shared.envelope import MessageRejected


def publishing_agency(session, registry, user_id: str | None):
    """The active agency whose broker user published the message; parks anything else."""
    if not user_id:
        raise MessageRejected("unauthorized-publisher", "no user_id: the publisher is not known")
    agency = session.scalars(select(registry).where(registry.broker_user == user_id)).first()
    if agency is None or not agency.active:
        raise MessageRejected("unauthorized-publisher", "the publishing user is not an active partner agency")
    return agency
