"""``edge-sdk devices`` and the Edge TPU/CPU model pairing through ``edge-sdk classify``."""

from __future__ import annotations

import glob
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "edge_sdk", *args], capture_output=True, text=True, timeout=timeout
    )


def _usb_tpus_by_uevent() -> int:
    """Count Coral USB devices a second way (PRODUCT= in uevent, not idVendor/idProduct)."""
    n = 0
    for ev in glob.glob("/sys/bus/usb/devices/*/uevent"):
        try:
            text = Path(ev).read_text()
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith("PRODUCT="):
                vid, pid = line[8:].split("/")[:2]
                n += (vid.zfill(4), pid.zfill(4)) in {("1a6e", "089a"), ("18d1", "9302")}
    return n


def test_devices_json() -> None:
    out = cli("devices", "--json")
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert set(info) == {"board", "cameras", "edgetpus", "backend"}
    from edge_sdk.backend import get_backend

    assert info["backend"] == {"name": get_backend().name.value, "version": get_backend().version}
    assert info["board"]["cpus"] >= 1 and info["board"]["kind"]
    assert len(info["edgetpus"]) == _usb_tpus_by_uevent() + len(glob.glob("/dev/apex_*"))
    if not glob.glob("/dev/video*"):
        assert [c for c in info["cameras"] if c["uri"].startswith("/dev/")] == []
    # on this build machine: no Edge TPU and no camera
    if not glob.glob("/dev/video*") and not glob.glob("/dev/apex_*") and _usb_tpus_by_uevent() == 0:
        assert info["edgetpus"] == [] and info["cameras"] == []


def test_devices_text() -> None:
    out = cli("devices")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("board:") and "backend:  " in out.stdout and "edge tpu:" in out.stdout


needs_no_tpu = pytest.mark.skipif(
    bool(glob.glob("/dev/apex_*")) or _usb_tpus_by_uevent() > 0, reason="an Edge TPU is present"
)


@needs_no_tpu
def test_edgetpu_without_tpu_is_one_error_line(assets: Path, tmp_path: Path) -> None:
    model = tmp_path / "solo.tflite"
    shutil.copy(assets / "classification/mobilenet_v1_0.5_160_quant.tflite", model)
    out = cli(
        "classify",
        "--model",
        str(model),
        "--accelerator",
        "edgetpu",
        str(assets / "classification/images/parrot.jpg"),
    )
    assert out.returncode == 1
    assert out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("edge-sdk: error: no Edge TPU found"), out.stderr


@needs_no_tpu
@pytest.mark.parametrize("named", ["m.tflite", "m_edgetpu.tflite"])
def test_pair_falls_back_to_cpu_with_warning(assets: Path, tmp_path: Path, named: str) -> None:
    shutil.copy(assets / "classification/mobilenet_v1_0.5_160_quant.tflite", tmp_path / "m.tflite")
    shutil.copy(assets / "edgetpu/mobilenet_v1_0.25_128_quant_edgetpu.tflite", tmp_path / "m_edgetpu.tflite")
    c = assets / "classification"
    args = [
        "classify",
        "--model",
        str(tmp_path / named),
        "--labels",
        str(c / "imagenet_labels.txt"),
        "-k",
        "1",
    ]
    out = cli(*args, "--accelerator", "edgetpu", str(c / "images/parrot.jpg"))
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["classes"][0]["label"] == "macaw"  # the CPU model's answer
    assert "falling back to the CPU model" in out.stderr and str(tmp_path / "m.tflite") in out.stderr
    strict = cli(*args, "--accelerator", "edgetpu", "--strict", str(c / "images/parrot.jpg"))
    assert strict.returncode == 1 and strict.stdout == ""
    assert len(strict.stderr.strip().splitlines()) == 1 and "no Edge TPU" in strict.stderr


def test_classify_video_file_source(assets: Path, tmp_path: Path) -> None:
    import cv2

    img = cv2.imread(str(assets / "classification/images/parrot.jpg"))
    clip = tmp_path / "parrot.avi"
    w = cv2.VideoWriter(str(clip), cv2.VideoWriter.fourcc(*"MJPG"), 5, (img.shape[1], img.shape[0]))
    for _ in range(3):
        w.write(img)
    w.release()
    c = assets / "classification"
    out = cli(
        "classify",
        "-m",
        str(c / "mobilenet_v1_0.5_160_quant.tflite"),
        "--labels",
        str(c / "imagenet_labels.txt"),
        "-k",
        "1",
        str(clip),
    )
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["frame"] for r in rows] == [0, 1, 2]
    assert all(r["classes"][0]["label"] == "macaw" for r in rows)


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("usb:9", "edge-sdk: error: cannot open camera usb:9"),
        ("/dev/video9", "edge-sdk: error: cannot open camera /dev/video9"),
        (
            "http://127.0.0.1:9/stream.mjpg",
            "edge-sdk: error: cannot open stream http://127.0.0.1:9/stream.mjpg",
        ),
        ("missing_clip.mp4", "edge-sdk: error: no such video file: missing_clip.mp4"),
    ],
)
def test_unopenable_source_is_one_error_line(assets: Path, uri: str, message: str) -> None:
    if uri.startswith(("/dev/", "usb:")) and Path("/dev/video9").exists():
        pytest.skip("/dev/video9 exists here")
    model = assets / "classification/mobilenet_v1_0.5_160_quant.tflite"
    out = cli("classify", "--model", str(model), uri)
    assert out.returncode == 1 and out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), out.stderr
