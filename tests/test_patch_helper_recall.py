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

from helpers_index import helper_searches_read, written_block
from indexer.build import store_blocks
from indexer.records import Block
from indexer.store import BlockStore

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
    return written_block("rotkit", doc_module, name, code)


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
    read = helper_searches_read(crowded_store, MODEL, "apply_rotary_pos_emb")
    assert read and "QueryKeyMixer" not in read


def test_blocks_binding_finds_the_host_among_the_blocks_using_the_name(crowded_store):
    assert [b.name for b in crowded_store.blocks_binding("apply_rotary_pos_emb")] == ["QueryKeyMixer"]
    assert [b.name for b in crowded_store.blocks_binding("rotate_half")] == ["QueryKeyMixer"]
    assert [b.name for b in crowded_store.blocks_binding("ApplyRotaryPosEmb7")] == ["ApplyRotaryPosEmb7"]
    assert crowded_store.blocks_binding("dim") == []  # a parameter, defined by no block at its top level
    assert crowded_store.blocks_binding("nnrag_nowhere_used") == []
    assert crowded_store.blocks_binding("") == [] and crowded_store.blocks_binding("not a name") == []


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


@pytest.mark.parametrize("code, binds", [
    ("def f(x):\n    return x\n", True),
    ("@decorated\ndef f(x):\n    return x\n", True),
    ("async def f(x):\n    return x\n", True),
    ("class f(nn.Module):\n    pass\n", True),
    ("f = ClassInstantier(MAPPING)\n", True),
    ("from transformers.activations import ACT, f\n", True),
    ("try:\n    from pkg.mod import f\nexcept ImportError:\n    f = None\n", True),
    ("from pkg.mod import (\n    a,\n    f,\n)\n", True),
    ("import numpy as f\n", True),
    ("class A:\n    def f(self):\n        return 1\n", False),  # a method, not a top-level definition
    ("def g(self, f):\n    return f(1)\n", False),  # a parameter
    ("x = g(a, f)\nself.f = 1\n", False),
    ("from pkg.mod import ff, f_2\n", False),  # other names
    ("# import f\n", False),
])
def test_binding_pattern(code, binds):
    from indexer.store import _binding_pattern

    assert (_binding_pattern("f").search(code) is not None) is binds


def test_a_library_name_is_imported_the_way_a_block_imports_it(tmp_path):
    """transformers' ``ACT2FN`` is a module-level object no block defines; blocks import it, and the searches by
    meaning reached none of them, so the model's ``ACT2FN[hidden_act]`` got a meaning match (a LayerNorm). Here torch's
    ``_pair``, which no well-known import table holds, stands for it."""
    from rag_server.patch import plan

    user = textwrap.dedent('''\
        import torch.nn as nn
        from torch.nn.modules.utils import _pair


        class GatedMLP(nn.Module):
            """A gated feed-forward layer."""

            def __init__(self, dim, kernel=3):
                super().__init__()
                self.fc = nn.Conv2d(dim, dim, _pair(kernel), padding=1)

            def forward(self, x):
                return self.fc(x)
        ''')
    decoys = [_block(f"PairKernel{i}", textwrap.dedent(f'''\
        import torch.nn as nn


        class PairKernel{i}(nn.Module):
            """Pairs a kernel size into a tuple (variant {i}): pair kernel."""

            def __init__(self, dim):
                super().__init__()
                self._pair = True
                self.fc = nn.Linear(dim, dim)

            def forward(self, x):
                return self.fc(x)
        '''), f"pair{i}") for i in range(45)]
    store_blocks(decoys + [_block("GatedMLP", user, "mlp")], tmp_path)
    store = BlockStore(tmp_path)
    assert [b.name for b in store.blocks_binding("_pair")] == ["GatedMLP"]
    model = ("import torch.nn as nn\n\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
             "        self.conv = nn.Conv2d(3, 10, _pair(3))\n\n    def forward(self, x):\n        return self.conv(x).mean((2, 3))\n")
    cands = plan(model, store).candidates.get("_pair", [])
    assert cands and cands[0].import_line == "from torch.nn.modules.utils import _pair", [(c.match, c.import_line) for c in cands]


def test_legacy_torch_names_are_imported():
    from rag_server.candidates import standard_import
    from rag_server.scope import analyze

    code = "import torch\n\n\ndef f(x):\n    return Variable(x, requires_grad=True)\n\n\nclass G(Function):\n    pass\n"
    free = analyze(code).free
    assert standard_import(free["Variable"]) == "from torch.autograd import Variable"
    assert standard_import(free["Function"]) == "from torch.autograd import Function"


def test_a_table_read_by_key_gets_the_import_and_no_meaning_match(tmp_path):
    """heldout18/12: the model's ``ACT2FN[hidden_act]``; Llama's blocks import ``ACT2FN`` from transformers, and the
    meaning matches (timm's ``LayerNormAct2dFp32``, an ``Identity``) ranked above that import and were inserted. A name
    read by key is a table: no class found by meaning stands for it."""
    from rag_server.patch import plan

    host = textwrap.dedent('''\
        import torch.nn as nn
        from transformers.activations import ACT2FN


        class GatedMLP(nn.Module):
            """A gated feed-forward layer."""

            def __init__(self, dim, hidden_act="silu"):
                super().__init__()
                self.fc = nn.Linear(dim, dim)
                self.act_fn = ACT2FN[hidden_act]

            def forward(self, x):
                return self.act_fn(self.fc(x))
        ''')
    lookups = [_block(name, textwrap.dedent(f'''\
        import torch.nn as nn


        class {name}(nn.Module):
            """Activation function looked up by its name: act fn, hidden act."""

            def __init__(self, hidden_act="gelu"):
                super().__init__()
                self.act = nn.GELU() if hidden_act == "gelu" else nn.SiLU()

            def forward(self, x):
                return self.act(x)
        '''), "acts") for name in ("ActFn", "HiddenActFn", "ActFnLayer")]
    store_blocks(lookups + [_block("GatedMLP", host, "mlp")], tmp_path)
    model = textwrap.dedent('''\
        import torch.nn as nn


        class Net(nn.Module):
            def __init__(self, hidden_act="gelu"):
                super().__init__()
                self.fc = nn.Linear(3 * 32 * 32, 10)
                self.act_fn = ACT2FN[hidden_act]

            def forward(self, x):
                return self.act_fn(self.fc(x.flatten(1)))
        ''')
    store = BlockStore(tmp_path)
    cands = plan(model, store).candidates.get("ACT2FN", [])
    assert [(c.match, c.import_line) for c in cands] == [("block-import", "from transformers.activations import ACT2FN")], \
        [(c.match, c.symbol, round(c.score, 2)) for c in cands]
    # called, not read by key, the name may be a layer: meaning matches come in beside the import
    called = plan(model.replace("ACT2FN[hidden_act]", "ACT2FN(hidden_act)"), store).candidates.get("ACT2FN", [])
    assert {"semantic", "block-import"} <= {c.match for c in called}, [(c.match, c.symbol) for c in called]


def test_is_table():
    from rag_server.candidates import is_table
    from rag_server.scope import analyze

    def usage(line: str):
        return analyze(f"def f(x, op):\n    {line}\n").free["OPS"]

    assert is_table(usage("return OPS[op](x)"))
    assert is_table(usage("return OPS['skip']"))
    assert not is_table(usage("return OPS(x)"))  # called: a layer or a function
    assert not is_table(usage("return OPS[op](x) + OPS.scale"))  # an attribute too
    assert not is_table(usage("return [o for o in OPS]"))  # iterated, never read by key
