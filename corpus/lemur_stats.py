"""LEMUR training runs: per-epoch stat files of the nn-dataset wheel joined into learning curves.

A stat file ``ab/nn/stat/train/<task>_<dataset>_<metric>_<nn>/<epoch>.json`` is a JSON list of
trials after that epoch. The same ``uid`` (md5 of hyperparameters + transform) across epoch files is
one learning curve; repeated runs share a uid, so the i-th occurrence of a uid in an epoch file
belongs to repeat i. ``duration`` is cumulative nanoseconds. Epoch 0 (only ``ga-*``) is dropped:
it carries no duration and is not a trained epoch.

Parsing the 105k files takes a minute, so runs are cached in SQLite next to the wheel.
"""

from __future__ import annotations

import json
import sqlite3
import zipfile
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

from corpus.lemur import LEMUR_VERSION, STAT_PREFIX

PARSER_VERSION = "p2"  # bump when the parse changes: the SQLite cache is keyed by it
NON_HPARAM_KEYS = ("accuracy", "duration", "uid", "transform")


@dataclass
class Run:
    """One learning curve: a model trained with one hyperparameter setting on one dataset."""

    model: str
    task: str
    dataset: str
    metric: str
    uid: str
    repeat: int
    hparams: dict[str, float | str]
    transform: str
    accuracy: list[float]  # accuracy[i] = metric after epoch i + 1
    duration_s: list[float] = field(default_factory=list)  # cumulative seconds after epoch i + 1

    @property
    def epochs(self) -> int:
        return len(self.accuracy)

    @property
    def final(self) -> float:
        return self.accuracy[-1]

    @property
    def best(self) -> float:
        return max(self.accuracy)

    @property
    def run_id(self) -> str:
        return f"{self.task}_{self.dataset}_{self.metric}_{self.model}/{self.uid}/{self.repeat}"


def split_config_folder(folder: str) -> tuple[str, str, str, str]:
    """``img-classification_cifar-10_acc_AlexNet-x_y`` -> (task, dataset, metric, nn); nn may hold ``_``."""
    parts = folder.split("_", 3)
    if len(parts) != 4:
        raise ValueError(f"stat folder {folder!r} is not <task>_<dataset>_<metric>_<nn>")
    return parts[0], parts[1], parts[2], parts[3]


def _fill_curve(by_epoch: dict[int, dict]) -> tuple[list[float], list[float]]:
    """Curve over epochs 1..max; an interior epoch missing from the files takes the previous one's values."""
    last = max(by_epoch)
    accuracy: list[float] = []
    duration: list[float] = []
    first = by_epoch[min(by_epoch)]
    prev_acc, prev_dur = float(first["accuracy"]), float(first.get("duration") or 0) / 1e9
    for epoch in range(1, last + 1):
        trial = by_epoch.get(epoch)
        if trial is not None:
            prev_acc = float(trial["accuracy"])
            prev_dur = float(trial.get("duration") or 0) / 1e9
        accuracy.append(prev_acc)
        duration.append(prev_dur)
    return accuracy, duration


def _duration(trial: dict) -> float:
    value = trial.get("duration")
    return float(value) if isinstance(value, (int, float)) else 0.0


def _assign_repeats(uid: str, epoch: int, group: list[dict], curves: dict, last_duration: dict[str, list[float]]) -> None:
    """Attach this epoch's trials of ``uid`` to its repeated runs: repeats ordered by their last cumulative
    duration take the trials ordered by duration (a run's clock only moves forward); extra trials start new repeats."""
    group = sorted(group, key=_duration)
    known = last_duration.setdefault(uid, [])
    order = sorted(range(len(known)), key=lambda r: known[r])
    for i, trial in enumerate(group):
        repeat = order[i] if i < len(order) else len(known)
        if repeat == len(known):
            known.append(0.0)
        curves[(uid, repeat)][epoch] = trial
        known[repeat] = _duration(trial)


def parse_runs(wheel: Path, folders: set[str] | None = None) -> list[Run]:
    """Every run in the wheel's stat files (or only in the given config folders), in a deterministic order."""
    files: dict[str, list[tuple[int, str]]] = defaultdict(list)
    with zipfile.ZipFile(wheel) as zf:
        for name in zf.namelist():
            if not (name.startswith(STAT_PREFIX) and name.endswith(".json")):
                continue
            folder, _, fname = name[len(STAT_PREFIX) :].partition("/")
            stem = fname[:-5]
            if "/" in fname or not stem.isdigit() or (folders is not None and folder not in folders):
                continue
            files[folder].append((int(stem), name))
        runs: list[Run] = []
        for folder in sorted(files):
            task, dataset, metric, model = split_config_folder(folder)
            curves: dict[tuple[str, int], dict[int, dict]] = defaultdict(dict)
            last_duration: dict[str, list[float]] = {}  # uid -> last cumulative duration of each repeat
            for epoch, name in sorted(files[folder]):
                if epoch < 1:
                    continue
                trials = json.loads(zf.read(name))
                by_uid: dict[str, list[dict]] = defaultdict(list)
                for trial in trials if isinstance(trials, list) else []:
                    if isinstance(trial, dict) and trial.get("uid") is not None and isinstance(trial.get("accuracy"), (int, float)):
                        by_uid[trial["uid"]].append(trial)
                for uid, group in by_uid.items():
                    _assign_repeats(uid, epoch, group, curves, last_duration)
            for (uid, repeat), by_epoch in sorted(curves.items()):
                accuracy, duration = _fill_curve(by_epoch)
                first = by_epoch[min(by_epoch)]
                hparams = {k: v for k, v in first.items() if k not in NON_HPARAM_KEYS and isinstance(v, (int, float, str))}
                runs.append(
                    Run(model, task, dataset, metric, uid, repeat, hparams, str(first.get("transform", "")), accuracy, duration)
                )
    return runs


_SCHEMA = """CREATE TABLE IF NOT EXISTS runs (
  model TEXT, task TEXT, dataset TEXT, metric TEXT, uid TEXT, repeat INTEGER,
  hparams TEXT, transform TEXT, accuracy TEXT, duration_s TEXT)"""


def _cache_path(cache_dir: Path) -> Path:
    return Path(cache_dir) / f"lemur_runs-{LEMUR_VERSION}-{PARSER_VERSION}.sqlite"


def save_runs(runs: list[Run], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    with sqlite3.connect(tmp) as db:
        db.execute(_SCHEMA)
        db.executemany(
            "INSERT INTO runs VALUES (?,?,?,?,?,?,?,?,?,?)",
            [
                (r.model, r.task, r.dataset, r.metric, r.uid, r.repeat, json.dumps(r.hparams), r.transform,
                 json.dumps(r.accuracy), json.dumps(r.duration_s))
                for r in runs
            ],
        )
    tmp.replace(path)


def load_runs_db(path: Path) -> list[Run]:
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT * FROM runs ORDER BY rowid").fetchall()
    return [
        Run(m, t, d, me, u, rep, json.loads(h), tr, json.loads(a), json.loads(du))
        for m, t, d, me, u, rep, h, tr, a, du in rows
    ]


def lemur_runs(cache_dir: Path, wheel: Path | None = None) -> list[Run]:
    """All LEMUR runs, parsed once and cached in SQLite under ``cache_dir``."""
    path = _cache_path(cache_dir)
    if path.exists():
        return load_runs_db(path)
    if wheel is None:
        from corpus.lemur import lemur_wheel

        wheel = lemur_wheel(cache_dir)
    runs = parse_runs(wheel)
    save_runs(runs, path)
    return runs


def run_to_dict(run: Run) -> dict:
    return asdict(run)
