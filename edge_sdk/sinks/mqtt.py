"""MQTT sink: one JSON message per frame, published with paho-mqtt (imported when used).

``mqtt://[user:pass@]host[:port]/topic/template[?options]`` (port 1883) or ``mqtts://…``
(TLS, port 8883). The topic template may use ``{source}`` (the source URI with ``/``, ``+``,
``#``, ``:`` and spaces replaced by ``_``), ``{task}`` (``classify``/``detect``/``faces``) and
``{host}`` (this machine's host name). Example: ``mqtt://broker/edge/{host}/{task}``.

``mode=frames`` (default) publishes every frame's record; ``mode=events`` publishes only
changes, debounced over ``debounce`` frames (a label's count going up or down, an identity
appearing or leaving, a tracked object entering or leaving, the top class changing; see
:mod:`edge_sdk.sinks.events`), optionally only for ``labels`` (comma-separated). ``ha=1``
turns on Home Assistant discovery for the run (see :mod:`edge_sdk.pipeline.service_options`).

Never blocks the pipeline: paho's network thread sends, connects and reconnects (with a
backoff doubling from ``reconnect_min_s`` to ``reconnect_max_s``); outgoing messages wait in a
queue bounded by ``queue`` messages. A message that finds the queue full, or that has QoS 0
while the broker is unreachable, is dropped and counted in ``dropped``.
"""

from __future__ import annotations

import json
import logging
import socket
import string
import threading
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

from ..errors import OptionsError, SinkError, missing_dependency
from ..redact import redact
from .base import Sink, SinkContext
from .events import ChangeDetector, EventOptions

if TYPE_CHECKING:
    from ..tasks.base import TaskResult

log = logging.getLogger(__name__)

TOPIC_FIELDS = frozenset({"source", "task", "host"})

# option name -> (type, default); query-string values are converted with the type
_OPTIONS: dict[str, tuple[type, Any]] = {
    "qos": (int, 0),
    "retain": (bool, False),
    "client_id": (str, ""),
    "keepalive": (int, 60),
    "queue": (int, 1000),
    "connect_timeout_s": (float, 5.0),
    "flush_timeout_s": (float, 3.0),
    "reconnect_min_s": (int, 1),
    "reconnect_max_s": (int, 30),
    "ca_certs": (str, None),
    "insecure": (bool, False),
    "mode": (str, "frames"),
    "debounce": (int, 3),
    "labels": (str, None),
    "ha": (bool, False),
}


def _convert(name: str, value: Any) -> Any:
    if name == "labels" and isinstance(value, (list, tuple)):
        if not all(isinstance(x, str) for x in value):
            raise OptionsError(f"mqtt option labels must be a list of strings, got {value!r}")
        return ",".join(value)
    kind = _OPTIONS[name][0]
    if isinstance(value, str) and kind is not str:
        text = value.strip().lower()
        try:
            if kind is bool:
                if text not in ("1", "0", "true", "false", "yes", "no"):
                    raise ValueError
                return text in ("1", "true", "yes")
            return kind(text)
        except ValueError:
            raise OptionsError(f"mqtt option {name} must be a {kind.__name__}, got {value!r}") from None
    if value is not None and kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if value is not None and not isinstance(value, kind):
        raise OptionsError(f"mqtt option {name} must be a {kind.__name__}, got {value!r}")
    return value


def topic_part(text: str) -> str:
    """``text`` made safe as one MQTT topic level (no ``/``, ``+``, ``#``, ``:`` or spaces)."""
    out = "".join("_" if c in "/+#: \t" else c for c in text).strip("_")
    return out or "_"


class MqttSink(Sink):
    """Publish each result's record (JSON, UTF-8) to an MQTT broker.

    Args:
        uri: see the module docstring. User name and password may be percent-encoded;
            ``uri`` keeps the URI with the password masked.
        qos: 0, 1 or 2. retain: set the retain flag (the broker keeps the last record).
        client_id: MQTT client id (default: random). keepalive: seconds.
        queue: most messages waiting to be sent (>= 1). connect_timeout_s: how long
            :meth:`open` waits for the first connection before going on (it keeps trying in
            the background). flush_timeout_s: how long :meth:`close` waits for queued messages.
        reconnect_min_s, reconnect_max_s: reconnection backoff bounds, seconds.
        ca_certs: CA bundle for ``mqtts`` (default: the system's). insecure: skip the host
            name check (testing only).

    Options may also be given in the URI's query string: ``mqtt://host/t?qos=1&retain=1``.

    Raises:
        OptionsError: malformed URI, unknown topic field, bad option.
        MissingDependencyError: paho-mqtt is not installed (``pip install 'edge-sdk[mqtt]'``).
    """

    def __init__(self, uri: str, **options: Any) -> None:
        raw_uri, uri = uri, redact(uri)  # never show the password in messages
        self.uri = uri
        try:
            parts = urlsplit(raw_uri)
            hostname = parts.hostname
        except ValueError as exc:  # e.g. "Invalid IPv6 URL" for mqtt://[::1/topic
            raise OptionsError(
                f"malformed MQTT address {uri!r}: {exc}; expected mqtt://[::1]:1883/topic"
            ) from None
        if parts.scheme not in ("mqtt", "mqtts") or not hostname:
            raise OptionsError(f"expected mqtt://[user:pass@]host[:port]/topic or mqtts://..., got {uri!r}")
        self.tls = parts.scheme == "mqtts"
        self.host: str = hostname
        try:
            port = parts.port
        except ValueError:
            raise OptionsError(f"bad port in {uri!r}") from None
        self.port = port or (8883 if self.tls else 1883)
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.topic_template = parts.path.lstrip("/")
        if not self.topic_template:
            raise OptionsError(f"mqtt sink {self.uri} needs a topic: mqtt://host/topic/{{source}}")
        try:
            parsed = list(string.Formatter().parse(self.topic_template))
        except ValueError as exc:  # an unmatched brace
            raise OptionsError(f"malformed topic template {self.topic_template!r}: {exc}") from None
        for _, name, spec, conversion in parsed:
            if name is not None and (spec or conversion):
                raise OptionsError(
                    f"topic field {{{name}}} in {self.topic_template!r} has a format spec or conversion "
                    f"({'!' + conversion if conversion else ''}{':' + spec if spec else ''}); "
                    "expected plain fields such as {source}"
                )
        fields = {f for _, f, _, _ in parsed if f is not None}
        unknown = fields - TOPIC_FIELDS
        if unknown:
            raise OptionsError(
                f"unknown topic field(s) {', '.join(sorted('{' + f + '}' for f in unknown))} in "
                f"{self.topic_template!r}; expected {', '.join('{' + f + '}' for f in sorted(TOPIC_FIELDS))}"
            )
        merged: dict[str, Any] = {}
        for key, value in parse_qsl(parts.query, keep_blank_values=True):
            if key not in _OPTIONS:
                raise OptionsError(f"unknown mqtt option {key!r}; expected one of {', '.join(_OPTIONS)}")
            merged[key] = value
        for key, value in options.items():
            if key not in _OPTIONS:
                raise OptionsError(f"unknown mqtt option {key!r}; expected one of {', '.join(_OPTIONS)}")
            if key in merged:
                raise OptionsError(f"mqtt option {key} is given both in the URI and as an option")
            merged[key] = value
        opts = {k: _convert(k, merged[k]) if k in merged else d for k, (_, d) in _OPTIONS.items()}
        if opts["qos"] not in (0, 1, 2):
            raise OptionsError(f"qos must be 0, 1 or 2, got {opts['qos']}")
        if opts["queue"] < 1 or opts["keepalive"] < 1:
            raise OptionsError("mqtt options queue and keepalive must be >= 1")
        if not 1 <= opts["reconnect_min_s"] <= opts["reconnect_max_s"]:
            raise OptionsError("mqtt reconnect_min_s must be >= 1 and <= reconnect_max_s")
        if opts["connect_timeout_s"] < 0 or opts["flush_timeout_s"] < 0:
            raise OptionsError("mqtt timeouts must be >= 0 seconds")
        if opts["mode"] not in ("frames", "events"):
            raise OptionsError(f"mqtt option mode must be frames or events, got {opts['mode']!r}")
        self.events: ChangeDetector | None = None
        if opts["mode"] == "events":
            labels = opts["labels"]
            self.events = ChangeDetector(
                EventOptions(
                    debounce=opts["debounce"],
                    labels=None if not labels else tuple(x.strip() for x in labels.split(",") if x.strip()),
                )
            )
        elif opts["debounce"] != _OPTIONS["debounce"][1] or opts["labels"] is not None:
            raise OptionsError("mqtt options debounce and labels apply to mode=events only")
        self.qos: int = opts["qos"]
        self.retain: bool = opts["retain"]
        self.opts = opts
        self.topic: str | None = None
        self.published = 0
        self.dropped = 0
        self.connected = threading.Event()
        self._pending: set[int] = set()  # published, not yet confirmed (sent for QoS 0)
        self._early: set[int] = set()  # confirmed before write() recorded them
        self._lock = threading.Lock()
        self._client: Any = None
        self._last_warning = 0.0
        self._queue_full_rc = self._no_conn_rc = -1

    def open(self, context: SinkContext) -> None:
        try:
            # optional: hardware/extra library, with an install hint
            import paho.mqtt.client as mqtt
        except ImportError:
            raise missing_dependency("paho.mqtt", "mqtt", "the MQTT sink") from None
        self.topic = self.topic_template.format(
            source=topic_part(context.source), task=context.task, host=topic_part(socket.gethostname())
        )
        if any(c in self.topic for c in "+#") or not self.topic:
            raise OptionsError(f"the topic {self.topic!r} must not be empty or contain the wildcards + or #")
        opts = self.opts
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=opts["client_id"], reconnect_on_failure=True
        )
        if self.username is not None:
            client.username_pw_set(self.username, self.password)
        if self.tls:
            client.tls_set(ca_certs=opts["ca_certs"])
            if opts["insecure"]:
                client.tls_insecure_set(True)
        client.max_queued_messages_set(opts["queue"])
        client.max_inflight_messages_set(min(20, opts["queue"]))
        client.reconnect_delay_set(opts["reconnect_min_s"], opts["reconnect_max_s"])
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        try:
            client.connect_async(self.host, self.port, keepalive=opts["keepalive"])
        except (OSError, ValueError) as exc:
            raise SinkError(f"cannot connect to MQTT broker {self.host}:{self.port}: {exc}") from exc
        client.loop_start()
        self._client = client
        self._queue_full_rc = int(mqtt.MQTT_ERR_QUEUE_SIZE)
        self._no_conn_rc = int(mqtt.MQTT_ERR_NO_CONN)
        if not self.connected.wait(opts["connect_timeout_s"]):
            rejected = self._tls_rejection() if self.tls else None
            if rejected:
                log.error(
                    "MQTT broker %s:%d: its TLS certificate was rejected (%s); check ca_certs, or "
                    "the broker's certificate and host name",
                    self.host,
                    self.port,
                    rejected,
                )
                return
            log.warning(
                "MQTT broker %s:%d not reachable within %.1f s; publishing will start when it is "
                "(QoS 0 records are dropped until then)",
                self.host,
                self.port,
                opts["connect_timeout_s"],
            )

    def _tls_rejection(self) -> str | None:
        """Why the broker's TLS certificate is not accepted, or None (not TLS, or no answer).

        One probe with the same trust settings paho uses, so that "not reachable" and "reached
        but its certificate was rejected" can be told apart.
        """
        import ssl  # lazy: only to name a TLS failure

        context = ssl.create_default_context(cafile=self.opts["ca_certs"])
        if self.opts["insecure"]:
            context.check_hostname = False
        try:
            with (
                socket.create_connection((self.host, self.port), timeout=3.0) as sock,
                context.wrap_socket(sock, server_hostname=self.host),
            ):
                return None
        except ssl.SSLCertVerificationError as exc:
            return str(exc.verify_message or exc)
        except (OSError, ValueError):
            return None

    # paho callbacks run on paho's network thread
    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if getattr(reason, "is_failure", False):
            log.error("MQTT broker %s:%d refused the connection: %s", self.host, self.port, reason)
            return
        log.info("MQTT connected to %s:%d", self.host, self.port)
        self.connected.set()

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if self.connected.is_set() and self._client is not None:  # not our own close()
            log.warning("MQTT connection to %s:%d lost (%s); reconnecting", self.host, self.port, reason)
        self.connected.clear()

    def _on_publish(self, client: Any, userdata: Any, mid: int, reason: Any, properties: Any) -> None:
        with self._lock:
            if mid in self._pending:
                self._pending.discard(mid)
            else:
                self._early.add(mid)

    def write(self, result: TaskResult) -> None:
        if self._client is None or self.topic is None:
            raise SinkError(f"mqtt sink {self.uri} was not opened")
        if self.events is not None:
            for event in self.events.update(result):
                self._publish(json.dumps(event, separators=(",", ":"), ensure_ascii=False))
            return
        self._publish(json.dumps(result.record, separators=(",", ":"), ensure_ascii=False))

    def _publish(self, payload: str) -> None:
        assert self._client is not None and self.topic is not None
        # Never hold our lock while calling paho: its network thread holds paho's own lock when
        # it calls on_publish, which takes ours.
        info = self._client.publish(self.topic, payload, qos=self.qos, retain=self.retain)
        # QoS 1/2 messages published while disconnected stay in paho's queue (rc NO_CONN)
        # and go out after the reconnection; QoS 0 ones are lost.
        if info.rc == 0 or (info.rc == self._no_conn_rc and self.qos > 0):
            self.published += 1
            with self._lock:
                if info.mid in self._early:  # confirmed before we got here
                    self._early.discard(info.mid)
                else:
                    self._pending.add(info.mid)
            return
        self.dropped += 1
        now = time.monotonic()
        if now - self._last_warning > 10.0:
            self._last_warning = now
            log.warning(
                "MQTT %s:%d: record dropped (%s); %d dropped so far",
                self.host,
                self.port,
                "queue full" if info.rc == self._queue_full_rc else "not connected",
                self.dropped,
            )

    def close(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        deadline = time.monotonic() + self.opts["flush_timeout_s"]
        while time.monotonic() < deadline:
            with self._lock:
                if not self._pending:
                    break
            if not self.connected.is_set() and self.qos == 0:
                break
            time.sleep(0.02)
        with self._lock:
            left = len(self._pending)
        if left:
            log.warning("MQTT: %d record(s) not confirmed by %s:%d at close", left, self.host, self.port)
        try:
            client.disconnect()
        finally:
            client.loop_stop()
