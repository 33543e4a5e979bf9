"""Gallery: SQLite store of identities and embeddings (no models: random unit vectors)."""

from __future__ import annotations

import errno
import hashlib
import os
import sqlite3
import stat
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edge_sdk.errors import (
    EmbedderMismatchError,
    GalleryCorruptError,
    GalleryError,
    GalleryWriteError,
    OptionsError,
    UnknownIdentityError,
)
from edge_sdk.tasks.faces.embedder import EmbedderIdentity
from edge_sdk.tasks.faces.gallery import APPLICATION_ID, SCHEMA_VERSION, Gallery

EMB = EmbedderIdentity("a" * 64, 16)
OTHER = EmbedderIdentity("b" * 64, 16)


def unit(rng: np.random.Generator, n: int, d: int = 16) -> np.ndarray:
    v = rng.normal(size=(n, d)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def digest(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_created_private_with_schema_version(tmp_path: Path) -> None:
    p = tmp_path / "g.db"
    with Gallery(p) as g:
        g.enrol("ada", unit(np.random.default_rng(0), 1)[0], EMB)
        for f in tmp_path.iterdir():  # the db and its -wal/-shm companions
            assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    conn = sqlite3.connect(p)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
    assert sorted(f.name for f in tmp_path.iterdir() if not f.name.startswith("g.db")) == []


def test_missing_file_without_create(tmp_path: Path) -> None:
    with pytest.raises(GalleryError, match="does not exist"):
        Gallery(tmp_path / "nope.db", create=False)
    assert not (tmp_path / "nope.db").exists()


def test_enrol_list_rename_remove(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    g = Gallery(tmp_path / "g.db")
    assert g.enrol("ada", unit(rng, 2), EMB) == 2
    assert g.enrol(" ada ", unit(rng, 1), EMB) == 3  # names are stripped
    assert g.enrol("bob", unit(rng, 1)[0], EMB) == 1
    assert [(i.name, i.embeddings) for i in g.identities()] == [("ada", 3), ("bob", 1)]
    assert "ada" in g and "carol" not in g and len(g) == 2
    g.rename("bob", "carol")
    assert [i.name for i in g] == ["ada", "carol"]
    with pytest.raises(GalleryError, match="already enrolled"):
        g.rename("carol", "ada")
    with pytest.raises(UnknownIdentityError, match="'zed'"):
        g.rename("zed", "x")
    assert g.remove("ada") == 3
    with pytest.raises(UnknownIdentityError):
        g.remove("ada")
    assert [i.name for i in g] == ["carol"]
    g.close()
    assert [i.name for i in Gallery(tmp_path / "g.db", create=False)] == ["carol"]


@pytest.mark.parametrize(
    ("name", "emb", "match"),
    [
        ("", np.ones(16), "name"),
        ("a\nb", np.ones(16), "name"),
        ("x" * 201, np.ones(16), "name"),
        (3, np.ones(16), "string"),
        ("ok", np.ones(8), r"D = 16"),
        ("ok", np.zeros(16), "non-zero"),
        ("ok", np.full(16, np.nan), "finite"),
        ("ok", np.ones((0, 16)), r"D = 16"),
    ],
)
def test_bad_enrolment_is_rejected(tmp_path: Path, name: Any, emb: np.ndarray, match: str) -> None:
    g = Gallery(tmp_path / "g.db")
    with pytest.raises(OptionsError, match=match):
        g.enrol(name, emb, EMB)
    assert len(g) == 0


def test_match_is_best_cosine_per_identity(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    g = Gallery(tmp_path / "g.db")
    groups = {f"p{i:02d}": unit(rng, int(rng.integers(1, 5))) for i in range(30)}
    for name, vecs in groups.items():
        g.enrol(name, vecs, EMB)
    q = unit(rng, 7)
    best = g.best_per_identity(q, EMB)
    names = g.matrix().names
    expected = np.array([[float((groups[n] @ qi).max()) for n in names] for qi in q])
    assert np.allclose(best, expected, atol=1e-6)
    # a query near one stored vector takes that identity; a threshold above every score, none
    probe = groups["p07"][-1] + 0.05 * unit(rng, 1)[0]
    m = g.match(probe, EMB, 0.9)[0]
    assert m.identity == "p07" and m.nearest == "p07" and m.similarity is not None and m.similarity > 0.9
    m = g.match(q[0], EMB, 0.999)[0]
    assert m.identity is None and m.nearest is not None and m.similarity == pytest.approx(best[0].max())
    # un-normalised queries give the same cosines
    assert np.allclose(g.best_per_identity(q * 3.0, EMB), best, atol=1e-6)


def test_empty_gallery_matches_nobody(tmp_path: Path) -> None:
    g = Gallery(tmp_path / "g.db")
    m = g.match(np.ones(16), EMB, 0.5)
    assert m[0].identity is None and m[0].similarity is None


def test_cache_follows_changes_from_another_process(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    a = Gallery(tmp_path / "g.db")
    a.enrol("ada", unit(rng, 1), EMB)
    assert a.matrix().names == ("ada",)
    assert a.matrix() is a.matrix()  # cached while nothing changes
    b = Gallery(tmp_path / "g.db")
    vec = unit(rng, 1)
    b.enrol("bob", vec, EMB)
    assert a.matrix().names == ("ada", "bob")
    assert a.match(vec, EMB, 0.99)[0].identity == "bob"
    b.remove("ada")
    assert a.matrix().names == ("bob",)


def test_cache_follows_this_connections_own_writes(tmp_path: Path) -> None:
    """SQLite's data_version ignores a connection's own commits: the cache must not."""
    rng = np.random.default_rng(12)
    with Gallery(tmp_path / "g.db") as g:
        g.enrol("ada", unit(rng, 1), EMB)
        assert g.matrix().names == ("ada",)
        vec = unit(rng, 1)
        g.enrol("bob", vec, EMB)
        assert g.matrix().names == ("ada", "bob")
        assert g.match(vec, EMB, 0.99)[0].identity == "bob"
        g.rename("bob", "carol")
        assert g.match(vec, EMB, 0.99)[0].identity == "carol"
        g.remove("ada")
        assert g.matrix().names == ("carol",)


def test_other_embedder_is_a_clear_error(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    g = Gallery(tmp_path / "g.db")
    g.enrol("ada", unit(rng, 1), EMB)
    with pytest.raises(EmbedderMismatchError, match="another embedder"):
        g.enrol("bob", unit(rng, 1), OTHER)
    with pytest.raises(EmbedderMismatchError, match="another embedder"):
        g.match(unit(rng, 1), OTHER, 0.5)
    with pytest.raises(EmbedderMismatchError):
        g.match(unit(rng, 1, 32), EmbedderIdentity(EMB.sha256, 32), 0.5)
    assert [i.name for i in g] == ["ada"]


# -- files that are not (or no longer) galleries ----------------------------------------------


def _other_sqlite(p: Path) -> None:
    c = sqlite3.connect(p)
    c.execute("CREATE TABLE t(x)")
    c.commit()
    c.close()


def _newer_schema(p: Path) -> None:
    Gallery(p).close()
    c = sqlite3.connect(p)
    c.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    c.commit()
    c.close()


def _big_gallery(p: Path) -> None:
    g = Gallery(p)
    g.enrol("ada", unit(np.random.default_rng(5), 400, 16), EMB)
    g.close()


def _truncated(p: Path) -> None:
    _big_gallery(p)
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])


def _damaged(p: Path) -> None:
    _big_gallery(p)
    data = bytearray(p.read_bytes())
    data[4096 + 8 : 4096 + 400] = os.urandom(392)  # the second page's cells
    p.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda p: p.write_bytes(b""), "empty file"),
        (lambda p: p.write_bytes(os.urandom(5000)), "not an SQLite database"),
        (lambda p: p.write_text("name,vector\nada,0.1 0.2\n"), "not an SQLite database"),
        (lambda p: p.write_bytes(b"SQLite format 3\x00" + b"\x00" * 20), "not an SQLite database"),
        (_other_sqlite, "not an edge_sdk gallery"),
        (_newer_schema, "newer"),
        (_truncated, "truncated|damaged"),
        (_damaged, "damaged|truncated"),
    ],
    ids=["empty", "garbage", "text", "short-header", "other-app", "newer-schema", "truncated", "damaged"],
)
def test_unusable_file_raises_and_is_left_untouched(tmp_path: Path, make: Any, match: str) -> None:
    p = tmp_path / "g.db"
    make(p)
    before = digest(p)
    for _ in range(2):  # and a second attempt does not find a silently recreated gallery
        with pytest.raises(GalleryCorruptError, match=match):
            Gallery(p)
    assert digest(p) == before


# -- writes that fail -----------------------------------------------------------------------


def test_disk_full_from_sqlite_rolls_back(tmp_path: Path) -> None:
    rng = np.random.default_rng(6)
    p = tmp_path / "g.db"
    g = Gallery(p)
    g.enrol("ada", unit(rng, 3), EMB)
    pages = g._store.conn.execute("PRAGMA page_count").fetchone()[0]
    g._store.conn.execute(f"PRAGMA max_page_count = {pages}")  # SQLite answers SQLITE_FULL past this
    big = EmbedderIdentity(EMB.sha256, 16)
    with pytest.raises(GalleryWriteError, match="disk full"):
        g.enrol("bob", unit(rng, 500), big)
    assert [(i.name, i.embeddings) for i in g.identities()] == [("ada", 3)]
    g.close()
    g2 = Gallery(p)
    assert [(i.name, i.embeddings) for i in g2.identities()] == [("ada", 3)]
    assert g2._store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


class _FailingConnection:
    """Wraps the real connection; ``executemany`` fails as a full disk does (ENOSPC)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def executemany(self, *a: Any) -> Any:
        raise OSError(errno.ENOSPC, "No space left on device")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


def test_injected_oserror_rolls_back(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    g = Gallery(tmp_path / "g.db")
    g.enrol("ada", unit(rng, 1), EMB)
    real = g._store.conn
    g._store.conn = _FailingConnection(real)  # type: ignore[assignment]
    with pytest.raises(GalleryWriteError, match="disk full"):
        g.enrol("bob", unit(rng, 1), EMB)
    g._store.conn = real
    assert [i.name for i in g.identities()] == ["ada"]  # bob's identity row was rolled back too
    g.enrol("bob", unit(rng, 1), EMB)  # and the gallery is usable afterwards
    assert [i.name for i in g.identities()] == ["ada", "bob"]


def test_a_locked_file_is_an_open_error_not_corruption(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import edge_sdk.tasks.faces.store as store_module

    monkeypatch.setattr(store_module, "BUSY_TIMEOUT_S", 0.2)  # bounded wait for the lock
    p = tmp_path / "g.db"
    with Gallery(p) as g:
        g.enrol("ada", unit(np.random.default_rng(9), 1)[0], EMB)
    before = digest(p)
    other = sqlite3.connect(p, isolation_level=None, timeout=0)  # another process's connection
    try:
        other.execute("PRAGMA locking_mode = EXCLUSIVE")
        other.execute("BEGIN EXCLUSIVE")
        with pytest.raises(GalleryError, match=r"cannot open gallery .*g\.db: database is locked") as info:
            Gallery(p)
        assert not isinstance(info.value, GalleryCorruptError)
    finally:
        other.close()
    assert digest(p) == before
    with Gallery(p) as g:  # usable again once the lock is gone
        assert [i.name for i in g.identities()] == ["ada"]


def test_match_reads_the_gallery_once_per_call(tmp_path: Path) -> None:
    rng = np.random.default_rng(10)
    with Gallery(tmp_path / "g.db") as g:
        g.enrol("ada", unit(rng, 2), EMB)
        g.matrix()
        statements: list[str] = []
        g._store.conn.set_trace_callback(statements.append)
        g.match(unit(rng, 3), EMB, 0.5)
        g._store.conn.set_trace_callback(None)
    assert statements.count("PRAGMA data_version") == 1


def test_match_names_come_from_the_snapshot_it_scored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process removes an identity while a frame is being matched: the names stay
    those of the matrix the similarities were computed on (no shifted, wrong name)."""
    rng = np.random.default_rng(11)
    p = tmp_path / "g.db"
    ada, bob = unit(rng, 2)
    with Gallery(p) as g:
        g.enrol("ada", ada, EMB)
        g.enrol("bob", bob, EMB)
        real_matrix = g.matrix
        removed: list[int] = []

        def matrix_then_removal():  # type: ignore[no-untyped-def]
            m = real_matrix()
            if not removed:
                with Gallery(p) as other:
                    removed.append(other.remove("ada"))
            return m

        monkeypatch.setattr(g, "matrix", matrix_then_removal)
        (match,) = g.match(ada, EMB, 0.9)
        assert removed == [1]
        assert match.identity == "ada" and match.nearest == "ada"
        assert match.similarity == pytest.approx(1.0, abs=1e-5)
