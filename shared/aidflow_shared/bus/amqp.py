"""RabbitMQ transport: kombu manages connections; confirms are batched on the raw channel.

Publishing puts a channel in confirm mode, publishes a whole batch with ``mandatory`` set and
then waits until the broker has acknowledged every delivery tag. A ``basic.return`` (no queue
bound for the key) always arrives before the ack of the same message, so unroutable messages
are known by the time the batch is confirmed. Any doubt (nack, timeout, lost connection)
raises TransportError and the caller publishes the batch again; consumers are idempotent.
"""
from __future__ import annotations

import logging
import socket
import threading
import time
from collections import deque

import amqp
from kombu import Connection
from kombu.exceptions import OperationalError

from aidflow_shared.bus.topology import Topology
from aidflow_shared.bus.transport import (LAST_ERROR, RETRIES, Delivery, Handler, Outgoing, Parked, Transport,
                                          TransportError, park_headers, replay_headers)

log = logging.getLogger(__name__)

# Deliveries handled in one transaction at most, and how long to look for more that already
# arrived: at low load a batch is one message and waits no more than this.
BATCH_LIMIT = 16
ARRIVED_WAIT = 0.001
CONNECTION_ERRORS = (OSError, amqp.exceptions.ConnectionError, amqp.exceptions.RecoverableConnectionError,
                     amqp.exceptions.ConnectionForced, ConnectionError,
                     OperationalError)  # kombu's: the broker refused the connection (it is restarting)


class AmqpTransport(Transport):
    def __init__(self, url: str, *, confirm_timeout: float = 30.0, heartbeat: int = 30,
                 on_connection_change=None, name: str = "aidflow"):
        self.url = url
        self.confirm_timeout = confirm_timeout
        self.heartbeat = heartbeat
        self.name = name
        self._on_connection_change = on_connection_change or (lambda connected: None)
        self._publisher: _ConfirmingChannel | None = None
        self._publish_lock = threading.Lock()
        self._topology: Topology | None = None

    def _connect(self) -> Connection:
        conn = Connection(self.url, heartbeat=self.heartbeat, connect_timeout=10,
                          transport_options={"client_properties": {"connection_name": self.name}})
        conn.ensure_connection(max_retries=1)
        return conn

    # -- topology -------------------------------------------------------------------------------

    def declare(self, topology: Topology) -> None:
        self._topology = topology
        with self._connect() as conn:
            ch = conn.default_channel
            for exchange in topology.exchanges:
                ch.exchange_declare(exchange, "topic", durable=True, auto_delete=False)
            for consumer in topology.consumers:
                ch.queue_declare(consumer.parking, durable=True, auto_delete=False,
                                 arguments={"x-queue-type": "quorum"})
                ch.queue_declare(consumer.name, durable=True, auto_delete=False, arguments={
                    "x-queue-type": "quorum",
                    "x-delivery-limit": topology.delivery_limit,
                    "x-dead-letter-exchange": "",
                    "x-dead-letter-routing-key": consumer.parking,
                    "x-dead-letter-strategy": "at-least-once",
                    "x-overflow": "reject-publish",
                })
                for delay in topology.retry_delays:
                    ch.queue_declare(consumer.retry_queue(delay), durable=True, auto_delete=False, arguments={
                        "x-queue-type": "quorum",
                        "x-message-ttl": int(round(delay * 1000)),
                        "x-dead-letter-exchange": "",
                        "x-dead-letter-routing-key": consumer.name,
                        "x-dead-letter-strategy": "at-least-once",
                        "x-overflow": "reject-publish",
                    })
                for exchange, key in consumer.bindings:
                    ch.queue_bind(consumer.name, exchange, key)
            for queue, exchange, key in topology.partner_bindings():
                ch.queue_declare(queue, durable=True, auto_delete=False, arguments={"x-queue-type": "quorum"})
                ch.queue_bind(queue, exchange, key)

    # -- publishing -----------------------------------------------------------------------------

    def publish(self, messages: list[Outgoing]) -> list[str]:
        if not messages:
            return []
        with self._publish_lock:
            try:
                if self._publisher is None or not self._publisher.alive:
                    self._publisher = _ConfirmingChannel(self._connect(), self.confirm_timeout)
                    self._on_connection_change(True)
                return self._publisher.publish(messages)
            except (TransportError, *CONNECTION_ERRORS, amqp.exceptions.AMQPError, socket.timeout) as exc:
                self._drop_publisher()
                self._on_connection_change(False)
                raise TransportError(f"publish not confirmed: {exc.__class__.__name__}: {exc}") from exc

    def _drop_publisher(self):
        if self._publisher is not None:
            self._publisher.close()
            self._publisher = None

    def ping(self) -> None:
        try:
            with self._connect():
                pass
        except CONNECTION_ERRORS as exc:
            raise TransportError(str(exc)) from exc

    def parked(self, queue: str) -> list[Parked]:
        out = []
        with self._connect() as conn:
            channel = conn.channel()
            # Fetched unacknowledged and handed back when the channel closes: a look, not a take.
            while (message := channel.basic_get(queue, no_ack=False)) is not None:
                props = message.properties
                out.append(Parked.from_headers(props.get("message_id"), props.get("type"),
                                               dict(props.get("application_headers") or {}), _body(message)))
            channel.close()
        return out

    def replay(self, parking: str, target: str, message_ids: set[str] | None = None) -> int:
        moved = 0
        with self._connect() as conn:
            channel = conn.channel()
            mover = _ConfirmingChannel(conn, self.confirm_timeout, own_connection=False)
            while (message := channel.basic_get(parking, no_ack=False)) is not None:
                props = message.properties
                if message_ids is not None and props.get("message_id") not in message_ids:
                    continue  # stays: handed back when the channel closes
                copy = Outgoing(exchange="", routing_key=target, body=_body(message),
                                message_id=props.get("message_id") or "", type=props.get("type") or "",
                                content_type=props.get("content_type") or "", correlation_id=props.get("correlation_id"),
                                headers=replay_headers(dict(props.get("application_headers") or {})))
                if mover.publish([copy]):
                    raise TransportError(f"queue {target} does not exist")
                channel.basic_ack(message.delivery_info["delivery_tag"])
                moved += 1
            channel.close()
        return moved

    def close(self) -> None:
        with self._publish_lock:
            self._drop_publisher()

    # -- consuming ------------------------------------------------------------------------------

    batches = True  # consume() can hand over what arrived together, see handle_batch

    def consume(self, queue: str, handler: Handler, *, stop: threading.Event, prefetch: int,
                handle_batch=None) -> None:
        """Deliver ``queue``'s messages to ``handler`` one at a time, or, given ``handle_batch``,
        whatever has arrived together (up to ``prefetch``, at most BATCH_LIMIT) as one list."""
        batch = max(1, min(prefetch, BATCH_LIMIT))
        backoff = 0.5
        consumer = self._topology.consumer(queue.removeprefix("aidflow.")) if self._topology else None
        while not stop.is_set():
            conn = None
            try:
                conn = self._connect()
                self._on_connection_change(True)
                channel = conn.channel()
                channel.basic_qos(0, prefetch, False)
                mover = _ConfirmingChannel(conn, self.confirm_timeout, own_connection=False)

                # Deliveries are queued here and handled after drain_events returns: waiting for
                # a confirm inside a handler drains the connection too, and must not start
                # handling the next message in the middle of this one.
                received: deque = deque()
                channel.basic_consume(queue, callback=received.append, no_ack=False)
                backoff = 0.5
                log.info("consuming", extra={"queue": queue})
                while not stop.is_set():
                    if not channel.is_open:  # the connection closed under a handler's publish or ack;
                        # kombu would quietly open a new one, without our consumer: reconnect instead
                        raise amqp.exceptions.RecoverableConnectionError("the consumer's channel is closed")
                    try:
                        conn.drain_events(timeout=1.0)
                    except socket.timeout:
                        conn.heartbeat_check()
                    if handle_batch is not None and received:
                        _drain_arrived(conn, received, batch)
                    while received and not stop.is_set():
                        if handle_batch is None:
                            handler(_AmqpDelivery(received.popleft(), channel, mover, consumer))
                            continue
                        take = min(len(received), batch)
                        handle_batch([_AmqpDelivery(received.popleft(), channel, mover, consumer)
                                      for _ in range(take)])
            except CONNECTION_ERRORS + (amqp.exceptions.AMQPError, TransportError) as exc:
                self._on_connection_change(False)
                log.warning("broker connection lost; reconnecting",
                            extra={"queue": queue, "error": exc.__class__.__name__, "retry_in": backoff})
                stop.wait(backoff)
                backoff = min(backoff * 2, 15.0)
            finally:
                if conn is not None:
                    try:
                        conn.release()
                    except Exception:  # the connection is already gone
                        pass


def _drain_arrived(conn: Connection, received: deque, limit: int) -> None:
    """Read the deliveries already on the socket, without waiting for more, up to ``limit``."""
    while len(received) < limit:
        try:
            conn.drain_events(timeout=ARRIVED_WAIT)
        except socket.timeout:
            return


class _ConfirmingChannel:
    """A channel in confirm mode that publishes batches and waits for every ack."""

    def __init__(self, conn: Connection, confirm_timeout: float, own_connection: bool = True):
        self.conn = conn
        self.own_connection = own_connection
        self.confirm_timeout = confirm_timeout
        self.channel = conn.channel()
        self.channel.confirm_select()
        self._next_tag = 1
        self._pending: dict[int, str] = {}
        self._returned: set[str] = set()
        self._nacked = False
        self.channel.events["basic_ack"].add(self._on_ack)
        self.channel.events["basic_nack"].add(self._on_nack)
        self.channel.events["basic_return"].add(self._on_return)

    @property
    def alive(self) -> bool:
        return self.channel.is_open and self.conn.connected

    def _settle(self, delivery_tag: int, multiple: bool):
        if multiple:
            for tag in [t for t in self._pending if t <= delivery_tag]:
                del self._pending[tag]
        else:
            self._pending.pop(delivery_tag, None)

    def _on_ack(self, delivery_tag, multiple):
        self._settle(delivery_tag, multiple)

    def _on_nack(self, delivery_tag, multiple):
        self._nacked = True
        self._settle(delivery_tag, multiple)

    def _on_return(self, exc, exchange, routing_key, message):
        self._returned.add(message.properties.get("message_id"))

    def publish(self, messages: list[Outgoing]) -> list[str]:
        self._returned.clear()
        self._nacked = False
        for message in messages:
            props = {key: value for key, value in (
                ("content_type", message.content_type), ("message_id", message.message_id),
                ("type", message.type), ("correlation_id", message.correlation_id),
                ("user_id", message.user_id)) if value}
            props.update(delivery_mode=2, application_headers=message.headers or {})
            body = message.body.encode("utf-8") if isinstance(message.body, str) else message.body
            self.channel._basic_publish(amqp.Message(body, **props), exchange=message.exchange,
                                        routing_key=message.routing_key, mandatory=True)
            self._pending[self._next_tag] = message.message_id
            self._next_tag += 1
        deadline = time.monotonic() + self.confirm_timeout
        while self._pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TransportError(f"{len(self._pending)} publishes not confirmed in {self.confirm_timeout}s")
            try:
                self.conn.drain_events(timeout=min(remaining, 1.0))
            except socket.timeout:
                self.conn.heartbeat_check()
        if self._nacked:
            raise TransportError("the broker refused (nacked) part of the batch")
        return [m.message_id for m in messages if m.message_id in self._returned]

    def close(self):
        try:
            if self.own_connection:
                self.conn.release()
            else:
                self.channel.close()
        except Exception:  # closing a broken connection
            pass


class _AmqpDelivery(Delivery):
    def __init__(self, message: amqp.Message, channel, mover: _ConfirmingChannel, consumer):
        props = message.properties
        info = message.delivery_info
        self.body = _body(message)
        self.exchange = info.get("exchange", "")
        self.routing_key = info.get("routing_key", "")
        self.content_type = props.get("content_type")
        self.message_id = props.get("message_id")
        self.type = props.get("type")
        self.correlation_id = props.get("correlation_id")
        self.user_id = props.get("user_id")
        self.headers = dict(props.get("application_headers") or {})
        self.redelivered = bool(info.get("redelivered"))
        self._tag = info["delivery_tag"]
        self._channel = channel
        self._mover = mover
        self._consumer = consumer

    def ack(self) -> None:
        self._channel.basic_ack(self._tag)

    def _move(self, queue: str, headers: dict) -> None:
        copy = Outgoing(exchange="", routing_key=queue, body=self.body, message_id=self.message_id or "",
                        type=self.type or "", content_type=self.content_type or "",
                        correlation_id=self.correlation_id, headers=headers)
        if self._mover.publish([copy]):  # confirmed before the original is acked
            raise TransportError(f"queue {queue} is missing; the message stays where it is")
        self.ack()

    def retry(self, attempt: int, delay: float, error: str) -> None:
        self._move(self._consumer.retry_queue(delay), self.moved_headers(**{RETRIES: attempt, LAST_ERROR: error[:500]}))

    def park(self, reason: str, detail: str, consumer: str) -> None:
        self._move(self._consumer.parking, self.moved_headers(**park_headers(reason, detail, consumer)))


def _body(message: amqp.Message) -> bytes:
    body = message.body
    return body.encode("utf-8") if isinstance(body, str) else bytes(body)
