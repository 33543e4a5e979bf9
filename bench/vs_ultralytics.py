"""edge_sdk ``Detector.detect`` vs Ultralytics' own ``predict`` on the same YOLOv8n .tflite files.

Ultralytics needs torch (GBs), so this bench runs in its own environment outside the repository,
never in CI and never as a dependency of edge_sdk::

    python -m venv /tmp/ulvenv
    /tmp/ulvenv/bin/pip install torch==2.13.0 ultralytics   # pip may settle on torch 2.14.1
    # the export below pip-installs Ultralytics' own export requirements (onnx2tf, tensorflow ...)
    PYTHONPATH=. /tmp/ulvenv/bin/python bench/vs_ultralytics.py --prepare /tmp/yolo_bench
    PYTHONPATH=. /tmp/ulvenv/bin/python bench/vs_ultralytics.py --models /tmp/yolo_bench

``--prepare DIR`` (no network beyond PyPI, so no pretrained weights): builds YOLOv8n from its
yaml, trains it for ``--epochs`` on a synthetic dataset of rectangles and ellipses (2 classes,
generated in DIR), and exports it with Ultralytics' own exporter to a float-I/O ``.tflite``
(``*_float32.tflite``) and a full-int8 one (``*_full_integer_quant.tflite``, int8 in and out),
calibrated on the same images.

The comparison runs both on the same images (synthetic validation frames at 1280x720 plus
the shared photos), checks the same detections (labels equal, IoU >= 0.9, scores within 0.03)
and times ``Detector.detect(rgb)`` against ``YOLO(file).predict(bgr)`` alternately, call by
call, each with its own pre- and post-processing (Ultralytics letterboxes to the model's size;
so does edge_sdk for YOLO). Goal: >= 1.5x Ultralytics' throughput on both files.

    python bench/vs_ultralytics.py --models DIR [--runs N] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
import zipfile
from pathlib import Path
from typing import Any

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
ASSETS = Path(os.environ.get("EDGE_SDK_ASSETS", ROOT.parent / "shared" / "assets"))
CLASSES = ("box", "ellipse")


def synth_image(
    rng: np.random.Generator, size: tuple[int, int]
) -> tuple[np.ndarray, list[tuple[int, float, float, float, float]]]:
    """A BGR frame with 1-4 filled shapes on a noisy background, and YOLO labels (cls, cx, cy, w, h)."""
    w, h = size
    img = rng.integers(0, 80, (h, w, 3), dtype=np.uint8)
    img = cv2.GaussianBlur(img, (0, 0), 3)
    labels = []
    for _ in range(int(rng.integers(1, 5))):
        cls = int(rng.integers(0, 2))
        bw, bh = int(rng.uniform(0.12, 0.35) * w), int(rng.uniform(0.12, 0.35) * h)
        x0, y0 = int(rng.uniform(0, w - bw)), int(rng.uniform(0, h - bh))
        color = tuple(int(c) for c in rng.integers(120, 256, 3))
        if cls == 0:
            cv2.rectangle(img, (x0, y0), (x0 + bw, y0 + bh), color, -1)
        else:
            cv2.ellipse(img, (x0 + bw // 2, y0 + bh // 2), (bw // 2, bh // 2), 0, 0, 360, color, -1)
        labels.append((cls, (x0 + bw / 2) / w, (y0 + bh / 2) / h, bw / w, bh / h))
    return img, labels


def make_dataset(root: Path, n_train: int, n_val: int, size: int) -> Path:
    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("val", n_val)):
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
        (root / "labels" / split).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            img, labels = synth_image(rng, (size, size))
            cv2.imwrite(str(root / "images" / split / f"{i:04d}.jpg"), img)
            (root / "labels" / split / f"{i:04d}.txt").write_text(
                "".join(f"{c} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}\n" for c, cx, cy, w, h in labels)
            )
    yaml = root / "shapes.yaml"
    yaml.write_text(
        f"path: {root}\ntrain: images/train\nval: images/val\nnames:\n"
        + "".join(f"  {i}: {n}\n" for i, n in enumerate(CLASSES))
    )
    return yaml


def prepare(out: Path, epochs: int, imgsz: int) -> None:
    from ultralytics import YOLO

    out.mkdir(parents=True, exist_ok=True)
    data = out / "data" / "shapes.yaml"
    if not data.exists():
        make_dataset(out / "data", 96, 16, imgsz)
    weights = out / "runs/train/weights/last.pt"
    if epochs > 0:
        # architecture only (no weights download), or go on from an earlier --prepare
        start = YOLO(str(weights)) if weights.exists() else YOLO("yolov8n.yaml")
        start.train(
            data=str(data),
            epochs=epochs,
            imgsz=imgsz,
            batch=16,
            workers=0,
            device="cpu",
            plots=False,
            amp=False,
            project=str(out / "runs"),
            name="train",
            exist_ok=True,
            verbose=False,
            val=False,
        )
    # Ultralytics' own exporter (8.4: format "tflite" is LiteRT through litert-torch): float,
    # then static int8 calibrated on the dataset's images. Each export also writes an NHWC twin.
    import ultralytics.utils.export.litert as ul_litert

    original = ul_litert.torch2litert
    ul_litert.torch2litert = _with_nhwc_twin(original)
    try:
        for kwargs in ({}, {"int8": True, "data": str(data)}):
            f = YOLO(str(weights)).export(format="tflite", imgsz=imgsz, **kwargs)
            print(f"exported {kwargs or 'float'} to {f}")
    finally:
        ul_litert.torch2litert = original


def _with_nhwc_twin(torch2litert: Any) -> Any:
    """Wrap Ultralytics' ``torch2litert`` so that each export also writes ``*_nhwc.tflite``.

    Ultralytics 8.4 exports NCHW inputs (litert-torch); its own LiteRT backend reads NHWC files
    too (it tells them apart by the input shape), and edge_sdk reads NHWC. The twin is the same
    fused model, the same coordinate normalization, the same ai-edge-quantizer recipe and the
    same calibration images, with the transpose folded into the graph's input.
    """
    import torch

    def export(model, im, file, quantize=None, calibration_dataset=None, metadata=None, prefix=""):  # type: ignore[no-untyped-def]
        out = torch2litert(model, im, file, quantize, calibration_dataset, metadata, prefix)
        import litert_torch
        from ultralytics.utils.export.engine import _NormalizeCoords

        meta = metadata or {}
        h, w = int(im.shape[2]), int(im.shape[3])
        inner = _NormalizeCoords(
            model, h, w, meta.get("task"), len(meta.get("names", {})), meta.get("kpt_shape")
        )

        class Nhwc(torch.nn.Module):
            def __init__(self, m: torch.nn.Module) -> None:
                super().__init__()
                self.m = m

            def forward(self, x: torch.Tensor) -> Any:
                return self.m(x.permute(0, 3, 1, 2))

        twin = Path(out).with_name(Path(out).stem + "_nhwc.tflite")
        litert_torch.convert(Nhwc(inner).eval(), (im.permute(0, 2, 3, 1).contiguous(),)).export(str(twin))
        if quantize == 8:
            from ai_edge_quantizer import qtyping, quantizer, recipe

            qt = quantizer.Quantizer(str(twin))
            qt.load_quantization_recipe(recipe.static_wi8_ai8())
            for op in (qtyping.TFLOperationName.INPUT, qtyping.TFLOperationName.OUTPUT):
                qt.update_quantization_recipe(
                    regex=".*", operation_name=op, algorithm_key=recipe.AlgorithmName.NO_QUANTIZE
                )
            samples = [
                {"args_0": (b["img"].cpu().float() / 255.0).permute(0, 2, 3, 1).contiguous().numpy()}
                for b in calibration_dataset
            ]
            qt.quantize(calibration_result=qt.calibrate({"serving_default": samples})).export_model(
                str(twin), overwrite=True
            )
        with zipfile.ZipFile(twin, "a", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("metadata.json", json.dumps(meta))
        print(f"NHWC twin: {twin}")
        return out

    return export


def iou(a: np.ndarray, b: np.ndarray) -> float:
    x0, y0 = np.maximum(a[:2], b[:2])
    x1, y1 = np.minimum(a[2:], b[2:])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    union = float(np.prod(a[2:] - a[:2]) + np.prod(b[2:] - b[:2]) - inter)
    return inter / union if union > 0 else 0.0


def same_detections(ours: Any, theirs: Any) -> tuple[bool, str]:
    """Labels equal, IoU >= 0.9, scores within 0.03, one to one (ours sorted by score)."""
    tb = theirs.boxes
    t_xyxy, t_cls, t_conf = tb.xyxy.numpy(), tb.cls.numpy().astype(int), tb.conf.numpy()
    if len(ours.xyxy) != len(t_xyxy):
        return False, f"{len(ours.xyxy)} vs {len(t_xyxy)} detections"
    used: set[int] = set()
    worst_iou, worst_ds = 1.0, 0.0
    for box, cls, score in zip(ours.xyxy, ours.class_ids, ours.scores, strict=True):
        cands = [(iou(box, t_xyxy[j]), j) for j in range(len(t_xyxy)) if j not in used and t_cls[j] == cls]
        if not cands:
            return False, f"no class-{cls} partner"
        best, j = max(cands)
        used.add(j)
        worst_iou, worst_ds = min(worst_iou, best), max(worst_ds, abs(float(score) - float(t_conf[j])))
    ok = worst_iou >= 0.9 and worst_ds <= 0.03
    return ok, f"{len(t_xyxy)} detections, lowest IoU {worst_iou:.3f}, largest score gap {worst_ds:.3f}"


def compare(models: Path, runs: int, conf: float) -> dict[str, Any]:
    from ultralytics import YOLO

    from edge_sdk.tasks.detect import Detector

    rng = np.random.default_rng(1)
    images = [synth_image(rng, (1280, 720))[0] for _ in range(3)]
    images.append(cv2.imread(str(ASSETS / "detection/cats_and_dogs.jpg")))
    from edge_sdk.errors import UnsupportedModelError

    weights = next(models.rglob("weights"))
    files = {"float": weights / "last.tflite", "int8 (static, float I/O)": weights / "last_int8.tflite"}
    out: dict[str, Any] = {"load_average": round(os.getloadavg()[0], 1), "rows": []}
    for kind, path in files.items():
        note = "Ultralytics' NCHW export"
        try:
            ours = Detector(path, threshold=conf, iou=0.7)
        except UnsupportedModelError as exc:  # NCHW input: edge_sdk before the model-zoo issue
            note = f"its NHWC twin (edge_sdk here refuses the NCHW file: {str(exc).split(';')[0]})"
            path = path.with_name(path.stem + "_nhwc.tflite")
            ours = Detector(path, threshold=conf, iou=0.7)
        theirs = YOLO(str(path), task="detect")
        imgsz = (
            int(ours.model.input.shape[1])
            if ours.model.input.shape[-1] == 3
            else int(ours.model.input.shape[2])
        )
        agree, details = [], []
        for bgr in images:
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            ok, why = same_detections(
                ours.detect(rgb), theirs.predict(bgr, imgsz=imgsz, conf=conf, iou=0.7, verbose=False)[0]
            )
            agree.append(ok)
            details.append(why)
        # Ultralytics runs LiteRT with NUM_THREADS (cores - 1); edge_sdk with every core by default.
        # Both are timed, and edge_sdk once more at Ultralytics' thread count.
        from ultralytics.utils import NUM_THREADS

        matched = Detector(path, threshold=conf, iou=0.7, num_threads=NUM_THREADS)
        frame = images[0]
        rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        for _ in range(3):
            ours.detect(rgb)
            matched.detect(rgb)
            theirs.predict(frame, imgsz=imgsz, conf=conf, iou=0.7, verbose=False)
        ta, tm, tb = [], [], []
        for _ in range(runs):
            t0 = time.perf_counter()
            ours.detect(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))  # both start from the BGR frame
            t1 = time.perf_counter()
            theirs.predict(frame, imgsz=imgsz, conf=conf, iou=0.7, verbose=False)
            t2 = time.perf_counter()
            matched.detect(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
            t3 = time.perf_counter()
            ta.append((t1 - t0) * 1e3)
            tb.append((t2 - t1) * 1e3)
            tm.append((t3 - t2) * 1e3)
        a, b, m = statistics.median(ta), statistics.median(tb), statistics.median(tm)
        inv = statistics.median(
            [matched.last_timing.invoke_ms for _ in range(min(runs, 10)) if matched.detect(rgb) is not None]
        )
        row = {
            "export": kind,
            "file": path.name,
            "file_note": note,
            "imgsz": imgsz,
            "same_detections": all(agree),
            "answers": details,
            "edge_sdk_ms": round(a, 2),
            "ultralytics_ms": round(b, 2),
            "throughput_ratio": round(b / a, 2),
            "ultralytics_threads": NUM_THREADS,
            "edge_sdk_matched_threads_ms": round(m, 2),
            "throughput_ratio_matched_threads": round(b / m, 2),
            "invoke_ms_matched_threads": round(inv, 2),
            "ceiling_ratio": round(b / inv, 2),
        }
        out["rows"].append(row)
    return out


def main(argv: list[str] | None = None) -> dict[str, Any] | None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prepare", type=Path, help="build, train and export the YOLOv8n files into this folder")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--imgsz", type=int, default=320)
    ap.add_argument("--models", type=Path, help="folder with the exported files (from --prepare)")
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument(
        "--conf",
        type=float,
        default=0.001,
        help="score threshold (low: the offline-trained weights score low)",
    )
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    if args.prepare:
        prepare(args.prepare, args.epochs, args.imgsz)
        return None
    if not args.models:
        ap.error("give --prepare DIR or --models DIR")
    res = compare(args.models, args.runs, args.conf)
    if args.json:
        print(json.dumps(res))
    else:
        for r in res["rows"]:
            print(
                f"{r['export']:<10} {r['file']} ({r['file_note']}, {r['imgsz']}x{r['imgsz']}): detections "
                f"{'agree' if r['same_detections'] else 'DIFFER'} ({'; '.join(r['answers'])})\n"
                f"  edge_sdk {r['edge_sdk_ms']:.2f} ms, Ultralytics {r['ultralytics_ms']:.2f} ms: "
                f"throughput x{r['throughput_ratio']:.2f} (goal >= 1.5); at Ultralytics' {r['ultralytics_threads']} "
                f"thread(s): edge_sdk {r['edge_sdk_matched_threads_ms']:.2f} ms, x{r['throughput_ratio_matched_threads']:.2f}; "
                f"invoke alone {r['invoke_ms_matched_threads']:.2f} ms (ceiling x{r['ceiling_ratio']:.2f})"
            )
    return res


if __name__ == "__main__":
    main()
