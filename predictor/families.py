"""Model families and family-grouped splits, so near-identical variants never straddle train and test.

Two groupings, both unions of relations over LEMUR model names:
- ``stem`` (the default): the same *name stem* (prefixes ``ga-``, ``ast-<mutation>-``, ``rag-``, ``alt-``,
  ``alt-nnN-``, ``rl-init-``, ``CnC-`` and uuid / hex / numeric suffixes stripped: ``AirNet-626c...``,
  ``ast-dropout-AirNet`` and ``AirNet`` are one family; a stem that names nothing, such as ``mut``, ``nn1`` or
  a bare number, joins nothing) or identical code (same content hash);
- ``strict``: also the same *structural hash* (the AST with docstrings dropped and every constant blanked),
  so variants that differ only in widths, kernel sizes or rates fall together as well.

Why ``stem`` by default: under ``strict`` the ~2,600 genetic AlexNet variants (``ga-*``, each with its own
widths and kernels, so its own parameter count and accuracy) are one family holding 45% of the CIFAR-10
runs, which no hold-out can test; ``stem`` keeps each as its own architecture while keeping named families
and the AST mutations of a named model together. Both are reported (bench/bench_predictor.py --grouping).
"""

from __future__ import annotations

import ast
import difflib
import hashlib
import json
import random
import re
from collections import defaultdict
from collections.abc import Collection
from pathlib import Path

from nnrag import pyparse

_HEX_SUFFIX = re.compile(
    r"-([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{16,})$", re.IGNORECASE
)
_PREFIXES = (
    re.compile(r"^ga-(mut-)?"),
    re.compile(r"^ast-[a-z_]+-"),
    re.compile(r"^rag-"),
    re.compile(r"^alt-(\d*nn\d*-)?"),
    re.compile(r"^rl-init\d*-?"),
    re.compile(r"^C\d+C-"),
)
_GENERIC_STEMS = re.compile(r"^(\d*|mut|alt|rag|ga|nn\d*|\d*nn|init\d*)$", re.IGNORECASE)


def name_stem(name: str) -> str:
    """Family stem of a LEMUR model name, '' when the name says nothing about the architecture."""
    stem = _HEX_SUFFIX.sub("", name)
    for prefix in _PREFIXES:
        stem = prefix.sub("", stem)
    stem = re.sub(r"(-\d+)+$", "", stem)
    stem = re.sub(r"(v\d+)?$", "", stem) if stem.lower().startswith("moe") else stem
    return "" if _GENERIC_STEMS.match(stem) else stem.lower()


def _strip_docstrings(tree: ast.AST) -> None:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) and isinstance(body[0].value.value, str):
            node.body = body[1:] or [ast.Pass()]


def text_digest(code: str) -> str:
    """sha256 of the exact text (lone surrogates included): the key of caches of per-text results. Why not the text
    itself: a cache keyed by the code holds every code it keeps (up to 2 MiB each); a digest is 64 characters."""
    return hashlib.sha256(code.encode("utf-8", "surrogatepass")).hexdigest()


def content_hash(code: str) -> str:
    """Hash of the code's AST (comments and formatting do not count); raw text when it does not parse."""
    try:
        tree = pyparse.parse(code)
        _strip_docstrings(tree)
        text = ast.dump(tree, annotate_fields=False)
    except (SyntaxError, ValueError, RecursionError):
        text = "\n".join(line.rstrip() for line in code.splitlines() if line.strip())
    return hashlib.sha256(text.encode()).hexdigest()[:24]


class _BlankConstants(ast.NodeTransformer):
    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        return ast.copy_location(ast.Constant(value=type(node.value).__name__), node)


def struct_hash(code: str) -> str:
    """Hash of the code's AST with docstrings dropped and constants blanked: near-identical variants collide."""
    try:
        tree = pyparse.parse(code)
        _strip_docstrings(tree)
        tree = _BlankConstants().visit(tree)
        text = ast.dump(tree, annotate_fields=False)
    except (SyntaxError, ValueError, RecursionError):
        text = re.sub(r"\d+(\.\d*)?", "0", "\n".join(line.strip() for line in code.splitlines() if line.strip()))
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def code_hashes(code: str) -> tuple[str, str]:
    """(content_hash, struct_hash) from one parse."""
    try:
        tree = pyparse.parse(code)
        _strip_docstrings(tree)
        content = ast.dump(tree, annotate_fields=False)
        struct = ast.dump(_BlankConstants().visit(tree), annotate_fields=False)
    except (SyntaxError, ValueError, RecursionError):
        return content_hash(code), struct_hash(code)
    return hashlib.sha256(content.encode()).hexdigest()[:24], hashlib.sha256(struct.encode()).hexdigest()[:24]


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


GROUPINGS = ("stem", "strict")


def assign_families(codes: dict[str, str], struct_hashes: dict[str, str] | None = None,
                    content_hashes: dict[str, str] | None = None, grouping: str = "stem") -> dict[str, str]:
    """Model name -> family id (the smallest member name), from name stems, identical code and, with
    ``grouping="strict"``, structural hashes."""
    if grouping not in GROUPINGS:
        raise ValueError(f"family grouping {grouping!r}: expected one of {GROUPINGS}")
    struct_hashes = struct_hashes or {}
    content_hashes = content_hashes or {}
    uf = _UnionFind()
    first_by_key: dict[str, str] = {}
    for name in sorted(codes):
        uf.find(name)
        keys = [f"code:{content_hashes.get(name) or content_hash(codes[name])}"]
        if grouping == "strict":
            keys.append(f"struct:{struct_hashes.get(name) or struct_hash(codes[name])}")
        stem = name_stem(name)
        if stem:
            keys.append(f"stem:{stem}")
        for key in keys:
            if key in first_by_key:
                uf.union(first_by_key[key], name)
            else:
                first_by_key[key] = name
    return {name: uf.find(name) for name in codes}


def family_split(
    families: dict[str, str], weights: dict[str, float], seed: int, test_fraction: float = 0.2
) -> tuple[list[str], list[str]]:
    """Shuffle families with ``seed`` and fill the test side up to ``test_fraction`` of the total weight.

    A family bigger than half the test budget always stays in train: one giant family (the
    AlexNet mutations) would otherwise make the test set one architecture.
    """
    members: dict[str, list[str]] = defaultdict(list)
    for name, fam in families.items():
        if weights.get(name, 0) > 0:
            members[fam].append(name)
    fam_weight = {f: sum(weights[m] for m in ms) for f, ms in members.items()}
    total = sum(fam_weight.values())
    order = sorted(members)
    random.Random(seed).shuffle(order)
    budget = test_fraction * total
    test, train, used = [], [], 0.0
    for fam in order:
        w = fam_weight[fam]
        if w <= budget / 2 and used + w <= budget * 1.02:
            test.extend(members[fam])
            used += w
        else:
            train.extend(members[fam])
    return sorted(train), sorted(test)


def write_split(path: Path, train: list[str], test: list[str], meta: dict | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"train_models": sorted(train), "test_models": sorted(test)}
    if meta:
        body["meta"] = meta
    path.write_text(json.dumps(body, indent=0) + "\n")


SPLIT_KEYS = ("train_models", "test_models")  # what a split file holds
SPLIT_OPTIONAL_KEYS = ("meta",)  # what ``write_split`` may add: how the split was built


def read_split(path: Path) -> tuple[list[str], list[str]]:
    """(train models, test models) of a split file; a ValueError naming any other top-level key. Why: a typo such as
    "test_model" next to the real key was ignored silently, and in its place failed with a bare KeyError."""
    try:
        body = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"split file {path}: expected JSON {{'train_models': [...], 'test_models': [...]}} ({exc})") from exc
    if not isinstance(body, dict):
        raise ValueError(f"split file {path}: expected a JSON object {{'train_models': [...], 'test_models': [...]}}, got "
                         f"{type(body).__name__}")
    allowed = (*SPLIT_KEYS, *SPLIT_OPTIONAL_KEYS)
    unknown = [key for key in body if key not in allowed]
    if unknown:
        hints = "".join(f"; did you mean {near[0]!r} for {key!r}?" for key in unknown
                        for near in [difflib.get_close_matches(str(key).lower(), allowed, n=1, cutoff=0.6)] if near)
        raise ValueError(f"split file {path}: unknown key{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}{hints} "
                         f"(allowed keys: {', '.join(SPLIT_KEYS)}, and optionally {', '.join(SPLIT_OPTIONAL_KEYS)})")
    missing = [key for key in SPLIT_KEYS if key not in body]
    if missing:
        raise ValueError(f"split file {path}: missing {', '.join(missing)}: expected JSON {{'train_models': [...], 'test_models': [...]}}")
    train, test = body["train_models"], body["test_models"]
    for key, names in (("train_models", train), ("test_models", test)):
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ValueError(f"split file {path}: {key} must be a list of LEMUR model names (strings), got {names!r:.80}")
    overlap = set(train) & set(test)
    if overlap:
        raise ValueError(f"split file {path}: {len(overlap)} models in both train and test, e.g. {sorted(overlap)[:3]}")
    return list(train), list(test)


# Unknown names given a did-you-mean from difflib (slow on thousands of LEMUR names); the rest by case alone.
NEAR_NAME_LOOKUPS = 20


def unknown_model_reasons(names: list[str], known: Collection[str], version: str) -> dict[str, str]:
    """For each of ``names`` that is no model of ``known`` (LEMUR's model names in ``version``): why, with a did-you-mean
    when a known name differs only in case ("alexnet": "AlexNet") or is close (difflib). Why: such names were skipped
    with a count and three examples, and a split of lowercase names failed only after LEMUR's runs had loaded."""
    known = set(known)
    by_case = {n.casefold(): n for n in sorted(known)}
    ordered = sorted(known)
    reasons: dict[str, str] = {}
    for name in dict.fromkeys(n for n in names if n not in known):
        near = by_case.get(name.casefold())
        if near is None and len(reasons) < NEAR_NAME_LOOKUPS:
            close = difflib.get_close_matches(name, ordered, n=1, cutoff=0.8)
            near = close[0] if close else None
        hint = f"; did you mean {near!r}?" if near else ""
        reasons[name] = f"not a LEMUR model name in {version} (names are case-sensitive){hint}"
    return reasons
