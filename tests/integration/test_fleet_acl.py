"""The ACL of docs/fleet.md, loaded into a real mosquitto: a device publishes and reads under
its own prefix only; the controller reads everything and commands everyone."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.mosquitto_broker import Broker, mosquitto_binary

mqtt = pytest.importorskip("paho.mqtt.client", reason="paho-mqtt is needed")
BINARY = mosquitto_binary()
pytestmark = pytest.mark.skipif(BINARY is None, reason="mosquitto is not installed")
DOC = Path(__file__).resolve().parents[2] / "docs" / "fleet.md"
USERS = {"cam1": "pw1", "cam2": "pw2", "fleet-controller": "pwc"}


def acl_from_docs() -> str:
    text = DOC.read_text()
    block = re.search(r"```\n# /etc/mosquitto/acl.conf\n(.*?)```", text, re.S)
    assert block, "docs/fleet.md lost its ACL example"
    return block.group(1)


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    d = tmp_path_factory.mktemp("acl")
    (d / "acl.conf").write_text(acl_from_docs())
    assert BINARY is not None
    b = Broker(BINARY, d, users=USERS, extra_config=[f"acl_file {d / 'acl.conf'}"]).start()
    yield b
    b.stop()


class Client:
    def __init__(self, port: int, user: str, subscribe: str | None = None) -> None:
        self.got: list[str] = []
        self.cond = threading.Condition()
        ready = threading.Event()
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"{user}-{time.monotonic_ns()}")
        c.username_pw_set(user, USERS[user])

        def on_connect(cl: Any, ud: Any, fl: Any, rc: Any, pr: Any) -> None:
            if subscribe:
                cl.subscribe(subscribe, qos=1)
            else:
                ready.set()

        c.on_connect = on_connect
        c.on_subscribe = lambda cl, ud, mid, rcs, pr: ready.set()
        c.on_message = self._on
        c.connect("127.0.0.1", port)
        c.loop_start()
        assert ready.wait(10)
        self.c = c

    def _on(self, cl: Any, ud: Any, msg: Any) -> None:
        with self.cond:
            self.got.append(msg.topic)
            self.cond.notify_all()

    def pub(self, topic: str) -> None:
        self.c.publish(topic, b"{}", qos=1).wait_for_publish(10)

    def wait_for(self, topic: str) -> None:
        with self.cond:
            assert self.cond.wait_for(lambda: topic in self.got, 10), f"{topic} never arrived: {self.got}"

    def close(self) -> None:
        self.c.loop_stop()
        self.c.disconnect()


def test_device_publishes_only_under_its_own_prefix(broker: Broker) -> None:
    ctl = Client(broker.port, "fleet-controller", "edge-sdk/#")
    cam1 = Client(broker.port, "cam1")
    try:
        for topic in ("edge-sdk/cam2/status", "edge-sdk/cam2/results/detect", "edge-sdk/cam2/cmd",
                      "edge-sdk/cam1/cmd", "other/topic"):  # fmt: skip
            cam1.pub(topic)
        cam1.pub("edge-sdk/cam1/status")  # allowed; sent last: when it arrives, the others were handled
        cam1.pub("edge-sdk/cam1/events")
        ctl.wait_for("edge-sdk/cam1/events")
        assert ctl.got == ["edge-sdk/cam1/status", "edge-sdk/cam1/events"]
    finally:
        ctl.close()
        cam1.close()


def test_device_reads_only_its_own_commands(broker: Broker) -> None:
    spy = Client(broker.port, "cam1", "edge-sdk/+/cmd")  # tries to read every device's commands
    cam2 = Client(broker.port, "cam2", "edge-sdk/cam2/cmd")
    ctl = Client(broker.port, "fleet-controller")
    try:
        ctl.pub("edge-sdk/cam2/cmd")
        ctl.pub("edge-sdk/cam1/cmd")
        cam2.wait_for("edge-sdk/cam2/cmd")
        spy.wait_for("edge-sdk/cam1/cmd")
        assert spy.got == ["edge-sdk/cam1/cmd"] and cam2.got == ["edge-sdk/cam2/cmd"]
    finally:
        for c in (spy, cam2, ctl):
            c.close()
