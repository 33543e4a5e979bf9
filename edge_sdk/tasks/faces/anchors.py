"""SSD anchors as MediaPipe's ``SsdAnchorsCalculator`` generates them (BlazeFace).

Anchors are ``(N, 4)`` float32 rows ``x_center, y_center, width, height`` normalised to
[0, 1] of the model input (origin top-left). With ``fixed_anchor_size`` (every BlazeFace
graph) width and height are 1, so decoded offsets are scaled by the input size only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ...errors import OptionsError


@dataclass(frozen=True)
class SsdAnchorOptions:
    """The fields of MediaPipe's ``SsdAnchorsCalculatorOptions`` that BlazeFace uses.

    ``input_size`` is ``(width, height)`` in pixels; ``strides`` has one entry per layer.
    """

    input_size: tuple[int, int]
    strides: tuple[int, ...]
    min_scale: float = 0.1484375
    max_scale: float = 0.75
    anchor_offset_x: float = 0.5
    anchor_offset_y: float = 0.5
    aspect_ratios: tuple[float, ...] = (1.0,)
    interpolated_scale_aspect_ratio: float = 1.0
    fixed_anchor_size: bool = True
    reduce_boxes_in_lowest_layer: bool = False

    def __post_init__(self) -> None:
        if not self.strides or any(s < 1 for s in self.strides):
            raise OptionsError(f"strides must be positive integers, got {self.strides}")
        if min(self.input_size) < 1:
            raise OptionsError(f"input_size must be positive (width, height), got {self.input_size}")


def _scale(options: SsdAnchorOptions, index: int) -> float:
    n = len(options.strides)
    if n == 1:
        return (options.min_scale + options.max_scale) * 0.5
    return options.min_scale + (options.max_scale - options.min_scale) * index / (n - 1.0)


def ssd_anchors(options: SsdAnchorOptions) -> np.ndarray:
    """Generate the anchors, in MediaPipe's order (layer group, row, column, anchor).

    Consecutive layers with the same stride share one feature map: their anchors are
    interleaved per cell, as in ``SsdAnchorsCalculator::GenerateAnchors``.
    """
    strides = options.strides
    width, height = options.input_size
    rows: list[np.ndarray] = []
    layer = 0
    while layer < len(strides):
        widths: list[float] = []
        heights: list[float] = []
        last = layer
        while last < len(strides) and strides[last] == strides[layer]:
            scale = _scale(options, last)
            if last == 0 and options.reduce_boxes_in_lowest_layer:
                ratios_scales = [(1.0, 0.1), (2.0, scale), (0.5, scale)]
            else:
                ratios_scales = [(r, scale) for r in options.aspect_ratios]
                if options.interpolated_scale_aspect_ratio > 0.0:
                    nxt = 1.0 if last == len(strides) - 1 else _scale(options, last + 1)
                    ratios_scales.append((options.interpolated_scale_aspect_ratio, math.sqrt(scale * nxt)))
            for ratio, s in ratios_scales:
                r = math.sqrt(ratio)
                heights.append(s / r)
                widths.append(s * r)
            last += 1
        stride = strides[layer]
        fh, fw = math.ceil(height / stride), math.ceil(width / stride)
        ys, xs = np.meshgrid(
            (np.arange(fh) + options.anchor_offset_y) / fh,
            (np.arange(fw) + options.anchor_offset_x) / fw,
            indexing="ij",
        )
        k = len(widths)
        centres = np.stack([xs.ravel(), ys.ravel()], axis=1)  # (cells, 2), row-major
        block = np.empty((centres.shape[0], k, 4), np.float32)
        block[:, :, 0:2] = centres[:, None, :]
        if options.fixed_anchor_size:
            block[:, :, 2:4] = 1.0
        else:
            block[:, :, 2] = np.asarray(widths, np.float32)
            block[:, :, 3] = np.asarray(heights, np.float32)
        rows.append(block.reshape(-1, 4))
        layer = last
    return np.concatenate(rows, axis=0)


def blazeface_anchor_options(input_size: tuple[int, int], num_anchors: int) -> SsdAnchorOptions:
    """Anchor options of the published BlazeFace graphs, from the input size and anchor count.

    - 896 anchors: short range (128x128, strides 8,16,16,16) and the 256x256 "back" model
      (strides 16,32,32,32): 2 anchors per cell on the fine map, 6 on the coarse one.
    - 2304 anchors at 192x192 (full range): one layer of stride 4, one anchor per cell.

    Raises:
        OptionsError: no published BlazeFace layout gives ``num_anchors`` at that size.
    """
    w, h = input_size
    candidates = [
        SsdAnchorOptions(input_size, (w // 16, w // 8, w // 8, w // 8)) if w >= 16 else None,
        SsdAnchorOptions(input_size, (4,), interpolated_scale_aspect_ratio=0.0),
    ]
    for opt in candidates:
        if opt is not None and ssd_anchors(opt).shape[0] == num_anchors:
            return opt
    raise OptionsError(
        f"no BlazeFace anchor layout gives {num_anchors} anchors for a {w}x{h} input "
        "(expected 896 for short range, 2304 for full range at 192x192)"
    )
