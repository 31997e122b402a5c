"""Identifier-aware words for the lexical index (SQLite FTS5, BM25 ranking).

Code search by word needs identifiers split: ``SqueezeExcite`` must match a query
"squeeze excite" and ``conv_bn_act`` a query "conv bn". Each block gets three
columns of words: its names (class name, qualified-name parts), the identifiers used
in its class code, and its docstring. Queries are split the same way.
"""

from __future__ import annotations

import ast
import re

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


def code_words(code: str, limit: int = 400) -> str:
    """Distinct identifier words of the code (first ``limit``), attribute names included."""
    try:
        names = [n.id if isinstance(n, ast.Name) else n.attr for n in ast.walk(ast.parse(code)) if isinstance(n, (ast.Name, ast.Attribute))]
        text = " ".join(names)
    except SyntaxError:
        text = code
    return " ".join(list(dict.fromkeys(words(text)))[:limit])


def fts_query(query: str, max_terms: int = 32) -> str | None:
    """An FTS5 MATCH expression: the query's words OR-ed, each quoted (no FTS syntax
    from the user reaches SQLite). None when the query has no words."""
    terms = list(dict.fromkeys(words(query)))[:max_terms]
    if not terms:
        return None
    return " OR ".join('"' + t.replace('"', "") + '"' for t in terms)
