"""Identifier-aware words for the lexical index (SQLite FTS5, BM25 ranking).

Code search by word needs identifiers split: ``SqueezeExcite`` must match a query
"squeeze excite" and ``conv_bn_act`` a query "conv bn". Each block gets three
columns of words: its names (class name, qualified-name parts), the identifiers used
in its class code, and its docstring. Queries are split the same way.
"""

from __future__ import annotations

import ast
import re
from functools import lru_cache

from indexer.embed import split_identifier

_WORD_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_STOP = frozenset({"self", "def", "return", "class", "import", "from", "none", "true", "false", "init", "forward", "super", "the", "a", "an", "of", "and", "or", "to", "in", "is", "for", "with"})


def words(text: str) -> list[str]:
    """Lower-case word pieces of every identifier-like token in ``text``, with the whole
    identifier (lower-cased) kept too, so exact names match exactly."""
    out: list[str] = []
    for token in _WORD_RE.findall(text):
        low = token.lower().strip("_")
        pieces = split_identifier(token)
        if low and len(pieces) > 1:
            out.append(low.replace("_", ""))
        out.extend(pieces)
    return [w for w in out if w and w not in _STOP]


def name_words(name: str, qualified_name: str) -> str:
    parts = [name.lower(), *words(name), *words(qualified_name.replace(".", " "))]
    return " ".join(dict.fromkeys(parts))


@lru_cache(maxsize=65536)
def _statement_words(statement: str) -> tuple[str, ...]:
    """Distinct words of the names and attribute names in one top-level statement.
    Cached: the blocks of one package share most of their helper statements, so each
    is parsed once per process instead of once per block that includes it."""
    try:
        tree = ast.parse(statement)
    except SyntaxError:
        return tuple(dict.fromkeys(words(statement)))
    names = [n.id if isinstance(n, ast.Name) else n.attr for n in ast.walk(tree) if isinstance(n, (ast.Name, ast.Attribute))]
    return tuple(dict.fromkeys(words(" ".join(names))))


def code_words(code: str, limit: int = 400, name: str | None = None) -> str:
    """Distinct identifier words of the code (first ``limit``), attribute names included:
    those of the class ``name`` (the block's own class) first, then the helpers' in order."""
    from indexer.dedup import split_statements

    try:
        statements = split_statements(code)
    except ValueError:  # does not parse: plain words of the text
        return " ".join(list(dict.fromkeys(words(code)))[:limit])
    if name:
        head = re.compile(rf"^class {re.escape(name)}\b", re.M)
        statements = sorted(statements, key=lambda text: head.search(text) is None)  # stable: the rest keep their order
    out: dict[str, None] = {}
    for statement in statements:
        out.update(dict.fromkeys(_statement_words(statement)))
        if len(out) >= limit:
            break
    return " ".join(list(out)[:limit])


def fts_query(query: str, max_terms: int = 32) -> str | None:
    """An FTS5 MATCH expression: the query's words OR-ed, each quoted (no FTS syntax
    from the user reaches SQLite). None when the query has no words."""
    terms = list(dict.fromkeys(words(query)))[:max_terms]
    if not terms:
        return None
    return " OR ".join('"' + t.replace('"', "") + '"' for t in terms)
