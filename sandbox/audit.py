"""Batch audits: check many (name, code) items, resumably, and summarise the outcome.

Identical code is checked once (keyed by the SHA-256 of the code). Results are appended
to ``results.jsonl`` as they arrive (one line per unique code) and names to
``names.jsonl``; on restart every hash already in ``results.jsonl`` with a verdict is skipped, so an
interrupted audit of 10,000 models resumes where it stopped (an outcome that is no verdict on the code, such as a
worker killed from outside, is checked again: ``sandbox.spec.is_verdict``). ``current.jsonl`` is rewritten by
every run with the source as it is now (one line per item: its key and code hash), so the report
covers today's codes, not versions the user has since fixed, while ``results.jsonl`` keeps every
record. An item's key is its name; a name repeated within one source gets ``#2``, ``#3``... on its
later occurrences (``a``, ``a#2``), so every item counts once. The sources of items
(directories, JSONL, LEMUR) live in the CLI; this module only needs something that checks
many codes in order: a local ``CheckerPool`` or, over the wire, ``rag_server.client.Client``
(its ``check_many`` streams through the server's Audit RPC). Both give the same files.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Protocol

from sandbox.pool import oversize_problem, rejected_result
from sandbox.spec import CheckResult, CheckSpec, is_verdict, verdict_error

RESULTS_FILE = "results.jsonl"
NAMES_FILE = "names.jsonl"
RUNS_FILE = "runs.jsonl"
CURRENT_FILE = "current.jsonl"


class Checker(Protocol):
    """What an audit needs: results for many (code, spec) items, in input order."""

    def check_many(self, items: Iterable[tuple[str, CheckSpec | None]]) -> Iterator[CheckResult]: ...


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode("utf-8", "replace")).hexdigest()


@dataclass
class AuditProgress:
    total_names: int = 0
    unique: int = 0
    already_done: int = 0
    checked: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    undecided: int = 0  # checked twice and neither time decided (see ``sandbox.spec.is_verdict``): the next run checks them again


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


def load_records(out_dir: Path) -> dict[str, dict]:
    """hash -> latest stored record, from results.jsonl, verdicts or not."""
    return {record["hash"]: record for record in _read_jsonl(out_dir / RESULTS_FILE)}


def load_done(out_dir: Path) -> dict[str, dict]:
    """hash -> stored record of the codes that have a verdict (``sandbox.spec.is_verdict``). A record that is not
    one (a worker killed from outside, a timeout on a busy machine, a cancel) is left out, so the next run checks
    that code again. Why: such records were counted as done and never checked again."""
    return {digest: record for digest, record in load_records(out_dir).items() if _is_verdict_record(record)}


def _is_verdict_record(record: dict) -> bool:
    result = record.get("result") or {}
    return verdict_error(str(result.get("error_type") or ""), str(result.get("message") or ""))


def load_names(out_dir: Path) -> dict[str, str]:
    """name -> hash, from names.jsonl."""
    return {record["name"]: record["hash"] for record in _read_jsonl(out_dir / NAMES_FILE)}


def load_current(out_dir: Path) -> dict[str, str]:
    """key -> hash of the source as the latest run saw it (current.jsonl); for an output folder from
    before that file existed, the latest hash of every name in names.jsonl."""
    path = out_dir / CURRENT_FILE
    if not path.exists():
        return load_names(out_dir)
    return {record["name"]: record["hash"] for record in _read_jsonl(path)}


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


def _write_current(out_dir: Path, current: dict[str, str]) -> None:
    """Replace current.jsonl in one step (a kill leaves the old or the new snapshot, never half)."""
    tmp = out_dir / (CURRENT_FILE + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for key, digest in current.items():
            fh.write(json.dumps({"name": key, "hash": digest}) + "\n")
    os.replace(tmp, out_dir / CURRENT_FILE)


def run_audit(
    items: Iterable[tuple[str, str]],
    out_dir: Path,
    pool: Checker,
    spec: CheckSpec | None = None,
    on_result: Callable[[str, CheckResult, AuditProgress], None] | None = None,
    limit: int | None = None,
) -> AuditProgress:
    """Check every unique code among ``items`` not already in ``out_dir``; returns counts.

    ``items`` is consumed fully up front (names must be recorded for dedup); ``limit``
    caps how many new unique codes are checked in this run. Codes are checked in hash order.
    Empty and oversized code is recorded as "rejected" without being sent anywhere (the pool and
    the server refuse it too; over the wire it would fail the whole stream), so a local and a
    remote audit write the same records.
    """
    spec = spec or CheckSpec()
    out_dir.mkdir(parents=True, exist_ok=True)
    done = load_done(out_dir)
    known_names = load_names(out_dir)
    progress = AuditProgress()
    todo: dict[str, tuple[str, str]] = {}
    current: dict[str, str] = {}
    items = list(items)
    with (out_dir / NAMES_FILE).open("a", encoding="utf-8") as names_fh:
        for key, (_, code) in zip(item_keys(name for name, _ in items), items):
            progress.total_names += 1
            digest = code_hash(code)
            current[key] = digest
            if known_names.get(key) != digest:
                names_fh.write(json.dumps({"name": key, "hash": digest}) + "\n")
                known_names[key] = digest
            if digest not in done and digest not in todo:
                todo[digest] = (key, code)
    _write_current(out_dir, current)
    unique = set(current.values())
    progress.unique = len(unique)
    progress.already_done = len(unique & done.keys())
    # Hash order is a fixed pseudo-random order: a partial audit (limit, interruption) is an
    # unbiased sample of the source instead of its alphabetical head.
    pending = sorted(todo.items())
    pending = pending[:limit] if limit is not None else pending
    started = time.time()
    with (out_dir / RESULTS_FILE).open("a", encoding="utf-8") as results_fh:

        def record(digest: str, name: str, result: CheckResult) -> None:
            results_fh.write(json.dumps({"hash": digest, "name": name, "result": result.to_dict(), "ts": time.time()}) + "\n")
            results_fh.flush()
            progress.checked += 1
            progress.undecided += not is_verdict(result)
            progress.statuses[result.status] = progress.statuses.get(result.status, 0) + 1
            if on_result is not None:
                on_result(name, result, progress)

        # An outcome that is no verdict on the code (a worker killed from outside, a busy machine) is checked once
        # more after the others; if it persists it is stored as it is, and ``load_done`` leaves it for the next run.
        retry: list[tuple[str, tuple[str, str]]] = []
        with closing(_check_all(pool, pending, spec)) as results:
            for digest, name, result in results:
                if is_verdict(result):
                    record(digest, name, result)
                else:
                    retry.append((digest, todo[digest]))
        with closing(_check_all(pool, retry, spec)) as results:
            for digest, name, result in results:
                record(digest, name, result)
    with (out_dir / RUNS_FILE).open("a", encoding="utf-8") as runs_fh:
        runs_fh.write(json.dumps({"started": started, "finished": time.time(), "checked": progress.checked,
                                  "workers": getattr(pool, "size", None), "server": getattr(pool, "address", None),
                                  "statuses": progress.statuses}) + "\n")
    return progress


def _check_all(pool: Checker, pending: list[tuple[str, tuple[str, str]]], spec: CheckSpec) -> Iterator[tuple[str, str, CheckResult]]:
    """(hash, name, result) of every pending item in order; refused codes are never sent."""
    if not pending:
        return
    refusals = {digest: _refusal(code, spec) for digest, (_, code) in pending}
    checked = pool.check_many((code, spec) for digest, (_, code) in pending if refusals[digest] is None)
    try:
        for digest, (name, _) in pending:
            yield digest, name, refusals[digest] or next(checked)
    finally:
        getattr(checked, "close", lambda: None)()  # an interrupted remote audit cancels its stream (the server stops its checks)


def _refusal(code: str, spec: CheckSpec) -> CheckResult | None:
    """The "rejected" result of code no checker takes (empty, or over the pool's size limit), else None."""
    if not code.strip():
        return rejected_result("the code is empty", spec, "send the model's source code")
    problem = oversize_problem(code)
    return rejected_result(problem, spec) if problem else None
