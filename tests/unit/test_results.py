"""Result types: views of the caller's arrays, read-only, without copies."""

from __future__ import annotations

import numpy as np

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
