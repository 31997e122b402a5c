"""Identifier-aware words for the lexical index (SQLite FTS5, BM25 ranking).

Code search by word needs identifiers split: ``SqueezeExcite`` must match a query
"squeeze excite" and ``conv_bn_act`` a query "conv bn". Each block gets three
columns of words: its names (class name, qualified-name parts), the identifiers used
in its class code, and its docstring. Queries are split the same way.

Stemming is SQLite's: the FTS table uses the ``porter`` tokenizer, so "convolutional" and
"convolution", "normalize" and "normalization" meet without a Python stemmer. What a
stemmer cannot join (``conv`` and "convolution", ``bn`` and "batch norm") ``SYNONYMS``
does, a short table of the abbreviations NN code uses: a block's words get the group's
canonical word added (``with_synonyms``), and a query's forms are replaced by it
(``canonical_terms``), so each concept counts once in BM25 however it is spelled.
"""

from __future__ import annotations

import ast
import re
import unicodedata
from functools import lru_cache

from nnrag import pyparse
from indexer.embed import split_identifier

_WORD_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)  # zero-width, BOM, soft hyphen
_CALL_TAIL = "()[]{}:;,"  # what follows a name pasted from code: ``Mlp()``, ``Mlp(``, ``Mlp:``
_QUOTES = "`'\""
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
        tree = pyparse.parse(statement)
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


def clean_query(text: str) -> str:
    """``text`` NFKC-normalised (full-width ``ＭＬＰ`` -> ``MLP``) without zero-width characters; a name pasted with
    quotes or call punctuation (```Mlp```, ``Mlp()``, ``nn.Linear(``) -> the bare name. Why: such a query is one
    identifier to the user, but the punctuation made it a sentence, which skipped the symbol lookup."""
    text = unicodedata.normalize("NFKC", text).translate(_INVISIBLE).strip()
    bare = text.strip(_QUOTES).rstrip(_CALL_TAIL).strip(_QUOTES).strip()
    return bare if _IDENT.match(bare) else text


def is_identifier(query: str) -> bool:
    """Whether ``query`` (cleaned) is one identifier or dotted name, so a symbol lookup answers it."""
    return bool(_IDENT.match(query))


# Spellings NN code and papers use for one thing; the first form of each group is its canonical word. Forms are
# compared as ``words`` gives them (lower case, unstemmed: the usual inflections are listed), multi-word ones as runs.
LEXICAL_VERSION = "2"  # of the stored FTS words: 2 = porter-stemmed, with SYNONYMS' canonical words added
SYNONYMS: tuple[tuple[str, ...], ...] = (
    ("conv", "convolution", "convolutional", "convolutions", "convs"),
    ("bn", "batchnorm", "batch norm", "batch normalization"),
    ("ln", "layernorm", "layer norm", "layer normalization"),
    ("gn", "groupnorm", "group norm", "group normalization"),
    ("norm", "normalization", "normalize", "normalized"),
    ("attn", "attention", "attentions"),
    ("act", "activation", "activations"),
    ("mlp", "multilayer perceptron", "multi layer perceptron", "feedforward", "ffn"),
    ("se", "squeeze excitation", "squeeze excite"),
    ("dw", "depthwise"),
    ("pw", "pointwise"),
    ("pos", "position", "positional"),
    ("embed", "embedding", "embeddings"),
    ("proj", "projection"),
    ("res", "residual"),
    ("rel", "relative"),
    ("avg", "average"),
    ("mha", "multihead attention", "multi head attention"),
    ("downsample", "downsampling", "down sample", "down sampling"),
    ("upsample", "upsampling", "up sample", "up sampling"),
    ("fpn", "feature pyramid network"),
    ("spp", "spatial pyramid pooling"),
    ("eca", "efficient channel attention"),
    ("cbam", "convolutional block attention module"),
    ("grn", "global response norm", "global response normalization"),
    ("rope", "rotary position embedding", "rotary embedding"),
)


def _synonym_forms() -> dict[tuple[str, ...], str]:
    """Each form's words -> its group's canonical word."""
    return {tuple(words(form)): group[0] for group in SYNONYMS for form in group}


_FORMS = _synonym_forms()
_LONGEST_FORM = max(len(form) for form in _FORMS)


def _synonym_runs(terms: list[str]) -> list[tuple[int, int, str]]:
    """(start, end, canonical word) of each run of ``terms`` that spells a synonym form: longest first, left to
    right, not overlapping."""
    runs: list[tuple[int, int, str]] = []
    pos = 0
    while pos < len(terms):
        for size in range(min(_LONGEST_FORM, len(terms) - pos), 0, -1):
            canonical = _FORMS.get(tuple(terms[pos : pos + size]))
            if canonical is not None:
                runs.append((pos, pos + size, canonical))
                pos += size
                break
        else:
            pos += 1
    return runs


def canonical_terms(terms: list[str]) -> list[str]:
    """A query's ``terms`` with each synonym form replaced by its canonical word (``["batch", "norm", "relu"]`` ->
    ``["bn", "relu"]``), each once."""
    out: list[str] = []
    pos = 0
    for start, end, canonical in _synonym_runs(terms):
        out += [*terms[pos:start], canonical]
        pos = end
    return list(dict.fromkeys(out + terms[pos:]))


def with_synonyms(text: str) -> str:
    """A block's indexed words (space-separated, as stored) followed by the canonical word of every synonym form
    they spell that is not one already: ``"batch norm 2d"`` -> ``"batch norm 2d bn"``."""
    terms = text.split()
    extra = [c for start, end, c in _synonym_runs(terms) if terms[start:end] != [c]]
    return " ".join([*terms, *dict.fromkeys(extra)])


def fts_query(query: str, max_terms: int = 32) -> str | None:
    """An FTS5 MATCH expression: the query's words, each synonym form as its canonical word, OR-ed, each quoted (no
    FTS syntax from the user reaches SQLite). None when the query has no words."""
    terms = canonical_terms(words(query))[:max_terms]
    if not terms:
        return None
    return " OR ".join('"' + t.replace('"', "") + '"' for t in terms)
