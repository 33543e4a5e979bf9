"""Segmentation and pose pieces that need no model: the source-pixel index of masks, the
typed results, drawing, and the CLI's output file rules."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge_sdk.draw import draw_poses, draw_segmentation
from edge_sdk.errors import EdgeSdkError, ImageError, OptionsError
from edge_sdk.labels import LabelMap
from edge_sdk.preprocess import ResizeMode, Transform
from edge_sdk.results import COCO_KEYPOINTS, COCO_SKELETON, Poses, Segmentation, SegmentClass
from edge_sdk.tasks.pose import PoseEstimatorOptions
from edge_sdk.tasks.segment import SegmenterOptions, source_index


def test_letterbox_index_lands_every_source_pixel_in_the_content_area() -> None:
    # 100x50 letterboxed into 64x64: content 64x32 at y offset 16; output grid 32x32
    t = Transform.plan((100, 50), (64, 64), ResizeMode.LETTERBOX)
    rows, cols = source_index(t, (32, 32))
    assert rows.shape == (50,) and cols.shape == (100,)
    assert rows.min() == 8 and rows.max() == 23  # grid rows of the content (16..48 input / 2)
    assert cols.min() == 0 and cols.max() == 31
    assert np.all(np.diff(rows) >= 0) and np.all(np.diff(cols) >= 0)


def test_identity_and_exact_integer_scales() -> None:
    t = Transform.plan((64, 48), (64, 48), ResizeMode.STRETCH)
    rows, cols = source_index(t, (64, 48))
    assert np.array_equal(cols, np.arange(64)) and np.array_equal(rows, np.arange(48))
    # 2x upscale of the source: each output cell covers exactly two source pixels
    t2 = Transform.plan((128, 96), (64, 48), ResizeMode.STRETCH)
    rows2, cols2 = source_index(t2, (64, 48))
    assert np.array_equal(cols2, np.repeat(np.arange(64), 2))
    assert np.array_equal(rows2, np.repeat(np.arange(48), 2))


def test_results_validate_their_shapes() -> None:
    with pytest.raises(ValueError, match="2-D integer"):
        Segmentation(np.zeros((4, 4), np.float32))
    with pytest.raises(ValueError, match="scores must have"):
        Segmentation(np.zeros((4, 4), np.uint8), scores=np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"\(N, K, 3\)"):
        Poses(np.zeros((1, 17, 2)), np.zeros(1))
    with pytest.raises(ValueError, match="names must have 17"):
        Poses(np.zeros((1, 17, 3)), np.zeros(1), names=("a",))
    p = Poses(np.ones((1, 17, 3)), np.array([0.5]))
    d = p.as_dicts()[0]
    assert d["box"] is None and [k["name"] for k in d["keypoints"]] == list(COCO_KEYPOINTS)
    assert len(COCO_SKELETON) == 16 and max(max(e) for e in COCO_SKELETON) == 16


def test_options_are_checked_when_built() -> None:
    with pytest.raises(OptionsError, match="threshold"):
        SegmenterOptions(threshold=1.5)
    with pytest.raises(OptionsError, match="kpt_shape"):
        PoseEstimatorOptions(kpt_shape=(17, 4))
    with pytest.raises(OptionsError, match="max_poses"):
        PoseEstimatorOptions(max_poses=0)
    assert PoseEstimatorOptions(kpt_shape=[17, 3]).kpt_shape == (17, 3)


def test_overlay_colours_classes_and_leaves_background() -> None:
    img = np.full((40, 60, 3), 100, np.uint8)
    mask = np.zeros((40, 60), np.uint8)
    mask[20:, 30:] = 2
    seg = Segmentation(
        mask,
        (SegmentClass(0, "bg", 1800, 0.75), SegmentClass(2, "cat", 600, 0.25)),
        LabelMap({0: "bg", 1: "x", 2: "cat"}),
    )
    out = draw_segmentation(img, seg, legend=False)
    assert (out[:20, :30] == 100).all()  # background untouched
    assert (out[30:, 45:] != 100).any(axis=-1).all()
    assert (img == 100).all()  # drawn on a copy
    with pytest.raises(ImageError, match="mask is 60x40"):
        draw_segmentation(np.zeros((10, 10, 3), np.uint8), seg)
    drawn = draw_segmentation(img, seg)  # the legend draws too
    assert (drawn[:10, :10] != out[:10, :10]).any()


def test_skeleton_is_drawn_only_for_confident_keypoints() -> None:
    img = np.zeros((100, 100, 3), np.uint8)
    kps = np.zeros((1, 17, 3), np.float32)
    kps[0, :, 0] = np.linspace(10, 90, 17)
    kps[0, :, 1] = 50
    assert (draw_poses(img, Poses(kps, np.array([0.9]))) == 0).all()  # every score 0
    kps[0, :, 2] = 1.0
    assert (draw_poses(img, Poses(kps, np.array([0.9])))[50] != 0).any()


def test_output_files_never_replace_inputs_or_existing_files(tmp_path: Path) -> None:
    from edge_sdk.cli.segment import OutputFiles

    src = tmp_path / "a.png"
    src.write_bytes(b"x")
    out = OutputFiles(str(tmp_path), ".png", [str(src)], True, "mask")
    with pytest.raises(EdgeSdkError, match="input"):
        out.path(str(src), 0)
    other = OutputFiles(str(tmp_path / "m"), ".png", [str(src)], False, "mask")
    p = other.path(str(src), 0)
    assert p == tmp_path / "m" / "a.png"
    assert other.path(str(src), 1) == tmp_path / "m" / "a_000001.png"  # same name twice in a run
    assert other.path("video.mp4", 7) == tmp_path / "m" / "video_000007.png"
    p.write_bytes(b"y")
    again = OutputFiles(str(tmp_path / "m"), ".png", [str(src)], False, "mask")
    with pytest.raises(EdgeSdkError, match="--overwrite"):
        again.path(str(src), 0)


def test_kpt_shape_comes_from_ultralytics_or_edge_sdk_metadata() -> None:
    from types import SimpleNamespace

    from edge_sdk.tasks.pose import metadata_kpt_shape

    def model(**meta: object) -> object:
        return SimpleNamespace(metadata=SimpleNamespace(extra=meta.pop("extra", {}), **meta))

    assert metadata_kpt_shape(model(ultralytics={"task": "pose", "kpt_shape": [17, 3]})) == (17, 3)  # type: ignore[arg-type]
    assert metadata_kpt_shape(model(extra={"kpt_shape": [5, 2]})) == (5, 2)  # type: ignore[arg-type]
    assert metadata_kpt_shape(model(ultralytics={"task": "detect"})) is None  # type: ignore[arg-type]
    assert metadata_kpt_shape(model(extra={"kpt_shape": "bad"})) is None  # type: ignore[arg-type]


def test_events_observe_classes_present_and_people() -> None:
    from edge_sdk.frame import Frame
    from edge_sdk.sinks.events import observe
    from edge_sdk.tasks.base import TaskKind, TaskResult

    frame = Frame(np.zeros((4, 4, 3), np.uint8), 0, 0.0, "x")
    mask = np.zeros((4, 4), np.uint8)
    mask[0, 0] = 3
    seg = Segmentation(mask, (SegmentClass(0, "bg", 15, 15 / 16), SegmentClass(3, None, 1, 1 / 16)))
    result = TaskResult(frame, TaskKind.SEGMENT, seg)
    assert observe(result) == {("count", "bg"): 1, ("count", "#3"): 1}
    assert observe(result, ["#3"]) == {("count", "#3"): 1}
    assert result.record["classes"][1] == {"id": 3, "label": None, "pixels": 1, "fraction": 0.0625}
    assert "mask" not in result.record
    poses = TaskResult(frame, TaskKind.POSE, Poses(np.zeros((2, 17, 3)), np.array([0.9, 0.5])))
    assert observe(poses) == {("count", "person"): 2}
    assert len(poses.record["poses"]) == 2


def test_center_crop_index_and_16bit_png(tmp_path: Path) -> None:
    import cv2

    from edge_sdk.cli.segment import write_png

    # 100x50 centre-cropped to a 50x50 region (x 25..75) for a 50x50 input
    t = Transform.plan((100, 50), (50, 50), ResizeMode.CENTER_CROP)
    rows, cols = source_index(t, (50, 50))
    assert np.array_equal(cols[25:75], np.arange(50))
    assert np.array_equal(rows, np.arange(50))
    assert (cols[:25] == 0).all() and (cols[75:] == 49).all()  # cut off: the nearest id inside
    ids = np.arange(300 * 4, dtype=np.int32).reshape(30, 40) % 300
    write_png(tmp_path / "m.png", ids)
    back = cv2.imread(str(tmp_path / "m.png"), cv2.IMREAD_UNCHANGED)
    assert back.dtype == np.uint16 and np.array_equal(back, ids)
    with pytest.raises(EdgeSdkError, match=r"0\.\.65535"):
        write_png(tmp_path / "n.png", ids - 1)
