"""``Model``: a loaded .tflite with its tensors, quantization, metadata and backend.

A task (``Classifier``, ``Detector`` ...) owns a Model. Everything that can be decided from
the file is decided here once, at load time: tensor specs, metadata, whether an Edge TPU is
needed. Loading never leaves a half-built object: it returns a working model or raises a
typed :class:`~edge_sdk.errors.ModelError`.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import mmap
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from .backend import Backend, get_backend
from .delegates import EDGETPU_HINT, Accelerator, AcceleratorKind
from .errors import (
    AcceleratorError,
    CorruptModelError,
    EdgeTpuRequiredError,
    ModelError,
    ModelNotFoundError,
    NotATfliteModelError,
    UnresolvedOpsError,
    UnsupportedModelError,
)
from .lifecycle import Closeable
from .metadata import ModelMetadata, parse_metadata
from .modelfile import EDGETPU_CUSTOM_OP, ModelFile, read_model_file
from .native_log import filtered_stderr
from .preprocess import image_layout
from .quant import QuantParams, dequantize, quantize
from .safe_io import not_regular

T = TypeVar("T")

log = logging.getLogger(__name__)

_UNRESOLVED = re.compile(r"unresolved custom op: ([^\s.]+(?:\.[^\s.]+)*?)\.?(?:\s|$)", re.IGNORECASE)


@dataclass(frozen=True)
class TensorSpec:
    """One input or output tensor. ``shape`` is NHWC for images; ``quant`` is empty for float."""

    index: int
    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    quant: QuantParams

    @classmethod
    def from_details(cls, d: dict) -> TensorSpec:
        return cls(
            int(d["index"]),
            str(d["name"]),
            tuple(int(x) for x in d["shape"]),
            np.dtype(d["dtype"]),
            QuantParams.from_details(d),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "shape": list(self.shape),
            "dtype": self.dtype.name,
            "quantization": self.quant.as_dict() or None,
        }


_STATE_WORDS = frozenset(
    {
        "raw",
        "inputs",
        "outputs",
        "input",
        "output",
        "init",
        "initial",
        "prev",
        "previous",
        "next",
        "new",
        "in",
        "out",
        "serving",
        "default",
        "statefulpartitionedcall",
    }
)


def _state_key(name: str) -> str:
    """A tensor name without the words that tell a state input from its output
    (``raw_inputs/init_lstm_c`` and ``raw_outputs/lstm_c`` both give ``lstm_c``)."""
    name = re.sub(r":\d+$", "", name.lower())
    return "_".join(t for t in re.split(r"[/_\-.:;]+", name) if t and t not in _STATE_WORDS)


@dataclass(frozen=True)
class StatePair:
    """A state input and the output that holds its next value (recurrent models such as LSTM-SSD).

    ``matched_by`` is ``"name"`` (the naming convention) or ``"shape"`` (equal shape, dtype and
    quantization).
    """

    input: TensorSpec
    output: TensorSpec
    matched_by: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "input": self.input.name,
            "output": self.output.name,
            "shape": list(self.input.shape),
            "matched_by": self.matched_by,
        }


def pair_states(inputs: Sequence[TensorSpec], outputs: Sequence[TensorSpec]) -> list[StatePair]:
    """Pair every input but the first image input with the output carrying its next value.

    First by the naming convention (names equal once ``raw_inputs``/``init``/``prev``/
    ``raw_outputs``/``next``... are removed, and equal shapes); then by equal shape, dtype and
    quantization when exactly one unpaired output fits. Inputs that fit neither stay unpaired.
    """
    if len(inputs) < 2:
        return []
    image = next((t for t in inputs if image_layout(t.shape) is not None), inputs[0])
    free = [t for t in outputs]
    pairs: list[StatePair] = []
    rest: list[TensorSpec] = []
    for t in inputs:
        if t is image:
            continue
        key = _state_key(t.name)
        hits = [o for o in free if key and _state_key(o.name) == key and o.shape == t.shape]
        if len(hits) == 1:
            pairs.append(StatePair(t, hits[0], "name"))
            free.remove(hits[0])
        else:
            rest.append(t)
    if len(free) <= 1:
        return pairs
    for t in rest:
        hits = [o for o in free if o.shape == t.shape and o.dtype == t.dtype and o.quant == t.quant]
        if len(hits) == 1 and len(free) > 1:
            pairs.append(StatePair(t, hits[0], "shape"))
            free.remove(hits[0])
    return pairs


def _edgetpu_message(source: str) -> str:
    cpu_twin = source.replace("_edgetpu.tflite", ".tflite") if source.endswith("_edgetpu.tflite") else None
    alt = (
        f"or use the CPU model {cpu_twin}"
        if cpu_twin
        else "or use the CPU (non-_edgetpu) .tflite of this model"
    )
    return (
        f"{source} was compiled for the Coral Edge TPU (custom op {EDGETPU_CUSTOM_OP}) and needs an Edge TPU: "
        f"run with --accelerator edgetpu after you {EDGETPU_HINT}; {alt}"
    )


class Model(Closeable):
    """A TFLite model ready to run.

    Args:
        source: a path to a .tflite file, or the file's bytes.
        accelerator: ``"cpu"``, ``"cpu:N"``, ``"edgetpu[:usb[:N]|:pci:N]"`` or an
            :class:`edge_sdk.delegates.Accelerator`; default CPU on every core.
        num_threads: XNNPACK threads; overrides the accelerator spec's count.
        delegates: extra already-loaded delegates to apply.

    Raises:
        ModelNotFoundError: no such file.
        NotATfliteModelError: the file is not a TFLite flatbuffer.
        CorruptModelError: the flatbuffer is truncated or damaged.
        EdgeTpuRequiredError: an Edge TPU-compiled model and no Edge TPU accelerator.
        UnresolvedOpsError: custom ops that nothing provides; ``.ops`` names them.
        AcceleratorError: the Edge TPU runtime or device is missing (and the accelerator has
            no ``cpu_twin`` to fall back to).

    With an accelerator whose ``cpu_twin`` is set, a delegate that fails to load, or an Edge
    TPU that fails while running, makes the model log a warning and continue as ``cpu_twin``
    on the CPU; ``fell_back`` then says why (it is None otherwise).

    ``close()`` (or leaving a ``with`` block) frees the interpreter and its delegates; using
    the model afterwards raises :class:`~edge_sdk.errors.ModelError`.
    """

    def __init__(
        self,
        source: str | Path | bytes,
        *,
        accelerator: Any = None,
        num_threads: int | None = None,
        delegates: Sequence[Any] = (),
    ) -> None:
        self.accelerator = Accelerator.parse(accelerator)
        if num_threads is not None:
            self.accelerator = Accelerator(self.accelerator.kind, num_threads, self.accelerator.device)
        self.fell_back: str | None = None
        self.backend: Backend = get_backend()
        self._extra_delegates = list(delegates)
        try:
            self._load(source)
        except AcceleratorError as exc:
            if self.accelerator.cpu_twin is None:
                raise
            self._fall_back(f"the Edge TPU delegate did not load ({exc})")

    def _load(self, source: str | Path | bytes) -> None:
        self._bytes: bytes | None = None
        self.__dict__.pop("sha256", None)  # a fallback loads another file
        delegates = self._extra_delegates
        with self._open(source) as data:
            # Parsed in place: a path-loaded model is never copied into Python memory; the
            # interpreter memory-maps the file itself.
            self.file: ModelFile = read_model_file(data, self.source)
            self.size_bytes = len(data)
            self.metadata: ModelMetadata = parse_metadata(data, self.file.metadata, self.source)
        uses_tpu = self.accelerator.kind is AcceleratorKind.EDGETPU or bool(delegates)
        if self.file.needs_edgetpu and not uses_tpu:
            raise EdgeTpuRequiredError(_edgetpu_message(self.source), [EDGETPU_CUSTOM_OP])
        all_delegates = [*self.accelerator.load_delegates(self.backend.load_delegate), *delegates]
        self._interpreter = self._build(all_delegates)
        try:
            self.all_inputs: tuple[TensorSpec, ...] = tuple(
                TensorSpec.from_details(d) for d in self._interpreter.get_input_details()
            )
            self.all_outputs: tuple[TensorSpec, ...] = tuple(
                TensorSpec.from_details(d) for d in self._interpreter.get_output_details()
            )
        except (ValueError, UnicodeDecodeError, IndexError) as exc:
            raise CorruptModelError(
                f"{self.source}: its input or output tensors are unusable: {exc}"
            ) from exc
        self.state_pairs: tuple[StatePair, ...] = tuple(pair_states(self.all_inputs, self.all_outputs))
        state_in = {p.input.index for p in self.state_pairs}
        state_out = {p.output.index for p in self.state_pairs}
        # What tasks see: the state tensors are carried by the model itself.
        self.inputs: tuple[TensorSpec, ...] = tuple(t for t in self.all_inputs if t.index not in state_in)
        self.outputs: tuple[TensorSpec, ...] = tuple(t for t in self.all_outputs if t.index not in state_out)
        self._state: list[np.ndarray] = []
        self._source: str | None = None
        self.reset_state()
        # Accessors returned by tensor() hold the Python wrapper, not the interpreter, so they can
        # be kept; only the arrays they return must be dropped before invoke().
        try:
            self._input_accessors = [self._interpreter.tensor(t.index) for t in self.inputs]
            for accessor in self._input_accessors:
                accessor()  # an input without memory fails here, not at the first frame
        except (ValueError, UnicodeDecodeError, IndexError) as exc:
            raise CorruptModelError(
                f"{self.source}: its input or output tensors are unusable: {exc}"
            ) from exc

    def _fall_back(self, why: str) -> None:
        """Reload as the accelerator's CPU twin on the CPU (never twice: the CPU has no twin)."""
        twin = self.accelerator.cpu_twin
        assert twin is not None
        log.warning(
            "%s: %s; falling back to the CPU model %s (use --strict to fail instead)", self.source, why, twin
        )
        self.accelerator = Accelerator(AcceleratorKind.CPU, self.accelerator.num_threads)
        self._extra_delegates = []
        self._load(twin)
        self.fell_back = why

    def _release(self) -> None:
        self._input_accessors = []  # write_input checks _closed first
        self._interpreter = _ClosedInterpreter(self.source)

    # -- loading -----------------------------------------------------------------------------

    @functools.cached_property
    def sha256(self) -> str:
        """Hex SHA-256 of the model file (computed on first use; a path is read again then)."""
        import hashlib  # lazy: hashlib only when the sha256 is asked for

        if self._bytes is not None:
            return hashlib.sha256(self._bytes).hexdigest()
        assert self.path is not None
        try:
            with self.path.open("rb") as fh:
                digest = hashlib.sha256()
                for chunk in iter(lambda: fh.read(1 << 20), b""):  # hashlib.file_digest is 3.11+
                    digest.update(chunk)
                return digest.hexdigest()
        except OSError as exc:
            raise ModelError(f"cannot read model {self.path}: {exc.strerror or exc}") from exc

    @contextlib.contextmanager
    def _open(self, source: str | Path | bytes) -> Iterator[bytes | mmap.mmap]:
        """The model's bytes: the caller's bytes, or a read-only mmap of the file (closed after)."""
        if isinstance(source, (bytes, bytearray, memoryview)):
            self.path: Path | None = None
            self.source = "<model bytes>"
            self._bytes = bytes(source)  # the interpreter keeps using this buffer
            yield self._bytes
            return
        path = Path(source)
        self.path = path
        self.source = str(path)
        problem = not_regular(path)
        if problem == "does not exist":
            raise ModelNotFoundError(f"model file {path} does not exist")
        if problem == "is a directory":
            raise NotATfliteModelError(
                f"{path} is a directory, expected a .tflite file (convert a SavedModel with: edge-sdk convert)"
            )
        if problem:
            raise NotATfliteModelError(f"model file {path} {problem}; expected a regular .tflite file")
        try:
            fh = path.open("rb")
        except OSError as exc:
            raise ModelError(f"cannot read model {path}: {exc.strerror or exc}") from exc
        with fh:
            if path.stat().st_size == 0:
                yield b""
                return
            try:
                mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
            except OSError as exc:
                raise ModelError(f"cannot read model {path}: {exc.strerror or exc}") from exc
            with mm:
                yield mm

    def _build(self, delegates: list[Any]) -> Any:
        kwargs: dict[str, Any] = {"num_threads": self.accelerator.threads}
        if delegates:
            kwargs["experimental_delegates"] = delegates
        if self.path is not None:
            kwargs["model_path"] = str(self.path)
        else:
            kwargs["model_content"] = self._bytes
        try:
            with filtered_stderr():
                interp = self.backend.interpreter_cls(**kwargs)
        except ValueError as exc:
            raise CorruptModelError(f"{self.source} is not a valid TFLite model: {exc}") from exc
        try:
            with filtered_stderr():
                interp.allocate_tensors()
        except RuntimeError as exc:
            msg = str(exc)
            ops = sorted(set(_UNRESOLVED.findall(msg))) or list(self.file.custom_ops)
            if EDGETPU_CUSTOM_OP in ops:
                raise EdgeTpuRequiredError(_edgetpu_message(self.source), ops) from exc
            if "unresolved custom op" in msg.lower():
                raise UnresolvedOpsError(
                    f"{self.source} uses custom ops that this runtime does not provide: {', '.join(ops)} "
                    "(load the delegate or op library that implements them, or re-export without them)",
                    ops,
                ) from exc
            first = msg.strip().splitlines()[0] if msg.strip() else type(exc).__name__
            raise ModelError(
                f"{self.source} cannot be prepared by {self.backend.name.value}: {first}"
            ) from exc
        return interp

    # -- running ------------------------------------------------------------------------------

    @property
    def input(self) -> TensorSpec:
        """The first input (image models have exactly one)."""
        return self.inputs[0]

    def write_input(self, writer: Callable[[np.ndarray], T], index: int = 0, item: int = 0) -> T:
        """Call ``writer`` with a writable view of batch item ``item`` of input ``index``.

        The view is only valid during the call; edge_sdk drops it before ``invoke`` (the
        interpreter refuses to run while Python holds views into its tensors).

        Raises:
            ModelError: the model was closed.
        """
        if self._closed:
            raise ModelError(f"{self.source} was closed; load the model again to run it")
        view = self._input_accessors[index]()
        try:
            return writer(view[item] if view.ndim == 4 else view)
        finally:
            del view

    @property
    def batch_size(self) -> int:
        """The first input's batch dimension as allocated now."""
        return self.inputs[0].shape[0] if self.inputs[0].shape else 1

    def resize_batch(self, n: int) -> None:
        """Reallocate the (single) input with batch dimension ``n`` (outputs follow).

        Costs an allocation and one invoke of the new batch (on zeros, to settle dynamic output
        shapes); only call it when ``n`` changes.

        Raises:
            UnsupportedModelError: the model has several inputs, or its graph cannot run with
                that batch size (a reshape with a fixed batch, for example); the model is left
                as it was.
        """
        if n < 1:
            raise UnsupportedModelError(f"a batch needs at least one item, got {n}")
        if n == self.batch_size:
            return
        if len(self.all_inputs) != 1 or len(self.inputs[0].shape) != 4:
            raise UnsupportedModelError(f"{self.source}: only a single NHWC input (no state) can be batched")
        old = list(self.inputs[0].shape)
        try:
            with filtered_stderr():
                self._interpreter.resize_tensor_input(self.inputs[0].index, [n, *old[1:]], strict=False)
                self._interpreter.allocate_tensors()
                # Dynamic outputs get their shapes at the first invoke, and delegates prepare
                # lazily: one invoke here, so that neither lands on the next real frame.
                self._interpreter.invoke()
            outs = [TensorSpec.from_details(d) for d in self._interpreter.get_output_details()]
            if any(not o.shape or o.shape[0] != n for o in outs):
                raise ValueError(f"outputs {[list(o.shape) for o in outs]} do not follow the batch")
        except (RuntimeError, ValueError) as exc:
            with filtered_stderr():
                self._interpreter.resize_tensor_input(self.inputs[0].index, old, strict=False)
                self._interpreter.allocate_tensors()
            raise UnsupportedModelError(f"{self.source} cannot run a batch of {n}: {exc}") from exc
        self.inputs = self.all_inputs = tuple(
            TensorSpec.from_details(d) for d in self._interpreter.get_input_details()
        )
        self.outputs = self.all_outputs = tuple(outs)
        self._input_accessors = [self._interpreter.tensor(t.index) for t in self.inputs]

    def set_input(self, value: np.ndarray, index: int = 0) -> None:
        """Copy an already-prepared array (of the tensor's shape and dtype) into input ``index``."""
        self._interpreter.set_tensor(self.inputs[index].index, value)

    def reset_state(self) -> None:
        """Set every state input to zero (real zero: the zero point of a quantized state)."""
        self._state = [
            quantize(np.zeros(p.input.shape, np.float32), p.input.quant, p.input.dtype)
            if p.input.quant.quantized
            else np.zeros(p.input.shape, p.input.dtype)
            for p in self.state_pairs
        ]

    def track_source(self, source: str) -> None:
        """Reset the state when frames start coming from another ``source`` (no-op without state)."""
        if self.state_pairs and source != self._source:
            self.reset_state()
        self._source = source

    def state(self) -> list[np.ndarray]:
        """Copies of the state each pair's input gets on the next invoke."""
        return [s.copy() for s in self._state]

    def invoke(self) -> None:
        """Run the model on the current inputs; a stateful model gets its carried state in and
        keeps the state outputs for the next invoke.

        Raises:
            ModelError: the runtime failed while running.
        """
        interp = self._interpreter
        for pair, value in zip(self.state_pairs, self._state, strict=True):
            interp.set_tensor(pair.input.index, value)
        try:
            interp.invoke()
        except RuntimeError as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            if self.accelerator.kind is not AcceleratorKind.EDGETPU or self.accelerator.cpu_twin is None:
                raise ModelError(f"{self.source}: invoke failed: {first}") from exc
            # The Edge TPU failed mid-run (unplugged, USB error): rerun this input on the CPU twin.
            inputs = [interp.get_tensor(t.index) for t in self.inputs]
            state = list(self._state)
            self._fall_back(f"the Edge TPU failed while running ({first})")
            if len(state) == len(self.state_pairs):
                self._state = state
            for i, value in enumerate(inputs):
                self.set_input(value, i)
            interp = self._interpreter
            for pair, value in zip(self.state_pairs, self._state, strict=True):
                interp.set_tensor(pair.input.index, value)
            try:
                interp.invoke()
            except RuntimeError as exc2:
                raise ModelError(f"{self.source}: invoke failed: {str(exc2).strip()[:200]}") from exc2
        if self.state_pairs:
            for i, pair in enumerate(self.state_pairs):
                out = interp.get_tensor(pair.output.index)
                if pair.output.dtype != pair.input.dtype or pair.output.quant != pair.input.quant:
                    real = dequantize(out, pair.output.quant) if pair.output.quant.quantized else out
                    out = (
                        quantize(real, pair.input.quant, pair.input.dtype)
                        if pair.input.quant.quantized
                        else real.astype(pair.input.dtype)
                    )
                self._state[i] = out.reshape(pair.input.shape)

    def output(self, index: int = 0) -> np.ndarray:
        """A copy of output ``index`` (of :attr:`outputs`, state excluded) as stored
        (quantized outputs stay integer)."""
        return self._interpreter.get_tensor(self.outputs[index].index)

    def read_output(self, reader: Callable[[np.ndarray], T], index: int = 0) -> T:
        """Call ``reader`` with a read-only view of output ``index`` (no copy, batch kept).

        The view is only valid during the call (the next ``invoke`` overwrites it, and the
        interpreter refuses to run while Python holds views); ``reader`` must return copies.
        """
        view = self._interpreter.tensor(self.outputs[index].index)()
        try:
            view.setflags(write=False)
            return reader(view)
        finally:
            del view

    def output_float(self, index: int = 0) -> np.ndarray:
        """Output ``index`` dequantized to float32 (a new array)."""
        return dequantize(self.output(index), self.outputs[index].quant)

    def run(self, *inputs: np.ndarray) -> list[np.ndarray]:
        """Set every input, invoke, and return every output dequantized. For tests and tools."""
        for i, value in enumerate(inputs):
            self.set_input(value, i)
        self.invoke()
        return [self.output_float(i) for i in range(len(self.outputs))]

    def __repr__(self) -> str:
        ins = ", ".join(f"{t.name}{list(t.shape)}:{t.dtype.name}" for t in self.inputs)
        outs = ", ".join(f"{t.name}{list(t.shape)}:{t.dtype.name}" for t in self.outputs)
        return f"Model({self.source!r}, inputs=[{ins}], outputs=[{outs}], accelerator={self.accelerator})"


class _ClosedInterpreter:
    """Stands in for the interpreter of a closed :class:`Model`: any use is a typed error."""

    def __init__(self, source: str) -> None:
        self._source = source

    def __getattr__(self, name: str) -> Any:
        raise ModelError(f"{self._source} was closed; load the model again to run it")
