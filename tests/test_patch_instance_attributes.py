"""Patch reads what the model calls on a block's instances: ``self.rotary = RotaryEmbedding(dim=16)`` then
``self.rotary.rotate_queries_or_keys(q)`` needs a ``RotaryEmbedding`` with that method.

Blind set heldout16: lucidrains' ``RotaryEmbedding`` (rotary-embedding-torch) and timm's (which only builds the
sin / cos tables) share the name; timm's, an installed library's, was tried first and failed the forward with
"'RotaryEmbedding' object has no attribute 'rotate_queries_or_keys'".
"""

from __future__ import annotations

import textwrap

import pytest

from corpus.records import Provenance
from helpers_index import ok_validation
from indexer.build import store_blocks
from indexer.records import Block
from indexer.store import BlockStore
from rag_server.candidates import store_candidates
from rag_server.patch import patch
from rag_server.scope import analyze
from sandbox.spec import CheckSpec, Example

TABLES_ONLY = textwrap.dedent('''\
    import torch
    import torch.nn as nn


    class RotaryEmbedding(nn.Module):
        """Builds the sin / cos tables; applying them is the caller's job."""

        def __init__(self, dim, temperature=10000.0):
            super().__init__()
            self.dim = dim
            self.register_buffer("bands", 1.0 / temperature ** (torch.arange(0, dim, 2).float() / dim), persistent=False)

        def get_embed(self, n):
            angles = torch.arange(n).float()[:, None] * self.bands[None, :]
            return torch.cat([angles.sin(), angles.cos()], dim=-1)

        def forward(self, x):
            return self.get_embed(x.shape[-2])
    ''')
ROTATES = textwrap.dedent('''\
    import torch
    import torch.nn as nn


    def rotate_half(x):
        x1, x2 = x.chunk(2, dim=-1)
        return torch.cat([-x2, x1], dim=-1)


    class RotaryEmbedding(nn.Module):
        def __init__(self, dim, theta=10000.0):
            super().__init__()
            self.freqs = nn.Parameter(1.0 / theta ** (torch.arange(0, dim, 2).float() / dim), requires_grad=False)

        def rotate_queries_or_keys(self, t):
            n, rot = t.shape[-2], self.freqs.shape[0] * 2
            angles = torch.arange(n, device=t.device).float()[:, None] * self.freqs[None, :]
            angles = torch.cat([angles, angles], dim=-1)
            head, tail = t[..., :rot], t[..., rot:]
            return torch.cat([head * angles.cos() + rotate_half(head) * angles.sin(), tail], dim=-1)
    ''')
MODEL = textwrap.dedent('''\
    import torch.nn as nn
    import torch.nn.functional as F


    class Attention(nn.Module):
        def __init__(self, dim, heads=2):
            super().__init__()
            self.heads = heads
            self.qkv = nn.Linear(dim, dim * 3)
            self.rotary = RotaryEmbedding(dim=8)
            self.rotary.cached = True
            self.out = nn.Linear(dim, dim)

        def forward(self, x):
            B, N, C = x.shape
            q, k, v = self.qkv(x).reshape(B, N, 3, self.heads, C // self.heads).permute(2, 0, 3, 1, 4)
            q, k = self.rotary.rotate_queries_or_keys(q), self.rotary.rotate_queries_or_keys(k)
            self.rotary.train(self.training)
            return self.out(F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(B, N, C))


    class Net(nn.Module):
        def __init__(self, dim=32):
            super().__init__()
            self.embed = nn.Conv2d(3, dim, 8, stride=8)
            self.attn = Attention(dim)
            self.head = nn.Linear(dim, 10)

        def forward(self, x):
            x = self.embed(x).flatten(2).transpose(1, 2)
            return self.head(self.attn(x).mean(dim=1))
    ''')


def _block(code: str, source: str, package: str) -> Block:
    prov = Provenance(source=source, package=package, version="test", path=f"{package}/rope.py", module=f"{package}.rope",
                      line_start=1, line_end=code.count("\n"), qualified_name=f"{package}.rope.RotaryEmbedding")
    return Block(name="RotaryEmbedding", qualified_name=f"{package}.rope.RotaryEmbedding", code=code, provenances=[prov],
                 external_imports=["torch"], validation=ok_validation(), example=Example(inputs=[[2, 2, 16, 16]]))


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """timm's table builder (an installed library: ranked first where both fit) and lucidrains' rotating one."""
    path = tmp_path_factory.mktemp("store")
    store_blocks([_block(TABLES_ONLY, "pkg:timm", "timm"), _block(ROTATES, "pypi:rotary-embedding-torch==0.9.1", "rotary_embedding_torch")], path)
    return BlockStore(path)


def test_what_the_model_reads_on_an_instance_is_collected():
    """Reads only: ``self.rotary.cached = True`` sets an attribute, it does not need one."""
    from rag_server.scope import instance_attributes

    assert instance_attributes(MODEL, {"RotaryEmbedding"}) == {"RotaryEmbedding": {"rotate_queries_or_keys", "train"}}


def test_the_block_with_the_method_the_model_calls_ranks_first(store):
    ranked = store_candidates(analyze(MODEL).free["RotaryEmbedding"], store, MODEL)
    assert [c.qualified_name for c in ranked] == ["rotary_embedding_torch.rope.RotaryEmbedding", "timm.rope.RotaryEmbedding"], ranked
    # without the method call, the installed library's block comes first again
    plain = MODEL.replace("self.rotary.rotate_queries_or_keys(q), self.rotary.rotate_queries_or_keys(k)", "q, k")
    assert store_candidates(analyze(plain).free["RotaryEmbedding"], store, plain)[0].qualified_name == "timm.rope.RotaryEmbedding"


def test_patch_inserts_it_and_the_check_passes_at_once(store):
    from sandbox.pool import CheckerPool

    with CheckerPool(size=1) as pool:
        result = patch(MODEL, CheckSpec(example=Example(inputs=[[2, 3, 32, 32]])), store, pool)
    assert result.check is not None and result.check.ok, (result.check, result.attempts)
    assert result.attempts[1:] == ["RotaryEmbedding<-rotary_embedding_torch.rope.RotaryEmbedding: ok"], result.attempts  # the first try
    assert result.inserted[0]["qualified_name"] == "rotary_embedding_torch.rope.RotaryEmbedding", result.inserted
