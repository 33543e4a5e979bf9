"""Video files through open_source: a real MJPG .avi written with cv2.VideoWriter."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pytest

from devices.sources import SourceState, open_source
from devices.sources.video import VideoFileSource
from edge_sdk.errors import SourceError

FPS = 12.5  # 80 ms per frame: exact in milliseconds
COUNT = 23


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("video") / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), FPS, (64, 48))
    assert writer.isOpened()
    for i in range(COUNT):
        bgr = np.zeros((48, 64, 3), np.uint8)
        bgr[:, :, 2] = 200  # red
        bgr[:, :, 0] = 10 * i  # blue encodes the frame number
        writer.write(bgr)
    writer.release()
    return path


def test_every_frame_with_its_timestamp(clip: Path) -> None:
    with open_source(str(clip)) as src:
        assert isinstance(src, VideoFileSource) and not src.live
        frames = list(src)
    assert src.state is SourceState.ENDED
    assert len(frames) == COUNT
    assert [f.index for f in frames] == list(range(COUNT))
    assert [f.timestamp for f in frames] == pytest.approx([i / FPS for i in range(COUNT)], abs=1e-9)
    for i, f in enumerate(frames):
        assert f.image.shape == (48, 64, 3) and f.image.dtype == np.uint8
        r, _g, b = (int(v) for v in f.image[24, 32])
        assert abs(r - 200) <= 6  # RGB: red first
        assert abs(b - 10 * i) <= 6  # in order, none dropped
        assert f.source == str(clip)


def test_end_of_stream_is_clean_and_final(clip: Path) -> None:
    src = open_source(str(clip))
    assert len(list(src)) == COUNT
    assert list(src) == []  # a file is never reopened


def test_release_on_early_exit(clip: Path) -> None:
    with open_source(str(clip)) as src:
        for f in src:
            if f.index == 2:
                break
    assert src.state is SourceState.ENDED
    assert not src.cap.isOpened()


def test_missing_and_undecodable_files(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such video file"):
        open_source(str(tmp_path / "nope.mp4"))
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all" * 10)
    with pytest.raises(SourceError, match="cannot decode video"):
        open_source(str(bad))


def test_truncated_file_ends_cleanly_with_a_warning(
    clip: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = clip.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) * 6 // 10])
    with caplog.at_level(logging.WARNING), open_source(str(cut)) as src:
        frames = list(src)
    assert 0 < len(frames) < COUNT
    assert src.state is SourceState.ENDED
    assert f"ended after {len(frames)} of the {COUNT} frames" in caplog.text
