"""Batch audits: check many (name, code) items, resumably, and summarise the outcome.

Identical code checked with identical settings is checked once: a result is keyed by the SHA-256 of the code and the
fingerprint of the CheckSpec it was made with (``settings_fingerprint``: stages, timeout, memory, entry, example...),
so a rerun with other settings checks again what an earlier run decided under different ones (a rerun with
``--timeout 20`` kept the timeouts of a ``--timeout 3`` run). Records written before settings were stored have none
and are checked again. Results are appended to ``results.jsonl`` as they arrive and names to ``names.jsonl``; on
restart every (hash, settings) already in ``results.jsonl`` with a verdict is skipped, so an interrupted audit of
10,000 models resumes where it stopped (an outcome that is no verdict on the code, such as a worker killed from
outside, is checked again: ``sandbox.spec.is_verdict``). ``current.jsonl`` is rewritten by every run with the source
as it is now (one line per item: its key, code hash, settings, and why it was skipped if it was), so the report
covers today's codes, not versions the user has since fixed, while ``results.jsonl`` keeps every record. An item's
key is its name; a name repeated within one source gets ``#2``, ``#3``... on its later occurrences (``a``, ``a#2``),
so every item counts once.

Files that define no model class (``__init__.py``, ``utils.py``) and files that import their siblings relatively
(``from .blocks import X``, which a standalone check cannot resolve) are no verdict on a model: they are reported as
skipped (``skip_reason``), outside the pass rates. Only one audit writes an output folder at a time (``audit_lock``).

The sources of items (directories, JSONL, LEMUR) live in the CLI; this module only needs something that checks
many codes in order: a local ``CheckerPool`` or, over the wire, ``rag_server.client.Client``
(its ``check_many`` streams through the server's Audit RPC). Both give the same files.
"""

from __future__ import annotations

import ast
import fcntl
import hashlib
import json
import os
import time
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Protocol, Union

from sandbox.pool import oversize_problem, rejected_result
from sandbox.spec import CheckResult, CheckSpec, is_verdict, verdict_error

RESULTS_FILE = "results.jsonl"
NAMES_FILE = "names.jsonl"
RUNS_FILE = "runs.jsonl"
CURRENT_FILE = "current.jsonl"
LOCK_FILE = ".audit.lock"
UNKNOWN_SETTINGS = ""  # the settings of a record written before they were stored: never equal to a run's
NO_MODEL_CLASS = "no model class"
RELATIVE_IMPORT = "needs its package: a relative import, and each file is checked on its own"


class Checker(Protocol):
    """What an audit needs: results for many (code, spec) items, in input order."""

    def check_many(self, items: Iterable[tuple[str, CheckSpec | None]]) -> Iterator[CheckResult]: ...


@dataclass
class SourceItem:
    """One item of a source. ``spec``: how to check it when it says (a JSONL item's "spec"), else the audit's.
    ``problem``: why it cannot be checked at all (a malformed source line); recorded as "rejected" with that message."""

    name: str
    code: str
    spec: CheckSpec | None = None
    problem: str | None = None


Item = Union[SourceItem, tuple[str, str]]
ResultKey = tuple[str, str]  # (code hash, settings fingerprint)


class AuditLocked(RuntimeError):
    """Another audit is writing the same output folder."""


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode("utf-8", "replace")).hexdigest()


def settings_fingerprint(spec: CheckSpec) -> str:
    """A short digest of every setting of ``spec``: two results are interchangeable only when it is equal. A whole
    float counts as its integer (``--timeout 20`` is 20.0, a spec written in code says 20)."""
    canonical = json.dumps(_whole_floats_as_ints(spec.to_dict()), sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _whole_floats_as_ints(value: object) -> object:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _whole_floats_as_ints(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_whole_floats_as_ints(v) for v in value]
    return value


def skip_reason(result: dict) -> str | None:
    """Why a stored result is no verdict on a model (the file defines none, or needs its package), else None."""
    error_type, message = str(result.get("error_type") or ""), str(result.get("message") or "")
    if error_type == "NoModule" or (error_type == "Rejected" and message == "the code is empty"):  # the latter: older runs
        return NO_MODEL_CLASS
    if error_type == "ImportError" and "relative import" in message:
        return RELATIVE_IMPORT
    return None


def defines_no_model(code: str, entry: str | None) -> bool:
    """True when ``code`` parses and nothing in it could be the model: no class statement anywhere and the entry name
    (``Net`` by default) bound nowhere (def, assignment, import). Such a file (``__init__.py``, ``utils.py``) is
    skipped without starting a sandbox. Code that does not parse is left to the check, which reports the error."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    name = entry or "Net"
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            return False
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
            return False
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store) and node.id == name:
            return False
        if isinstance(node, ast.alias) and (node.name == "*" or (node.asname or node.name.split(".")[0]) == name):
            return False
    return True


@contextmanager
def audit_lock(out_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``out_dir`` (``fcntl.flock`` of a lock file in it) or raise AuditLocked at once.
    Why: two audits writing one folder each checked every code (88 records for 44 codes). The kernel drops the lock
    when its holder dies, so a killed audit never leaves the folder locked."""
    out_dir.mkdir(parents=True, exist_ok=True)
    handle = (out_dir / LOCK_FILE).open("a+", encoding="utf-8")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip()
            raise AuditLocked(f"another audit{f' (pid {holder})' if holder.isdigit() else ''} is writing {out_dir}: "
                              "wait for it to finish (rerunning then resumes), or give another --out") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield
    finally:
        handle.close()  # closing drops the lock


@dataclass
class AuditProgress:
    total_names: int = 0
    unique: int = 0
    already_done: int = 0
    checked: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    undecided: int = 0  # checked twice and neither time decided (see ``sandbox.spec.is_verdict``): the next run checks them again
    settings_changed: int = 0  # to check because their stored verdict was made with other settings
    settings_unknown: int = 0  # to check because their stored verdict predates stored settings
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> items that are no model (``skip_reason``)
    rejected_items: int = 0  # items the source could not give (a malformed line)


def _read_jsonl(path: Path) -> Iterator[dict]:
    """Records of a JSONL file; a torn last line after a kill is skipped, a missing file is empty."""
    if not path.exists():
        return
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            try:
                yield json.loads(line)
            except ValueError:
                continue


def result_key(record: dict) -> ResultKey:
    """(code hash, settings fingerprint) of a stored record; UNKNOWN_SETTINGS for one written before settings were."""
    return record["hash"], str(record.get("settings") or UNKNOWN_SETTINGS)


def load_records(out_dir: Path) -> dict[ResultKey, dict]:
    """(hash, settings) -> latest stored record, from results.jsonl, verdicts or not."""
    return {result_key(record): record for record in _read_jsonl(out_dir / RESULTS_FILE) if isinstance(record, dict) and "hash" in record}


def load_done(out_dir: Path) -> dict[ResultKey, dict]:
    """(hash, settings) -> stored record of the checks that have a verdict (``sandbox.spec.is_verdict``). A record that
    is not one (a worker killed from outside, a timeout on a busy machine, a cancel) is left out, so the next run checks
    that code again. Why: such records were counted as done and never checked again."""
    return {key: record for key, record in load_records(out_dir).items() if _is_verdict_record(record)}


def _is_verdict_record(record: dict) -> bool:
    result = record.get("result") or {}
    return verdict_error(str(result.get("error_type") or ""), str(result.get("message") or ""))


def load_names(out_dir: Path) -> dict[str, str]:
    """name -> hash, from names.jsonl."""
    return {record["name"]: record["hash"] for record in _read_jsonl(out_dir / NAMES_FILE)}


def load_current(out_dir: Path) -> dict[str, dict]:
    """key -> {"hash", "settings" (absent in folders from before settings were stored), "skipped" (its reason, when
    the item is no model)} of the source as the latest run saw it (current.jsonl); for an output folder from before
    that file existed, the latest hash of every name in names.jsonl."""
    path = out_dir / CURRENT_FILE
    if not path.exists():
        return {name: {"hash": digest} for name, digest in load_names(out_dir).items()}
    return {record["name"]: record for record in _read_jsonl(path)}


def item_keys(names: Iterable[str]) -> Iterator[str]:
    """A distinct key per item: the name, or ``name#k`` for its k-th occurrence (k >= 2) in one source."""
    used: set[str] = set()
    for name in names:
        key, k = name, 1
        while key in used:
            k += 1
            key = f"{name}#{k}"
        used.add(key)
        yield key


def _write_current(out_dir: Path, current: dict[str, dict]) -> None:
    """Replace current.jsonl in one step (a kill leaves the old or the new snapshot, never half)."""
    tmp = out_dir / (CURRENT_FILE + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for key, entry in current.items():
            fh.write(json.dumps({"name": key, **entry}) + "\n")
    os.replace(tmp, out_dir / CURRENT_FILE)


def run_audit(
    items: Iterable[Item],
    out_dir: Path,
    pool: Checker,
    spec: CheckSpec | None = None,
    on_result: Callable[[str, CheckResult, AuditProgress], None] | None = None,
    limit: int | None = None,
) -> AuditProgress:
    """Check every unique (code, settings) among ``items`` not already decided in ``out_dir``; returns counts.

    ``items`` are (name, code) pairs or SourceItems (whose own spec, when set, replaces ``spec``). They are consumed
    fully up front (names must be recorded for dedup); ``limit`` caps how many new checks run in this run. Checks
    run in hash order. Empty-of-models files are skipped (``defines_no_model``); oversized code and items with a
    ``problem`` are recorded as "rejected" without being sent anywhere (the pool and the server refuse them too; over
    the wire one would fail the whole stream), so a local and a remote audit write the same records. Raises
    AuditLocked when another audit is writing ``out_dir``.
    """
    spec = spec or CheckSpec()
    with audit_lock(out_dir):
        return _run_locked([i if isinstance(i, SourceItem) else SourceItem(*i) for i in items], out_dir, pool, spec, on_result, limit)


def _run_locked(items: list[SourceItem], out_dir: Path, pool: Checker, spec: CheckSpec,
                on_result: Callable[[str, CheckResult, AuditProgress], None] | None, limit: int | None) -> AuditProgress:
    done = load_done(out_dir)
    settings_done: dict[str, set[str]] = {}
    for digest, settings in done:
        settings_done.setdefault(digest, set()).add(settings)
    known_names = load_names(out_dir)
    progress = AuditProgress()
    todo: dict[ResultKey, SourceItem] = {}  # the checks to run: each item under its key, with the spec it is checked with
    current: dict[str, dict] = {}
    wanted: set[ResultKey] = set()
    with (out_dir / NAMES_FILE).open("a", encoding="utf-8") as names_fh:
        for key, item in zip(item_keys(item.name for item in items), items):
            progress.total_names += 1
            item_spec = item.spec or spec
            digest = code_hash(item.code)
            settings = settings_fingerprint(item_spec)
            current[key] = {"hash": digest, "settings": settings}
            if known_names.get(key) != digest:
                names_fh.write(json.dumps({"name": key, "hash": digest}) + "\n")
                known_names[key] = digest
            if item.problem is None and oversize_problem(item.code) is None and defines_no_model(item.code, item_spec.entry):
                current[key]["skipped"] = NO_MODEL_CLASS
                progress.skipped[NO_MODEL_CLASS] = progress.skipped.get(NO_MODEL_CLASS, 0) + 1
                continue
            progress.rejected_items += item.problem is not None
            wanted.add((digest, settings))
            if (digest, settings) not in done and (digest, settings) not in todo:
                todo[(digest, settings)] = SourceItem(key, item.code, item_spec, item.problem)
                earlier = settings_done.get(digest, set())
                progress.settings_unknown += bool(earlier) and earlier <= {UNKNOWN_SETTINGS}
                progress.settings_changed += bool(earlier - {UNKNOWN_SETTINGS})
    _write_current(out_dir, current)
    progress.unique = len(wanted)
    progress.already_done = len(wanted & done.keys())
    # Hash order is a fixed pseudo-random order: a partial audit (limit, interruption) is an
    # unbiased sample of the source instead of its alphabetical head.
    pending = sorted(todo.items(), key=lambda kv: kv[0])
    pending = pending[:limit] if limit is not None else pending
    started = time.time()
    with (out_dir / RESULTS_FILE).open("a", encoding="utf-8") as results_fh:

        def record(key: ResultKey, name: str, result: CheckResult) -> None:
            results_fh.write(json.dumps({"hash": key[0], "settings": key[1], "name": name, "result": result.to_dict(), "ts": time.time()}) + "\n")
            results_fh.flush()
            progress.checked += 1
            progress.undecided += not is_verdict(result)
            reason = skip_reason(result.to_dict())
            if reason:
                progress.skipped[reason] = progress.skipped.get(reason, 0) + 1
            else:
                progress.statuses[result.status] = progress.statuses.get(result.status, 0) + 1
            if on_result is not None:
                on_result(name, result, progress)

        # An outcome that is no verdict on the code (a worker killed from outside, a busy machine) is checked once
        # more after the others; if it persists it is stored as it is, and ``load_done`` leaves it for the next run.
        retry: list[tuple[ResultKey, SourceItem]] = []
        with closing(_check_all(pool, pending)) as results:
            for key, name, result in results:
                if is_verdict(result):
                    record(key, name, result)
                else:
                    retry.append((key, todo[key]))
        with closing(_check_all(pool, retry)) as results:
            for key, name, result in results:
                record(key, name, result)
    with (out_dir / RUNS_FILE).open("a", encoding="utf-8") as runs_fh:
        runs_fh.write(json.dumps({"started": started, "finished": time.time(), "checked": progress.checked,
                                  "workers": getattr(pool, "size", None), "server": getattr(pool, "address", None),
                                  "statuses": progress.statuses, "skipped": progress.skipped,
                                  "settings": settings_fingerprint(spec), "spec": spec.to_dict()}) + "\n")
    return progress


def _check_all(pool: Checker, pending: list[tuple[ResultKey, SourceItem]]) -> Iterator[tuple[ResultKey, str, CheckResult]]:
    """(key, name, result) of every pending item in order; refused codes are never sent."""
    if not pending:
        return
    refusals = {key: _refusal(item) for key, item in pending}
    checked = pool.check_many((item.code, item.spec) for key, item in pending if refusals[key] is None)
    try:
        for key, item in pending:
            yield key, item.name, refusals[key] or next(checked)
    finally:
        getattr(checked, "close", lambda: None)()  # an interrupted remote audit cancels its stream (the server stops its checks)


def _refusal(item: SourceItem) -> CheckResult | None:
    """The "rejected" result of an item no checker takes (a problem of its source line, or over the pool's size limit),
    else None. Empty code never gets here: it defines no model, and ``run_audit`` skips it."""
    if item.problem is not None:
        return rejected_result(item.problem, item.spec, "fix that item of the source")
    problem = oversize_problem(item.code)
    return rejected_result(problem, item.spec) if problem else None
