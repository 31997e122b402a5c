"""Patch gives a model over text blocks that take the token ids the check feeds it.

Session 43: a translation tutorial's encoder calls ``TokenEmbedding(vocab_size, emb_size)`` on its int64 input and
does not define it. The store's block of that exact name is neuralforecast's, a ``Conv1d`` over float series, and it
came first; ``nn.Embedding``, which takes the ids, was 32nd by meaning and never read. The model's code says nothing
of its input (``def forward(self, src)``): the check's example (``--input-dtype int64``) does.
"""

from __future__ import annotations

import ast
import textwrap
from dataclasses import replace

import pytest

from helpers_index import written_block
from indexer.build import store_blocks
from indexer.records import Block
from indexer.store import BlockStore
from rag_server.call_layout import TOKEN_IDS, TOKENS, fed_layout, token_id_parameters
from sandbox.spec import CheckSpec, Example

IDS_SPEC = CheckSpec(example=Example(inputs=[[2, 16]], input_dtypes=["int64"]))

TEXT_MODEL = textwrap.dedent('''\
    import torch.nn as nn


    class Net(nn.Module):
        """Sequence-first encoder over token ids, last-token classification."""

        def __init__(self, vocab_size=1000, emb_size=32):
            super().__init__()
            self.src_tok_emb = TokenEmbedding(vocab_size, emb_size)
            self.norm = SequenceNorm(emb_size)
            self.head = nn.Linear(emb_size, 10)

        def forward(self, src):
            src = src.transpose(0, 1)
            x = self.norm(self.src_tok_emb(src))
            return self.head(x[-1])
    ''')


def _validated_on(block: Block, inputs: list[list[int]], dtype: str, **init_kwargs) -> Block:
    return replace(block, example=Example(init_kwargs=init_kwargs, inputs=inputs, input_dtypes=[dtype]))


def _series_token_embedding(name: str, module: str, words: str = "") -> Block:
    """A ``Conv1d`` over float series [B, L, C], as neuralforecast's ``TokenEmbedding(c_in, d_model)``."""
    code = textwrap.dedent(f'''\
        import torch.nn as nn


        class {name}(nn.Module):
            """Token embedding of a time series: a circular Conv1d over the value channels{words}."""

            def __init__(self, c_in, d_model):
                super().__init__()
                self.tokenConv = nn.Conv1d(c_in, d_model, kernel_size=3, padding=1, padding_mode="circular")

            def forward(self, x):
                return self.tokenConv(x.permute(0, 2, 1)).transpose(1, 2)
        ''')
    return _validated_on(written_block("series", module, name, code), [[2, 16, 32]], "float32", c_in=32, d_model=32)


WORD_EMBEDDING = textwrap.dedent('''\
    import torch.nn as nn


    class WordEmbedding(nn.Module):
        """A lookup table of vectors, one per vocabulary entry."""

        def __init__(self, num_embeddings, embedding_dim):
            super().__init__()
            self.weight = nn.Embedding(num_embeddings, embedding_dim)

        def forward(self, idx):
            return self.weight(idx)
    ''')

SEQUENCE_NORM = textwrap.dedent('''\
    import torch.nn as nn


    class SequenceNorm(nn.Module):
        """Layer norm over the features of a sequence."""

        def __init__(self, dim):
            super().__init__()
            self.norm = nn.LayerNorm(dim)

        def forward(self, x):
            return self.norm(x)
    ''')


def _word_embedding() -> Block:
    block = written_block("words", "table", "WordEmbedding", WORD_EMBEDDING)
    return _validated_on(block, [[2, 16]], "int64", num_embeddings=100, embedding_dim=32)


def _sequence_norm() -> Block:
    return _validated_on(written_block("words", "norm", "SequenceNorm", SEQUENCE_NORM), [[2, 16, 32]], "float32", dim=32)


# -- reading which parameters get ids, and what they feed ------------------------------------------------------------

def test_the_forward_parameters_the_example_feeds_integers_are_token_ids():
    assert token_id_parameters(TEXT_MODEL, None, ["int64"]) == {"Net.src"}
    assert token_id_parameters(TEXT_MODEL, "Net", ["long"]) == {"Net.src"}
    assert token_id_parameters(TEXT_MODEL, None, ["float32"]) == frozenset()
    assert token_id_parameters(TEXT_MODEL, None, None) == frozenset()
    assert token_id_parameters(TEXT_MODEL, "Other", ["int64"]) == frozenset()  # the entry named has no forward here
    two = TEXT_MODEL.replace("def forward(self, src):", "def forward(self, feats, src):")
    assert token_id_parameters(two, None, ["float32", "int64"]) == {"Net.src"}


def test_token_ids_are_followed_through_what_keeps_them_ids_and_embedded_into_tokens():
    tree = ast.parse(TEXT_MODEL)
    ids = token_id_parameters(TEXT_MODEL, None, ["int64"])
    assert fed_layout(tree, "TokenEmbedding", ids) == TOKEN_IDS  # through ``src.transpose(0, 1)``
    assert fed_layout(tree, "SequenceNorm", ids) == TOKENS  # what a module makes of the ids
    assert fed_layout(tree, "TokenEmbedding") is None  # the code alone says nothing
    sliced = TEXT_MODEL.replace("src = src.transpose(0, 1)", "src = src[:, :-1].long()")
    assert fed_layout(ast.parse(sliced), "TokenEmbedding", ids) == TOKEN_IDS
    projected = TEXT_MODEL.replace("src = src.transpose(0, 1)", "src = self.proj(src)")
    assert fed_layout(ast.parse(projected), "TokenEmbedding", ids) == TOKENS  # the ids already embedded
    floated = TEXT_MODEL.replace("src = src.transpose(0, 1)", "src = src.float()")
    assert fed_layout(ast.parse(floated), "TokenEmbedding", ids) is None  # values now, not ids


# -- ranking on real stores ----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def small_store(tmp_path_factory) -> BlockStore:
    path = tmp_path_factory.mktemp("store")
    store_blocks([_series_token_embedding("TokenEmbedding", "timellm"), _word_embedding(), _sequence_norm()], path)
    return BlockStore(path)


def test_a_block_of_the_name_that_takes_float_series_goes_below_one_that_takes_the_ids(small_store):
    from rag_server.patch import plan

    cands = plan(TEXT_MODEL, small_store, IDS_SPEC).candidates["TokenEmbedding"]
    assert cands[0].block.name == "WordEmbedding", [(c.block.name, round(c.score, 2), c.reason) for c in cands]
    series = next(c for c in cands if c.block.name == "TokenEmbedding")
    assert "integer token ids" in series.reason
    # without the example's dtype nothing says so, and the block of the very name comes first
    assert plan(TEXT_MODEL, small_store).candidates["TokenEmbedding"][0].block.name == "TokenEmbedding"


@pytest.fixture(scope="module")
def series_crowd(tmp_path_factory) -> BlockStore:
    """35 float token embeddings worded close to the model's name, and the one block that takes ids, worded apart."""
    path = tmp_path_factory.mktemp("crowd")
    crowd = [_series_token_embedding(f"SeriesTokenEmbedding{i}", f"emb{i}", f", token embedding variant {i}")
             for i in range(35)]
    store_blocks(crowd + [_word_embedding(), _sequence_norm()], path)
    return BlockStore(path)


def test_the_meaning_search_reads_past_blocks_that_cannot_take_ids(series_crowd):
    from rag_server.candidates import NARROWED_READ, semantic_hits, usage_query
    from rag_server.patch import plan
    from rag_server.scope import analyze

    query = usage_query(analyze(TEXT_MODEL).free["TokenEmbedding"])
    nearest = [hit.block.name for hit, _ in semantic_hits(series_crowd, query, k=NARROWED_READ)]
    assert "WordEmbedding" not in nearest  # the premise: the 30 nearest are all float-series blocks
    cands = plan(TEXT_MODEL, series_crowd, IDS_SPEC).candidates["TokenEmbedding"]
    assert cands and cands[0].block.name == "WordEmbedding", [(c.block.name, round(c.score, 2)) for c in cands]


@pytest.fixture(scope="module")
def pool():
    from sandbox.pool import CheckerPool

    with CheckerPool(size=1) as p:
        yield p


def test_patch_checks_the_block_that_takes_the_ids_first(small_store, pool):
    """In the sandbox: the first combination passes with the ids the example feeds."""
    from rag_server.patch import patch

    result = patch(TEXT_MODEL, IDS_SPEC, small_store, pool, max_tries=3)
    assert result.check is not None and result.check.ok, result.attempts
    assert [i["symbol"] for i in result.inserted if i["name"] == "TokenEmbedding"] == ["WordEmbedding"]
    assert len([a for a in result.attempts if not a.startswith("as given")]) == 1, result.attempts


@pytest.fixture(scope="module")
def server(small_store, tmp_path_factory):
    from nnrag.settings import Settings
    from rag_server.backend import Backend
    from rag_server.server import build_server

    settings = Settings(store_dir=small_store.store_dir, address="127.0.0.1:0", workers=1, check_timeout_s=30.0)
    backend = Backend.open(settings, with_pool=True, with_predictor=False)
    running = build_server(settings, backend)
    yield running
    running.stop(grace=1)
    backend.close()


def test_over_grpc_the_example_dtype_reaches_the_ranking(server):
    """A client's CheckSpec with int64 inputs travels with the Patch request: the block that takes ids is checked."""
    from rag_server.client import Client

    with Client(server.address) as client:
        outcome = client.patch(TEXT_MODEL, IDS_SPEC)
    assert outcome.after is not None and outcome.after.ok, outcome.attempts
    assert [b.symbol for b in outcome.inserted if b.name == "TokenEmbedding"] == ["WordEmbedding"]
    assert len([a for a in outcome.attempts if not a.startswith("as given")]) == 1, outcome.attempts
