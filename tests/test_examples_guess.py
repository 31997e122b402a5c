"""indexer.examples and indexer.imports: guesses for rebound parameters and external bases,
module classes behind an alias or an external star import."""

import re
import sys
import textwrap
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "fixtures"))

from mine_fixpkg import write_package  # noqa: E402

from corpus.records import Provenance  # noqa: E402
from corpus.sources import open_source  # noqa: E402
from indexer.examples import constructor_candidates  # noqa: E402
from indexer.mine import mine_files  # noqa: E402
from indexer.records import Block  # noqa: E402
from indexer.validate import STAGES, validate_blocks  # noqa: E402
from sandbox.pool import CheckerPool  # noqa: E402

HEADER = "import collections.abc\nfrom itertools import repeat\nimport torch\nfrom torch import nn\n\n"

TO_2TUPLE = """
def to_2tuple(x):
    if isinstance(x, collections.abc.Iterable):
        return tuple(x)
    return tuple(repeat(x, 2))
"""

SWIN_PATCH_EMBED = TO_2TUPLE + """
class PatchEmbed(nn.Module):
    def __init__(self, img_size=224, patch_size=4, in_chans=3, embed_dim=96):
        super().__init__()
        img_size = to_2tuple(img_size)
        patch_size = to_2tuple(patch_size)
        self.patches_resolution = [img_size[0] // patch_size[0], img_size[1] // patch_size[1]]
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)
"""


def _block(name: str, body: str, header: str = HEADER) -> Block:
    prov = Provenance(source="dir:/fixture", package="fixture", version="0", path="fixture/m.py", module="fixture.m")
    return Block(name=name, qualified_name=f"fixture.m.{name}", code=header + textwrap.dedent(body), provenances=[prov])


def _kwargs(block: Block) -> list[dict]:
    return [e.init_kwargs for e in constructor_candidates(block, [])]


# --- bug 1: a parameter rebound before it is indexed ------------------------------------------


def test_a_parameter_rebound_before_it_is_indexed_stays_a_scalar():
    candidates = _kwargs(_block("PatchEmbed", SWIN_PATCH_EMBED))
    assert all(not isinstance(kw.get("patch_size"), list) for kw in candidates), candidates
    assert all(not isinstance(kw.get("img_size"), list) for kw in candidates), candidates


def test_a_parameter_indexed_before_or_while_it_is_rebound_still_takes_a_sequence():
    block = _block("Stages", """
        class Stages(nn.Module):
            def __init__(self, drop_path=0.1, k=3):
                super().__init__()
                first = drop_path[0]
                drop_path = list(drop_path)
                k = (k[0], k[0])
                self.conv = nn.Conv2d(8, 8, k)
    """)
    base = _kwargs(block)[0]
    assert base["drop_path"] == [0.1] * 8 and base["k"] == [3] * 8


def test_a_conditional_rebinding_keeps_the_sequence_guess():
    block = _block("Drops", """
        class Drops(nn.Module):
            def __init__(self, drop_path=0.1):
                super().__init__()
                if isinstance(drop_path, list):
                    drop_path = drop_path
                self.p = drop_path[0]
    """)
    assert _kwargs(block)[0]["drop_path"] == [0.1] * 8


def test_the_plain_defaults_are_a_candidate_when_nothing_is_required():
    block = _block("Odd", """
        class Odd(nn.Module):
            def __init__(self, size=4):
                super().__init__()
                self.size = size
                self.first = self.pick(size[0]) if isinstance(size, list) else size
    """)
    candidates = _kwargs(block)
    assert candidates[0] == {"size": [4] * 8}
    assert candidates[1] == {}  # the defaults as the source has them, right after the base guess


# --- bug 2: a subclass of an installed class with no __init__ of its own -----------------------


def test_a_subclass_of_an_installed_class_takes_its_constructor():
    block = _block("MyConv", """
        class MyConv(nn.Conv2d):
            pass
    """)
    kw = _kwargs(block)[0]
    assert isinstance(kw["in_channels"], int) and isinstance(kw["out_channels"], int)
    assert kw["kernel_size"] == 3
    assert "stride" not in kw and "padding_mode" not in kw  # defaults kept


def test_an_installed_base_imported_by_name_and_one_overriding_only_forward():
    timm = pytest.importorskip("timm")
    del timm
    mlp = _block("MyMlp", "class MyMlp(Mlp):\n    pass\n", header=HEADER + "from timm.layers import Mlp\n\n")
    assert isinstance(_kwargs(mlp)[0]["in_features"], int)
    norm = _block("LayerNorm2d", """
        class LayerNorm2d(nn.LayerNorm):
            def forward(self, x):
                return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
    """)
    assert "normalized_shape" in _kwargs(norm)[0]


def test_through_a_base_of_the_code_and_a_varargs_init():
    block = _block("Outer", """
        class Mid(nn.Conv2d):
            pass

        class Outer(Mid):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
    """)
    assert {"in_channels", "out_channels", "kernel_size"} <= set(_kwargs(block)[0])


def test_an_unknown_external_base_keeps_the_old_guess():
    block = _block("Odd", "class Odd(nowhere.Thing):\n    pass\n", header=HEADER + "import nowhere\n\n")
    assert _kwargs(block) == [{}]


@pytest.fixture(scope="module")
def pool():
    with CheckerPool(size=2, preload=("torch",)) as p:
        yield p


def test_the_guesses_validate_in_the_sandbox(pool):
    swin = _block("PatchEmbed", SWIN_PATCH_EMBED)
    conv = _block("MyConv", "class MyConv(nn.Conv2d):\n    pass\n")
    validate_blocks([swin, conv], pool, [])
    for block in (swin, conv):
        assert all(block.passed(s) for s in STAGES), (block.name, block.validation)


# --- bug 3: module classes behind an alias or an external star import --------------------------


def test_module_classes_through_an_alias_and_an_external_star_import(tmp_path):
    files = {
        "al/__init__.py": "",
        "al/user.py": """
            import torch.nn as nn
            Base = nn.Module

            class ViaAlias(Base):
                def __init__(self, dim=16):
                    super().__init__()
                    self.fc = nn.Linear(dim, dim)

            class NotAModule(object):
                def forward(self, x):
                    return x
            """,
        "al/star.py": """
            from torch.nn import *

            class UsesTorchLinear(Module):
                def __init__(self, c=8):
                    super().__init__()
                    self.fc = Linear(c, c)

                def forward(self, x):
                    return self.fc(x)

            class Plain(SomethingElse):
                pass
            """,
    }
    pkg = write_package(tmp_path, files)
    names = {b.name for b in mine_files(list(open_source(f"dir:{pkg}", tmp_path / "cache").files()))}
    assert names == {"ViaAlias", "UsesTorchLinear"}


# --- quoted annotations and float defaults of config classes ------------------------------------

CFG_HEADER = HEADER + "from dataclasses import dataclass\nfrom typing import Optional\n\n"

MODEL_CFG = """
@dataclass
class ModelCfg:
    dim: int = 16
    depth: int = 2
    width_mult: float = 1.0
    drop_rate: float = 0.1


class {name}(nn.Module):
    def __init__(self, cfg: {annotation}):
        super().__init__()
        dim = int(cfg.dim * cfg.width_mult)
        self.layers = nn.Sequential(*[nn.Linear(dim, dim) for _ in range(cfg.depth)], nn.Dropout(cfg.drop_rate))

    def forward(self, x):
        return self.layers(x)
"""


@pytest.mark.parametrize("annotation", ['"ModelCfg"', "'Optional[ModelCfg]'", 'Optional["ModelCfg"]', "ModelCfg"])
def test_a_quoted_config_annotation_builds_the_config_class(annotation):
    """``cfg: "ModelCfg"`` read as the text ``'ModelCfg'``: no class of the block, so ``cfg`` got an int and
    instantiation failed. Quoted parts are read as ``typing`` reads them."""
    first = _kwargs(_block("Quoted", MODEL_CFG.format(name="Quoted", annotation=annotation), CFG_HEADER))[0]
    assert first["cfg"]["__expr__"].startswith("ModelCfg("), first


def test_a_float_config_default_is_not_replaced_by_a_width():
    """``width_mult: float = 1.0`` got the channel-like guess 32 (a 25k-parameter net became 23.6M parameters and
    4.9 GFLOPs): a guess replaces a config default of its own type only."""
    expr = _kwargs(_block("Mult", MODEL_CFG.format(name="Mult", annotation="ModelCfg"), CFG_HEADER))[0]["cfg"]["__expr__"]
    kwargs = dict(re.findall(r"(\w+)=([^,)]+)", expr))
    assert "width_mult" not in kwargs or float(kwargs["width_mult"]) == 1.0, expr
    assert all("." in v for k, v in kwargs.items() if k in ("width_mult", "drop_rate")), expr


def test_a_quoted_tuple_annotation_gives_a_tuple():
    """``window: "Tuple[int, int]"`` read as the text ``'Tuple[int, int]'``: a list was guessed, and the block's
    ``assert isinstance(window, tuple)`` failed."""
    body = """
        class Windowed(nn.Module):
            def __init__(self, dim: "int", window: "Tuple[int, int]"):
                super().__init__()
                assert isinstance(window, tuple)
                self.fc = nn.Linear(dim, window[0] * window[1])
        """
    first = _kwargs(_block("Windowed", body, "from typing import Tuple\n" + HEADER))[0]
    assert isinstance(first["window"], dict) and re.fullmatch(r"\(\d+, \d+\)", first["window"]["__expr__"]), first
    assert isinstance(first["dim"], int), first
