"""Patch reads ``from pkg import submodule`` of a package that is not installed as ``import pkg.submodule as
submodule``: the import goes and ``submodule.X`` reads ``X`` (resolved from the store), while ``from pkg import Class``
is still removed as an import of a free name."""

from __future__ import annotations

import textwrap

import pytest

from helpers_index import ok_validation, real_block
from indexer.build import store_blocks
from rag_server.codeops import drop_missing_imports
from rag_server.patch import patch

PRESENT = {"torch", "os"}.__contains__


def test_from_import_of_a_submodule_read_through_is_read_as_a_module():
    code = textwrap.dedent('''\
        import torch.nn as nn
        from mynet import layers, Attention
        from mynet.blocks import conv as cv
        from . import heads
        from mynet import utils
        from mynet import Mode


        def build():
            return layers.SEBlock(8), cv.ConvBNAct(3, 8), heads.Linear(2), Attention(4), utils(3), Mode.TRAIN
        ''')
    new, notes = drop_missing_imports(code, PRESENT)
    assert "return SEBlock(8), ConvBNAct(3, 8), Linear(2), Attention(4), utils(3), Mode.TRAIN" in new, new
    assert "mynet" not in new and "import" not in new.replace("import torch.nn as nn", "")
    assert notes == [
        "removed `from mynet import layers`, a module that does not exist here, and read layers.X as X",
        "removed the import of Attention from 'mynet', a module that does not exist here",  # used on its own: a name
        "removed `from mynet.blocks import conv as cv`, a module that does not exist here, and read cv.X as X",
        "removed `from . import heads`, a module that does not exist here, and read heads.X as X",
        "removed the import of utils from 'mynet', a module that does not exist here",  # called: not a module
        "removed the import of Mode from 'mynet', a module that does not exist here",  # a class's attribute: kept as read
    ]


def test_a_submodule_whose_names_the_model_also_defines_is_left_as_read():
    """Stripping ``layers.`` would make ``layers.Conv`` the model's own Conv: the import goes, the reads stay."""
    code = "from mynet import layers\n\n\nclass Conv:\n    pass\n\n\nx = layers.Conv(3)\n"
    new, notes = drop_missing_imports(code, PRESENT)
    assert "x = layers.Conv(3)" in new and notes == ["removed the import of layers from 'mynet', a module that does not exist here"]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    from indexer.store import BlockStore

    blocks = [real_block("timm.layers.drop", "DropPath", validation=ok_validation()),
              real_block("timm.layers.squeeze_excite", "SEModule", validation=ok_validation())]
    path = tmp_path_factory.mktemp("alias_store")
    store_blocks(blocks, path)
    return BlockStore(path)


@pytest.mark.parametrize("imports, prefix", [("from mynet import layers", "layers"), ("from mynet import layers as L", "L")])
def test_patch_inserts_the_blocks_read_through_a_from_imported_submodule(store, imports, prefix):
    code = textwrap.dedent(f'''\
        import torch.nn as nn
        {imports}


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.se = {prefix}.SEModule(8)
                self.drop = {prefix}.DropPath(0.1)

            def forward(self, x):
                return self.drop(self.se(x))
        ''')
    result = patch(code, None, store, None)
    assert result.unresolved == [], result.code
    assert {"SEModule", "DropPath"} <= {item["name"] for item in result.inserted}
    assert f"{prefix}." not in result.code and "mynet" not in result.code
    assert any(f"removed `{imports}`" in fix for fix in result.fixes), result.fixes
