"""Patch finds a helper function in the blocks whose code uses it, and prefers the one that returns what the model
unpacks.

Session 41: with transformers' Llama blocks in a store, the searches by meaning and by name that gather hosts of a
missing helper (``apply_rotary_pos_emb``) ranked twenty other rotary-embedding blocks first, so neither timm's Gemma 4
host nor Llama's was read and the helper stayed unresolved. And the model's ``q, k = apply_rotary_pos_emb(q, k, cos,
sin)`` (Llama's, returning two tensors) was served first with timm's one-tensor ``apply_rotary_pos_emb(x, cos, sin,
unsqueeze_dim=2)``, which then failed its forward.
"""

from __future__ import annotations

import ast
import textwrap

import pytest

from corpus.records import Provenance
from indexer.build import store_blocks
from indexer.records import Block
from indexer.store import BlockStore

PASSED = {s: {"ok": True} for s in ("parse", "import", "instantiate", "forward", "backward")}

HOST = textwrap.dedent('''\
    import torch
    import torch.nn as nn


    def rotate_half(x):
        x1, x2 = x.chunk(2, dim=-1)
        return torch.cat((-x2, x1), dim=-1)


    def apply_rotary_pos_emb(q, k, cos, sin):
        return q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin


    class QueryKeyMixer(nn.Module):
        """Mixes queries and keys of a decoder layer."""

        def __init__(self, dim):
            super().__init__()
            self.q = nn.Linear(dim, dim)
            self.k = nn.Linear(dim, dim)

        def forward(self, x, cos, sin):
            q, k = apply_rotary_pos_emb(self.q(x), self.k(x), cos, sin)
            return q + k
    ''')

MODEL = textwrap.dedent('''\
    import torch
    import torch.nn as nn


    class Net(nn.Module):
        def __init__(self, dim=8):
            super().__init__()
            self.qk = nn.Linear(dim, 2 * dim)
            self.head = nn.Linear(dim, 10)

        def forward(self, x):
            b = x.shape[0]
            t = x.flatten(1)[:, :64].reshape(b, 8, 8)
            cos, sin = torch.ones(8, 8), torch.zeros(8, 8)
            q, k = self.qk(t).chunk(2, dim=-1)
            q, k = apply_rotary_pos_emb(q, k, cos, sin)
            return self.head((q + k).mean(dim=1))
    ''')


def _block(name: str, code: str, doc_module: str) -> Block:
    prov = Provenance(source="pkg:rotkit", package="rotkit", version="test", path=f"rotkit/{doc_module}.py",
                      module=f"rotkit.{doc_module}", line_start=1, line_end=code.count("\n"),
                      qualified_name=f"rotkit.{doc_module}.{name}")
    return Block(name=name, qualified_name=f"rotkit.{doc_module}.{name}", code=code, provenances=[prov],
                 external_imports=["torch"], validation=PASSED)


def _decoy(i: int) -> Block:
    """A rotary-embedding block whose code uses the identifier ``apply_rotary_pos_emb`` (a flag) and does not define it."""
    code = textwrap.dedent(f'''\
        import torch
        import torch.nn as nn


        class ApplyRotaryPosEmb{i}(nn.Module):
            """Apply rotary position embedding (variant {i}) to queries and keys of an attention layer."""

            def __init__(self, dim):
                super().__init__()
                self.freqs = nn.Parameter(torch.randn(dim // 2))
                self.apply_rotary_pos_emb = True

            def forward(self, q, k):
                cos, sin = self.freqs.repeat(2).cos(), self.freqs.repeat(2).sin()
                return q * cos + k * sin if self.apply_rotary_pos_emb else q
        ''')
    return _block(f"ApplyRotaryPosEmb{i}", code, f"rope{i}")


@pytest.fixture(scope="module")
def crowded_store(tmp_path_factory) -> BlockStore:
    path = tmp_path_factory.mktemp("store")
    store_blocks([_decoy(i) for i in range(45)] + [_block("QueryKeyMixer", HOST, "mixer")], path)
    return BlockStore(path)


def test_the_searches_alone_miss_the_host(crowded_store):
    """The premise: the host ranks below the 20 that the searches read."""
    from rag_server.candidates import usage_query
    from rag_server.scope import analyze

    usage = analyze(MODEL).free["apply_rotary_pos_emb"]
    read = [h.block.name for query in (usage_query(usage), "apply_rotary_pos_emb") for h in crowded_store.search(query, k=20)]
    assert "QueryKeyMixer" not in read


def test_blocks_defining_finds_the_host_among_the_blocks_using_the_name(crowded_store):
    assert [b.name for b in crowded_store.blocks_defining("apply_rotary_pos_emb")] == ["QueryKeyMixer"]
    assert [b.name for b in crowded_store.blocks_defining("rotate_half")] == ["QueryKeyMixer"]
    assert [b.name for b in crowded_store.blocks_defining("ApplyRotaryPosEmb7")] == ["ApplyRotaryPosEmb7"]
    assert crowded_store.blocks_defining("dim") == []  # a parameter, defined by no block at its top level
    assert crowded_store.blocks_defining("nnrag_nowhere_used") == []
    assert crowded_store.blocks_defining("") == [] and crowded_store.blocks_defining("not a name") == []


def test_a_helper_whose_host_the_searches_miss_is_still_found(crowded_store):
    from rag_server.patch import plan

    the_plan = plan(MODEL, crowded_store)
    cands = the_plan.candidates.get("apply_rotary_pos_emb", [])
    assert [(c.symbol, c.match, c.block.name) for c in cands][:1] == [("apply_rotary_pos_emb", "helper", "QueryKeyMixer")], cands
    assert "apply_rotary_pos_emb" not in the_plan.unresolved


LLAMA_STYLE = "def apply_rotary_pos_emb(q, k, cos, sin, unsqueeze_dim=1):\n    return q * cos, k * sin\n"
GEMMA_STYLE = "def apply_rotary_pos_emb(x, cos, sin, unsqueeze_dim=2):\n    return (x * cos) + (x * sin)\n"


def test_a_function_returning_one_value_does_not_serve_a_call_unpacking_two():
    from rag_server.candidates import call_compatibility, definition_signature
    from rag_server.scope import analyze

    usage = analyze(MODEL).free["apply_rotary_pos_emb"]
    assert [c.unpacked for c in usage.calls] == [2]
    assert call_compatibility(definition_signature(LLAMA_STYLE, "apply_rotary_pos_emb"), usage) == 1.0
    assert call_compatibility(definition_signature(GEMMA_STYLE, "apply_rotary_pos_emb"), usage) == 0.0
    used_once = analyze(MODEL.replace("q, k = apply_rotary_pos_emb(q, k, cos, sin)", "q = apply_rotary_pos_emb(q, cos, sin)"))
    assert [c.unpacked for c in used_once.free["apply_rotary_pos_emb"].calls] == [None]
    assert call_compatibility(definition_signature(GEMMA_STYLE, "apply_rotary_pos_emb"), used_once.free["apply_rotary_pos_emb"]) == 1.0


@pytest.mark.parametrize("body, count", [
    ("return a, b", 2),
    ("return a + b", 1),
    ("return -a", 1),
    ("if a:\n        return a, b, c\n    return b, c, a", 3),
    ("if a:\n        return a, b\n    return a * b", None),  # two counts
    ("return f(a)", None),  # a call may give a tuple
    ("return a", None),  # so may a name
    ("return (*a, b)", None),
    ("def inner():\n        return 1, 2\n    return a @ b", 1),  # an inner function's returns are not its own
    ("pass", None),
])
def test_returned_count(body, count):
    from rag_server.candidates import returned_count

    func = ast.parse(f"def f(a, b, c=None):\n    {body}\n").body[0]
    assert returned_count(func) == count
