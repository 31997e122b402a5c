"""The training corpus: LEMUR runs joined with model code, hashes, families and code features
(static from the syntax tree; parameters and FLOPs from the shipped sandbox audit).

Models with identical code (same content hash) are one model: their runs are deduplicated and
their features computed once. Everything slow (parsing stats, hashing, libcst) is cached in SQLite
under the cache directory, so a second load takes seconds.
"""

from __future__ import annotations

import sqlite3
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from corpus.lemur import LEMUR_VERSION, MODEL_PREFIX, lemur_wheel
from corpus.lemur_stats import Run, lemur_runs
from predictor.code_features import FeatureCache, static_features_cached
from predictor.dynamic import merge_lemur
from predictor.families import assign_families, code_hashes

MODEL_TABLE_VERSION = "families-v2"  # bump when the table or the family grouping changes


def cache_dir_or_default(cache_dir: Path | None) -> Path:
    """``cache_dir``, or the settings' cache (``$NNRAG_HOME/cache``) read now. Why at call time: a path fixed at
    import ignored ``$NNRAG_HOME``, so the LEMUR wheel, parsed runs and fitted estimators went to ~/.cache."""
    if cache_dir is not None:
        return Path(cache_dir)
    from nnrag.settings import get_settings

    return get_settings().cache_path


@dataclass
class ModelInfo:
    name: str
    content_hash: str
    struct_hash: str
    family: str  # the default "stem" grouping (see predictor.families)
    strict_family: str = ""  # the "strict" grouping: also joined by structural hash


@dataclass
class Corpus:
    runs: list[Run]
    models: dict[str, ModelInfo]
    codes: dict[str, str] = field(repr=False)
    features: dict[str, dict[str, float]] = field(repr=False)


def read_codes(wheel: Path) -> dict[str, str]:
    with zipfile.ZipFile(wheel) as zf:
        return {
            n[len(MODEL_PREFIX) : -3]: zf.read(n).decode("utf-8", errors="replace")
            for n in zf.namelist()
            if n.startswith(MODEL_PREFIX) and n.endswith(".py") and "/" not in n[len(MODEL_PREFIX) :] and not n.endswith("__init__.py")
        }


def _model_table(codes: dict[str, str], path: Path) -> dict[str, ModelInfo]:
    if path.exists():
        with sqlite3.connect(path) as db:
            rows = db.execute("SELECT name, content_hash, struct_hash, family, strict_family FROM models").fetchall()
        if {r[0] for r in rows} == set(codes):
            return {r[0]: ModelInfo(*r) for r in rows}
    hashes = {n: code_hashes(c) for n, c in codes.items()}
    content = {n: h[0] for n, h in hashes.items()}
    struct = {n: h[1] for n, h in hashes.items()}
    stem = assign_families(codes, struct, content, grouping="stem")
    strict = assign_families(codes, struct, content, grouping="strict")
    infos = {n: ModelInfo(n, content[n], struct[n], stem[n], strict[n]) for n in codes}
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    with sqlite3.connect(tmp) as db:
        db.execute("CREATE TABLE models (name TEXT PRIMARY KEY, content_hash TEXT, struct_hash TEXT, family TEXT, strict_family TEXT)")
        db.executemany("INSERT INTO models VALUES (?,?,?,?,?)",
                       [(i.name, i.content_hash, i.struct_hash, i.family, i.strict_family) for i in infos.values()])
    tmp.replace(path)
    return infos


def dedup_runs(runs: list[Run], models: dict[str, ModelInfo]) -> list[Run]:
    """Drop runs repeated under another name of the same code (same hash, config, uid, repeat and curve)."""
    seen: set[tuple] = set()
    out = []
    for run in sorted(runs, key=lambda r: (r.model, r.task, r.dataset, r.uid, r.repeat)):
        info = models.get(run.model)
        if info is None:
            continue
        key = (info.content_hash, run.task, run.dataset, run.metric, run.uid, run.repeat, tuple(run.accuracy))
        if key in seen:
            continue
        seen.add(key)
        out.append(run)
    return out


def load_corpus(cache_dir: Path | None = None, with_features: bool = True) -> Corpus:
    """LEMUR runs, model hashes and families, and (optionally) static code features; all cached."""
    cache_dir = cache_dir_or_default(cache_dir)
    wheel = lemur_wheel(cache_dir)
    codes = read_codes(wheel)
    models = _model_table(codes, cache_dir / f"lemur_models-{LEMUR_VERSION}-{MODEL_TABLE_VERSION}.sqlite")
    runs = dedup_runs(lemur_runs(cache_dir, wheel), models)
    used = {r.model for r in runs}
    features = (
        static_features_cached({n: codes[n] for n in used}, FeatureCache(cache_dir / "code_features.sqlite"))
        if with_features
        else {}
    )
    merge_lemur(features, codes)
    return Corpus(runs=runs, models=models, codes=codes, features=features)
