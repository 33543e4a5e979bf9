"""Constructed (not trained) YOLO-format detectors whose correct boxes are known exactly.

The network sees an RGB image; pure red, green and blue rectangles are objects of classes
0, 1 and 2. Candidate boxes are every rectangle on a 4-pixel grid with a size in
``SHAPES`` (in grid cells). A 1x1 convolution turns each pixel into a per-class mask
(``relu(2*ch_c - r - g - b)``: 1 only for a pure colour, 0 for black, grey padding or
white); 4x4 average pooling gives per-cell coverage; one Dense layer scores every candidate
box B against that mask:

    score_c(B) = clamp((3 * |mask_c in B| - 2 * |mask_c in dilate(B, 1 cell)|) / |B|, 0, 1)

which is exactly 1 when an object fills B and nothing of its class surrounds it, and lower
(at most |B & object| / |B|) for shifted, larger or smaller boxes (those are then removed by NMS). The ``cx, cy, w, h``
of every candidate are constants. The head is emitted in the exact YOLOv8 layout
``[1, 4+nc, N]`` (or transposed ``[1, N, 4+nc]``) or the YOLOv5 layout ``[1, N, 5+nc]``
(objectness = clamp(sum of class scores)), in input pixels or normalized to the input.
"""

from __future__ import annotations

import numpy as np

SIZE = 64  # input is SIZE x SIZE
CELL = 4
GRID = SIZE // CELL
NC = 3
SHAPES = ((2, 2), (4, 4), (6, 4), (4, 6))  # (w, h) in cells


def candidates() -> np.ndarray:
    """``(N, 4)`` candidate boxes ``gx0, gy0, gw, gh`` in grid cells."""
    out = [(x, y, w, h) for w, h in SHAPES for y in range(GRID - h + 1) for x in range(GRID - w + 1)]
    return np.array(out, np.int32)


def head_weights() -> tuple[np.ndarray, np.ndarray]:
    """Dense kernel ``(GRID*GRID*NC, N*NC)`` over the pooled masks, and the box constants in
    input pixels ``(N, 4)`` as ``cx, cy, w, h``."""
    cand = candidates()
    n = len(cand)
    kernel = np.zeros((GRID, GRID, NC, n, NC), np.float32)
    for k, (x, y, w, h) in enumerate(cand):
        inside = np.zeros((GRID, GRID), np.float32)
        inside[y : y + h, x : x + w] = 1
        ring = np.zeros((GRID, GRID), np.float32)
        ring[max(0, y - 1) : y + h + 1, max(0, x - 1) : x + w + 1] = 1
        wmap = (3 * inside - 2 * ring) / (w * h)
        for c in range(NC):
            kernel[:, :, c, k, c] = wmap
    boxes = np.stack(
        [
            (cand[:, 0] + cand[:, 2] / 2) * CELL,
            (cand[:, 1] + cand[:, 3] / 2) * CELL,
            cand[:, 2] * CELL,
            cand[:, 3] * CELL,
        ],
        axis=1,
    ).astype(np.float32)
    return kernel.reshape(GRID * GRID * NC, n * NC), boxes


def build_keras(layout: str, normalized: bool):
    """Keras model for ``layout`` in ``{"v8", "v8t", "v5"}`` (v8 = channels-first).

    Input: RGB float in [0, 1] (pixel / 255), as Ultralytics models take it."""
    import keras
    from keras import layers, ops

    kernel, boxes = head_weights()
    n = boxes.shape[0]
    if normalized:
        boxes = boxes / SIZE
    inp = keras.Input((SIZE, SIZE, 3), batch_size=1)
    mix = np.full((1, 1, 3, 3), -1.0, np.float32) + 2 * np.eye(3, dtype=np.float32)[None, None]
    x = layers.Conv2D(
        3, 1, use_bias=False, kernel_initializer=keras.initializers.Constant(mix), activation="relu"
    )(inp)
    x = layers.AveragePooling2D(CELL)(x)
    x = layers.Flatten()(x)
    scores = layers.Dense(n * NC, kernel_initializer=keras.initializers.Constant(kernel))(x)
    scores = layers.ReLU(max_value=1.0)(scores)
    scores = layers.Reshape((n, NC))(scores)
    const = boxes[None]

    def assemble(s):
        b = ops.broadcast_to(ops.convert_to_tensor(const), (1, n, 4))
        parts = [b]
        if layout == "v5":
            obj = ops.minimum(ops.sum(s, axis=-1, keepdims=True), 1.0)
            parts.append(obj)
        parts.append(s)
        out = ops.concatenate(parts, axis=-1)
        return ops.transpose(out, (0, 2, 1)) if layout == "v8" else out

    out = layers.Lambda(assemble)(scores)
    return keras.Model(inp, out)


def draw(objects: list[tuple[int, tuple[int, int, int, int]]], size: tuple[int, int]) -> np.ndarray:
    """RGB uint8 image ``size=(width, height)``, black, with each ``(class, (x0, y0, x1, y1))``
    filled in pure red/green/blue."""
    w, h = size
    img = np.zeros((h, w, 3), np.uint8)
    for c, (x0, y0, x1, y1) in objects:
        img[y0:y1, x0:x1, c] = 255
    return img


def calibration(count: int = 24, seed: int = 0) -> np.ndarray:
    """Float32 ``(count, SIZE, SIZE, 3)`` images in [0, 1] (the model's input range, as
    Ultralytics models take it) with random grid-aligned objects."""
    rng = np.random.default_rng(seed)
    cand = candidates()
    out = np.zeros((count, SIZE, SIZE, 3), np.float32)
    for i in range(count):
        objs = []
        for _ in range(3):
            x, y, w, h = cand[rng.integers(len(cand))]
            objs.append((int(rng.integers(NC)), (x * CELL, y * CELL, (x + w) * CELL, (y + h) * CELL)))
        out[i] = draw(objs, (SIZE, SIZE))
        if i % 4 == 0:
            out[i, : SIZE // 8] = 114  # letterbox padding as the detector writes it
    return out / 255.0
