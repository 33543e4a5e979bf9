"""Pose estimation: ``PoseEstimator(model).estimate(image) -> Poses`` in source pixels.

Output forms (decided once, at load):

* MoveNet single-pose (Lightning, Thunder): one output ``[1, 1, K, 3]`` holding
  ``(y, x, score)`` per keypoint, normalized to the input; the pose score is the mean of
  the keypoint scores, and there is no box;
* MoveNet multi-pose: one output ``[1, P, K*3 + 5]`` (``[1, 6, 56]``): K times
  ``(y, x, score)``, then a box ``(ymin, xmin, ymax, xmax)`` normalized, then the pose score;
* YOLO pose heads (Ultralytics YOLOv8/YOLO11-pose): one output ``[1, 4+nc+K*D, N]`` (or
  transposed), ``cx, cy, w, h``, ``nc`` class scores, then K keypoints of D values
  (``x, y[, visibility]``), all normalized to the input (Ultralytics' TFLite export) or in
  input pixels. K and D come from ``kpt_shape`` (the option, else the model's Ultralytics
  metadata); candidates go through the same threshold-on-raw-integers and class-agnostic
  NMS as the YOLO detector (:func:`edge_sdk.nms.nms`).

PoseNet models whose decoding is a custom op (``PosenetDecoderOp``) are not supported: the
error names the op.

Coordinates go back through the preprocessing :class:`~edge_sdk.preprocess.Transform`
(letterbox by default, so people keep their proportions), so they are pixels of the original
frame, origin top-left; keypoints are not clipped (a hidden wrist may lie outside).
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import OptionsError, UnresolvedOpsError, UnsupportedModelError
from ..metadata import Normalization
from ..model import Model
from ..nms import nms
from ..preprocess import YOLO_NORMALIZATION, Interpolation, ResizeMode, Transform
from ..quant import dequantize
from ..results import COCO_KEYPOINTS, Poses
from ..validate import instance_of, int_at_least, number_in
from .base import BaseOptions, Task, TaskKind
from .decoders import describe_outputs
from .decoders.yolo import NORMALIZED_LIMIT, anchor_count
from .detect import DEFAULT_IOU, YOLO_PAD_VALUE
from .runner import ImageRunner, Timing

POSENET_OPS = ("posenetdecoderop", "posenet_decoder")
"""Custom-op names (lower case) of PoseNet decoders, refused with a clear error."""


class PoseHead(str, enum.Enum):
    """The output form of a pose model (see the module docstring)."""

    MOVENET_SINGLE = "movenet_single"
    MOVENET_MULTI = "movenet_multi"
    YOLO = "yolo"


def _kpt_shape(value: Any) -> tuple[int, int] | None:
    if value is None:
        return None
    try:
        k, d = (int(v) for v in value)
    except (TypeError, ValueError):
        raise OptionsError(f"kpt_shape must be (keypoints, 2 or 3), got {value!r}") from None
    if k < 1 or d not in (2, 3):
        raise OptionsError(f"kpt_shape must be (keypoints >= 1, 2 or 3), got {value!r}")
    return k, d


@dataclass(frozen=True)
class PoseEstimatorOptions:
    """Options of a :class:`PoseEstimator`, checked when built.

    Attributes:
        threshold: minimum pose score in [0, 1] (MoveNet single-pose: the mean keypoint score).
        iou: NMS IoU threshold for YOLO pose heads (None: 0.45).
        max_poses: at most this many poses per frame, best first (>= 1).
        kpt_shape: ``(K, D)`` of a YOLO pose head (keypoints, 2 or 3 values each); default
            from the model's Ultralytics metadata.
        resize: how frames are fitted (default: metadata, else letterbox).
        normalization: for float inputs without metadata (default: raw 0..255 for MoveNet,
            [0, 1] for YOLO).
        interpolation: resampling filter of the input resize.
        head: force the output form instead of detecting it.
        base: the model and accelerator, for :func:`~edge_sdk.tasks.registry.create_task`.
    """

    threshold: float = 0.2
    iou: float | None = None
    max_poses: int = 10
    kpt_shape: tuple[int, int] | None = None
    resize: ResizeMode | None = None
    normalization: Normalization | None = None
    interpolation: Interpolation = Interpolation.LINEAR
    head: PoseHead | None = None
    base: BaseOptions | None = None

    def __post_init__(self) -> None:
        number_in("threshold", self.threshold, 0.0, 1.0)
        number_in("iou", self.iou, 0.0, 1.0, optional=True)
        int_at_least("max_poses", self.max_poses, 1)
        object.__setattr__(self, "kpt_shape", _kpt_shape(self.kpt_shape))
        instance_of("resize", self.resize, ResizeMode)
        instance_of("normalization", self.normalization, Normalization)
        instance_of("interpolation", self.interpolation, Interpolation, optional=False)
        instance_of("head", self.head, PoseHead)
        instance_of("base", self.base, BaseOptions)


def metadata_kpt_shape(model: Model) -> tuple[int, int] | None:
    """``kpt_shape`` from the model's metadata (Ultralytics' or edge_sdk's), else None."""
    meta = model.metadata
    value = getattr(meta, "kpt_shape", None)
    if value is None:
        ultra = getattr(meta, "ultralytics", None)
        value = getattr(ultra, "kpt_shape", None) if ultra is not None else None
        if value is None and isinstance(ultra, dict):
            value = ultra.get("kpt_shape")
    if value is None:
        value = meta.extra.get("kpt_shape")
    try:
        return _kpt_shape(value)
    except OptionsError:
        return None


def refuse_posenet(ops: tuple[str, ...] | list[str], source: str) -> None:
    """Raise when ``ops`` hold a PoseNet decoder custom op.

    Raises:
        UnsupportedModelError: naming the op.
    """
    for op in ops:
        if op.lower() in POSENET_OPS:
            raise UnsupportedModelError(
                f"{source} decodes poses with the custom op {op!r} (PoseNet); custom-op PoseNet "
                "decoders are not supported: use a MoveNet (single- or multi-pose) or a YOLO pose model"
            )


def select_head(model: Model, head: PoseHead | None, kpt_shape: tuple[int, int] | None) -> PoseHead:
    """The output form of ``model``.

    Raises:
        UnsupportedModelError: the outputs fit no pose form (the message lists them), or a
            given ``head`` does not fit.
    """
    outs = model.outputs
    expected = (
        "expected one pose output: MoveNet single-pose [1, 1, K, 3], MoveNet multi-pose "
        "[1, P, K*3+5] (such as [1, 6, 56]), or a YOLO pose head [1, 4+nc+K*D, N] with kpt_shape "
        "(option or Ultralytics metadata)"
    )

    def fail(why: str = "") -> UnsupportedModelError:
        return UnsupportedModelError(f"{model.source}: {why}{expected}; found {describe_outputs(outs)}")

    if len(outs) != 1:
        raise fail()
    shape = outs[0].shape
    single = len(shape) == 4 and shape[0] == 1 and shape[1] == 1 and shape[3] == 3 and shape[2] >= 1
    multi = (
        len(shape) == 3
        and shape[0] == 1
        and shape[2] >= 8
        and (shape[2] - 5) % 3 == 0
        and shape[1] < shape[2]
        and shape[1] <= 100
        and shape[2] <= 5 + 3 * 200
        and kpt_shape is None
    )
    if multi and len(model.input.shape) == 4:  # not a small YOLO detection head [1, 4+nc, N]
        grid = anchor_count(int(model.input.shape[2]), int(model.input.shape[1]))
        multi = shape[2] not in (grid, 3 * grid)
    yolo = False
    if kpt_shape is not None and len(shape) == 3 and shape[0] == 1:
        c, n = min(shape[1:]), max(shape[1:])
        yolo = n > c and c - 4 - kpt_shape[0] * kpt_shape[1] >= 1
    found = (
        PoseHead.MOVENET_SINGLE
        if single
        else PoseHead.YOLO
        if yolo
        else PoseHead.MOVENET_MULTI
        if multi
        else None
    )
    if head is not None:
        if found is not head:
            raise fail(f"the output does not fit head {head.value}: ")
        return head
    if found is None:
        why = ""
        if len(shape) == 3 and shape[0] == 1 and max(shape[1:]) > min(shape[1:]) >= 5 and kpt_shape is None:
            why = "a YOLO-like head needs kpt_shape (no Ultralytics metadata says it): "
        raise fail(why)
    return found


class PoseEstimator(Task):
    """Estimate human poses in RGB images with a .tflite MoveNet or YOLO pose model.

    Args:
        model: a path, bytes, or a loaded :class:`Model`.
        options: :class:`PoseEstimatorOptions`; option keywords are accepted as a shortcut.
        accelerator, num_threads: passed to :class:`Model` when ``model`` is a path.

    Raises:
        ModelError: see :class:`Model`.
        UnsupportedModelError: the outputs fit no pose form, or the model is a custom-op
            PoseNet (the message names the op).

    ``close()`` frees the model when the estimator loaded it; a context manager.
    """

    kind = TaskKind.POSE

    def __init__(
        self,
        model: str | Path | bytes | Model,
        *,
        options: PoseEstimatorOptions | None = None,
        accelerator: Any = None,
        num_threads: int | None = None,
        **option_kwargs: Any,
    ) -> None:
        if options is not None and option_kwargs:
            raise OptionsError("pass either options= or option keywords, not both")
        self.options = opts = options or PoseEstimatorOptions(**option_kwargs)
        if isinstance(model, Model):
            self.model = model
        else:
            try:
                self.model = Model(model, accelerator=accelerator, num_threads=num_threads)
            except UnresolvedOpsError as exc:
                refuse_posenet(exc.ops, str(model) if not isinstance(model, bytes) else "<bytes>")
                raise
        self._owned_model = None if isinstance(model, Model) else self.model
        try:
            refuse_posenet(self.model.file.custom_ops, self.model.source)
            self.kpt_shape = opts.kpt_shape or metadata_kpt_shape(self.model)
            self.head = select_head(self.model, opts.head, self.kpt_shape)
            shape = self.model.outputs[0].shape
            if self.head is PoseHead.MOVENET_SINGLE:
                k = int(shape[2])
            elif self.head is PoseHead.MOVENET_MULTI:
                k = (int(shape[2]) - 5) // 3
            else:
                assert self.kpt_shape is not None
                k = self.kpt_shape[0]
                self._channels_first = shape[1] < shape[2]
                self._nc = min(shape[1:]) - 4 - k * self.kpt_shape[1]
            self.names = COCO_KEYPOINTS if k == len(COCO_KEYPOINTS) else tuple(f"kp{i}" for i in range(k))
            is_yolo = self.head is PoseHead.YOLO
            self.iou = opts.iou if opts.iou is not None else DEFAULT_IOU
            self.runner = ImageRunner(
                self.model,
                resize=opts.resize,
                normalization=opts.normalization,
                interpolation=opts.interpolation,
                default_resize=ResizeMode.LETTERBOX,
                # YOLO pose expects [0, 1] (Ultralytics' x / 255), as the detector's YOLO heads
                family=YOLO_NORMALIZATION if is_yolo else self.model.metadata.family_normalization,
                pad_value=YOLO_PAD_VALUE if is_yolo else 0,
            )
        except BaseException:
            self.close()
            raise
        self._normalized: bool | None = None
        self.last_timing = Timing()

    @property
    def resize(self) -> ResizeMode:
        """How frames are fitted to the input."""
        return self.runner.preprocessor.mode

    def process(self, image: npt.ArrayLike) -> Poses:
        """:meth:`estimate` (the common name every task has)."""
        return self.estimate(image)

    def timing_ms(self) -> dict[str, float]:
        return self.last_timing.as_dict()

    def estimate(self, image: npt.ArrayLike) -> Poses:
        """Poses in one RGB image (``(H, W, 3)`` uint8; gray, RGBA and 16-bit are converted).

        Returns:
            :class:`Poses` sorted by descending score, keypoints ``x, y, score`` in pixels of
            ``image`` (origin top-left), boxes clipped to the image.

        Raises:
            ImageError: the image is empty, too small or of an unsupported type.
        """
        timing = Timing()
        transform = self.runner.run(image, timing)
        t0 = time.perf_counter()
        if self.head is PoseHead.YOLO:
            result = self.model.read_output(lambda v: self._yolo(v[0], transform), 0)
        else:
            result = self._movenet(self.model.output_float(0)[0], transform)
        timing.postprocess_ms = (time.perf_counter() - t0) * 1e3
        self.last_timing = timing
        return result

    def _points(self, xy_in: np.ndarray, scores: np.ndarray, transform: Transform) -> np.ndarray:
        """``(N, K, 3)`` from input-pixel ``(N, K, 2)`` points and ``(N, K)`` scores."""
        out = np.empty((*scores.shape, 3), np.float32)
        out[..., 0] = (xy_in[..., 0] - transform.offset_x) / transform.scale_x  # Transform.to_source,
        out[..., 1] = (xy_in[..., 1] - transform.offset_y) / transform.scale_y  # without its copies
        np.minimum(np.maximum(scores, 0.0), 1.0, out=out[..., 2])
        return out

    def _movenet(self, out: np.ndarray, transform: Transform) -> Poses:
        iw, ih = transform.input_size
        k = len(self.names)
        if self.head is PoseHead.MOVENET_SINGLE:
            kps = out.reshape(1, k, 3)
            scores = np.minimum(np.maximum(kps[:, :, 2], 0.0), 1.0).mean(axis=1)
            boxes = None
        else:
            kps = out[:, : k * 3].reshape(-1, k, 3)
            scores = out[:, k * 3 + 4]
            b = out[:, k * 3 : k * 3 + 4]  # ymin, xmin, ymax, xmax
            boxes = transform.boxes_to_source(b[:, [1, 0, 3, 2]], normalized=True, clip=True)
        xy_in = np.stack([kps[:, :, 1] * iw, kps[:, :, 0] * ih], axis=-1)
        points = self._points(xy_in, kps[:, :, 2], transform)
        order = np.lexsort((np.arange(len(scores)), -scores))
        order = order[scores[order] >= self.options.threshold][: self.options.max_poses]
        return Poses(
            points[order],
            scores[order].astype(np.float32),
            self.names,
            None if boxes is None else boxes[order],
        )

    def _yolo(self, t: np.ndarray, transform: Transform) -> Poses:
        assert self.kpt_shape is not None
        k, d = self.kpt_shape
        quant = self.model.outputs[0].quant
        a = t if self._channels_first else t.T  # (C, N) view
        nc = self._nc
        best = a[4 : 4 + nc].max(axis=0)
        if quant.quantized:
            idx = np.flatnonzero(best >= self.options.threshold / quant.scale + quant.zero_point)
        else:
            idx = np.flatnonzero(best >= self.options.threshold)
        if self._normalized is None:
            box = dequantize(a[0:4], quant)
            self._normalized = float(np.abs(box).max(initial=0.0)) <= NORMALIZED_LIMIT
        if idx.size == 0:
            return Poses(
                np.zeros((0, k, 3), np.float32), np.zeros(0, np.float32), self.names, np.zeros((0, 4))
            )
        sel = dequantize(a[:, idx], quant).T  # (m, C) float32 copy
        scores = sel[:, 4 : 4 + nc].max(axis=1)
        cx, cy, w, h = sel[:, 0], sel[:, 1], sel[:, 2], sel[:, 3]
        xyxy = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
        kp = sel[:, 4 + nc : 4 + nc + k * d].reshape(-1, k, d)
        xy = kp[:, :, :2].copy()
        vis = kp[:, :, 2] if d == 3 else np.ones(kp.shape[:2], np.float32)
        if self._normalized:
            iw, ih = transform.input_size
            xyxy *= np.array([iw, ih, iw, ih], np.float32)
            xy *= np.array([iw, ih], np.float32)
        keep = nms(xyxy, scores, self.iou, max_detections=self.options.max_poses)
        return Poses(
            self._points(xy[keep], vis[keep], transform),
            scores[keep],
            self.names,
            transform.boxes_to_source(xyxy[keep], clip=True),
        )

    def describe(self) -> str:
        """One line: the output form and the preprocessing."""
        return f"{self.head.value} head, {len(self.names)} keypoints; resize {self.resize.value}"
