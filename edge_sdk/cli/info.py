"""``edge-sdk info MODEL``: tensors, quantization, metadata, ops, Edge TPU need and task.

``edge-sdk info MODEL --edgetpu`` prints the offline Edge TPU pre-check instead
(:mod:`edge_sdk.edgetpu_precheck`): the compiler-style op table, the ops predicted to stay on
the CPU with why, and the predicted number of Edge TPU subgraphs. It reads only the
flatbuffer, so it works on any .tflite, on any machine, without ``edgetpu_compiler``.
"""

from __future__ import annotations

import argparse
import json
from typing import Any


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "info",
        help="describe a .tflite model",
        description="Inputs and outputs (name, shape, dtype, quantization), metadata (labels, "
        "normalization), op counts, whether it needs an Edge TPU, and the detected task. "
        "With --edgetpu: which ops edgetpu_compiler is predicted to map, offline.",
    )
    p.add_argument("model", help="path to the .tflite model")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.add_argument(
        "--edgetpu",
        action="store_true",
        help="predict what edgetpu_compiler maps (op table, CPU ops and why, subgraphs) without the compiler",
    )
    p.set_defaults(func=run)


def describe(path: str) -> dict[str, Any]:
    """Everything ``info`` reports, as a dict. Works on Edge TPU models without a TPU."""
    # lazy: CLI start-up imports only the subcommand that runs
    from pathlib import Path

    # lazy: CLI start-up imports only the subcommand that runs
    from ..backend import get_backend
    from ..errors import ModelNotFoundError, NotATfliteModelError, UnresolvedOpsError
    from ..metadata import parse_metadata
    from ..model import Model, TensorSpec
    from ..modelfile import read_model_file
    from ..safe_io import not_regular  # lazy: CLI start-up
    from ..tasks.registry import infer_task

    p = Path(path)
    problem = not_regular(p)
    if problem == "does not exist":
        raise ModelNotFoundError(f"model file {p} does not exist")
    if problem:
        raise NotATfliteModelError(f"model file {p} {problem}; expected a regular .tflite file")
    data = p.read_bytes()
    mf = read_model_file(data, str(p))
    meta = parse_metadata(data, mf.metadata, str(p))
    backend = get_backend()
    inputs: list[dict[str, Any]] = []
    outputs: list[dict[str, Any]] = []
    note = None
    states: list[dict[str, Any]] = []
    try:
        model = Model(p)
        inputs = [t.as_dict() for t in model.all_inputs]
        outputs = [t.as_dict() for t in model.all_outputs]
        states = [sp.as_dict() for sp in model.state_pairs]
        task = infer_task(model)
    except UnresolvedOpsError as exc:
        # Tensors are still readable from an interpreter that is never allocated.
        interp = backend.interpreter_cls(model_path=str(p))
        inputs = [TensorSpec.from_details(d).as_dict() for d in interp.get_input_details()]
        outputs = [TensorSpec.from_details(d).as_dict() for d in interp.get_output_details()]
        task = meta.task or "unknown"
        note = str(exc)
    return {
        "model": str(p),
        "size_bytes": len(data),
        "backend": {"name": backend.name.value, "version": backend.version},
        "task": task,
        "needs_edgetpu": mf.needs_edgetpu,
        "inputs": inputs,
        "outputs": outputs,
        "state_pairs": states,
        "metadata": meta.as_dict(),
        "labels": {str(k): [v.labels[i] for i in sorted(v.labels)] for k, v in meta.output_labels.items()},
        "ops": dict(sorted(mf.op_counts.items(), key=lambda kv: (-kv[1], kv[0]))),
        "custom_ops": list(mf.custom_ops),
        "subgraphs": mf.num_subgraphs,
        "note": note,
    }


def _text(d: dict[str, Any]) -> str:
    lines = [
        f"model      {d['model']} ({d['size_bytes'] / 1024:.1f} KiB)",
        f"task       {d['task']}",
        f"edge tpu   {'required' if d['needs_edgetpu'] else 'not required'}",
        f"backend    {d['backend']['name']} {d['backend']['version']}",
    ]
    for kind in ("inputs", "outputs"):
        lines.append(f"{kind}:")
        for i, t in enumerate(d[kind]):
            q = t["quantization"]
            qs = ""
            if q and "scale" in q:
                qs = f"  q=(scale {q['scale']:.6g}, zero point {q['zero_point']})"
            elif q:
                qs = f"  q=per-channel over axis {q['axis']} ({len(q['scales'])} scales)"
            lines.append(f"  [{i}] {t['name']}  {t['shape']}  {t['dtype']}{qs}")
    for sp in d["state_pairs"]:
        lines.append(
            f"state      {sp['input']} <- {sp['output']}  {sp['shape']} (paired by {sp['matched_by']})"
        )
    md = d["metadata"]
    if md.get("ultralytics"):
        u = md["ultralytics"]
        lines.append(
            "ultralytics    "
            + ", ".join(
                f"{k} {u[k]}"
                for k in ("task", "imgsz", "stride", "end2end", "kpt_shape", "channels")
                if k in u
            )
        )
    if md["normalization"]:
        lines.append(f"normalization  mean {md['normalization']['mean']} std {md['normalization']['std']}")
    lines.append(f"color space    {md['color_space']}")
    for out, labels in d["labels"].items():
        head = ", ".join(labels[:5]) + (", ..." if len(labels) > 5 else "")
        lines.append(f"labels (output {out}, {md['labels'][out]['file']}): {len(labels)}: {head}")
    if md["files"]:
        lines.append(f"packed files   {', '.join(md['files'])}")
    lines.append("ops:")
    lines.extend(f"  {name:<32} {count}" for name, count in d["ops"].items())
    if d["note"]:
        lines.append(f"note: {d['note']}")
    return "\n".join(lines)


def edgetpu_report(path: str) -> dict[str, Any]:
    """The Edge TPU pre-check of the model at ``path``, as ``info --edgetpu --json`` prints it.

    A model that is already compiled (it holds ``edgetpu-custom-op``) is described as compiled:
    ``compiled`` gives what its compiler kept on the CPU.

    Raises:
        ModelNotFoundError: no such file.
        NotATfliteModelError, CorruptModelError: not a readable .tflite.
    """
    from pathlib import Path  # lazy: CLI start-up imports only the subcommand that runs

    from ..edgetpu_precheck import compiled_cpu_ops, precheck  # lazy: CLI start-up
    from ..errors import ModelNotFoundError  # lazy: CLI start-up
    from ..modelfile import read_model_file  # lazy: CLI start-up

    p = Path(path)
    if not p.is_file():
        raise ModelNotFoundError(f"model file {p} does not exist")
    data = p.read_bytes()
    mf = read_model_file(data, str(p))
    out: dict[str, Any] = {"model": str(p)}
    if mf.needs_edgetpu:
        cpu, subgraphs = compiled_cpu_ops(data)
        out["compiled"] = {"cpu_ops": cpu, "ops_on_cpu": sum(cpu.values()), "subgraphs": subgraphs}
        out["precheck"] = None
    else:
        out["compiled"] = None
        out["precheck"] = precheck(data).as_dict()
    return out


def _edgetpu_text(d: dict[str, Any]) -> str:
    lines = [f"model      {d['model']}"]
    comp = d["compiled"]
    if comp is not None:
        lines.append(
            f"already compiled for the Edge TPU: {comp['subgraphs']} Edge TPU subgraph(s), "
            f"{comp['ops_on_cpu']} op(s) on the CPU"
        )
        lines.extend(f"  {op:<30} {n}" for op, n in comp["cpu_ops"].items())
        return "\n".join(lines)
    pre = d["precheck"]
    lines += [
        f"edge tpu   offline pre-check for edgetpu_compiler {pre['compiler_version']} "
        "(a prediction: the compiler has the last word)",
        "",
        f"{'Operator':<30} {'Count':<10} Status",
        "",
    ]
    lines.extend(f"{r['op']:<30} {r['count']:<10} {r['status']}" for r in pre["table"])
    lines += [
        "",
        f"Number of Edge TPU subgraphs (predicted): {pre['predicted_subgraphs']}",
        f"Total number of operations: {pre['ops_total']}",
        f"Number of operations that will run on Edge TPU: {pre['ops_mapped']}",
        f"Number of operations that will run on CPU: {pre['ops_on_cpu']}",
    ]
    cpu = [o for o in pre["ops"] if not o["mapped"]]
    if cpu:
        lines += ["", "On the CPU, and why:"]
        for o in cpu:
            where = "before" if o["placement"] == "cpu_before" else "after"
            lines.append(f"  op {o['index']:<4} {o['op']:<28} ({where} the Edge TPU subgraph) {o['reason']}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    if args.edgetpu:
        e = edgetpu_report(args.model)
        print(json.dumps(e) if args.json else _edgetpu_text(e))
        return 0
    d = describe(args.model)
    print(json.dumps(d) if args.json else _text(d))
    return 0
