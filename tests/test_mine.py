"""Mining scope-closed blocks: a fixture package written in the test, golden outputs,
determinism, and torchvision's resnet mined from the installed package.

Mined code is only compiled here; running it happens in a separate python process."""

from __future__ import annotations

import ast
import os
import random
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "fixtures"))

from mine_fixpkg import write_package  # noqa: E402

from corpus.sources import open_source  # noqa: E402
from indexer.mine import MineReport, mine_files  # noqa: E402


@pytest.fixture(scope="module")
def fixture_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("fix")
    pkg = write_package(root)
    return list(open_source(f"dir:{pkg}", root / "cache").files())


@pytest.fixture(scope="module")
def blocks(fixture_files):
    report = MineReport()
    mined = mine_files(fixture_files, report)
    assert report.parse_errors == {} and report.compile_errors == {}
    return {b.qualified_name: b for b in mined}


def defined_names(code: str) -> list[str]:
    """Top-level names a block defines, in order."""
    out = []
    for stmt in ast.parse(code).body:
        if isinstance(stmt, (ast.FunctionDef, ast.ClassDef)):
            out.append(stmt.name)
        elif isinstance(stmt, ast.Assign):
            out.extend(t.id for t in stmt.targets if isinstance(t, ast.Name))
    return out


def test_every_module_class_and_only_those(blocks):
    assert sorted(blocks) == [
        "fixpkg.layers.acts.Swish",
        "fixpkg.layers.mlp.GatedMlp",
        "fixpkg.layers.mlp.Mlp",
        "fixpkg.models.base.Base",
        "fixpkg.models.broken.Broken",
        "fixpkg.models.cyc_b.Cycle",
        "fixpkg.models.hidden.UsesHidden",
        "fixpkg.models.needs_ext.NeedsExt",
        "fixpkg.models.net.Net",
    ]
    for b in blocks.values():
        compile(b.code, b.qualified_name, "exec")


GOLDEN_CYCLE = '''\
from torch import nn


def a_step(n):
    return 0 if n <= 0 else b_step(n - 1)


def b_step(n):
    return 0 if n <= 0 else a_step(n - 1)


class Cycle(nn.Module):
    def forward(self, x):
        return x + b_step(3)
'''


def test_golden_cycle(blocks):
    assert blocks["fixpkg.models.cyc_b.Cycle"].code == GOLDEN_CYCLE


GOLDEN_MLP = '''\
import torch
from torch import nn


if hasattr(torch, "compile"):
    USE_COMPILE = True
else:
    USE_COMPILE = False


DEFAULT_RATIO = 4


_ACTS = {"relu": nn.ReLU, "gelu": nn.GELU}


def get_act(name):
    return _ACTS[name]


def _scale_helpers(x):
    return x * 2


def make_divisible(v, divisor=8):
    return max(divisor, int(v + divisor / 2) // divisor * divisor)


try:
    from einops import rearrange
except ImportError:
    rearrange = None


def _scale(x):
    return x + 1


_BLOCKS = {}


def register_block(cls):
    _BLOCKS[cls.__name__] = cls
    return cls


@register_block
class Mlp(nn.Module):
    """Two linear layers."""

    def __init__(self, dim, ratio=DEFAULT_RATIO, act="gelu"):
        super().__init__()
        hidden = make_divisible(dim * ratio)
        self.fc1 = nn.Linear(dim, hidden)
        self.act = get_act(act)()
        self.fc2 = nn.Linear(hidden, dim)

    @property
    def compiled(self):
        return USE_COMPILE

    @staticmethod
    def twice(x):
        return _scale_helpers(_scale(x))

    def forward(self, x):
        if rearrange is not None:
            x = rearrange(x, "b c -> b c")
        return self.fc2(self.act(self.fc1(x)))
'''


def test_golden_mlp(blocks):
    """Relative imports, an aliased import (mkdiv), a module used as a namespace
    (helpers._scale), a name clash (two _scale), a registry decorator, an if-guarded
    constant and a try/except ImportError fallback, all as the source has them."""
    b = blocks["fixpkg.layers.mlp.Mlp"]
    assert b.code == GOLDEN_MLP
    assert b.signature == "(self, dim, ratio=DEFAULT_RATIO, act='gelu')"
    assert b.docstring == "Two linear layers."
    assert b.external_imports == ["einops", "torch"]
    assert b.missing_deps == []  # einops is optional here: imported under try/except ImportError
    assert b.unresolved == []
    prov = b.provenance
    assert (prov.module, prov.path, prov.qualified_name) == ("fixpkg.layers.mlp", "fixpkg/layers/mlp.py", "fixpkg.layers.mlp.Mlp")
    assert (prov.line_start, prov.line_end) == (19, 41)  # decorator included


def test_inheritance_across_modules_and_reexports(blocks):
    """Net subclasses Base (another module); Mlp comes through fixpkg.layers' __init__ and
    Swish through its star import; a loop variable that shadows Mlp stays local."""
    b = blocks["fixpkg.models.net.Net"]
    names = defined_names(b.code)
    assert names.index("Base") < names.index("Net") and names.index("Mlp") < names.index("Net")
    assert {"Swish", "Config", "register_block", "_BLOCKS", "get_act"} <= set(names)
    assert names.count("Mlp") == 1 and b.unresolved == []
    # the renamed helper keeps its references consistent inside Mlp.twice
    clash = [n for n in names if n.startswith("_scale")]
    assert sorted(clash) == ["_scale", "_scale_mlp"] and "return _scale(_scale_mlp(x))" in b.code
    assert blocks["fixpkg.layers.mlp.GatedMlp"].signature == blocks["fixpkg.layers.mlp.Mlp"].signature


def test_unresolved_names_are_recorded_never_guessed(blocks):
    b = blocks["fixpkg.models.broken.Broken"]
    # ``size`` is a class attribute, invisible inside methods; undefined_helper lives in
    # an unrelated module that broken.py never imports.
    assert b.unresolved == ["size", "undefined_helper"]
    assert "def undefined_helper" not in b.code
    hidden = blocks["fixpkg.models.hidden.UsesHidden"]
    assert hidden.unresolved == ["hidden_helper"]  # not in acts.__all__: the star import hides it


def test_missing_external_dependency(blocks):
    b = blocks["fixpkg.models.needs_ext.NeedsExt"]
    assert b.external_imports == ["not_a_real_pkg_xyz", "torch"]
    assert b.missing_deps == ["not_a_real_pkg_xyz"]
    assert b.code.startswith("import not_a_real_pkg_xyz\nfrom torch import nn\n")


def test_deterministic_whatever_the_file_order(fixture_files):
    first = mine_files(fixture_files)
    shuffled = list(fixture_files)
    random.Random(0).shuffle(shuffled)
    again = mine_files(shuffled)
    assert [b.to_dict() for b in again] == [b.to_dict() for b in first]
    order = [(b.provenance.module, b.provenance.line_start) for b in first]
    assert order == sorted(order)  # blocks come in (module, line) order


def test_scope_rules(tmp_path):
    """Comprehension targets, lambda args, walrus targets, globals declared in functions,
    class attributes and function-local imports, each classified like Python does."""
    files = {
        "sc/__init__.py": "",
        "sc/m.py": """
            import torch
            from torch import nn

            COUNT = 0
            WIDTH = 4


            def bump():
                global COUNT
                COUNT += 1


            class S(nn.Module):
                k = WIDTH

                def forward(self, x):
                    from .util import twice
                    from . import util as u
                    ys = [y * 2 for y in range(3) if (z := y)]
                    f = lambda a, b=WIDTH: a + b
                    bump()
                    return twice(x) + f(len(ys)) + z + self.k
            """,
        "sc/util.py": """
            def twice(x):
                return 2 * x
            """,
    }
    pkg = write_package(tmp_path, files)
    (b,) = mine_files(list(open_source(f"dir:{pkg}", tmp_path).files()))
    assert b.unresolved == []
    # a function-local import of an internal definition (a cycle breaker) is inlined too;
    # one of a module object stays, made absolute
    assert defined_names(b.code) == ["WIDTH", "COUNT", "bump", "twice", "S"]
    assert "from .util import twice" not in b.code and "from sc import util as u" in b.code


def test_torchvision_resnet_blocks_compile_and_run(tmp_path):
    files = list(open_source("pkg:torchvision.models", tmp_path).files())
    files = [f for f in files if f.module in ("torchvision.models", "torchvision.models.resnet", "torchvision.models._api", "torchvision.models._utils")]
    got = {b.name: b for b in mine_files(files)}
    for name in ("BasicBlock", "Bottleneck", "ResNet"):
        assert name in got and got[name].unresolved == [] and got[name].missing_deps == []
        compile(got[name].code, name, "exec")
    resnet = got["ResNet"]
    assert {"conv1x1", "conv3x3", "BasicBlock", "Bottleneck", "ResNet"} <= set(defined_names(resnet.code))
    assert resnet.external_imports == ["torch", "torchvision", "typing"]
    # executability smoke test, in a separate process (never in the miner's process)
    script = tmp_path / "run_resnet.py"
    script.write_text(
        resnet.code
        + textwrap.dedent(
            """
            torch.set_num_threads(1)
            m = ResNet(BasicBlock, [1, 1, 1, 1], num_classes=10)
            y = m(torch.randn(2, 3, 32, 32))
            y.sum().backward()
            print(tuple(y.shape))
            """
        )
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "(2, 10)"


def test_blocks_do_not_depend_on_what_was_mined_before(fixture_files, blocks):
    """Each block, assembled alone with a fresh assembler, equals the one mined with all
    the others (shared caches never leak one block's renames into another)."""
    from indexer.closure import BlockAssembler
    from indexer.mine import build_graph, module_classes

    graph, _ = build_graph(fixture_files)
    for root, _cls in module_classes(graph):
        assert BlockAssembler(graph).assemble(root).code == blocks[f"{root.module}.{root.name}"].code


def test_rename_of_a_name_bound_by_a_guarded_import(tmp_path):
    files = {
        "tp/__init__.py": "",
        "tp/a.py": """
            try:
                from math import tau as TAU
            except ImportError:
                TAU = 6.283


            def full_turn():
                return TAU
            """,
        "tp/b.py": """
            from torch import nn

            from .a import full_turn

            TAU = 2


            class Turn(nn.Module):
                def forward(self, x):
                    return x * TAU + full_turn()
            """,
    }
    pkg = write_package(tmp_path, files)
    first = mine_files(list(open_source(f"dir:{pkg}", tmp_path).files()))
    (b,) = first
    assert "from math import tau as TAU_a" in b.code and "    TAU_a = 6.283" in b.code
    assert "return TAU_a" in b.code and "return x * TAU + full_turn()" in b.code and "\nTAU = 2\n" in b.code
    compile(b.code, "turn", "exec")


def test_package_binding_wins_over_same_named_submodule(tmp_path):
    """``from q.layers import make`` is the function q.layers' __init__ imports from its
    submodule q.layers.make, as in Python, not the submodule."""
    files = {
        "q/__init__.py": "",
        "q/layers/__init__.py": "from .make import make\n",
        "q/layers/make.py": "def make(n):\n    return n + 1\n",
        "q/m.py": "from torch import nn\n\nfrom q.layers import make\n\n\nclass M(nn.Module):\n    def forward(self, x):\n        return x * make(1)\n",
    }
    pkg = write_package(tmp_path, files)
    (b,) = mine_files(list(open_source(f"dir:{pkg}", tmp_path).files()))
    assert defined_names(b.code) == ["make", "M"] and "import q" not in b.code and b.unresolved == []


def test_redefinitions_keep_source_order(tmp_path):
    """A fallback redefined under an ``if`` (torchvision.extension's ``_has_ops``) must be
    emitted after the plain definition, or the fallback silently wins."""
    files = {
        "r/__init__.py": "",
        "r/ext.py": "def load():\n    return True\n\n\ndef has_ops():\n    return False\n\n\nif load():\n\n    def has_ops():\n        return True\n\n\ndef check():\n    if not has_ops():\n        raise RuntimeError('no ops')\n",
        "r/m.py": "from torch import nn\n\nfrom r.ext import check\n\n\nclass M(nn.Module):\n    def forward(self, x):\n        check()\n        return x\n",
    }
    pkg = write_package(tmp_path, files)
    (b,) = mine_files(list(open_source(f"dir:{pkg}", tmp_path).files()))
    assert b.unresolved == []
    assert b.code.index("return False") < b.code.index("if load():") < b.code.index("def check")
    namespace: dict = {}
    exec(compile(b.code, "m", "exec"), namespace)  # definitions only: nothing of the block runs
    namespace["check"]()


def test_builder_config_classes_join_the_block(tmp_path):
    """A network whose constructor takes a block type gets the same-module classes its
    builder functions pass it, so the call-site guesses can build it."""
    files = {
        "s/__init__.py": "",
        "s/net.py": textwrap.dedent(
            """
            from torch import nn


            class Unused(nn.Module):
                pass


            class Blk(nn.Module):
                def __init__(self, c):
                    super().__init__()
                    self.conv = nn.Conv2d(c, c, 3, padding=1)


            class Net(nn.Module):
                def __init__(self, block, layers, num_classes=10):
                    super().__init__()
                    self.blocks = nn.Sequential(*[block(3) for _ in range(sum(layers))])


            def _create(**kwargs):
                return Net(**kwargs)


            def net18():
                model_args = dict(block=Blk, layers=[2, 2])
                return _create(**model_args)
            """
        ),
    }
    pkg = write_package(tmp_path, files)
    got = {b.name: b for b in mine_files(list(open_source(f"dir:{pkg}", tmp_path).files()))}
    assert defined_names(got["Net"].code) == ["Blk", "Net"]
    assert defined_names(got["Blk"].code) == ["Blk"]


def test_installed_enum_classes_are_imported_not_copied(tmp_path):
    """torchvision compares interpolation modes by identity: a copied InterpolationMode is
    a different type, so blocks of installed packages import Enum classes."""
    files = [f for f in open_source("pkg:torchvision.transforms", tmp_path).files() if f.module.startswith("torchvision.transforms.")]
    got = {b.qualified_name: b for b in mine_files(files)}
    rotation = got["torchvision.transforms.transforms.RandomRotation"]
    assert "class InterpolationMode" not in rotation.code
    assert "from torchvision.transforms.functional import InterpolationMode" in rotation.code or "InterpolationMode," in rotation.code


def test_script_style_imports_of_sibling_files_are_inlined(tmp_path):
    """``python code/train.py`` puts code/ first on sys.path, so ``from layers import ConvX`` in code/model.py is
    code/layers.py; it was read as a pip package named ``layers`` (missing_deps, and the block failed at import)."""
    code = tmp_path / "repo" / "code"
    (code / "utils").mkdir(parents=True)
    (code / "layers.py").write_text("from torch import nn\n\nclass ConvX(nn.Module):\n    def __init__(self, c=4):\n"
                                    "        super().__init__()\n        self.l = nn.Linear(c, c)\n\n    def forward(self, x):\n"
                                    "        return self.l(x)\n")
    (code / "utils" / "misc.py").write_text("def width(c):\n    return 2 * c\n")
    (code / "model.py").write_text(textwrap.dedent("""\
        import torch
        from torch import nn
        import layers
        from layers import ConvX
        from utils.misc import width


        class ScriptNet(nn.Module):
            def __init__(self):
                super().__init__()
                self.a = ConvX(4)
                self.b = layers.ConvX(width(2))

            def forward(self, x):
                return self.b(self.a(x))
        """))
    blocks = {b.qualified_name: b for b in mine_files(list(open_source(f"dir:{tmp_path / 'repo'}", tmp_path / "cache").files()))}
    net = blocks["code.model.ScriptNet"]
    assert net.missing_deps == [] and net.unresolved == [], (net.missing_deps, net.unresolved)
    namespace: dict = {}
    exec(compile(net.code, "block", "exec"), namespace)  # noqa: S102 - our own fixture code
    import torch

    assert namespace["ScriptNet"]()(torch.zeros(2, 4)).shape == (2, 4)


def test_classes_defined_under_a_module_level_try_or_if_are_blocks(tmp_path):
    """``try: from apex... import FusedLayerNorm as LayerNorm`` / ``except ImportError: class LayerNorm(nn.Module)``
    (BERT-style code) and ``if``/``else`` definitions: blocks of their own, the whole statement as their code. They were
    inlined into their users only, so ``nnrag block LayerNorm`` found nothing."""
    from indexer.examples import constructor_candidates

    pkg = tmp_path / "bert"
    pkg.mkdir()
    (pkg / "norm.py").write_text(textwrap.dedent("""\
        import torch
        from torch import nn

        try:
            from apex.normalization import FusedLayerNorm as BertLayerNorm
        except ImportError:
            class BertLayerNorm(nn.Module):
                def __init__(self, hidden_size, eps=1e-12):
                    super().__init__()
                    self.weight = nn.Parameter(torch.ones(hidden_size))
                    self.eps = eps

                def forward(self, x):
                    return self.weight * (x - x.mean(-1, keepdim=True)) / (x.var(-1, keepdim=True) + self.eps).sqrt()

        if hasattr(nn, "NoSuchActivation"):
            Act = nn.NoSuchActivation
        else:
            class Act(nn.Module):
                def forward(self, x):
                    return x * torch.sigmoid(x)
        """))
    blocks = {b.qualified_name: b for b in mine_files(list(open_source(f"dir:{pkg}", tmp_path / "cache").files()))}
    assert set(blocks) == {"norm.BertLayerNorm", "norm.Act"}
    norm = blocks["norm.BertLayerNorm"]
    assert norm.signature == "(self, hidden_size, eps=1e-12)" and "except ImportError:" in norm.code
    assert constructor_candidates(norm, [])[0].init_kwargs == {"hidden_size": 32}  # the guesser reads the class inside the try
    import torch

    for block, args in ((norm, (8,)), (blocks["norm.Act"], ())):
        namespace: dict = {}
        exec(compile(block.code, "block", "exec"), namespace)  # noqa: S102 - our own fixture code
        assert namespace[block.name](*args)(torch.ones(2, 8)).shape == (2, 8)


def test_a_docstring_written_in_init_is_the_blocks_docstring(tmp_path):
    """timm documents blocks in ``__init__`` (``CoordAttn``: "Coordinate Attention module"); search and the embedding
    read the block's docstring, which was empty for them."""
    pkg = tmp_path / "p"
    pkg.mkdir()
    (pkg / "att.py").write_text(textwrap.dedent('''\
        from torch import nn


        class CoordAttn(nn.Module):
            def __init__(self, channels):
                """Coordinate Attention module for mobile networks."""
                super().__init__()
                self.fc = nn.Linear(channels, channels)

            def forward(self, x):
                return self.fc(x)


        class Own(nn.Module):
            """Its own docstring wins."""

            def __init__(self):
                """Not this one."""
                super().__init__()
        '''))
    blocks = {b.name: b for b in mine_files(list(open_source(f"dir:{pkg}", tmp_path / "cache").files()))}
    assert blocks["CoordAttn"].docstring == "Coordinate Attention module for mobile networks."
    assert blocks["Own"].docstring == "Its own docstring wins."


def test_autograd_functions_and_abcs_that_define_forward_are_not_blocks(tmp_path):
    """``torch.autograd.Function`` (its base ``torch._C._FunctionBase`` is compiled) and ``abc.ABC`` (frozen in
    CPython) could not be read, so "defines forward" made their subclasses blocks that failed with EntryNotModule.
    A base that really is unknown (a package not installed here) keeps that fallback."""
    from indexer.imports import external_is_module_class

    files = {
        "fnpkg/__init__.py": "",
        "fnpkg/fns.py": """
            from abc import ABC, abstractmethod

            import torch
            import torch.nn as nn
            from torch.autograd import Function
            import not_installed_pkg_xyz


            class Double(torch.autograd.Function):
                @staticmethod
                def forward(ctx, x):
                    return x * 2

                @staticmethod
                def backward(ctx, g):
                    return g * 2


            class Triple(Function):
                @staticmethod
                def forward(ctx, x):
                    return x * 3


            class Backend(ABC):
                @abstractmethod
                def forward(self, x):
                    ...


            class Onnx(Backend):
                def forward(self, x):
                    return x


            class Mystery(not_installed_pkg_xyz.Base):
                def forward(self, x):
                    return x


            class UsesFn(nn.Module):
                def forward(self, x):
                    return Double.apply(x) + Triple.apply(x)
            """,
    }
    pkg = write_package(tmp_path, files)
    names = sorted(b.name for b in mine_files(list(open_source(f"dir:{pkg}", tmp_path / "cache").files())))
    assert names == ["Mystery", "UsesFn"]
    assert external_is_module_class("torch.autograd.Function") is False
    assert external_is_module_class("abc.ABC") is False
    assert external_is_module_class("torch.nn.Conv2d") is True


def test_submodule_imported_from_a_namespace_package_is_inlined(tmp_path):
    """In a package without ``__init__.py``, ``from nspkg import helpers`` is the file nspkg/helpers.py; it was kept as
    an import of a pip package ``nspkg`` (missing_deps, the block failed at import: pytorch-tabnet's TabNet)."""
    files = {
        "nspkg/helpers.py": """
            import torch.nn as nn

            class Gate(nn.Module):
                def forward(self, x):
                    return x.sigmoid() * x

            def width(c):
                return 2 * c
            """,
        "nspkg/sub/act.py": "def act(x):\n    return x.relu()\n",
        "nspkg/net.py": """
            import torch.nn as nn
            from nspkg import helpers
            import nspkg.sub.act
            from nspkg.sub import act as act_mod


            class Net(nn.Module):
                def __init__(self, dim=4):
                    super().__init__()
                    self.fc = nn.Linear(dim, helpers.width(dim))
                    self.gate = helpers.Gate()

                def forward(self, x):
                    return act_mod.act(nspkg.sub.act.act(self.gate(self.fc(x))))
            """,
    }
    write_package(tmp_path / "src", files)
    blocks = {b.name: b for b in mine_files(list(open_source(f"dir:{tmp_path / 'src'}", tmp_path / "cache").files()))}
    net = blocks["Net"]
    assert net.missing_deps == [] and net.unresolved == [] and "nspkg" not in net.external_imports, (net.missing_deps, net.unresolved)
    assert "import nspkg" not in net.code and "from nspkg" not in net.code
    namespace: dict = {}
    exec(compile(net.code, "block", "exec"), namespace)  # noqa: S102 - our own fixture code
    import torch

    assert namespace["Net"]()(torch.zeros(2, 4)).shape == (2, 8)


GOOD_BLOCK = """
import torch.nn as nn


class Good(nn.Module):
    def __init__(self, dim=8):
        super().__init__()
        self.fc = nn.Linear(dim, dim)

    def forward(self, x):
        return self.fc(x)
"""


def test_a_file_nested_too_deeply_is_skipped_with_a_reason_and_the_rest_mined(tmp_path):
    """A 400-term ``x + x + ...`` (valid Python that runs) raised RecursionError in the index (the miner's walkers,
    ``ast.unparse`` of dedup): nothing was published, the good file's block lost too. Its file is now refused up
    front like a file that does not parse, with the line and the depth."""
    from indexer.dedup import hash_block
    from nnrag.pyparse import MAX_DEPTH

    pkg = tmp_path / "deep"
    pkg.mkdir()
    (pkg / "good.py").write_text(GOOD_BLOCK)
    terms = MAX_DEPTH + 220  # 400
    text = GOOD_BLOCK.replace("Good", "LongExpr").replace("return self.fc(x)", "x = self.fc(x)\n        return " + " + ".join(["x"] * terms))
    (pkg / "long_expr.py").write_text(text)
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "x + x" in t)
    report = MineReport()
    blocks = mine_files(list(open_source(f"dir:{pkg}", tmp_path / "cache").files()), report)
    assert [b.qualified_name for b in blocks] == ["good.Good"]
    for b in blocks:
        hash_block(b)
    why = report.parse_errors["long_expr.py"]
    depth = int(re.search(r"(\d+) levels", why).group(1))
    assert "nests too deeply" in why and f"line {line}" in why and depth > terms, why


def test_a_file_name_that_is_not_utf8_is_skipped_with_a_reason_and_the_store_published(tmp_path):
    """``caf\\xe9.py`` (a Latin-1 file name) gave the module ``caf\\udce9`` (a surrogate escape): the tokenizer refused
    the block's text with a TypeError and SQLite the file's path, so the index published nothing. No import statement
    can name that module: the file is skipped, its name escaped in the report and the store."""
    from indexer.build import build_index
    from indexer.store import BlockStore

    if sys.platform == "darwin":  # pragma: no cover - APFS refuses such names
        pytest.skip("the file system refuses names that are not UTF-8")
    src = tmp_path / "src"
    src.mkdir()
    (src / "good.py").write_text(GOOD_BLOCK)
    with open(os.path.join(os.fsencode(src), b"caf\xe9.py"), "wb") as f:
        f.write(GOOD_BLOCK.replace("Good", "Cafe").encode())
    report = MineReport()
    files = list(open_source(f"dir:{src}", tmp_path / "cache").files())
    assert [b.name for b in mine_files(files, report)] == ["Good"]
    assert "not valid UTF-8" in report.parse_errors["caf\\xe9.py"]
    built = build_index([f"dir:{src}"], tmp_path / "store", cache_dir=tmp_path / "cache", validate=False)
    skipped = built.sources[0].skipped
    assert built.version and "caf\\xe9.py" in skipped, skipped
    store = BlockStore(tmp_path / "store")
    assert [b.name for b in store.blocks_of_source(f"dir:{src}")] == ["Good"]


def test_a_module_that_names_itself_gives_blocks_that_run_alone(tmp_path):
    """d2l's idiom: ``d2l = sys.modules[__name__]``, names read as ``d2l.zeros`` and ``d2l.Encoder``, aliases defined
    at the end of the file, and data tables written through the alias. The block reads them as plain names, carries
    what it reads and none of the writes: cut as written, it failed at import on ``d2l.DATA_URL``."""
    from indexer.self_module import unqualified_self_references

    files = {
        "book/__init__.py": "",
        "book/torch.py": """
            import sys
            import torch
            from torch import nn

            book = sys.modules[__name__]

            book.DATA_HUB['ptb'] = (book.DATA_URL + 'ptb.zip', '319d85e5')


            class Encoder(nn.Module):
                def forward(self, X):
                    raise NotImplementedError


            class PositionalEncoding(book.Encoder):
                def __init__(self, num_hiddens, max_len=64):
                    super().__init__()
                    self.P = book.zeros((1, max_len, num_hiddens))

                def forward(self, X):
                    return X + self.P[:, :X.shape[1], :]


            zeros = torch.zeros
            DATA_HUB = dict()
            DATA_URL = 'http://example.org/'
            """,
    }
    pkg = write_package(tmp_path, files)
    source = (pkg / "torch.py").read_text()
    rewritten = unqualified_self_references(source)
    assert rewritten.count("\n") == source.count("\n") and "book = sys.modules[__name__]" in rewritten
    assert "class PositionalEncoding(Encoder)" in rewritten and "book.zeros" not in rewritten
    assert unqualified_self_references(UNALIASED := "import sys\nx = sys.modules['os']\n") == UNALIASED

    blocks = {b.name: b for b in mine_files(list(open_source(f"dir:{pkg}", tmp_path).files()))}
    block = blocks["PositionalEncoding"]
    assert block.unresolved == [] and "DATA_HUB" not in block.code and "sys.modules" not in block.code, block.code
    namespace: dict = {}
    exec(compile(block.code, "block.py", "exec"), namespace)
    import torch

    assert namespace["PositionalEncoding"](8)(torch.ones(2, 5, 8)).shape == (2, 5, 8)
