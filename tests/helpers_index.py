"""Shared helpers for the indexer tests: real blocks made from installed classes.

The class source comes from ``inspect.getsource`` of real torch/torchvision/timm
classes, so retrieval tests run on real code, not on strings written for the test.
"""

from __future__ import annotations

import importlib
import inspect
import textwrap

from corpus.records import Provenance
from indexer.records import Block

# a minimal block module, ``BLOCK.format(name=...)``: for tests about which files and blocks a build keeps
BLOCK = textwrap.dedent('''
    import torch.nn as nn


    class {name}(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            return self.fc(x)
''')

# (module, class) pairs spanning different kinds of blocks
REAL_CLASSES: list[tuple[str, str]] = [
    ("torchvision.ops.misc", "SqueezeExcitation"),
    ("torchvision.models.resnet", "BasicBlock"),
    ("torchvision.models.resnet", "Bottleneck"),
    ("torchvision.ops.stochastic_depth", "StochasticDepth"),
    ("torchvision.models.mobilenetv2", "InvertedResidual"),
    ("timm.layers.patch_embed", "PatchEmbed"),
    ("timm.layers.mlp", "Mlp"),
    ("timm.layers.drop", "DropPath"),
    ("timm.layers.drop", "DropBlock2d"),
    ("timm.layers.squeeze_excite", "SEModule"),
    ("timm.layers.pos_embed_rel", "RelPosBias"),
    ("torch.nn.modules.rnn", "LSTM"),
    ("torch.nn.modules.pooling", "AdaptiveAvgPool2d"),
    ("torch.nn.modules.normalization", "LayerNorm"),
]


def real_block(module: str, name: str, source: str | None = None, validation: dict | None = None) -> Block:
    cls = getattr(importlib.import_module(module), name)
    code = "import torch\nfrom torch import nn\n\n\n" + textwrap.dedent(inspect.getsource(cls))
    lines, start = inspect.getsourcelines(cls)
    top = module.split(".")[0]
    try:
        sig = str(inspect.signature(cls.__init__))
    except (TypeError, ValueError):
        sig = ""
    prov = Provenance(
        source=source or f"pkg:{top}", package=top, version="test", path=module.replace(".", "/") + ".py",
        module=module, line_start=start, line_end=start + len(lines) - 1, qualified_name=f"{module}.{name}",
    )
    return Block(
        name=name, qualified_name=f"{module}.{name}", code=code, provenances=[prov], signature=sig,
        docstring=inspect.getdoc(cls) or "", external_imports=["torch"], validation=validation or {},
    )


def ok_validation(upto: str = "backward") -> dict:
    stages = ("parse", "import", "instantiate", "forward", "backward")
    out = {}
    for s in stages:
        out[s] = {"ok": True, "error": ""}
        if s == upto:
            break
    return out


def written_block(package: str, module: str, name: str, code: str) -> Block:
    """A block of ``code`` written for a test, as the installed package ``package`` would store it (module
    ``package.module``), validated through backward: for stores crowded with variants of one block or helper."""
    qualified = f"{package}.{module}.{name}"
    prov = Provenance(source=f"pkg:{package}", package=package, version="test", path=f"{package}/{module}.py",
                      module=f"{package}.{module}", line_start=1, line_end=code.count("\n"), qualified_name=qualified)
    return Block(name=name, qualified_name=qualified, code=code, provenances=[prov], external_imports=["torch"],
                 validation=ok_validation())


def helper_searches_read(store, model: str, name: str) -> list[str]:
    """The block names the two searches Patch reads for the hosts of a missing helper return (by the name's use in
    ``model``, and by the name itself; top 20 each): a test's premise that a host lies beyond them."""
    from rag_server.candidates import usage_query
    from rag_server.scope import analyze

    usage = analyze(model).free[name]
    return [h.block.name for query in (usage_query(usage), name) for h in store.search(query, k=20)]


def real_blocks() -> list[Block]:
    return [real_block(m, n, validation=ok_validation()) for m, n in REAL_CLASSES]
