"""NMS against an independent plain-Python O(n^2) reference."""

from __future__ import annotations

import numpy as np
import pytest

from edge_sdk.errors import OptionsError
from edge_sdk.nms import box_iou, nms


def ref_iou(a: list[float], b: list[float]) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def ref_nms(boxes, scores, iou_thr, classes=None, score_thr=0.0, max_det=None) -> list[int]:
    """Greedy NMS written from the definition: stable order by score, strict IoU > thr."""
    boxes = [list(map(float, b)) for b in boxes]
    scores = [float(s) for s in scores]
    order = [
        i
        for i in sorted(range(len(scores)), key=lambda i: (-scores[i], i))
        if scores[i] >= score_thr and boxes[i][2] > boxes[i][0] and boxes[i][3] > boxes[i][1]
    ]
    kept: list[int] = []
    for i in order:
        ok = True
        for k in kept:
            if classes is not None and classes[k] != classes[i]:
                continue
            if ref_iou(boxes[i], boxes[k]) > iou_thr:
                ok = False
                break
        if ok:
            kept.append(i)
    return kept if max_det is None else kept[:max_det]


def random_boxes(rng: np.random.Generator, n: int, quantize: bool = False) -> np.ndarray:
    xy = rng.uniform(0, 100, (n, 2))
    wh = rng.uniform(5, 40, (n, 2))
    b = np.concatenate([xy, xy + wh], axis=1).astype(np.float32)
    return np.round(b) if quantize else b


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("classwise", [False, True])
def test_matches_reference_random(seed: int, classwise: bool) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 200))
    boxes = random_boxes(rng, n)
    # Coarse scores give many exact ties.
    scores = np.round(rng.uniform(0, 1, n), 1).astype(np.float32)
    classes = rng.integers(0, 3, n) if classwise else None
    thr = float(rng.choice([0.3, 0.45, 0.7]))
    got = nms(boxes, scores, thr, class_ids=classes, score_threshold=0.2, max_detections=50)
    want = ref_nms(boxes, scores, thr, None if classes is None else classes.tolist(), 0.2, 50)
    assert got.tolist() == want


def test_ties_lower_index_wins() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [0, 1, 10, 11]], np.float32)
    scores = np.array([0.8, 0.8, 0.8], np.float32)
    assert nms(boxes, scores, 0.5).tolist() == [0] == ref_nms(boxes, scores, 0.5)
    # Same boxes in reverse order: still the lower index wins.
    assert nms(boxes[::-1], scores, 0.5).tolist() == [0]


def test_iou_equal_to_threshold_does_not_suppress() -> None:
    # IoU of these two is exactly 0.5 (overlap 10x10 = 100... union 200 of two 10x15 boxes).
    boxes = np.array([[0, 0, 10, 15], [0, 5, 10, 20]], np.float32)
    iou = ref_iou(boxes[0].tolist(), boxes[1].tolist())
    assert iou == 0.5
    assert nms(boxes, [0.9, 0.8], 0.5).tolist() == [0, 1]
    assert nms(boxes, [0.9, 0.8], 0.49).tolist() == [0]


def test_zero_boxes() -> None:
    assert nms(np.zeros((0, 4)), np.zeros(0), 0.5).tolist() == []
    assert nms(np.zeros((0, 4)), np.zeros(0), 0.5, class_ids=np.zeros(0, int)).tolist() == []
    assert nms([], [], 0.5).tolist() == []


def test_all_below_threshold() -> None:
    boxes = random_boxes(np.random.default_rng(0), 5)
    assert nms(boxes, np.full(5, 0.1), 0.5, score_threshold=0.2).tolist() == []


def test_score_equal_to_threshold_is_kept() -> None:
    boxes = np.array([[0, 0, 10, 10]], np.float32)
    assert nms(boxes, [0.5], 0.5, score_threshold=0.5).tolist() == [0]


def test_single_class_equals_agnostic() -> None:
    rng = np.random.default_rng(5)
    boxes = random_boxes(rng, 100)
    scores = rng.uniform(0, 1, 100).astype(np.float32)
    a = nms(boxes, scores, 0.4)
    b = nms(boxes, scores, 0.4, class_ids=np.zeros(100, int))
    assert a.tolist() == b.tolist() == ref_nms(boxes, scores, 0.4)


def test_identical_boxes() -> None:
    boxes = np.tile(np.array([[5, 5, 20, 30]], np.float32), (6, 1))
    scores = np.array([0.3, 0.9, 0.9, 0.5, 0.1, 0.9], np.float32)
    assert nms(boxes, scores, 0.99).tolist() == [1] == ref_nms(boxes, scores, 0.99)
    # IoU 1.0 is not > 1.0: nothing suppressed at iou_threshold 1.
    assert nms(boxes, scores, 1.0).tolist() == [1, 2, 5, 3, 0, 4]
    # Different classes never suppress each other.
    classes = np.array([0, 0, 1, 1, 2, 2])
    assert (
        nms(boxes, scores, 0.5, class_ids=classes).tolist()
        == [1, 2, 5]
        == ref_nms(boxes, scores, 0.5, classes.tolist())
    )


def test_degenerate_boxes_dropped() -> None:
    boxes = np.array([[0, 0, 0, 10], [0, 0, 10, 10], [5, 5, 4, 9], [0, 0, np.nan, 3]], np.float32)
    assert nms(boxes, [0.9, 0.5, 0.8, 0.99], 0.5).tolist() == [1]


def test_max_detections() -> None:
    rng = np.random.default_rng(1)
    boxes = random_boxes(rng, 60)
    scores = rng.uniform(0, 1, 60).astype(np.float32)
    full = nms(boxes, scores, 0.5)
    assert len(full) > 3
    assert nms(boxes, scores, 0.5, max_detections=3).tolist() == full[:3].tolist()
    assert nms(boxes, scores, 0.5, max_detections=0).tolist() == []


def test_fractional_coordinates_not_rounded() -> None:
    # IoU 0.4545 vs 0.5 boundary only resolvable with sub-pixel coordinates.
    boxes = np.array([[0.0, 0.0, 1.0, 1.0], [0.25, 0.0, 1.25, 1.0]], np.float32)
    assert ref_iou(boxes[0].tolist(), boxes[1].tolist()) == pytest.approx(0.6)
    assert nms(boxes, [0.9, 0.8], 0.55).tolist() == [0]
    assert nms(boxes, [0.9, 0.8], 0.65).tolist() == [0, 1]


def test_box_iou_matches_reference() -> None:
    rng = np.random.default_rng(3)
    a, b = random_boxes(rng, 7), random_boxes(rng, 5)
    want = np.array([[ref_iou(x.tolist(), y.tolist()) for y in b] for x in a])
    np.testing.assert_allclose(box_iou(a, b), want, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize(
    ("boxes", "scores", "kwargs", "message"),
    [
        (np.zeros((3, 3)), np.zeros(3), {}, "boxes must have shape"),
        (np.zeros((3, 4)), np.zeros(2), {}, "scores must have shape"),
        (np.zeros((1, 4)), np.zeros(1), {"iou_threshold": 1.5}, "iou_threshold"),
        (np.zeros((1, 4)), np.zeros(1), {"class_ids": [0, 1]}, "class_ids"),
        (np.zeros((1, 4)), np.zeros(1), {"max_detections": -1}, "max_detections"),
    ],
)
def test_bad_input(boxes, scores, kwargs, message) -> None:
    with pytest.raises(OptionsError, match=message):
        nms(boxes, scores, **kwargs)


@pytest.mark.parametrize("classwise", [False, True])
def test_matches_opencv_on_many_boxes(classwise: bool) -> None:
    """A second independent implementation, for sizes the Python reference is too slow for."""
    import cv2

    rng = np.random.default_rng(11)
    n = 3000
    xy = rng.uniform(0, 600, (n, 2))
    wh = rng.uniform(10, 120, (n, 2))
    boxes = np.concatenate([xy, xy + wh], axis=1)
    scores = rng.uniform(0, 1, n).astype(np.float32)
    classes = rng.integers(0, 20, n).astype(np.int32)
    xywh = np.concatenate([xy, wh], axis=1)
    if classwise:
        want = cv2.dnn.NMSBoxesBatched(xywh, scores, classes, 0.0, 0.5)
    else:
        want = cv2.dnn.NMSBoxes(xywh, scores, 0.0, 0.5)
    want = sorted(np.asarray(want).reshape(-1).tolist(), key=lambda i: (-scores[i], i))
    got = nms(boxes, scores, 0.5, class_ids=classes if classwise else None)
    assert got.tolist() == want
    assert (
        nms(boxes, scores, 0.5, class_ids=classes if classwise else None, max_detections=40).tolist()
        == want[:40]
    )
