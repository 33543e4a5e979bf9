"""Regression tests for the defects of the security review (issue 17, "Defects found").

Every hostile input that could allocate without bound or block (``/dev/zero``, a FIFO, a zip
bomb, a huge declared image, a quadratic regex, a symlink loop) is fed in a subprocess with an
address-space limit and a timeout, so the old code fails the test instead of taking the machine.
"""

from __future__ import annotations

import io
import logging
import os
import struct
import subprocess
import sys
import textwrap
import zipfile
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_sdk.errors import (
    GalleryError,
    ImageError,
    LabelsError,
    MetadataError,
    ModelNotFoundError,
    NotATfliteModelError,
    OptionsError,
)
from edge_sdk.redact import RedactingFilter, redact

ROOT = Path(__file__).resolve().parents[2]
SECRET = "s3cretPW"


def run_isolated(code: str, *, timeout: float = 60.0, mem_mb: int = 1500) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter with RLIMIT_AS = ``mem_mb`` MiB and a wall-clock timeout.

    A timeout counts as a failure of the code under test (it hung), not of the test run.
    """
    prelude = (
        "import resource, sys\n"
        f"resource.setrlimit(resource.RLIMIT_AS, ({mem_mb << 20}, {mem_mb << 20}))\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    try:
        return subprocess.run(
            [sys.executable, "-c", prelude + textwrap.dedent(code)],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"the call did not finish within {timeout} s (it hangs or is super-linear): {exc}")


# -- 1. passwords in addresses --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rtsp://admin:s3cret@cam/stream", "rtsp://admin:***@cam/stream"),
        ("http://user:p@ss@10.0.0.2:8080/v.mjpg?x=1", "http://user:***@10.0.0.2:8080/v.mjpg?x=1"),
        ("cannot open stream rtsps://a:b@h/x: refused", "cannot open stream rtsps://a:***@h/x: refused"),
        ("mqqt://u:Secret@h/t", "mqqt://u:***@h/t"),
        ("rtsp://cam/stream", "rtsp://cam/stream"),
        ("http://token@h/x", "http://token@h/x"),
        ("/data/photos/a:b@c.jpg", "/data/photos/a:b@c.jpg"),
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.subprocess  # the hostile input runs in a child, under memory and time limits
def test_redact_is_linear_on_hostile_text() -> None:
    r = run_isolated(
        """
        from edge_sdk.redact import redact
        redact("a://" + "b:" * 200000 + "@")
        redact("x://" + " " * 200000 + "@")
        redact("y://u:" + "p" * 200000)
        print("ok")
        """,
        timeout=60,
    )
    assert r.stdout.strip() == "ok", r.stderr


def test_log_filter_masks_the_formatted_message() -> None:
    record = logging.LogRecord(
        "x", logging.WARNING, __file__, 1, "stream %s lost", ("rtsp://a:pw1@h/s",), None
    )
    assert RedactingFilter().filter(record)
    assert record.getMessage() == "stream rtsp://a:***@h/s lost"


def test_source_uri_is_redacted_and_raw_address_kept_for_capture() -> None:
    from devices.sources.base import Source

    src = Source(f"rtsp://admin:{SECRET}@cam/stream")
    assert src.uri == "rtsp://admin:***@cam/stream"
    assert src.raw_uri == f"rtsp://admin:{SECRET}@cam/stream"


def test_source_option_errors_are_redacted() -> None:
    from devices.sources import open_source

    with pytest.raises(OptionsError) as info:
        open_source(f"rtsp://admin:{SECRET}@127.0.0.1:9/x", bogus=1)
    assert SECRET not in str(info.value) and "admin:***@" in str(info.value)


def test_sink_uri_errors_are_redacted() -> None:
    from edge_sdk.sinks import open_sink

    with pytest.raises(OptionsError) as info:
        open_sink(f"mqqt://u:{SECRET}@h/t")
    assert SECRET not in str(info.value)
    with pytest.raises(OptionsError) as info:
        open_sink(f"mqtt://u:{SECRET}@h")  # no topic
    assert SECRET not in str(info.value)


# -- 7. typed errors --------------------------------------------------------------------------------


def test_unknown_sink_option_is_an_options_error(tmp_path: Path) -> None:
    from edge_sdk.sinks import open_sink

    with pytest.raises(OptionsError, match=r"unknown option.*fsnyc"):
        open_sink(f"jsonl:{tmp_path / 'o.jsonl'}", fsnyc=True)
    with pytest.raises(OptionsError, match=r"unknown option.*qual"):
        open_sink("preview:127.0.0.1:0", qual=3)


@pytest.mark.parametrize("uri", ["mqtt://[::1/topic", "mqtt://[fe80::1%/t", "mqtt://[zz::1]/t"])
def test_malformed_ipv6_broker_is_an_options_error(uri: str) -> None:
    from edge_sdk.sinks.mqtt import MqttSink

    with pytest.raises(OptionsError, match=r"MQTT address|expected mqtt"):
        MqttSink(uri)


def test_ipv6_broker_address_is_accepted() -> None:
    from edge_sdk.sinks.mqtt import MqttSink

    assert MqttSink("mqtt://[::1]:1884/t").host == "::1"


@pytest.mark.parametrize(
    "template", ["edge/{source:>99999}", "edge/{source!r}", "edge/{task:x}", "edge/{source"]
)
def test_topic_template_format_specs_are_rejected(template: str) -> None:
    from edge_sdk.sinks.mqtt import MqttSink

    with pytest.raises(OptionsError, match=r"format spec|malformed topic"):
        MqttSink(f"mqtt://127.0.0.1/{template}")


def _config_from(path: Path) -> None:
    from edge_sdk.pipeline.config import RunConfig

    RunConfig.from_file(path)


def test_deeply_nested_config_is_an_options_error(tmp_path: Path) -> None:
    p = tmp_path / "c.json"
    p.write_text("[" * 200_000 + "]" * 200_000)
    with pytest.raises(OptionsError, match=f"config {p} nests JSON 200000 levels deep; expected at most 64"):
        _config_from(p)


@pytest.mark.subprocess  # a failure here is a crash of the whole interpreter
def test_deep_json_is_refused_even_with_the_recursion_limit_raised(tmp_path: Path) -> None:
    """onnx2tf sets the recursion limit to INT_MAX when imported; json.loads on deep nesting
    then overflows the C stack (a segfault that killed a whole test run). The nesting is
    checked before parsing, so it never gets that far."""
    p = tmp_path / "c.json"
    p.write_text("[" * 200_000 + "]" * 200_000)
    child = (
        "import sys; sys.setrecursionlimit(2**31 - 1)\n"
        "from edge_sdk.errors import OptionsError\n"
        "from edge_sdk.pipeline.config import RunConfig\n"
        "try:\n    RunConfig.from_file(sys.argv[1])\n"
        "except OptionsError as exc:\n    print('typed:', exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", child, str(p)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "typed: config" in out.stdout and "levels deep" in out.stdout


def test_non_utf8_config_is_an_options_error(tmp_path: Path) -> None:
    p = tmp_path / "c.json"
    p.write_bytes(b'{"task": "\xff\xfe"}')
    with pytest.raises(OptionsError, match=f"config {p} is not UTF-8"):
        _config_from(p)


def test_deeply_nested_edge_sdk_json_is_a_metadata_error() -> None:
    from edge_sdk.metadata import parse_metadata

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("edge_sdk.json", "[" * 100_000 + "]" * 100_000)
    with pytest.raises(MetadataError, match=r"edge_sdk\.json nests JSON 100000 levels deep"):
        parse_metadata(b"TFL3" + buf.getvalue(), {}, "m.tflite")


# -- 6. unbounded reads ------------------------------------------------------------------------------


@pytest.mark.subprocess  # the hostile input runs in a child, under memory and time limits
def test_labels_from_dev_zero_is_refused_without_reading() -> None:
    r = run_isolated(
        """
        from edge_sdk.labels import LabelMap
        from edge_sdk.errors import LabelsError
        try:
            LabelMap.from_file("/dev/zero")
        except LabelsError as exc:
            print("LabelsError:", exc)
        """,
        mem_mb=300,
        timeout=60,
    )
    assert "LabelsError: label file /dev/zero is a character device" in r.stdout, r.stderr[-2000:]


@pytest.mark.subprocess  # the hostile input runs in a child, under memory and time limits
def test_config_from_dev_zero_is_refused_without_reading() -> None:
    r = run_isolated(
        """
        from edge_sdk.pipeline.config import RunConfig
        from edge_sdk.errors import OptionsError
        try:
            RunConfig.from_file("/dev/zero")
        except OptionsError as exc:
            print("OptionsError:", exc)
        """,
        mem_mb=1000,
        timeout=60,
    )
    assert "OptionsError: config /dev/zero is a character device" in r.stdout, r.stderr[-2000:]


@pytest.mark.parametrize(
    ("call", "error"),
    [
        ("from edge_sdk.labels import LabelMap; LabelMap.from_file(P)", "LabelsError: label file"),
        ("from edge_sdk.pipeline.config import RunConfig; RunConfig.from_file(P)", "OptionsError: config"),
        ("from edge_sdk.cli.info import describe; describe(P)", "NotATfliteModelError: model file"),
        ("from edge_sdk.model import Model; Model(P)", "NotATfliteModelError: model file"),
        ("from edge_sdk.image import load_image; load_image(P)", "ImageError: image"),
    ],
)
@pytest.mark.subprocess  # the hostile input runs in a child, under memory and time limits
def test_a_fifo_is_refused_without_hanging(tmp_path: Path, call: str, error: str) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    r = run_isolated(
        f"""
        P = {str(fifo)!r}
        try:
            {call}
        except Exception as exc:
            print(type(exc).__name__ + ":", exc)
        """,
        mem_mb=1500,
        timeout=60,
    )
    assert error in r.stdout and "FIFO" in r.stdout, r.stdout + r.stderr[-2000:]


def test_info_on_dev_zero_says_what_it_is() -> None:
    from edge_sdk.cli.info import describe

    with pytest.raises(NotATfliteModelError, match="/dev/zero is a character device"):
        describe("/dev/zero")
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        describe("/nonexistent/model.tflite")


def test_label_file_over_the_cap_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import edge_sdk.labels as labels_mod

    monkeypatch.setattr(labels_mod, "LABELS_MAX_BYTES", 1000)
    p = tmp_path / "labels.txt"
    p.write_text("cat\n" * 1000)
    with pytest.raises(LabelsError, match="4000 bytes; expected at most 1000"):
        labels_mod.LabelMap.from_file(p)


@pytest.mark.subprocess  # the hostile input runs in a child, under memory and time limits
def test_label_parsing_is_linear() -> None:
    # The old regex took ~0.27 s for 8,000 spaces and grew with the square: 400 k characters
    # would take over ten minutes. The limit below is a hang detector, not a benchmark.
    r = run_isolated(
        """
        from edge_sdk.labels import LabelMap
        m = LabelMap.parse("0" + " " * 400_000 + "\\n1 dog\\n")
        print(len(m))
        m = LabelMap.parse("0 " + ": " * 200_000 + "x\\n")
        print(m.get(0))
        """,
        timeout=60,
    )
    assert r.stdout.split() == ["2", "x"], r.stderr[-2000:]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0 cat\n1 dog\n", {0: "cat", 1: "dog"}),
        ("0: cat\n 2 ,  big dog \n", {0: "cat", 2: "big dog"}),
        ("cat\n\ndog\n\n", {0: "cat", 1: "", 2: "dog"}),
        ("1 ::\n", {1: ":"}),
        ("0 cat\nmouse\n", {0: "0 cat", 1: "mouse"}),
        ("1234567890123 x\n", {0: "1234567890123 x"}),
    ],
)
def test_label_formats_unchanged(text: str, expected: dict[int, str]) -> None:
    from edge_sdk.labels import LabelMap

    assert dict(LabelMap.parse(text).labels) == expected


# -- 2. metadata zip ----------------------------------------------------------------------------------


def _tflite_stub() -> bytes:
    """A minimal byte string that is not a zip; parse_metadata only needs the zip tail."""
    return b"\x1c\x00\x00\x00TFL3" + b"\x00" * 64


def _zip_tail(members: dict[str, bytes], *, level: int = 6) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _patch_member(blob: bytes, name: str, *, flag: int | None = None, method: int | None = None,
                  size: int | None = None) -> bytes:  # fmt: skip
    """Rewrite fields of ``name``'s local and central headers in a zip."""
    b = bytearray(blob)
    encoded = name.encode()
    for sig, flag_at, method_at, size_at, name_len_at, name_at in (
        (b"PK\x03\x04", 6, 8, 22, 26, 30),
        (b"PK\x01\x02", 8, 10, 24, 28, 46),
    ):
        pos = b.find(sig)
        while pos >= 0:
            (n,) = struct.unpack_from("<H", b, pos + name_len_at)
            if bytes(b[pos + name_at : pos + name_at + n]) == encoded:
                if flag is not None:
                    struct.pack_into("<H", b, pos + flag_at, flag)
                if method is not None:
                    struct.pack_into("<H", b, pos + method_at, method)
                if size is not None:
                    struct.pack_into("<I", b, pos + size_at, size)
            pos = b.find(sig, pos + 4)
    return bytes(b)


@pytest.mark.subprocess  # the hostile input runs in a child, under memory and time limits
def test_zip_bomb_member_is_never_decompressed(tmp_path: Path) -> None:
    """An unnamed 256 MB member (about 1 MB compressed): the old code read it whole."""
    path = tmp_path / "bomb.tflite"
    with open(path, "wb") as fh:
        fh.write(_tflite_stub())
        with zipfile.ZipFile(fh, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
            zf.writestr("edge_sdk.json", '{"task": "classify"}')
            with zf.open("junk.bin", "w") as w:
                chunk = b"\0" * (8 << 20)
                for _ in range(32):
                    w.write(chunk)
    assert path.stat().st_size < 3 << 20
    r = run_isolated(
        f"""
        from pathlib import Path
        from edge_sdk.metadata import parse_metadata
        meta = parse_metadata(Path({str(path)!r}).read_bytes(), {{}}, "bomb.tflite")
        print(meta.task, sorted(meta.files))
        """,
        mem_mb=200,
        timeout=120,
    )
    assert r.stdout.strip() == "classify ['edge_sdk.json', 'junk.bin']", r.stderr[-2000:]


def test_declared_size_over_the_cap_is_refused_before_reading() -> None:
    from edge_sdk.metadata import MAX_MEMBER_BYTES, parse_metadata

    blob = _patch_member(_zip_tail({"edge_sdk.json": "{}"}), "edge_sdk.json", size=MAX_MEMBER_BYTES + 1)
    with pytest.raises(MetadataError, match=f"declares {MAX_MEMBER_BYTES + 1} bytes; expected at most"):
        parse_metadata(_tflite_stub() + blob, {}, "m.tflite")


def test_member_that_lies_about_its_size_is_cut_off() -> None:
    from edge_sdk.metadata import parse_metadata

    blob = _zip_tail({"edge_sdk.json": '{"task": "classify"}' + " " * 100_000})
    blob = _patch_member(blob, "edge_sdk.json", size=10)  # declares 10 bytes, inflates to 100 kB
    with pytest.raises(MetadataError, match=r"edge_sdk\.json"):
        parse_metadata(_tflite_stub() + blob, {}, "m.tflite")


@pytest.mark.parametrize(
    ("patch", "why"),
    [({"flag": 1}, "RuntimeError|encrypted"), ({"method": 9}, "NotImplementedError|compression")],
    ids=["encrypted", "deflate64"],
)
def test_unreadable_members_are_metadata_errors(patch: dict[str, int], why: str) -> None:
    from edge_sdk.metadata import parse_metadata

    blob = _patch_member(_zip_tail({"edge_sdk.json": '{"task": "detect"}'}), "edge_sdk.json", **patch)
    with pytest.raises(MetadataError, match=why):
        parse_metadata(_tflite_stub() + blob, {}, "m.tflite")


def test_crc_error_is_a_metadata_error() -> None:
    from edge_sdk.metadata import parse_metadata

    blob = bytearray(_zip_tail({"edge_sdk.json": '{"task": "detect"}'}, level=0))
    blob[blob.find(b'"task"') + 2] ^= 0x01  # stored member: flip a data byte, CRC no longer matches
    with pytest.raises(MetadataError, match=r"edge_sdk\.json"):
        parse_metadata(_tflite_stub() + bytes(blob), {}, "m.tflite")


def test_real_model_metadata_still_reads(assets: Path) -> None:
    from edge_sdk.model import Model

    paths = sorted(assets.glob("classification/**/*.tflite"))
    with_labels = [p for p in paths if p.stat().st_size < 8 << 20]
    for p in with_labels[:3]:
        meta = Model(p).metadata
        assert isinstance(meta.files, tuple)


# -- 3. images -----------------------------------------------------------------------------------------


def _png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG whose IHDR declares ``width`` x ``height`` with one short IDAT (69 bytes)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 8))
        + chunk(b"IEND", b"")
    )


@pytest.mark.subprocess  # the hostile input runs in a child, under memory and time limits
def test_huge_declared_png_in_a_folder_is_skipped_with_a_warning(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "bomb.png").write_bytes(_png_header_only(60000, 60000))
    assert len((folder / "bomb.png").read_bytes()) < 100
    _ok, buf = cv2.imencode(".png", np.full((32, 48, 3), 128, np.uint8))
    (folder / "fine.png").write_bytes(buf.tobytes())
    r = run_isolated(
        f"""
        import logging
        logging.basicConfig(level=logging.WARNING)
        from devices.sources.images import ImageSource
        src = ImageSource({str(folder)!r})
        frames = [f.source.rsplit("/", 1)[-1] for f in src]
        print(frames, src.skipped)
        """,
        mem_mb=1500,
        timeout=60,
    )
    assert r.stdout.strip() == "['fine.png'] 1", r.stdout + r.stderr[-2000:]
    assert "skipping" in r.stderr and "bomb.png" in r.stderr and "60000x60000" in r.stderr


@pytest.mark.subprocess  # the hostile input runs in a child, under memory and time limits
def test_image_over_the_pixel_limit_is_refused_before_decoding(tmp_path: Path) -> None:
    """10000x10000 declared: the old code decoded it (467 MB peak)."""
    p = tmp_path / "big.png"
    p.write_bytes(_png_header_only(10000, 10000))
    r = run_isolated(
        f"""
        from edge_sdk.image import load_image
        from edge_sdk.errors import ImageError
        try:
            load_image({str(p)!r})
        except ImageError as exc:
            print("ImageError:", exc)
        """,
        mem_mb=1500,
        timeout=60,
    )
    assert "ImageError: image" in r.stdout and "100000000 pixels; expected at most 50000000" in r.stdout, (
        r.stdout + r.stderr[-2000:]
    )


def test_pixel_limit_is_configurable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from edge_sdk.image import load_image

    p = tmp_path / "a.jpg"
    _ok, buf = cv2.imencode(".jpg", np.zeros((40, 50, 3), np.uint8))
    p.write_bytes(buf.tobytes())
    assert load_image(p).shape == (40, 50, 3)
    with pytest.raises(ImageError, match="50x40 = 2000 pixels; expected at most 1999"):
        load_image(p, max_pixels=1999)
    monkeypatch.setenv("EDGE_SDK_MAX_IMAGE_PIXELS", "1000")
    with pytest.raises(ImageError, match="expected at most 1000"):
        load_image(p)
    monkeypatch.setenv("EDGE_SDK_MAX_IMAGE_PIXELS", "lots")
    with pytest.raises(ImageError, match="EDGE_SDK_MAX_IMAGE_PIXELS must be a positive integer"):
        load_image(p)


@pytest.mark.parametrize("ext", [".png", ".jpg", ".bmp", ".webp"])
def test_header_size_matches_the_decoder(ext: str) -> None:
    from edge_sdk.image import header_size

    _ok, buf = cv2.imencode(ext, np.zeros((37, 53, 3), np.uint8))
    assert header_size(buf.tobytes()) == (53, 37)


def test_opencv_errors_become_image_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import edge_sdk.image as image_mod

    p = tmp_path / "x.png"
    _ok, buf = cv2.imencode(".png", np.zeros((4, 4, 3), np.uint8))
    p.write_bytes(buf.tobytes())

    def failing(data: np.ndarray, flags: int) -> np.ndarray:
        raise cv2.error("OpenCV(4.x) error: (-215:Assertion failed) pixels <= CV_IO_MAX_IMAGE_PIXELS")

    monkeypatch.setattr(image_mod.cv2, "imdecode", failing)
    with pytest.raises(ImageError, match=r"cannot be decoded: .*CV_IO_MAX_IMAGE_PIXELS"):
        image_mod.load_image(p)


# -- 9. smaller defects ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["Ann\u202eeb", "Bob\u200d", "Eve\x1b[2J", "Tab\tName", "x\u2066y"])
def test_gallery_names_reject_control_and_format_characters(name: str) -> None:
    from edge_sdk.tasks.faces.gallery import check_name

    with pytest.raises(OptionsError, match="control or format characters"):
        check_name(name)


def test_gallery_names_still_accept_letters_of_any_script() -> None:
    from edge_sdk.tasks.faces.gallery import check_name

    assert check_name("  Zoë Ångström 李雷 ") == "Zoë Ångström 李雷"


@pytest.mark.parametrize("err", [1, 95, 18])  # EPERM (vfat), EOPNOTSUPP, EXDEV
def test_gallery_is_created_where_hard_links_are_not_allowed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, err: int
) -> None:
    """FAT and exFAT refuse link(); the gallery falls back to an exclusive create."""
    import edge_sdk.tasks.faces.store as gallery_mod
    from edge_sdk.tasks.faces.gallery import Gallery

    def no_links(src: object, dst: object) -> None:
        raise OSError(err, os.strerror(err))

    monkeypatch.setattr(gallery_mod.os, "link", no_links)
    path = tmp_path / "g.db"
    g = Gallery(path, create=True)
    g.close()
    assert path.is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".new")]
    Gallery(path).close()  # opens as a valid gallery


def test_gallery_fallback_never_replaces_a_file_made_meanwhile(tmp_path: Path) -> None:
    from edge_sdk.tasks.faces.store import _copy_exclusive

    src, dst = tmp_path / "new", tmp_path / "g.db"
    src.write_bytes(b"new")
    dst.write_bytes(b"theirs")
    _copy_exclusive(src, dst)
    assert dst.read_bytes() == b"theirs"
    with pytest.raises(GalleryError):
        raise GalleryError("typed")  # the type exists for the caller's errors


@pytest.mark.subprocess  # the hostile input runs in a child, under memory and time limits
def test_recursive_glob_does_not_follow_symlink_loops(tmp_path: Path) -> None:
    root = tmp_path / "imgs"
    (root / "a" / "b").mkdir(parents=True)
    _ok, buf = cv2.imencode(".png", np.zeros((4, 4, 3), np.uint8))
    for rel in ("top.png", "a/mid.png", "a/b/deep.png", "a/.hidden.png"):
        (root / rel).write_bytes(buf.tobytes())
    (root / "a" / "b" / "up").symlink_to("..")
    (root / "a" / "b" / "top").symlink_to("../..")
    (root / "a" / "loop").symlink_to(".")
    r = run_isolated(
        f"""
        from devices.sources.images import expand_images
        paths, _ = expand_images({str(root)!r} + "/**/*.png")
        print(sorted(str(p.relative_to({str(root)!r})) for p in paths))
        """,
        timeout=60,
    )
    assert r.stdout.strip() == "['a/b/deep.png', 'a/mid.png', 'top.png']", r.stdout + r.stderr[-2000:]


def test_recursive_glob_matches_like_glob(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import glob

    from devices.sources.images import recursive_glob

    for rel in ("x.jpg", "d/y.jpg", "d/e/z.jpg", "d/e/z.png", ".h/w.jpg", "d/.v.jpg"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    monkeypatch.chdir(tmp_path)
    for pattern in ("**/*.jpg", "d/**/*.jpg", "**/e/*", f"{tmp_path}/**/z.*", "d/**", "**/.v.jpg"):
        ours = sorted(p for p in recursive_glob(pattern) if os.path.isfile(p))
        theirs = sorted(p for p in glob.glob(pattern, recursive=True) if os.path.isfile(p))
        assert ours == theirs, pattern
