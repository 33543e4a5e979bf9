"""``convert()``: trained float model + the user's images -> int8 .tflite, report, Edge TPU model.

Steps, one function each here, the work in its own module; each fills one or more
sections of the typed :class:`~converters.report.ConversionReport`:

1. ``_load_source``: detect the input format from the file (``formats``) and load it
   (``tf_models`` for Keras/SavedModel/ONNX, bytes for a float .tflite); decide the
   preprocessing (``calibration.ImageSpec``): flags first, then the model's own metadata,
   then its input shape;
2. ``_calibrate``: sample and prepare the calibration images (``calibration``);
3. ``_check_float_model``: the float model gives finite outputs on them (NaN stops the
   run) and as many classes as labels;
4. ``_quantize``: TensorFlow's converter (``quantize_keras``: Keras/SavedModel/ONNX,
   normalization folded in) or ai-edge-quantizer (``quantize_tflite``: a float .tflite);
   set the input/output types (``interface``); refuse float ops unless allowed (``ops``);
5. ``_with_metadata``: embed task, labels and preprocessing (``metadata_writer``);
6. ``_measure``: fidelity, accuracy and latency, float vs int8 (``measure``), and the Edge
   TPU pre-check (``edgetpu_precheck``);
7. ``_compile_edgetpu``: run the Edge TPU compiler when asked (``edgetpu``);
8. ``_write_outputs``: write every output through a temporary file and a rename, and only
   at the end: a failed or interrupted run leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge_sdk.errors import LabelsError, OptionsError
from edge_sdk.labels import LabelMap
from edge_sdk.metadata import ColorSpace
from edge_sdk.model import Model
from edge_sdk.preprocess import ResizeMode, image_layout

from . import measure
from .calibration import CalibrationOptions, ImageSet, ImageSpec, load_calibration, load_labelled
from .edgetpu import CompileResult, compile_model, find_compiler
from .edgetpu_precheck import precheck
from .errors import ConversionError, NonFiniteOutputError, UnsupportedOpsError
from .files import atomic_write
from .formats import ModelFormat, detect_format
from .interface import IOType, PixelQuant, pixel_quant, set_interface
from .metadata_writer import write_metadata
from .ops import OpInfo, float_ops, op_table, read_ops
from .quantize_keras import QuantizeOptions
from .report import (
    Accuracy,
    CalibrationSection,
    ConversionReport,
    EdgeTpuSection,
    FidelitySection,
    LatencySection,
    ModelSection,
    OpsSection,
    PreprocessingSection,
    SizeSection,
    TimingSection,
    markdown,
)
from .workdir import clean_stale, work_folder

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
    """The written files and the report.

    ``details`` is the typed report; ``report`` its JSON (what ``--report`` writes).
    """

    output: Path
    edgetpu_output: Path | None
    details: ConversionReport

    @property
    def report(self) -> dict[str, Any]:
        """The report as JSON-ready data (:meth:`ConversionReport.to_json`)."""
        return self.details.to_json()


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


def private_copy(model: Path, workdir: Path) -> Path:
    """Copy the input model (a file, or a SavedModel folder) into ``workdir``; return the copy.

    Every converter reads the copy, never the user's file: onnx2tf's simplifier saves over its
    input, even when the conversion then fails, and other tools may do the same.

    Raises:
        ConversionError: the model cannot be read or copied.
    """
    dest = workdir / "input" / (model.name or "model")
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        if model.is_dir():
            shutil.copytree(model, dest, symlinks=False)
        else:
            shutil.copyfile(model, dest)
    except FileNotFoundError:
        raise ConversionError(f"model {model} does not exist") from None
    except (OSError, shutil.Error) as exc:
        raise ConversionError(f"cannot read model {model}: {exc}") from exc
    return dest


def _load_source(opts: ConvertOptions, workdir: Path) -> _Source:
    fmt = detect_format(opts.model)  # reads only; refuses a folder that is not a SavedModel
    copy = private_copy(Path(opts.model), workdir)
    try:
        return _load_copy(opts, fmt, copy, workdir)
    except ConversionError as exc:
        text = str(exc)
        if str(copy) in text:  # name the user's file, not the private copy
            with contextlib.suppress(Exception):
                exc.args = (text.replace(str(copy), str(opts.model)), *exc.args[1:])
        raise


def _load_copy(opts: ConvertOptions, fmt: ModelFormat, copy: Path, workdir: Path) -> _Source:
    if fmt is ModelFormat.TFLITE:
        data = copy.read_bytes()
        model = Model(copy)
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
    from .quantize_keras import (
        float_tflite_from_keras,
    )  # lazy: TensorFlow/ONNX tooling (heavy), loaded only when converting
    from .tf_models import (  # lazy: TensorFlow (heavy)
        fold_normalization,
        image_input_shape,
        load_keras,
        onnx_to_saved_model,
        quiet_stdout,
    )

    path: Path = copy
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


def _input_feed(src: _Source) -> measure.Feed:
    """The normalization both the float and the int8 model take (the int8 one records it in
    its metadata): none when it was folded into the graph, else the model's mean/std."""
    return measure.Feed((0.0,), (1.0,)) if src.folded else measure.Feed(src.spec.mean, src.spec.std)


def _check_finite(float_model: Model, feed: measure.Feed, images: np.ndarray, source: str) -> None:
    outs = measure.run_all(float_model, feed, images[: min(len(images), 16)])
    for i, o in enumerate(outs):
        bad = ~np.isfinite(o)
        if bad.any():
            n = int(bad.any(axis=1).sum())
            raise NonFiniteOutputError(
                f"the float model {source} produces NaN or infinite values in output {i} "
                f"({float_model.outputs[i].name}) for {n} of {o.shape[0]} calibration images; "
                "expected finite outputs (check the model and its --mean/--std)"
            )


def _run_quantizer(src: _Source, calib: ImageSet, opts: ConvertOptions) -> bytes:
    try:
        if src.folded:
            from .quantize_keras import quantize_keras  # lazy: TensorFlow (heavy)
            from .tf_models import quiet_stdout  # lazy: TensorFlow (heavy)

            with quiet_stdout():
                return quantize_keras(
                    src.keras,
                    calib.images.astype(np.float32),
                    QuantizeOptions(IOType.INT8, IOType.INT8, allow_float_ops=opts.allow_float_ops),
                )
        from .quantize_tflite import quantize_tflite  # lazy: ai-edge-quantizer (heavy)

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


def _calibrate(opts: ConvertOptions, src: _Source) -> ImageSet:
    """Step 2: sample and prepare the calibration images as the model expects them."""
    return load_calibration(
        opts.calibration,
        src.spec,
        CalibrationOptions(opts.calibration_size, opts.seed, opts.min_calibration, opts.progress),
    )


def _check_float_model(
    opts: ConvertOptions,
    float_model: Model,
    src: _Source,
    calib: ImageSet,
    labels: tuple[str, ...] | None,
) -> None:
    """Step 3: the float model gives finite outputs, and as many classes as there are labels.

    Raises:
        NonFiniteOutputError, LabelsError.
    """
    _check_finite(float_model, _input_feed(src), calib.images, str(opts.model))
    if labels is not None and (opts.task or src.task) in (None, "classification"):
        n = int(np.prod(float_model.outputs[0].shape))
        if len(labels) != n:
            raise LabelsError(f"{len(labels)} labels given but output 0 has {n} classes")


@dataclass(frozen=True)
class _Quantized:
    """Step 4's result: the int8 model with the asked I/O types, its ops, and the time it took."""

    model: bytes
    ops: list[OpInfo]
    float_ops: list[str]
    seconds: float


def _quantize(opts: ConvertOptions, src: _Source, calib: ImageSet) -> _Quantized:
    """Step 4: quantize, set the input/output types, refuse float ops unless allowed.

    Raises:
        UnsupportedOpsError, ConversionError.
    """
    t0 = time.perf_counter()
    int8 = _run_quantizer(src, calib, opts)
    input_quant: PixelQuant | None = (
        PixelQuant(1.0, 0) if src.folded else pixel_quant(src.spec.mean, src.spec.std)
    )
    if input_quant is None and opts.input_type is not IOType.FLOAT32:
        raise ConversionError(
            f"normalization mean {src.spec.mean} std {src.spec.std} cannot be expressed as a "
            f"{opts.input_type.value} input quantization (per-channel, or mean outside 0..255); "
            "use --input-type float32"
        )
    int8 = set_interface(int8, opts.input_type, _output_type(opts), input_quant)
    seconds = time.perf_counter() - t0
    ops = read_ops(int8)
    floats = float_ops(ops)
    if floats and not opts.allow_float_ops:
        raise UnsupportedOpsError(
            f"{opts.model}: op(s) {', '.join(floats)} could not be quantized and would run in float; "
            "expected every op in int8 (pass --allow-float-ops to accept float fallbacks)",
            floats,
        )
    return _Quantized(int8, ops, floats, seconds)


def _output_type(opts: ConvertOptions) -> IOType:
    return opts.output_type or opts.input_type


def _task(opts: ConvertOptions, src: _Source, labels: tuple[str, ...] | None, ops: list[OpInfo]) -> str:
    """The task to record: ``--task``, else the source's metadata, else classification when
    labels are known or the graph ends in SOFTMAX, else ``unknown``."""
    task = opts.task or src.task or ("classification" if labels else None)
    if task is None:
        task = "classification" if "SOFTMAX" in {o.name for o in ops} else "unknown"
    return task


def _with_metadata(
    src: _Source, int8: bytes, task: str, labels: tuple[str, ...] | None, float_model: Model
) -> bytes:
    """Step 5: embed task, labels and preprocessing as standard TFLite Metadata."""
    feed = _input_feed(src)
    return write_metadata(
        int8,
        task=task,
        labels=list(labels) if labels else None,
        mean=feed.mean,
        std=feed.std,
        color=src.spec.color,
        resize=src.spec.resize.value,
        num_outputs=len(float_model.outputs),
    )


def _measure(
    opts: ConvertOptions,
    src: _Source,
    labels: tuple[str, ...] | None,
    calib: ImageSet,
    float_model: Model,
    int8_model: Model,
) -> tuple[FidelitySection, Accuracy | None, LatencySection]:
    """Step 6: run both models on the validation images (else the calibration images) and
    compare outputs, top-1 accuracy (labelled validation only) and latency."""
    val: ImageSet | None = None
    if opts.validation:
        val = load_labelled(opts.validation, src.spec, labels, progress=opts.progress)
    eval_images = val.images if val is not None else calib.images
    feed_f = feed_q = _input_feed(src)
    out_f = measure.run_all(float_model, feed_f, eval_images)
    out_q = measure.run_all(int8_model, feed_q, eval_images)
    names = [t.name for t in int8_model.outputs]
    accuracy = None
    if val is not None and val.labels is not None:
        accuracy = measure.accuracy(out_f[0], out_q[0], val.labels)
    lat_f, lat_q = measure.latency_pair(
        float_model, feed_f, int8_model, feed_q, eval_images[0], opts.latency_runs
    )
    fidelity = FidelitySection(
        "validation" if val is not None else "calibration",
        len(eval_images),
        tuple(measure.fidelity(out_f, out_q, names)),
    )
    latency = LatencySection(opts.latency_runs, int_threads(int8_model), lat_f, lat_q)
    return fidelity, accuracy, latency


def _compile_edgetpu(opts: ConvertOptions, final: bytes, work: Path) -> CompileResult | None:
    """Step 7 (with ``--edgetpu``): run the Edge TPU compiler on the int8 model, in ``work``."""
    if not opts.edgetpu:
        return None
    staged = work / opts.output.name
    staged.write_bytes(final)
    return compile_model(staged, work / "edgetpu")


def _edgetpu_paths(opts: ConvertOptions, compiled: CompileResult | None) -> tuple[Path | None, Path | None]:
    """Where the Edge TPU model and the compiler's log go (None: not written)."""
    if compiled is None:
        return None, None
    out = opts.output.with_name(opts.output.stem + "_edgetpu.tflite")
    return out, (out.with_suffix(".log") if compiled.log is not None else None)


def _write_outputs(
    opts: ConvertOptions, final: bytes, compiled: CompileResult | None, report: ConversionReport
) -> None:
    """Step 8: write every output, each through a temporary file and a rename; on any error
    remove those already written, so a failed run leaves nothing behind."""
    tpu_out, tpu_log = _edgetpu_paths(opts, compiled)
    written: list[Path] = []
    try:
        written.append(atomic_write(opts.output, final))
        if compiled is not None and tpu_out is not None:
            written.append(atomic_write(tpu_out, compiled.output.read_bytes()))
            if compiled.log is not None and tpu_log is not None:
                written.append(atomic_write(tpu_log, compiled.log.read_bytes()))
        if opts.report is not None:
            data = report.to_json()
            text = json.dumps(data, indent=1, sort_keys=False).encode()
            written.append(atomic_write(opts.report, text))
            written.append(atomic_write(opts.report.with_suffix(".md"), markdown(data).encode()))
    except BaseException:
        for p in written:
            p.unlink(missing_ok=True)
        raise


def convert(opts: ConvertOptions) -> ConversionResult:
    """Convert, quantize, measure and write; see the module docstring for the steps.

    Raises:
        UnknownFormatError, CalibrationError, NonFiniteOutputError, UnsupportedOpsError,
        EdgeTpuCompilerNotFoundError, EdgeTpuCompilerError, ConversionError, OptionsError,
        MissingDependencyError, LabelsError: each with a one-line message; nothing is
        written then.
    """
    t_start = time.perf_counter()
    outputs = {Path(opts.output).parent} | ({Path(opts.report).parent} if opts.report else set())
    clean_stale(output_folders=tuple(sorted(outputs)))  # what killed conversions left behind
    if opts.edgetpu:
        find_compiler()  # fail before the slow part when there is no compiler
    with work_folder() as work:
        src = _load_source(opts, work)
        labels = _labels(opts, src)
        calib = _calibrate(opts, src)
        float_model = Model(src.float_bytes)
        _check_float_model(opts, float_model, src, calib, labels)
        quantized = _quantize(opts, src, calib)
        task = _task(opts, src, labels, quantized.ops)
        final = _with_metadata(src, quantized.model, task, labels, float_model)
        fidelity, accuracy, latency = _measure(opts, src, labels, calib, float_model, Model(final))
        pre = precheck(final)
        compiled = _compile_edgetpu(opts, final, work)
        tpu_out, tpu_log = _edgetpu_paths(opts, compiled)
        report = ConversionReport(
            model=ModelSection(
                input=str(opts.model),
                format=src.fmt,
                output=str(opts.output),
                edgetpu_output=str(tpu_out) if tpu_out else None,
                input_type=opts.input_type,
                output_type=_output_type(opts),
                task=task,
                labels=len(labels) if labels else 0,
            ),
            preprocessing=PreprocessingSection(src.spec, src.folded),
            calibration=CalibrationSection(
                str(opts.calibration), len(calib), len(calib.skipped), opts.seed, opts.calibration_size
            ),
            size=SizeSection(len(src.float_bytes), len(final)),
            ops=OpsSection(tuple(op_table(quantized.ops)), tuple(quantized.float_ops)),
            fidelity=fidelity,
            accuracy=accuracy,
            latency_ms=latency,
            edgetpu=EdgeTpuSection(
                pre, compiled, str(tpu_out) if tpu_out else None, str(tpu_log) if tpu_log else None
            ),
            timing_s=TimingSection(quantized.seconds, time.perf_counter() - t_start),
        )
        _write_outputs(opts, final, compiled, report)
    return ConversionResult(opts.output, tpu_out, report)


def int_threads(model: Model) -> int:
    """The CPU threads a Model runs with."""
    return int(getattr(model.accelerator, "threads", None) or os.cpu_count() or 1)
