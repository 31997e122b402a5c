"""Scope-closed blocks run alone: each test mines a small source tree, runs the block's
code in a separate python process (away from the source tree) and checks that it
builds and behaves as the source does."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "fixtures"))

from mine_fixpkg import write_package  # noqa: E402

from corpus.sources import open_source  # noqa: E402
from indexer.mine import mine_files  # noqa: E402


def mine(tmp_path: Path, files: dict[str, str]) -> dict:
    pkg = write_package(tmp_path / "src", files)
    return {b.name: b for b in mine_files(list(open_source(f"dir:{pkg}", tmp_path / "cache").files()))}


def run_alone(tmp_path: Path, code: str, snippet: str) -> str:
    """Run the block's code then ``snippet`` in a fresh process, outside the source tree;
    returns stdout (asserts that it ran)."""
    run_dir = tmp_path / "run"
    run_dir.mkdir(exist_ok=True)
    script = run_dir / "block.py"
    script.write_text(code + "\n\n" + textwrap.dedent(snippet))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": ""}
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=run_dir, env=env)
    assert proc.returncode == 0, code + "\n----\n" + proc.stderr[-2000:]
    return proc.stdout


# ---------------------------------------------------------------- 1. builtins and star imports


def test_helper_named_like_a_builtin_does_not_shadow_it(tmp_path):
    files = {
        "p2/__init__.py": "",
        "p2/a.py": """
            import torch.nn as nn

            def max(a, b):
                return a if a > b else b

            class Gate(nn.Module):
                def __init__(self, c=16):
                    super().__init__()
                    self.fc = nn.Linear(c, max(c // 4, 8))
            """,
        "p2/b.py": """
            import torch.nn as nn
            from .a import Gate

            class Stack(nn.Module):
                def __init__(self, dims=(16, 32, 8)):
                    super().__init__()
                    width = max(dims)
                    self.proj = nn.Linear(16, width)
                    self.gate = Gate(width)
            """,
    }
    b = mine(tmp_path, files)["Stack"]
    assert "def max_a(a, b)" in b.code and "max(dims)" in b.code
    out = run_alone(tmp_path, b.code, "m = Stack()\nprint(m.proj.out_features, m.gate.fc.out_features)\n")
    assert out.split() == ["32", "8"]


def test_external_star_import_does_not_shadow_builtins(tmp_path):
    files = {
        "p7/__init__.py": "",
        "p7/a.py": """
            from torch import *
            import torch.nn as nn

            class Gate(nn.Module):
                def forward(self, x):
                    return x * sigmoid(x)
            """,
        "p7/b.py": """
            import torch.nn as nn
            from .a import Gate

            class Wrap(nn.Module):
                def __init__(self, c=16, ratio=0.25):
                    super().__init__()
                    hidden = max(int(c * ratio), 1)
                    self.fc = nn.Linear(c, hidden)
                    self.gate = Gate()

                def forward(self, x):
                    return self.gate(self.fc(x))
            """,
    }
    b = mine(tmp_path, files)["Wrap"]
    assert "import *" not in b.code and "sigmoid" in b.code.split("class")[0]
    out = run_alone(tmp_path, b.code, "import torch\nm = Wrap()\nprint(tuple(m(torch.zeros(2, 16)).shape))\n")
    assert out.strip() == "(2, 4)"


def test_star_imported_name_and_aliased_definition_of_the_same_name(tmp_path):
    files = {
        "p3/__init__.py": "",
        "p3/star.py": """
            from torch.nn import *
            import torch.nn as nn

            class Linear(nn.Module):
                def __init__(self, a, b):
                    super().__init__()
                    self.w = Parameter(__import__("torch").zeros(b, a))
            """,
        "p3/star2.py": """
            from torch.nn import *
            from .star import Linear as MyLinear
            import torch.nn as nn

            class Both(nn.Module):
                def __init__(self, c=8):
                    super().__init__()
                    self.a = Linear(c, c)
                    self.b = MyLinear(c, c)
            """,
    }
    b = mine(tmp_path, files)["Both"]
    out = run_alone(tmp_path, b.code, "m = Both()\nprint(type(m.a).__module__, hasattr(m.b, 'w'))\n")
    assert out.split() == ["torch.nn.modules.linear", "True"]


# ---------------------------------------------------------------- 2. module-level mutations


def test_module_level_mutations_join_the_block_in_source_order(tmp_path):
    files = {
        "mu/__init__.py": "",
        "mu/acts.py": """
            import torch.nn as nn

            _ACTS = {}
            _ACTS["relu"] = nn.ReLU
            _ACTS.update(gelu=nn.GELU)
            _ORDER = []
            _ORDER.append("relu")
            _ORDER.append("gelu")
            DEFAULTS = {"act": "relu"}
            DEFAULTS["act"] = "gelu"
            UNRELATED = []
            UNRELATED.append(1)


            def get_act(name=None):
                return _ACTS[name or DEFAULTS["act"]]()
            """,
        "mu/net.py": """
            import torch.nn as nn

            from .acts import _ORDER, get_act


            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.acts = nn.ModuleList([get_act(n) for n in _ORDER])
                    self.default = get_act()
            """,
    }
    b = mine(tmp_path, files)["Net"]
    assert "UNRELATED" not in b.code
    out = run_alone(tmp_path, b.code, "m = Net()\nprint([type(a).__name__ for a in m.acts], type(m.default).__name__)\n")
    assert out.strip() == "['ReLU', 'GELU'] GELU"


def test_mutations_inside_module_level_for_if_and_try_join_the_block(tmp_path):
    """Only simple statements counted as mutations: a block reading ``ACTS`` got ``ACTS = {}`` alone, passed every
    stage, and built ``nn.Identity`` where the source built ``nn.GELU``."""
    files = {
        "fm/__init__.py": "",
        "fm/acts.py": """
            import torch.nn as nn

            ACTS = {}
            for _name, _cls in (("relu", nn.ReLU), ("gelu", nn.GELU)):
                ACTS[_name] = _cls
            if hasattr(nn, "SiLU"):
                ACTS["silu"] = nn.SiLU
            try:
                ACTS.update(mish=nn.Mish)
            except AttributeError:
                pass


            class Act(nn.Module):
                def __init__(self, names=("gelu", "silu", "mish")):
                    super().__init__()
                    self.acts = nn.ModuleList([ACTS.get(n, nn.Identity)() for n in names])
            """,
    }
    b = mine(tmp_path, files)["Act"]
    out = run_alone(tmp_path, b.code, "print([type(a).__name__ for a in Act().acts])\n")
    assert out.strip() == "['GELU', 'SiLU', 'Mish']"


def test_a_renamed_global_is_renamed_in_its_global_statement(tmp_path):
    """``global _FUSED`` stayed as written beside ``_FUSED_a = True``: the function set a local, and the block's output
    was half the source's while it passed every stage."""
    files = {
        "gr/__init__.py": "",
        "gr/a.py": """
            import torch.nn as nn

            _FUSED = False


            def enable_fused():
                global _FUSED
                _FUSED = True


            class Base(nn.Module):
                def __init__(self):
                    super().__init__()
                    enable_fused()

                def scale(self):
                    return 2.0 if _FUSED else 1.0
            """,
        "gr/b.py": """
            from .a import Base

            _FUSED = "b-local flag"


            class Child(Base):
                def tag(self):
                    return _FUSED
            """,
    }
    b = mine(tmp_path, files)["Child"]
    out = run_alone(tmp_path, b.code, "c = Child()\nprint(c.scale(), c.tag())\n")
    assert out.strip() == "2.0 b-local flag"


def test_a_class_attribute_named_like_a_module_constant_reads_the_constant(tmp_path):
    """In a class body ``eps = eps`` reads the module's ``eps``: it was taken for the class's own, left out, and the
    block failed at import. A module-level ``del`` is no definition: it was placed before the line that uses the name."""
    files = {
        "ca/__init__.py": "",
        "ca/norm.py": """
            import torch.nn as nn

            eps = 1e-3
            _tmp = [1, 2, 3]
            TOTAL = sum(_tmp)
            del _tmp


            class Norm(nn.Module):
                eps = eps
                total = TOTAL

                def __init__(self, dim=8):
                    super().__init__()
                    self.ln = nn.LayerNorm(dim, eps=self.eps)
            """,
    }
    b = mine(tmp_path, files)["Norm"]
    out = run_alone(tmp_path, b.code, "print(Norm().ln.eps, Norm.total)\n")
    assert out.strip() == "0.001 6"


def test_a_function_local_import_of_a_module_the_source_lacks_is_unresolved(tmp_path):
    """``from .nothere import Thing`` in ``__init__`` became ``from ms.nothere import Thing``, listed nowhere: the
    block failed at instantiate with nothing saying why."""
    files = {
        "ms/__init__.py": "",
        "ms/m.py": """
            from torch import nn


            class FromMissingSibling(nn.Module):
                def __init__(self, dim=8):
                    super().__init__()
                    from .nothere import Thing
                    self.t = Thing(dim)
            """,
    }
    assert mine(tmp_path, files)["FromMissingSibling"].unresolved == ["ms.nothere.Thing"]


# ---------------------------------------------------------------- 3. function-local imports of internal modules


def test_function_local_imports_of_internal_modules_are_inlined(tmp_path):
    files = {
        "p6/__init__.py": "",
        "p6/utils.py": """
            def helper(x):
                return x * 2


            def other(x):
                return x + 1
            """,
        "p6/lazy.py": """
            import torch.nn as nn


            class LazyMod(nn.Module):
                def forward(self, x):
                    from . import utils
                    return utils.other(x)


            class LazyClash(nn.Module):
                def forward(self, x):
                    from .utils import helper as h2
                    return h2(x)


            class LazyAbs(nn.Module):
                def forward(self, x):
                    import p6.utils
                    return p6.utils.other(x) * 10


            class LazyOpaque(nn.Module):
                def forward(self, x):
                    from . import utils
                    return getattr(utils, "other")(x)
            """,
    }
    got = mine(tmp_path, files)
    for name, want in (("LazyMod", 2), ("LazyClash", 2), ("LazyAbs", 20)):
        b = got[name]
        assert b.unresolved == [] and "p6" not in b.code, b.code
        out = run_alone(tmp_path, b.code, f"print({name}()(1))\n")
        assert out.strip() == str(want)
    # a module object used as such cannot be inlined: the block says it is not self-contained
    assert got["LazyOpaque"].unresolved == ["p6.utils"]


# ---------------------------------------------------------------- 4. imports in an if/else switch


def test_import_in_an_if_branch_with_an_alternative_is_optional(tmp_path):
    files = {
        "p12/__init__.py": "",
        "p12/norm.py": """
            import importlib.util
            import sys

            import torch.nn as nn

            if importlib.util.find_spec("apex_not_installed_here") is not None:
                from apex_not_installed_here.normalization import FusedLayerNorm as LayerNorm
            else:
                LayerNorm = nn.LayerNorm

            if sys.version_info < (3, 0):
                import cPickle as pickle
            else:
                import pickle

            if sys.version_info < (3, 0):
                import only_here_no_alternative


            class Block(nn.Module):
                def __init__(self, dim=16):
                    super().__init__()
                    self.norm = LayerNorm(dim)
                    self.blob = pickle.dumps(dim)


            class Needs(nn.Module):
                def forward(self, x):
                    return only_here_no_alternative.f(x)
            """,
    }
    got = mine(tmp_path, files)
    b = got["Block"]
    assert b.missing_deps == [] and b.unresolved == []
    out = run_alone(tmp_path, b.code, "print(type(Block().norm).__name__)\n")
    assert out.strip() == "LayerNorm"
    # only under an ``if``: optional (the block imports without it), still listed among its imports
    assert got["Needs"].missing_deps == [] and "only_here_no_alternative" in got["Needs"].external_imports


# ---------------------------------------------------------------- 5. dataclass fields under lazy annotations


def test_dataclass_classvar_and_initvar_imports_kept_under_lazy_annotations(tmp_path):
    files = {
        "dc/__init__.py": "",
        "dc/cfg.py": """
            from __future__ import annotations

            import dataclasses
            from dataclasses import InitVar, dataclass
            from typing import ClassVar, Dict


            @dataclass
            class Cfg:
                width: int = 8
                registry: ClassVar[Dict[str, int]] = {}
                scale: InitVar[int] = 1
                shift: dataclasses.InitVar[int] = 0

                def __post_init__(self, scale, shift):
                    self.width = self.width * scale + shift
            """,
        "dc/net.py": """
            import torch.nn as nn

            from .cfg import Cfg


            class Net(nn.Module):
                def __init__(self, cfg=None):
                    super().__init__()
                    cfg = cfg or Cfg(scale=2, shift=1)
                    self.fc = nn.Linear(cfg.width, 4)
            """,
    }
    b = mine(tmp_path, files)["Net"]
    snippet = "import dataclasses as _d\nprint(Net().fc.in_features, [f.name for f in _d.fields(Cfg)])\n"
    out = run_alone(tmp_path, b.code, snippet)
    assert out.strip() == "17 ['width']"


# ---------------------------------------------------------------- 6. guarded internal imports, optional packages, lazy annotations


def test_internal_imports_under_a_module_level_try_or_if_are_inlined(tmp_path):
    """``try: from .other import exists`` became ``from p13.other import exists``: the block imported the package it
    was mined from, or silently ran its fallback. Now it is inlined like a top-level import (in a function too); a name
    re-exported from outside becomes a direct import, and a guarded import of a module the source lacks runs its
    fallback."""
    files = {
        "p13/__init__.py": "",
        "p13/other.py": """
            import math as _math

            def exists(v):
                return bool(v)

            LIMIT = 3
            ROOT = _math
            """,
        "p13/guarded.py": """
            import torch.nn as nn

            try:
                from p13.other import LIMIT
                HAVE_OTHER = True
            except ImportError:
                LIMIT = 0
                HAVE_OTHER = False

            try:
                from .other import exists as _exists, ROOT
            except Exception:
                _exists = None

            if LIMIT > 1:
                from . import other as _other_mod  # a module bound at module level: left, and said so
            else:
                _other_mod = None

            try:
                from ._compiled_ext import fast_op
            except ImportError:
                fast_op = None


            class Guarded(nn.Module):
                def __init__(self, dim=8):
                    super().__init__()
                    assert HAVE_OTHER and _exists is not None, "internal import was not carried"
                    self.fc = nn.Linear(dim, dim * LIMIT + int(ROOT.sqrt(4)))
                    self.fast = fast_op
                    try:
                        from .other import LIMIT as lim
                    except ImportError:
                        lim = -1
                    self.lim = lim

                def forward(self, x):
                    return self.fc(x)


            class UsesModule(nn.Module):
                def forward(self, x):
                    return x * _other_mod.LIMIT
            """,
    }
    got = mine(tmp_path, files)
    b = got["Guarded"]
    assert b.missing_deps == [] and b.unresolved == [], (b.missing_deps, b.unresolved)
    assert not re.search(r"^\s*(from|import) p13\b", b.code, re.M), b.code
    assert "raise ImportError(" in b.code and "fast_op = None" in b.code
    out = run_alone(tmp_path, b.code, "m = Guarded(); print(m.fc.out_features, m.fast, m.lim)\n")
    assert out.split() == ["26", "None", "3"]
    assert got["UsesModule"].unresolved == ["p13.other"]


def test_import_of_an_optional_package_under_an_if_is_not_a_missing_dependency(tmp_path):
    """``if _AVAILABLE: import x`` (torchmetrics' ``scienceplots``) made the block missing_deps, so patch dropped it,
    though it imports and runs without the package. It stays listed among the block's imports."""
    files = {
        "p14/__init__.py": "",
        "p14/fancy.py": """
            import contextlib
            import importlib.util

            import torch.nn as nn

            _HAS_FANCY = importlib.util.find_spec("fancylib_not_here_xyz") is not None
            if _HAS_FANCY:
                import fancylib_not_here_xyz
            with contextlib.suppress(ImportError):
                import other_lib_not_here_xyz


            class Fancy(nn.Module):
                def __init__(self, dim=8):
                    super().__init__()
                    self.fc = nn.Linear(dim, dim)

                def forward(self, x):
                    if _HAS_FANCY:
                        return fancylib_not_here_xyz.op(self.fc(x)) + other_lib_not_here_xyz.op(x)
                    return self.fc(x)
            """,
    }
    b = mine(tmp_path, files)["Fancy"]
    assert b.missing_deps == [], b.missing_deps
    assert {"fancylib_not_here_xyz", "other_lib_not_here_xyz"} <= set(b.external_imports)
    out = run_alone(tmp_path, b.code, "import torch\nprint(tuple(Fancy()(torch.zeros(2, 8)).shape))\n")
    assert out.strip() == "(2, 8)"


def test_names_used_only_in_lazy_annotations_are_carried_when_cheap(tmp_path):
    """Under ``from __future__ import annotations`` the config dataclass of ``__init__(self, cfg: Cfg)``, the field
    types of a dataclass and ``torch`` of ``-> torch.Tensor`` were dropped: ``typing.get_type_hints`` failed and the
    example guesser could not build the block (kornia's SigLip2 blocks). A package imported only for an annotation
    (numpy here) and an nn.Module class named only in an annotation are not pulled in."""
    files = {
        "p15/__init__.py": "",
        "p15/cfg.py": """
            from __future__ import annotations

            from dataclasses import dataclass, field
            from typing import Optional


            @dataclass
            class Inner:
                scale: float = 1.0


            @dataclass
            class Cfg:
                dim: int = 8
                inner: Inner = field(default_factory=Inner)
                tag: Optional[str] = None
            """,
        "p15/late.py": """
            from __future__ import annotations

            import numpy
            import torch
            import torch.nn as nn

            from .cfg import Cfg


            class Other(nn.Module):
                def forward(self, x):
                    return x


            def to_numpy(x: torch.Tensor) -> numpy.ndarray:
                return x


            class CfgBlock(nn.Module):
                def __init__(self, cfg: Cfg):
                    super().__init__()
                    self.fc = nn.Linear(cfg.dim, cfg.dim)
                    self.scale = cfg.inner.scale

                def forward(self, x: torch.Tensor) -> torch.Tensor:
                    return self.fc(x) * self.scale

                def merge(self, other: Other) -> CfgBlock:
                    return self
            """,
    }
    b = mine(tmp_path, files)["CfgBlock"]
    assert b.missing_deps == [] and b.unresolved == []
    assert "class Cfg" in b.code and "class Inner" in b.code and "class Other" not in b.code
    assert "numpy" not in b.external_imports
    out = run_alone(tmp_path, b.code, """
        import typing
        import torch
        hints = typing.get_type_hints(CfgBlock.__init__)
        fields = typing.get_type_hints(Cfg)
        print(hints["cfg"].__name__, fields["inner"].__name__, typing.get_type_hints(CfgBlock.forward)["return"].__name__)
        print(tuple(CfgBlock(Cfg())(torch.zeros(2, 8)).shape))
        """)
    assert out.split("\n")[:2] == ["Cfg Inner Tensor", "(2, 8)"]


def test_registry_filled_by_a_decorator_in_another_module_is_carried(tmp_path):
    """``util.REGISTRY["Scaled"]`` read the empty ``REGISTRY = {}``: ``@register class Scaled`` (another module) fills
    it when decorated, so the block needs that definition too; only the keys it reads, not the whole registry."""
    files = {
        "p16/__init__.py": "",
        "p16/util.py": """
            REGISTRY = {}
            NAMED = {}

            def register(cls):
                REGISTRY[cls.__name__] = cls
                return cls

            def register_as(name):
                def deco(fn):
                    NAMED.update({name: fn})
                    return fn
                return deco
            """,
        "p16/layers.py": """
            import torch.nn as nn
            from .util import register, register_as


            @register
            class Scaled(nn.Module):
                def __init__(self, dim=8):
                    super().__init__()
                    self.fc = nn.Linear(dim, dim)

                def forward(self, x):
                    return self.fc(x) * 2


            @register
            class Unused(nn.Module):
                pass


            @register_as("double")
            def twice(x):
                return x * 2
            """,
        "p16/blocks.py": """
            import torch.nn as nn
            from . import util
            from .util import NAMED


            class Tagged(nn.Module):
                kind = util.REGISTRY.get("Scaled").__name__

                def __init__(self, dim=8):
                    super().__init__()
                    self.inner = util.REGISTRY["Scaled"](dim)

                def forward(self, x):
                    return NAMED["double"](self.inner(x))
            """,
    }
    b = mine(tmp_path, files)["Tagged"]
    assert b.unresolved == [] and "class Unused" not in b.code
    out = run_alone(tmp_path, b.code, "import torch\nprint(Tagged.kind, tuple(Tagged()(torch.zeros(2, 8)).shape))\n")
    assert out.split() == ["Scaled", "(2,", "8)"]


def test_a_guarded_own_import_whose_module_needs_a_missing_package_keeps_its_fallback(tmp_path):
    """``try: from .other import exists / except ImportError: exists = None``, where ``other`` imports a package that is
    not installed, was inlined with ``import fancylib`` unguarded at the top of the block: the block failed at import
    where the package ran its fallback."""
    files = {
        "p17/__init__.py": "",
        "p17/other.py": """
            import fancylib_not_here_xyz


            def exists(x):
                return fancylib_not_here_xyz.f(x)
            """,
        "p17/net.py": """
            import torch.nn as nn

            try:
                from .other import exists
            except ImportError:
                exists = None


            class GuardedMissing(nn.Module):
                def __init__(self, dim=8):
                    super().__init__()
                    self.fc = nn.Linear(dim, dim)

                def forward(self, x):
                    y = self.fc(x)
                    return y if exists is None else exists(y)
            """,
    }
    b = mine(tmp_path, files)["GuardedMissing"]
    assert b.missing_deps == [] and not re.search(r"^\s*import fancylib_not_here_xyz", b.code, re.M), b.code
    assert "raise ImportError(" in b.code and not re.search(r"^\s*(from|import) p17\b", b.code, re.M), b.code
    out = run_alone(tmp_path, b.code, "import torch\nprint(tuple(GuardedMissing()(torch.zeros(2, 8)).shape))\n")
    assert out.strip() == "(2, 8)"


def test_an_annotation_only_class_that_needs_another_package_is_not_carried(tmp_path):
    """Under lazy annotations, ``cfg: Cfg | None`` carried ``Cfg``, whose default reads a package the block does not
    otherwise import (and that is not installed): the block failed at import for an annotation that never runs."""
    files = {
        "p18/__init__.py": "",
        "p18/heavy.py": """
            from dataclasses import dataclass

            import fancylib_not_here_xyz


            @dataclass
            class Cfg:
                dim: int = 8
                scale: float = fancylib_not_here_xyz.DEFAULT_SCALE
            """,
        "p18/lazy.py": """
            from __future__ import annotations

            import torch.nn as nn

            from .heavy import Cfg


            class LazyCfg(nn.Module):
                def __init__(self, cfg: Cfg | None = None, dim: int = 8):
                    super().__init__()
                    self.fc = nn.Linear(dim, dim)

                def forward(self, x):
                    return self.fc(x)
            """,
    }
    b = mine(tmp_path, files)["LazyCfg"]
    assert "class Cfg" not in b.code and "fancylib_not_here_xyz" not in b.code and b.missing_deps == [], b.code
    out = run_alone(tmp_path, b.code, "import torch\nprint(tuple(LazyCfg()(torch.zeros(2, 8)).shape))\n")
    assert out.strip() == "(2, 8)"


def test_quoted_annotations_carry_their_names_like_unquoted_ones(tmp_path):
    """``cfg: "ModelCfg"`` and ``cfg: "cfgmod.ModelCfg"`` (no ``__future__`` import) did not carry ``ModelCfg``: the
    string was never read, so the example guesser passed an int for ``cfg``. A quoted annotation is a forward
    reference ``typing`` evaluates: its names follow the rule of lazy annotations (cheap definitions carried,
    ``cfgmod.ModelCfg`` written ``ModelCfg``, an nn.Module class not pulled in), a name that clashes is renamed inside
    the string too, and ``Literal["Other"]`` values are no references."""
    files = {
        "q1/__init__.py": "",
        "q1/cfgmod.py": """
            from dataclasses import dataclass


            @dataclass
            class ModelCfg:
                dim: int = 8


            @dataclass
            class Extra:
                scale: float = 2.0
            """,
        "q1/other.py": """
            import torch.nn as nn


            class Other(nn.Module):
                def forward(self, x):
                    return x
            """,
        "q1/blocks.py": """
            from typing import Literal, Optional

            import torch
            import torch.nn as nn

            from . import cfgmod
            from .cfgmod import ModelCfg
            from .other import Other


            class Extra:  # clashes with cfgmod.Extra: one of the two is renamed in the block
                pass


            class ByName(nn.Module):
                def __init__(self, cfg: "ModelCfg", extra: 'Optional["cfgmod.Extra"]' = None, mode: Literal["Other"] = "Other"):
                    super().__init__()
                    self.fc = nn.Linear(cfg.dim, cfg.dim)
                    self.local = Extra()

                def forward(self, x: "torch.Tensor") -> "torch.Tensor":
                    return self.fc(x)

                def merge(self, other: "Other") -> "ByName":
                    return self


            class ByModule(nn.Module):
                def __init__(self, cfg: "cfgmod.ModelCfg"):
                    super().__init__()
                    self.fc = nn.Linear(cfg.dim, cfg.dim)

                def forward(self, x):
                    return self.fc(x)
            """,
    }
    blocks = mine(tmp_path, files)
    by_name, by_module = blocks["ByName"], blocks["ByModule"]
    for b in (by_name, by_module):
        assert "class ModelCfg" in b.code and "class Other" not in b.code and b.unresolved == [] and b.missing_deps == []
    assert 'cfg: "ModelCfg"' in by_module.code
    assert by_name.code.count("class Extra") == 2
    out = run_alone(tmp_path, by_name.code, """
        import typing
        import torch
        hints = typing.get_type_hints(ByName.__init__)
        print(hints["cfg"].__name__, typing.get_args(hints["extra"])[0]().scale, typing.get_args(hints["mode"]))
        print(tuple(ByName(ModelCfg())(torch.zeros(2, 8)).shape))
        """)
    assert out.split("\n")[:2] == ["ModelCfg 2.0 ('Other',)", "(2, 8)"]


def test_relative_import_above_the_indexed_package_is_unresolved_not_a_missing_package(tmp_path):
    """Indexing ``mynet/layers`` alone: ``from ..config import BN_EPS`` in ``layers/conv.py`` climbs above the
    source's top package (Python: "attempted relative import beyond top-level package"). It became ``from config
    import BN_EPS`` and ``config`` a missing pip package; now the names and the import are unresolved."""
    files = {
        "layers/__init__.py": "from .conv import ConvAct\n",
        "layers/conv.py": """
            import torch.nn as nn

            from ..config import BN_EPS
            from .util import double


            class ConvAct(nn.Module):
                def __init__(self, chs):
                    super().__init__()
                    self.bn = nn.BatchNorm2d(double(chs), eps=BN_EPS)

                def forward(self, x):
                    return self.bn(x)
            """,
        "layers/util.py": """
            def double(x):
                return 2 * x
            """,
    }
    b = mine(tmp_path, files)["ConvAct"]
    assert "config" not in b.missing_deps and "config" not in b.external_imports
    assert "from config" not in b.code and "def double" in b.code
    assert set(b.unresolved) == {"BN_EPS", "..config"}


def test_a_name_reassigned_below_a_definition_keeps_its_value_at_definition_time(tmp_path):
    """A later ``DEFAULT_ACT = "silu"`` (or ``W = 50.0``, ``Base = None``) was emitted before the class, so defaults,
    class attributes and bases read the module's last value: ``ConvAct().act`` was SiLU where the source has ReLU,
    and the block passed every stage. Methods reading the name when called still see the last value."""
    files = {
        "ra/__init__.py": "",
        "ra/m.py": """
            import torch.nn as nn

            ACTS = {"relu": nn.ReLU, "silu": nn.SiLU}
            DEFAULT_ACT = "relu"
            W = 2.0


            def helper(x, k=W):
                return x * k


            class Base(nn.Module):
                pass


            Alias = Base


            class ConvAct(Alias):
                w = W

                def __init__(self, act=DEFAULT_ACT):
                    super().__init__()
                    self.act = ACTS[act]()

                def late(self):
                    return W

                def forward(self, x):
                    return helper(x) * self.w


            DEFAULT_ACT = "silu"
            W = 50.0
            Base = None
            """,
    }
    b = mine(tmp_path, files)["ConvAct"]
    out = run_alone(tmp_path, b.code, "m = ConvAct()\nprint(type(m.act).__name__, m(1.0), m.late())\n")
    assert out.split() == ["ReLU", "4.0", "50.0"], b.code


def test_a_star_import_below_an_import_of_the_same_name_wins_as_in_python(tmp_path):
    """``from .b import Block`` then ``from .a import *``: Python binds a's Block; the block took b's (its output
    50 times the source's, every stage passed)."""
    files = {
        "st/__init__.py": "",
        "st/a.py": """
            import torch.nn as nn
            __all__ = ["Block"]


            class Block(nn.Module):
                def forward(self, x):
                    return x * 2
            """,
        "st/b.py": """
            import torch.nn as nn


            class Block(nn.Module):
                def forward(self, x):
                    return x * 100
            """,
        "st/user.py": """
            import torch.nn as nn
            from .b import Block
            from .a import *


            class Probe(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.blk = Block()

                def forward(self, x):
                    return self.blk(x)
            """,
    }
    b = mine(tmp_path, files)["Probe"]
    assert run_alone(tmp_path, b.code, "print(Probe()(1))\n").strip() == "2", b.code


def test_a_module_level_call_that_sets_globals_joins_the_block(tmp_path):
    """``set_layer_config(fused=True, scale=4.0)`` at module level (a function that sets ``_USE_FUSED`` through
    ``global`` and ``_CFG["scale"]``) was dropped: the block computed 1.0 where the source computes 40.0."""
    files = {
        "gc/__init__.py": "",
        "gc/m.py": """
            import torch.nn as nn

            _USE_FUSED = False
            _CFG = {"scale": 1.0}


            def set_layer_config(fused=None, scale=None):
                global _USE_FUSED
                if fused is not None:
                    _USE_FUSED = fused
                if scale is not None:
                    _CFG["scale"] = scale


            set_layer_config(fused=True, scale=4.0)


            class Cfgd(nn.Module):
                def forward(self, x):
                    return x * _CFG["scale"] * (10 if _USE_FUSED else 1)
            """,
    }
    b = mine(tmp_path, files)["Cfgd"]
    assert run_alone(tmp_path, b.code, "print(Cfgd()(1.0))\n").strip() == "40.0", b.code


def test_a_class_defined_under_the_main_guard_is_no_block(tmp_path):
    """vit-pytorch's ``MockMasker``, defined under ``if __name__ == "__main__":``, was mined as a block whose code never
    defines it at module level (the guard's body does not run on import), and what the guard's body mutates is not
    carried into blocks."""
    files = {
        "mg/__init__.py": "",
        "mg/m.py": """
            import torch.nn as nn

            ACTS = {}


            class Real(nn.Module):
                def forward(self, x):
                    return x * len(ACTS)


            if __name__ == "__main__":
                class MockMasker(nn.Module):
                    pass

                ACTS["mock"] = MockMasker
            """,
    }
    blocks = mine(tmp_path, files)
    assert "MockMasker" not in blocks and "__main__" not in blocks["Real"].code
    assert run_alone(tmp_path, blocks["Real"].code, "print(Real()(2))\n").strip() == "0", blocks["Real"].code


def test_an_imported_name_rebound_below_its_reader_still_defines_it(tmp_path):
    """``from .cfg import W``, ``def __init__(self, k=W)``, then ``W = 11``: with the rebinding moved after the class
    and the import not carried, the block raised NameError. It runs (the default reads the module's W)."""
    files = {
        "ir/__init__.py": "",
        "ir/cfg.py": "W = 5\n",
        "ir/m.py": """
            import torch.nn as nn
            from .cfg import W


            class E(nn.Module):
                def __init__(self, k=W):
                    super().__init__()
                    self.k = k

                def forward(self, x):
                    return W


            W = 11
            """,
    }
    b = mine(tmp_path, files)["E"]
    assert run_alone(tmp_path, b.code, "print(E()(0))\n").strip() == "11", b.code


def test_globals_set_through_another_function_or_a_used_result_join_the_block(tmp_path):
    """A module-level ``_outer()`` calling the setter, ``old = D.pop("a")`` and ``T.mul_(4)`` inside the called
    function were not read as setting module-level names: the block computed with the names as first defined."""
    files = {
        "gs/__init__.py": "",
        "gs/m.py": """
            import torch
            import torch.nn as nn

            X = 0
            D = {"a": 1, "b": 2}
            T = torch.ones(3)


            def _set_x(v):
                global X
                X = v


            def _outer():
                _set_x(100)
                old = D.pop("a")
                T.mul_(4)
                return old


            _outer()


            class Reader(nn.Module):
                def forward(self, x):
                    return X, sorted(D), T.tolist()
            """,
    }
    b = mine(tmp_path, files)["Reader"]
    assert run_alone(tmp_path, b.code, "print(Reader()(0))\n").strip() == "(100, ['b'], [4.0, 4.0, 4.0])", b.code


def test_a_module_mutating_a_name_it_imports_joins_the_blocks_reading_it(tmp_path):
    """``from .cfg import CFG`` then ``CFG["k"] = 42`` in the block's own module was dropped: the block read the dict
    as cfg defines it (1 where the source reads 42)."""
    files = {
        "mm/__init__.py": "",
        "mm/cfg.py": "CFG = {'k': 1}\nORDER = []\n",
        "mm/m.py": """
            import torch.nn as nn
            from .cfg import CFG, ORDER

            ORDER.append("m")


            class Reads(nn.Module):
                table = dict(CFG)

                def forward(self, x):
                    return self.table["k"], CFG["k"], list(ORDER)


            CFG["k"] = 42
            """,
    }
    b = mine(tmp_path, files)["Reads"]
    assert run_alone(tmp_path, b.code, "print(Reads()(0))\n").strip() == "(1, 42, ['m'])", b.code


def test_names_read_by_functions_called_at_definition_time_keep_their_value_then(tmp_path):
    """``act=get_act()`` and a decorator reading ``DEFAULT_ACT``: the ``DEFAULT_ACT = "silu"`` written at the end of
    the file was emitted before the class (the names are read inside the functions, at call time, which is the class's
    definition time): SiLU where the source builds ReLU."""
    files = {
        "dt/__init__.py": "",
        "dt/m.py": """
            import torch.nn as nn

            DEFAULT_ACT = "relu"
            ACTS = {"relu": nn.ReLU, "silu": nn.SiLU}


            def get_act():
                return ACTS[DEFAULT_ACT]


            def tag(cls):
                cls.tagged = DEFAULT_ACT
                return cls


            @tag
            class Conv(nn.Module):
                def __init__(self, act=get_act()):
                    super().__init__()
                    self.act = act()

                def forward(self, x):
                    return type(self.act).__name__, self.tagged, get_act().__name__


            DEFAULT_ACT = "silu"
            """,
    }
    b = mine(tmp_path, files)["Conv"]
    assert run_alone(tmp_path, b.code, "print(Conv()(0))\n").strip() == "('ReLU', 'relu', 'SiLU')", b.code
