"""Device status over MQTT: retained online/offline with a last will, heartbeats, state, and
Home Assistant discovery (topics in :mod:`edge_sdk.pipeline.service_options`).

:class:`StatusPublisher` owns one paho-mqtt client (imported when used; ``pip install
'edge-sdk[mqtt]'``). At connect it registers the **last will** ``{"state": "offline"}``
(retained, QoS 1) on the status topic, so the broker announces a device that dies, is killed
or loses power; then, on every (re)connection, it publishes the retained
``{"state": "online", ...}`` status and the discovery configs. A clean stop publishes a
retained ``{"state": "offline", "reason": "stopped"}`` itself before disconnecting (a clean
disconnect does not fire the will). Publishing never blocks the pipeline: paho's network
thread sends, with a bounded queue.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

from ..errors import SinkError, missing_dependency
from ..pipeline.service_options import Broker, ServiceOptions

log = logging.getLogger(__name__)

QOS = 1


def edge_sdk_version() -> str:
    from importlib import metadata  # lazy: importlib.metadata costs ~15 ms of start-up

    try:
        return metadata.version("edge-sdk")
    except metadata.PackageNotFoundError:
        return "unknown"


def make_client(broker: Broker, client_id: str = "", queue: int = 1000) -> Any:
    """A paho client for ``broker`` (credentials and TLS set, not connected).

    Raises:
        MissingDependencyError: paho-mqtt is not installed.
    """
    try:
        import paho.mqtt.client as mqtt  # optional: paho-mqtt (the mqtt extra)
    except ImportError:
        raise missing_dependency("paho.mqtt", "mqtt", "MQTT status and Home Assistant discovery") from None
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, reconnect_on_failure=True)
    if broker.username is not None:
        client.username_pw_set(broker.username, broker.password)
    if broker.tls:
        client.tls_set(ca_certs=broker.ca_certs)
        if broker.insecure:
            client.tls_insecure_set(True)
    client.max_queued_messages_set(queue)
    client.reconnect_delay_set(1, 30)
    return client


def cpu_temperature_c(root: Path = Path("/sys/class/thermal")) -> float | None:
    """The CPU temperature in °C from ``/sys/class/thermal`` (a zone whose type names the CPU,
    else the first readable zone); None when there is none (containers, most VMs)."""
    zones = sorted(root.glob("thermal_zone*"))
    readings: list[tuple[bool, float]] = []
    for z in zones:
        try:
            milli = int((z / "temp").read_text().strip())
            kind = (z / "type").read_text().strip().lower()
        except (OSError, ValueError):
            continue
        readings.append((any(k in kind for k in ("cpu", "x86_pkg", "soc")), milli / 1000.0))
    if not readings:
        return None
    cpu = [t for is_cpu, t in readings if is_cpu]
    return round(cpu[0] if cpu else readings[0][1], 1)


def load_average() -> list[float] | None:
    """1, 5 and 15 minute load averages, or None where the OS has none."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


class StatusPublisher:
    """Publish status, heartbeats, state and discovery for one run.

    Args:
        options: where and what (``options.broker`` must be set).
        info: fixed facts merged into the online status (task, source, model, sha256...).
        discovery: ``{topic: config}`` to publish retained at each connection (Home Assistant).
        connect_timeout_s: how long :meth:`start` waits for the first connection before going
            on (it keeps trying in the background).

    Raises:
        OptionsError: no broker in ``options``. MissingDependencyError: no paho-mqtt.
    """

    def __init__(
        self,
        options: ServiceOptions,
        info: dict[str, Any],
        discovery: dict[str, dict[str, Any]] | None = None,
        connect_timeout_s: float = 5.0,
    ) -> None:
        if options.broker is None:
            raise SinkError("the status publisher needs a broker")
        self.options = options
        self.info = info
        self.discovery = discovery or {}
        self.connect_timeout_s = connect_timeout_s
        self.connected = threading.Event()
        self.published = 0
        self._client: Any = None
        self._last_state: str | None = None

    def _online(self) -> dict[str, Any]:
        return {"state": "online", "ts": round(time.time(), 3), **self.info}

    def start(self) -> None:
        """Connect (with the last will) and start paho's network thread.

        Raises:
            SinkError: the broker address cannot be used.
        """
        broker = self.options.broker
        assert broker is not None
        client = make_client(broker)
        client.will_set(
            self.options.status_topic,
            json.dumps({"state": "offline", "host": self.options.host, "reason": "connection lost"}),
            qos=QOS,
            retain=True,
        )
        client.on_connect = self._on_connect
        client.on_disconnect = lambda *a: self.connected.clear()
        try:
            client.connect_async(broker.host, broker.port, keepalive=30)
        except (OSError, ValueError) as exc:
            raise SinkError(f"cannot connect to MQTT broker {broker.host}:{broker.port}: {exc}") from exc
        client.loop_start()
        self._client = client
        if not self.connected.wait(self.connect_timeout_s):
            log.warning(
                "status: MQTT broker %s:%d not reachable within %.1f s; status follows when it is",
                broker.host,
                broker.port,
                self.connect_timeout_s,
            )

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if getattr(reason, "is_failure", False):
            log.error("status: the broker refused the connection: %s", reason)
            return
        # on every (re)connection: a broker without persistence has forgotten retained messages
        client.publish(self.options.status_topic, json.dumps(self._online()), qos=QOS, retain=True)
        for topic, config in self.discovery.items():
            client.publish(topic, json.dumps(config), qos=QOS, retain=True)
        if self._last_state is not None:
            client.publish(self.options.state_topic, self._last_state, qos=QOS, retain=True)
        self.connected.set()

    def publish(self, topic: str, payload: dict[str, Any], retain: bool = False) -> None:
        """Queue one JSON message (QoS 1); never blocks. Dropped (logged) when not started."""
        text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
        if topic == self.options.state_topic:
            self._last_state = text
        if self._client is None:
            return
        info = self._client.publish(topic, text, qos=QOS, retain=retain)
        if info.rc == 0:
            self.published += 1

    def heartbeat(self, payload: dict[str, Any]) -> None:
        self.publish(self.options.heartbeat_topic, payload)

    def state(self, payload: dict[str, Any]) -> None:
        self.publish(self.options.state_topic, payload, retain=True)

    def stop(self, reason: str = "stopped", timeout_s: float = 3.0) -> None:
        """Publish the retained offline status, wait (bounded) for it, and disconnect."""
        client, self._client = self._client, None
        if client is None:
            return
        try:
            if self.connected.is_set():
                msg = {
                    "state": "offline",
                    "host": self.options.host,
                    "reason": reason,
                    "ts": round(time.time(), 3),
                }
                info = client.publish(self.options.status_topic, json.dumps(msg), qos=QOS, retain=True)
                try:
                    info.wait_for_publish(timeout_s)
                except (RuntimeError, ValueError) as exc:
                    log.warning("status: offline message not confirmed: %s", exc)
            client.disconnect()
        finally:
            client.loop_stop()


def clear_retained(broker: Broker, pattern: str, known: list[str], wait_s: float = 1.0) -> list[str]:
    """Remove retained messages: publish an empty retained message to every topic in ``known``
    and to every topic matching ``pattern`` whose retained message the broker sends back within
    ``wait_s`` seconds of subscribing. Returns the topics cleared, sorted.

    Raises:
        SinkError: the broker cannot be reached within 10 s.
        MissingDependencyError: no paho-mqtt.
    """
    client = make_client(broker)
    found: set[str] = set(known)
    subscribed = threading.Event()
    lock = threading.Lock()

    def on_message(cl: Any, ud: Any, msg: Any) -> None:
        if msg.retain and msg.payload:
            with lock:
                found.add(msg.topic)

    client.on_message = on_message
    client.on_connect = lambda cl, ud, fl, rc, pr: cl.subscribe(pattern, qos=1)
    client.on_subscribe = lambda *a: subscribed.set()
    try:
        client.connect(broker.host, broker.port, keepalive=30)
    except (OSError, ValueError) as exc:
        raise SinkError(f"cannot connect to MQTT broker {broker.host}:{broker.port}: {exc}") from exc
    client.loop_start()
    try:
        if not subscribed.wait(10):
            raise SinkError(f"MQTT broker {broker.host}:{broker.port} did not answer within 10 s")
        time.sleep(wait_s)  # retained messages arrive right after the subscription
        client.unsubscribe(pattern)
        with lock:
            topics = sorted(found)
        infos = [client.publish(t, b"", qos=1, retain=True) for t in topics]
        for info in infos:
            info.wait_for_publish(5)
        return topics
    finally:
        client.disconnect()
        client.loop_stop()
