"""Outputs never replace inputs or existing files (issue 17, defect 5).

``detect --annotate DIR`` with DIR equal to the input folder replaced the input photos. Now
any output that resolves to an input is refused, an existing file needs ``--overwrite``, and
files are written through a temporary file and a rename. The same for ``video:`` sinks.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from edge_sdk.errors import OptionsError

SSD = "detection/coco_ssd_mobilenet_v1/coco_ssd_mobilenet_v1_1.0_quant_2018_06_29.tflite"
CLI = [sys.executable, "-m", "edge_sdk.cli.main"]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=180, check=False)


def digest(folder: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()
    }


@pytest.fixture
def photos(assets: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("cats_and_dogs.jpg", "multi_objects.jpg"):
        (folder / name).write_bytes((assets / "detection" / name).read_bytes())
    return folder


@pytest.mark.parametrize("how", ["same folder", "same folder via a link", "glob"])
def test_annotate_into_the_input_folder_is_refused(
    assets: Path, photos: Path, tmp_path: Path, how: str
) -> None:
    before = digest(photos)
    source, out = str(photos), str(photos)
    if how == "same folder via a link":
        (tmp_path / "alias").symlink_to(photos)
        out = str(tmp_path / "alias")
    if how == "glob":
        source = str(photos / "*.jpg")
    for extra in ([], ["--overwrite"]):
        r = cli("detect", "--model", str(assets / SSD), "--annotate", out, *extra, source)
        assert r.returncode == 1, r.stderr
        assert "is one of the inputs; choose another output path" in r.stderr, r.stderr
        assert digest(photos) == before, "an input photo was replaced"
        assert not [p for p in photos.iterdir() if p.name.startswith(".")], "a temporary file was left"


def test_annotate_never_overwrites_without_the_flag(assets: Path, photos: Path, tmp_path: Path) -> None:
    out = tmp_path / "annotated"
    out.mkdir()
    (out / "cats_and_dogs.jpg").write_bytes(b"mine")
    r = cli("detect", "--model", str(assets / SSD), "--annotate", str(out), str(photos))
    assert r.returncode == 1 and "exists; pass --overwrite to replace it" in r.stderr, r.stderr
    assert (out / "cats_and_dogs.jpg").read_bytes() == b"mine"
    r = cli("detect", "--model", str(assets / SSD), "--annotate", str(out), "--overwrite", str(photos))
    assert r.returncode == 0, r.stderr
    for name in ("cats_and_dogs.jpg", "multi_objects.jpg"):
        drawn = cv2.imread(str(out / name))
        assert drawn is not None and drawn.shape == cv2.imread(str(photos / name)).shape
    assert sorted(p.name for p in out.iterdir()) == ["cats_and_dogs.jpg", "multi_objects.jpg"]


def test_video_sink_refuses_an_existing_file_and_the_source(tmp_path: Path) -> None:
    from edge_sdk.sinks import SinkContext, open_sink
    from edge_sdk.sinks.video import VideoSink
    from tests.pipeline_helpers import write_video

    src = write_video(tmp_path / "in.mp4", 6)
    before = src.read_bytes()
    with pytest.raises(OptionsError, match="exists; pass --overwrite"):
        open_sink(f"video:{src}")
    sink = VideoSink(f"video:{src}", overwrite=True)
    with pytest.raises(OptionsError, match="is one of the inputs"):
        sink.open(SinkContext(str(src), "detect"))
    sink.close()
    assert src.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"], "no temporary file left"


def test_video_sink_writes_through_a_temporary_file(tmp_path: Path) -> None:
    from edge_sdk.pipeline import Pipeline
    from tests.pipeline_helpers import RecordingTask, ScriptedSource

    out = tmp_path / "out.mp4"
    Pipeline(ScriptedSource(5, live=False), RecordingTask(), [f"video:{out}"]).run()
    cap = cv2.VideoCapture(str(out))
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    assert n == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]
    with pytest.raises(OptionsError, match="exists"):
        Pipeline(ScriptedSource(1, live=False), RecordingTask(), [f"video:{out}"]).run()


def test_run_cli_overwrite_flag_for_video(assets: Path, tmp_path: Path) -> None:
    from tests.pipeline_helpers import write_video

    src = write_video(tmp_path / "in.mp4", 4)
    out = tmp_path / "out.mp4"
    out.write_bytes(b"old")
    args = ["run", "--task", "classify", "--model", str(assets / "classification/mobilenet_v1_0.5_160_quant.tflite"),
            "--source", str(src), "--sink", f"video:{out}", "--sink", "jsonl:-"]  # fmt: skip
    r = cli(*args)
    assert r.returncode == 1 and "exists; pass --overwrite" in r.stderr, r.stderr
    assert out.read_bytes() == b"old"
    r = cli(*args, "--overwrite")
    assert r.returncode == 0, r.stderr
    assert out.stat().st_size > 1000
    r = cli(*args[:-4], "--sink", f"video:{src}", "--sink", "jsonl:-", "--overwrite")
    assert r.returncode == 1 and "is one of the inputs" in r.stderr, r.stderr
