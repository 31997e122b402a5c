"""The block store: SQLite (WAL) for blocks and their metadata, FAISS for embeddings,
FTS5 for identifier words; hybrid search fuses the vector and word rankings.

Layout of a store directory::

    <store>/CURRENT                 name of the published version (one line)
    <store>/versions/<version>/     blocks.sqlite, vectors.faiss
    <store>/versions/<v>.partial/   a build in progress (never read)
    <store>/.lock                   held by the one build running

Why versions: a build writes a complete new version next to the published one and
publishes it by atomically replacing CURRENT (``os.replace``). A crash or kill
mid-build leaves CURRENT pointing at the previous, complete version; the next
build removes the leftover ``.partial`` directory.

Readers (``BlockStore``) open one version and keep it: an in-memory name map makes
symbol lookup a dict access, FAISS holds the vectors, SQLite gives blocks by id
(one read-only connection per thread).
"""

from __future__ import annotations

import bisect
import copy
import fcntl
import json
import os
import re
import shutil
import sqlite3
import threading
import time
import uuid
import weakref
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from corpus.records import Provenance
from indexer.embed import split_identifier
from indexer.lexical import LEXICAL_VERSION, clean_query, code_words, fts_query, name_words, with_synonyms, words
from indexer.records import Block
from sandbox.spec import Example

SCHEMA_VERSION = "1"
VALIDATION_STAGES: tuple[str, ...] = ("parse", "import", "instantiate", "forward", "backward")  # as indexer.validate records them
CURRENT_FILE = "CURRENT"
VERSIONS_DIR = "versions"
DB_FILE = "blocks.sqlite"
VECTORS_FILE = "vectors.faiss"
RRF_K = 60  # reciprocal rank fusion constant (Cormack et al. 2009)
# How deep each ranked list (vector, lexical) counts in the fusion that orders the first RANK_DEPTH hits, whatever k
# is: a depth that grew with k (max(50, 5k)) fused different lists for k=5 and k=20, and the first page changed with
# the page size. Hits found only deeper (k > RANK_DEPTH) come after them. 50, not deeper: blocks deep in both lists
# add up past relevant ones (bench_search_quality, code-snippet queries: MRR@10 0.427 at 50, 0.375 at 200).
RANK_DEPTH = 50
# Added to a block's fused score per validation stage it passed: about a third of one rank step near the top (1/61 -
# 1/62 = 0.00026), so of two equally relevant blocks the better validated comes first, while relevance still decides.
LEVEL_BONUS = 0.00002
FTS_TOKENIZER = "porter unicode61"  # porter: stemmed words ("convolutional" meets "convolution")
# Which of a class name's blocks comes first (symbol lookup, ``get``): weighed as Patch weighs them
# (rag_server.candidates: INSTALLED_SOURCE_BONUS and the validation bonus), so an installed library's validated
# block (timm's Mlp) comes before a paper collection's copy, and a fully validated copy before an installed block that
# fails to instantiate. Indexed by stage level (0-5).
INSTALLED_WEIGHT = 0.5
# How many blocks using an identifier ``blocks_binding`` reads for its definitions and imports (each one's code scanned
# in SQLite)
BINDING_DEPTH = 200
LEVEL_WEIGHTS: tuple[float, ...] = (-0.5, -0.5, -0.5, 0.3, 0.7, 1.0)

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE blocks (
    id INTEGER PRIMARY KEY,          -- also the row of its vector in FAISS
    name TEXT NOT NULL,
    qualified_name TEXT NOT NULL,
    code TEXT NOT NULL,
    content_hash TEXT NOT NULL UNIQUE,
    struct_hash TEXT NOT NULL,
    signature TEXT NOT NULL,
    docstring TEXT NOT NULL,
    external_imports TEXT NOT NULL,  -- JSON lists
    missing_deps TEXT NOT NULL,
    unresolved TEXT NOT NULL,
    validation TEXT NOT NULL,        -- JSON: stage -> {"ok": bool, "error": str}
    example TEXT,                    -- JSON Example or NULL
    near_dup_group TEXT NOT NULL,
    params INTEGER,
    flops INTEGER,
    stage_level INTEGER NOT NULL,    -- number of VALIDATION_STAGES passed in a row
    sources TEXT NOT NULL            -- JSON list of the source specs it came from
);
CREATE INDEX blocks_name ON blocks(name);
CREATE INDEX blocks_struct ON blocks(struct_hash);
CREATE TABLE provenance (
    block_id INTEGER NOT NULL REFERENCES blocks(id),
    ord INTEGER NOT NULL,
    source TEXT NOT NULL, package TEXT NOT NULL, version TEXT NOT NULL, path TEXT NOT NULL,
    module TEXT NOT NULL, line_start INTEGER NOT NULL, line_end INTEGER NOT NULL,
    qualified_name TEXT NOT NULL, license TEXT NOT NULL,
    PRIMARY KEY (block_id, ord)
);
CREATE INDEX provenance_source ON provenance(source);
CREATE TABLE sources (
    spec TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, files INTEGER NOT NULL,
    blocks INTEGER NOT NULL, indexed_at REAL NOT NULL, seconds REAL NOT NULL
);
CREATE TABLE files (source TEXT NOT NULL, path TEXT NOT NULL, content_hash TEXT NOT NULL, PRIMARY KEY (source, path));
CREATE VIRTUAL TABLE blocks_fts USING fts5(names, idents, doc, tokenize = 'porter unicode61');  -- FTS_TOKENIZER
"""


def stage_level(validation: dict[str, dict[str, Any]]) -> int:
    """How many validation stages passed in order (0 = not even parse)."""
    level = 0
    for stage in VALIDATION_STAGES:
        if not validation.get(stage, {}).get("ok"):
            break
        level += 1
    return level


def stage_index(stage: str) -> int:
    """1-based position of ``stage`` in VALIDATION_STAGES (the level needed to have passed it)."""
    stage = "parse" if stage == "compile" else stage  # compiling is part of the parse stage
    if stage not in VALIDATION_STAGES:
        raise ValueError(f"unknown stage {stage!r}: one of {', '.join(VALIDATION_STAGES)}")
    return VALIDATION_STAGES.index(stage) + 1


def _binding_pattern(name: str) -> re.Pattern[str]:
    """A line of code that binds ``name`` at the top level (``def name(``, ``class name``, ``name = ...``) or imports it
    (``from m import a, name``, ``import m as name``, a parenthesised import over several lines)."""
    n = re.escape(name)
    top_level = rf"^(?:(?:async[ \t]+)?def[ \t]+{n}[ \t]*\(|class[ \t]+{n}\b|{n}[ \t]*[=:])"
    imported = rf"^[ \t]*(?:from[ \t]+[\w.]+[ \t]+import[ \t]+(?:\([^)]*\b{n}\b[^)]*\)|[^\n#(]*\b{n}\b)|import[ \t]+[^\n#]*\b{n}\b)"
    return re.compile(f"{top_level}|{imported}", re.M)


def _line_at(text: str, at: int) -> str:
    """The line of ``text`` that holds position ``at``, stripped."""
    end = text.find("\n", at)
    return text[text.rfind("\n", 0, at) + 1: end if end >= 0 else len(text)].strip()


def normalize_name(name: str) -> str:
    """Case and underscores do not matter for symbol lookup: ``Conv_BN_Act`` == ``convbnact``."""
    return name.replace("_", "").lower()


def name_initials(name: str) -> str:
    """First letters of a name's words (``GlobalResponseNorm`` -> ``grn``); "" for a one-word name."""
    parts = split_identifier(name)
    return "".join(p[0] for p in parts) if len(parts) >= 2 else ""


@dataclass
class SearchHit:
    block: Block
    score: float
    match: str  # "exact", "qualified", "normalized", "prefix", "hash", "vector", "lexical", "hybrid"

    def to_dict(self) -> dict[str, Any]:
        return {"score": self.score, "match": self.match, "block": self.block.to_dict()}


class StoreError(RuntimeError):
    pass


def read_current(store_dir: Path) -> Path | None:
    """The published version directory, or None when nothing was published yet. A CURRENT that does not read (empty,
    not a version name, not a file) or names a version whose folder or blocks.sqlite is missing is a StoreError naming
    that exact file and the rebuild command (``damaged_version_error``)."""
    store_dir = Path(store_dir)
    pointer = store_dir / CURRENT_FILE
    if not pointer.exists() and not pointer.is_symlink():
        return None
    try:
        name = pointer.read_bytes().decode("utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else exc
        raise damaged_version_error(store_dir, pointer, why) from None
    if not name:
        raise damaged_version_error(store_dir, pointer, "it is empty: it should name the published version")
    if not _VERSION_NAME.fullmatch(name):
        raise damaged_version_error(store_dir, pointer, f"it holds {name[:60]!r}, not a version name")
    path = store_dir / VERSIONS_DIR / name
    if not path.is_dir():
        raise damaged_version_error(store_dir, path, "CURRENT names this version, but its folder is missing")
    db_file = path / DB_FILE
    if not db_file.is_file():
        raise damaged_version_error(store_dir, db_file, "the file is missing" if not db_file.exists() else "it is not a file")
    return path


# what CURRENT may name: one folder under versions/ (publish writes v<time>-<hex>); no path, no control characters
_VERSION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")


def damaged_version_error(store_dir: Path, broken_file: Path, why: object, specs: Iterable[str] = ()) -> StoreError:
    """The error for a published version whose files cannot be read (a truncated SQLite file, a missing FAISS index):
    it names the store, the broken file and the way out (``specs``: the sources it held, when they could be read).
    Why: these used to be a DatabaseError or a FAISS RuntimeError traceback from every command, and the user deleted
    the store by hand; a new build does not read such a version."""
    sources = " ".join(f"-s {spec}" for spec in specs) or "-s SPEC... (the sources it held)"
    return StoreError(f"store {store_dir} is damaged: {broken_file} cannot be read ({why}); rebuild it with "
                      f"`nnrag index --force --store {store_dir} {sources}`")


def _check_db_size(db: sqlite3.Connection, db_file: Path) -> None:
    """Raise sqlite3.DatabaseError when ``db_file`` is shorter than the pages its header counts (cut short by a copy
    or a full disk). Why here: SQLite opens a truncated file and fails only on the query that reaches a lost page,
    which could be a search long after the store opened; comparing sizes costs one stat."""
    page_size = db.execute("PRAGMA page_size").fetchone()[0]
    page_count = db.execute("PRAGMA page_count").fetchone()[0]
    size = db_file.stat().st_size
    if size < page_size * page_count:
        raise sqlite3.DatabaseError(f"{size} bytes where its header counts {page_count} pages of {page_size}: truncated")


def _read_vectors(store_dir: Path, vectors_file: Path, specs: Iterable[str] = ()) -> Any:
    """The version's FAISS index; a StoreError naming the file when it is missing or does not read."""
    import faiss

    if not vectors_file.is_file():
        raise damaged_version_error(store_dir, vectors_file, "the file is missing", specs)
    try:
        return faiss.read_index(str(vectors_file))
    except RuntimeError as exc:  # FAISS's message is its C++ assertion; its last part says what failed
        why = " ".join(str(exc).split()).rsplit("failed: ", 1)[-1]
        raise damaged_version_error(store_dir, vectors_file, f"not a complete FAISS index: {why}", specs) from None


# ---------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------


@contextmanager
def build_lock(store_dir: Path) -> Iterator[None]:
    """One build per store at a time (an flock, released by the OS if the build dies)."""
    import fcntl

    try:
        store_dir.mkdir(parents=True, exist_ok=True)
        fh = open(store_dir / ".lock", "w")
    except OSError as exc:  # a read-only file system or no write permission: a traceback ended `nnrag index`
        raise StoreError(f"cannot write the store {store_dir}: {exc.strerror or exc}; build it where this user can write "
                         "(--store)") from None
    with fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise StoreError(f"another build is running on {store_dir}") from exc
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _new_version_name() -> str:
    """``v<UTC time to the microsecond>-<random>``: names sort in the order the versions were made, which pruning
    relies on (to the second, builds within one second sorted by their random part, and the wrong one was pruned)."""
    return datetime.now(timezone.utc).strftime("v%Y%m%dT%H%M%S%f") + "-" + uuid.uuid4().hex[:6]


class StoreWriter:
    """Writes one new version of a store, then publishes it atomically.

    Use as ``with StoreWriter(store_dir, embedder_version) as w: w.add(...); w.set_source(...); w.publish()``.
    Leaving the block without ``publish()`` (an exception) removes the partial version.
    """

    def __init__(self, store_dir: Path, embedder_version: str, dim: int = 384, keep_versions: int = 2):
        self.store_dir = Path(store_dir)
        self.embedder_version = embedder_version
        self.dim = dim
        self.keep_versions = keep_versions
        self.version = _new_version_name()
        (self.store_dir / VERSIONS_DIR).mkdir(parents=True, exist_ok=True)
        self._clean_partials()
        self.partial_dir = self.store_dir / VERSIONS_DIR / f"{self.version}.partial"
        self.partial_dir.mkdir()
        self.db = sqlite3.connect(self.partial_dir / DB_FILE)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(_SCHEMA)
        self._vectors: list[np.ndarray] = []
        self._next_id = 0
        self._published = False

    def _clean_partials(self) -> None:
        for p in (self.store_dir / VERSIONS_DIR).glob("*.partial"):
            shutil.rmtree(p, ignore_errors=True)

    def __enter__(self) -> "StoreWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        if not self._published:
            self.abort()

    def add(self, blocks: list[Block], vectors: np.ndarray) -> None:
        """Append blocks with their embeddings (rows of ``vectors``, same order)."""
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.shape != (len(blocks), self.dim):
            raise ValueError(f"expected vectors of shape ({len(blocks)}, {self.dim}), got {vectors.shape}")
        rows, prov_rows, fts_rows = [], [], []
        for block, vec in zip(blocks, vectors):
            if not block.content_hash:
                raise ValueError(f"block {block.qualified_name} has no content_hash: hash blocks before storing")
            bid = self._next_id
            self._next_id += 1
            sources = list(dict.fromkeys(p.source for p in block.provenances))
            rows.append(
                (
                    bid, block.name, block.qualified_name, block.code, block.content_hash, block.struct_hash,
                    block.signature, block.docstring, json.dumps(block.external_imports), json.dumps(block.missing_deps),
                    json.dumps(block.unresolved), json.dumps(block.validation, sort_keys=True),
                    json.dumps(block.example.to_dict()) if block.example else None, block.near_dup_group,
                    block.params, block.flops, stage_level(block.validation), json.dumps(sources),
                )
            )
            for ord_, p in enumerate(block.provenances):
                prov_rows.append((bid, ord_, p.source, p.package, p.version, p.path, p.module, p.line_start, p.line_end, p.qualified_name, p.license))
            texts = (name_words(block.name, block.qualified_name), code_words(block.code, name=block.name), " ".join(words(block.docstring)))
            fts_rows.append((bid, *map(with_synonyms, texts)))
            self._vectors.append(vec)
        with self.db:
            self.db.executemany(f"INSERT INTO blocks VALUES ({','.join('?' * 18)})", rows)
            self.db.executemany(f"INSERT INTO provenance VALUES ({','.join('?' * 11)})", prov_rows)
            self.db.executemany("INSERT INTO blocks_fts(rowid, names, idents, doc) VALUES (?, ?, ?, ?)", fts_rows)

    def set_source(self, spec: str, fingerprint: str, files: int, blocks: int, seconds: float, file_hashes: dict[str, str] | None = None) -> None:
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO sources VALUES (?, ?, ?, ?, ?, ?)", (spec, fingerprint, files, blocks, time.time(), seconds))
            if file_hashes:
                self.db.executemany("INSERT OR REPLACE INTO files VALUES (?, ?, ?)", [(spec, p, h) for p, h in file_hashes.items()])

    def publish(self, meta: dict[str, Any] | None = None) -> Path:
        """Write the FAISS index and metadata, rename the version into place, switch CURRENT."""
        import faiss

        index = faiss.IndexFlatIP(self.dim)
        if self._vectors:
            index.add(np.ascontiguousarray(np.stack(self._vectors), dtype=np.float32))
        faiss.write_index(index, str(self.partial_dir / VECTORS_FILE))
        info = {"schema": SCHEMA_VERSION, "version": self.version, "embedder_version": self.embedder_version, "created_at": str(time.time()), "dim": str(self.dim),
                "lexical": LEXICAL_VERSION}
        info.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in (meta or {}).items()})
        with self.db:
            self.db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", list(info.items()))
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.db.close()  # the last close folds the WAL into the file: readers open it immutable
        final = self.store_dir / VERSIONS_DIR / self.version
        os.replace(self.partial_dir, final)
        _fsync_dir(final)
        tmp = self.store_dir / f"{CURRENT_FILE}.{os.getpid()}.tmp"
        tmp.write_text(self.version + "\n")
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, self.store_dir / CURRENT_FILE)  # the atomic switch
        _fsync_dir(self.store_dir)
        self._published = True
        self._prune_old()
        return final

    def abort(self) -> None:
        try:
            self.db.close()
        except sqlite3.Error:
            pass
        shutil.rmtree(self.partial_dir, ignore_errors=True)

    def _prune_old(self) -> None:
        """Remove versions beyond ``keep_versions``, except those a reader holds (``hold_version``)."""
        versions = sorted(p for p in (self.store_dir / VERSIONS_DIR).iterdir() if p.is_dir() and not p.name.endswith(".partial"))
        for old in versions[: -self.keep_versions] if self.keep_versions > 0 else []:
            if old.name != self.version:
                _remove_unless_held(old)


def hold_version(version_dir: Path) -> int:
    """A shared lock on a version directory, held by an open reader (``BlockStore``) until it is garbage collected.
    Why: a server serves the version it opened, and its threads open their SQLite connection lazily; two publishes
    later the writer's pruning deleted that version, and every thread that had not yet read failed (INTERNAL)."""
    fd = os.open(version_dir, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_SH)
    return fd


def _remove_unless_held(version_dir: Path) -> None:
    fd = os.open(version_dir, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return  # a reader still serves it: the next build prunes it
    else:
        shutil.rmtree(version_dir, ignore_errors=True)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------


class BlockStore:
    """Read access to the published version of a store (see the module docstring).

    Thread-safe for reads. ``embedder`` is created on the first meaning search unless
    given (the server passes one shared Embedder, or calls ``search(..., vector=...)``
    with vectors it batched itself).
    """

    def __init__(self, path: Path, embedder: Any = None):
        self.store_dir = Path(path)
        version_dir = read_current(self.store_dir)
        if version_dir is None and self.store_dir.exists() and not self.store_dir.is_dir():  # `nnrag index` refuses it too
            raise StoreError(f"store path {self.store_dir} is not a directory: give a store directory (--store)")
        if version_dir is None:
            raise StoreError(f"no index at {self.store_dir}: build one with `nnrag index --store {self.store_dir}`")
        self.version_dir = version_dir
        weakref.finalize(self, os.close, hold_version(version_dir))  # views (copies) share it; the store closes it
        self._local = threading.local()
        self._embedder = embedder
        self._embedder_lock = threading.Lock()
        self._parent: BlockStore | None = None  # set on a view (restricted_to): the store it reads through
        self._only: frozenset[str] | None = None  # a view's source specs; None: every block
        self._license_ok: Callable[[str], bool] | None = None  # a view's test of a provenance's license; None: any
        try:
            db = self._db()
            _check_db_size(db, version_dir / DB_FILE)
            self.meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
            if self.meta.get("schema") != SCHEMA_VERSION:
                raise StoreError(f"store {version_dir} has schema {self.meta.get('schema')!r}, this code reads {SCHEMA_VERSION!r}: re-index")
            if "version" not in self.meta or "embedder_version" not in self.meta:
                raise sqlite3.DatabaseError("its meta table lacks the version or embedder_version")
            self.version: str = self.meta["version"]
            self.embedder_version: str = self.meta["embedder_version"]
            self._load_names(db)
        except (sqlite3.DatabaseError, ValueError) as exc:  # ValueError: a JSON column that does not parse
            self.close()
            raise damaged_version_error(self.store_dir, version_dir / DB_FILE, exc) from None
        self._fts_current = self.meta.get("lexical") == LEXICAL_VERSION  # else words search reads _stemmed_fts
        self._fts_copy: sqlite3.Connection | None = None
        self._fts_lock = threading.Lock()
        self._index = _read_vectors(self.store_dir, version_dir / VECTORS_FILE, self._source_specs)
        if self._index.ntotal != len(self._names):
            raise damaged_version_error(self.store_dir, version_dir / VECTORS_FILE, f"{self._index.ntotal} vectors for {len(self._names)} blocks",
                                        self._source_specs)

    # --- plumbing ----------------------------------------------------------------------
    def _db(self) -> sqlite3.Connection:
        conn = getattr(self._local, "db", None)
        if conn is None:
            uri = f"file:{self.version_dir / DB_FILE}?mode=ro&immutable=1"
            conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
            self._local.db = conn
        return conn

    def _load_names(self, db: sqlite3.Connection) -> None:
        rows = db.execute("SELECT id, name, qualified_name, content_hash, stage_level, sources, length(code) FROM blocks ORDER BY id").fetchall()
        n = len(rows)
        self._names = [r[1] for r in rows]
        self._qualified = [r[2] for r in rows]
        self._hashes = [r[3] for r in rows]
        self._levels = np.array([r[4] for r in rows], dtype=np.int8)
        self._sources = [tuple(json.loads(r[5])) for r in rows]
        specs = {spec for specs in self._sources for spec in specs} | {r[0] for r in db.execute("SELECT spec FROM sources")}
        self._source_specs = sorted(specs)  # read once: a store version never changes
        self._source_licenses: dict[str, list[str]] = {}
        for spec, lic in db.execute("SELECT DISTINCT source, license FROM provenance ORDER BY source, license"):
            self._source_licenses.setdefault(spec, []).append(lic)
        licensed: list[set[tuple[str, str]]] = [set() for _ in range(n)]
        for bid, spec, lic in db.execute("SELECT block_id, source, license FROM provenance"):
            licensed[bid].add((spec, lic))
        self._licensed = [tuple(sorted(pairs)) for pairs in licensed]  # each block's (source, license) of its files
        self._code_len = [r[6] for r in rows]
        self._other_quals: dict[int, set[str]] = {}  # qualified names a block's other provenances give it
        for bid, qual in db.execute("SELECT block_id, qualified_name FROM provenance"):
            if qual != self._qualified[bid]:
                self._other_quals.setdefault(bid, set()).add(qual)
        preference = [self._preference(i) for i in range(n)]
        in_models = [".models." in f".{q}." for q in self._qualified]  # a model file's own copy, not the library's layer

        def rank(i: int) -> tuple:
            return (-preference[i], in_models[i], self._code_len[i], self._qualified[i])
        by_name: dict[str, list[int]] = {}
        by_norm: dict[str, list[int]] = {}
        by_qual: dict[str, int] = {}
        by_initials: dict[str, list[int]] = {}
        for i in range(n):
            by_name.setdefault(self._names[i], []).append(i)
            by_norm.setdefault(normalize_name(self._names[i]), []).append(i)
            by_qual.setdefault(self._qualified[i], i)
            by_initials.setdefault(name_initials(self._names[i]), []).append(i)
        by_initials.pop("", None)
        for d in (by_name, by_norm, by_initials):
            for ids in d.values():
                ids.sort(key=rank)
        self._by_name, self._by_norm, self._by_qual, self._by_initials = by_name, by_norm, by_qual, by_initials
        self._norm_sorted = sorted(by_norm)
        self._by_hash = {h: i for i, h in enumerate(self._hashes)}
        self._rank = rank

    def _preference(self, i: int) -> float:
        """How much a block is wanted among blocks of one name: installed library first, then validation (see
        LEVEL_WEIGHTS)."""
        installed = any(s.startswith("pkg:") for s in self._sources[i])
        return INSTALLED_WEIGHT * installed + LEVEL_WEIGHTS[min(int(self._levels[i]), len(LEVEL_WEIGHTS) - 1)]

    @property
    def embedder(self) -> Any:
        if self._parent is not None:
            return self._parent.embedder  # one embedder per store, however many views
        if self._embedder is None:
            with self._embedder_lock:
                if self._embedder is None:
                    from indexer.embed import Embedder

                    self._embedder = Embedder()
                    if self._embedder.version != self.embedder_version:
                        raise StoreError(f"store was embedded with {self.embedder_version}, this embedder is {self._embedder.version}: re-index")
        return self._embedder

    def __len__(self) -> int:
        return len(self._names)

    def close(self) -> None:
        conn = getattr(self._local, "db", None)
        if conn is not None:
            conn.close()
            self._local.db = None

    # --- blocks by id ------------------------------------------------------------------
    def _blocks(self, ids: list[int], named_as: str = "") -> list[Block]:
        """The blocks ``ids``, each with the provenances this view shows and the qualified name of the first of them.
        ``named_as``: a qualified name the caller asked for, whose provenance goes first. Why: one code held in two
        files (a GPL and an MIT copy) was shown under the hidden copy's name with the shown copy's path and license,
        and asking for the MIT copy's name answered with the GPL copy's."""
        if not ids:
            return []
        db = self._db()
        marks = ",".join("?" * len(ids))
        rows = {r[0]: r for r in db.execute(f"SELECT * FROM blocks WHERE id IN ({marks})", ids)}
        provs: dict[int, list[Provenance]] = {}
        first: dict[int, Provenance] = {}
        for r in db.execute(f"SELECT * FROM provenance WHERE block_id IN ({marks}) ORDER BY block_id, ord", ids):
            first.setdefault(r[0], Provenance(*r[2:]))
            if self._shows(r[2], r[10]):  # a view says where its blocks come from within it
                provs.setdefault(r[0], []).append(Provenance(*r[2:]))
        blocks = []
        for i in ids:
            shown = sorted(provs.get(i, []), key=lambda p: p.qualified_name != named_as) if named_as else provs.get(i, [])
            block = _row_to_block(rows[i], shown)
            if shown and shown[0] != first[i] and shown[0].qualified_name:  # another copy than the block's own comes first
                block.qualified_name = shown[0].qualified_name
            blocks.append(block)
        return blocks

    def block_by_id(self, block_id: int) -> Block:
        return self._blocks([block_id])[0]

    # --- contract API ------------------------------------------------------------------
    def all_names(self) -> list[str]:
        if self._only is None:
            return sorted(self._by_name)
        return sorted(name for name, ids in self._by_name.items() if any(map(self._visible, ids)))

    def blocks_named(self, name: str) -> list[Block]:
        """Every block whose class name (or qualified name) is ``name``, best validated first."""
        ids = list(self._by_name.get(name, []))
        if not ids and name in self._by_qual:
            ids = [self._by_qual[name]]
        return self._blocks([i for i in ids if self._visible(i)])

    def alternatives(self, block: Block) -> list[str]:
        """Qualified names of the other blocks with the same class name."""
        return [self._qualified[i] for i in self._by_name.get(block.name, []) if self._hashes[i] != block.content_hash and self._visible(i)]

    # --- views --------------------------------------------------------------------------
    def restricted_to(self, sources: Iterable[str], license_ok: Callable[[str], bool] | None = None) -> "BlockStore":
        """This store seen through ``sources`` (specs as ``resolve_sources`` reads them) and, when given, the licenses
        ``license_ok`` accepts: lookups, searches and ``get`` find only blocks with a provenance that passes both, and
        a block's other provenances are left out. Why a view: Patch and Suggest read the store through a dozen lookups,
        and each must honour a request's source and license filter; the view shares the loaded maps, FAISS index and
        embedder (no copy of the data). Why per provenance: a checkout vendors code under other terms (a GPL folder
        in an MIT repo), so one source's blocks may differ in license."""
        specs = frozenset(self.resolve_sources(sources))
        view = copy.copy(self)
        view._parent = self._parent or self
        view._only = specs if self._only is None else self._only & specs  # a view of a view narrows it
        if license_ok is not None:
            outer = self._license_ok
            view._license_ok = license_ok if outer is None else (lambda lic: outer(lic) and license_ok(lic))
        return view

    @property
    def restriction(self) -> frozenset[str] | None:
        """The source specs this view is restricted to; None for the whole store."""
        return self._only

    def source_licenses(self) -> dict[str, list[str]]:
        """Each source spec's licenses as its provenances declare them (most one per source; "" when none is)."""
        return {spec: list(lics) for spec, lics in self._source_licenses.items()}

    def _shows(self, spec: str, license: str) -> bool:
        """Whether this view shows a provenance from ``spec`` under ``license``."""
        return (self._only is None or spec in self._only) and (self._license_ok is None or self._license_ok(license))

    def _visible(self, i: int) -> bool:
        if self._license_ok is None:
            return self._only is None or any(s in self._only for s in self._sources[i])
        return any(self._shows(spec, lic) for spec, lic in self._licensed[i])

    def get(self, name_or_hash: str) -> Block | None:
        """By qualified name, class name (best validated), content hash (prefix of >= 8 hex digits), or else as the
        symbol lookup reads a name (``_resolved_name``: ``timm.layers.SqueezeExcite``, ``squeezeexcite``) when that
        names one class."""
        key = name_or_hash.strip()
        if key in self._by_qual and self._visible(self._by_qual[key]):
            return self._blocks([self._by_qual[key]])[0]
        named = [i for i in self._by_name.get(key, []) if self._visible(i)]
        if named:
            return self._blocks(named[:1])[0]
        if len(key) >= 8 and all(c in "0123456789abcdef" for c in key.lower()):
            i = self._by_hash.get(key.lower())
            if i is None:
                pos = bisect.bisect_left(self._sorted_hashes(), key.lower())
                hs = self._sorted_hashes()
                if pos < len(hs) and hs[pos].startswith(key.lower()):
                    i = self._by_hash[hs[pos]]
            if i is not None and self._visible(i):
                return self._blocks([i])[0]
        found = self._resolved_name(key)
        return self._blocks([found], named_as=key)[0] if found is not None else None

    def _resolved_name(self, key: str) -> int | None:
        """The block ``key`` names as Search's symbol lookup reads it, when that is one class: a qualified name whose
        qualifier fits (``_qualified_ids``: ``timm.layers.SqueezeExcite`` -> ``timm.layers.squeeze_excite.SqueezeExcite``,
        the best-fitting tier) or a class name up to case (``squeezeexcite``); of several blocks of that one class the
        best validated. None when nothing or several classes match (the caller lists them). Why: Search found these
        while GetBlock said NOT_FOUND, so search-then-open failed."""
        qualifier, _, short = key.rpartition(".")
        if not short.isidentifier():
            return None
        if qualifier:
            ids = self._best_tier(qualifier, short)
        else:
            ids = [i for i in self._by_norm.get(normalize_name(short), []) if self._names[i].lower() == short.lower()]
        ids = [i for i in ids if self._visible(i)]
        return ids[0] if ids and len({self._names[i] for i in ids}) == 1 else None

    def _best_tier(self, qualifier: str, short: str) -> list[int]:
        """Of the blocks ``_qualified_ids`` fits to ``qualifier.short`` and visible here, those of its best tier."""
        dotted = f"{qualifier}.{short}"
        tiers: dict[int, list[int]] = {}
        for i in self._qualified_ids(qualifier, short):
            if not self._visible(i):
                continue
            quals = {self._qualified[i], *self._other_quals.get(i, ())}
            tier = 0 if dotted in quals else 1 if any(q.endswith("." + dotted) for q in quals) else 2
            tiers.setdefault(tier, []).append(i)
        return tiers[min(tiers)] if tiers else []

    def _sorted_hashes(self) -> list[str]:
        hs = getattr(self, "_hash_sorted", None)
        if hs is None:
            hs = self._hash_sorted = sorted(self._hashes)
        return hs

    def lookup_ids(self, name: str, k: int = 10, initials: bool = False) -> list[tuple[int, float, str]]:
        """(block id, score, match) for a symbol: qualified name (a dotted ``name`` whose qualifier fits, see
        ``_qualified_ids``), exact class name, normalised name (case, underscores), with ``initials`` the names whose
        initials spell it (``FPN`` -> ``FeaturePyramidNetwork``), then normalised prefix. No SQLite touched."""
        out: list[tuple[int, float, str]] = []
        seen: set[int] = set()

        def take(ids: Iterable[int], score: float, match: str) -> None:
            for i in ids:
                if len(out) >= k:
                    return
                if i not in seen and self._visible(i):
                    seen.add(i)
                    out.append((i, score, match))

        name = name.strip()
        if not name:
            return out
        qualifier, _, short = name.rpartition(".")
        if name in self._by_qual:
            take([self._by_qual[name]], 1.0, "qualified")
        if qualifier:
            take(self._qualified_ids(qualifier, short), 1.0, "qualified")
        take(self._by_name.get(short, []), 1.0, "exact")
        norm = normalize_name(short)
        take(self._by_norm.get(norm, []), 0.9, "normalized")
        if initials:
            take(self._by_initials.get(norm, []), 0.8, "initials")
        if len(out) < k and norm:
            pos = bisect.bisect_left(self._norm_sorted, norm)
            prefixed: list[int] = []
            while pos < len(self._norm_sorted) and self._norm_sorted[pos].startswith(norm) and len(prefixed) < 4 * k:
                if self._norm_sorted[pos] != norm:
                    prefixed.extend(self._by_norm[self._norm_sorted[pos]])
                pos += 1
            prefixed.sort(key=lambda i: (len(self._names[i]), *self._rank(i)))
            take(prefixed, 0.5, "prefix")
        return out

    def _qualified_ids(self, qualifier: str, short: str) -> list[int]:
        """Blocks named ``short`` (case and underscores aside) whose qualified name fits ``qualifier.short``: equal to
        it, ending with it (``squeeze_excite.SEModule``), or with the qualifier's parts in order among its module's
        (``timm.layers.Mlp`` -> ``timm.layers.mlp.Mlp``, ``nn.Linear`` -> ``torch.nn.modules.linear.Linear``), in
        that order, each best first. Why: the lookup used to drop the qualifier, and ``timm.layers.Mlp`` gave a
        paper collection's Mlp."""
        dotted, parts = f"{qualifier}.{short}", qualifier.split(".")

        def fit(i: int) -> int | None:
            quals = {self._qualified[i], *self._other_quals.get(i, ())}
            if dotted in quals:
                return 0
            if any(q.endswith("." + dotted) for q in quals):
                return 1
            if any(_in_order(parts, q.split(".")[:-1]) for q in quals):
                return 2
            return None

        fits = [(tier, i) for i in self._by_norm.get(normalize_name(short), []) if (tier := fit(i)) is not None]
        return [i for _, i in sorted(fits, key=lambda t: t[0])]  # stable: best first within a tier

    def lookup_initials(self, acronym: str, k: int = 10) -> list[SearchHit]:
        """Blocks whose name's initials spell ``acronym`` (``GRN`` -> ``GlobalResponseNorm``), best validated first."""
        ids = [i for i in self._by_initials.get(acronym.replace("_", "").lower(), []) if self._visible(i)][:k]
        return [SearchHit(b, 0.8, "initials") for b in self._blocks(ids)]

    def lookup_symbol(self, name: str, k: int = 10, initials: bool = False) -> list[SearchHit]:
        hits = self.lookup_ids(name, k, initials)
        blocks = self._blocks([i for i, _, _ in hits])
        return [SearchHit(b, s, m) for b, (_, s, m) in zip(blocks, hits)]

    def resolve_sources(self, sources: Iterable[str] | None) -> list[str]:
        """The store's specs for ``sources``: each an exact spec (``pkg:timm``) or what follows a spec's kind
        (``timm`` for ``pkg:timm``; ``ultralytics`` or ``ultralytics==8.4.190`` for ``pypi:ultralytics==8.4.190``)
        when only one spec ends so.

        Why: a source filter that names nothing in the store used to return no hits at all, so a typo or a bare
        package name looked like "no block matches"; now it is a ValueError that names it and the store's specs.
        """
        if not sources:
            return []
        known = self._source_specs
        resolved = []
        for wanted in sources:
            wanted = wanted.strip()
            matches = [wanted] if wanted in known else [spec for spec in known if wanted in _short_names(spec)]
            if len(matches) != 1:
                problem = "matches several" if matches else "is not in this store"
                raise ValueError(f"source {wanted!r} {problem}; this store holds: {', '.join(matches or known) or 'no source'}")
            resolved.append(matches[0])
        return resolved

    def _allowed(self, i: int, sources: set[str] | None, min_level: int) -> bool:
        if self._levels[i] < min_level or not self._visible(i):
            return False
        return sources is None or any(s in sources for s in self._sources[i])

    def search_ids(self, query: str, k: int = 10, sources: Iterable[str] | None = None, min_stage: str | None = None,
                   vector: np.ndarray | None = None, mode: str = "hybrid") -> list[tuple[int, float, str]]:
        """(block id, fused score, match) best first. ``vector``: the query's embedding when
        the caller computed it (batched); else the store's embedder encodes ``query``.
        ``mode``: "hybrid" (RRF of vector and lexical), "vector" or "lexical"."""
        if not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        if mode not in ("hybrid", "vector", "lexical"):
            raise ValueError(f"unknown search mode {mode!r}: 'hybrid', 'vector' or 'lexical'")
        query = clean_query(query)
        if not query and vector is None:
            raise ValueError("empty query")
        source_set = set(self.resolve_sources(sources)) if sources else None
        min_level = stage_index(min_stage) if min_stage else 0
        if len(self) == 0:
            return []
        want = max(RANK_DEPTH, k)  # allowed candidates per ranked list, filtered or not

        def allowed(i: int) -> bool:
            return self._allowed(i, source_set, min_level)

        ranked: list[list[int]] = []
        kinds: list[str] = []  # what each ranked list is: "vector" or "lexical" (exact-name matches count as lexical)
        if mode in ("hybrid", "vector"):
            vec = self.embedder.encode([query])[0] if vector is None else np.asarray(vector, dtype=np.float32)

            def nearest(depth: int) -> list[int]:
                return [int(i) for i in self._index.search(vec.reshape(1, -1), depth)[1][0] if i >= 0]

            ranked.append(self._allowed_prefix(nearest, want, allowed))
            kinds.append("vector")
        if mode in ("hybrid", "lexical"):
            ranked.append(self._allowed_prefix(lambda depth: self._lexical_ids(query, depth), want, allowed))
            kinds.append("lexical")
            exact = self._exact_ids(query, lambda i: self._allowed(i, source_set, min_level))
            if exact:
                ranked.append(exact)
                kinds.append("lexical")
        scores, seen_in = self._fused([lst[:RANK_DEPTH] for lst in ranked], kinds)
        best = sorted(scores, key=lambda i: (-scores[i], i))[:k]
        if len(best) < k:  # a page past RANK_DEPTH: the hits the deeper lists add, after the first RANK_DEPTH
            deeper, deeper_in = self._fused(ranked, kinds)
            added = sorted((i for i in deeper if i not in scores), key=lambda i: (-deeper[i], i))[: k - len(best)]
            floor = min((scores[i] for i in best), default=0.0)
            scale = min(1.0, 0.999 * floor / max((deeper[i] for i in added), default=1.0)) if floor else 1.0
            best += added  # their scores scaled under the first part's last: "higher is better" holds down the page
            scores, seen_in = {**{i: deeper[i] * scale for i in added}, **scores}, {**deeper_in, **seen_in}
        return [(i, scores[i], "hybrid" if len(seen_in[i]) > 1 else next(iter(seen_in[i]))) for i in best]

    def _fused(self, ranked: list[list[int]], kinds: list[str]) -> tuple[dict[int, float], dict[int, set[str]]]:
        """Reciprocal rank fusion of ``ranked`` (one list per kind), plus LEVEL_BONUS per validation stage passed (of
        equally relevant blocks, the better validated first); and which kinds found each block."""
        scores: dict[int, float] = {}
        seen_in: dict[int, set[str]] = {}
        for kind, lst in zip(kinds, ranked):
            for rank, i in enumerate(lst):
                scores[i] = scores.get(i, 0.0) + 1.0 / (RRF_K + rank + 1)
                seen_in.setdefault(i, set()).add(kind)
        for i in scores:
            scores[i] += LEVEL_BONUS * int(self._levels[i])
        return scores, seen_in

    def _allowed_prefix(self, ranking: Callable[[int], list[int]], want: int, allowed: Callable[[int], bool]) -> list[int]:
        """The first ``want`` allowed ids of ``ranking(depth)``, asking deeper until it has them or the store ends.
        Why: a fixed depth left a filtered search (a small source, a stage, a license policy) with fewer than k hits,
        and how many came back depended on k."""
        depth = min(len(self), want)
        while True:
            ids = ranking(depth)
            kept = [i for i in ids if allowed(i)]
            if len(kept) >= want or len(ids) < depth or depth >= len(self):
                return kept[:want]
            depth = min(len(self), depth * 4)

    def _exact_ids(self, query: str, allowed: Callable[[int], bool], depth: int = 10) -> list[int]:
        """The blocks a one-word query names (qualified, exact or normalised name; no prefix), best first: a ranked
        list of their own in the fusion. Up to ``depth`` of them, not 3: with a dozen copies of ``Mlp`` in a store,
        the first three used to be paper copies and the library's own was left out."""
        if " " in query:
            return []
        return [i for i, _, m in self.lookup_ids(query, depth) if m != "prefix" and allowed(i)]

    def knows_word(self, word: str) -> bool:
        """Whether some block's names, identifiers or docstring hold ``word`` (one token, stemmed as the index is). Why:
        a word the corpus uses is no misspelling of a block's name ("convolution" is not ``Involution``)."""
        term = word.lower().replace('"', "")
        if not term:
            return False
        sql = "SELECT 1 FROM blocks_fts WHERE blocks_fts MATCH ? LIMIT 1"
        if self._fts_current:
            return self._db().execute(sql, (f'"{term}"',)).fetchone() is not None
        owner = self._parent or self
        with owner._fts_lock:
            return owner._stemmed_fts().execute(sql, (f'"{term}"',)).fetchone() is not None

    def blocks_binding(self, name: str, k: int = 20) -> list[Block]:
        """Up to ``k`` visible blocks whose code defines ``name`` at its top level (``def``, ``class``, an assignment) or
        imports it, among the blocks whose code uses the identifier (the word index's names and identifiers), best
        first, one per distinct binding line (pytorchcv's ``def round_channels(channels, divisor=8)``, held by dozens of
        its blocks, counts once, and timm's other signature still gets a place). Why: a helper function lives inside
        the blocks that call it, and a library's constant (transformers' ``ACT2FN``) inside the blocks that import it;
        the searches by meaning that find those blocks rank them among every block of the topic, and with transformers'
        Llama blocks in a store, timm's and Llama's hosts of ``apply_rotary_pos_emb`` both fell out of the top 20."""
        pieces = words(name)
        if not pieces or not name.isidentifier():
            return []
        using = self._fts_ids('{names idents} : "' + pieces[0].replace('"', "") + '"', BINDING_DEPTH)  # the whole identifier
        if not using:
            return []
        binds = _binding_pattern(name)
        codes = dict(self._db().execute(f"SELECT id, code FROM blocks WHERE id IN ({','.join('?' * len(using))})", using))
        kept: list[int] = []
        lines: set[str] = set()  # one block per binding line: the distinct definitions, not 20 copies of the first
        for i in using:
            found = binds.search(codes.get(i, "")) if self._visible(i) else None
            if found is not None and (line := _line_at(codes[i], found.start())) not in lines:
                lines.add(line)
                kept.append(i)
        return self._blocks(kept[:k])

    def _lexical_ids(self, query: str, depth: int) -> list[int]:
        expr = fts_query(query)
        if expr is None:
            return []
        return self._fts_ids(expr, depth)

    def _fts_ids(self, expr: str, depth: int) -> list[int]:
        """Row ids matching the FTS5 expression ``expr``, best first."""
        # bm25 weights per column: names count most, then docstring words, then code identifiers
        sql = "SELECT rowid FROM blocks_fts WHERE blocks_fts MATCH ? ORDER BY bm25(blocks_fts, 10.0, 1.0, 3.0) LIMIT ?"
        if self._fts_current:
            return [r[0] for r in self._db().execute(sql, (expr, depth)).fetchall()]
        owner = self._parent or self
        with owner._fts_lock:
            return [r[0] for r in owner._stemmed_fts().execute(sql, (expr, depth)).fetchall()]

    def _stemmed_fts(self) -> sqlite3.Connection:
        """An in-memory copy of the word index of a store built before LEXICAL_VERSION (no stemming, no synonym
        words), as a new build writes it: made once per store on the first word search, from the words the store
        holds (no re-parsing: about 0.1 s per thousand blocks). Why not demand a re-index: an old store keeps working
        and searches the same as a new one; a re-index makes the copy unneeded. Call with ``_fts_lock`` held."""
        if self._fts_copy is None:
            copy_db = sqlite3.connect(":memory:", check_same_thread=False)
            copy_db.execute(f"CREATE VIRTUAL TABLE blocks_fts USING fts5(names, idents, doc, tokenize = '{FTS_TOKENIZER}')")
            rows = ((bid, *map(with_synonyms, texts)) for bid, *texts in self._db().execute("SELECT rowid, names, idents, doc FROM blocks_fts"))
            with copy_db:
                copy_db.executemany("INSERT INTO blocks_fts(rowid, names, idents, doc) VALUES (?, ?, ?, ?)", rows)
            self._fts_copy = copy_db
        return self._fts_copy

    def search(self, query: str, k: int = 10, sources: Iterable[str] | None = None, min_stage: str | None = None,
               vector: np.ndarray | None = None, mode: str = "hybrid") -> list[SearchHit]:
        """Hybrid search: FAISS over embeddings + BM25 over identifier words (+ exact
        symbol matches for one-word queries), fused by reciprocal rank."""
        hits = self.search_ids(query, k, sources, min_stage, vector, mode)
        blocks = self._blocks([i for i, _, _ in hits])
        return [SearchHit(b, s, m) for b, (_, s, m) in zip(blocks, hits)]

    def source_fingerprints(self) -> dict[str, str]:
        return dict(self._db().execute("SELECT spec, fingerprint FROM sources").fetchall())

    def file_hashes(self, spec: str) -> dict[str, str]:
        return dict(self._db().execute("SELECT path, content_hash FROM files WHERE source = ?", (spec,)).fetchall())

    def blocks_of_source(self, spec: str) -> list[Block]:
        """Every block with at least one provenance in ``spec``."""
        return self._blocks(self._ids_of_source(spec))

    def count_of_source(self, spec: str) -> int:
        """How many blocks ``blocks_of_source`` would return, without reading them."""
        return len(self._ids_of_source(spec))

    def mined_of_source(self, spec: str) -> int:
        """The blocks ``spec`` gave when it was last mined, before identical ones were merged (0 when not recorded)."""
        row = self._db().execute("SELECT blocks FROM sources WHERE spec = ?", (spec,)).fetchone()
        return int(row[0]) if row else 0

    def stopped_by_missing(self) -> list[tuple[list[str], list[str]]]:
        """(sources, missing modules) of each block that stopped at import and imports a module that was not installed
        when it was mined: what ``indexer.build`` tells the user to install."""
        rows = self._db().execute("SELECT sources, missing_deps FROM blocks WHERE stage_level = 1 AND missing_deps != '[]'")
        return [(json.loads(sources), json.loads(missing)) for sources, missing in rows]

    def _ids_of_source(self, spec: str) -> list[int]:
        return [i for i in range(len(self)) if spec in self._sources[i]]

    def vectors(self, ids: list[int]) -> np.ndarray:
        if not ids:
            return np.zeros((0, self._index.d), dtype=np.float32)
        return np.stack([self._index.reconstruct(int(i)) for i in ids])

    def id_of_hash(self, content_hash: str) -> int | None:
        return self._by_hash.get(content_hash)

    def stats(self) -> dict[str, Any]:
        """Counts: blocks, names, by source, by stage passed, near-dup groups, missing deps. A source's ``blocks`` are
        the distinct blocks holding one of its provenances; its ``mined_blocks`` what its mining gave before identical
        blocks were merged (never fewer than ``blocks``)."""
        db = self._db()
        by_stage = {s: int((self._levels >= stage_index(s)).sum()) for s in VALIDATION_STAGES}
        by_source: dict[str, dict[str, int]] = {}
        for spec, n_files, n_blocks in db.execute("SELECT spec, files, blocks FROM sources ORDER BY spec"):
            by_source[spec] = {"files": n_files, "blocks": 0, "mined_blocks": n_blocks, **{s: 0 for s in VALIDATION_STAGES}}
        for i, srcs in enumerate(self._sources):
            for s in srcs:
                entry = by_source.setdefault(s, {"files": 0, "blocks": 0, "mined_blocks": 0, **{st: 0 for st in VALIDATION_STAGES}})
                entry["blocks"] += 1
                for st in VALIDATION_STAGES:
                    entry[st] += int(self._levels[i] >= stage_index(st))
        for entry in by_source.values():
            entry["mined_blocks"] = max(entry["mined_blocks"], entry["blocks"])
        groups = db.execute("SELECT COUNT(DISTINCT near_dup_group) FROM blocks WHERE near_dup_group != ''").fetchone()[0]
        provs = db.execute("SELECT COUNT(*) FROM provenance").fetchone()[0]
        missing = db.execute("SELECT COUNT(*) FROM blocks WHERE missing_deps != '[]'").fetchone()[0]
        return {
            "version": self.version,
            "embedder_version": self.embedder_version,
            "path": str(self.version_dir),
            "created_at": float(self.meta.get("created_at", 0)),
            "blocks": len(self),
            "names": len(self._by_name),
            "provenances": provs,
            "near_dup_groups": groups,
            "blocks_with_missing_deps": missing,
            "by_stage": by_stage,
            "by_source": by_source,
        }


def _in_order(wanted: list[str], parts: list[str]) -> bool:
    """Whether every one of ``wanted`` appears in ``parts`` in the same order (gaps allowed)."""
    it = iter(parts)
    return all(w in it for w in wanted)


def _short_names(spec: str) -> set[str]:
    """What a user may call a source spec without its kind: the part after the colon, the package without its
    version (``pypi:ultralytics==8.4.190`` -> ``ultralytics``) and a directory's own name (``dir:/src/yolo`` -> ``yolo``)."""
    rest = spec.split(":", 1)[-1]
    return {rest, rest.split("==", 1)[0], rest.rstrip("/").rsplit("/", 1)[-1]}


def _row_to_block(row: tuple, provenances: list[Provenance]) -> Block:
    (_, name, qualified, code, chash, shash, sig, doc, ext, missing, unresolved, validation, example, group, params, flops, _level, _sources) = row
    return Block(
        name=name, qualified_name=qualified, code=code, provenances=provenances, content_hash=chash, struct_hash=shash,
        signature=sig, docstring=doc, external_imports=json.loads(ext), missing_deps=json.loads(missing),
        unresolved=json.loads(unresolved), validation=json.loads(validation),
        example=Example.from_dict(json.loads(example)) if example else None, near_dup_group=group, params=params, flops=flops,
    )
