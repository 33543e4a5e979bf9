"""The main job on an embedded default: train, convert to int8, run on the device runtime.

No camera, network or hand-made file is needed: the data set is scikit-learn's handwritten
digits (1,797 8x8 images shipped inside the package), upscaled to 32x32 grayscale PNGs.

Steps: write the images to a work folder (train / held-back), train a small Keras CNN on the
training part (float), convert it to full-integer int8 with calibration on training images,
embed labels and preprocessing as standard TFLite Metadata, then classify every held-back PNG
with edge_sdk's on-device runtime (which reads the metadata, so it needs no flags), and
compare accuracy, size and latency of the float and int8 models.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from devices.sources import open_source
from edge_sdk.metadata import ColorSpace
from edge_sdk.model import Model
from edge_sdk.tasks.classify import Classifier

from .files import atomic_write
from .metadata_writer import write_metadata
from .quantize_keras import QuantizeOptions, float_tflite_from_keras, quantize_keras
from .tf_models import tensorflow_log

SIZE = 32
LABELS = [str(i) for i in range(10)]


@dataclass(frozen=True)
class DemoSummary:
    """Figures of one demo run. Accuracies are top-1 fractions on the held-back images."""

    train_images: int
    heldback_images: int
    float_accuracy: float
    int8_accuracy: float
    float_bytes: int
    int8_bytes: int
    float_invoke_ms: float
    int8_invoke_ms: float
    train_s: float
    convert_s: float
    model_path: str
    camera_frame: str = ""
    camera_float_fps: float = 0.0
    camera_int8_fps: float = 0.0


def digits_dataset(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """scikit-learn's digits as 32x32 uint8 grayscale images: ``(x_train, y_train, x_test, y_test)``."""
    # lazy: OpenCV/scikit-learn, only for the demo data
    import cv2
    from sklearn.datasets import load_digits

    d = load_digits()
    imgs = np.stack(
        [
            cv2.resize((x * (255.0 / 16.0)).astype(np.float32), (SIZE, SIZE), interpolation=cv2.INTER_LINEAR)
            for x in d.images
        ]
    )
    imgs = np.clip(np.rint(imgs), 0, 255).astype(np.uint8)
    idx = np.random.default_rng(seed).permutation(len(d.target))
    n_train = int(len(idx) * 0.8)
    tr, te = idx[:n_train], idx[n_train:]
    return imgs[tr], d.target[tr], imgs[te], d.target[te]


def write_images(folder: Path, images: np.ndarray, labels: np.ndarray) -> list[Path]:
    """Write images as PNG files named ``<index>_<label>.png``; returns the paths."""
    # lazy: OpenCV/scikit-learn, only for the demo data
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, (img, lab) in enumerate(zip(images, labels, strict=True)):
        p = folder / f"{i:04d}_{int(lab)}.png"
        cv2.imwrite(str(p), img)
        paths.append(p)
    return paths


def train_digits_cnn(x: np.ndarray, y: np.ndarray, epochs: int = 8, seed: int = 0) -> Any:
    """A small CNN on ``(N, 32, 32)`` uint8 images; it takes raw 0..255 pixels (Rescaling inside)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    # lazy: TensorFlow/ONNX tooling (heavy), loaded only when converting
    import keras

    keras.utils.set_random_seed(seed)
    inp = keras.Input((SIZE, SIZE, 1), name="image")
    h = keras.layers.Rescaling(1 / 255.0)(inp)
    h = keras.layers.Conv2D(16, 3, activation="relu", padding="same")(h)
    h = keras.layers.MaxPooling2D()(h)
    h = keras.layers.Conv2D(32, 3, activation="relu", padding="same")(h)
    h = keras.layers.MaxPooling2D()(h)
    h = keras.layers.Flatten()(h)
    h = keras.layers.Dense(64, activation="relu")(h)
    out = keras.layers.Dense(10, activation="softmax", name="digit")(h)
    model = keras.Model(inp, out)
    model.compile(keras.optimizers.Adam(2e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x[..., None].astype(np.float32), y, epochs=epochs, batch_size=32, verbose=0)
    return model


CAMERA_FRAME = (640, 480)
TINY_MODEL_NOTE = (
    "a 32x32 model is too small to gain from int8: an invoke costs a fixed few microseconds and the "
    "quantize/requantize steps weigh as much as the little arithmetic saved; int8 pays where "
    "convolutions dominate (MobileNetV2 at 224: 2x faster, python bench/convert.py)"
)


def _paired_classify_fps(a: Path, b: Path, frame: np.ndarray, runs: int = 40) -> tuple[float, float]:
    """Frames per second of ``Classifier.classify(frame)`` for two models, timed alternately."""
    from edge_sdk.tasks.classify import (
        Classifier,  # lazy: keeps the demo module importable without the runtime's task stack
    )

    clfs = [Classifier(a, top_k=1), Classifier(b, top_k=1)]
    for c in clfs:
        c.classify(frame)
    times: list[list[float]] = [[], []]
    for _ in range(runs):
        for c, acc in zip(clfs, times, strict=True):
            t = time.perf_counter()
            c.classify(frame)
            acc.append(time.perf_counter() - t)
    return 1.0 / statistics.median(times[0]), 1.0 / statistics.median(times[1])


def _paired_invoke_ms(a: Path, b: Path, runs: int = 40) -> tuple[float, float]:
    """Median invoke (ms) of two models, timed alternately so load weighs on both alike."""

    models = [Model(a), Model(b)]
    for m in models:
        m.set_input(np.zeros(m.input.shape, m.input.dtype))
        m.invoke()
    times: list[list[float]] = [[], []]
    for _ in range(runs):
        for m, acc in zip(models, times, strict=True):
            t = time.perf_counter()
            m.invoke()
            acc.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times[0]), statistics.median(times[1])


def run_demo(
    workdir: Path, *, show: int = 10, out: TextIO = sys.stdout, log: TextIO = sys.stderr
) -> DemoSummary:
    """Run the whole chain in ``workdir``; JSON lines for ``show`` held-back images go to ``out``."""

    def say(msg: str) -> None:
        print(f"demo: {msg}", file=log, flush=True)

    x_tr, y_tr, x_te, y_te = digits_dataset()
    write_images(workdir / "heldback", x_te, y_te)
    say(
        f"{len(x_tr)} training and {len(x_te)} held-back 32x32 digit images (scikit-learn digits) in {workdir}"
    )

    tf_log = workdir / "tensorflow.log"
    t0 = time.perf_counter()
    with tensorflow_log(tf_log):
        keras_model = train_digits_cnn(x_tr, y_tr)
        probs = keras_model.predict(x_te[..., None].astype(np.float32), verbose=0)
    train_s = time.perf_counter() - t0
    float_acc = float(np.mean(probs.argmax(1) == y_te))
    say(
        f"trained a float CNN in {train_s:.1f} s: held-back accuracy {float_acc:.2%} (TensorFlow's log: {tf_log})"
    )

    t0 = time.perf_counter()
    with tensorflow_log(tf_log):
        float_bytes = float_tflite_from_keras(keras_model)
        calib = x_tr[:200, :, :, None].astype(np.float32)
        int8 = quantize_keras(keras_model, calib, QuantizeOptions())
    int8 = write_metadata(
        int8, task="classification", labels=LABELS, mean=(0.0,), std=(1.0,), color=ColorSpace.GRAYSCALE
    )
    convert_s = time.perf_counter() - t0
    float_path = atomic_write(workdir / "digits_float.tflite", float_bytes)
    int8_path = atomic_write(workdir / "digits_int8.tflite", int8)
    say(
        f"converted to full-integer int8 with labels and preprocessing embedded in {convert_s:.1f} s: {int8_path}"
    )

    clf = Classifier(int8_path, top_k=1)
    correct = 0
    total = 0
    with open_source(str(workdir / "heldback")) as src:
        for frame in src:
            result = clf.classify(frame.image)
            truth = int(Path(frame.source).stem.split("_")[1])
            top = result.top
            correct += int(top is not None and top.id == truth)
            if total < show:
                record = {
                    "source": frame.source,
                    "frame": frame.index,
                    "classes": result.as_dicts(),
                    "truth": truth,
                    "timing_ms": clf.last_timing.as_dict(),
                }
                print(json.dumps(record), file=out, flush=True)
            total += 1
    int8_acc = correct / max(total, 1)

    # What a camera user sees: a 640x480 frame in, a class out (resize included).
    import cv2  # lazy: OpenCV only for the demo's frame

    w, h = CAMERA_FRAME
    frame = cv2.cvtColor(cv2.resize(x_te[0], (w, h), interpolation=cv2.INTER_LINEAR), cv2.COLOR_GRAY2RGB)
    cam_f_fps, cam_i_fps = _paired_classify_fps(float_path, int8_path, frame)
    tiny_f_ms, tiny_i_ms = _paired_invoke_ms(float_path, int8_path, runs=50)
    summary = DemoSummary(
        train_images=len(x_tr),
        heldback_images=total,
        float_accuracy=float_acc,
        int8_accuracy=int8_acc,
        float_bytes=len(float_bytes),
        int8_bytes=len(int8),
        float_invoke_ms=tiny_f_ms,
        int8_invoke_ms=tiny_i_ms,
        train_s=train_s,
        convert_s=convert_s,
        model_path=str(int8_path),
        camera_frame=f"{w}x{h}",
        camera_float_fps=cam_f_fps,
        camera_int8_fps=cam_i_fps,
    )
    return summary


def format_summary(s: DemoSummary) -> str:
    """One screen of text: accuracy, size and latency, float vs int8."""
    rows = [
        ("", "float32", "int8", "int8 / float"),
        (
            "top-1 accuracy (held-back)",
            f"{s.float_accuracy:.2%}",
            f"{s.int8_accuracy:.2%}",
            f"{(s.int8_accuracy - s.float_accuracy) * 100:+.2f} pt",
        ),
        (
            "model size",
            f"{s.float_bytes / 1024:.1f} KiB",
            f"{s.int8_bytes / 1024:.1f} KiB",
            f"{s.int8_bytes / s.float_bytes:.2f}x",
        ),
        (
            f"classify a {s.camera_frame} frame",
            f"{s.camera_float_fps:.0f} fps",
            f"{s.camera_int8_fps:.0f} fps",
            f"{s.camera_int8_fps / s.camera_float_fps:.2f}x",
        ),
        (
            "invoke alone, median",
            f"{s.float_invoke_ms:.3f} ms",
            f"{s.int8_invoke_ms:.3f} ms",
            f"{s.float_invoke_ms / s.int8_invoke_ms:.2f}x faster",
        ),
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["", "edge-sdk demo: handwritten digits, trained here, run on the device runtime", ""]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    lines += [
        "",
        f"note: {TINY_MODEL_NOTE}",
        f"{s.heldback_images} held-back images classified by edge_sdk (labels read from the model's metadata)",
        f"training {s.train_s:.1f} s on {s.train_images} images, conversion {s.convert_s:.1f} s",
        f"int8 model: {s.model_path}",
        f"try: edge-sdk info {s.model_path}",
    ]
    return "\n".join(lines)


def summary_dict(s: DemoSummary) -> dict[str, Any]:
    return asdict(s)
