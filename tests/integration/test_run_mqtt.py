"""MQTT sink against a real mosquitto broker on 127.0.0.1, read back with a paho subscriber."""

from __future__ import annotations

import json
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from edge_sdk.pipeline.engine import Pipeline
from edge_sdk.sinks import SinkContext
from edge_sdk.sinks.mqtt import MqttSink
from tests.mosquitto_broker import Broker, free_port, make_certificates, mosquitto_binary
from tests.pipeline_helpers import RecordingTask, ScriptedSource, write_video

mqtt = pytest.importorskip("paho.mqtt.client", reason="paho-mqtt is needed: pip install 'edge-sdk[mqtt]'")

BINARY = mosquitto_binary()
pytestmark = pytest.mark.skipif(
    BINARY is None, reason="mosquitto is not installed (Debian: apt-get install mosquitto)"
)


class Subscriber:
    """Collects (topic, payload) pairs; resubscribes after a reconnect."""

    def __init__(
        self, port: int, topic: str, user: tuple[str, str] | None = None, ca: Path | None = None
    ) -> None:
        self.messages: list[tuple[str, dict[str, Any]]] = []
        self.subscribed = threading.Event()
        self.cond = threading.Condition()
        self.topic = topic
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"test-sub-{port}")
        if user:
            c.username_pw_set(*user)
        if ca:
            c.tls_set(ca_certs=str(ca))
        c.on_connect = lambda cl, ud, fl, rc, pr: cl.subscribe(topic, qos=1)
        c.on_subscribe = lambda cl, ud, mid, rcs, pr: self.subscribed.set()
        c.on_message = self._on_message
        c.on_disconnect = lambda cl, ud, fl, rc, pr: self.subscribed.clear()
        c.reconnect_delay_set(1, 1)
        c.connect_async("127.0.0.1", port)
        c.loop_start()
        self.client = c
        assert self.subscribed.wait(10), "subscriber could not subscribe"

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        with self.cond:
            self.messages.append((msg.topic, json.loads(msg.payload)))
            self.cond.notify_all()

    def wait_for(self, n: int, timeout: float = 15.0) -> list[tuple[str, dict[str, Any]]]:
        with self.cond:
            self.cond.wait_for(lambda: len(self.messages) >= n, timeout)
            return list(self.messages)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def broker(tmp_path: Path) -> Any:
    assert BINARY is not None
    b = Broker(BINARY, tmp_path).start()
    yield b
    b.stop()


def test_records_arrive_in_order_and_equal_to_the_jsonl_output(
    broker: Broker, tmp_path: Path, assets: Path
) -> None:
    from edge_sdk.tasks.classify import Classifier

    video = write_video(tmp_path / "clip.mp4", 12)
    sub = Subscriber(broker.port, "edge/#")
    try:
        clf = Classifier(assets / "classification" / "mobilenet_v1_0.5_160_quant.tflite", top_k=3)
        jsonl = tmp_path / "out.jsonl"
        stats = Pipeline(
            str(video),
            clf,
            [f"mqtt://127.0.0.1:{broker.port}/edge/{{task}}/{{source}}?qos=1", f"jsonl:{jsonl}"],
        ).run()
        assert stats.written == 12
        got = sub.wait_for(12)
    finally:
        sub.close()
    expected = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert len(got) == 12
    topic = "edge/classify/" + str(video).replace("/", "_").strip("_")
    assert {t for t, _ in got} == {topic}
    assert [m for _, m in got] == expected
    assert [m["frame"] for _, m in got] == list(range(12))
    assert got[0][1]["classes"][0]["label"] is not None


def test_user_and_password(tmp_path: Path) -> None:
    assert BINARY is not None
    b = Broker(BINARY, tmp_path, users={"edge": "p@ss w"}).start()
    try:
        sub = Subscriber(b.port, "cams/+", user=("edge", "p@ss w"))
        src = ScriptedSource(5, live=False, uri="usb:0")
        Pipeline(
            src, RecordingTask(), [f"mqtt://edge:p%40ss%20w@127.0.0.1:{b.port}/cams/{{source}}?qos=1"]
        ).run()
        got = sub.wait_for(5)
        sub.close()
        assert [(t, m["frame"]) for t, m in got] == [("cams/usb_0", i) for i in range(5)]
    finally:
        b.stop()


def test_an_unreachable_broker_never_blocks_the_pipeline() -> None:
    port = free_port()  # nothing listens here
    sink = MqttSink(f"mqtt://127.0.0.1:{port}/t", connect_timeout_s=0.2, flush_timeout_s=0.2)
    stats = Pipeline(ScriptedSource(20, live=False), RecordingTask(), [sink]).run()
    assert stats.written == 20
    assert sink.dropped == 20 and sink.published == 0  # QoS 0 while disconnected: dropped, counted


def test_bounded_queue_drops_instead_of_growing() -> None:
    port = free_port()
    sink = MqttSink(f"mqtt://127.0.0.1:{port}/t?qos=1&queue=3", connect_timeout_s=0, flush_timeout_s=0.2)
    stats = Pipeline(ScriptedSource(10, live=False), RecordingTask(), [sink]).run()
    assert stats.written == 10
    assert (sink.published, sink.dropped) == (3, 7)


def test_reconnects_after_the_broker_restarts(tmp_path: Path) -> None:
    assert BINARY is not None
    b = Broker(BINARY, tmp_path).start()
    sink = MqttSink(
        f"mqtt://127.0.0.1:{b.port}/r?qos=1&reconnect_min_s=1&reconnect_max_s=2", flush_timeout_s=20
    )
    task = RecordingTask()
    src = ScriptedSource(6, live=False, uri="cam")
    frames = [task(f) for f in src]
    sub = Subscriber(b.port, "r")
    sink.open(SinkContext("cam", "classify"))
    try:
        for r in frames[:3]:
            sink.write(r)
        assert len(sub.wait_for(3)) == 3
        b.stop()
        deadline = time.monotonic() + 10
        while sink.connected.is_set() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not sink.connected.is_set(), "the sink noticed the broker went away"
        b.start()  # same port
        assert sub.subscribed.wait(15), "the subscriber is back"
        for r in frames[3:]:
            sink.write(r)  # queued (QoS 1) until the sink has reconnected
        sink.close()  # waits for the broker's acknowledgements
        got = sub.wait_for(6)
    finally:
        sub.close()
        b.stop()
    assert [m["frame"] for _, m in got] == list(range(6))
    assert sink.dropped == 0


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is needed to make test certificates")
def test_mqtts_with_a_private_ca(tmp_path: Path) -> None:
    assert BINARY is not None
    ca, cert, key = make_certificates(tmp_path)
    b = Broker(BINARY, tmp_path, tls=(ca, cert, key)).start()
    try:
        sub = Subscriber(b.port, "secure/#", ca=ca)
        sink = MqttSink(f"mqtts://127.0.0.1:{b.port}/secure/{{task}}?qos=1&ca_certs={ca}")
        Pipeline(ScriptedSource(4, live=False), RecordingTask(), [sink]).run()
        got = sub.wait_for(4)
        sub.close()
        assert [(t, m["frame"]) for t, m in got] == [("secure/classify", i) for i in range(4)]
        # the system CAs do not know this broker: the sink never connects, and never blocks
        untrusted = MqttSink(
            f"mqtts://127.0.0.1:{b.port}/secure/x", connect_timeout_s=0.5, flush_timeout_s=0.2
        )
        stats = Pipeline(ScriptedSource(3, live=False), RecordingTask(), [untrusted]).run()
        assert stats.written == 3 and not untrusted.connected.is_set() and untrusted.dropped == 3
    finally:
        b.stop()
