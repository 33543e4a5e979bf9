"""Fuzz inputs drawn with hypothesis, written as files under a work folder, as harness cases.

Hypothesis draws the mutations (bit flips, truncations, inserted and overwritten bytes, integers
written over flatbuffer offsets, rebuilt zip members, rewritten image headers, structured
JSON, URIs); the cases then run in a capped child (:mod:`tests.fuzz_harness`), many per child.
Real inputs come from ``../shared/assets`` and are only read; every mutated copy is written
under ``work``. Each family is deterministic for a given seed.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import struct
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hseed
from hypothesis import strategies as st

Case = dict[str, str]

# Real models, smallest first: a tiny graph (structure is most of its bytes), an LSTM, and a
# classifier with metadata and a labels zip.
TINY_MODEL = "edgetpu/compiled_pairs/split_concat.tflite"
LSTM_MODEL = "edgetpu/compiled_pairs/keras_lstm_mnist_ptq.tflite"
META_MODEL = "classification/mobilenet_v1_0.25_224_quant_with_metadata.tflite"
PHOTO = "classification/images/parrot.jpg"


def draw_all(strategy: st.SearchStrategy[Any], n: int, seed: int) -> list[Any]:
    """``n`` examples of ``strategy`` (fewer if the space is smaller), reproducible from ``seed``.

    In the test suite the draw is also derandomized (Hypothesis then derives its choices from
    the strategy alone), so CI fuzzes the same inputs every run and a failure there is always a
    real, repeatable one; ``ci/fuzz_long.py`` sets ``EDGE_SDK_FUZZ_RANDOM=1`` to explore.
    """
    out: list[Any] = []

    @hseed(seed)
    @settings(
        max_examples=n,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        derandomize=os.environ.get("EDGE_SDK_FUZZ_RANDOM") != "1",
    )
    @given(strategy)
    def collect(example: Any) -> None:
        out.append(example)

    collect()
    return out


# -- byte mutations ------------------------------------------------------------------------------

INTERESTING_INTS = [0, 1, 2, 4, 8, 0x7F, 0x80, 0xFF, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF]


def _offset(length: int) -> st.SearchStrategy[int]:
    """Offsets biased to the start and end, where flatbuffer tables, headers and zips live."""
    last = max(length - 1, 0)
    return st.one_of(
        st.integers(0, min(last, 512)),
        st.integers(max(0, last - 4096), last),
        st.integers(0, last),
    )


def byte_mutations(length: int) -> st.SearchStrategy[list[tuple[Any, ...]]]:
    """A list of 1–3 mutations of a byte string of ``length`` bytes (flips and integers weigh most)."""
    off = _offset(length)
    flip = st.tuples(st.just("flip"), off, st.integers(0, 7))
    int32 = st.tuples(st.just("int32"), off, st.sampled_from(INTERESTING_INTS))
    op = st.one_of(
        flip,
        flip,
        flip,
        int32,
        int32,
        st.tuples(st.just("truncate"), st.integers(0, max(length - 1, 0))),
        st.tuples(st.just("insert"), off, st.binary(min_size=1, max_size=64)),
        st.tuples(st.just("overwrite"), off, st.binary(min_size=1, max_size=16)),
    )
    return st.lists(op, min_size=1, max_size=3)


def apply_mutations(data: bytes, ops: list[tuple[Any, ...]]) -> bytes:
    buf = bytearray(data)
    for op in ops:
        if not buf:
            break
        kind, at = op[0], min(op[1], len(buf) - 1)
        if kind == "flip":
            buf[at] ^= 1 << op[2]
        elif kind == "truncate":
            del buf[at:]
        elif kind == "insert":
            buf[at:at] = op[2]
        elif kind == "overwrite":
            buf[at : at + len(op[2])] = op[2]
        elif kind == "int32":
            buf[at : at + 4] = struct.pack("<I", op[2])
    return bytes(buf)


# -- models --------------------------------------------------------------------------------------


def model_cases(assets: Path, work: Path, n: int, seed: int) -> list[Case]:
    """Byte-level mutations of three real models; the metadata model also through the classifier."""
    out: list[Case] = []
    folder = work / "models"
    folder.mkdir(parents=True, exist_ok=True)
    plan = [(TINY_MODEL, "model", 0.4), (LSTM_MODEL, "model", 0.3), (META_MODEL, "classifier", 0.3)]
    for k, (rel, target, share) in enumerate(plan):
        data = (assets / rel).read_bytes()
        for i, ops in enumerate(draw_all(byte_mutations(len(data)), max(1, int(n * share)), seed + k)):
            p = folder / f"m{k}_{i}.tflite"
            p.write_bytes(apply_mutations(data, ops))
            out.append({"target": target, "arg": str(p)})
    return out


_ZIP_METHODS = [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA]


@st.composite
def _zip_tail(draw: st.DrawFn) -> tuple[list[tuple[str, bytes, int]], list[tuple[Any, ...]]]:
    names = st.one_of(
        st.sampled_from(["labels.txt", "edge_sdk.json", "../labels.txt", "x/labels.txt", ""]),
        st.text(max_size=20),
    )
    label_text = st.lists(st.text(max_size=30), max_size=50).map(
        lambda ls: "\n".join(ls).encode("utf-8", "replace")
    )
    content = st.one_of(st.binary(max_size=2000), label_text, _json_bytes())
    members = draw(st.lists(st.tuples(names, content, st.sampled_from(_ZIP_METHODS)), max_size=5))
    return members, draw(
        st.lists(st.tuples(st.just("flip"), st.integers(0, 10_000), st.integers(0, 7)), max_size=3)
    )


def zip_cases(assets: Path, work: Path, n: int, seed: int) -> list[Case]:
    """The metadata model with its labels zip replaced by drawn members, methods and flips."""
    data = (assets / META_MODEL).read_bytes()
    zf = zipfile.ZipFile(io.BytesIO(data))
    head = data[: min(i.header_offset for i in zf.infolist())]
    folder = work / "zips"
    folder.mkdir(parents=True, exist_ok=True)
    out: list[Case] = []
    for i, (members, flips) in enumerate(draw_all(_zip_tail(), n, seed)):
        tail = io.BytesIO()
        with zipfile.ZipFile(tail, "w") as z:
            for name, content, method in members:
                with contextlib.suppress(ValueError, UnicodeEncodeError):
                    z.writestr(zipfile.ZipInfo(name or "x"), content, compress_type=method)
        raw = bytearray(tail.getvalue())
        for _, at, bit in flips:
            if raw:
                raw[at % len(raw)] ^= 1 << bit
        p = folder / f"z{i}.tflite"
        p.write_bytes(head + bytes(raw))
        out.append({"target": "classifier", "arg": str(p)})
    return out


# -- images --------------------------------------------------------------------------------------


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_declaring(width: int, height: int, payload: bytes = b"") -> bytes:
    """A PNG whose IHDR declares ``width``×``height`` (RGB, 8 bit) with ``payload`` as IDAT."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(payload))
        + _png_chunk(b"IEND", b"")
    )


def bmp_declaring(width: int, height: int, bits: int = 24) -> bytes:
    """A BMP header declaring ``width``×``height`` with a few bytes of pixels."""
    pixels = b"\x00" * 64
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, bits, 0, len(pixels), 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 14 + len(info) + len(pixels), 0, 0, 54) + info + pixels


def jpeg_declaring(base: bytes, width: int, height: int) -> bytes:
    """``base`` (a JPEG) with its SOF0 width and height rewritten."""
    at = base.find(b"\xff\xc0")
    if at < 0:
        return base
    return base[: at + 5] + struct.pack(">HH", height, width) + base[at + 9 :]


def image_cases(assets: Path, work: Path, n: int, seed: int) -> list[Case]:
    """Mutated JPEG/PNG/BMP encodings of a real photo, 0×0 and huge declared sizes."""
    photo = cv2.imread(str(assets / PHOTO))
    small = cv2.resize(photo, (48, 32), interpolation=cv2.INTER_AREA)
    bases = {ext: cv2.imencode(ext, small)[1].tobytes() for ext in (".jpg", ".png", ".bmp")}
    folder = work / "images"
    folder.mkdir(parents=True, exist_ok=True)
    out: list[Case] = []

    def add(name: str, data: bytes) -> None:
        p = folder / name
        p.write_bytes(data)
        out.append({"target": "image", "arg": str(p)})

    for k, (ext, base) in enumerate(bases.items()):
        for i, ops in enumerate(draw_all(byte_mutations(len(base)), max(1, n // 4), seed + k)):
            add(f"i{k}_{i}{ext}", apply_mutations(base, ops))
    dims = st.tuples(
        st.sampled_from([0, 1, 2, 65535, 65536, 60000, 2**31 - 1, 2**32 - 1]) | st.integers(0, 2**32 - 1),
        st.sampled_from([0, 1, 2, 65535, 60000, 2**31 - 1]) | st.integers(0, 2**32 - 1),
        st.sampled_from(["png", "bmp", "jpg"]),
    )
    for i, (w, h, kind) in enumerate(draw_all(dims, max(1, n - len(out)), seed + 9)):
        if kind == "png":
            add(f"d{i}.png", png_declaring(w, h, b"\x00" * 16))
        elif kind == "bmp":
            add(f"d{i}.bmp", bmp_declaring(_int32(w), _int32(h)))
        else:
            add(f"d{i}.jpg", jpeg_declaring(bases[".jpg"], w & 0xFFFF, h & 0xFFFF))
    add("zero.png", png_declaring(0, 0))
    add("zero.bmp", bmp_declaring(0, 0))
    add("zero.jpg", jpeg_declaring(bases[".jpg"], 0, 0))
    add("empty.png", b"")
    return out


def _int32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v >= 1 << 31 else v


# -- labels and configs --------------------------------------------------------------------------


def _json_values() -> st.SearchStrategy[Any]:
    scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
    return st.recursive(
        scalars,
        lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4),
        max_leaves=12,
    )


def _json_bytes() -> st.SearchStrategy[bytes]:
    return _json_values().map(lambda v: json.dumps(v, allow_nan=True).encode())


CONFIG_KEYS = [
    "task", "model", "source", "sink", "labels", "accelerator", "threshold", "top_k", "max_frames",
    "duration", "queue_size", "drop_oldest", "status", "home_assistant", "fps", "size", "gallery",
    "max_results", "strict",
]  # fmt: skip


def _config_text() -> st.SearchStrategy[bytes]:
    good = {"task": "classify", "model": "m.tflite", "source": "images/", "sink": "jsonl:-"}
    structured = st.dictionaries(st.sampled_from(CONFIG_KEYS), _json_values(), max_size=6).map(
        lambda d: json.dumps({**good, **d}).encode()
    )
    deep = st.integers(1, 100_000).map(lambda k: b"[" * k + b"]" * k)
    return st.one_of(structured, _json_bytes(), st.binary(max_size=400), deep)


def _label_text() -> st.SearchStrategy[bytes]:
    line = st.one_of(
        st.text(max_size=40),
        st.tuples(
            st.integers(-5, 10**12), st.sampled_from([" ", "  ", "\t", ": ", ",", ""]), st.text(max_size=20)
        ).map(lambda t: f"{t[0]}{t[1]}{t[2]}"),
        st.integers(0, 200_000).map(lambda k: " " * k + "x"),
    )
    text = st.lists(line, max_size=60).map(lambda ls: "\n".join(ls).encode("utf-8", "surrogatepass"))
    return st.one_of(text, st.binary(max_size=400))


def text_cases(work: Path, n: int, seed: int) -> list[Case]:
    """Label files and config files, as drawn bytes."""
    folder = work / "text"
    folder.mkdir(parents=True, exist_ok=True)
    out: list[Case] = []
    for i, data in enumerate(draw_all(_label_text(), n // 2, seed)):
        p = folder / f"l{i}.txt"
        p.write_bytes(data)
        out.append({"target": "labels", "arg": str(p)})
    for i, data in enumerate(draw_all(_config_text(), n - n // 2, seed + 1)):
        p = folder / f"c{i}.json"
        p.write_bytes(data)
        out.append({"target": "config", "arg": str(p)})
    return out


# -- URIs ----------------------------------------------------------------------------------------

_HOSTS = ["127.0.0.1:1", "[::1]:1", "127.0.0.1", "[::1", "localhost:1", "127.0.0.1:99999", ":", "@", "[]", ""]


def _uri_part() -> st.SearchStrategy[str]:
    return st.one_of(
        st.text(max_size=12),
        st.sampled_from(
            ["", "/", "//", "%", "%zz", "?", "#", "{source}", "{", "}", "{source:>9}", "..", "\x00", "\u202e"]
        ),
    )


def uri_cases(work: Path, n: int, seed: int) -> list[Case]:
    """Source and sink URIs: drawn schemes, users, passwords, hosts, paths and queries.

    Hosts are loopback (refused ports) or malformed; the child refuses any other host, so no
    case reaches the network. File paths are relative to the child's working folder ``work``.
    """
    userinfo = st.one_of(
        st.just(""),
        st.builds(lambda u, p: f"{u}:{p}@", _uri_part(), _uri_part()).filter(
            lambda s: not any(c in s for c in "/?#\\")
        ),
    )
    # Network schemes get loopback or malformed hosts only and a path that starts with "/",
    # so neither FFmpeg's resolver nor paho's ever looks up a real name.
    network = st.builds(
        lambda scheme, user, host, path: f"{scheme}{user}{host}/{path}",
        st.sampled_from(["rtsp://", "rtsps://", "http://", "https://", "RTSP://"]),
        userinfo,
        st.sampled_from(_HOSTS),
        _uri_part(),
    )
    device = st.builds(
        lambda scheme, rest: f"{scheme}{rest}",
        st.sampled_from(["picamera2:", "csi://", "usb:", "/dev/video"]),
        st.sampled_from(["0", "7", "-1", "99999999999", ""])
        | st.text(max_size=6).filter(lambda s: "/" not in s),
    )
    local = st.builds(
        lambda name, ext: f"{name}{ext}",
        st.text(max_size=10).filter(lambda s: "/" not in s and "\\" not in s and s not in ("", ".", "..")),
        st.sampled_from([".mp4", ".avi", ".jpg", "/", "/*.png", "**/*.jpg", ".mkv", ""]),
    )
    sink = st.builds(
        lambda scheme, user, host, path, query: f"{scheme}{user}{host}{path}{query}",
        st.sampled_from(
            ["mqtt://", "mqtts://", "mqqt://", "preview:", "jsonl:", "video:", "", "MQTT://", "tcp://"]
        ),
        userinfo,
        st.sampled_from([*_HOSTS, "0", "65536", "-1", "127.0.0.1:0", "x.mp4", "out.jsonl"]),
        _uri_part(),
        st.one_of(
            st.just(""),
            st.builds(
                lambda k, v: f"?{k}={v}",
                st.sampled_from(["qos", "retain", "token", "hosts", "x", ""]),
                _uri_part(),
            ),
        ),
    )
    out: list[Case] = []
    for u in draw_all(network | device | local, n // 2, seed):
        out.append({"target": "source", "arg": u})
    for u in draw_all(sink, n - n // 2, seed + 1):
        out.append({"target": "sink", "arg": u})
    return out


FAMILIES: dict[str, Callable[..., list[Case]]] = {
    "models": model_cases,
    "zips": zip_cases,
    "images": image_cases,
}
