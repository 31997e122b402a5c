"""Duplicate detection for blocks: exact (content), structural (alpha-renamed) and near (MinHash).

- ``content_hash``: sha256 of the code after an ``ast`` round-trip with docstrings
  removed. ``ast.unparse`` drops comments and fixes formatting (quotes, spacing, line
  breaks), so two copies that differ only in those hash the same.
- ``struct_hash``: the same, with every local identifier (classes, functions,
  arguments, variables, attributes set on ``self``) renamed to ``v0, v1, ...`` in order of
  first appearance. Names bound by imports and builtins keep their spelling, so
  ``nn.Conv2d`` vs ``nn.Conv1d`` still differ while ``SEBlock`` vs ``SqueezeExcite``
  with the same body hash the same.
- ``merge_duplicates``: identical blocks (same content hash) become one, with every
  provenance, the canonical one first.
- ``near_duplicate_groups``: MinHash over 5-grams of AST node types and the kept
  names, grouped through LSH at Jaccard >= 0.8.
"""

from __future__ import annotations

import ast
import builtins
import hashlib
import re
from collections import defaultdict
from functools import lru_cache
from typing import Iterable, Iterator

from nnrag import pyparse
from indexer.records import Block

_BUILTINS = frozenset(dir(builtins))
_KEEP = _BUILTINS | {"self", "cls", "super"}


def _parse(code: str) -> ast.Module:
    try:
        return pyparse.parse(code)
    except SyntaxError as exc:
        raise ValueError(f"cannot hash code that does not parse: {exc.msg} (line {exc.lineno})") from exc


_DOC_OWNERS = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)


def _drop_docstring(node: ast.AST) -> None:
    body = node.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
        node.body = body[1:] or [ast.Pass()]


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, _DOC_OWNERS):
            _drop_docstring(node)
    return tree


_TOP_LEVEL = re.compile(r"^(?=\S)", re.M)


@lru_cache(maxsize=65536)
def _piece(text: str) -> tuple[str, frozenset[str], frozenset[str]] | None:
    """(normalized code, names imported, names read) of one top-level statement, or None
    when ``text`` does not parse on its own. Cached: blocks of one package share most
    of their helper statements, so each is parsed and unparsed once per process."""
    try:
        tree = pyparse.parse(text)
    except SyntaxError:
        return None
    imported: set[str] = set()
    used: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            used.add(node.id)
        elif isinstance(node, ast.Import):
            imported.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.update(a.asname or a.name for a in node.names)
        elif isinstance(node, _DOC_OWNERS):  # one pass: names, imports and docstrings
            _drop_docstring(node)
    return ast.unparse(tree), frozenset(imported), frozenset(used)


def _statements(code: str) -> list[str]:
    """Source text of each top-level statement, in order, each of which parses alone.

    Cut at every line that starts in column 0, then glue pieces that do not parse
    alone to their neighbours (decorators, ``else:``/``except:`` clauses, strings and
    brackets that close in column 0). Raises ValueError when the code does not parse."""
    starts = [m.start() for m in _TOP_LEVEL.finditer(code)]
    if not starts or starts[0] != 0:
        starts.insert(0, 0)
    chunks = [code[x:y] for x, y in zip(starts, starts[1:] + [len(code)])]
    pieces: list[str] = []
    buf = ""
    for chunk in chunks:
        buf += chunk
        if _piece(buf) is not None:
            pieces.append(buf)
            buf = ""
        elif pieces and _piece(pieces[-1] + buf) is not None:
            pieces[-1] += buf
            buf = ""
    if buf.strip():
        _parse(code)  # raises the real syntax error
        return [code]  # parses as a whole but not in pieces: treat as one statement
    return [p for p in pieces if _piece(p)[0].strip()]


def split_statements(code: str) -> list[str]:
    """The source text of each top-level statement of ``code`` (cached parses shared with
    hashing); raises ValueError when the code does not parse."""
    return _statements(code)


def normalize_code(code: str) -> str:
    """Code without comments, docstrings or formatting differences (``ast`` round-trip,
    done per top-level statement with a cache)."""
    return "\n".join(_piece(s)[0] for s in _statements(code))


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def content_hash(code: str) -> str:
    """Hex sha256 of ``normalize_code(code)``; raises ValueError on code that does not parse."""
    return _sha(normalize_code(code))


def _alpha_rename(tree: ast.AST, keep: frozenset[str]) -> ast.AST:
    """Rename local identifiers (names, arguments, def/class names, ``self.x`` attributes)
    to v0, v1, ... in order of first appearance (source order); names in
    ``keep`` (imports, builtins) and dunders stay. Library attributes (``nn.Conv2d``) stay."""
    mapping: dict[str, str] = {}

    def new(name: str) -> str:
        if name in keep or (name.startswith("__") and name.endswith("__")):
            return name
        if name not in mapping:
            mapping[name] = f"v{len(mapping)}"
        return mapping[name]

    for node in _preorder(tree):
        if isinstance(node, ast.Name):
            node.id = new(node.id)
        elif isinstance(node, ast.Attribute):
            if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                node.attr = new(node.attr)
        elif isinstance(node, ast.arg):
            if node.arg not in ("self", "cls"):
                node.arg = new(node.arg)
        elif isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            node.name = new(node.name)
            _drop_docstring(node)
        elif isinstance(node, ast.Module):
            _drop_docstring(node)
    return tree


@lru_cache(maxsize=65536)
def _structural_statement(text: str, keep: frozenset[str]) -> str:
    return ast.unparse(_alpha_rename(pyparse.parse(text), keep))


def structural_code(code: str) -> str:
    """Normalized code with local identifiers alpha-renamed (imports and builtins kept).

    Renaming is per top-level statement (names numbered in order of first appearance
    within it), so a consistent renaming of a whole block never changes the result
    and each statement is processed once per build (cached)."""
    statements = _statements(code)
    imported = frozenset().union(*(_piece(s)[1] for s in statements)) if statements else frozenset()
    keep = imported | _KEEP
    return "\n".join(_structural_statement(s, keep & _piece(s)[2]) for s in statements)


def struct_hash(code: str) -> str:
    """Hex sha256 of ``structural_code(code)``."""
    return _sha(structural_code(code))


def hash_block(block: Block) -> Block:
    """Fill ``content_hash`` and ``struct_hash`` (blocks whose code does not parse hash the raw text)."""
    try:
        block.content_hash = content_hash(block.code)
        block.struct_hash = struct_hash(block.code)
    except ValueError:
        block.content_hash = _sha(block.code)
        block.struct_hash = block.content_hash
    return block


def merge_duplicates(blocks: Iterable[Block]) -> list[Block]:
    """One block per content hash, keeping first-seen order; later copies add their
    provenances (without repeats) to the first. Hashes are filled when missing."""
    merged: dict[str, Block] = {}
    for block in blocks:
        if not block.content_hash:
            hash_block(block)
        first = merged.get(block.content_hash)
        if first is None:
            merged[block.content_hash] = block
            continue
        seen = {(p.source, p.path, p.qualified_name) for p in first.provenances}
        for p in block.provenances:
            if (p.source, p.path, p.qualified_name) not in seen:
                first.provenances.append(p)
                seen.add((p.source, p.path, p.qualified_name))
    return list(merged.values())


def _main_statement(code: str, name: str | None) -> str:
    """The top-level class ``name`` (the block's own class): near-duplicate detection
    compares what blocks do, not the helpers that blocks of one package all share."""
    statements = _statements(code)
    if name:
        pattern = re.compile(rf"^class {re.escape(name)}\b", re.M)
        for text in statements:
            if pattern.search(text):
                return text
    return "\n".join(statements)


_SHINGLE_KEEP = _KEEP | {"nn", "torch", "F", "np", "math"}


@lru_cache(maxsize=16384)
def _shingles_of(text: str, n: int) -> frozenset[str]:
    tree = _alpha_rename(pyparse.parse(text), _SHINGLE_KEEP)
    tokens: list[str] = []
    for node in _preorder(tree):
        tokens.append(type(node).__name__)
        if isinstance(node, ast.Name):
            tokens.append(node.id)
        elif isinstance(node, ast.Attribute):
            tokens.append("." + node.attr)
        elif isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            tokens.append(repr(node.value))
    if len(tokens) < n:
        return frozenset({" ".join(tokens)} if tokens else set())
    return frozenset(" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def ast_shingles(code: str, n: int = 5, name: str | None = None) -> set[str]:
    """n-grams over the pre-order sequence of AST node types and kept names of the
    block's main class (identifiers alpha-renamed, so renamings do not hide similarity)."""
    try:
        return set(_shingles_of(_main_statement(code, name), n))
    except (ValueError, SyntaxError):
        return set()


def _preorder(node: ast.AST) -> Iterator[ast.AST]:
    """Depth-first, source order: local edits change only nearby shingles (``ast.walk`` is breadth-first)."""
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(reversed(list(ast.iter_child_nodes(n))))


def minhash(code: str, num_perm: int = 64, name: str | None = None):
    from datasketch import MinHash

    m = MinHash(num_perm=num_perm, seed=1)
    m.update_batch([s.encode("utf-8") for s in sorted(ast_shingles(code, name=name))])
    return m


def near_duplicate_groups(blocks: list[Block], threshold: float = 0.8, num_perm: int = 64) -> list[list[int]]:
    """Groups (indices into ``blocks``, each of size >= 2) of blocks whose AST shingle sets
    have estimated Jaccard similarity >= ``threshold``; connected components of the LSH
    candidate pairs that pass the estimate. Deterministic for a given input order."""
    from datasketch import MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    sketches = []
    for i, block in enumerate(blocks):
        m = minhash(block.code, num_perm, block.name)
        sketches.append(m)
        lsh.insert(str(i), m)
    parent = list(range(len(blocks)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, m in enumerate(sketches):
        for key in lsh.query(m):
            j = int(key)
            if j != i and m.jaccard(sketches[j]) >= threshold:
                a, b = find(i), find(j)
                if a != b:
                    parent[max(a, b)] = min(a, b)
    groups: dict[int, list[int]] = defaultdict(list)
    for i in range(len(blocks)):
        groups[find(i)].append(i)
    return [g for g in groups.values() if len(g) > 1]


def assign_near_dup_groups(blocks: list[Block], threshold: float = 0.8) -> int:
    """Set ``block.near_dup_group`` to the content hash prefix of the group's first member
    (empty for singletons); returns the number of groups."""
    groups = near_duplicate_groups(blocks, threshold)
    for block in blocks:
        block.near_dup_group = ""
    for group in groups:
        if not blocks[group[0]].content_hash:
            hash_block(blocks[group[0]])
        label = "nd-" + blocks[group[0]].content_hash[:12]
        for i in group:
            blocks[i].near_dup_group = label
    return len(groups)
