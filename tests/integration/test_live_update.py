"""Live model update of a real pipeline (video file, real classifiers) through a real
mosquitto on loopback: the model sha256 in the records changes once with no frame gap; every
bad update is rejected with the old model running on."""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from edge_sdk.fleet.install import Prefix, install
from edge_sdk.fleet.manifest import generate_keypair
from edge_sdk.fleet.update import LiveUpdater, UpdateOptions, release_model_sha256, tagged_release_task
from edge_sdk.pipeline import Pipeline
from edge_sdk.pipeline.tasks import TaskResult
from tests.fleet_helpers import MODEL_A, MODEL_B, make_bundle, rewrite
from tests.mosquitto_broker import Broker, mosquitto_binary
from tests.pipeline_helpers import CollectSink, write_video

mqtt = pytest.importorskip("paho.mqtt.client", reason="paho-mqtt is needed: pip install 'edge-sdk[fleet]'")
pytest.importorskip("cryptography", reason="pip install 'edge-sdk[fleet]'")
BINARY = mosquitto_binary()
pytestmark = pytest.mark.skipif(
    BINARY is None, reason="mosquitto is not installed (apt-get install mosquitto)"
)
HOST = "cam-7"
FRAMES = 60


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    assert BINARY is not None
    b = Broker(BINARY, tmp_path_factory.mktemp("broker")).start()
    yield b
    b.stop()


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory, assets: Path) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("upd")
    generate_keypair(d / "key.pem", d / "key.pub")
    return {
        "a": make_bundle(d, assets, MODEL_A, "a"),
        "b": make_bundle(d, assets, MODEL_B, "b"),
        "video": write_video(d / "clip.mp4", FRAMES),
        "dir": d,
    }


@pytest.fixture(scope="module")
def http_root(bundles: dict[str, Path]) -> Iterator[str]:
    """A loopback HTTP server over the bundles folder; /short/NAME lies about its length."""

    root = bundles["dir"]

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a: Any, **kw: Any) -> None:
            super().__init__(*a, directory=str(root), **kw)

        def do_GET(self) -> None:
            if self.path.startswith("/short/"):
                data = (root / self.path[len("/short/") :]).read_bytes()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[: len(data) // 2])  # connection closes: a truncated download
                return
            super().do_GET()

        def log_message(self, *a: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class GateSink(CollectSink):
    """Collects results; at frame ``at`` waits (bounded) until ``ready()`` is true, so that the
    update is decided while the pipeline is still running."""

    def __init__(self, at: int, ready: Callable[[], bool]) -> None:
        super().__init__()
        self.at = at
        self.ready = ready

    def write(self, result: TaskResult) -> None:
        if result.frame.index == self.at:
            deadline = time.monotonic() + 60
            while not self.ready() and time.monotonic() < deadline:
                time.sleep(0.02)
        super().write(result)


class StatusListener:
    def __init__(self, port: int) -> None:
        self.messages: list[dict[str, Any]] = []
        self.cond = threading.Condition()
        ready = threading.Event()
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"status-{time.monotonic_ns()}")
        c.on_connect = lambda cl, ud, fl, rc, pr: cl.subscribe(f"edge-sdk/{HOST}/status", qos=1)
        c.on_subscribe = lambda cl, ud, mid, rcs, pr: ready.set()
        c.on_message = self._on
        c.connect("127.0.0.1", port)
        c.loop_start()
        self.client = c
        assert ready.wait(10)

    def _on(self, c: Any, ud: Any, msg: Any) -> None:
        with self.cond:
            self.messages.append(json.loads(msg.payload))
            self.cond.notify_all()

    def send(self, cmd: dict[str, Any]) -> None:
        self.client.publish(f"edge-sdk/{HOST}/cmd", json.dumps(cmd), qos=1).wait_for_publish(10)

    def wait(self, timeout: float = 60) -> dict[str, Any]:
        with self.cond:
            assert self.cond.wait_for(lambda: self.messages, timeout), "no update outcome on the status topic"
            return self.messages[-1]

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def run_with_update(
    bundles: dict[str, Path], broker: Broker, tmp_path: Path, command: dict[str, Any], **opts: Any
) -> tuple[dict[str, Any], list[dict[str, Any]], Prefix, LiveUpdater]:
    """Install bundle a, run the pipeline on the clip, send ``command`` at frame 10."""
    prefix = Prefix(tmp_path / "prefix")
    install(bundles["a"], prefix, run_self_test=False)
    release = prefix.current_path().resolve()
    listener = StatusListener(broker.port)
    holder: dict[str, Any] = {}

    def ready() -> bool:
        up = holder["updater"]
        return bool(up.outcomes) or holder["pipeline"]._pending_swap is not None

    sink = GateSink(10, ready)
    pipeline = Pipeline(str(bundles["video"]), tagged_release_task(release), [sink])
    updater = LiveUpdater(
        pipeline,
        release,
        UpdateOptions(mqtt=f"mqtt://127.0.0.1:{broker.port}", host=HOST, prefix=prefix.root, **opts),
    )
    holder.update(updater=updater, pipeline=pipeline)
    try:
        updater.start()
        pipeline.start()
        listener.send(command)
        status = listener.wait()
        pipeline.wait()
    finally:
        pipeline.stop()
        updater.stop()
        listener.close()
    return status, [r.record for r in sink.results], prefix, updater


def _frames_and_shas(records: list[dict[str, Any]]) -> tuple[list[int], list[str]]:
    return [r["frame"] for r in records], [r["model_sha256"] for r in records]


def test_update_over_mqtt_swaps_at_a_frame_boundary(
    bundles: dict[str, Path], broker: Broker, http_root: str, tmp_path: Path, assets: Path
) -> None:
    cmd = {"update": f"{http_root}/b.tar", "sha256": _sha(bundles["b"])}
    status, records, prefix, _ = run_with_update(bundles, broker, tmp_path, cmd)
    assert status["update"] == "applied", status
    assert status["state"] == "online" and status["reason"] is None
    frames, shas = _frames_and_shas(records)
    assert frames == list(range(FRAMES))  # no frame lost, in order
    old, new = _sha(assets / MODEL_A), _sha(assets / MODEL_B)
    switch = shas.index(new)
    assert shas == [old] * switch + [new] * (FRAMES - switch)  # changes exactly once
    assert 0 < switch < FRAMES and status["first_frame"] == switch
    assert records[-1]["release"] == status["release"] == prefix.current_id()  # a restart keeps it
    assert release_model_sha256(prefix.current_path()) == new
    assert not [p for p in prefix.releases.iterdir() if p.name.startswith(".staging")]


def _bad_model(bundles: dict[str, Path], out: Path) -> Path:
    name = "models/mobilenet_v1_0.25_224_quant_with_metadata.tflite"
    return rewrite(bundles["b"], out, replace={name: b"TFL3 but not really a model" * 20})


def _bad_answer(bundles: dict[str, Path], out: Path) -> Path:
    def wrong(m: dict[str, Any]) -> None:
        m["known_answer"]["record"]["classes"][0]["id"] = 934

    return rewrite(bundles["b"], out, manifest_fn=wrong)


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("hash", "sha256 mismatch"),
        ("download", "truncated|failed"),
        ("missing", "does not exist"),
        ("load", "(?i)tflite|model"),
        ("self_test", "top-1 class: expected 934"),
        ("signature", "not signed"),
        ("flipped", "does not match the manifest"),
        ("bad_json", "bad command"),
    ],
)
def test_bad_update_is_rejected_and_old_model_runs_on(
    bundles: dict[str, Path],
    broker: Broker,
    http_root: str,
    tmp_path: Path,
    assets: Path,
    case: str,
    reason: str,
) -> None:
    good = bundles["b"]
    opts: dict[str, Any] = {}
    if case == "hash":
        cmd = {"update": str(good), "sha256": "0" * 64}
    elif case == "download":
        cmd = {"update": f"{http_root}/short/b.tar", "sha256": _sha(good)}
    elif case == "missing":
        cmd = {"update": str(tmp_path / "nope.tar"), "sha256": "0" * 64}
    elif case == "load":
        bad = _bad_model(bundles, tmp_path / "load.tar")
        cmd = {"update": str(bad), "sha256": _sha(bad)}
    elif case == "self_test":
        bad = _bad_answer(bundles, tmp_path / "st.tar")
        cmd = {"update": str(bad), "sha256": _sha(bad)}
    elif case == "signature":
        opts["public_key"] = bundles["dir"] / "key.pub"
        cmd = {"update": str(good), "sha256": _sha(good)}
    elif case == "flipped":
        raw = bytearray(good.read_bytes())
        raw[len(raw) // 2] ^= 0x40
        bad = tmp_path / "flipped.tar"
        bad.write_bytes(bytes(raw))
        cmd = {"update": str(bad), "sha256": _sha(bad)}
    else:
        cmd = {"update": 42}
    status, records, prefix, _ = run_with_update(bundles, broker, tmp_path, cmd, **opts)
    assert status["update"] == "rejected", status
    assert status["reason"] and __import__("re").search(reason, status["reason"]), status["reason"]
    frames, shas = _frames_and_shas(records)
    assert frames == list(range(FRAMES))
    assert set(shas) == {_sha(assets / MODEL_A)}  # the old model ran every frame
    assert release_model_sha256(prefix.current_path()) == _sha(assets / MODEL_A)
    assert [p.name for p in prefix.releases.iterdir() if not p.name.startswith(".")] == [prefix.current_id()]
    assert not [p for p in prefix.releases.iterdir() if p.name.startswith(".staging")]


def test_cli_run_bundle_takes_an_update_from_the_watched_folder(
    bundles: dict[str, Path], broker: Broker, tmp_path: Path, assets: Path
) -> None:
    """``edge-sdk run --bundle`` on a live MJPEG stream: a bundle renamed into the inbox is
    applied, announced on the status topic, and becomes the current release."""
    import os
    import signal
    import subprocess
    import sys

    from tests.mjpeg_server import MjpegServer, make_frames

    prefix = Prefix(tmp_path / "prefix")
    install(bundles["a"], prefix, run_self_test=False)
    inbox, out = tmp_path / "inbox", tmp_path / "out.jsonl"
    listener = StatusListener(broker.port)
    root = Path(__file__).resolve().parents[2]
    with MjpegServer(make_frames(10, (160, 120)), fps=30) as stream:
        cmd = [sys.executable, "-m", "edge_sdk.cli.main", "run", "--bundle", str(prefix.root), "--source", stream.url,
               "--sink", f"jsonl:{out}", "--update-dir", str(inbox), "--update-mqtt", f"mqtt://127.0.0.1:{broker.port}",
               "--host-id", HOST]  # fmt: skip
        proc = subprocess.Popen(
            cmd,
            env={**os.environ, "PYTHONPATH": str(root)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 60
            while not (out.exists() and out.read_text().count("\n") >= 5) and time.monotonic() < deadline:
                assert proc.poll() is None, proc.communicate()
                time.sleep(0.1)
            inbox.mkdir(exist_ok=True)
            part = inbox / "b.tar.part"
            part.write_bytes(bundles["b"].read_bytes())
            part.rename(inbox / "b.tar")  # appears complete, as the docs ask
            status = listener.wait()
            assert status["update"] == "applied", status
            n = out.read_text().count("\n")
            while out.read_text().count("\n") < n + 5 and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=30)
            listener.close()
    assert proc.returncode == 130, err
    shas = [json.loads(line)["model_sha256"] for line in out.read_text().splitlines()]
    old, new = _sha(assets / MODEL_A), _sha(assets / MODEL_B)
    switch = shas.index(new)
    assert shas[:switch] == [old] * switch and set(shas[switch:]) == {new}
    assert prefix.current_id() == status["release"] and prefix.read_state()["starts"] == []


@pytest.mark.parametrize("which", ["same answer", "other model"])
def test_bare_model_update_is_self_tested_against_the_running_release(
    bundles: dict[str, Path], broker: Broker, tmp_path: Path, assets: Path, which: str
) -> None:
    """A bare .tflite replaces the release's model only if it gives the release's known answer:
    model A with bytes appended (a new sha256, the same answer) is applied; model B (macaw at
    0.81, not 0.99 ± 0.05) is rejected."""
    model = tmp_path / "new.tflite"
    if which == "same answer":
        model.write_bytes((assets / MODEL_A).read_bytes() + b"\0retrained-build-42")
    else:
        model.write_bytes((assets / MODEL_B).read_bytes())
    status, records, _prefix, _ = run_with_update(
        bundles, broker, tmp_path, {"update": str(model), "sha256": _sha(model)}
    )
    frames, shas = _frames_and_shas(records)
    assert frames == list(range(FRAMES))
    old = _sha(assets / MODEL_A)
    if which == "same answer":
        assert status["update"] == "applied", status
        switch = shas.index(_sha(model))
        assert shas == [old] * switch + [_sha(model)] * (FRAMES - switch) and switch == status["first_frame"]
    else:
        assert status["update"] == "rejected" and "top-1 score" in status["reason"], status
        assert set(shas) == {old}
