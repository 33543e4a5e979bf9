"""``edge-sdk bundle``: create, verify, install, list and roll back deployment bundles.

Every subcommand prints one JSON object (or one per release for ``list``) on stdout with
``--json``, else one human line per item. Errors exit 1 with one line on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from typing import Any

from .common import probability


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "bundle",
        help="verified deployment bundles: create, install, list, rollback",
        description="A bundle is one tar with a run config, its models, a manifest (sha256 and "
        "size of every file, the edge_sdk version, a known answer on a sample image) and an "
        "optional Ed25519 signature. It installs atomically into PREFIX/releases/ID with a "
        "'current' link; the previous release is kept for rollback.",
    )
    bsub = p.add_subparsers(dest="bundle_command", metavar="ACTION", required=True)

    def prefix_arg(q: argparse.ArgumentParser) -> None:
        q.add_argument(
            "--prefix", default=None, help="install prefix (default $EDGE_SDK_PREFIX or /opt/edge-sdk)"
        )
        q.add_argument("--json", action="store_true", help="JSON on stdout")

    c = bsub.add_parser("create", help="pack a run config, its models and a manifest into a tar")
    c.add_argument("--config", "-c", required=True, help="run config JSON (as for edge-sdk run)")
    c.add_argument("--output", "-o", required=True, help="the bundle to write (.tar)")
    c.add_argument(
        "--sample", default=None, help="image for the known answer (default: first frame of a file source)"
    )
    c.add_argument("--sign", metavar="PRIVATE_KEY", default=None, help="Ed25519 PEM private key to sign with")
    c.add_argument(
        "--score-tolerance", type=probability, default=0.05, help="self-test score tolerance (0.05)"
    )
    c.add_argument("--iou-tolerance", type=probability, default=0.9, help="self-test minimum box IoU (0.9)")
    c.add_argument(
        "--wheelhouse",
        nargs="?",
        const="download",
        default=None,
        metavar="DIR",
        help="add aarch64 wheels for offline install: from DIR, or downloaded with pip for "
        "Raspberry Pi OS bookworm (Python 3.11) when no DIR is given",
    )
    c.add_argument(
        "--target",
        choices=["bookworm", "trixie"],
        default="bookworm",
        help="with --wheelhouse: Raspberry Pi OS bookworm (Python 3.11, default) or trixie (Python 3.13), aarch64",
    )
    c.add_argument("--find-links", default=None, help="with --wheelhouse: a local wheel folder pip may use")
    c.add_argument("--json", action="store_true", help="print the manifest as JSON")
    c.set_defaults(func=_create)

    v = bsub.add_parser("verify", help="check a bundle's sizes, hashes and signature without installing")
    v.add_argument("bundle")
    v.add_argument(
        "--public-key", default=None, help="Ed25519 PEM public key: the bundle must be signed by it"
    )
    v.add_argument("--json", action="store_true")
    v.set_defaults(func=_verify)

    i = bsub.add_parser("install", help="verify, self-test and activate a bundle atomically")
    i.add_argument("bundle")
    prefix_arg(i)
    i.add_argument(
        "--public-key", default=None, help="Ed25519 PEM public key (default PREFIX/trusted.pub if present)"
    )
    i.add_argument("--no-self-test", action="store_true", help="skip the known-answer self-test")
    i.set_defaults(func=_install)

    ls = bsub.add_parser("list", help="installed releases; * marks the current one")
    prefix_arg(ls)
    ls.set_defaults(func=_list)

    r = bsub.add_parser("rollback", help="switch back to the previous release")
    prefix_arg(r)
    r.add_argument("--to", default=None, help="a release id instead of the previous one")
    r.set_defaults(func=_rollback)

    t = bsub.add_parser("self-test", help="run the current release's known-answer self-test")
    prefix_arg(t)
    t.set_defaults(func=_self_test)

    k = bsub.add_parser("keygen", help="write a new Ed25519 key pair (PEM)")
    k.add_argument("--private", required=True, help="private key file to write (mode 0600)")
    k.add_argument("--public", required=True, help="public key file to write")
    k.set_defaults(func=_keygen)

    b = bsub.add_parser(
        "boot-files",
        help="cloud-init user-data for a freshly flashed card (offline first boot)",
        description="Write what goes onto the boot partition of a card flashed with Raspberry Pi "
        "Imager: cloud-init user-data, meta-data and network-config, and edge-sdk/app.tar with its "
        "checksums. At first boot the card installs the bundle's wheelhouse into a venv with no "
        "index, installs the bundle (self-test included) and enables edge-sdk.service.",
    )
    b.add_argument("bundle", help="a bundle made with --wheelhouse")
    b.add_argument("--out", required=True, help="folder to write into (then copy it onto the boot partition)")
    b.add_argument(
        "--hostname", default=None, help="host name to set at first boot (default: keep the image's)"
    )
    b.add_argument("--user", default="edge", help="system user the service runs as (edge)")
    b.add_argument("--prefix", default="/opt/edge-sdk", help="install prefix on the device (/opt/edge-sdk)")
    b.set_defaults(func=_boot_files)


def _out(args: argparse.Namespace, obj: Any, text: str) -> None:
    print(json.dumps(obj) if getattr(args, "json", False) else text)


def _create(args: argparse.Namespace) -> int:
    from ..fleet.bundle import (  # lazy: CLI start-up imports only the subcommand that runs
        CreateOptions,
        create_bundle,
    )
    from ..fleet.manifest import Tolerance  # lazy: CLI start-up imports only the subcommand that runs

    with tempfile.TemporaryDirectory(prefix="edge-sdk-wheels-") as tmp:
        wheelhouse, info = args.wheelhouse, None
        if wheelhouse is not None:
            from ..fleet.wheelhouse import (  # lazy: CLI start-up imports only the subcommand that runs
                WheelhouseTarget,
                build_wheelhouse,
            )

            target = WheelhouseTarget.trixie() if args.target == "trixie" else WheelhouseTarget()
            wheelhouse, info = build_wheelhouse(tmp, target, args.wheelhouse, args.find_links)
        m = create_bundle(
            args.config,
            args.output,
            CreateOptions(
                sample=args.sample,
                private_key=args.sign,
                wheelhouse=wheelhouse,
                wheelhouse_info=info,
                tolerance=Tolerance(args.score_tolerance, args.iou_tolerance),
            ),
        )
    _out(
        args,
        json.loads(m.to_bytes()),
        f"{args.output}: bundle {m.id}, {len(m.files)} file(s)" + (", signed" if args.sign else ""),
    )
    return 0


def _verify(args: argparse.Namespace) -> int:
    from ..fleet.bundle import verify_bundle  # lazy: CLI start-up imports only the subcommand that runs

    m = verify_bundle(args.bundle, args.public_key)
    _out(
        args,
        {"id": m.id, "verified": True, "signed": args.public_key is not None},
        f"{args.bundle}: {m.id} verified",
    )
    return 0


def _install(args: argparse.Namespace) -> int:
    from ..fleet.install import install  # lazy: CLI start-up imports only the subcommand that runs

    release, report = install(args.bundle, args.prefix, args.public_key, run_self_test=not args.no_self_test)
    obj = release.as_dict()
    obj["self_test"] = report.as_dict() if report else None
    _out(args, obj, f"installed {release.id} at {release.path}" + (" (self-test passed)" if report else ""))
    return 0


def _list(args: argparse.Namespace) -> int:
    from ..fleet.install import Prefix  # lazy: CLI start-up imports only the subcommand that runs

    releases = Prefix(args.prefix).list()
    if not releases and not args.json:
        print("no releases installed", file=sys.stderr)
    for r in releases:
        _out(
            args,
            r.as_dict(),
            f"{'*' if r.current else ' '} {r.id}  {r.created}  {r.task}  edge_sdk {r.edge_sdk_version}"
            + ("  signed" if r.signed else ""),
        )
    return 0


def _rollback(args: argparse.Namespace) -> int:
    from ..fleet.install import rollback  # lazy: CLI start-up imports only the subcommand that runs

    rid = rollback(args.prefix, args.to)
    _out(args, {"current": rid}, f"current release is now {rid}")
    return 0


def _self_test(args: argparse.Namespace) -> int:
    from ..fleet.install import Prefix  # lazy: CLI start-up imports only the subcommand that runs
    from ..fleet.selftest import self_test  # lazy: CLI start-up imports only the subcommand that runs

    path = Prefix(args.prefix).current_path()
    report = self_test(path)
    _out(args, {"release": path.name, **report.as_dict()}, f"{path.name}: self-test passed")
    return 0


def _keygen(args: argparse.Namespace) -> int:
    from ..fleet.manifest import generate_keypair  # lazy: CLI start-up imports only the subcommand that runs

    generate_keypair(args.private, args.public)
    print(f"wrote {args.private} (keep it secret) and {args.public} (copy to PREFIX/trusted.pub on devices)")
    return 0


def _boot_files(args: argparse.Namespace) -> int:
    from ..fleet.bootfiles import (  # lazy: CLI start-up imports only the subcommand that runs
        BootOptions,
        write_boot_files,
    )

    opts = BootOptions(hostname=args.hostname, user=args.user, prefix=args.prefix)
    for p in write_boot_files(args.bundle, args.out, opts):
        print(p)
    return 0
