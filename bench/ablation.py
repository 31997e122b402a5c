"""The patch ablation set: working models with forgotten helpers, as an LLM would write them.

Take models that pass the checker (LEMUR models with helper classes or functions, and
blocks the indexer mined from timm / torchvision model files), delete the definitions of
1-3 helpers the model needs and/or one standard import (``F``, ``math``, ``partial``, ...),
deterministically from a seed. Add real LLM-written LEMUR models (``alt-*``,
``<Base>-<uuid4>``) whose check fails with a NameError. ``build_cases`` is what
``bench/bench_patch.py`` runs; ``python bench/ablation.py --seed 1`` writes a set to JSON.
"""

from __future__ import annotations

import argparse
import ast
import builtins
import json
import random
import re
import sys
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator

import libcst as cst

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rag_server.candidates import STANDARD_IMPORTS  # noqa: E402
from rag_server.codeops import closure, is_import  # noqa: E402
from rag_server.scope import analyze, import_bindings  # noqa: E402
from sandbox.spec import CheckSpec, Example  # noqa: E402

UUID_RE = re.compile(r"-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
LEMUR_KEEP = {"Net", "supported_hyperparameters"}
_BUILTINS = set(dir(builtins))


@dataclass
class AblationCase:
    case_id: str
    origin: str  # lemur:<name> / store:<qualified name> / lemur-llm:<name>
    kind: str  # "ablated" or "llm"
    code: str  # what the patcher gets
    original: str  # the working code ("" for llm cases)
    deleted: list[str] = field(default_factory=list)  # names whose definition or import was removed
    deleted_defs: dict[str, str] = field(default_factory=dict)  # name -> removed statement
    spec: dict[str, Any] = field(default_factory=dict)

    def check_spec(self) -> CheckSpec:
        return CheckSpec.from_dict(self.spec)


def is_llm_name(name: str) -> bool:
    return name.startswith("alt-") or bool(UUID_RE.search(name))


def deletable(code: str, entry: str, keep: set[str] = frozenset()) -> tuple[list[str], list[str]]:
    """Helpers the entry needs (top-level classes / functions) and standard imports it uses."""
    module = cst.parse_module(code)
    needed = closure(module, {entry})
    defs: list[str] = []
    imports: list[str] = []
    used = set(_loaded_names(code))
    for index in needed:
        stmt = module.body[index]
        if isinstance(stmt, (cst.ClassDef, cst.FunctionDef)):
            name = stmt.name.value
            if name != entry and name not in keep:
                defs.append(name)
        elif is_import(stmt):
            for small in stmt.body:  # type: ignore[attr-defined]
                for bound, target in import_bindings(small):
                    if bound in STANDARD_IMPORTS and bound in used and _standard_target(bound) == target:
                        imports.append(bound)
    return defs, sorted(set(imports))


def _standard_target(name: str) -> str:
    stmt = cst.parse_statement(STANDARD_IMPORTS[name] + "\n")
    return dict(import_bindings(stmt.body[0]))[name]  # type: ignore[attr-defined]


def _loaded_names(code: str) -> Iterator[str]:
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            yield node.id


class _Remove(cst.CSTTransformer):
    """Drop top-level defs named in ``defs`` and import aliases binding names in ``imports``."""

    def __init__(self, defs: set[str], imports: set[str]):
        self.defs, self.imports = defs, imports
        self.removed: dict[str, str] = {}
        self.depth = 0

    def visit_IndentedBlock(self, node: cst.IndentedBlock) -> None:
        self.depth += 1

    def leave_IndentedBlock(self, original: cst.IndentedBlock, updated: cst.IndentedBlock) -> cst.IndentedBlock:
        self.depth -= 1
        return updated

    def leave_ClassDef(self, original: cst.ClassDef, updated: cst.ClassDef):
        return self._drop_def(original, updated)

    def leave_FunctionDef(self, original: cst.FunctionDef, updated: cst.FunctionDef):
        return self._drop_def(original, updated)

    def _drop_def(self, original, updated):
        if self.depth == 0 and original.name.value in self.defs:
            self.removed[original.name.value] = cst.Module(body=[original]).code.strip()
            return cst.RemoveFromParent()
        return updated

    def leave_SimpleStatementLine(self, original: cst.SimpleStatementLine, updated: cst.SimpleStatementLine):
        if self.depth != 0 or not is_import(original):
            return updated
        body = []
        for small in updated.body:
            if isinstance(small, cst.ImportStar) or isinstance(getattr(small, "names", None), cst.ImportStar):
                body.append(small)
                continue
            keep = [a for a in small.names if _alias_bound(a) not in self.imports]  # type: ignore[union-attr]
            for a in small.names:  # type: ignore[union-attr]
                if _alias_bound(a) in self.imports:
                    self.removed[_alias_bound(a)] = cst.Module(body=[cst.SimpleStatementLine([small])]).code.strip()
            if keep:
                keep[-1] = keep[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
                body.append(small.with_changes(names=keep))
        if not body:
            return cst.RemoveFromParent()
        return updated.with_changes(body=body)


def _alias_bound(alias: cst.ImportAlias) -> str:
    node = alias.asname.name if alias.asname is not None else alias.name
    code = cst.Module(body=[]).code_for_node(node)
    return code.split(".")[0] if alias.asname is None else code


def remove(code: str, defs: set[str], imports: set[str]) -> tuple[str, dict[str, str]]:
    transformer = _Remove(defs, imports)
    new = cst.parse_module(code).visit(transformer)
    return new.code, transformer.removed


def ablate(code: str, entry: str, rng: random.Random, keep: set[str] = frozenset()) -> tuple[str, dict[str, str]] | None:
    """Delete 1-3 needed helpers and/or one standard import; None when nothing can be deleted."""
    defs, imports = deletable(code, entry, keep)
    if not defs and not imports:
        return None
    chosen_defs: list[str] = []
    if defs:
        k = rng.choice([1, 1, 2, 2, 3])
        chosen_defs = rng.sample(defs, min(k, len(defs)))
    chosen_imports: list[str] = []
    if imports and (not chosen_defs or rng.random() < 0.35):
        chosen_imports = [rng.choice(imports)]
    new, removed = remove(code, set(chosen_defs), set(chosen_imports))
    if not analyze(new).free:
        return None
    return new, removed


def _read_all(wheel: Path, names: list[str]) -> dict[str, str]:
    """Model sources from the wheel, opening the (large) zip once."""
    import zipfile

    from corpus.lemur import MODEL_PREFIX

    with zipfile.ZipFile(wheel) as zf:
        return {n: zf.read(f"{MODEL_PREFIX}{n}.py").decode("utf-8", "replace") for n in names}


def _one_per_family(names: list[str], rng: random.Random) -> list[str]:
    """One model per family (``FractalNet-<hash>`` variants are one family), families in seeded order."""
    families: dict[str, list[str]] = {}
    for name in sorted(names):
        families.setdefault(name.split("-")[0], []).append(name)
    keys = sorted(families)
    rng.shuffle(keys)
    return [rng.choice(families[k]) for k in keys]


def _has_helpers(code: str) -> bool:
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return False
    return any(
        isinstance(n, (ast.ClassDef, ast.FunctionDef)) and n.name not in LEMUR_KEEP for n in tree.body
    ) and any(isinstance(n, ast.ClassDef) and n.name == "Net" for n in tree.body)


def lemur_base_models(wheel: Path, rng: random.Random, limit: int) -> list[tuple[str, str]]:
    """LEMUR models (not LLM-written) with at least one helper the Net needs, one per family, seeded."""
    from corpus.lemur import model_names

    names = _one_per_family([n for n in model_names(wheel) if not is_llm_name(n)], rng)
    out: list[tuple[str, str]] = []
    for start in range(0, len(names), 50):
        sources = _read_all(wheel, names[start : start + 50])
        for name, code in sources.items():
            if not _has_helpers(code):
                continue
            try:
                defs, _ = deletable(code, "Net", LEMUR_KEEP)
            except (cst.ParserSyntaxError, SyntaxError, RecursionError):
                continue
            if defs:
                out.append((name, code))
            if len(out) >= limit:
                return out
    return out


def crude_free_names(code: str) -> set[str]:
    """Cheap prefilter: loaded names never bound anywhere in the file (misses scoping subtleties)."""
    tree = ast.parse(code)
    bound: set[str] = set(_BUILTINS)
    loaded: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (loaded if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for a in node.names:
                bound.add((a.asname or a.name).split(".")[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
    return loaded - bound


def lemur_llm_models(wheel: Path, rng: random.Random, limit: int) -> list[tuple[str, str]]:
    """LLM-written LEMUR models that use names they never define or import (seeded order)."""
    found = list(_llm_models_with_free_names(wheel))
    rng.shuffle(found)
    return found[:limit]


@lru_cache(maxsize=2)
def _llm_models_with_free_names(wheel: Path) -> tuple[tuple[str, str], ...]:
    from corpus.lemur import model_names

    names = [n for n in model_names(wheel) if is_llm_name(n)]
    out = []
    for start in range(0, len(names), 200):
        for name, code in _read_all(wheel, names[start : start + 200]).items():
            try:
                if crude_free_names(code) and analyze(code).free:
                    out.append((name, code))
            except (SyntaxError, ValueError, cst.ParserSyntaxError, RecursionError):
                continue
    return tuple(out)


def store_base_blocks(store: Any, rng: random.Random, limit: int) -> list[Any]:
    """Blocks mined from timm / torchvision model files whose class needs helpers of its own."""
    picked = []
    names = [n for n in store.all_names()]
    rng.shuffle(names)
    for name in names:
        for block in store.blocks_named(name)[:1]:
            module = block.provenance.module
            if not (module.startswith("timm.models") or module.startswith("torchvision.models")):
                continue
            if block.validation and not block.passed("backward"):
                continue
            try:
                defs, _ = deletable(block.code, block.name)
            except (cst.ParserSyntaxError, SyntaxError, RecursionError):
                continue
            if defs and len(block.code) < 20000:
                picked.append(block)
        if len(picked) >= limit:
            break
    return picked


def lemur_spec() -> CheckSpec:
    return CheckSpec(lemur=True, timeout_s=60.0)


def block_spec(block: Any) -> CheckSpec:
    """The block's validated example; for an unvalidated store, the indexer's static guesses."""
    if block.example is not None:
        return CheckSpec(entry=block.name, lemur=False, example=block.example, timeout_s=60.0)
    from indexer.examples import constructor_candidates

    guesses = constructor_candidates(block, [])[:6] or [Example(inputs=None)]
    return CheckSpec(entry=block.name, lemur=False, example=guesses[0], candidates=guesses[1:], timeout_s=60.0)


def build_cases(seed: int, store: Any, pool: Any, wheel: Path | None, n_lemur: int, n_store: int, n_llm: int,
                log=print) -> tuple[list[AblationCase], list[dict[str, Any]]]:
    """The cases for ``seed``: originals are checked first and kept only when they pass.

    Returns (cases, originals) where originals lists {origin, code, spec} of the models that
    passed (for the idempotence check).
    """
    rng = random.Random(seed)
    cases: list[AblationCase] = []
    originals: list[dict[str, Any]] = []

    def add_ablated(origin: str, code: str, entry: str, spec: CheckSpec, keep: set[str]) -> None:
        result = pool.check(code, spec)
        if not result.ok:
            log(f"  skip {origin}: original fails ({result.failed_stage}: {result.error_type})")
            return
        spec = CheckSpec.from_dict({**spec.to_dict(), "example": result.example.to_dict() if result.example else None})
        originals.append({"origin": origin, "code": code, "spec": spec.to_dict()})
        made = ablate(code, entry, rng, keep)
        if made is None:
            return
        broken, removed = made
        cases.append(AblationCase(f"s{seed}-{len(cases):03d}", origin, "ablated", broken, code, sorted(removed), removed, spec.to_dict()))

    if wheel is not None and n_lemur:
        for name, code in lemur_base_models(wheel, rng, n_lemur * 2):
            if sum(c.origin.startswith("lemur:") for c in cases) >= n_lemur:
                break
            add_ablated(f"lemur:{name}", code, "Net", lemur_spec(), LEMUR_KEEP)
    if n_store:
        for block in store_base_blocks(store, rng, n_store * 2):
            if sum(c.origin.startswith("store:") for c in cases) >= n_store:
                break
            add_ablated(f"store:{block.qualified_name}", block.code, block.name, block_spec(block), set())
    if wheel is not None and n_llm:
        for name, code in lemur_llm_models(wheel, rng, n_llm * 3):
            if sum(c.kind == "llm" for c in cases) >= n_llm:
                break
            result = pool.check(code, lemur_spec())
            if result.ok or result.error_type != "NameError":
                continue
            cases.append(AblationCase(f"s{seed}-{len(cases):03d}", f"lemur-llm:{name}", "llm", code, "", [], {}, lemur_spec().to_dict()))
    return cases, originals


def write_lemur_subset(wheel: Path, out_dir: Path, per_big_family: int = 3, small_family: int = 10) -> int:
    """Write the LEMUR files the bench store indexes (``dir:`` source): every model of the
    small families, the first ``per_big_family`` (sorted) of the big ones (ga, FractalNet,
    ast, rag, rl). The ablation draws its own members at random, so big families are
    mostly patched from a sibling's blocks, not their own."""
    from corpus.lemur import model_names

    families: dict[str, list[str]] = {}
    for name in model_names(wheel):
        if not is_llm_name(name):
            families.setdefault(name.split("-")[0], []).append(name)
    picked = []
    for _, members in sorted(families.items()):
        members = sorted(members)
        picked += members if len(members) <= small_family else members[:per_big_family]
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, code in _read_all(wheel, picked).items():
        (out_dir / (re.sub(r"[^0-9A-Za-z_]", "_", name) + ".py")).write_text(code)
    return len(picked)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write-lemur-subset", type=Path, default=None, help="write the LEMUR files for a dir: source and exit")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-lemur", type=int, default=20)
    parser.add_argument("--n-store", type=int, default=20)
    parser.add_argument("--n-llm", type=int, default=10)
    parser.add_argument("--store", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if args.write_lemur_subset is not None:
        from corpus.lemur import lemur_wheel
        from nnrag.settings import get_settings

        count = write_lemur_subset(lemur_wheel(get_settings().cache_path), args.write_lemur_subset)
        print(f"{count} LEMUR model files -> {args.write_lemur_subset}")
        return 0
    from bench.bench_patch import open_resources

    store, pool, wheel = open_resources(args.store)
    with pool:
        cases, originals = build_cases(args.seed, store, pool, wheel, args.n_lemur, args.n_store, args.n_llm)
    out = args.out or Path(__file__).parent / "results" / f"ablation_seed{args.seed}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"cases": [asdict(c) for c in cases], "originals": originals}, indent=1))
    print(f"{len(cases)} cases -> {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
