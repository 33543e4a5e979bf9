"""No password from a source or broker address reaches any output (issue 17, defect 1).

One real run (``edge-sdk run`` in a subprocess, ``--debug`` logging) reads an MJPEG stream at
``http://admin:PASSWORD@127.0.0.1:P/stream.mjpg`` and writes to a JSON-lines file, stdout, a
real mosquitto broker (user and password, ``{source}`` topic, retained) and the preview; the
stream is then cut so the reconnect path logs too. Then every error path runs with a
password in the address: an unreachable stream, a mistyped sink scheme, a malformed IPv6
broker, an unreachable broker, a wrong broker password, a broker whose TLS certificate is
rejected, bad source options. Everything written is grepped: files, stdout, stderr, every MQTT
message (topic and payload) a ``#`` subscriber saw, and every preview response (headers and body).
"""

from __future__ import annotations

import http.client
import json
import logging
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.mjpeg_server import MjpegServer, make_frames
from tests.mosquitto_broker import Broker, free_port, make_certificates, mosquitto_binary

mqtt = pytest.importorskip("paho.mqtt.client", reason="paho-mqtt is needed: pip install 'edge-sdk[mqtt]'")
BINARY = mosquitto_binary()
pytestmark = pytest.mark.skipif(
    BINARY is None, reason="mosquitto is not installed (apt-get install mosquitto)"
)

SOURCE_PW = "Src-s3cret-7781"
BROKER_PW = "Brk-s3cret-4410"
SECRETS = (SOURCE_PW, BROKER_PW)
CLI = [sys.executable, "-m", "edge_sdk.cli.main"]


class Everything:
    """Collects every MQTT message on ``#`` (raw topic and payload)."""

    def __init__(self, port: int) -> None:
        self.seen: list[bytes] = []
        self.ready = threading.Event()
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="leak-watch")
        c.username_pw_set("watch", "watch-pw")
        c.on_connect = lambda cl, ud, fl, rc, pr: cl.subscribe("#", qos=1)
        c.on_subscribe = lambda cl, ud, mid, rcs, pr: self.ready.set()
        c.on_message = lambda cl, ud, msg: self.seen.append(msg.topic.encode() + b" " + msg.payload)
        c.connect("127.0.0.1", port)
        c.loop_start()
        self.client = c
        assert self.ready.wait(10)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def http_get(port: int, path: str) -> bytes:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        head = "\n".join(f"{k}: {v}" for k, v in resp.getheaders()).encode()
        return f"{resp.status}\n".encode() + head + b"\n\n" + resp.read()
    finally:
        conn.close()


def assert_clean(where: str, data: bytes | str) -> None:
    blob = data.encode() if isinstance(data, str) else data
    for secret in SECRETS:
        assert secret.encode() not in blob, f"{secret} leaked into {where}: ...{_around(blob, secret)}..."


def _around(blob: bytes, secret: str) -> str:
    i = blob.find(secret.encode())
    return blob[max(0, i - 80) : i + 80].decode("utf-8", "replace")


@pytest.fixture
def broker(tmp_path: Path) -> Any:
    assert BINARY is not None
    b = Broker(BINARY, tmp_path / "broker", users={"edge": BROKER_PW, "watch": "watch-pw"})
    (tmp_path / "broker").mkdir()
    b.start()
    yield b
    b.stop()


def test_no_password_in_any_output(broker: Broker, mobilenet: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    watch = Everything(broker.port)
    camera = MjpegServer(make_frames(8, (160, 120)), fps=10).start()
    source = f"http://admin:{SOURCE_PW}@127.0.0.1:{camera.port}/stream.mjpg"
    preview_port = free_port()
    written: list[tuple[str, bytes | str]] = []
    try:
        proc = subprocess.Popen(
            [
                *CLI, "--debug", "run", "--task", "classify", "--model", str(mobilenet), "--source", source,
                "--sink", f"jsonl:{out / 'results.jsonl'}", "--sink", "jsonl:-",
                "--sink", f"mqtt://edge:{BROKER_PW}@127.0.0.1:{broker.port}/edge/{{source}}?retain=1&qos=1",
                "--sink", f"preview:127.0.0.1:{preview_port}",
            ],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            results = b""
            while time.monotonic() < deadline:
                try:
                    results = http_get(preview_port, "/results")
                except OSError:
                    results = b""
                if b'"classes"' in results:
                    break
                time.sleep(0.2)
            assert b'"classes"' in results, "the preview never showed a result"
            for path in ("/results", "/info", "/", "/nope"):
                written.append((f"preview {path}", http_get(preview_port, path)))
            camera.stop()  # the stream is lost: the reconnect path logs the address
            time.sleep(3)
            proc.send_signal(signal.SIGINT)
            stdout, stderr = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        written += [("stdout", stdout), ("stderr", stderr)]
        time.sleep(0.5)
    finally:
        camera.stop()
        watch.close()
    records = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    assert records and records[0]["source"] == f"http://admin:***@127.0.0.1:{camera.port}/stream.mjpg"
    assert any(b"admin_***@127.0.0.1" in m for m in watch.seen), "MQTT topic carries the masked source"
    assert "lost" in stderr, stderr[-3000:]
    written += [(f"mqtt message {i}", m) for i, m in enumerate(watch.seen)]
    written += [(str(p), p.read_bytes()) for p in out.rglob("*") if p.is_file()]
    for where, data in written:
        assert_clean(where, data)


def _cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, "--debug", *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def _cli_no_debug(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout, check=False)


def test_no_password_in_any_error(broker: Broker, mobilenet: Path, tmp_path: Path) -> None:
    closed = free_port()
    photos = tmp_path / "photos"
    photos.mkdir()
    import cv2

    from tests.pipeline_helpers import frame_image

    cv2.imwrite(str(photos / "a.png"), frame_image(0))
    common = ["run", "--task", "classify", "--model", str(mobilenet), "--max-frames", "2"]
    cases = {
        "unreachable stream": [*common, "--source", f"rtsp://admin:{SOURCE_PW}@127.0.0.1:{closed}/live",
                               "--sink", "jsonl:-"],
        "http stream refused": [*common, "--source", f"http://admin:{SOURCE_PW}@127.0.0.1:{closed}/v.mjpg",
                                "--sink", "jsonl:-"],
        "mistyped sink scheme": [*common, "--source", str(photos), "--sink", f"mqqt://u:{BROKER_PW}@h/t"],
        "malformed IPv6 broker": [*common, "--source", str(photos), "--sink", f"mqtt://u:{BROKER_PW}@[::1/t"],
        "broker without topic": [*common, "--source", str(photos), "--sink", f"mqtt://u:{BROKER_PW}@h"],
        "unreachable broker": [*common, "--source", str(photos),
                               "--sink", f"mqtt://u:{BROKER_PW}@127.0.0.1:{closed}/t?connect_timeout_s=0.5"],
        "wrong broker password": [*common, "--source", str(photos),
                                  "--sink", f"mqtt://edge:x{BROKER_PW}@127.0.0.1:{broker.port}/t"
                                  "?connect_timeout_s=1&flush_timeout_s=0.2"],
    }  # fmt: skip
    seen_masked = 0
    for name, args in cases.items():
        for runner in (_cli, _cli_no_debug):
            r = runner(*args)
            assert_clean(f"{name} stdout", r.stdout)
            assert_clean(f"{name} stderr", r.stderr)
            seen_masked += ":***@" in r.stderr
    assert seen_masked >= 6, "the errors name the (masked) address"
    config = tmp_path / "c.json"
    config.write_text(
        json.dumps(
            {
                "task": "classify",
                "model": str(mobilenet),
                "source": f"rtsp://admin:{SOURCE_PW}@127.0.0.1:{closed}/x",
                "sink": [{"uri": f"mqtt://u:{BROKER_PW}@127.0.0.1/t", "bogus": 1}],
            }
        )
    )
    r = _cli("run", "--config", str(config))
    assert r.returncode != 0
    assert_clean("config error", r.stdout + r.stderr)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is needed to make test certificates")
def test_tls_rejection_is_reported_as_such(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """It said only "not reachable"; now it says the certificate was rejected, without the password."""
    from edge_sdk.sinks import SinkContext
    from edge_sdk.sinks.mqtt import MqttSink

    assert BINARY is not None
    ca, cert, key = make_certificates(tmp_path)
    b = Broker(BINARY, tmp_path, tls=(ca, cert, key)).start()
    try:
        sink = MqttSink(
            f"mqtts://u:{BROKER_PW}@127.0.0.1:{b.port}/t", connect_timeout_s=1.0, flush_timeout_s=0.1
        )
        with caplog.at_level(logging.WARNING, logger="edge_sdk.sinks.mqtt"):
            sink.open(SinkContext("cam", "classify"))
            sink.close()
        text = "\n".join(r.getMessage() for r in caplog.records)
        assert "TLS certificate was rejected (self-signed certificate" in text, text
        assert "not reachable" not in text
        assert BROKER_PW not in text
    finally:
        b.stop()


@pytest.fixture(scope="module")
def mobilenet(assets: Path) -> Path:
    return assets / "classification" / "mobilenet_v1_0.5_160_quant.tflite"
