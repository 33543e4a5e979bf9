"""``edge-sdk run`` end to end: real models, real video files, JSON lines, config files,
usage errors and clean stops on SIGTERM/SIGINT."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from tests.pipeline_helpers import write_video

CLI = [sys.executable, "-m", "edge_sdk"]


def edge_sdk(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout, check=False)


def photo_video(
    path: Path, photos: list[Path], size: tuple[int, int], repeat: int = 1, keep_aspect: bool = False
) -> Path:
    """A video cycling through ``photos`` (each resized to ``size``, or fitted inside it on a
    black canvas with ``keep_aspect``), ``repeat`` times."""
    frames: list[np.ndarray] = []
    for p in photos:
        image = cv2.imread(str(p))
        assert image is not None, p
        if keep_aspect:
            scale = min(size[0] / image.shape[1], size[1] / image.shape[0])
            w, h = round(image.shape[1] * scale), round(image.shape[0] * scale)
            canvas = np.zeros((size[1], size[0], 3), np.uint8)
            canvas[:h, :w] = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
            frames.append(canvas)
        else:
            frames.append(cv2.resize(image, size, interpolation=cv2.INTER_AREA))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), 10, size)
    for _ in range(repeat):
        for f in frames:
            writer.write(f)
    writer.release()
    return path


def decoded_frames(path: Path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    out: list[np.ndarray] = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            return out
        out.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))


def records(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines()]


def without_timing(rec: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in rec.items() if k != "timing_ms"}


@pytest.fixture(scope="module")
def mobilenet(assets: Path) -> Path:
    return assets / "classification" / "mobilenet_v1_0.5_160_quant.tflite"


@pytest.fixture(scope="module")
def birds_and_burgers(assets: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    images = assets / "classification" / "images"
    out = tmp_path_factory.mktemp("run") / "parrot_burger.mp4"
    return photo_video(out, [images / "parrot.jpg", images / "burger.jpg"], (320, 320), repeat=4)


def test_classify_five_frames_to_stdout(mobilenet: Path, birds_and_burgers: Path) -> None:
    from edge_sdk.tasks.classify import Classifier

    proc = edge_sdk(
        "run", "--task", "classify", "--model", str(mobilenet), "--source", str(birds_and_burgers),
        "--sink", "jsonl:-", "--max-frames", "5",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    got = records(proc.stdout)
    assert [r["frame"] for r in got] == [0, 1, 2, 3, 4]
    assert all(set(r) == {"source", "frame", "classes", "timing_ms"} for r in got)
    assert all(r["source"] == str(birds_and_burgers) for r in got)
    assert set(got[0]["timing_ms"]) == {"preprocess", "invoke", "postprocess", "total"}
    # published answers: macaw (89) and cheeseburger (934) alternate
    assert [r["classes"][0]["id"] for r in got] == [89, 934, 89, 934, 89]
    assert got[0]["classes"][0]["label"] == "macaw" and got[1]["classes"][0]["label"] == "cheeseburger"
    # exactly what the Classifier gives on the same decoded frames
    clf = Classifier(mobilenet)
    for rec, image in zip(got, decoded_frames(birds_and_burgers), strict=False):
        assert rec["classes"] == clf.classify(image).as_dicts()
    assert "5 frame(s) processed" in proc.stderr and "0 dropped by the pipeline" in proc.stderr


def test_config_file_with_file_and_video_sinks(
    mobilenet: Path, birds_and_burgers: Path, tmp_path: Path
) -> None:
    out = tmp_path / "results.jsonl"
    video = tmp_path / "annotated.mp4"
    config = tmp_path / "run.json"
    config.write_text(
        json.dumps(
            {
                "task": "classify",
                "model": str(mobilenet),
                "source": str(birds_and_burgers),
                "sink": [f"jsonl:{out}", {"uri": f"video:{video}", "fps": 5}],
                "top_k": 2,
                "max_frames": 100,
            }
        )
    )
    proc = edge_sdk("run", "--config", str(config), "--max-frames", "6")  # the CLI overrides the file
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    got = records(out.read_text())
    assert [r["frame"] for r in got] == list(range(6)) and all(len(r["classes"]) == 2 for r in got)
    cap = cv2.VideoCapture(str(video))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 6 and cap.get(cv2.CAP_PROP_FPS) == pytest.approx(5)
    assert (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))) == (320, 320)


def test_detect_records(assets: Path, tmp_path: Path) -> None:
    from edge_sdk.tasks.detect import Detector

    ssd = assets / "detection" / "coco_ssd_mobilenet_v1" / "coco_ssd_mobilenet_v1_1.0_quant_2018_06_29.tflite"
    labels = ssd.parent / "labelmap.txt"
    video = photo_video(
        tmp_path / "pets.mp4", [assets / "detection" / "cats_and_dogs.jpg"], (640, 480), repeat=3
    )
    proc = edge_sdk(
        "run", "--task", "detect", "--model", str(ssd), "--labels", str(labels), "--threshold", "0.5",
        "--source", str(video), "--sink", "jsonl:-",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    got = records(proc.stdout)
    assert len(got) == 3 and all(set(r) == {"source", "frame", "detections", "timing_ms"} for r in got)
    det = Detector(ssd, labels=labels, threshold=0.5)
    frames = decoded_frames(video)
    for rec, image in zip(got, frames, strict=True):
        assert rec["detections"] == det.detect(image).as_dicts()
    first = got[0]["detections"]
    assert first and {"cat", "dog"} & {d["label"] for d in first}
    assert all(set(d) == {"id", "label", "score", "box"} and len(d["box"]) == 4 for d in first)
    assert all(0 <= d["box"][0] < d["box"][2] <= 640 and 0 <= d["box"][1] < d["box"][3] <= 480 for d in first)


def test_faces_records(assets: Path, tmp_path: Path) -> None:
    detector = assets / "face" / "detectors" / "face_detection_short_range.tflite"
    video = photo_video(
        tmp_path / "faces.mp4", [assets / "face" / "images" / "tests" / "obama.jpg"], (480, 480)
    )
    proc = edge_sdk(
        "run", "--task", "faces", "--model", str(detector), "--source", str(video), "--sink", "jsonl:-"
    )
    assert proc.returncode == 0, proc.stderr
    (rec,) = records(proc.stdout)
    assert set(rec) == {"source", "frame", "faces", "timing_ms"}
    (face,) = rec["faces"]
    assert set(face) == {"box", "score", "keypoints", "identity", "similarity"}
    assert face["identity"] is None and len(face["keypoints"]) == 6 and face["score"] > 0.5


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        ([], 2, "give --config FILE, or --task, --source, --sink"),
        (["--task", "classify", "--source", "x.mp4"], 2, "or --sink"),
        (["--task", "sort"], 2, "invalid choice: 'sort'"),
        (["--max-frames", "0"], 2, "expected an integer >= 1, got 0"),
        (["--task", "classify", "--source", "x.mp4", "--sink", "jsonl:-"], 1, "task classify needs a model"),
        (["--task", "classify", "--model", "m.tflite", "--source", "x.mp4", "--sink", "kafka:x"], 1, "unknown sink 'kafka:x'"),
        (["--task", "detect", "--model", "m.tflite", "--top-k", "3", "--source", "x", "--sink", "jsonl:-"], 1, "option(s) top_k do not apply to task detect"),
        (["--task", "faces", "--labels", "l.txt", "--source", "x", "--sink", "jsonl:-"], 1, "option(s) labels do not apply to task faces"),
        (["--config", "/no/such/run.json"], 1, "cannot read config /no/such/run.json"),
    ],
)  # fmt: skip
def test_usage_and_option_errors(args: list[str], code: int, message: str) -> None:
    proc = edge_sdk("run", *args, timeout=60)
    assert proc.returncode == code, proc.stderr
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_bad_config_files(tmp_path: Path) -> None:
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{task: classify}")
    proc = edge_sdk("run", "--config", str(bad_json), timeout=60)
    assert proc.returncode == 1 and f"config {bad_json} is not valid JSON" in proc.stderr
    unknown = tmp_path / "unknown.json"
    unknown.write_text(json.dumps({"task": "classify", "source": "x", "sink": "jsonl:-", "modle": "m"}))
    proc = edge_sdk("run", "--config", str(unknown), timeout=60)
    assert proc.returncode == 1 and "unknown config key(s) modle" in proc.stderr


def test_missing_source_is_one_line(mobilenet: Path, tmp_path: Path) -> None:
    proc = edge_sdk(
        "run", "-t", "classify", "-m", str(mobilenet), "-s", str(tmp_path / "none.mp4"), "--sink", "jsonl:-"
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().count("\n") == 0 and "no such video file" in proc.stderr


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 0), (signal.SIGINT, 130)])
def test_signals_stop_cleanly(mobilenet: Path, tmp_path: Path, sig: signal.Signals, code: int) -> None:
    video = write_video(tmp_path / "long.mp4", 3000, size=(64, 48))
    out = tmp_path / "out.jsonl"
    proc = subprocess.Popen(
        [*CLI, "run", "-t", "classify", "-m", str(mobilenet), "-s", str(video), "--sink", "jsonl:-", "--sink", f"jsonl:{out}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        bufsize=0,  # unbuffered: readline must not pull lines that communicate() then never sees
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().decode()  # the pipeline is running
        assert json.loads(first)["frame"] == 0
        proc.send_signal(sig)
        out_b, err_b = proc.communicate(timeout=60)
        rest, err = out_b.decode(), err_b.decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == code, err
    assert f"{sig.name}: stopping" in err and "frame(s) processed" in err
    lines = [first, *rest.splitlines()]
    frames = [json.loads(x)["frame"] for x in lines]  # every line is whole JSON
    assert frames == list(range(len(frames))) and len(frames) < 3000
    assert [json.loads(x)["frame"] for x in out.read_text().splitlines()] == frames


def test_faces_recognised_against_a_gallery(assets: Path, tmp_path: Path) -> None:
    faces = assets / "face"
    detector = faces / "detectors" / "face_detection_short_range.tflite"
    embedder = faces / "embedders" / "mobilefacenet.tflite"
    gallery = tmp_path / "people.db"
    enrol = edge_sdk(
        "faces", "enroll", "--gallery", str(gallery), "--name", "obama", "--detector", str(detector),
        "--embedder", str(embedder), str(faces / "images" / "tests" / "obama.jpg"),
    )  # fmt: skip
    assert enrol.returncode == 0, enrol.stderr
    video = photo_video(
        tmp_path / "two.mp4",
        [faces / "images" / "tests" / "obama2.jpg", faces / "images" / "tests" / "biden.jpg"],
        (400, 720),
        keep_aspect=True,
    )
    proc = edge_sdk(
        "run", "--task", "faces", "--model", str(detector), "--embedder", str(embedder),
        "--gallery", str(gallery), "--source", str(video), "--sink", "jsonl:-",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    obama, biden = records(proc.stdout)
    assert [f["identity"] for f in obama["faces"]] == ["obama"]
    assert obama["faces"][0]["similarity"] >= 0.45
    assert [f["identity"] for f in biden["faces"]] == [None]
    assert biden["faces"][0]["similarity"] < 0.45


def test_duration_bounds_a_run(mobilenet: Path, tmp_path: Path) -> None:
    video = write_video(tmp_path / "long.mp4", 3000, size=(64, 48))
    proc = edge_sdk(
        "run",
        "-t",
        "classify",
        "-m",
        str(mobilenet),
        "-s",
        str(video),
        "--sink",
        "jsonl:-",
        "--duration",
        "0.5",
    )
    assert proc.returncode == 0, proc.stderr
    frames = [r["frame"] for r in records(proc.stdout)]
    assert 1 <= len(frames) < 3000 and frames == list(range(len(frames)))
