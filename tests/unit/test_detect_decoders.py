"""Pure parts of the detection decoders: role names and anchor counts."""

from __future__ import annotations

import numpy as np
import pytest

from edge_sdk.model import TensorSpec
from edge_sdk.quant import QuantParams
from edge_sdk.tasks.decoders.ssd import _by_name
from edge_sdk.tasks.decoders.yolo import anchor_count


def spec(name: str, index: int) -> TensorSpec:
    return TensorSpec(index, name, (1, 10), np.dtype(np.float32), QuantParams())


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (("TFLite_Detection_PostProcess:1", "TFLite_Detection_PostProcess:2"), (0, 1)),
        (("TFLite_Detection_PostProcess:2", "TFLite_Detection_PostProcess:1"), (1, 0)),
        (("detection_scores", "detection_classes"), (1, 0)),
        (("output_classes", "output_scores"), (0, 1)),
        (("StatefulPartitionedCall:1", "StatefulPartitionedCall:2"), None),  # TF2 names say nothing
        (("scores_a", "scores_b"), None),
    ],
)
def test_classes_vs_scores_by_name(names, expected) -> None:
    pair = [spec(n, i) for i, n in enumerate(names)]
    got = _by_name(pair)
    if expected is None:
        assert got is None
    else:
        assert got is not None
        assert (got[0].index, got[1].index) == expected


def test_anchor_counts() -> None:
    assert anchor_count(640, 640) == 8400  # Ultralytics YOLOv8 at 640
    assert anchor_count(320, 320) == 2100
    assert 3 * anchor_count(640, 640) == 25200  # YOLOv5 at 640
    assert anchor_count(640, 480) == 80 * 60 + 40 * 30 + 20 * 15
