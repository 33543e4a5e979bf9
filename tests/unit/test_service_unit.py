"""``edge-sdk service install|uninstall|status``: the unit, checked by systemd-analyze verify."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from edge_sdk.cli.main import main
from edge_sdk.errors import OptionsError
from edge_sdk.service.unit import UnitOptions, check_name, config_of_unit, render_unit, verify_unit

ROOT = Path(__file__).resolve().parents[2]


def write_config(folder: Path, **extra: Any) -> Path:
    (folder / "out").mkdir(exist_ok=True)
    cfg = {
        "task": "faces",
        "source": "usb:0",
        "gallery": "db/people.db",
        "sink": ["jsonl:out/faces.jsonl", {"uri": f"video:{folder}/clips/annotated.mp4"}, "jsonl:-"],
        **extra,
    }
    path = folder / "run config.json"  # a space: ExecStart must quote it
    path.write_text(json.dumps(cfg))
    return path


def settings(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith("#"):
            k, v = line.split("=", 1)
            out.setdefault(k, []).append(v)
    return out


@pytest.mark.subprocess  # systemd-analyze / the CLI is what is tested
def test_dry_run_prints_a_unit_that_systemd_accepts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = write_config(tmp_path)
    assert main(["service", "install", "--config", str(cfg), "--name", "door-cam", "--dry-run"]) == 0
    text = capsys.readouterr().out
    s = settings(text)
    assert s["Type"] == ["notify"] and s["Restart"] == ["on-failure"] and s["WatchdogSec"] == ["30"]
    assert s["StartLimitBurst"] == ["5"] and s["StartLimitIntervalSec"] == ["300"]
    exec_start = s["ExecStart"][0]
    assert Path(exec_start.split()[0]).is_absolute() and exec_start.endswith(f'run --config "{cfg}"')
    assert s["NoNewPrivileges"] == ["yes"] and s["ProtectSystem"] == ["strict"] and s["PrivateTmp"] == ["yes"]
    # exactly the folders the config writes: the gallery's and the two output files'
    assert s["ReadWritePaths"] == [f"{tmp_path / 'clips'} {tmp_path / 'db'} {tmp_path / 'out'}"]
    assert s["StateDirectory"] == ["door-cam"] and s["SyslogIdentifier"] == ["door-cam"]
    assert s["StandardOutput"] == ["journal"] and s["StandardError"] == ["journal"]
    assert s["DevicePolicy"] == ["closed"]
    assert {"char-video4linux rw", "char-apex rw", "char-usb_device rw"} <= set(s["DeviceAllow"])
    assert s["WorkingDirectory"] == [str(tmp_path)]
    assert "User" not in s
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (Debian: apt-get install systemd)")
    unit = tmp_path / "door-cam.service"
    unit.write_text(text)
    ok, output = verify_unit(unit)
    assert ok, output
    for complaint in ("Unknown key", "Failed to parse", "ignoring", "Invalid", "fatal"):
        assert complaint not in output, output


@pytest.mark.subprocess  # systemd-analyze / the CLI is what is tested
def test_systemd_analyze_rejects_a_broken_unit(tmp_path: Path) -> None:
    """The verification the test above relies on can fail."""
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (Debian: apt-get install systemd)")
    text = render_unit(write_config(tmp_path), UnitOptions(), command=["relative/edge-sdk"])
    unit = tmp_path / "broken.service"
    unit.write_text(text)
    ok, output = verify_unit(unit)
    assert not ok and "relative/edge-sdk" in output


def test_user_watchdog_and_verify_with_a_user(tmp_path: Path) -> None:
    text = render_unit(write_config(tmp_path), UnitOptions(name="cam", user="edge", watchdog_s=10))
    s = settings(text)
    assert s["User"] == ["edge"] and s["WatchdogSec"] == ["10"]


def test_install_status_uninstall(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = write_config(tmp_path)
    units = tmp_path / "units"
    units.mkdir()
    assert main(["service", "status", "cam", "--unit-dir", str(units)]) == 3
    assert "not installed" in capsys.readouterr().out
    assert main(["service", "install", "--config", str(cfg), "--name", "cam", "--unit-dir", str(units)]) == 0
    out = capsys.readouterr()
    unit = units / "cam.service"
    assert out.out.strip() == str(unit) and unit.is_file()
    assert "systemctl enable --now cam" in out.err
    assert config_of_unit(unit) == cfg
    assert main(["service", "status", "cam.service", "--unit-dir", str(units), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["installed"] and info["config"] == str(cfg) and info["name"] == "cam"
    assert main(["service", "uninstall", "cam", "--unit-dir", str(units), "--dry-run"]) == 0
    assert unit.exists() and "would remove" in capsys.readouterr().out
    assert main(["service", "uninstall", "cam", "--unit-dir", str(units)]) == 0
    assert not unit.exists()
    assert main(["service", "uninstall", "cam", "--unit-dir", str(units)]) == 1
    assert "no unit" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--name", "a/b"], "a service name is letters"),
        (["--name", "has space"], "a service name is letters"),
        (["--user", "Root Admin"], "user must be a system user name"),
    ],
)
def test_bad_install_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    cfg = write_config(tmp_path)
    assert main(["service", "install", "--config", str(cfg), "--dry-run", *args]) == 1
    assert message in capsys.readouterr().err


def test_bad_config_is_refused_before_writing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "run.json"
    cfg.write_text(json.dumps({"task": "detect", "source": "usb:0", "sink": "jsonl:-", "status": {"x": 1}}))
    units = tmp_path / "units"
    units.mkdir()
    assert main(["service", "install", "--config", str(cfg), "--unit-dir", str(units)]) == 1
    assert "needs a model" in capsys.readouterr().err and not list(units.iterdir())
    cfg.write_text(json.dumps({"task": "faces", "source": "usb:0", "sink": "jsonl:-", "status": {"x": 1}}))
    assert main(["service", "install", "--config", str(cfg), "--unit-dir", str(units)]) == 1
    assert "unknown status key(s) x" in capsys.readouterr().err and not list(units.iterdir())


def test_unwritable_unit_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = write_config(tmp_path)
    assert main(["service", "install", "--config", str(cfg), "--unit-dir", str(tmp_path / "none")]) == 1
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["edge-sdk", "cam@0", "door.cam", "x_1"])
def test_good_names(name: str) -> None:
    assert check_name(name + ".service") == name


def test_paths_with_spaces_cannot_be_made_writable(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, sink=["jsonl:my out/x.jsonl"])
    with pytest.raises(OptionsError, match="must not contain spaces"):
        render_unit(cfg, UnitOptions())


@pytest.mark.subprocess  # systemd-analyze / the CLI is what is tested
def test_help_lists_the_service_command() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "edge_sdk.cli.main", "service", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0 and "install" in proc.stdout and "uninstall" in proc.stdout
