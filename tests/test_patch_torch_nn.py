"""Patch with torch.nn's own classes (imported, not copied, and made to serve a model's block of another name), and
with blocks that read the batch as the sequence (tried after, once the check warns of it).

Blind audit of Patch outside classification: an LLM's ``MultiHeadAttention(d_model, heads)`` used as
``h + self.attn(h, h, h)`` got torch's ``MultiheadAttention`` copied in (750 lines with ``Linear`` and the init
functions), which returns (output, weights): "unsupported operand type(s) for +: 'Tensor' and 'tuple'" with every
such block, and Patch stopped saying the fault was the model's.
"""

from __future__ import annotations

import textwrap

import pytest

from helpers_index import ok_validation, real_block
from helpers_models import BATCH_FIRST, POSITIONAL_ENCODING, SEQUENCE_FIRST
from indexer.build import store_blocks
from rag_server.candidates import sequence_stand_in, store_candidates, torch_nn_class, with_block_edits
from rag_server.patch import patch
from rag_server.scope import analyze
from sandbox.spec import CheckSpec, Example

SEQ2SEQ = textwrap.dedent('''\
    import torch.nn as nn


    class Net(nn.Module):
        def __init__(self, vocab=50, d_model=32, heads=4):
            super().__init__()
            self.emb = nn.Embedding(vocab, d_model)
            self.attn = MultiHeadAttention(d_model, heads)
            self.norm = nn.LayerNorm(d_model)
            self.fc = nn.Linear(d_model, 10)

        def forward(self, x):
            h = self.emb(x)
            h = self.norm(h + self.attn(h, h, h))
            return self.fc(h.mean(dim=1))
    ''')

UNPACKED = textwrap.dedent('''\
    import torch.nn as nn


    class Net(nn.Module):
        def __init__(self, features=6, hidden=16):
            super().__init__()
            self.rnn = Lstm(features, hidden, num_layers=1)
            self.fc = nn.Linear(hidden, 4)

        def forward(self, x):
            out, (h, c) = self.rnn(x)
            return self.fc(out[:, -1])
    ''')


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    from indexer.store import BlockStore

    blocks = [real_block("torch.nn.modules.activation", "MultiheadAttention", source="pkg:torch.nn", validation=ok_validation()),
              real_block("torch.nn.modules.rnn", "LSTM", source="pkg:torch.nn", validation=ok_validation()),
              real_block("timm.layers.mlp", "Mlp", validation=ok_validation())]
    path = tmp_path_factory.mktemp("torch_nn_store")
    store_blocks(blocks, path)
    return BlockStore(path)


@pytest.fixture(scope="module")
def pool():
    from sandbox.pool import CheckerPool

    with CheckerPool(size=1) as p:
        yield p


def _candidate(code: str, name: str, store):
    usage = analyze(code).free[name]
    return usage, store_candidates(usage, store, code)[0]


def test_a_torch_nn_class_is_imported_and_stands_in_batch_first_returning_its_output(store, pool):
    usage, cand = _candidate(SEQ2SEQ, "MultiHeadAttention", store)
    assert torch_nn_class(cand) == "MultiheadAttention"
    assert with_block_edits(cand) == "from torch.nn import MultiheadAttention\n"  # not torch's source
    assert "class MultiHeadAttention(MultiheadAttention):" in cand.adapter
    assert "batch_first=True" in cand.adapter and "return super().forward(*args, **kwargs)[0]" in cand.adapter
    result = patch(SEQ2SEQ, CheckSpec(example=Example(inputs=[[2, 7]], input_dtypes=["int64"])), store, pool)
    assert result.check is not None and result.check.ok, (result.check, result.code)
    assert not result.check.warnings, result.check.warnings  # read batch-first: the samples of a batch do not mix
    assert "from torch.nn import MultiheadAttention" in result.code and "class Linear" not in result.code
    assert len(result.code.splitlines()) < 40, result.code
    assert result.inserted[0]["qualified_name"] == "torch.nn.modules.activation.MultiheadAttention"
    assert "returning its output alone" in result.inserted[0]["reason"]


def test_unpacked_calls_and_stated_layouts_are_left_as_the_model_writes_them(store, pool):
    """``out, (h, c) = self.rnn(x)``: the model knows it gets a tuple; only the layout changes, unless a call says it."""
    usage, cand = _candidate(UNPACKED, "Lstm", store)
    assert torch_nn_class(cand) == "LSTM"
    assert "batch_first=True" in cand.adapter and "forward" not in cand.adapter, cand.adapter
    result = patch(UNPACKED, CheckSpec(example=Example(inputs=[[2, 5, 6]])), store, pool)
    assert result.check is not None and result.check.ok and not result.check.warnings, (result.check, result.code)
    # a call that says batch_first, and unpacks the result: torch's class as it is, under the model's name
    said = UNPACKED.replace("num_layers=1)", "num_layers=1, batch_first=True)")
    usage, cand = _candidate(said, "Lstm", store)
    assert cand.adapter == ""
    assert sequence_stand_in(cand, usage) is cand
    assert "Lstm = LSTM" in patch(said, None, store, None).code


def test_a_block_that_is_not_torch_nns_own_is_copied_as_before(store):
    code = "import torch.nn as nn\n\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.mlp = Mlp(8, 16)\n\n    def forward(self, x):\n        return self.mlp(x)\n"
    usage, cand = _candidate(code, "Mlp", store)
    assert torch_nn_class(cand) is None and "class Mlp" in with_block_edits(cand) and cand.adapter == ""


SEQUENCE_FIRST_PE = POSITIONAL_ENCODING.format(added=SEQUENCE_FIRST)
BATCH_FIRST_PE = POSITIONAL_ENCODING.format(added=BATCH_FIRST)

TOKENS_MODEL = textwrap.dedent('''\
    import torch.nn as nn


    class Net(nn.Module):
        def __init__(self, vocab=50, d_model=16):
            super().__init__()
            self.emb = nn.Embedding(vocab, d_model)
            self.pos = PositionalEncoding(d_model, dropout=0.1)
            self.fc = nn.Linear(d_model, 10)

        def forward(self, x):
            h = self.pos(self.emb(x))
            return self.fc(h.mean(dim=1))
    ''')


def _code_block(name: str, module: str, code: str):
    from corpus.records import Provenance
    from indexer.records import Block

    prov = Provenance(source=f"pkg:{module.split('.')[0]}", package=module.split(".")[0], version="test",
                      path=module.replace(".", "/") + ".py", module=module, line_start=1, line_end=code.count("\n"),
                      qualified_name=f"{module}.{name}")
    return Block(name=name, qualified_name=f"{module}.{name}", code=code, provenances=[prov],
                 signature="(self, d_model, dropout=0.1, max_len=64)", external_imports=["torch"], validation=ok_validation())


def test_a_block_that_makes_outputs_depend_on_the_batch_position_is_swapped(tmp_path, pool):
    """labml's sequence-first PositionalEncoding, the store's first block of the name, ran in a batch-first model that
    meant the batch-first one: the check passed, with each sample given its batch index as position. The check now
    warns of it, and Patch tries the name's next block, which passes without the warning."""
    from indexer.store import BlockStore

    store_blocks([_code_block("PositionalEncoding", "seqfirst.layers", SEQUENCE_FIRST_PE),
                  _code_block("PositionalEncoding", "batchfirst.layers", BATCH_FIRST_PE)], tmp_path)
    store = BlockStore(tmp_path)
    usage = analyze(TOKENS_MODEL).free["PositionalEncoding"]
    first = store_candidates(usage, store, TOKENS_MODEL)[0]
    assert first.block.qualified_name == "seqfirst.layers.PositionalEncoding"  # the order this test is about
    result = patch(TOKENS_MODEL, CheckSpec(example=Example(inputs=[[3, 7]], input_dtypes=["int64"])), store, pool)
    assert result.check is not None and result.check.ok and not result.check.warnings, (result.check, result.attempts)
    assert result.inserted[0]["qualified_name"] == "batchfirst.layers.PositionalEncoding"
    assert "depends on its position in the batch" in result.attempts[1], result.attempts


FEED_FORWARD = textwrap.dedent('''\
    import torch.nn as nn


    class FeedForward(nn.Module):
        def __init__(self, d_model, hidden=64):
            super().__init__()
            self.net = nn.Sequential(nn.Linear(d_model, hidden), nn.{act}(), nn.Linear(hidden, d_model))

        def forward(self, x):
            return x + self.net(x)
    ''')
TOKENS_FF_MODEL = TOKENS_MODEL.replace("        self.fc = nn.Linear", "        self.ff = FeedForward(d_model)\n        self.fc = nn.Linear").replace(
    "h = self.pos(self.emb(x))", "h = self.ff(self.pos(self.emb(x)))")


def test_the_block_the_position_warning_names_is_swapped_first(tmp_path, pool):
    """After a pass with the position warning Patch swapped the block whose runner-up was closest in score: here the
    harmless FeedForward (two near-identical copies), one check more, and a FeedForward of the second choice kept. The
    warning now names the first layer at fault, `pos` (PositionalEncoding in Net), and Patch swaps that block first."""
    from indexer.store import BlockStore

    store_blocks([_code_block("PositionalEncoding", "seqfirst.layers", SEQUENCE_FIRST_PE),
                  _code_block("PositionalEncoding", "batchfirst.layers", BATCH_FIRST_PE),
                  _code_block("FeedForward", "ffa.layers", FEED_FORWARD.format(act="GELU")),
                  _code_block("FeedForward", "ffb.layers", FEED_FORWARD.format(act="ReLU"))], tmp_path)
    store = BlockStore(tmp_path)
    report = analyze(TOKENS_FF_MODEL)

    def margin(name: str) -> float:
        first, second = store_candidates(report.free[name], store, TOKENS_FF_MODEL)[:2]
        return first.score - second.score

    # what this test is about: the sequence-first block first, and FeedForward the name margin order swaps first
    assert store_candidates(report.free["PositionalEncoding"], store, TOKENS_FF_MODEL)[0].qualified_name.startswith("seqfirst")
    assert margin("FeedForward") < margin("PositionalEncoding")
    result = patch(TOKENS_FF_MODEL, CheckSpec(example=Example(inputs=[[3, 7]], input_dtypes=["int64"])), store, pool)
    assert result.check is not None and result.check.ok and not result.check.warnings, (result.check, result.attempts)
    assert result.attempts[0].startswith("as given: failed"), result.attempts  # names used only in __init__: tried as given
    assert "depends on its position in the batch" in result.attempts[1], result.attempts
    assert result.tries == 3, result.attempts
    assert {i["name"]: i["qualified_name"].split(".")[0] for i in result.inserted} == {
        "PositionalEncoding": "batchfirst", "FeedForward": store_candidates(report.free["FeedForward"], store, TOKENS_FF_MODEL)[0].qualified_name.split(".")[0]}


TOKEN_MIXER = textwrap.dedent('''\
    import torch.nn as nn


    class TokenMixer(nn.Module):
        def __init__(self, d_model, heads=2):
            super().__init__()
            self.attn = nn.MultiheadAttention(d_model, heads{batch_first})

        def forward(self, x):
            return x + self.attn(x, x, x, need_weights=False)[0]
    ''')
MIXER_MODEL = textwrap.dedent('''\
    import torch.nn as nn


    class Net(nn.Module):
        def __init__(self, vocab=50, d_model=16):
            super().__init__()
            self.emb = nn.Embedding(vocab, d_model)
            self.mixer = TokenMixer(d_model)
            self.fc = nn.Linear(d_model, 10)

        def forward(self, x):
            return self.fc(self.mixer(self.emb(x)).mean(dim=1)){own}
    ''')


SEQUENCE_FIRST_MIXER = TOKEN_MIXER.format(batch_first="")
BATCH_FIRST_MIXER = TOKEN_MIXER.format(batch_first=", batch_first=True")


@pytest.mark.parametrize("own, stored", [
    ("", {"seqfirst": SEQUENCE_FIRST_MIXER, "batchfirst": BATCH_FIRST_MIXER}),  # the inserted block mixes the samples
    (".softmax(dim=0)", {"batchfirst": BATCH_FIRST_MIXER, "wider": BATCH_FIRST_MIXER.replace("heads=2", "heads=4")}),
])
def test_a_block_that_mixes_the_samples_of_a_batch_is_swapped(tmp_path, pool, own, stored):
    """A block with torch's MultiheadAttention built sequence-first, in a batch-first model, attends across the batch;
    the check passed with the mixing warning, and Patch kept the block. The warning now says the mixing happens in
    the inserted block, and Patch tries the name's next candidate, keeping the one that passes without it. Where the
    model's own forward mixes the samples, swapping blocks cannot help: Patch keeps its first pass, as before."""
    from indexer.store import BlockStore

    store_blocks([_code_block("TokenMixer", f"{package}.mixers", code) for package, code in stored.items()], tmp_path)
    store = BlockStore(tmp_path)
    code = MIXER_MODEL.format(own=own)
    first = store_candidates(analyze(code).free["TokenMixer"], store, code)[0].qualified_name
    assert first.startswith("seqfirst") or own  # what the first case is about
    result = patch(code, CheckSpec(example=Example(inputs=[[3, 7]], input_dtypes=["int64"])), store, pool)
    assert result.check is not None and result.check.ok, (result.check, result.attempts)
    assert "mixes samples" in result.attempts[1], result.attempts
    if own:
        assert result.inserted[0]["qualified_name"] == first and len(result.attempts) == 2, result.attempts
        assert "it first happens in `<root>` (Net)" in result.check.warnings[0], result.check.warnings
    else:
        assert result.inserted[0]["qualified_name"].startswith("batchfirst") and not result.check.warnings, result.attempts
        assert len(result.attempts) == 3, result.attempts
