"""Search and IDE suggestions over a BlockStore: plain functions the servicer and CLI share.

``search_blocks`` picks symbol lookup or meaning search and applies the source and
stage filters uniformly. ``suggest`` reads code around a cursor (parsed with ``ast``,
never executed), finds names used there but defined nowhere, looks them up as Patch does, fills up
with blocks similar to the code at the cursor, and says on which line each block
should be inserted.
"""

from __future__ import annotations

import ast
import builtins
import difflib
import re
from dataclasses import dataclass
from typing import Any

import libcst as cst

from indexer.lexical import clean_query, is_identifier
from indexer.store import SearchHit, stage_index, stage_level
from nnrag import pyparse
from rag_server.candidates import import_first, module_lacks, standard_import, store_candidates
from rag_server.scope import analyze

MAX_K = 100
MAX_QUERY_CHARS = 20_000


@dataclass
class Suggestion:
    hit: Any  # SearchHit (block, score, match)
    insert_line: int  # 1-based; insert the block before this line
    reason: str


@dataclass
class Suggestions:
    """What ``suggest`` found around a cursor."""

    suggestions: list[Suggestion]  # blocks, best first
    undefined_names: list[str]  # names used near the cursor and defined nowhere
    imports: list[str]  # import lines for the undefined names a standard import binds (``F``, ``nn.Conv2d``), as Patch adds them


def _stage_reached(block: Any, min_stage: str) -> bool:
    """Whether ``block`` passed every validation stage up to ``min_stage``, read as the store reads it (``stage_index``:
    "compile" is part of parse). Why not the sandbox's stage list: it has compile and train_step, which a block's
    validation record never holds, so every stage but parse used to filter out every block."""
    return not min_stage or stage_level(block.validation) >= stage_index(min_stage)


def query_problem(text: str) -> str | None:
    """What makes ``text`` no search query, worded for "query: <problem>", or None. Why: a query of only control or
    punctuation characters ("\\x00", "()") is not empty after ``strip`` yet names nothing, and used to come back with
    whatever blocks the embedding put nearest."""
    text = text.strip()
    if not text:
        return "is empty"
    if not any(ch.isalnum() for ch in text):
        return f"{text[:40]!r} has no letter or digit to search for"
    if len(text) > MAX_QUERY_CHARS:
        return f"{len(text):,} characters, at most {MAX_QUERY_CHARS:,}"
    return None


def search_blocks(store: Any, query: str, k: int = 10, min_stage: str = "", mode: str = "auto") -> list[Any]:
    """Ranked hits. ``mode``: auto (symbol lookup when the query is one identifier, else
    hybrid), meaning (hybrid: vectors + BM25 fused), symbol, vector or lexical. Sources and licenses are filtered by
    the store given (``block_filter.restrict``: a view holding only the blocks the request may see)."""
    query = clean_query(query)
    use_symbol = mode == "symbol" or (mode == "auto" and is_identifier(query))
    hits: list[Any] = []
    if use_symbol:
        hits = [h for h in store.lookup_symbol(query, k=max(k * 3, 10), initials=True) if _stage_reached(h.block, min_stage)][:k]
        if len(hits) >= k or mode == "symbol":
            return hits
    store_mode = mode if mode in ("vector", "lexical") else "hybrid"
    more = store.search(query, k=k, min_stage=min_stage or None, mode=store_mode)
    return _fill_up(hits, [h for h in more if _stage_reached(h.block, min_stage)], k)


def _fill_up(first: list[Any], more: list[Any], k: int) -> list[Any]:
    """``first`` (the symbol hits), then ``more`` (the meaning search's) up to ``k`` hits, each block once. Why: auto
    mode returned the symbol hits alone as soon as there was one, so ``SPPF`` or ``downsampling`` gave 1-3 hits for
    k=5 although the meaning search had more."""
    seen = {h.block.content_hash or h.block.qualified_name for h in first}
    out = list(first)
    for hit in more:
        key = hit.block.content_hash or hit.block.qualified_name
        if len(out) >= k:
            break
        if key not in seen:
            seen.add(key)
            out.append(hit)
    return out


def missing_block_message(store: Any, key: str) -> str:
    """Why ``store.get(key)`` found nothing, worded the same for gRPC ``GetBlock`` and ``nnrag block``: the store's
    version, the sources the request was limited to, and the nearest names the symbol index knows (a typo or a
    case slip is the usual cause)."""
    name = key.rsplit(".", 1)[-1]
    near = [h.block.qualified_name for h in store.lookup_symbol(name, k=5)]
    if not near:  # a typo (SqueezExcite): the closest names, since the symbol lookup matches case and prefixes only
        near = difflib.get_close_matches(name, store.all_names(), n=5, cutoff=0.75)
    within = f" in the allowed sources ({', '.join(sorted(store.restriction))})" if store.restriction else ""
    hint = f"; did you mean {', '.join(near)}?" if near else ""
    return f"no block named or hashed {key!r} in the index (version {store.version}){within}{hint}"


# ------------------------------------------------------------------ suggestions


def _defined_names(tree: ast.Module) -> set[str]:
    names: set[str] = set(dir(builtins))
    for node in ast.walk(tree):
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
            args = node.args if not isinstance(node, ast.ClassDef) else None
            if args is not None:
                for a in args.posonlyargs + args.args + args.kwonlyargs + [args.vararg, args.kwarg]:
                    if a is not None:
                        names.add(a.arg)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                names.add((alias.asname or alias.name).split(".")[0])
        elif isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
    return names


def _undefined_near(code: str, lo: int, hi: int) -> tuple[list[tuple[str, int]], ast.Module | None]:
    """(name, first line used) for names loaded in lines [lo, hi] and defined nowhere, in order."""
    try:
        tree = pyparse.parse(code)
    except SyntaxError:
        tree = None
    found: dict[str, int] = {}
    if tree is not None:
        defined, stars = _defined_names(tree), _star_modules(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id not in defined and lo <= node.lineno <= hi:
                if not _star_may_bind(stars, node.id):
                    found.setdefault(node.id, node.lineno)
    else:  # mid-edit code: fall back to calls of capitalised bare names (``nn.Conv2d(`` is an attribute) bound nowhere
        defined, stars = _bound_in_text(code)
        for lineno, line in enumerate(code.splitlines(), start=1):
            if lo <= lineno <= hi:
                for name in re.findall(r"(?<![\w.])([A-Z]\w*)\s*\(", line):
                    if name not in defined and not hasattr(builtins, name) and not _star_may_bind(stars, name):
                        found.setdefault(name, lineno)
    return sorted(found.items(), key=lambda kv: kv[1]), tree


_IMPORT_LINE = re.compile(r"^[ \t]*(?:from[ \t]+[\w.]+[ \t]+)?import[ \t]+[^\n]+", re.M)
_PARENTHESISED_IMPORT = re.compile(r"\bfrom\s+[\w.]+\s+import\s*\(([^)]*)\)?", re.S)


def _bound_in_text(code: str) -> tuple[set[str], list[str | None]]:
    """Names that class/def/import lines of code that does not parse yet bind, and the modules star-imported. Each
    import line is parsed alone. Why: a regex kept only the first name of ``from timm.layers import DropPath, Mlp``,
    and the editor was told to insert a store copy of the ``Mlp`` it had imported."""
    defined = set(re.findall(r"^\s*(?:class|def)\s+(\w+)", code, flags=re.M)) | set(re.findall(r"\bas\s+(\w+)", code))
    stars: list[str | None] = []
    for line in _IMPORT_LINE.findall(code):
        try:
            node = ast.parse(line.strip()).body[0]
        except (SyntaxError, IndexError):
            continue
        for alias in getattr(node, "names", []):
            if alias.name == "*":
                stars.append(node.module if not getattr(node, "level", 0) else None)
            else:
                defined.add((alias.asname or alias.name).split(".")[0])
    for inside in _PARENTHESISED_IMPORT.findall(code):  # ``from m import (a,\n b)``, maybe still open
        defined |= {part.split(" as ")[-1].strip() for part in inside.split(",") if part.strip()}
    return defined, stars


def _star_modules(tree: ast.Module) -> list[str | None]:
    """Modules of ``from m import *`` statements (None for a relative one)."""
    return [(node.module if not node.level else None) for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names)]


def _star_may_bind(stars: list[str | None], name: str) -> bool:
    """Whether a star import may bind ``name``: a relative or unknown module may; an installed library binds it unless
    it certainly lacks it (``from torch.nn import *`` binds ``Linear``, which was suggested as timm's ``Linear``)."""
    return any(module is None or not module_lacks(module, name) for module in stars)


def _insert_line(tree: ast.Module | None, code: str, use_line: int) -> int:
    """Before the top-level statement that contains ``use_line``; else after the imports."""
    if tree is None:
        lines = code.splitlines()
        for i in range(min(use_line, len(lines)) - 1, -1, -1):
            if re.match(r"(class|def|async def)\b", lines[i]):
                while i > 0 and lines[i - 1].startswith("@"):  # above the definition's decorators, not between them and it
                    i -= 1
                return i + 1
        return 1
    after_imports = 1
    for node in tree.body:
        first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        last = node.end_lineno or node.lineno
        if first <= use_line <= last and not isinstance(node, (ast.Import, ast.ImportFrom)):
            return first
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            after_imports = last + 1
    return after_imports


def _usages(code: str) -> dict[str, Any]:
    """How each free name is used (calls, attributes), as Patch reads it; empty when libcst cannot parse the code."""
    try:
        return dict(analyze(code).free)
    except (cst.ParserSyntaxError, RecursionError, ValueError):
        return {}


def _blocks_for(store: Any, name: str, usage: Any, code: str) -> list[tuple[Any, str]]:
    """The block to suggest for an undefined name: the candidate Patch would insert first (name, other spellings,
    aliases, initials, a helper inside a block, meaning), else a block of exactly that name."""
    if usage is not None:
        for cand in store_candidates(usage, store, code, limit=1):
            if cand.block is not None:
                return [(SearchHit(cand.block, cand.score, cand.match), f": {cand.reason}")]
        return []
    return [(hit, "") for hit in store.lookup_symbol(name, k=1) if hit.block.name == name]


def suggest(store: Any, code: str, cursor_line: int = 0, k: int = 5, context_lines: int = 20) -> Suggestions:
    """Blocks to insert for code around a cursor, the undefined names seen there, and the imports that bind those
    of them a standard import answers (no block is suggested for those: Patch would import them too)."""
    n_lines = max(1, len(code.splitlines()))
    cursor = cursor_line or n_lines
    lo, hi = max(1, cursor - context_lines), cursor + context_lines
    undefined, tree = _undefined_near(code, lo, hi)
    suggestions: list[Suggestion] = []
    seen: set[str] = set()
    usages = _usages(code) if tree is not None else {}
    names = [n for n, _ in undefined]
    imports: dict[str, None] = {}  # ordered, each line once
    for_blocks: list[tuple[str, int, Any]] = []
    for name, used_at in undefined:
        usage = usages.get(name)
        line = standard_import(usage) if usage is not None else None
        if usage is not None and import_first(usage, line):
            imports[line] = None
        else:
            for_blocks.append((name, used_at, usage))
    for name, used_at, usage in for_blocks:
        for hit, why in _blocks_for(store, name, usage, code):
            key = hit.block.content_hash or hit.block.qualified_name
            if key not in seen:
                seen.add(key)
                suggestions.append(Suggestion(hit, _insert_line(tree, code, used_at), f"undefined name {name}{why}"))
        if len(suggestions) >= k:
            return Suggestions(suggestions[:k], names, list(imports))
    window = "\n".join(code.splitlines()[lo - 1 : hi]).strip()
    if window:
        # not a block whose name the code binds already (an imported DropPath), nor a second block of one name
        bound = set(_defined_names(tree)) if tree is not None else _bound_in_text(code)[0]
        named = bound | {s.hit.block.name for s in suggestions}
        for hit in store.search(window[:MAX_QUERY_CHARS], k=3 * k):
            key = hit.block.content_hash or hit.block.qualified_name
            if key not in seen and hit.block.name not in named:
                seen.add(key)
                named.add(hit.block.name)
                suggestions.append(Suggestion(hit, _insert_line(tree, code, cursor), "similar to the code at the cursor"))
            if len(suggestions) >= k:
                break
    return Suggestions(suggestions[:k], names, list(imports))
