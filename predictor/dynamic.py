"""Dynamic code features: parameter count and forward FLOPs, measured in the checker's sandbox.

For LEMUR they come from the full sandbox audit of nn-dataset 2.1.2 (``nnrag audit lemur``: every model
built and run forward on a CIFAR-10 batch), shipped as ``lemur_dynamic.json.gz`` keyed by the SHA-256 of
the model file, so training needs no sandbox. For new code the predictor measures them in the sandbox
when it has a pool (the server passes its own; ``nnrag predict`` starts one) and keeps them in its
directory's report store by content hash, with the ``MEASUREMENT_VERSION`` that made them; without a pool
the ``code_dyn_*`` columns are NaN and the static features carry the model (LightGBM reads NaN as missing).
The LEMUR table is the audit's own snapshot (what the estimators learned from), so it is read as shipped.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import time
from pathlib import Path

LEMUR_TABLE = Path(__file__).parent / "lemur_dynamic.json.gz"
LEMUR_AST_INDEX = Path(__file__).parent / "lemur_ast_index.json.gz"  # the same entries by AST (``write_lemur_ast_index``)
# The stages of the LEMUR audit (``nnrag audit``'s default ``--stage train_step``), which built the table. Why all of
# them, though params/FLOPs need forward only: a model that breaks at 32 px is retried at LEMUR's larger sizes, and
# the retry counts only when every stage passes there, so stopping at forward gave some models FLOPs the table lacks.
LEMUR_SPEC_STAGES = ("parse", "compile", "import", "instantiate", "forward", "backward", "train_step")
# Wall-clock budget of one measurement. A Predict or ShouldStop call waits on it, so it must end well inside the
# clients' default 30 s deadline (the sandbox's default budget is 30 s of CPU, up to 120 s of wall time: a model
# that hangs at import made the call time out). The LEMUR audit's checks took 2.2 s at the median and 7.4 s at the
# 95th percentile.
MEASURE_TIMEOUT_S = 15.0
# Version of the way new code is measured: this module's spec and reading of a check, and the sandbox's counting of
# parameters and FLOPs. Bump it whenever either changes. Why: measurements are kept by content hash in a predictor's
# report store (``ReportStore.save_dynamic``), and one made by older measuring code was served for good (a model the
# pre-audit spec failed at 32 px kept "did not run forward" after the spec was fixed). A kept measurement of another
# version is measured again when a sandbox is at hand, and is no measurement without one (``ReportStore.load_dynamic``).
# 0: rows kept before versions existed. 1: the LEMUR audit's spec (6374dd9), LSTM FLOPs counted (8975db2), integer
# inputs below the smallest embedding table (cac64c1).
MEASUREMENT_VERSION = 1


def _spec():
    """The check ``nnrag audit lemur`` ran to build ``lemur_dynamic.json.gz`` (``nnrag.cli.check.audit_command``: the
    default CheckSpec, so no entry, no example, the LEMUR contract detected from ``Net``'s signature, ``prm`` from the
    model's ``supported_hyperparameters``), within the measurement budget. Why the same: the estimators learned
    params/FLOPs as the audit measured them; an explicit 32 px example turned off the sandbox's retry at LEMUR's larger
    input sizes, so AlexNet plus a comment had no FLOPs while AlexNet itself had 10^8.3."""
    from sandbox.spec import CheckSpec

    return CheckSpec(stages=LEMUR_SPEC_STAGES, timeout_s=MEASURE_TIMEOUT_S)


def _features(ok: bool, params: int | None, flops: int | None) -> dict[str, float]:
    """``ok``: the model ran forward. Parameters are counted at instantiation, so a model that built but failed
    forward (ComplexNet wants complex input, InceptionV3-2 is too deep for 32x32) or was refused by the parameter
    budget (the MoEv9-AlexNet variants, 457M) still has them: measured, so used (k = 0 RMSE on stem seeds 0 / 1:
    0.091 / 0.091 -> 0.088 / 0.089). FLOPs need the forward pass."""
    return {
        "dyn_ok": 1.0 if ok else 0.0,
        "dyn_params_log10": math.log10(params) if params else float("nan"),
        "dyn_flops_log10": math.log10(flops) if ok and flops else float("nan"),
    }


def _forward_ok(stages: dict) -> bool:
    """The table's "ok": the model instantiated and ran forward (what params and FLOPs need), whatever later stages did."""
    return stages.get("forward") == "ok"


def features_from_result(result) -> dict[str, float]:
    """A check's params/FLOPs features, read as ``write_lemur_table`` reads the audit's results."""
    ran = getattr(result, "status", "") == "ok" or _forward_ok(getattr(result, "stages", {}) or {})
    return _features(ran, getattr(result, "params", None), getattr(result, "flops", None))


def code_sha256(code: str) -> str:
    return hashlib.sha256(code.encode("utf-8")).hexdigest()


def write_lemur_table(audit_results: Path, out: Path = LEMUR_TABLE) -> int:
    """Compact the audit's results.jsonl into {sha256: [ok, params, flops]}; returns the entry count.

    "ok" means the model instantiated and ran forward (what params and FLOPs need), whatever later stages did.
    """
    table: dict[str, list] = {}
    with open(audit_results) as fh:
        for line in fh:
            record = json.loads(line)
            result = record["result"]
            table[record["hash"]] = [int(_forward_ok(result.get("stages", {}))), result.get("params"), result.get("flops")]
    with gzip.open(out, "wt") as fh:
        json.dump(table, fh, separators=(",", ":"), sort_keys=True)
    return len(table)


_TABLE: dict[str, list] | None = None
_AST_INDEX: dict[str, list] | None = None


def lemur_table() -> dict[str, list]:
    global _TABLE
    _TABLE = _TABLE if _TABLE is not None else _read_json_gz(LEMUR_TABLE)
    return _TABLE


def lemur_ast_index() -> dict[str, list]:
    global _AST_INDEX
    _AST_INDEX = _AST_INDEX if _AST_INDEX is not None else _read_json_gz(LEMUR_AST_INDEX)
    return _AST_INDEX


def _read_json_gz(path: Path) -> dict[str, list]:
    with gzip.open(path, "rt") as fh:
        return json.load(fh)


def lemur_features(code: str) -> dict[str, float] | None:
    """The audited params/FLOPs features of a LEMUR model file's exact text, or None when it was not audited."""
    entry = lemur_table().get(code_sha256(code))
    return None if entry is None else _features(bool(entry[0]), entry[1], entry[2])


def lemur_features_of_same_code(key: str) -> dict[str, float] | None:
    """The audited features of the LEMUR file whose AST is ``key`` (``families.content_hash``): a copy with other
    comments or layout is the same model. Why: a LEMUR model with one comment added lost its audited params/FLOPs in a
    predictor without a sandbox, and its k = 0 forecast moved by up to 0.19 (VGG 0.736 -> 0.548). Serving only: the
    training rows read the exact texts (``merge_lemur``), as the estimators learned them."""
    entry = lemur_ast_index().get(key)
    return None if entry is None else _features(bool(entry[0]), entry[1], entry[2])


def write_lemur_ast_index(model_files: dict[str, str], out: Path = LEMUR_AST_INDEX) -> int:
    """{content hash: the audit entry} for the LEMUR files in the audit table (``model_files``: name -> text); an AST
    whose files have different entries is left out. Returns the entry count. Built from the wheel with
    ``write_lemur_ast_index(dict(corpus.lemur.iter_models(wheel)))``: 9,897 ASTs of the table's 10,476 files."""
    from predictor.families import content_hash

    index: dict[str, list] = {}
    clashes: set[str] = set()
    for text in model_files.values():
        entry = lemur_table().get(code_sha256(text))
        if entry is None:
            continue
        key = content_hash(text)
        if index.setdefault(key, entry) != entry:
            clashes.add(key)
    index = {k: v for k, v in index.items() if k not in clashes}
    with gzip.open(out, "wt") as fh:
        json.dump(index, fh, separators=(",", ":"), sort_keys=True)
    return len(index)


def merge_lemur(features: dict[str, dict[str, float]], codes: dict[str, str]) -> int:
    """Add the audited dynamic features to the static ones in place; returns how many models had them."""
    n = 0
    for name in features:
        dyn = lemur_features(codes[name]) if name in codes else None
        if dyn is not None:
            features[name] = {**features[name], **dyn}
            n += 1
    return n


# Check statuses that are a verdict on the model itself, the same on every try: it ran forward ("ok"), it raised while
# building or running ("failed"), or the parameter budget refused it ("rejected"). The others - "timeout" (also: no
# free worker before the deadline, a cancelled check), "oom" and "crashed" (the sandbox's limits or its worker) - can
# change with the machine's load, so they are no measurement.
VERDICT_STATUSES = ("ok", "failed", "rejected")


class MeasurementSkipped(RuntimeError):
    """Raised by a pool's ``check`` when it will not run the measurement now (the server: every place for sandbox work
    is taken). The code is answered without params/FLOPs and measured by a later call, with no ``REMEASURE_AFTER_S``
    wait: a busy sandbox says nothing about the model, and the skip cost nothing."""


def measure_in_sandbox(code: str, pool) -> dict[str, float] | None:
    """Params/FLOPs of ``code`` built under the LEMUR contract in ``pool``'s sandbox; None when the check gave no
    verdict on the model (``VERDICT_STATUSES``). Why: the features are kept by content hash, and a timeout on a busy
    sandbox had been kept for good as "the model failed to build".

    ``pool`` is anything with ``check(code, spec, deadline=)``: a ``CheckerPool``, or a server's per-call view that
    also ends the check with its caller's deadline or cancellation (raising its own error then, which passes through)
    and may raise ``MeasurementSkipped``."""
    # The spec's budget is CPU time (the sandbox caps wall time at 4x it): a model that sleeps at import would hold
    # the call for a minute. The deadline makes the budget wall-clock.
    result = pool.check(code, _spec(), deadline=time.monotonic() + MEASURE_TIMEOUT_S)
    measured = result.status in VERDICT_STATUSES or _forward_ok(result.stages)  # forward ran: a later timeout takes nothing away
    return features_from_result(result) if measured else None
