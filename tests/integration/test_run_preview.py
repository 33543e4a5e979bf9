"""Preview page: HTTP routes, and a real headless Chromium showing the latest results and
the MJPEG stream (the page's JS writes the results and the image's natural size into the DOM)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
import urllib.request
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from edge_sdk.frame import Frame
from edge_sdk.image import load_image
from edge_sdk.pipeline.engine import Pipeline
from edge_sdk.pipeline.tasks import TaskResult, adapt
from edge_sdk.sinks import SinkContext
from edge_sdk.sinks.preview import PreviewSink
from tests.pipeline_helpers import RecordingTask, ScriptedSource

BROWSER = next((b for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)
needs_browser = pytest.mark.skipif(
    BROWSER is None, reason="a headless browser is needed (Debian: apt-get install chromium)"
)


def chromium(url: str, tmp: Path, *extra: str) -> str:
    """Run headless Chromium on ``url`` and return stdout (the DOM with --dump-dom)."""
    assert BROWSER is not None
    cmd = [
        BROWSER,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--timeout=20000",
        f"--user-data-dir={tmp / 'chromium-profile'}",
        *extra,
        url,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=90, check=False)
    assert proc.returncode == 0, f"chromium failed ({proc.returncode}): {proc.stderr[-2000:]}"
    return proc.stdout


def dom_text(dom: str, element_id: str) -> str:
    m = re.search(rf'id="{element_id}"[^>]*>(.*?)</(span|ul|pre)>', dom, re.S)
    assert m, f"#{element_id} not in the page"
    return re.sub(r"<[^>]+>", "|", m.group(1))


@pytest.fixture(scope="module")
def classify(assets: Path) -> Any:
    from edge_sdk.tasks.classify import Classifier

    return adapt(Classifier(assets / "classification" / "mobilenet_v1_0.5_160_quant.tflite", top_k=3))


def result_of(classify: Any, assets: Path, name: str, index: int) -> TaskResult:
    image = load_image(assets / "classification" / "images" / name)
    r: TaskResult = classify(Frame(image, index, float(index), name))
    return r


def get(url: str) -> tuple[int, str, bytes]:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return resp.status, resp.headers.get("Content-Type", ""), resp.read()


def test_routes_serve_the_latest_result(classify: Any, assets: Path) -> None:
    sink = PreviewSink("preview:0")
    try:
        assert sink.url.startswith("http://127.0.0.1:")
        assert get(sink.url + "results")[2] == b"null"
        with pytest.raises(urllib.error.HTTPError, match="503"):
            get(sink.url + "frame.jpg")
        sink.open(SinkContext("parrot.jpg", "classify"))
        first = result_of(classify, assets, "parrot.jpg", 0)
        sink.write(first)
        status, ctype, body = get(sink.url + "results")
        assert status == 200 and ctype == "application/json"
        assert json.loads(body) == first.record and first.record["classes"][0]["label"] == "macaw"
        _, ctype, jpeg = get(sink.url + "frame.jpg")
        image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        assert ctype == "image/jpeg" and image is not None and image.shape == (929, 512, 3)
        # the MJPEG stream: multipart JPEG parts, ended after ?frames=2
        _, ctype, stream = get(sink.url + "stream.mjpg?frames=2")
        assert ctype.startswith("multipart/x-mixed-replace; boundary=")
        parts = [p for p in stream.split(b"--edgesdkframe") if b"image/jpeg" in p]
        assert len(parts) == 2
        for p in parts:
            data = p.split(b"\r\n\r\n", 1)[1].rstrip(b"\r\n")
            part = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
            assert part is not None and part.shape == (929, 512, 3)
        # server-sent events: the latest record first
        with urllib.request.urlopen(sink.url + "events", timeout=10) as resp:
            assert resp.headers["Content-Type"] == "text/event-stream"
            line = b""
            while not line.startswith(b"data: "):
                line = resp.readline()
            assert json.loads(line[6:]) == first.record
        assert json.loads(get(sink.url + "info")[2]) == {
            "source": "parrot.jpg",
            "task": "classify",
            "frames": 1,
        }
        with pytest.raises(urllib.error.HTTPError, match="404"):
            get(sink.url + "nothing")
    finally:
        sink.close()


@needs_browser
def test_browser_shows_latest_results_and_the_stream(classify: Any, assets: Path, tmp_path: Path) -> None:
    sink = PreviewSink("preview:0")
    try:
        sink.open(SinkContext("camera", "classify"))
        sink.write(result_of(classify, assets, "parrot.jpg", 0))
        dom = chromium(sink.url, tmp_path, "--dump-dom")
        assert "macaw 0.9" in dom_text(dom, "summary")
        assert dom_text(dom, "frame") == "0"
        assert dom_text(dom, "image-size") == "512x929", "the MJPEG image loaded at the frame's size"
        # a newer result replaces it, in the text and in the stream
        sink.write(result_of(classify, assets, "burger.jpg", 1))
        dom = chromium(sink.url, tmp_path, "--dump-dom")
        assert "cheeseburger 1.000" in dom_text(dom, "summary") or "cheeseburger 0.99" in dom_text(
            dom, "summary"
        )
        assert dom_text(dom, "frame") == "1" and dom_text(dom, "source") == "burger.jpg"
        assert dom_text(dom, "image-size") == "480x325"
        shot = tmp_path / "page.png"
        chromium(sink.url, tmp_path, f"--screenshot={shot}", "--window-size=800,600")
        png = cv2.imread(str(shot))
        assert png is not None and png.shape[:2] == (600, 800)
        # the burger photo is on the page: far more colours than the dark page alone
        assert len(np.unique(png.reshape(-1, 3), axis=0)) > 2000
    finally:
        sink.close()


@needs_browser
def test_browser_follows_a_running_pipeline(tmp_path: Path) -> None:
    sink = PreviewSink("preview:0")
    src = ScriptedSource(None, live=True)
    enough = threading.Event()

    class Task(RecordingTask):
        def __call__(self, frame: Frame) -> TaskResult:
            if frame.index >= 5:
                enough.set()
            return super().__call__(frame)

    pipeline = Pipeline(src, Task(), [sink]).start()
    try:
        assert enough.wait(30)
        dom = chromium(sink.url, tmp_path, "--dump-dom")
        assert int(dom_text(dom, "frame")) >= 5
        assert dom_text(dom, "source") == "scripted:0"
        assert dom_text(dom, "image-size") == "96x64"
        assert "mean 0." in dom_text(dom, "summary")
    finally:
        pipeline.stop()
        pipeline.wait(30)
    assert sink.closing


@needs_browser
def test_browser_shows_segmentation_and_pose_results(assets: Path, tmp_path: Path) -> None:
    """The page summarises segment records (class shares) and pose records (people), and the
    stream shows the overlays: DeepLab v3 on the bird photo, then a hand-made pose."""
    from edge_sdk.results import Poses
    from edge_sdk.tasks.base import TaskKind
    from edge_sdk.tasks.segment import Segmenter

    d = assets / "segmentation"
    seg = adapt(
        Segmenter(
            d / "deeplabv3_mnv2_dm05_pascal_quant.tflite", labels=d / "pascal_voc_segmentation_labels.txt"
        )
    )
    sink = PreviewSink("preview:0")
    try:
        sink.open(SinkContext("camera", "segment"))
        image = load_image(d / "bird_segmentation.bmp")
        result = seg(Frame(image, 0, 0.0, "bird.bmp"))
        sink.write(result)
        dom = chromium(sink.url, tmp_path, "--dump-dom")
        summary = dom_text(dom, "summary")
        assert re.search(r"bird 1\d\.\d%", summary), summary
        assert dom_text(dom, "image-size") == "513x513"
        _, _, jpeg = get(sink.url + "frame.jpg")
        drawn = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        # the bird's pixels are tinted by the overlay; the background is left as it was
        mask = result.result.mask  # type: ignore[union-attr]
        bird = mask == 3
        diff = np.abs(drawn.astype(int) - cv2.cvtColor(image, cv2.COLOR_RGB2BGR).astype(int)).sum(axis=2)
        assert diff[bird].mean() > 3 * float(np.median(diff[mask == 0])) + 10
        kps = np.zeros((1, 17, 3), np.float32)
        kps[0, :, 0], kps[0, :, 1], kps[0, :, 2] = np.linspace(100, 400, 17), 250, 0.9
        sink.write(TaskResult(Frame(image, 1, 1.0, "p.bmp"), TaskKind.POSE, Poses(kps, np.array([0.8]))))
        dom = chromium(sink.url, tmp_path, "--dump-dom")
        assert "person 0.800, 17 keypoints" in dom_text(dom, "summary")
    finally:
        sink.close()
        seg.close()
