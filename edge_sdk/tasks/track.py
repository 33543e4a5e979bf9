"""A simple multi-object tracker: IoU association between frames, stable integer ids.

``IouTracker.update(detections)`` returns the same detections with ``tracker_ids`` set. A
detection continues the track whose last box overlaps it most (IoU >= ``iou_threshold``,
same class unless ``class_aware=False``); pairs are matched greedily by descending IoU, ties
by track age then detection order. A detection nothing matches starts a new track. A track
not matched for more than ``max_age`` consecutive frames is dropped; its id is never reused
(ids count up from 1 per tracker).

No motion model: it suits frame rates at which an object's box still overlaps its previous
box (the usual case for a camera at 5+ fps). Call :meth:`IouTracker.reset` between
unrelated videos.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import OptionsError
from ..nms import box_iou
from ..results import Detections
from ..validate import int_at_least, is_bool, number_in


@dataclass(frozen=True)
class TrackerOptions:
    """``iou_threshold`` in (0, 1]: least overlap to continue a track. ``max_age`` >= 0:
    frames a track survives unmatched. ``class_aware``: only same-class boxes continue a
    track."""

    iou_threshold: float = 0.3
    max_age: int = 30
    class_aware: bool = True

    def __post_init__(self) -> None:
        number_in("iou_threshold", self.iou_threshold, 0.0, 1.0)
        if self.iou_threshold == 0:
            raise OptionsError(f"iou_threshold must be in (0, 1], got {self.iou_threshold}")
        int_at_least("max_age", self.max_age, 0)
        is_bool("class_aware", self.class_aware)


@dataclass
class _Track:
    id: int
    box: np.ndarray
    class_id: int
    missed: int = 0
    hits: int = 1


@dataclass
class IouTracker:
    """Assigns stable ids to detections over consecutive frames of one source."""

    options: TrackerOptions = field(default_factory=TrackerOptions)
    _tracks: list[_Track] = field(default_factory=list, init=False, repr=False)
    _next_id: int = field(default=1, init=False, repr=False)

    @property
    def active_ids(self) -> list[int]:
        """Ids of the tracks currently alive (matched or within ``max_age``)."""
        return [t.id for t in self._tracks]

    def reset(self) -> None:
        """Forget every track (ids keep counting up)."""
        self._tracks.clear()

    def update(self, detections: Detections) -> Detections:
        """Match this frame's detections to the tracks and return them with ``tracker_ids``.

        Detections keep their order; boxes are in the caller's pixels (any one unit).
        """
        n = len(detections)
        ids = np.zeros(n, np.int32)
        matched_det = np.zeros(n, bool)
        matched_trk = np.zeros(len(self._tracks), bool)
        if self._tracks and n:
            iou = box_iou(np.stack([t.box for t in self._tracks]), detections.xyxy)
            if self.options.class_aware:
                same = np.array([t.class_id for t in self._tracks])[:, None] == detections.class_ids[None, :]
                iou = np.where(same, iou, 0.0)
            ti, di = np.nonzero(iou >= self.options.iou_threshold)
            # Greedy by IoU; ties: older track (lower index) first, then detection order.
            for k in np.lexsort((di, ti, -iou[ti, di])).tolist():
                t, d = int(ti[k]), int(di[k])
                if matched_trk[t] or matched_det[d]:
                    continue
                matched_trk[t] = matched_det[d] = True
                track = self._tracks[t]
                track.box = detections.xyxy[d].copy()
                track.missed = 0
                track.hits += 1
                ids[d] = track.id
        survivors = []
        for t, track in enumerate(self._tracks):
            if not matched_trk[t]:
                track.missed += 1
            if track.missed <= self.options.max_age:
                survivors.append(track)
        self._tracks = survivors
        for d in np.flatnonzero(~matched_det).tolist():
            track = _Track(self._next_id, detections.xyxy[d].copy(), int(detections.class_ids[d]))
            self._next_id += 1
            self._tracks.append(track)
            ids[d] = track.id
        return Detections(detections.xyxy, detections.scores, detections.class_ids, detections.labels, ids)
