"""Flash-and-go boot files: cloud-init user-data checked by cloud-init's own schema, checksums
checked by sha256sum, the first-boot script by ``sh -n``; wheelhouse errors are typed."""

from __future__ import annotations

import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from edge_sdk.cli.main import main
from edge_sdk.errors import BundleError
from edge_sdk.fleet.bootfiles import BootOptions, firstboot_script, write_boot_files
from edge_sdk.fleet.wheelhouse import WheelhouseTarget, build_wheelhouse
from tests.fleet_helpers import MODEL_A, SAMPLE, make_bundle, write_config

CLOUD_INIT = shutil.which("cloud-init")


def _wheel(folder: Path, name: str) -> Path:
    """A small but well-formed wheel (zip with METADATA/WHEEL/RECORD)."""
    folder.mkdir(parents=True, exist_ok=True)
    dist, version = name.split("-")[:2]
    path = folder / name
    with zipfile.ZipFile(path, "w") as z:
        info = f"{dist}-{version}.dist-info"
        z.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        z.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        z.writestr(f"{info}/RECORD", "")
    return path


@pytest.fixture(scope="module")
def wheel_bundle(tmp_path_factory: pytest.TempPathFactory, assets: Path) -> Path:
    d = tmp_path_factory.mktemp("boot")
    _wheel(d / "wheels", "edge_sdk-0.1.0-py3-none-any.whl")
    _wheel(d / "wheels", "paho_mqtt-2.1.0-py3-none-any.whl")
    cfg = write_config(d, assets, MODEL_A)
    out = d / "app.tar"
    rc = main(["bundle", "create", "--config", str(cfg), "--output", str(out), "--sample", str(assets / SAMPLE),
               "--wheelhouse", str(d / "wheels"), "--json"])  # fmt: skip
    assert rc == 0
    return out


def test_manifest_records_the_wheelhouse_target(wheel_bundle: Path) -> None:
    from edge_sdk.fleet.bundle import verify_bundle

    m = verify_bundle(wheel_bundle)
    assert m.wheelhouse is not None and m.wheelhouse["python"] == "3.11"
    assert "bookworm" in m.wheelhouse["os"] and "manylinux_2_36_aarch64" in m.wheelhouse["platforms"]
    assert {
        "wheelhouse/edge_sdk-0.1.0-py3-none-any.whl",
        "wheelhouse/paho_mqtt-2.1.0-py3-none-any.whl",
    } <= set(m.files)


@pytest.mark.skipif(
    CLOUD_INIT is None, reason="cloud-init is not installed (Debian: apt-get install cloud-init)"
)
def test_user_data_passes_cloud_init_schema(
    wheel_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bootfs"
    assert main(["bundle", "boot-files", str(wheel_bundle), "--out", str(out), "--hostname", "cam-7"]) == 0
    assert CLOUD_INIT is not None
    ok = subprocess.run(
        [CLOUD_INIT, "schema", "--config-file", str(out / "user-data")], capture_output=True, text=True
    )
    assert ok.returncode == 0 and "Valid cloud-config" in ok.stdout, ok.stdout + ok.stderr
    # the check can fail: a wrong type in the same document is reported
    bad = tmp_path / "bad-user-data"
    bad.write_text(
        (out / "user-data").read_text().replace("    lock_passwd: true", "    lock_passwd: [1, 2]")
    )
    rejected = subprocess.run(
        [CLOUD_INIT, "schema", "--config-file", str(bad)], capture_output=True, text=True
    )
    assert rejected.returncode != 0 and "lock_passwd" in rejected.stdout + rejected.stderr
    text = (out / "user-data").read_text()
    assert text.startswith("#cloud-config\n") and "hostname: cam-7" in text
    assert "/etc/systemd/system/edge-sdk.service" in text and "Restart=on-failure" in text


def test_checksums_and_first_boot_script(wheel_bundle: Path, tmp_path: Path) -> None:
    out = tmp_path / "bootfs"
    write_boot_files(wheel_bundle, out, BootOptions())
    for sums, cwd in (("SHA256SUMS", out / "edge-sdk"),):
        r = subprocess.run(["sha256sum", "-c", sums], cwd=cwd, capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr
    # the wheels' sums match what the first boot unpacks from the bundle
    unpacked = tmp_path / "unpacked"
    unpacked.mkdir()
    subprocess.run(
        ["tar", "-xf", str(out / "edge-sdk/app.tar"), "-C", str(unpacked), "wheelhouse"], check=True
    )
    r = subprocess.run(
        ["sha256sum", "-c", str(out / "edge-sdk/WHEELS.SHA256SUMS")],
        cwd=unpacked,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0 and r.stdout.count(": OK") == 2, r.stdout
    script = tmp_path / "firstboot.sh"
    script.write_text(firstboot_script("3.11", ["fleet"], BootOptions()))
    assert subprocess.run(["sh", "-n", str(script)], capture_output=True).returncode == 0
    text = script.read_text()
    assert "--no-index" in text and "bundle install" in text and "enable --now edge-sdk.service" in text
    assert (out / "meta-data").read_text().startswith("instance-id: ")


def test_bundle_without_wheelhouse_is_refused(tmp_path: Path, assets: Path) -> None:
    plain = make_bundle(tmp_path, assets, MODEL_A, "plain")
    with pytest.raises(BundleError, match="no wheelhouse"):
        write_boot_files(plain, tmp_path / "out")


def test_bad_boot_options_are_refused() -> None:
    from edge_sdk.errors import OptionsError

    with pytest.raises(OptionsError, match="hostname"):
        BootOptions(hostname="bad host;rm")
    with pytest.raises(OptionsError, match="prefix"):
        BootOptions(prefix="relative/path")


def test_wheelhouse_target_tags() -> None:
    bookworm, trixie = WheelhouseTarget(), WheelhouseTarget.trixie()
    assert bookworm.python == "3.11" and trixie.python == "3.13"
    assert (
        bookworm.platforms()[0] == "manylinux_2_36_aarch64"
        and "manylinux2014_aarch64" in bookworm.platforms()
    )
    assert "manylinux_2_41_aarch64" in trixie.platforms()
    assert json.dumps(bookworm.as_dict())


def test_wheelhouse_download_offline_fails_with_pips_reason(tmp_path: Path) -> None:
    """The aarch64 download needs the package index; CI has none, so this only checks that an
    offline attempt (--no-index, an empty --find-links folder) fails as a typed error carrying
    pip's own message, and leaves no half wheelhouse in a bundle."""
    empty = tmp_path / "links"
    empty.mkdir()
    with pytest.raises(BundleError, match=r"pip (wheel|download) failed \(exit \d+\)"):
        build_wheelhouse(tmp_path / "wh", WheelhouseTarget(), "download", find_links=str(empty))


def test_empty_wheel_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match=r"expected \.whl files"):
        build_wheelhouse(tmp_path, WheelhouseTarget(), str(tmp_path))
