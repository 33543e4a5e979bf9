"""IouTracker keeps ids stable across frames and starts new ones for new objects."""

from __future__ import annotations

import numpy as np
import pytest

from edge_sdk.errors import OptionsError
from edge_sdk.results import Detections
from edge_sdk.tasks.track import IouTracker, TrackerOptions


def dets(boxes, classes=None) -> Detections:
    b = np.asarray(boxes, np.float32).reshape(-1, 4)
    c = np.zeros(len(b), np.int32) if classes is None else np.asarray(classes)
    return Detections(b, np.full(len(b), 0.9, np.float32), c)


def test_moving_objects_keep_ids() -> None:
    tr = IouTracker()
    ids = []
    for step in range(10):
        a = [10 + 3 * step, 10, 50 + 3 * step, 50]  # moves right
        b = [200, 100 - 2 * step, 240, 140 - 2 * step]  # moves up
        # Order of detections changes between frames: ids must follow boxes, not positions.
        frame = dets([a, b]) if step % 2 == 0 else dets([b, a])
        out = tr.update(frame)
        assert out.tracker_ids is not None
        ids.append(dict(zip(map(tuple, out.xyxy[:, :1].tolist()), out.tracker_ids.tolist(), strict=True)))
    first_a = ids[0][(10.0,)]
    assert first_a == 1 and ids[0][(200.0,)] == 2
    for step, mapping in enumerate(ids):
        assert mapping[(10.0 + 3 * step,)] == 1
        assert mapping[(200.0,)] == 2


def test_new_object_new_id_and_gap_within_max_age() -> None:
    tr = IouTracker(TrackerOptions(max_age=2))
    assert tr.update(dets([[0, 0, 10, 10]])).tracker_ids.tolist() == [1]
    assert tr.update(dets([[0, 0, 10, 10], [50, 50, 60, 60]])).tracker_ids.tolist() == [1, 2]
    tr.update(dets([]))
    tr.update(dets([]))  # missed twice: still alive with max_age=2
    assert tr.update(dets([[1, 1, 11, 11]])).tracker_ids.tolist() == [1]
    for _ in range(3):
        tr.update(dets([]))
    assert tr.active_ids == []
    assert tr.update(dets([[1, 1, 11, 11]])).tracker_ids.tolist() == [3]  # ids never reused


def test_class_aware_and_agnostic() -> None:
    tr = IouTracker()
    tr.update(dets([[0, 0, 10, 10]], [0]))
    assert tr.update(dets([[0, 0, 10, 10]], [1])).tracker_ids.tolist() == [2]
    ag = IouTracker(TrackerOptions(class_aware=False))
    ag.update(dets([[0, 0, 10, 10]], [0]))
    assert ag.update(dets([[0, 0, 10, 10]], [1])).tracker_ids.tolist() == [1]


def test_one_track_one_detection() -> None:
    tr = IouTracker()
    tr.update(dets([[0, 0, 10, 10]]))
    out = tr.update(dets([[0, 0, 10, 10], [1, 0, 11, 10]]))  # both overlap track 1
    assert out.tracker_ids.tolist() == [1, 2]  # the better overlap (identical box) continues it


def test_low_overlap_starts_new_track() -> None:
    tr = IouTracker(TrackerOptions(iou_threshold=0.5))
    tr.update(dets([[0, 0, 10, 10]]))
    assert tr.update(dets([[6, 0, 16, 10]])).tracker_ids.tolist() == [2]  # IoU 0.25


@pytest.mark.parametrize("kwargs", [{"iou_threshold": 0}, {"iou_threshold": 1.2}, {"max_age": -1}])
def test_bad_options(kwargs) -> None:
    with pytest.raises(OptionsError):
        TrackerOptions(**kwargs)
