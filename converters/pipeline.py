"""``convert()``: trained float model + the user's images -> int8 .tflite, report, Edge TPU model.

Steps, each in its own module:

1. detect the input format from the file (``formats``) and load it (``tf_models`` for
   Keras/SavedModel/ONNX, bytes for a float .tflite);
2. decide the preprocessing (``calibration.ImageSpec``): flags first, then the model's own
   metadata, then its input shape; sample and prepare the calibration images;
3. check the float model gives finite outputs on them (NaN stops the run);
4. quantize: TensorFlow's converter (Keras/SavedModel/ONNX, normalization folded in) or
   ai-edge-quantizer (.tflite); set the input/output types (``interface``);
5. refuse float ops unless allowed (``ops``); embed metadata (``metadata_writer``);
6. measure (``report``), pre-check for the Edge TPU (``edgetpu_precheck``) and compile
   (``edgetpu``) when asked;
7. write every output through a temporary file and a rename, and only at the end: a failed
   or interrupted run leaves nothing behind.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge_sdk.errors import OptionsError
from edge_sdk.labels import LabelMap
from edge_sdk.metadata import ColorSpace
from edge_sdk.model import Model
from edge_sdk.preprocess import ResizeMode, image_layout

from . import report as rpt
from .calibration import CalibrationOptions, ImageSet, ImageSpec, load_calibration, load_labelled
from .edgetpu import CompileResult, compile_model, find_compiler
from .edgetpu_precheck import precheck
from .errors import ConversionError, NonFiniteOutputError, UnsupportedOpsError
from .formats import ModelFormat, detect_format
from .interface import PixelQuant, pixel_quant, set_interface
from .metadata_writer import write_metadata
from .ops import float_ops, op_table, read_ops
from .quantize import IOType, QuantizeOptions, atomic_write

log = logging.getLogger(__name__)

_TASKS = ("classification", "detection", "face_detection", "embedding", "unknown")


@dataclass(frozen=True)
class ConvertOptions:
    """Everything ``edge-sdk convert`` takes. Paths are files/folders; ``size`` is ``(width, height)``.

    ``mean``/``std``/``color``/``resize``/``size`` default to the model's metadata, then to
    raw RGB pixels stretched to the input size. ``output_type`` defaults to ``input_type``.
    """

    model: Path
    calibration: str
    output: Path
    validation: str | None = None
    labels: str | None = None
    input_type: IOType = IOType.UINT8
    output_type: IOType | None = None
    edgetpu: bool = False
    report: Path | None = None
    allow_float_ops: bool = False
    calibration_size: int = 200
    min_calibration: int = 8
    seed: int = 0
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    color: ColorSpace | None = None
    resize: ResizeMode | None = None
    size: tuple[int, int] | None = None
    task: str | None = None
    latency_runs: int = 30
    progress: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.input_type, IOType):
            raise OptionsError(f"input_type must be an IOType, got {self.input_type!r}")
        if self.output_type is not None and not isinstance(self.output_type, IOType):
            raise OptionsError(f"output_type must be an IOType, got {self.output_type!r}")
        if (self.mean is None) != (self.std is None):
            raise OptionsError("give --mean and --std together")
        if self.task is not None and self.task not in _TASKS:
            raise OptionsError(f"task must be one of {', '.join(_TASKS)}, got {self.task!r}")
        if self.latency_runs < 1 or self.calibration_size < 1 or self.min_calibration < 1:
            raise OptionsError("latency runs, calibration size and minimum must be >= 1")
        if self.output.suffix != ".tflite":
            raise OptionsError(f"output must end in .tflite, got {self.output}")
        if Path(self.model).resolve() == Path(self.output).resolve():
            raise OptionsError("output must differ from the input model")


@dataclass(frozen=True)
class ConversionResult:
    """The written files and the report (``report`` is the JSON written by ``--report``)."""

    output: Path
    edgetpu_output: Path | None
    report: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Source:
    """The float model, ready to quantize."""

    fmt: ModelFormat
    float_bytes: bytes
    spec: ImageSpec
    folded: bool  # normalization folded into the graph: the converted model takes raw pixels
    keras: Any = None
    labels: tuple[str, ...] | None = None
    task: str | None = None
    channels_first: bool = False  # the float .tflite takes NCHW [1, C, H, W]


_OP_PATTERNS = (
    re.compile(r"'tf\.(\w+)' op is neither a custom op nor a flex op"),
    re.compile(r"TF Select ops: ([\w, ]+)"),
    re.compile(r"[Qq]uantization (?:is )?not (?:yet )?supported for op:? '?(\w+)'?"),
    re.compile(r"'tfl\.(\w+)' op .*(?:quantiz|int8)"),
)


def _unsupported_from(exc: BaseException) -> list[str]:
    text = str(exc) + " " + str(exc.__cause__ or "")
    found: list[str] = []
    for pat in _OP_PATTERNS:
        for m in pat.findall(text):
            found += [s.strip() for s in m.split(",") if s.strip()]
    return sorted(set(found))


def _spec_from(opts: ConvertOptions, shape: tuple[Any, ...], meta: Any | None) -> ImageSpec:
    h, w, c = shape
    if opts.size is not None:
        w, h = opts.size
    if not h or not w:
        raise OptionsError("the model's input size is dynamic; give it with --size WIDTHxHEIGHT")
    mean, std = opts.mean, opts.std
    if mean is None and meta is not None and meta.normalization is not None:
        mean, std = meta.normalization.mean, meta.normalization.std
    if mean is None and meta is not None and meta.family_normalization is not None:
        mean, std = meta.family_normalization.mean, meta.family_normalization.std  # Ultralytics: [0, 1]
    color = opts.color
    if color is None and meta is not None and meta.color_space is not ColorSpace.UNKNOWN:
        color = meta.color_space
    resize = opts.resize
    if resize is None and meta is not None and meta.resize:
        resize = ResizeMode(meta.resize)
    if c == 1:
        color = ColorSpace.GRAYSCALE
    return ImageSpec(
        (int(w), int(h)),
        int(c),
        color or ColorSpace.RGB,
        resize or ResizeMode.STRETCH,
        tuple(mean) if mean is not None else (0.0,),
        tuple(std) if std is not None else (1.0,),
    )


def _load_source(opts: ConvertOptions, workdir: Path) -> _Source:
    fmt = detect_format(opts.model)
    if fmt is ModelFormat.TFLITE:
        data = Path(opts.model).read_bytes()
        model = Model(opts.model)
        spec_t = model.input
        layout = image_layout(spec_t.shape)
        if len(model.all_inputs) != 1 or layout is None:
            raise ConversionError(
                f"expected one image input [1, H, W, 1 or 3] (NHWC) or [1, 1 or 3, H, W] (NCHW), found "
                f"{[list(t.shape) for t in model.all_inputs]}"
            )
        if spec_t.dtype != np.float32:
            raise ConversionError(
                f"{opts.model} is already quantized (input {spec_t.dtype.name}); expected a float32 model"
            )
        meta = model.metadata
        spec = _spec_from(opts, layout[:3], meta)
        labels = tuple(meta.labels.labels[i] for i in sorted(meta.labels.labels)) if meta.labels else None
        return _Source(fmt, data, spec, folded=False, labels=labels, task=meta.task, channels_first=layout[3])
    from .quantize import float_tflite_from_keras
    from .tf_models import (
        fold_normalization,
        image_input_shape,
        load_keras,
        onnx_to_saved_model,
        quiet_stdout,
    )

    path: Path = Path(opts.model)
    load_fmt = fmt
    if fmt is ModelFormat.ONNX:
        path = onnx_to_saved_model(path, workdir, opts.size)
        load_fmt = ModelFormat.SAVED_MODEL
    keras_model = load_keras(path, load_fmt)
    spec = _spec_from(opts, image_input_shape(keras_model), None)
    wrapped = fold_normalization(keras_model, spec)
    try:
        with quiet_stdout():
            float_bytes = float_tflite_from_keras(wrapped)
    except ConversionError as exc:
        _reraise_unsupported(exc, opts.model)
        raise
    return _Source(fmt, float_bytes, spec, folded=True, keras=wrapped)


def _float_feed(src: _Source) -> rpt.Feed:
    return rpt.Feed((0.0,), (1.0,)) if src.folded else rpt.Feed(src.spec.mean, src.spec.std)


def _check_finite(float_model: Model, feed: rpt.Feed, images: np.ndarray, source: str) -> None:
    outs = rpt.run_all(float_model, feed, images[: min(len(images), 16)])
    for i, o in enumerate(outs):
        bad = ~np.isfinite(o)
        if bad.any():
            n = int(bad.any(axis=1).sum())
            raise NonFiniteOutputError(
                f"the float model {source} produces NaN or infinite values in output {i} "
                f"({float_model.outputs[i].name}) for {n} of {o.shape[0]} calibration images; "
                "expected finite outputs (check the model and its --mean/--std)"
            )


def _quantize(src: _Source, calib: ImageSet, opts: ConvertOptions) -> bytes:
    try:
        if src.folded:
            from .quantize import quantize_keras
            from .tf_models import quiet_stdout

            with quiet_stdout():
                return quantize_keras(
                    src.keras,
                    calib.images.astype(np.float32),
                    QuantizeOptions(IOType.INT8, IOType.INT8, allow_float_ops=opts.allow_float_ops),
                )
        from .tflite_quantize import quantize_tflite

        x = src.spec.normalize(calib.images)
        if src.channels_first:
            x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
        return quantize_tflite(src.float_bytes, x)
    except ConversionError as exc:
        _reraise_unsupported(exc, opts.model)
        raise


def _reraise_unsupported(exc: ConversionError, model: Path) -> None:
    """Turn a converter error that names ops into :class:`UnsupportedOpsError`."""
    ops = _unsupported_from(exc)
    if ops:
        raise UnsupportedOpsError(
            f"{model}: op(s) {', '.join(ops)} cannot be converted to int8 TFLite builtins "
            "(replace them in the model, or pass --allow-float-ops to keep quantizable ones in float)",
            ops,
        ) from exc


def _labels(opts: ConvertOptions, src: _Source) -> tuple[str, ...] | None:
    if opts.labels:
        lm = LabelMap.from_file(opts.labels)
        return tuple(lm.labels.get(i, str(i)) for i in range(lm.max_id + 1))
    return src.labels


def convert(opts: ConvertOptions) -> ConversionResult:
    """Convert, quantize, measure and write; see the module docstring.

    Raises:
        UnknownFormatError, CalibrationError, NonFiniteOutputError, UnsupportedOpsError,
        EdgeTpuCompilerNotFoundError, EdgeTpuCompilerError, ConversionError, OptionsError,
        MissingDependencyError, LabelsError: each with a one-line message; nothing is
        written then.
    """
    t_start = time.perf_counter()
    if opts.edgetpu:
        find_compiler()  # fail before the slow part when there is no compiler
    out_type = opts.output_type or opts.input_type
    with tempfile.TemporaryDirectory(prefix="edge_sdk_convert_") as tmp:
        work = Path(tmp)
        src = _load_source(opts, work)
        labels = _labels(opts, src)
        calib = load_calibration(
            opts.calibration,
            src.spec,
            CalibrationOptions(opts.calibration_size, opts.seed, opts.min_calibration, opts.progress),
        )
        float_model = Model(src.float_bytes)
        feed_f = _float_feed(src)
        _check_finite(float_model, feed_f, calib.images, str(opts.model))
        if labels is not None and (opts.task or src.task) in (None, "classification"):
            n = int(np.prod(float_model.outputs[0].shape))
            if len(labels) != n:
                from edge_sdk.errors import LabelsError

                raise LabelsError(f"{len(labels)} labels given but output 0 has {n} classes")
        t_q = time.perf_counter()
        int8 = _quantize(src, calib, opts)
        input_quant: PixelQuant | None = (
            PixelQuant(1.0, 0) if src.folded else pixel_quant(src.spec.mean, src.spec.std)
        )
        if input_quant is None and opts.input_type is not IOType.FLOAT32:
            raise ConversionError(
                f"normalization mean {src.spec.mean} std {src.spec.std} cannot be expressed as a "
                f"{opts.input_type.value} input quantization (per-channel, or mean outside 0..255); "
                "use --input-type float32"
            )
        int8 = set_interface(int8, opts.input_type, out_type, input_quant)
        quantize_s = time.perf_counter() - t_q
        ops = read_ops(int8)
        floats = float_ops(ops)
        if floats and not opts.allow_float_ops:
            raise UnsupportedOpsError(
                f"{opts.model}: op(s) {', '.join(floats)} could not be quantized and would run in float; "
                "expected every op in int8 (pass --allow-float-ops to accept float fallbacks)",
                floats,
            )
        task = opts.task or src.task or ("classification" if labels else None)
        if task is None:
            task = "classification" if "SOFTMAX" in {o.name for o in ops} else "unknown"
        md_mean, md_std = ((0.0,), (1.0,)) if src.folded else (src.spec.mean, src.spec.std)
        md_kwargs: dict[str, Any] = {
            "task": task,
            "labels": list(labels) if labels else None,
            "mean": md_mean,
            "std": md_std,
            "color": src.spec.color,
            "resize": src.spec.resize.value,
            "num_outputs": len(float_model.outputs),
        }
        final = write_metadata(int8, **md_kwargs)
        int8_model = Model(final)

        # Measurements.
        val: ImageSet | None = None
        if opts.validation:
            val = load_labelled(opts.validation, src.spec, labels, progress=opts.progress)
        eval_images = val.images if val is not None else calib.images
        feed_q = rpt.Feed(md_mean, md_std)
        out_f = rpt.run_all(float_model, feed_f, eval_images)
        out_q = rpt.run_all(int8_model, feed_q, eval_images)
        names = [t.name for t in int8_model.outputs]
        accuracy = None
        if val is not None and val.labels is not None:
            accuracy = rpt.accuracy(out_f[0], out_q[0], val.labels)
        lat_f, lat_q = rpt.latency_pair(
            float_model, feed_f, int8_model, feed_q, eval_images[0], opts.latency_runs
        )
        pre = precheck(final)

        compiled: CompileResult | None = None
        if opts.edgetpu:
            staged = work / opts.output.name
            staged.write_bytes(final)
            compiled = compile_model(staged, work / "edgetpu")

        edgetpu_out = opts.output.with_name(opts.output.stem + "_edgetpu.tflite") if compiled else None
        report: dict[str, Any] = {
            "model": {
                "input": str(opts.model),
                "format": src.fmt.value,
                "output": str(opts.output),
                "edgetpu_output": str(edgetpu_out) if edgetpu_out else None,
                "input_type": opts.input_type.value,
                "output_type": out_type.value,
                "task": task,
                "labels": len(labels) if labels else 0,
            },
            "preprocessing": {
                "size": list(src.spec.size),
                "channels": src.spec.channels,
                "color": src.spec.color.value,
                "resize": src.spec.resize.value,
                "mean": list(src.spec.mean),
                "std": list(src.spec.std),
                "normalization_in_graph": src.folded,
            },
            "calibration": {
                "source": str(opts.calibration),
                "images": len(calib),
                "skipped": len(calib.skipped),
                "seed": opts.seed,
                "size": opts.calibration_size,
            },
            "size": {
                "float_bytes": len(src.float_bytes),
                "int8_bytes": len(final),
                "ratio": len(src.float_bytes) / len(final),
            },
            "ops": {"table": [r.as_dict() for r in op_table(ops)], "float_ops": floats},
            "fidelity": {
                "set": "validation" if val is not None else "calibration",
                "images": len(eval_images),
                "outputs": rpt.fidelity(out_f, out_q, names),
            },
            "accuracy": accuracy,
            "latency_ms": {
                "runs": opts.latency_runs,
                "threads": int_threads(int8_model),
                "float_median": lat_f,
                "int8_median": lat_q,
                "speedup": lat_f / lat_q if lat_q > 0 else None,
            },
            "edgetpu": {
                "precheck": pre.as_dict(),
                "compiler": compiled.as_dict() if compiled else None,
                "precheck_matches_compiler": _matches(pre.mapped, compiled),
            },
            "timing_s": {"quantize": quantize_s, "total": time.perf_counter() - t_start},
        }

        # Everything succeeded: write the outputs, each through a temporary file and a rename.
        written: list[Path] = []
        try:
            written.append(atomic_write(opts.output, final))
            if compiled is not None and edgetpu_out is not None:
                written.append(atomic_write(edgetpu_out, compiled.output.read_bytes()))
                if compiled.log is not None:
                    log_out = edgetpu_out.with_suffix(".log")
                    written.append(atomic_write(log_out, compiled.log.read_bytes()))
                    report["edgetpu"]["compiler"]["log"] = str(log_out)
                report["edgetpu"]["compiler"]["output"] = str(edgetpu_out)
            if opts.report is not None:
                text = json.dumps(report, indent=1, sort_keys=False).encode()
                written.append(atomic_write(opts.report, text))
                written.append(atomic_write(opts.report.with_suffix(".md"), rpt.markdown(report).encode()))
        except BaseException:
            for p in written:
                p.unlink(missing_ok=True)
            raise
    return ConversionResult(opts.output, edgetpu_out, report)


def _matches(predicted_mapped: int, compiled: CompileResult | None) -> bool | None:
    """Whether the pre-check predicted as many ops on the TPU as the compiler mapped (None
    when the compiler did not run)."""
    if compiled is None:
        return None
    r = compiled.report
    mapped = r.ops_on_tpu if r.ops_on_tpu is not None else r.mapped_ops
    return mapped == predicted_mapped


def int_threads(model: Model) -> int:
    """The CPU threads a Model runs with."""
    return int(getattr(model.accelerator, "threads", None) or os.cpu_count() or 1)
