"""Scope-closed blocks run alone: each test mines a small source tree, runs the block's
code in a separate python process (away from the source tree) and checks that it
builds and behaves as the source does."""

from __future__ import annotations

import os
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
    assert got["Needs"].missing_deps == ["only_here_no_alternative"]


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
