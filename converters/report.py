"""The deployment report: what int8 conversion cost, measured, and what will run on an Edge TPU.

Figures (all computed here, on this machine):

- size: bytes of the float and the int8 ``.tflite``;
- ops: type, count and whether each computes in int8 or float (``converters.ops``);
- fidelity, per output: cosine similarity (mean and minimum over images) and maximum
  absolute error between the float and the int8 model's dequantized outputs;
- accuracy on a labelled folder: top-1 of each model (argmax of output 0) and how often
  the two agree, in percent;
- latency: median milliseconds of ``invoke()`` over N runs, float vs int8 measured
  alternately, both through :class:`edge_sdk.model.Model` on the CPU;
- the Edge TPU pre-check, and the compiler's own report when it ran.

``as JSON`` is the contract (``--report``); :func:`summary` is the text for stderr and
:func:`markdown` a page for people.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from edge_sdk.model import Model
from edge_sdk.preprocess import image_layout

from .calibration import ImageSpec


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
) -> list[dict[str, Any]]:
    """Per output: cosine similarity (mean, min over images) and max absolute error."""
    rows = []
    for i, (a, b) in enumerate(zip(float_out, int8_out, strict=True)):
        a64, b64 = a.astype(np.float64), b.astype(np.float64)
        na, nb = np.linalg.norm(a64, axis=1), np.linalg.norm(b64, axis=1)
        cos = (a64 * b64).sum(axis=1) / np.maximum(na * nb, 1e-12)
        rows.append(
            {
                "index": i,
                "name": names[i],
                "cosine_mean": float(cos.mean()),
                "cosine_min": float(cos.min()),
                "max_abs_error": float(np.abs(a64 - b64).max()),
            }
        )
    return rows


def accuracy(float_out: np.ndarray, int8_out: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """Top-1 accuracy (percent) of both models on output 0, their agreement, and the drop in points."""
    pf = float_out.argmax(axis=1)
    pq = int8_out.argmax(axis=1)
    top1_f = float((pf == labels).mean() * 100.0)
    top1_q = float((pq == labels).mean() * 100.0)
    return {
        "images": int(labels.size),
        "top1_float": top1_f,
        "top1_int8": top1_q,
        "agreement": float((pf == pq).mean() * 100.0),
        "drop_points": top1_f - top1_q,
    }


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


def _fmt_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def summary(report: dict[str, Any]) -> str:
    """A readable multi-line summary of ``report`` (for stderr)."""
    size = report["size"]
    lines = [
        f"converted {report['model']['input']} -> {report['model']['output']}",
        f"  size      float {_fmt_bytes(size['float_bytes'])} -> int8 {_fmt_bytes(size['int8_bytes'])} "
        f"({size['ratio']:.2f}x smaller)",
    ]
    cal = report["calibration"]
    lines.append(f"  calibration  {cal['images']} images ({cal['skipped']} skipped), seed {cal['seed']}")
    ops = report["ops"]
    lines.append(
        f"  ops       {sum(r['count'] for r in ops['table'])} ops; float ops: {', '.join(ops['float_ops']) or 'none'}"
    )
    for f in report["fidelity"]["outputs"]:
        lines.append(
            f"  output {f['index']} {f['name']}: cosine mean {f['cosine_mean']:.4f} (min {f['cosine_min']:.4f}), "
            f"max abs error {f['max_abs_error']:.4g} on {report['fidelity']['images']} {report['fidelity']['set']} images"
        )
    acc = report.get("accuracy")
    if acc:
        lines.append(
            f"  accuracy  top-1 float {acc['top1_float']:.2f}% int8 {acc['top1_int8']:.2f}% "
            f"(drop {acc['drop_points']:.2f} pt), agreement {acc['agreement']:.2f}% on {acc['images']} images"
        )
    lat = report["latency_ms"]
    lines.append(
        f"  latency   float {lat['float_median']:.3f} ms, int8 {lat['int8_median']:.3f} ms "
        f"({lat['speedup']:.2f}x), median of {lat['runs']} runs, {lat['threads']} threads"
    )
    tpu = report["edgetpu"]
    pre = tpu["precheck"]
    first = pre["first_unsupported"]
    lines.append(
        f"  edge tpu  pre-check: {pre['ops_mapped']}/{pre['ops_total']} ops predicted on the TPU"
        + (f"; first unsupported: {first['op']} ({first['reason']})" if first else "")
    )
    comp = tpu.get("compiler")
    if comp:
        lines.append(
            f"  edge tpu  compiler {comp['compiler_version']}: {comp['ops_on_tpu']} ops on the TPU, "
            f"{comp['ops_on_cpu']} on the CPU, {comp['subgraphs']} subgraph(s), on-chip "
            f"{_fmt_bytes(comp['on_chip_memory_bytes'] or 0)}, off-chip {_fmt_bytes(comp['off_chip_memory_bytes'] or 0)}"
            f" -> {comp['output']}"
        )
        if tpu.get("precheck_matches_compiler") is False:
            lines.append(
                f"  edge tpu  the pre-check predicted {pre['ops_mapped']} ops on the TPU, the compiler mapped "
                f"{comp['ops_on_tpu']}: the compiler's figures are the ones that count"
            )
    return "\n".join(lines)


def _bar(value: float, top: float, width: int = 30) -> str:
    n = 0 if top <= 0 else round(width * value / top)
    return "█" * n


def markdown(report: dict[str, Any]) -> str:
    """A Markdown page: the summary, bar charts of size and latency, and the op table."""
    size = report["size"]
    lat = report["latency_ms"]
    top_s = max(size["float_bytes"], size["int8_bytes"])
    top_l = max(lat["float_median"], lat["int8_median"])
    out = [
        f"# Deployment report: {report['model']['output']}",
        "",
        "```",
        summary(report),
        "```",
        "",
        "## Size and latency",
        "",
        "| | float | int8 |",
        "|---|---|---|",
        f"| size | `{_bar(size['float_bytes'], top_s)}` {_fmt_bytes(size['float_bytes'])} "
        f"| `{_bar(size['int8_bytes'], top_s)}` {_fmt_bytes(size['int8_bytes'])} |",
        f"| latency (median) | `{_bar(lat['float_median'], top_l)}` {lat['float_median']:.3f} ms "
        f"| `{_bar(lat['int8_median'], top_l)}` {lat['int8_median']:.3f} ms |",
        "",
        "## Ops",
        "",
        "| op | count | computes in |",
        "|---|---|---|",
    ]
    out += [f"| {r['op']} | {r['count']} | {r['precision']} |" for r in report["ops"]["table"]]
    out += ["", "## Edge TPU pre-check", "", "| op | count | predicted |", "|---|---|---|"]
    out += [f"| {r['op']} | {r['count']} | {r['status']} |" for r in report["edgetpu"]["precheck"]["table"]]
    comp = report["edgetpu"].get("compiler")
    if comp:
        out += ["", "## edgetpu_compiler", "", "| op | count | status |", "|---|---|---|"]
        out += [f"| {r['op']} | {r['count']} | {r['status']} |" for r in comp["operations"]]
    return "\n".join(out) + "\n"
