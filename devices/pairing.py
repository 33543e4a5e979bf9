"""Automatic pairing of a CPU model with its Edge TPU twin.

``edgetpu_compiler`` writes ``model_edgetpu.tflite`` next to ``model.tflite``. Given either
path, :func:`resolve_model` picks the file and accelerator to run:

================================  ===============  =============================================
requested accelerator             Edge TPU found    result
================================  ===============  =============================================
none (auto)                       yes, twin exists  ``model_edgetpu.tflite`` on ``edgetpu``
none (auto)                       no                ``model.tflite`` on the CPU (warning if the
                                                    Edge TPU model was named)
``edgetpu[...]``                  yes               ``model_edgetpu.tflite`` (else the path given)
``edgetpu[...]``                  no                with both files: ``model.tflite`` on the
                                                    CPU with a warning; ``AcceleratorError``
                                                    when strict or when there is no pair
``cpu[:N]``                       either            ``model.tflite`` (warning if the Edge TPU
                                                    model was named)
================================  ===============  =============================================

Edge TPUs are found with :func:`devices.accelerators.list_edgetpus`, which loads nothing, and
only when the answer matters: in auto mode a plain model without a twin is never looked for. On
systems where they cannot be enumerated (macOS, Windows), an explicit ``edgetpu`` request is
passed through and the delegate decides; auto mode stays on the CPU.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from pathlib import Path

from edge_sdk.errors import AcceleratorError, ModelNotFoundError

from .accelerators import (
    EDGETPU_HINT,
    Accelerator,
    AcceleratorKind,
    EdgeTpuDevice,
    edgetpu_enumeration_supported,
    list_edgetpus,
)

log = logging.getLogger(__name__)

EDGETPU_SUFFIX = "_edgetpu.tflite"


def model_pair(path: str | Path) -> tuple[Path | None, Path | None]:
    """``(cpu_model, edgetpu_model)`` for ``path``: the file named plus its twin, each None
    when the file does not exist."""
    p = Path(path)
    if p.name.endswith(EDGETPU_SUFFIX):
        cpu = p.with_name(p.name[: -len(EDGETPU_SUFFIX)] + ".tflite")
        tpu = p
    else:
        cpu = p
        tpu = p.with_name(p.stem + EDGETPU_SUFFIX)
    return (cpu if cpu.is_file() else None), (tpu if tpu.is_file() else None)


def _with_fallback(acc: Accelerator, cpu: Path | None, strict: bool) -> Accelerator:
    """``acc`` that falls back to ``cpu`` if the delegate fails at load or invoke (unless strict)."""
    if strict or cpu is None:
        return acc
    return dataclasses.replace(acc, cpu_twin=cpu)


def resolve_model(
    path: str | Path,
    accelerator: str | Accelerator | None = None,
    *,
    strict: bool = False,
    tpus: Sequence[EdgeTpuDevice] | None = None,
) -> tuple[Path, Accelerator]:
    """Choose the model file and accelerator to run (see the module docstring's table).

    Args:
        path: ``model.tflite`` or ``model_edgetpu.tflite``.
        accelerator: a spec (``cpu``, ``cpu:N``, ``edgetpu[:usb[:N]|:pci:N]``), an
            :class:`Accelerator`, or None for automatic.
        strict: fail instead of falling back to the CPU.
        tpus: the Edge TPUs present; default :func:`list_edgetpus`.

    Returns:
        ``(model path, accelerator)``; the accelerator keeps the requested thread count.

    Raises:
        ModelNotFoundError: neither ``path`` nor its twin exists.
        AcceleratorError: an Edge TPU is required (requested, or strict with an Edge TPU model)
            and none is present, and no fallback is allowed or possible.
        OptionsError: an invalid accelerator spec.
    """
    requested = Accelerator.parse(accelerator) if accelerator is not None else None
    given = Path(path)
    cpu, tpu = model_pair(given)
    if cpu is None and tpu is None:
        raise ModelNotFoundError(f"model file {given} does not exist")
    named_tpu = given.name.endswith(EDGETPU_SUFFIX)
    threads = requested.num_threads if requested is not None else None
    on_cpu = Accelerator(AcceleratorKind.CPU, threads)

    if requested is not None and requested.kind is AcceleratorKind.CPU:
        if named_tpu and cpu is not None:
            if strict:
                raise AcceleratorError(
                    f"{given} is compiled for the Edge TPU but --accelerator {requested} was asked for "
                    f"(strict): use {cpu} or an Edge TPU"
                )
            log.warning(
                "%s is compiled for the Edge TPU; running its CPU twin %s on %s", given, cpu, requested
            )
            return cpu, requested
        return given, requested

    if requested is None and tpu is None and not named_tpu:
        return given, on_cpu  # auto, a plain model without an _edgetpu twin: no TPU to look for

    found = list(list_edgetpus() if tpus is None else tpus)
    unknown = tpus is None and not found and not edgetpu_enumeration_supported()
    want = requested or Accelerator(AcceleratorKind.EDGETPU)
    present = [t for t in found if want.matches(t)]

    if requested is not None:  # an explicit Edge TPU request
        if present or unknown:
            model = tpu or given
            if tpu is None:
                log.warning(
                    "%s has no _edgetpu twin; it runs on the Edge TPU delegate but mostly on the CPU", given
                )
            return model, _with_fallback(requested, cpu, strict)
        where = f" at {requested.device}" if requested.device else ""
        seen = ", ".join(t.device for t in found) or "none"
        if strict or cpu is None or tpu is None:
            alt = "" if cpu is None or tpu is None else f"; or drop --strict to fall back to {cpu} on the CPU"
            raise AcceleratorError(
                f"no Edge TPU{where} found (USB 1a6e:089a/18d1:9302 or /dev/apex_*; found: {seen}) "
                f"for {given}: {EDGETPU_HINT}{alt}"
            )
        log.warning("no Edge TPU%s found; falling back to the CPU model %s", where, cpu)
        return cpu, on_cpu

    # automatic
    if present and tpu is not None:
        log.info("Edge TPU %s found: running %s", present[0].device, tpu)
        return tpu, _with_fallback(Accelerator(AcceleratorKind.EDGETPU), cpu, strict)
    if named_tpu:
        if cpu is None:
            if present or unknown:
                return given, Accelerator(AcceleratorKind.EDGETPU)
            raise AcceleratorError(
                f"{given} is compiled for the Edge TPU and no Edge TPU was found: {EDGETPU_HINT}, "
                "or use the CPU (non-_edgetpu) .tflite of this model"
            )
        if strict:
            raise AcceleratorError(
                f"no Edge TPU found for {given} (strict): {EDGETPU_HINT}; or drop --strict to run {cpu} on the CPU"
            )
        log.warning("no Edge TPU found; falling back to the CPU model %s", cpu)
        return cpu, on_cpu
    return given, on_cpu
