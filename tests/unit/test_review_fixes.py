"""Regression tests: result types leave callers' arrays alone; bad edge_sdk.json is a typed error;
image sources validate their options like every other source."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edge_sdk.errors import MetadataError, OptionsError
from edge_sdk.metadata import parse_metadata
from edge_sdk.modelfile import read_model_file
from edge_sdk.results import Detections, Face


def test_results_do_not_freeze_the_callers_arrays():
    boxes = np.array([[0, 0, 10, 10]], np.float32)
    scores = np.array([0.9], np.float32)
    ids = np.array([1], np.int32)
    dets = Detections(boxes, scores, ids)
    face = Face(boxes[0], 0.9)
    assert boxes.flags.writeable and scores.flags.writeable and ids.flags.writeable
    assert not dets.xyxy.flags.writeable and not face.box.flags.writeable
    assert np.shares_memory(dets.xyxy, boxes)  # still no copy


@pytest.mark.parametrize(
    "content",
    [
        [1, 2],
        {"color_space": "rgba"},
        {"normalization": {"mean": [0]}},
        {"normalization": {"mean": [0], "std": "x"}},
        {"resize": "fill"},
    ],
)
def test_malformed_edge_sdk_json_is_a_metadata_error(assets, content):
    from converters.metadata_writer import pack_files

    model = (assets / "classification/mobilenet_v1_0.5_160_quant.tflite").read_bytes()
    data = pack_files(model, {"edge_sdk.json": json.dumps(content).encode()})
    with pytest.raises(MetadataError, match=r"edge_sdk\.json"):
        parse_metadata(data, read_model_file(data).metadata, "m.tflite")


@pytest.mark.parametrize("options", [{"fourcc": "MJPG"}, {"size": (0, 10)}, {"fps": -1}])
def test_image_source_checks_options(assets, options):
    from devices.sources import open_source

    with pytest.raises(OptionsError):
        open_source(str(assets / "classification/images"), **options)
