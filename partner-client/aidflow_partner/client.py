"""A partner agency's connection to aidflow: publish commands, read the agency's own queue.

Guarantees it gives, and how:

- A command is sent or you are told: every publish waits for the broker's confirm
  (``confirm_delivery``) and is ``mandatory``; a nack, an unroutable message or a refusal by the
  broker (another agency's routing key, a foreign ``user_id``) raises :class:`PublishRefused`.
- A lost connection is reopened with exponential back-off; a publish whose confirm was lost
  with the connection is sent again with the same message id, which the services deduplicate,
  so a retry never makes a second referral or a second answer.
- A message from the queue is acknowledged only after the callback returned. A callback that
  raises has its message requeued (after a short pause) and the broker's delivery limit moves
  a message that keeps failing to ``aidflow.partner.<agency>.dead``: nothing is lost. After a
  reconnection unacknowledged messages come again with ``redelivered`` set; make callbacks
  idempotent by ``message_id``.
"""
from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from datetime import datetime, timezone

import pika
import pika.exceptions as amqp_errors

from aidflow_partner.envelope import (ANSWER_STATUSES, BadMessage, Incoming, Outgoing, build_command, check_agency,
                                      format_time, parse_incoming)

log = logging.getLogger("aidflow_partner")

# Errors after which the connection is gone and a new one may succeed.
CONNECTION_LOST = (amqp_errors.AMQPConnectionError, amqp_errors.ChannelWrongStateError,
                   amqp_errors.ConnectionWrongStateError)
# ...except these, which a new attempt with the same credentials would only repeat.
CREDENTIALS_REFUSED = (amqp_errors.ProbableAuthenticationError, amqp_errors.ProbableAccessDeniedError,
                       amqp_errors.AuthenticationError)


class PartnerError(Exception):
    """Something the agency's operator has to look at."""


class ConnectionFailed(PartnerError):
    """The broker could not be reached (or refused the credentials) after every attempt."""


class BrokerRefused(PartnerError):
    """The broker refused an operation; ``reply_code`` 403 is ACCESS_REFUSED (not this
    agency's routing key or queue), 406 PRECONDITION_FAILED (a ``user_id`` not the connection's)."""

    def __init__(self, message: str, reply_code: int | None = None):
        super().__init__(message)
        self.reply_code = reply_code


class PublishRefused(BrokerRefused):
    """The broker did not take a command: nacked, unroutable, or refused."""


class ReadRefused(BrokerRefused):
    """The broker refused reading the queue (another agency's, or one that does not exist)."""


class AnswerTimeout(PartnerError):
    """No answer to a command arrived in time (it may still come: it waits on the queue)."""


Handler = Callable[[Incoming], object]


class PartnerClient:
    """One agency's client. ``url`` is ``amqp://`` or ``amqps://`` (TLS) with the agency's
    broker user and password, e.g. ``amqps://poverty-bureau:SECRET@mq.example.org:5671/aidflow``;
    ``ca_file`` adds the certificate authority of a broker whose certificate is not publicly signed.

    Not thread-safe: use one client per thread (pika's blocking connection is single-threaded).
    """

    def __init__(self, url: str, agency: str, *, prefetch: int = 10, reconnect_attempts: int = 8,
                 backoff: float = 0.5, max_backoff: float = 30.0, retry_pause: float = 1.0,
                 heartbeat: int | None = 30, ca_file: str | None = None):
        self.agency = check_agency(agency)
        self.parameters = pika.URLParameters(url)
        if heartbeat is not None:
            self.parameters.heartbeat = heartbeat
        tls = self.parameters.ssl_options
        if tls is not None:
            # amqps:// verifies the broker's certificate; its name is the URL's host.
            tls.server_hostname = tls.server_hostname or self.parameters.host
            if ca_file:
                tls.context.load_verify_locations(cafile=ca_file)
        self.user = self.parameters.credentials.username
        self.queue = f"aidflow.partner.{agency}"
        self.prefetch = prefetch
        self.reconnect_attempts = reconnect_attempts
        self.backoff, self.max_backoff = backoff, max_backoff
        self.retry_pause = retry_pause
        self._connection = None
        self._channel = None
        self.reconnections = 0

    # -- connection -------------------------------------------------------------------------------

    def connect(self) -> "PartnerClient":
        for attempt in range(self.reconnect_attempts + 1):
            try:
                self._open()
                return self
            except CREDENTIALS_REFUSED as exc:
                raise ConnectionFailed(f"the broker refused user {self.user!r}: {exc!r}") from exc
            except CONNECTION_LOST as exc:
                if attempt == self.reconnect_attempts:
                    raise ConnectionFailed(f"no connection after {attempt + 1} attempts: {exc!r}") from exc
                delay = min(self.max_backoff, self.backoff * 2 ** attempt) * (0.5 + random.random() / 2)
                log.warning("broker unreachable, retrying in %.1fs (%s)", delay, exc.__class__.__name__)
                time.sleep(delay)
        raise AssertionError("unreachable")

    def _open(self):
        self._drop()
        self._connection = pika.BlockingConnection(self.parameters)
        self._open_channel()

    def _open_channel(self):
        self._channel = self._connection.channel()
        self._channel.confirm_delivery()
        self._channel.basic_qos(prefetch_count=self.prefetch)

    def _reconnect(self):
        self.reconnections += 1
        log.warning("connection lost; reconnecting")
        self.connect()

    def _drop(self):
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None and connection.is_open:
            try:
                connection.close()
            except Exception:  # noqa: BLE001 - already broken; nothing to do with it
                pass

    @property
    def channel(self):
        if self._channel is None or not self._channel.is_open:
            if self._connection is None or not self._connection.is_open:
                self.connect()
            else:
                self._open_channel()
        return self._channel

    def close(self):
        self._drop()

    def __enter__(self):
        return self.connect()

    def __exit__(self, *exc):
        self.close()

    # -- commands ---------------------------------------------------------------------------------

    def publish(self, outgoing: Outgoing) -> str:
        """Publish one command and wait for the broker's confirm; returns its message id."""
        properties = pika.BasicProperties(**outgoing.properties)
        for attempt in range(self.reconnect_attempts + 1):
            try:
                self.channel.basic_publish(outgoing.exchange, outgoing.routing_key, outgoing.body, properties,
                                           mandatory=True)
                return outgoing.message_id
            except amqp_errors.UnroutableError as exc:
                raise PublishRefused(f"{outgoing.routing_key}: no queue takes it (unroutable)") from exc
            except amqp_errors.NackError as exc:
                raise PublishRefused(f"{outgoing.routing_key}: the broker nacked it") from exc
            except amqp_errors.ChannelClosedByBroker as exc:
                self._channel = None  # the connection stays; the next call opens a new channel
                raise PublishRefused(f"{outgoing.routing_key}: {exc.reply_text}", exc.reply_code) from exc
            except CONNECTION_LOST:
                if attempt == self.reconnect_attempts:
                    raise
                # The confirm may have been lost with the connection: send again, same id.
                self._reconnect()
        raise AssertionError("unreachable")

    def command(self, command: str, data: dict, *, message_id: str | None = None, subject: str | None = None,
                correlation_id: str | None = None) -> str:
        return self.publish(build_command(self.agency, self.user, command, data, message_id=message_id,
                                          subject=subject, correlation_id=correlation_id))

    def submit_referral(self, referral: dict, *, message_id: str | None = None) -> str:
        """Transfer a case (移送); answered by ``referral.accepted`` or ``referral.rejected``
        whose ``correlation_id`` is the returned message id (see :meth:`wait_for_answer`)."""
        return self.command("referral.submit", referral, message_id=message_id)

    def answer_handoff(self, handoff_id: str, status: str, *, at: datetime | None = None, note: str | None = None,
                       reason: str | None = None, outcome: dict | None = None,
                       correlation_id: str | None = None, message_id: str | None = None) -> str:
        """Answer a hand-off: ``accepted``, ``in-service``, ``completed`` (with ``outcome``) or
        ``declined`` (with ``reason``); answered by ``handoff.recorded`` or ``handoff.refused``."""
        if status not in ANSWER_STATUSES:
            raise ValueError(f"status must be one of {', '.join(ANSWER_STATUSES)}")
        data = {"handoff_id": handoff_id, "at": format_time(at or datetime.now(timezone.utc)), "note": note,
                "reason": reason, "outcome": outcome}
        return self.command(f"handoff.{status}", {k: v for k, v in data.items() if v is not None},
                            message_id=message_id, correlation_id=correlation_id)

    # -- the agency's queue -----------------------------------------------------------------------

    def consume(self, route: Callable[[Incoming], Handler | None], *, timeout: float | None = None,
                idle_timeout: float | None = None, max_messages: int | None = None) -> int:
        """Read the agency's queue; ``route(message)`` picks the handler of each message.

        A message is acknowledged after its handler returns, requeued if the handler raises.
        A message ``route`` gives no handler stays unacknowledged while this call runs and goes
        back to the queue when it returns; on the agency's quorum queue that counts as a delivery
        attempt (after 20 the message moves to the dead-letter queue), so a long-running reader
        should give every message a handler. Returns how many messages were handled;
        stops after ``max_messages``, ``timeout`` seconds, or ``idle_timeout`` seconds without a
        message, whichever comes first (none: runs until interrupted).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        handled = [0]  # kept across reconnections
        while True:
            held: list[int] = []
            try:
                self._consume_once(route, held, handled, deadline, idle_timeout, max_messages)
                self._release(held)
                return handled[0]
            except CONNECTION_LOST:
                # Unacknowledged messages go back to the queue with the connection: none is lost.
                self._reconnect()
            except amqp_errors.ChannelClosedByBroker as exc:
                self._channel = None
                raise ReadRefused(f"{self.queue}: {exc.reply_text}", exc.reply_code) from exc

    def _consume_once(self, route, held, handled, deadline, idle_timeout, max_messages) -> None:
        channel = self.channel
        idle_since = time.monotonic()
        try:
            for method, properties, body in channel.consume(self.queue, inactivity_timeout=0.2):
                now = time.monotonic()
                if method is None:
                    if (deadline is not None and now >= deadline) or (
                            idle_timeout is not None and now - idle_since >= idle_timeout):
                        return
                    continue
                idle_since = now
                handler = self._route(route, channel, method, properties, body, held)
                if handler is not None and self._handle(channel, method, handler):
                    handled[0] += 1
                if (max_messages is not None and handled[0] >= max_messages) or (
                        deadline is not None and now >= deadline):
                    return
        finally:
            if channel.is_open:
                channel.cancel()  # requeues what was delivered but not yet handed to us

    def _route(self, route, channel, method, properties, body, held):
        try:
            message = parse_incoming(method.routing_key, properties.content_type, properties.message_id,
                                     properties.type, properties.correlation_id, body,
                                     redelivered=method.redelivered)
        except BadMessage as exc:
            # Not something any handler can use: rejected, so the broker dead-letters it.
            log.error("rejecting a malformed message on %s: %s", self.queue, exc)
            channel.basic_reject(method.delivery_tag, requeue=False)
            return None
        handler = route(message)
        if handler is None:
            held.append(method.delivery_tag)
            # Held messages count against the prefetch window: widen it so they never stall us.
            channel.basic_qos(prefetch_count=self.prefetch + len(held))
            return None
        return lambda: handler(message)

    def _handle(self, channel, method, handler) -> bool:
        try:
            handler()
        except CONNECTION_LOST:
            raise
        except Exception:  # noqa: BLE001 - the agency's code failed: the message must survive it
            log.exception("handler failed; the message goes back to the queue")
            channel.basic_nack(method.delivery_tag, requeue=True)
            time.sleep(self.retry_pause)
            return False
        channel.basic_ack(method.delivery_tag)
        return True

    def _release(self, held: list[int]):
        if held and self._channel is not None and self._channel.is_open:
            for tag in held:
                self._channel.basic_nack(tag, requeue=True)
            self._channel.basic_qos(prefetch_count=self.prefetch)

    def receive(self, handler: Handler, **limits) -> int:
        """Every message on the agency's queue to ``handler``; see :meth:`consume` for limits."""
        return self.consume(lambda _message: handler, **limits)

    def handoffs(self, callback: Handler, *, on_other: Handler | None = None, **limits) -> int:
        """Hand-off requests to ``callback``; other messages (answers, withdrawals, ...) to
        ``on_other``, or left on the queue when it is not given."""
        return self.consume(lambda m: callback if m.kind == "handoff.requested" else on_other, **limits)

    def wait_for_answer(self, message_id: str, timeout: float = 30.0, *,
                        on_other: Handler | None = None) -> Incoming:
        """The answer whose ``correlation_id`` is ``message_id``. Other messages go to
        ``on_other`` if given, else stay on the queue. Raises :class:`AnswerTimeout`."""
        found: list[Incoming] = []

        def route(message: Incoming):
            if message.correlation_id == message_id:
                return found.append
            return on_other

        deadline = time.monotonic() + timeout
        while not found:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AnswerTimeout(f"no answer to {message_id} within {timeout:g}s")
            self.consume(route, timeout=remaining, max_messages=1)
        return found[0]
