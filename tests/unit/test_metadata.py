"""The edge_sdk.json metadata a converted model carries: malformed content is a typed error."""

from __future__ import annotations

import json

import pytest

from edge_sdk.errors import MetadataError
from edge_sdk.metadata import parse_metadata
from edge_sdk.modelfile import read_model_file


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
