"""Shared helpers of the converter tests: a small CNN trained on scikit-learn's digits.

The digits (8x8, 0..16) are upscaled to 32x32 grayscale PNGs written to per-class folders;
the model takes them as RGB (32, 32, 3), the layout MediaPipe Tasks' ImageClassifier accepts.
The model is built once per pytest session (``functools.cache`` keyed on pytest's base temp
folder) and shared by every converter test module.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

SIZE = 32


@dataclass(frozen=True)
class Digits:
    """The trained model and its data folders."""

    keras_path: Path
    calibration: Path  # training images (flat folder)
    validation: Path  # held-back images, one sub-folder per class
    labels: Path
    val_images: np.ndarray  # (N, 32, 32) uint8, as written
    val_labels: np.ndarray
    float_accuracy: float  # Keras top-1 on the held-back images, percent


def _to_image(d: np.ndarray) -> np.ndarray:
    img = np.clip(d / 16.0 * 255.0, 0, 255).astype(np.uint8)
    return cv2.resize(img, (SIZE, SIZE), interpolation=cv2.INTER_LINEAR)


@functools.cache
def build_digits(root: Path) -> Digits:
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    from sklearn.datasets import load_digits

    root = root / "digits"
    data = load_digits()
    images = np.stack([_to_image(d) for d in data.images])
    y = data.target.astype(np.int64)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(y))
    train, val = order[:1300], order[1300:]
    cal_dir, val_dir = root / "calibration", root / "validation"
    cal_dir.mkdir(parents=True)
    for i in train[:300]:
        cv2.imwrite(str(cal_dir / f"{i:04d}.png"), images[i])
    for i in val:
        d = val_dir / str(y[i])
        d.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(d / f"{i:04d}.png"), images[i])
    labels = root / "labels.txt"
    labels.write_text("".join(f"{k}\n" for k in range(10)))

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((SIZE, SIZE, 3)),
            keras.layers.Conv2D(16, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(32, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy")
    x = np.repeat(images[..., None], 3, axis=3).astype(np.float32) / 255.0
    model.fit(x[train], y[train], epochs=8, batch_size=32, verbose=0)
    pred = model.predict(x[val], verbose=0).argmax(axis=1)
    path = root / "digits.keras"
    model.save(path)
    return Digits(path, cal_dir, val_dir, labels, images[val], y[val], float((pred == y[val]).mean() * 100.0))
