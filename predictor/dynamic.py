"""Dynamic code features: parameter count and forward FLOPs, measured in the checker's sandbox, cached by content hash.

Optional: building every LEMUR model in a sandbox takes hours on 2 shared cores, so the estimators
read these as ``code_dyn_*`` columns that are NaN where nothing was measured; static features carry
the model. ``measure_many`` fills the cache for as many models as a time budget allows.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

from predictor.code_features import FeatureCache
from predictor.families import content_hash

DYNAMIC_VERSION = "dynamic-v1"
LEMUR_SPEC_STAGES = ("parse", "compile", "import", "instantiate", "forward")


def _spec():
    from sandbox.spec import CheckSpec, Example

    # LEMUR contract: Net(in_shape, out_shape, prm, device) on a CIFAR-10 batch.
    prm = {"lr": 0.01, "momentum": 0.9, "dropout": 0.2}
    example = Example(init_args=[[2, 3, 32, 32], [10], prm, "cpu"], inputs=[[2, 3, 32, 32]])
    return CheckSpec(entry="Net", lemur=True, example=example, stages=LEMUR_SPEC_STAGES)


def features_from_result(result) -> dict[str, float]:
    ok = getattr(result, "status", "") == "ok"
    params = getattr(result, "params", None)
    flops = getattr(result, "flops", None)
    return {
        "dyn_ok": 1.0 if ok else 0.0,
        "dyn_params_log10": math.log10(params) if ok and params else float("nan"),
        "dyn_flops_log10": math.log10(flops) if ok and flops else float("nan"),
    }


def measure_many(codes: dict[str, str], pool, cache: FeatureCache, budget_s: float | None = None) -> dict[str, dict]:
    """Measure uncached codes in the sandbox until ``budget_s`` runs out; returns name -> features for all cached ones."""
    hashes = {name: content_hash(code) for name, code in codes.items()}
    known = cache.get_many(sorted(set(hashes.values())), DYNAMIC_VERSION)
    deadline = time.monotonic() + budget_s if budget_s else None
    spec = _spec()
    for name, h in sorted(hashes.items()):
        if h in known:
            continue
        if deadline is not None and time.monotonic() > deadline:
            break
        feats = features_from_result(pool.check(codes[name], spec))
        cache.put_many({h: feats}, DYNAMIC_VERSION)
        known[h] = feats
    return {name: known[h] for name, h in hashes.items() if h in known}


def merge_cached(features: dict[str, dict[str, float]], codes: dict[str, str], cache_path: Path) -> int:
    """Add cached dynamic features to the static ones in place; returns how many models had them."""
    cache = FeatureCache(cache_path)
    hashes = {name: content_hash(codes[name]) for name in features if name in codes}
    known = cache.get_many(sorted(set(hashes.values())), DYNAMIC_VERSION)
    n = 0
    for name, h in hashes.items():
        if h in known:
            features[name] = {**features[name], **known[h]}
            n += 1
    return n
