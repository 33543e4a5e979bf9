"""Face maths without models: BlazeFace anchors, weighted NMS, similarity alignment, calibration."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from edge_sdk.errors import GalleryError, OptionsError
from edge_sdk.tasks.faces.align import (
    ARCFACE_TEMPLATE_112,
    align_face,
    alignment_matrix,
    square_crop,
    template_for,
    umeyama,
)
from edge_sdk.tasks.faces.anchors import SsdAnchorOptions, blazeface_anchor_options, ssd_anchors
from edge_sdk.tasks.faces.calibrate import calibrate
from edge_sdk.tasks.faces.gallery import GalleryMatrix
from edge_sdk.tasks.faces.options import FaceDetectorOptions
from edge_sdk.tasks.faces.weighted_nms import iou_one_to_many, weighted_nms


def test_short_range_anchors_follow_mediapipe_layout() -> None:
    a = ssd_anchors(blazeface_anchor_options((128, 128), 896))
    assert a.shape == (896, 4)
    # stride 8: 16x16 cells, 2 anchors per cell (row-major, anchors of a cell adjacent)
    assert np.allclose(a[0], [0.5 / 16, 0.5 / 16, 1, 1])
    assert np.allclose(a[1], a[0])
    assert np.allclose(a[2], [1.5 / 16, 0.5 / 16, 1, 1])
    assert np.allclose(a[2 * 16], [0.5 / 16, 1.5 / 16, 1, 1])  # second row
    # strides 16,16,16 merge into one 8x8 map with 6 anchors per cell
    tail = a[512:]
    assert tail.shape == (384, 4)
    assert np.allclose(tail[:6, :2], [0.5 / 8, 0.5 / 8])
    assert np.allclose(tail[6], [1.5 / 8, 0.5 / 8, 1, 1])
    assert np.allclose(tail[-1], [7.5 / 8, 7.5 / 8, 1, 1])


def test_full_range_anchors_one_per_cell_stride_4() -> None:
    a = ssd_anchors(blazeface_anchor_options((192, 192), 2304))
    assert a.shape == (2304, 4)
    assert np.allclose(a[0], [0.5 / 48, 0.5 / 48, 1, 1])
    assert np.allclose(a[47], [47.5 / 48, 0.5 / 48, 1, 1])
    assert np.allclose(a[48], [0.5 / 48, 1.5 / 48, 1, 1])


def test_anchor_sizes_when_not_fixed() -> None:
    opt = SsdAnchorOptions((128, 128), (8, 16, 16, 16), fixed_anchor_size=False)
    a = ssd_anchors(opt)
    s0, s1 = 0.1484375, 0.1484375 + (0.75 - 0.1484375) / 3
    assert np.isclose(a[0, 2], s0) and np.isclose(a[1, 2], math.sqrt(s0 * s1))


@pytest.mark.parametrize(("size", "count"), [((128, 128), 100), ((192, 192), 1000), ((100, 100), 2304)])
def test_unknown_anchor_layout_is_rejected(size: tuple[int, int], count: int) -> None:
    with pytest.raises(OptionsError, match="anchors"):
        blazeface_anchor_options(size, count)


def test_iou() -> None:
    box = np.array([0, 0, 10, 10], np.float32)
    others = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30], [0, 0, 0, 0]], np.float32)
    assert np.allclose(iou_one_to_many(box, others), [1.0, 50 / 150, 0.0, 0.0])


def test_weighted_nms_averages_overlapping_boxes_by_score() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], np.float32)
    scores = np.array([0.9, 0.3, 0.8], np.float32)
    kps = np.array([[[1, 1]], [[3, 3]], [[55, 55]]], np.float32)
    b, s, k = weighted_nms(boxes, scores, kps, 0.3)
    assert s.tolist() == pytest.approx([0.9, 0.8])
    assert np.allclose(b[0], [0.25, 0.25, 10.25, 10.25])  # (0.9*0 + 0.3*1) / 1.2
    assert np.allclose(k[0, 0], [1.5, 1.5])
    assert np.allclose(b[1], boxes[2])


def test_weighted_nms_keeps_disjoint_and_limits() -> None:
    boxes = np.array([[0, 0, 10, 10], [20, 0, 30, 10], [40, 0, 50, 10]], np.float32)
    scores = np.array([0.5, 0.7, 0.6], np.float32)
    b, s, _ = weighted_nms(boxes, scores, np.zeros((3, 6, 2)), 0.3, max_detections=2)
    assert s.tolist() == pytest.approx([0.7, 0.6])
    assert np.allclose(b, boxes[[1, 2]])
    b, s, k = weighted_nms(np.zeros((0, 4)), np.zeros(0), np.zeros((0, 6, 2)), 0.3)
    assert b.shape == (0, 4) and s.shape == (0,) and k.shape == (0, 6, 2)


def test_umeyama_recovers_a_similarity() -> None:
    rng = np.random.default_rng(1)
    src = rng.uniform(0, 100, (5, 2))
    angle, scale, t = 0.3, 1.7, np.array([12.0, -4.0])
    rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    dst = src @ (scale * rot).T + t
    m = umeyama(src, dst)
    assert np.allclose(m[:, :2], scale * rot, atol=1e-9)
    assert np.allclose(m[:, 2], t, atol=1e-9)
    # the same answer as OpenCV's least-squares similarity (no outliers, so LMEDS fits exactly)
    cv_m, _ = cv2.estimateAffinePartial2D(src, dst, method=cv2.LMEDS)
    assert np.allclose(m, cv_m, atol=1e-6)


def test_umeyama_never_reflects() -> None:
    src = np.array([[0, 0], [10, 0], [0, 10]], np.float64)
    dst = src * [-1, 1]  # a mirror image: best similarity has det > 0
    m = umeyama(src, dst)
    assert np.linalg.det(m[:, :2]) > 0


def test_template_subsets_and_scaling() -> None:
    t5, idx5 = template_for(5)
    assert np.allclose(t5, ARCFACE_TEMPLATE_112) and idx5.tolist() == [0, 1, 2, 3, 4]
    t6, idx6 = template_for(6, (224, 224))
    assert idx6.tolist() == [0, 1, 2, 3]
    assert np.allclose(t6[3], ARCFACE_TEMPLATE_112[3:5].mean(0) * 2)
    with pytest.raises(OptionsError, match=r"5 .* or 6"):
        template_for(68)


def test_alignment_maps_keypoints_onto_the_template() -> None:
    # keypoints = the template moved, rotated and scaled: the warp must undo it exactly
    angle, scale = -0.4, 2.5
    rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    kps = ARCFACE_TEMPLATE_112 @ (scale * rot).T + [300, 200]
    m = alignment_matrix(kps)
    mapped = kps @ m[:, :2].T + m[:, 2]
    assert np.allclose(mapped, ARCFACE_TEMPLATE_112, atol=1e-3)
    img = np.zeros((800, 800, 3), np.uint8)
    for x, y in kps:
        cv2.circle(img, (round(x), round(y)), 6, (255, 255, 255), -1)
    crop = align_face(img, kps)
    assert crop.shape == (112, 112, 3)
    for x, y in ARCFACE_TEMPLATE_112:
        assert crop[round(y), round(x)].min() > 200  # each dot lands on its template point


def test_square_crop_is_centred_on_the_box() -> None:
    img = np.zeros((200, 300, 3), np.uint8)
    img[50:150, 100:200] = 255
    crop = square_crop(img, [100, 50, 200, 150], (112, 112))
    assert crop.shape == (112, 112, 3) and crop[5:-5, 5:-5].min() == 255


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"score_threshold": 1.5}, "score_threshold"),
        ({"iou_threshold": -0.1}, "iou_threshold"),
        ({"max_faces": 0}, "max_faces"),
    ],
)
def test_detector_options_are_validated(kwargs: dict, match: str) -> None:
    with pytest.raises(OptionsError, match=match):
        FaceDetectorOptions(**kwargs)


def _matrix(groups: list[np.ndarray]) -> GalleryMatrix:
    vecs = np.concatenate(groups).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    owners = np.concatenate([np.full(len(g), i) for i, g in enumerate(groups)]).astype(np.int32)
    starts = np.cumsum([0] + [len(g) for g in groups[:-1]])
    return GalleryMatrix(tuple(f"p{i}" for i in range(len(groups))), vecs, owners, starts, None)


def test_calibration_separated_and_overlapping() -> None:
    e = np.eye(4)
    a = np.array([e[0] + 0.1 * e[1], e[0] + 0.2 * e[2]])
    b = np.array([e[3] + 0.1 * e[1], e[3] - 0.1 * e[2]])
    c = calibrate(_matrix([a, b]))
    assert c.identities == 2 and c.genuine.size == 2 and c.impostor.size == 4
    assert c.genuine.min() > c.threshold > c.impostor.max()
    assert c.margin > 0 and c.false_accepts == 0 and c.false_rejects == 0
    assert c.threshold == pytest.approx((c.genuine.min() + c.impostor.max()) / 2)
    # a third identity that looks like the first: distributions overlap, margin < 0
    lookalike = np.array([e[0] + 0.15 * e[1]])
    c2 = calibrate(_matrix([a, b, lookalike]))
    assert c2.margin < 0 and c2.false_accepts + c2.false_rejects >= 1
    d = c2.as_dict()
    assert d["genuine"]["pairs"] == 2 and d["impostor"]["pairs"] == 8


def test_calibration_needs_pairs() -> None:
    e = np.eye(3)
    with pytest.raises(GalleryError, match="two or more"):
        calibrate(_matrix([e[:1], e[1:2]]))
    with pytest.raises(GalleryError, match="two enrolled"):
        calibrate(_matrix([e[:2]]))


def test_iou_one_to_many_against_hand_computed_overlaps() -> None:
    """IoU of a 10 x 10 box (area 100) with boxes whose overlaps are worked out by hand."""
    box = np.array([0, 0, 10, 10], np.float32)
    boxes = np.array(
        [
            [0, 0, 10, 10],  # itself: 1
            [5, 0, 15, 10],  # half overlap: 50 / (100 + 100 - 50) = 1/3
            [2, 2, 4, 4],  # inside: 4 / 100
            [10, 10, 20, 20],  # touching corner: no area in common
            [-5, -5, 5, 5],  # quarter: 25 / (100 + 100 - 25) = 1/7
            [0, 0, 20, 5],  # 10 x 5 = 50 / (100 + 100 - 50) = 1/3
            [3, 3, 3, 8],  # zero width: 0
            [30, 30, 40, 40],  # far away: 0
        ],
        np.float32,
    )
    got = iou_one_to_many(box, boxes)
    assert got.dtype == np.float32 and got.shape == (8,)
    np.testing.assert_allclose(got, [1, 1 / 3, 0.04, 0, 1 / 7, 1 / 3, 0, 0], rtol=1e-6, atol=0)
    # both boxes empty: the union is empty, and that gives 0 rather than NaN
    empty = np.array([5, 5, 5, 5], np.float32)
    assert iou_one_to_many(empty, empty[None]).tolist() == [0.0]
    assert iou_one_to_many(box, np.zeros((0, 4), np.float32)).shape == (0,)


def test_select_one_face() -> None:
    from edge_sdk.errors import FaceNotFoundError
    from edge_sdk.results import Face
    from edge_sdk.tasks.faces.recognizer import select_one_face

    small = Face(np.array([0, 0, 10, 10], np.float32), 0.9)
    big = Face(np.array([20, 20, 60, 60], np.float32), 0.6)
    assert select_one_face([small], "a.jpg", largest=False) is small
    assert select_one_face([small, big], "a.jpg", largest=True) is big
    with pytest.raises(
        FaceNotFoundError, match=r"^no face found in a\.jpg; expected exactly one face to enrol$"
    ):
        select_one_face([], "a.jpg", largest=True)
    with pytest.raises(
        FaceNotFoundError,
        match=r"^2 faces found in a\.jpg; expected exactly one \(pass largest=True / --largest to enrol the largest\)$",
    ):
        select_one_face([small, big], "a.jpg", largest=False)
    with pytest.raises(FaceNotFoundError, match=r"\(pass --largest to enrol the largest\)$"):
        select_one_face([small, big], "v.mp4 frame 3", largest=False, hint="--largest")
