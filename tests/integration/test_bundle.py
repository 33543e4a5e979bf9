"""Bundles with real models: create, verify, install atomically, list, roll back; every
hostile input refused with nothing installed or switched."""

from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path

import pytest

from edge_sdk.cli.main import main
from edge_sdk.errors import (
    BundleError,
    BundleIntegrityError,
    BundleSignatureError,
    ModelError,
    SelfTestError,
    UnsafeBundleError,
)
from edge_sdk.fleet.bundle import verify_bundle
from edge_sdk.fleet.install import Prefix, install, rollback
from edge_sdk.fleet.manifest import Manifest, generate_keypair
from edge_sdk.fleet.selftest import self_test
from tests.fleet_helpers import MODEL_A, MODEL_B, make_bundle, members, rewrite

pytest.importorskip("cryptography", reason="signing needs: pip install 'edge-sdk[fleet]'")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, assets: Path) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("bundles")
    generate_keypair(d / "key.pem", d / "key.pub")
    generate_keypair(d / "other.pem", d / "other.pub")
    return {
        "dir": d,
        "a": make_bundle(d, assets, MODEL_A, "a"),
        "b": make_bundle(d, assets, MODEL_B, "b"),
        "signed": make_bundle(d, assets, MODEL_B, "signed", key=d / "key.pem"),
        "key": d / "key.pub",
        "other": d / "other.pub",
    }


def snapshot(prefix: Path) -> tuple[str | None, list[str]]:
    """What an observer sees: the current id and every entry under releases/ (staging too)."""
    p = Prefix(prefix)
    return p.current_id(), sorted(os.listdir(p.releases)) if p.releases.is_dir() else []


@pytest.fixture
def installed(built: dict[str, Path], tmp_path: Path) -> Path:
    prefix = tmp_path / "prefix"
    install(built["a"], prefix)
    return prefix


def test_manifest_records_hashes_version_and_known_answer(built: dict[str, Path]) -> None:
    m = verify_bundle(built["a"])
    assert m.edge_sdk_version == "0.1.0" and m.task == "classify"
    assert {"config.json", "models/mobilenet_v1_0.5_160_quant.tflite", "labels/imagenet_labels.txt",
            "sample/parrot.jpg"} <= set(m.files)  # fmt: skip
    assert m.known_answer is not None
    top = m.known_answer.record["classes"][0]
    assert top["id"] == 89 and top["label"] == "macaw" and top["score"] == pytest.approx(0.99, abs=0.02)
    cfg = json.loads(dict((x.name, d) for x, d in members(built["a"]))["config.json"])
    assert cfg["model"] == "models/mobilenet_v1_0.5_160_quant.tflite"  # relative inside the release
    assert m.id == Manifest.content_id("classify", m.files)


def test_install_list_rollback(built: dict[str, Path], tmp_path: Path) -> None:
    prefix = tmp_path / "p"
    ra, report = install(built["a"], prefix)
    assert report is not None and report.passed
    rb, _ = install(built["b"], prefix)
    p = Prefix(prefix)
    assert p.current_id() == rb.id and os.readlink(p.current_link) == f"releases/{rb.id}"
    assert [(r.id, r.current) for r in p.list()] == [(ra.id, False), (rb.id, True)]
    assert rollback(prefix) == ra.id and p.current_id() == ra.id
    assert rollback(prefix) == rb.id  # rolling back twice returns to the newer one
    self_test(p.current_path())


def test_cli_install_list_rollback(
    built: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prefix = str(tmp_path / "cli")
    assert main(["bundle", "install", str(built["a"]), "--prefix", prefix, "--json"]) == 0
    a = json.loads(capsys.readouterr().out)
    assert a["current"] and a["self_test"]["passed"]
    assert main(["bundle", "install", str(built["b"]), "--prefix", prefix, "--json"]) == 0
    b = json.loads(capsys.readouterr().out)
    assert main(["bundle", "list", "--prefix", prefix, "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {r["id"]: r["current"] for r in rows} == {a["id"]: False, b["id"]: True}
    assert main(["bundle", "rollback", "--prefix", prefix]) == 0
    assert a["id"] in capsys.readouterr().out
    assert main(["bundle", "self-test", "--prefix", prefix, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["passed"] is True
    assert main(["bundle", "verify", str(tmp_path / "missing.tar")]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_signed_bundle_installs_with_its_key(built: dict[str, Path], tmp_path: Path) -> None:
    prefix = tmp_path / "s"
    prefix.mkdir()
    (prefix / "trusted.pub").write_bytes(built["key"].read_bytes())  # configured on the device
    release, _ = install(built["signed"], prefix)
    assert release.signed and release.current


def _refused(prefix: Path, bundle: Path, error: type[Exception], match: str, **kw: object) -> None:
    before = snapshot(prefix)
    with pytest.raises(error, match=match):
        install(bundle, prefix, **kw)  # type: ignore[arg-type]
    assert snapshot(prefix) == before  # nothing half-installed, current not switched


def test_flipped_byte_refused(built: dict[str, Path], installed: Path, tmp_path: Path) -> None:
    bad = tmp_path / "flipped.tar"
    raw = bytearray(built["b"].read_bytes())
    with tarfile.open(built["b"]) as tar:
        m = tar.getmember("models/mobilenet_v1_0.25_224_quant_with_metadata.tflite")
    raw[m.offset_data + m.size // 2] ^= 0x01
    bad.write_bytes(bytes(raw))
    _refused(installed, bad, BundleIntegrityError, "sha256 .* does not match")


def test_wrong_signature_refused(built: dict[str, Path], installed: Path) -> None:
    _refused(installed, built["signed"], BundleSignatureError, "does not match", public_key=built["other"])


def test_unsigned_refused_when_key_configured(built: dict[str, Path], installed: Path) -> None:
    _refused(installed, built["b"], BundleSignatureError, "not signed", public_key=built["key"])


def test_tampered_signed_manifest_refused(built: dict[str, Path], installed: Path, tmp_path: Path) -> None:
    items = members(built["signed"])
    sig = dict((m.name, d) for m, d in items)["manifest.sig"]
    forged = rewrite(
        built["signed"],
        tmp_path / "forged.tar",
        manifest_fn=lambda m: m.update(created="2000-01-01T00:00:00Z"),
    )
    # put the original signature back after the edited manifest
    data = members(forged)
    with tarfile.open(tmp_path / "forged_signed.tar", "w") as tar:
        for i, (m, d) in enumerate(data):
            tar.addfile(m, io.BytesIO(d))
            if i == 0:
                info = tarfile.TarInfo("manifest.sig")
                info.size = len(sig)
                tar.addfile(info, io.BytesIO(sig))
    _refused(
        installed,
        tmp_path / "forged_signed.tar",
        BundleSignatureError,
        "does not match",
        public_key=built["key"],
    )


def _extra(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    info.size = 1 if kind == tarfile.REGTYPE else 0
    return info


def test_dotdot_path_refused(built: dict[str, Path], installed: Path, tmp_path: Path) -> None:
    bad = rewrite(built["b"], tmp_path / "dotdot.tar", extra=[_extra("models/../../escape.txt")])
    _refused(installed, bad, UnsafeBundleError, r"without '\.\.'")
    assert not (installed / "escape.txt").exists() and not (installed.parent / "escape.txt").exists()


def test_dotdot_in_manifest_refused(built: dict[str, Path], installed: Path, tmp_path: Path) -> None:
    def add(m: dict) -> None:  # type: ignore[type-arg]
        m["files"]["../evil"] = {"sha256": "0" * 64, "size": 1}

    bad = rewrite(built["b"], tmp_path / "dotdot2.tar", manifest_fn=add)
    _refused(installed, bad, UnsafeBundleError, "escape")


def test_absolute_path_refused(built: dict[str, Path], installed: Path, tmp_path: Path) -> None:
    bad = rewrite(built["b"], tmp_path / "abs.tar", extra=[_extra(str(tmp_path / "abs_escape.txt"))])
    _refused(installed, bad, UnsafeBundleError, "relative path")
    assert not (tmp_path / "abs_escape.txt").exists()


def test_symlink_refused(built: dict[str, Path], installed: Path, tmp_path: Path) -> None:
    bad = rewrite(
        built["b"], tmp_path / "sym.tar", extra=[_extra("models/link", tarfile.SYMTYPE, "/etc/passwd")]
    )
    _refused(installed, bad, UnsafeBundleError, "symlink")


def test_hardlink_refused(built: dict[str, Path], installed: Path, tmp_path: Path) -> None:
    bad = rewrite(
        built["b"], tmp_path / "hard.tar", extra=[_extra("models/hard", tarfile.LNKTYPE, "config.json")]
    )
    _refused(installed, bad, UnsafeBundleError, "hard link")


def test_unlisted_member_refused(built: dict[str, Path], installed: Path, tmp_path: Path) -> None:
    bad = rewrite(built["b"], tmp_path / "extra.tar", extra=[_extra("models/extra.bin")])
    _refused(installed, bad, BundleIntegrityError, "not listed in the manifest")


@pytest.mark.parametrize("where", ["in the manifest", "mid-archive", "one byte short of the last file"])
def test_truncated_file_refused(built: dict[str, Path], installed: Path, tmp_path: Path, where: str) -> None:
    raw = built["b"].read_bytes()
    with tarfile.open(built["b"]) as tar:
        infos = tar.getmembers()
    cut = {
        "in the manifest": infos[0].offset_data + 10,
        "mid-archive": len(raw) // 2,
        "one byte short of the last file": infos[-1].offset_data + infos[-1].size - 1,
    }[where]
    bad = tmp_path / "truncated.tar"
    bad.write_bytes(raw[:cut])
    _refused(installed, bad, BundleIntegrityError, "truncated|damaged|missing")


def test_model_that_fails_to_load_refused(built: dict[str, Path], installed: Path, tmp_path: Path) -> None:
    name = "models/mobilenet_v1_0.25_224_quant_with_metadata.tflite"
    bad = rewrite(built["b"], tmp_path / "noload.tar", replace={name: b"not a tflite model at all" * 10})
    verify_bundle(bad)  # consistent: hashes match the garbage
    _refused(installed, bad, ModelError, "(?i)tflite")


def test_model_failing_self_test_refused(built: dict[str, Path], installed: Path, tmp_path: Path) -> None:
    def wrong_answer(m: dict) -> None:  # type: ignore[type-arg]
        m["known_answer"]["record"]["classes"][0]["id"] = 934  # cheeseburger, not macaw

    bad = rewrite(built["b"], tmp_path / "selftest.tar", manifest_fn=wrong_answer)
    _refused(installed, bad, SelfTestError, "top-1 class: expected 934")


def test_not_a_bundle_refused(installed: Path, tmp_path: Path) -> None:
    junk = tmp_path / "junk.tar"
    junk.write_bytes(os.urandom(3000))
    _refused(installed, junk, BundleError, "not a readable tar")
