"""The deployment report: what int8 conversion cost, measured, and what will run on an Edge TPU.

:class:`ConversionReport` is the typed report that ``convert()`` fills step by step, one
section per step; :meth:`ConversionReport.to_json` gives the JSON written by ``--report``
and printed by ``--json`` (a contract: its keys are pinned in
``tests/unit/test_convert_units.py``). :func:`summary` renders that JSON as text for stderr
and :func:`markdown` as a page for people.

Sections (figures computed on this machine, see :mod:`converters.measure`):

- ``model``: input and output files, format, I/O types, task, number of labels;
- ``preprocessing``: what the converted model expects;
- ``calibration``: the images used;
- ``size``: bytes of the float and the int8 ``.tflite``;
- ``ops``: type, count and whether each computes in int8 or float (``converters.ops``);
- ``fidelity``: per output, float vs int8 cosine and maximum absolute error;
- ``accuracy``: on a labelled folder, top-1 of each model and their agreement;
- ``latency_ms``: median ``invoke()`` milliseconds, float vs int8;
- ``edgetpu``: the Edge TPU pre-check, and the compiler's own report when it ran;
- ``timing_s``: how long quantization and the whole conversion took.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from .calibration import ImageSpec
from .edgetpu import CompileResult
from .edgetpu_precheck import Precheck
from .formats import ModelFormat
from .interface import IOType
from .ops import OpRow


@dataclass(frozen=True)
class ModelSection:
    """The files and types of one conversion. Paths are as the user gave them."""

    input: str
    format: ModelFormat
    output: str
    edgetpu_output: str | None
    input_type: IOType
    output_type: IOType
    task: str
    labels: int  # how many labels (0: none)

    def to_json(self) -> dict[str, Any]:
        return {
            "input": self.input,
            "format": self.format.value,
            "output": self.output,
            "edgetpu_output": self.edgetpu_output,
            "input_type": self.input_type.value,
            "output_type": self.output_type.value,
            "task": self.task,
            "labels": self.labels,
        }


@dataclass(frozen=True)
class PreprocessingSection:
    """The preprocessing calibration used (``spec``), and whether its normalization was
    folded into the graph (then the converted model takes raw pixels)."""

    spec: ImageSpec
    normalization_in_graph: bool

    def to_json(self) -> dict[str, Any]:
        s = self.spec
        return {
            "size": list(s.size),
            "channels": s.channels,
            "color": s.color.value,
            "resize": s.resize.value,
            "mean": list(s.mean),
            "std": list(s.std),
            "normalization_in_graph": self.normalization_in_graph,
        }


@dataclass(frozen=True)
class CalibrationSection:
    """``source`` as given; ``images`` used and ``skipped`` (unreadable); the sampling
    ``seed`` and requested sample ``size``."""

    source: str
    images: int
    skipped: int
    seed: int
    size: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SizeSection:
    """Bytes of the float and of the int8 ``.tflite``."""

    float_bytes: int
    int8_bytes: int

    @property
    def ratio(self) -> float:
        """How many times smaller the int8 file is."""
        return self.float_bytes / self.int8_bytes

    def to_json(self) -> dict[str, Any]:
        return {"float_bytes": self.float_bytes, "int8_bytes": self.int8_bytes, "ratio": self.ratio}


@dataclass(frozen=True)
class OpsSection:
    """The int8 model's op table, and the op types that compute in float (sorted)."""

    table: tuple[OpRow, ...]
    float_ops: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"table": [r.as_dict() for r in self.table], "float_ops": list(self.float_ops)}


@dataclass(frozen=True)
class OutputFidelity:
    """Float vs int8 on one output: cosine (mean, min over images), max absolute error."""

    index: int
    name: str
    cosine_mean: float
    cosine_min: float
    max_abs_error: float


@dataclass(frozen=True)
class FidelitySection:
    """Fidelity per output, on ``images`` images of ``set`` (``"validation"`` or ``"calibration"``)."""

    set: str
    images: int
    outputs: tuple[OutputFidelity, ...]

    def to_json(self) -> dict[str, Any]:
        return {"set": self.set, "images": self.images, "outputs": [asdict(o) for o in self.outputs]}


@dataclass(frozen=True)
class Accuracy:
    """Top-1 on a labelled folder, in percent; ``drop_points`` = float - int8."""

    images: int
    top1_float: float
    top1_int8: float
    agreement: float
    drop_points: float


@dataclass(frozen=True)
class LatencySection:
    """Median ``invoke()`` milliseconds over ``runs`` runs on ``threads`` CPU threads."""

    runs: int
    threads: int
    float_median: float
    int8_median: float

    @property
    def speedup(self) -> float | None:
        """float / int8 median (None when the int8 median is 0)."""
        return self.float_median / self.int8_median if self.int8_median > 0 else None

    def to_json(self) -> dict[str, Any]:
        return {
            "runs": self.runs,
            "threads": self.threads,
            "float_median": self.float_median,
            "int8_median": self.int8_median,
            "speedup": self.speedup,
        }


@dataclass(frozen=True)
class EdgeTpuSection:
    """The offline pre-check; with ``--edgetpu``, the compiler's result and where its
    model (``output``) and log (``log``, when it wrote one) were written."""

    precheck: Precheck
    compiler: CompileResult | None = None
    output: str | None = None
    log: str | None = None

    @property
    def precheck_matches_compiler(self) -> bool | None:
        """Whether the pre-check predicted as many ops on the TPU as the compiler mapped
        (None when the compiler did not run)."""
        if self.compiler is None:
            return None
        r = self.compiler.report
        mapped = r.ops_on_tpu if r.ops_on_tpu is not None else r.mapped_ops
        return mapped == self.precheck.mapped

    def to_json(self) -> dict[str, Any]:
        compiler: dict[str, Any] | None = None
        if self.compiler is not None:
            compiler = self.compiler.as_dict()  # its own paths are in the work folder: replace them
            if self.log is not None:
                compiler["log"] = self.log
            if self.output is not None:
                compiler["output"] = self.output
        return {
            "precheck": self.precheck.as_dict(),
            "compiler": compiler,
            "precheck_matches_compiler": self.precheck_matches_compiler,
        }


@dataclass(frozen=True)
class TimingSection:
    """Seconds spent quantizing, and on the whole conversion (up to writing the outputs)."""

    quantize: float
    total: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ConversionReport:
    """Everything ``convert()`` measured; :meth:`to_json` is the ``--report`` contract."""

    model: ModelSection
    preprocessing: PreprocessingSection
    calibration: CalibrationSection
    size: SizeSection
    ops: OpsSection
    fidelity: FidelitySection
    accuracy: Accuracy | None
    latency_ms: LatencySection
    edgetpu: EdgeTpuSection
    timing_s: TimingSection

    def to_json(self) -> dict[str, Any]:
        """The report as JSON-ready dicts, lists, strings, numbers and None (``json.dumps`` it)."""
        return {
            "model": self.model.to_json(),
            "preprocessing": self.preprocessing.to_json(),
            "calibration": self.calibration.to_json(),
            "size": self.size.to_json(),
            "ops": self.ops.to_json(),
            "fidelity": self.fidelity.to_json(),
            "accuracy": asdict(self.accuracy) if self.accuracy is not None else None,
            "latency_ms": self.latency_ms.to_json(),
            "edgetpu": self.edgetpu.to_json(),
            "timing_s": self.timing_s.to_json(),
        }


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
