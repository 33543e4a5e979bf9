"""Image files, folders and globs through open_source."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pytest

from devices.sources import SourceState, open_source
from devices.sources.images import ImageSource
from edge_sdk.errors import ImageError, OptionsError, SourceError


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    d = tmp_path / "shots"
    d.mkdir()
    for name, red in (("b.png", 20), ("a.jpg", 200), ("c.bmp", 90)):
        bgr = np.zeros((24, 32, 3), np.uint8)
        bgr[..., 2] = red
        assert cv2.imwrite(str(d / name), bgr)
    (d / "broken.png").write_bytes(b"\x89PNG not really")
    (d / "notes.txt").write_text("not an image")
    return d


def test_folder_sorted_and_undecodable_skipped(folder: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING), open_source(str(folder)) as src:
        assert isinstance(src, ImageSource) and not src.live
        frames = list(src)
    assert [Path(f.source).name for f in frames] == ["a.jpg", "b.png", "c.bmp"]
    assert [f.index for f in frames] == [0, 1, 2]
    assert [f.timestamp for f in frames] == [0.0, 1.0, 2.0]
    assert [int(f.image[5, 5, 0]) for f in frames] == pytest.approx([200, 20, 90], abs=3)  # RGB: red first
    assert src.skipped == 1 and "broken.png" in caplog.text
    assert src.state is SourceState.ENDED


def test_glob_and_single_file(folder: Path) -> None:
    with open_source(str(folder / "*.png")) as src:
        assert [Path(f.source).name for f in src] == ["b.png"]
        assert src.skipped == 1
    with open_source(str(folder / "c.bmp")) as src:
        (f,) = list(src)
        assert f.image.shape == (24, 32, 3)


def test_named_undecodable_file_raises(folder: Path) -> None:
    with pytest.raises(ImageError), open_source(str(folder / "broken.png")) as src:
        list(src)


@pytest.mark.parametrize("name", ["nope.jpg", "nothing/*.jpg"])
def test_missing_paths(tmp_path: Path, name: str) -> None:
    with pytest.raises(SourceError):
        open_source(str(tmp_path / name))


def test_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="holds no images"):
        open_source(str(tmp_path))


@pytest.mark.parametrize("options", [{"fourcc": "MJPG"}, {"size": (0, 10)}, {"fps": -1}])
def test_image_source_checks_options(assets, options):
    with pytest.raises(OptionsError):
        open_source(str(assets / "classification/images"), **options)
