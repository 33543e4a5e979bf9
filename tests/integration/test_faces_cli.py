"""``edge-sdk faces``: the JSON contract, exit codes and one-line errors."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("EDGE_SDK_FACE_")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "edge_sdk", "faces", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=full_env,
    )


@pytest.fixture(scope="module")
def face(assets: Path) -> Path:
    if not (assets / "face").is_dir():
        pytest.skip("assets/face missing")
    return assets / "face"


def test_enroll_recognize_list_rename_remove_calibrate(tmp_path: Path, face: Path) -> None:
    db = tmp_path / "faces.db"
    imgs = face / "images"
    models = [
        "--embedder",
        str(face / "embedders" / "mobilefacenet_uint8.tflite"),
        "--detector",
        str(face / "detectors" / "face_detection_full_range.tflite"),
    ]
    out = cli(
        "enroll",
        "--gallery",
        str(db),
        "--name",
        "obama",
        *models,
        str(imgs / "tests/obama.jpg"),
        str(imgs / "tests/obama2.jpg"),
    )
    assert out.returncode == 0, out.stderr
    recs = [json.loads(x) for x in out.stdout.splitlines()]
    assert [r["embeddings"] for r in recs] == [1, 2] and recs[0]["identity"] == "obama"
    assert len(recs[0]["keypoints"]) == 6 and len(recs[0]["box"]) == 4
    assert stat.S_IMODE(db.stat().st_mode) == 0o600

    # a photo with two faces is refused (exit 1, one line), and nothing is stored
    out = cli("enroll", "-g", str(db), "-n", "pair", *models, str(imgs / "examples/two_people.jpg"))
    assert out.returncode == 1 and out.stderr.count("\n") == 1 and "--largest" in out.stderr
    out = cli("enroll", "-g", str(db), "-n", "biden", *models, str(imgs / "tests/biden.jpg"))
    assert out.returncode == 0, out.stderr

    out = cli(
        "recognize",
        "-g",
        str(db),
        *models,
        "--threshold",
        "0.45",
        str(imgs / "examples/two_people.jpg"),
        str(imgs / "tests/obama3.jpg"),
    )
    assert out.returncode == 0, out.stderr
    lines = [json.loads(x) for x in out.stdout.splitlines()]
    assert [Path(x["source"]).name for x in lines] == ["two_people.jpg", "obama3.jpg"]
    first = lines[0]
    assert {"source", "frame", "faces"} <= set(first) and first["source"].endswith("two_people.jpg")
    assert set(first["faces"][0]) == {"box", "score", "keypoints", "identity", "similarity"}
    by_x = sorted(first["faces"], key=lambda f: f["box"][0])
    assert [f["identity"] for f in by_x] == ["obama", "biden"]
    assert [f["identity"] for f in lines[1]["faces"]] == ["obama"]

    out = cli("list", "-g", str(db), "--json")
    assert [json.loads(x)["identity"] for x in out.stdout.splitlines()] == ["biden", "obama"]
    out = cli("calibrate", "-g", str(db), "--json")
    report = json.loads(out.stdout)
    assert report["identities"] == 1 and report["genuine"]["pairs"] == 1 and report["margin"] > 0
    assert 0.2 < report["threshold"] < 0.6
    assert cli("rename", "-g", str(db), "-n", "biden", "--to", "joe").returncode == 0
    assert cli("remove", "-g", str(db), "-n", "obama").returncode == 0
    out = cli("list", "-g", str(db))
    assert out.stdout.split() == ["joe", "1", "embedding"]
    out = cli("remove", "-g", str(db), "-n", "obama")
    assert out.returncode == 1 and "no identity named 'obama'" in out.stderr


def test_errors_are_one_line(tmp_path: Path, face: Path) -> None:
    det = ["--detector", str(face / "detectors" / "face_detection_yunet_2026may.onnx")]
    img = str(face / "images/tests/obama.jpg")
    out = cli("enroll", "-g", str(tmp_path / "new.db"), "-n", "x", *det, img)
    assert out.returncode == 1 and "ships no face embedder" in out.stderr and out.stderr.count("\n") == 1
    assert not (tmp_path / "new.db").exists()  # nothing created by a failed enroll
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"\x00\x01not a database" * 100)
    out = cli("list", "-g", str(garbage))
    assert out.returncode == 1 and "not an SQLite database" in out.stderr
    out = cli(
        "recognize",
        "-g",
        str(tmp_path / "missing.db"),
        *det,
        img,
        env={"EDGE_SDK_FACE_EMBEDDER": str(face / "embedders" / "mobilefacenet.tflite")},
    )
    assert out.returncode == 1 and "does not exist" in out.stderr
    out = cli("recognize", "-g", str(garbage), "--threshold", "2", img)
    assert out.returncode == 2


def test_enroll_from_a_video_keeps_faces_not_frames(
    tmp_path: Path, face: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """All frames are checked before any is stored, but only their faces are kept meanwhile:
    when the first embedding is stored, the earlier decoded frames are already freed."""
    import gc
    import weakref

    import cv2

    import edge_sdk.cli.faces as faces_cli
    from edge_sdk.cli.main import main
    from edge_sdk.tasks.faces.gallery import Gallery

    video = tmp_path / "obama.mp4"
    photo = cv2.imread(str(face / "images" / "tests" / "obama.jpg"))
    assert photo is not None
    img = cv2.resize(photo, (320, 320))
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter.fourcc(*"mp4v"), 10.0, (320, 320))
    assert writer.isOpened()
    for _ in range(4):
        writer.write(img)
    writer.release()

    images: list[weakref.ref] = []
    real_iter_frames = faces_cli.iter_frames

    def tracking_iter_frames(sources):  # type: ignore[no-untyped-def]
        for frame in real_iter_frames(sources):
            images.append(weakref.ref(frame.image))
            yield frame

    alive_at_store: list[int] = []
    real_enrol = Gallery.enrol

    def counting_enrol(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        gc.collect()
        alive_at_store.append(sum(r() is not None for r in images))
        return real_enrol(self, *args, **kwargs)

    monkeypatch.setattr(faces_cli, "iter_frames", tracking_iter_frames)
    monkeypatch.setattr(Gallery, "enrol", counting_enrol)
    monkeypatch.delenv("EDGE_SDK_FACE_EMBEDDER", raising=False)
    monkeypatch.delenv("EDGE_SDK_FACE_DETECTOR", raising=False)
    code = main(
        [
            "faces", "enroll", "-g", str(tmp_path / "g.db"), "-n", "obama",
            "--embedder", str(face / "embedders" / "mobilefacenet_uint8.tflite"),
            "--detector", str(face / "detectors" / "face_detection_short_range.tflite"),
            str(video),
        ]
    )  # fmt: skip
    assert code == 0
    recs = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [(r["source"], r["frame"], r["embeddings"]) for r in recs] == [
        (str(video), i, i + 1) for i in range(4)
    ]
    assert len(images) == 4
    assert alive_at_store[0] <= 1, f"{alive_at_store[0]} of 4 decoded frames still held while storing"
