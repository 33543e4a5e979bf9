"""Measuring a conversion: run the float and the int8 model on the same images, compare.

- fidelity, per output: cosine similarity (mean and minimum over images) and maximum
  absolute error between the float and the int8 model's dequantized outputs;
- accuracy on a labelled folder: top-1 of each model (argmax of output 0) and how often
  the two agree, in percent;
- latency: median milliseconds of ``invoke()`` over N runs, float vs int8 measured
  alternately, both through :class:`edge_sdk.model.Model` on the CPU.

The results are the typed sections of :class:`converters.report.ConversionReport`.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import numpy as np

from edge_sdk.model import Model
from edge_sdk.preprocess import image_layout

from .calibration import ImageSpec
from .report import Accuracy, OutputFidelity


@dataclass(frozen=True)
class Feed:
    """How pixels become one model's input: normalization for float inputs; integer inputs
    take raw pixels (uint8) or ``pixel - 128`` (int8), as their quantization is set to."""

    mean: tuple[float, ...]
    std: tuple[float, ...]

    def tensor(self, model: Model, pixels: np.ndarray) -> np.ndarray:
        """``(H, W, C)`` uint8 pixels -> the model's ``[1, H, W, C]`` (or NCHW) input array."""
        spec = model.input
        if spec.dtype == np.uint8:
            x: np.ndarray = pixels
        elif spec.dtype == np.int8:
            x = (pixels.astype(np.int16) - 128).astype(np.int8)
        else:
            norm = ImageSpec(
                (pixels.shape[1], pixels.shape[0]), pixels.shape[2], mean=self.mean, std=self.std
            )
            x = norm.normalize(pixels).astype(spec.dtype)
        layout = image_layout(spec.shape)
        if layout is not None and layout[3]:  # NCHW input
            x = x.transpose(2, 0, 1)
        return np.ascontiguousarray(x).reshape(spec.shape)


def run_all(model: Model, feed: Feed, images: np.ndarray) -> list[np.ndarray]:
    """Every output of ``model`` (dequantized, float32) for every image: ``[output](N, ...)``."""
    outs: list[list[np.ndarray]] = [[] for _ in model.outputs]
    for img in images:
        model.set_input(feed.tensor(model, img))
        model.invoke()
        for i in range(len(model.outputs)):
            outs[i].append(model.output_float(i).reshape(-1))
    return [np.stack(o) for o in outs]


def fidelity(
    float_out: list[np.ndarray], int8_out: list[np.ndarray], names: list[str]
) -> list[OutputFidelity]:
    """Per output: cosine similarity (mean, min over images) and max absolute error."""
    rows = []
    for i, (a, b) in enumerate(zip(float_out, int8_out, strict=True)):
        a64, b64 = a.astype(np.float64), b.astype(np.float64)
        na, nb = np.linalg.norm(a64, axis=1), np.linalg.norm(b64, axis=1)
        cos = (a64 * b64).sum(axis=1) / np.maximum(na * nb, 1e-12)
        rows.append(
            OutputFidelity(
                index=i,
                name=names[i],
                cosine_mean=float(cos.mean()),
                cosine_min=float(cos.min()),
                max_abs_error=float(np.abs(a64 - b64).max()),
            )
        )
    return rows


def accuracy(float_out: np.ndarray, int8_out: np.ndarray, labels: np.ndarray) -> Accuracy:
    """Top-1 accuracy (percent) of both models on output 0, their agreement, and the drop in points."""
    pf = float_out.argmax(axis=1)
    pq = int8_out.argmax(axis=1)
    top1_f = float((pf == labels).mean() * 100.0)
    top1_q = float((pq == labels).mean() * 100.0)
    return Accuracy(
        images=int(labels.size),
        top1_float=top1_f,
        top1_int8=top1_q,
        agreement=float((pf == pq).mean() * 100.0),
        drop_points=top1_f - top1_q,
    )


def latency_ms(model: Model, feed: Feed, image: np.ndarray, runs: int, warmup: int = 3) -> float:
    """Median milliseconds of ``invoke()`` over ``runs`` runs (after ``warmup``)."""
    model.set_input(feed.tensor(model, image))
    for _ in range(warmup):
        model.invoke()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        model.invoke()
        times.append((time.perf_counter() - t0) * 1e3)
    return float(statistics.median(times))


def latency_pair(
    a: Model, feed_a: Feed, b: Model, feed_b: Feed, image: np.ndarray, runs: int, warmup: int = 3
) -> tuple[float, float]:
    """Median ``invoke()`` milliseconds of two models, measured alternately (a, b, a, b ...)
    so that load from other processes weighs on both alike; the ratio is then stable on a
    busy machine."""
    a.set_input(feed_a.tensor(a, image))
    b.set_input(feed_b.tensor(b, image))
    for _ in range(warmup):
        a.invoke()
        b.invoke()
    ta: list[float] = []
    tb: list[float] = []
    for _ in range(runs):
        for model, times in ((a, ta), (b, tb)):
            t0 = time.perf_counter()
            model.invoke()
            times.append((time.perf_counter() - t0) * 1e3)
    return float(statistics.median(ta)), float(statistics.median(tb))
