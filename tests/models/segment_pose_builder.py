"""Small segmentation and pose models whose right answers are known, for the task tests.

Segmentation (trained for seconds): 64x64 RGB scenes of grey noise with red-ish discs
(class 1) and blue-ish squares (class 2); a three-layer fully convolutional net learns the
per-pixel class. Variants of the same trained weights give every output form: softmax
probabilities, raw logits, and the argmax inside the model (int32 or int64).

Scan (trained for seconds): 1-channel 16-bit 64x64 "scans" with one bright Gaussian blob on
noise; the foreground (the blob above half its peak) is a sigmoid probability ``[1, 64, 64, 1]``.

Pose (constructed, not trained): the input shows one white dot on black; the model finds the
dot's centroid (normalized ``cx, cy``) and places keypoint ``k`` at ``centroid + OFFSETS[k]``
with score ``SCORES[k]``, in the exact MoveNet layouts: single ``[1, 1, 17, 3]`` of
``(y, x, score)``, multi ``[1, 6, 56]`` (pose 0 real with a box and score 0.9, poses 1..5
constants scoring 0.05), and a YOLO pose head ``[1, 56, N]`` (Ultralytics layout, normalized).
"""

from __future__ import annotations

import os

import cv2
import numpy as np

SIZE = 64
NK = 17
rng0 = np.random.default_rng(0)
OFFSETS = rng0.uniform(-0.15, 0.15, (NK, 2)).astype(np.float32)  # (dx, dy), normalized
OFFSETS[0] = 0.0  # keypoint 0 (nose) is the dot itself
SCORES = np.linspace(0.3, 0.95, NK).astype(np.float32)
DISC, SQUARE = (220, 70, 60), (60, 80, 220)


def _full_range(x: np.ndarray) -> np.ndarray:
    """Calibration images plus one 0..255 ramp, so the uint8 input's quantization is the
    identity (scale 1, zero point 0) and raw pixels can be fed as they are."""
    ramp = np.broadcast_to(np.linspace(0, 255, x.shape[2], dtype=np.float32)[None, :, None], x.shape[1:])
    return np.concatenate([x, ramp[None]], axis=0)


def _tf() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def scene(rng: np.random.Generator, width: int = SIZE, height: int = SIZE) -> tuple[np.ndarray, np.ndarray]:
    """An RGB uint8 scene and its class mask (0 noise, 1 disc, 2 square), any size."""
    img = rng.integers(0, 120, (height, width, 3), dtype=np.uint8)
    mask = np.zeros((height, width), np.uint8)
    side = min(width, height)
    for _ in range(int(rng.integers(1, 3))):
        cls = int(rng.integers(1, 3))
        r = int(rng.integers(side // 7, side // 4))
        cx, cy = int(rng.integers(r, width - r)), int(rng.integers(r, height - r))
        m = np.zeros_like(mask)
        if cls == 1:
            cv2.circle(m, (cx, cy), r, 1, -1)
        else:
            cv2.rectangle(m, (cx - r, cy - r), (cx + r, cy + r), 1, -1)
        colour = np.array(DISC if cls == 1 else SQUARE, np.int16)
        noise = rng.integers(-25, 25, (height, width, 3))
        img[m == 1] = np.clip(colour + noise[m == 1], 0, 255).astype(np.uint8)
        mask[m == 1] = cls
    return img, mask


def train_segmenter(seconds_epochs: int = 6):
    """The trained Keras probability model (softmax ``[1, 64, 64, 3]``), input RGB 0..255."""
    _tf()
    import keras
    from keras import layers

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(1)
    data = [scene(rng) for _ in range(256)]
    x = np.stack([d[0] for d in data]).astype(np.float32)
    y = np.stack([d[1] for d in data]).astype(np.int64)
    inp = keras.Input((SIZE, SIZE, 3), batch_size=1)
    h = layers.Rescaling(1 / 255.0)(inp)
    h = layers.Conv2D(12, 3, padding="same", activation="relu")(h)
    h = layers.Conv2D(12, 3, padding="same", activation="relu")(h)
    logits = layers.Conv2D(3, 1, name="logits")(h)
    train = keras.Model(inp, layers.Softmax()(logits))
    train.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy")
    train.fit(x, y, epochs=seconds_epochs, batch_size=16, verbose=0)
    return train, _full_range(x[:64])


def segment_variants(train):
    """Keras models of every per-class output form, sharing the trained weights:
    ``probs`` (softmax), ``logits``, ``argmax32`` and ``argmax64`` (class ids in the model)."""
    import keras
    import tensorflow as tf

    inp = train.input
    logits = train.get_layer("logits").output
    out = {
        "probs": train,
        "logits": keras.Model(inp, logits),
        "argmax32": keras.Model(
            inp, keras.layers.Lambda(lambda t: tf.argmax(t, -1, output_type=tf.int32))(logits)
        ),
        "argmax64": keras.Model(inp, keras.layers.Lambda(lambda t: tf.argmax(t, -1))(logits)),
    }
    return out


def scan(rng: np.random.Generator, width: int = SIZE, height: int = SIZE) -> tuple[np.ndarray, np.ndarray]:
    """A 16-bit one-channel scan with a bright blob, and its mask (blob above half its peak)."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    side = min(width, height)
    s = float(rng.uniform(side / 9, side / 6))
    cx, cy = rng.uniform(2 * s, width - 2 * s), rng.uniform(2 * s, height - 2 * s)
    blob = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * s * s))
    noise = rng.uniform(0, 0.06, (height, width))
    img = np.clip((0.1 + 0.8 * blob + noise) * 50000, 0, 65535).astype(np.uint16)
    return img, (blob >= 0.5).astype(np.uint8)


def train_scan():
    """The trained Keras foreground model: input gray ``[1, 64, 64, 1]`` 0..255 (the uint8 view
    of the 16-bit scan), output sigmoid ``[1, 64, 64, 1]``."""
    _tf()
    import keras
    from keras import layers

    from edge_sdk.image import to_uint8

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(2)
    data = [scan(rng) for _ in range(256)]
    x = np.stack([to_uint8(d[0]) for d in data]).astype(np.float32)[..., None]
    y = np.stack([d[1] for d in data]).astype(np.float32)[..., None]
    inp = keras.Input((SIZE, SIZE, 1), batch_size=1)
    h = layers.Rescaling(1 / 255.0)(inp)
    h = layers.Conv2D(8, 3, padding="same", activation="relu")(h)
    h = layers.Conv2D(8, 3, padding="same", activation="relu")(h)
    out = layers.Conv2D(1, 1, activation="sigmoid")(h)
    model = keras.Model(inp, out)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="binary_crossentropy")
    model.fit(x, y, epochs=12, batch_size=16, verbose=0)
    return model, _full_range(x[:64])


def _centroid(inp):
    """Normalized ``(cx, cy)`` of the white pixels of an RGB 0..255 input, shape ``(1, 2)``."""
    from keras import ops

    gray = ops.mean(inp, axis=-1)  # (1, H, W)
    m = ops.relu(gray - 128.0)
    total = ops.sum(m, axis=(1, 2)) + 1e-3
    grid = (np.arange(SIZE, dtype=np.float32) + 0.5) / SIZE
    cx = ops.sum(m * grid[None, None, :], axis=(1, 2)) / total
    cy = ops.sum(m * grid[None, :, None], axis=(1, 2)) / total
    return ops.stack([cx, cy], axis=-1)


def dot_image(width: int, height: int, x: float, y: float) -> np.ndarray:
    """Black RGB image with a white dot of radius 3 centred at source pixel ``(x, y)``
    (drawn with 4-bit sub-pixel precision)."""
    img = np.zeros((height, width, 3), np.uint8)
    cv2.circle(img, (round(x * 16), round(y * 16)), 3 * 16, (255, 255, 255), -1, cv2.LINE_AA, shift=4)
    return img


def build_pose(layout: str):
    """Keras pose model: ``single``, ``multi`` or ``yolo`` (channels-first ``[1, 56, N]``,
    input pixel / 255 as Ultralytics trains)."""
    _tf()
    import keras
    from keras import layers, ops

    inp = keras.Input((SIZE, SIZE, 3), batch_size=1)
    # MoveNet takes raw 0..255 pixels; Ultralytics models take pixel / 255
    c = layers.Lambda(_centroid)(layers.Rescaling(255.0)(inp) if layout == "yolo" else inp)  # (1, 2) cx, cy

    def keypoints(c):
        xy = c[:, None, :] + OFFSETS[None]  # (1, K, 2) x, y
        return xy

    if layout == "single":

        def f(c):
            xy = keypoints(c)
            yxs = ops.concatenate(
                [xy[..., 1:2], xy[..., 0:1], ops.ones_like(xy[..., :1]) * SCORES[None, :, None]], -1
            )
            return ops.reshape(yxs, (1, 1, NK, 3))

        return keras.Model(inp, layers.Lambda(f)(c))
    if layout == "multi":

        def g(c):
            xy = keypoints(c)
            yxs = ops.concatenate(
                [xy[..., 1:2], xy[..., 0:1], ops.ones_like(xy[..., :1]) * SCORES[None, :, None]], -1
            )
            first = ops.reshape(yxs, (1, NK * 3))
            box = ops.stack([c[:, 1] - 0.2, c[:, 0] - 0.1, c[:, 1] + 0.2, c[:, 0] + 0.1], axis=-1)
            pose0 = ops.concatenate([first, box, ops.ones_like(box[:, :1]) * 0.9], -1)[:, None, :]
            rest = np.full((1, 5, NK * 3 + 5), 0.05, np.float32)
            return ops.concatenate([pose0, ops.convert_to_tensor(rest) + 0.0 * pose0[:, :1, :1]], axis=1)

        return keras.Model(inp, layers.Lambda(g)(c))

    # YOLO pose: 64 candidates; 0: the real pose (score 0.9), 1: a near duplicate (0.8, NMS
    # removes it), 2..63: weak (0.01). Box 0.2 x 0.4 around the centroid, normalized.
    def y(c):
        xy = keypoints(c)  # (1, K, 2)
        kp = ops.concatenate([xy, ops.ones_like(xy[..., :1]) * SCORES[None, :, None]], -1)
        kp = ops.reshape(kp, (1, NK * 3))
        box = ops.stack([c[:, 0], c[:, 1], c[:, 0] * 0 + 0.2, c[:, 0] * 0 + 0.4], axis=-1)
        cols = []
        for k, s in enumerate((0.9, 0.8, *([0.01] * 62))):
            shift = 0.005 if k == 1 else 0.0
            cols.append(ops.concatenate([box + shift, ops.ones_like(box[:, :1]) * s, kp], -1))
        return ops.stack(cols, axis=-1)  # (1, 56, 64)

    return keras.Model(inp, layers.Lambda(y)(c))
