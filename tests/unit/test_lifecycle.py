"""One lifecycle: sources and sinks close idempotently and work as context managers; sources
declare what the pipeline reads (fps, info, dropped)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from devices.sources import Source, open_source
from edge_sdk.sinks import Sink, SinkContext, open_sink


def _jpeg(path: Path) -> Path:
    cv2.imwrite(str(path), np.full((32, 48, 3), 128, np.uint8))
    return path


@pytest.mark.parametrize("uri", ["jsonl:{tmp}/out.jsonl", "video:{tmp}/out.mp4"])
def test_a_sink_closes_twice_and_in_a_with_block(tmp_path: Path, uri: str) -> None:
    sink = open_sink(uri.format(tmp=tmp_path))
    assert isinstance(sink, Sink)
    with sink as s:
        s.open(SinkContext(source="test", task="classify", fps=10.0))
    sink.close()  # second close: nothing to do, no error


def test_a_source_declares_what_the_pipeline_reads_and_closes_twice(tmp_path: Path) -> None:
    img = _jpeg(tmp_path / "a.jpg")
    with open_source(str(img)) as src:
        assert isinstance(src, Source)
        frames = list(src)
        assert len(frames) == 1 and frames[0].image.shape == (32, 48, 3)
        assert src.dropped == 0 and src.fps is None and src.info is None
    src.close()
