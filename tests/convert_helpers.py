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


# -- a stand-in for edgetpu_compiler ---------------------------------------------------------------
# It takes the real command line (edgetpu_compiler -s -o OUT_DIR MODEL.tflite) and prints the real
# stdout format (coral.ai/docs/edgetpu/compiler), writes OUT_DIR/<stem>_edgetpu.tflite (a copy of
# $FAKE_EDGETPU_COMPILED, a real Edge TPU-compiled model) and the operation log beside it, in the
# format of ../shared/assets/edgetpu/edgetpu_compiler_sample.log. FAKE_EDGETPU_MODE=fail exits 1
# with the compiler's error text; =stub exits 0 but writes a 1 KB non-model (the Ultralytics bug).
FAKE_COMPILER = r"""#!{python}
import collections, os, pathlib, shutil, sys
args = sys.argv[1:]
if len(args) != 4 or args[0] != "-s" or args[1] != "-o":
    print("Usage: edgetpu_compiler [options] model...", file=sys.stderr)
    sys.exit(2)
out_dir, model = pathlib.Path(args[2]), pathlib.Path(args[3])
mode = os.environ.get("FAKE_EDGETPU_MODE", "ok")
print("Edge TPU Compiler version 16.0.384591198")
print("Started a compilation timeout timer of 180 seconds.")
if mode == "fail":
    print("ERROR: Attempting to use a delegate that only supports static-sized tensors with a graph that has dynamic-sized tensors.")
    print("Compilation failed: Model failed in Tflite interpreter. Please ensure model can be loaded/run in Tflite interpreter.")
    print("Compilation child process completed within timeout period.")
    print("Compilation failed! ")
    sys.exit(1)
import tflite
m = tflite.Model.GetRootAs(model.read_bytes(), 0)
names = {{v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}}
sg = m.Subgraphs(0)
counts = collections.Counter()
for i in range(sg.OperatorsLength()):
    oc = m.OperatorCodes(sg.Operators(i).OpcodeIndex())
    counts[names.get(max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode()), "CUSTOM")] += 1
stem = model.stem + "_edgetpu"
out = out_dir / (stem + ".tflite")
if mode == "stub":
    out.write_bytes(b"\0" * 1024)
else:
    shutil.copyfile(os.environ["FAKE_EDGETPU_COMPILED"], out)
table = ["Operator                       Count      Status", ""]
table += [f"{{op:<30}} {{n:<10}} Mapped to Edge TPU" for op, n in counts.items()]
(out_dir / (stem + ".log")).write_text(
    "Edge TPU Compiler version 16.0.384591198\n"
    f"Input: {{model}}\nOutput: {{out}}\n\n" + "\n".join(table) + "\n"
)
total = sum(counts.values())
print()
print("Model compiled successfully in 312 ms.")
print()
print(f"Input model: {{model}}")
print("Input size: 22.62KiB")
print(f"Output model: {{out}}")
print("Output size: 61.84KiB")
print("On-chip memory used for caching model parameters: 24.25KiB")
print("On-chip memory remaining for caching model parameters: 7.97MiB")
print("Off-chip memory used for streaming uncached model parameters: 0.00B")
print("Number of Edge TPU subgraphs: 1")
print(f"Total number of operations: {{total}}")
print(f"Operation log: {{out_dir / (stem + '.log')}}")
print()
print("See the operation log file for individual operation details.")
print("Compilation child process completed within timeout period.")
print("Compilation succeeded! ")
"""


def write_fake_compiler(folder: Path) -> Path:
    """Write the stand-in ``edgetpu_compiler`` into ``folder`` and return its path."""
    import stat
    import sys

    folder.mkdir(parents=True, exist_ok=True)
    exe = folder / "edgetpu_compiler"
    exe.write_text(FAKE_COMPILER.format(python=sys.executable))
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC | stat.S_IXGRP | stat.S_IXOTH)
    return exe
