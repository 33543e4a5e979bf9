"""Decoder for models ending in ``TFLite_Detection_PostProcess`` (SSD MobileNet, EfficientDet-Lite ...).

The op emits four float outputs: boxes ``[1, N, 4]`` as ``ymin, xmin, ymax, xmax``
normalized to the input, classes ``[1, N]`` (0-based, as float), scores ``[1, N]`` and
count ``[1]``. Different TensorFlow versions list them in different orders, so the roles are
found once at load time:

1. from the op itself: its outputs are always (boxes, classes, scores, count);
2. else by shape: boxes is the only ``[1, N, 4]``, count the only one-element tensor;
   classes and scores, both ``[1, N]``, by name (``class``/``score`` in the name, or the
   ``:1``/``:2`` suffix the op's default names carry).

NMS already ran inside the op, so this decoder only thresholds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ...errors import UnsupportedModelError
from ...modelfile import DETECTION_POSTPROCESS_OP
from ...preprocess import image_layout
from . import Candidates, DetectorHead, describe_outputs

if TYPE_CHECKING:
    from ...model import Model, TensorSpec


def _op_roles(model: Model) -> tuple[list[int], int | None] | None:
    """Output tensor indices of the post-process op, and its class-prediction width."""
    interp: Any = getattr(model, "_interpreter", None)
    get_ops = getattr(interp, "_get_ops_details", None)
    if get_ops is None:
        return None
    try:
        ops = [o for o in get_ops() if o.get("op_name") == DETECTION_POSTPROCESS_OP]
    except Exception:  # a backend without op introspection: fall back to names
        return None
    if len(ops) != 1:
        return None
    op = ops[0]
    width: int | None = None
    try:
        cls_in = int(op["inputs"][1])
        shape = interp._get_tensor_details(cls_in, 0)["shape"]
        width = int(shape[-1])
    except Exception:
        width = None
    return [int(i) for i in op["outputs"]], width


def _by_name(pair: list[TensorSpec]) -> tuple[TensorSpec, TensorSpec] | None:
    """(classes, scores) among two ``[1, N]`` tensors from their names, else None."""
    a, b = pair

    def role(t: TensorSpec) -> str | None:
        n = t.name.lower()
        if "class" in n:
            return "classes"
        if "score" in n:
            return "scores"
        m = re.search(r":(\d+)$", n)
        if m and DETECTION_POSTPROCESS_OP.lower() in n:
            return {"1": "classes", "2": "scores"}.get(m.group(1))
        return None

    ra, rb = role(a), role(b)
    if (ra, rb) == ("classes", "scores"):
        return a, b
    if (ra, rb) == ("scores", "classes"):
        return b, a
    return None


@dataclass(frozen=True)
class SsdDecoder:
    """Roles of the four post-process outputs, by output position in ``model.outputs``."""

    boxes: int
    classes: int
    scores: int
    count: int
    num_classes: int | None
    source: str
    head: DetectorHead = DetectorHead.SSD
    needs_nms: bool = False

    @classmethod
    def from_model(cls, model: Model, *, required: bool = False) -> SsdDecoder | None:
        """The decoder for ``model``, or None when it is not shaped like the op's result.

        Raises:
            UnsupportedModelError: the model has the op (or ``required``) but its outputs
                cannot be told apart; the message lists them.
        """
        outs = list(model.outputs)
        has_op = model.file.has_op(DETECTION_POSTPROCESS_OP)

        def fail(why: str) -> UnsupportedModelError:
            return UnsupportedModelError(
                f"{model.source}: {why}; expected the 4 outputs of {DETECTION_POSTPROCESS_OP} "
                f"(boxes [1,N,4], classes [1,N], scores [1,N], count [1]), found: {describe_outputs(model.outputs)}"
            )

        boxes = [t for t in outs if len(t.shape) == 3 and t.shape[0] == 1 and t.shape[2] == 4]
        counts = [t for t in outs if int(np.prod(t.shape)) == 1]
        if len(outs) != 4 or len(boxes) != 1 or len(counts) != 1:
            if has_op or required:
                raise fail("the detection outputs do not have the post-process shapes")
            return None
        n = boxes[0].shape[1]
        pair = [t for t in outs if t is not boxes[0] and t is not counts[0]]
        if any(tuple(t.shape) not in ((1, n), (n,)) for t in pair):
            if has_op or required:
                raise fail(f"classes and scores must both be [1,{n}]")
            return None
        if any(t.dtype != np.float32 for t in outs):
            raise fail("post-process outputs must be float32")
        by_index = {t.index: i for i, t in enumerate(outs)}
        roles = _op_roles(model) if has_op else None
        num_classes: int | None = None
        if roles is not None and all(i in by_index for i in roles[0]) and len(roles[0]) == 4:
            b, c, s, k = (by_index[i] for i in roles[0])
            if roles[1] is not None and roles[1] > 1:
                # The class-prediction input carries a background column before the classes.
                num_classes = roles[1] - 1
            return cls(b, c, s, k, num_classes, model.source)
        named = _by_name(pair)
        if named is None:
            raise fail("cannot tell the classes output from the scores output by op or name")
        pos = {id(t): i for i, t in enumerate(outs)}
        return cls(
            pos[id(boxes[0])], pos[id(named[0])], pos[id(named[1])], pos[id(counts[0])], None, model.source
        )

    def decode(self, model: Model, threshold: float) -> Candidates:
        """Candidates with ``score >= threshold``, boxes in input pixels.

        Boxes are clipped to the input later (by the detector's mapping to the source).
        """
        count = int(model.output(self.count).reshape(-1)[0])
        scores = model.output(self.scores).reshape(-1)
        count = max(0, min(count, scores.shape[0]))
        scores = scores[:count]
        keep = np.flatnonzero(scores >= threshold)
        if keep.size == 0:
            return Candidates.empty()
        yxyx = model.output(self.boxes).reshape(-1, 4)[keep]
        layout = image_layout(model.input.shape)
        h, w = (layout[0], layout[1]) if layout else (model.input.shape[1], model.input.shape[2])
        xyxy = np.empty((keep.size, 4), np.float32)
        xyxy[:, 0] = yxyx[:, 1] * w
        xyxy[:, 1] = yxyx[:, 0] * h
        xyxy[:, 2] = yxyx[:, 3] * w
        xyxy[:, 3] = yxyx[:, 2] * h
        classes = np.rint(model.output(self.classes).reshape(-1)[keep]).astype(np.int32)
        return Candidates(xyxy, scores[keep].astype(np.float32), classes)

    def describe(self) -> str:
        return (
            f"{DETECTION_POSTPROCESS_OP}: boxes=output {self.boxes}, classes=output {self.classes}, "
            f"scores=output {self.scores}, count=output {self.count}"
        )
