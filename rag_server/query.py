"""Search over a BlockStore: plain functions the servicer and CLI share.

``search_blocks`` picks symbol lookup or meaning search and applies the source and
stage filters uniformly; ``query_problem`` says what makes a text no query.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
from typing import Any

from indexer.lexical import clean_query, is_identifier
from indexer.store import stage_index, stage_level
from predictor.datasets import one_keystroke_apart

MAX_K = 100
MAX_QUERY_CHARS = 20_000


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
        if not hits and mode == "auto":
            hits = _respelt(store, query, k, min_stage)
        if len(hits) >= k or mode == "symbol":
            return hits
    elif mode == "auto":
        hits = _named_by_initials(store, query, k, min_stage)
    store_mode = mode if mode in ("vector", "lexical") else "hybrid"
    more = store.search(query, k=k, min_stage=min_stage or None, mode=store_mode)
    return _fill_up(hits, [h for h in more if _stage_reached(h.block, min_stage)], k)


MIN_INITIALS, MAX_INITIALS = 3, 6  # words of a description read as the name it abbreviates (ASPP, CBAM, ECA, FPN)
# how deep in the hybrid ranking of the words a block named by their initials must be: on the full store, 10 of 12
# such descriptions keep their block, 1 of 14 whose initials spell an unrelated block does ("fully connected network")
INITIALS_CONFIRM_DEPTH = 20


def _named_by_initials(store: Any, query: str, k: int, min_stage: str) -> list[Any]:
    """The blocks whose name is the initials of ``query``'s words ("atrous spatial pyramid pooling" -> ``ASPP``,
    "convolutional block attention module" -> ``CBAM``), as ``initials`` matches. Why: a paper's name for a block is
    how users describe it, and its class is named by the initials: the two stored ASPP blocks were not in the first
    five of "atrous spatial pyramid pooling" (SPP, SPPF, ... were)."""
    words = query.split()
    if not MIN_INITIALS <= len(words) <= MAX_INITIALS or not all(w.isalpha() for w in words):
        return []
    initials = "".join(w[0] for w in words).lower()
    names = [name for name in store.all_names() if name.lower() == initials]
    hits = [h for name in names for h in store.lookup_symbol(name, k=k) if h.block.name == name]
    if not hits:
        return []
    # the words must describe the block too (it is among the hybrid search's first INITIALS_CONFIRM_DEPTH): "spatial
    # attention module" spells ultralytics' SAM (Segment Anything), "multi level pooling" MLP
    ranked = store.search(query, k=INITIALS_CONFIRM_DEPTH, mode="hybrid")
    if any(_spelled_out(h.block.name) == _spelled_out(query) for h in ranked):
        return []  # a block named by the very words ("global response normalization": ``GlobalResponseNorm``, not
        # neuralforecast's ``GRN``, a gated residual network)
    described = {h.block.content_hash for h in ranked}
    return [dataclasses.replace(h, match="initials") for h in hits
            if h.block.content_hash in described and _stage_reached(h.block, min_stage)][:k]


def _spelled_out(text: str) -> set[str]:
    """The words of a name or description, abbreviations spelled out (``GlobalResponseNorm`` and "global response
    normalization" alike)."""
    from rag_server.candidates import spelled_out_words

    return spelled_out_words(text.replace(" ", "_"))


SPELLING_CUTOFF = 0.85  # difflib ratio of a name read as a misspelling: Bottlneck / Bottleneck 0.95, DropPth 0.93


def _respelt(store: Any, query: str, k: int, min_stage: str) -> list[Any]:
    """The blocks of the names ``query`` most likely misspells (``Bottlneck`` -> ``Bottleneck``), as ``spelling``
    matches, when it names no block and is no word the corpus uses (``BlockStore.knows_word``: "convolution" was
    read as ``Involution``, "attn" as ``AAttn``). Why: a one-letter slip left the named block out of the first five
    (vector matches GhostBottleneckV3, LinearBottleneck, ... came first) while GetBlock's "did you mean" named it."""
    if store.knows_word(query):
        return []
    names = {name.lower(): name for name in store.all_names()}
    typed = query.lower()
    # close by difflib's ratio, or one keystroke apart (a short name's slip: FPM for FPN, GLEU for GELU, under the
    # ratio's cutoff); one keystroke first, then the longer shared start ("Mlpp": Mlp before MPP)
    close = set(difflib.get_close_matches(typed, list(names), n=3, cutoff=SPELLING_CUTOFF))
    close |= {name for name in names if one_keystroke_apart(typed, name)}
    ranked = sorted(close, key=lambda n: (not one_keystroke_apart(typed, n), -len(os.path.commonprefix([typed, n])),
                                          -difflib.SequenceMatcher(None, typed, n).ratio(), n))[:2]
    hits = [h for name in ranked for h in store.lookup_symbol(names[name], k=k) if h.block.name == names[name]]
    return [dataclasses.replace(h, match="spelling") for h in hits if _stage_reached(h.block, min_stage)][:k]


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
    return f"no block named or hashed {key!r} in the index (version {store.version}){within}{_held_outside(store, key)}{hint}"


def _held_outside(store: Any, key: str) -> str:
    """"; the index holds it under GPL-3.0, from dir:/x, which the request's sources or license policy leave out"
    when the whole store has ``key``. Why: a block left out by the license policy was reported as if it did not
    exist, "in the allowed sources (dir:/x)" naming the very source it came from."""
    whole = getattr(store, "_parent", None)
    block = whole.get(key) if whole is not None and whole is not store else None
    if block is None:
        return ""
    held = ", ".join(sorted({f"{p.source} ({p.license or 'no license declared'})" for p in block.provenances}))
    return f"; the index holds it from {held}, which the request's sources or license policy leave out"


# ------------------------------------------------------------------ suggestions
