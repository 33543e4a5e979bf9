"""DetectorOptions reject bad values when built; drawing helpers draw where told."""

from __future__ import annotations

import numpy as np
import pytest

from edge_sdk.draw import class_color, draw_boxes, draw_detections, draw_keypoints
from edge_sdk.errors import ImageError, OptionsError
from edge_sdk.results import Detections
from edge_sdk.tasks.detect import DetectorOptions


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"threshold": 1.5}, r"threshold must be a number in \[0, 1\], got 1.5"),
        ({"threshold": -0.01}, "threshold must be a number in"),
        ({"threshold": "0.5"}, "threshold must be a number"),
        ({"iou": 2.0}, "iou must be a number in"),
        ({"max_detections": 0}, "max_detections must be an integer >= 1"),
        ({"max_detections": 2.5}, "max_detections"),
        ({"classes": [1.5]}, "classes must hold class ids"),
        ({"exclude": [None]}, "exclude must hold"),
        ({"resize": "letterbox"}, "resize must be a ResizeMode"),
        ({"head": "yolov8"}, "head must be a DetectorHead"),
    ],
)
def test_bad_options(kwargs, message) -> None:
    with pytest.raises(OptionsError, match=message):
        DetectorOptions(**kwargs)


def test_class_refs_normalised() -> None:
    o = DetectorOptions(classes=["person", np.int64(3)], exclude=2)
    assert o.classes == ("person", 3) and o.exclude == (2,)
    assert DetectorOptions(threshold=0).threshold == 0 and DetectorOptions(threshold=1.0).threshold == 1.0


def test_draw_boxes_only_inside_boxes() -> None:
    img = np.zeros((100, 200, 3), np.uint8)
    out = draw_boxes(img, [[20, 30, 80, 90]], ["x"], [(255, 0, 0)], thickness=1)
    assert img.max() == 0  # a copy was drawn on
    assert (out[30, 20:81] == [255, 0, 0]).all() or out[30, 50, 0] > 200
    assert out[60, 150].max() == 0  # far from the box: untouched
    assert out[60, 50].max() == 0  # inside the box: untouched


def test_draw_detections_and_keypoints_inplace() -> None:
    img = np.zeros((64, 64, 3), np.uint8)
    dets = Detections(np.array([[5, 20, 40, 60]], np.float32), np.array([0.9]), np.array([3]), ("dog",))
    draw_detections(img, dets, inplace=True)
    assert img.sum() > 0
    assert tuple(img[40, 5]) == class_color(3)
    draw_keypoints(img, [[50, 10]], (0, 255, 0), radius=2, inplace=True)
    assert tuple(img[10, 50]) == (0, 255, 0)


def test_draw_rejects_non_rgb() -> None:
    with pytest.raises(ImageError, match="RGB uint8"):
        draw_boxes(np.zeros((10, 10), np.uint8), [[0, 0, 5, 5]])
    with pytest.raises(ValueError, match="captions must have 1"):
        draw_boxes(np.zeros((10, 10, 3), np.uint8), [[0, 0, 5, 5]], ["a", "b"])
