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
from collections import defaultdict
from typing import Iterable, Iterator

from indexer.records import Block

_BUILTINS = frozenset(dir(builtins))


def _parse(code: str) -> ast.Module:
    try:
        return ast.parse(code)
    except SyntaxError as exc:
        raise ValueError(f"cannot hash code that does not parse: {exc.msg} (line {exc.lineno})") from exc


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return tree


def normalize_code(code: str) -> str:
    """Code without comments, docstrings or formatting differences (``ast`` round-trip)."""
    return ast.unparse(_strip_docstrings(_parse(code)))


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def content_hash(code: str) -> str:
    """Hex sha256 of ``normalize_code(code)``; raises ValueError on code that does not parse."""
    return _sha(normalize_code(code))


def _imported_names(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.update(a.asname or a.name for a in node.names)
    return names


class _AlphaRenamer(ast.NodeTransformer):
    """Renames local identifiers to v0, v1, ... in order of first appearance."""

    def __init__(self, keep: set[str]):
        self.keep = keep
        self.mapping: dict[str, str] = {}

    def _new(self, name: str) -> str:
        if name in self.keep or (name.startswith("__") and name.endswith("__")):
            return name
        if name not in self.mapping:
            self.mapping[name] = f"v{len(self.mapping)}"
        return self.mapping[name]

    def visit_Name(self, node: ast.Name) -> ast.AST:
        node.id = self._new(node.id)
        return node

    def visit_arg(self, node: ast.arg) -> ast.AST:
        if node.arg not in ("self", "cls"):
            node.arg = self._new(node.arg)
        self.generic_visit(node)
        return node

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.AST:
        node.name = self._new(node.name)
        self.generic_visit(node)
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        node.name = self._new(node.name)
        self.generic_visit(node)
        return node

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        # self.<attr> is the module's own naming; library attributes (nn.Conv2d) stay.
        if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
            node.attr = self._new(node.attr)
        self.generic_visit(node)
        return node

    def visit_keyword(self, node: ast.keyword) -> ast.AST:
        self.generic_visit(node)  # keyword names belong to the callee: keep them
        return node


def structural_code(code: str) -> str:
    """Normalized code with local identifiers alpha-renamed (imports and builtins kept)."""
    tree = _strip_docstrings(_parse(code))
    keep = _imported_names(tree) | _BUILTINS | {"self", "cls", "super"}
    tree = _AlphaRenamer(keep).visit(tree)
    return ast.unparse(tree)


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


def ast_shingles(code: str, n: int = 5) -> set[str]:
    """n-grams over the pre-order sequence of AST node types and the names kept by
    ``structural_code`` (identifiers renamed, so renamings do not hide similarity)."""
    try:
        tree = ast.parse(structural_code(code))
    except (ValueError, SyntaxError):
        return set()
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
        return {" ".join(tokens)} if tokens else set()
    return {" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


def _preorder(node: ast.AST) -> Iterator[ast.AST]:
    """Depth-first, source order: local edits change only nearby shingles (``ast.walk`` is breadth-first)."""
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(reversed(list(ast.iter_child_nodes(n))))


def minhash(code: str, num_perm: int = 64):
    from datasketch import MinHash

    m = MinHash(num_perm=num_perm, seed=1)
    for s in sorted(ast_shingles(code)):
        m.update(s.encode("utf-8"))
    return m


def near_duplicate_groups(blocks: list[Block], threshold: float = 0.8, num_perm: int = 64) -> list[list[int]]:
    """Groups (indices into ``blocks``, each of size >= 2) of blocks whose AST shingle sets
    have estimated Jaccard similarity >= ``threshold``; connected components of the LSH
    candidate pairs that pass the estimate. Deterministic for a given input order."""
    from datasketch import MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    sketches = []
    for i, block in enumerate(blocks):
        m = minhash(block.code, num_perm)
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
