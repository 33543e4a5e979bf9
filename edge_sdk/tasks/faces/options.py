"""Options shared by the face detectors."""

from __future__ import annotations

from dataclasses import dataclass

from ...validate import int_at_least, number_in


@dataclass(frozen=True)
class FaceDetectorOptions:
    """How faces are selected, checked when built.

    ``score_threshold``: minimum face score in [0, 1]; None uses the detector's published
    default (0.5 for BlazeFace, MediaPipe's; 0.6 for YuNet, OpenCV zoo's).
    ``iou_threshold``: boxes overlapping more than this IoU are merged/suppressed (0.3).
    ``max_faces``: keep at most this many faces, best first (None: all).
    ``max_side``: YuNet only, which runs at the frame's own size: frames whose longer side
    exceeds this many pixels are shrunk (``INTER_AREA``) before detection, and results are
    mapped back to the original pixels. None: full resolution. BlazeFace always letterboxes
    into its fixed input.
    """

    score_threshold: float | None = None
    iou_threshold: float = 0.3
    max_faces: int | None = None
    max_side: int | None = None

    def __post_init__(self) -> None:
        number_in("score_threshold", self.score_threshold, 0.0, 1.0, optional=True)
        number_in("iou_threshold", self.iou_threshold, 0.0, 1.0)
        int_at_least("max_faces", self.max_faces, 1, optional=True)
        int_at_least("max_side", self.max_side, 32, optional=True)

    def score_or(self, default: float) -> float:
        """``score_threshold``, or ``default`` when it is None."""
        return default if self.score_threshold is None else float(self.score_threshold)
