"""Unit tests of the pure parts of patching: LLM text extraction, scope analysis, source surgery."""

from __future__ import annotations

import ast

import pytest

from rag_server.candidates import (
    aliases,
    call_compatibility,
    definition_signature,
    standard_import,
)
from rag_server.codeops import extract_definition, rename_names
from rag_server.llm_text import PatchInputError, extract_code
from rag_server.patch import apply_plan
from rag_server.scope import analyze

MODEL = """import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(x)
"""


def test_plain_code_is_returned_untouched():
    out = extract_code(MODEL)
    assert out.code == MODEL and not out.stripped


def test_fences_and_prose_are_stripped_and_the_model_block_is_chosen():
    text = f"Here you go:\n\n```python\nmodel = Net()\nprint(model)\n```\n\nand the model:\n\n```python\n{MODEL}```\nEnjoy!\n"
    out = extract_code(text)
    assert out.stripped and out.blocks_found == 2
    assert out.code == MODEL


def test_bare_code_with_prose_after_it():
    text = "Below is the model.\n" + MODEL + "This model has two layers and should train fast.\n"
    out = extract_code(text)
    assert "class Net" in out.code and "two layers" not in out.code
    ast.parse(out.code)


def test_syntax_error_reports_its_line():
    broken = "import torch\n\nclass Net(nn.Module):\n    def forward(self, x)\n        return x\n"
    with pytest.raises(PatchInputError) as info:
        extract_code(broken)
    assert info.value.line == 4
    assert "line 4" in str(info.value)


def test_syntax_error_inside_a_fence_reports_its_line():
    with pytest.raises(PatchInputError) as info:
        extract_code("Model:\n```python\nimport torch\nx = (1,\n```\n")
    assert info.value.line is not None


def test_a_syntax_error_under_a_compound_statement_is_reported_not_cut_off():
    """``if __name__ == "__main__":`` read as prose made the patcher drop the rest of the file without a word."""
    broken = MODEL + '\nif __name__ == "__main__":\n    net = Net()\n    print "params:", net\n'
    with pytest.raises(PatchInputError) as info:
        extract_code(broken)
    assert info.value.line == MODEL.count("\n") + 4
    for header in ("try:", "else:  # fallback", "for i in range(3):", "with torch.no_grad():"):
        with pytest.raises(PatchInputError):
            extract_code(f"{MODEL}\n{header}\n    x = (\n")
    prose = extract_code(MODEL + "\nIf you want more layers, add them:\n")  # prose is still cut
    assert prose.stripped and prose.code.strip() == MODEL.strip()


def test_a_byte_order_mark_is_not_code():
    out = extract_code("\ufeff" + MODEL)
    assert out.code == MODEL and not out.stripped


def test_empty_input_is_an_error():
    with pytest.raises(PatchInputError):
        extract_code("   \n")


def test_free_names_cover_methods_defaults_decorators_bases_and_runtime_annotations():
    code = (
        "import torch\n"
        "def f(x: Optional[int] = DEFAULT) -> 'Later':\n"
        "    y: LocalOnly = 1\n"
        "    return SE(x, 4, rd_ratio=0.25)\n"
        "class A(BaseBlock):\n"
        "    k = 3\n"
        "    def g(self):\n"
        "        return k + F.relu(self)\n"
        "@register\n"
        "def h(): return __file__\n"
    )
    report = analyze(code)
    assert set(report.free) == {"Optional", "DEFAULT", "SE", "BaseBlock", "k", "F", "register"}
    se = report.free["SE"]
    assert se.calls[0].n_positional == 2 and se.calls[0].keywords == ["rd_ratio"]
    assert report.free["F"].attributes == {"relu"} and report.free["F"].only_attributes
    assert report.free["BaseBlock"].as_base and report.free["register"].as_decorator
    assert report.free["DEFAULT"].at_import and not report.free["SE"].at_import


def test_future_annotations_are_not_free():
    code = "from __future__ import annotations\ndef f(x: Optional[int]) -> Tensor:\n    return x\n"
    assert analyze(code).free == {}


def test_guarded_imports_bind_names():
    code = "try:\n    import numpy as np\nexcept ImportError:\n    np = None\nx = np\n"
    assert analyze(code).free == {}


def test_standard_imports_for_well_known_aliases():
    report = analyze("y = F.relu(x0)\nz = nn.Linear(2, 2)\nw = OrderedDict()\np = partial(print)\nq = math.pi\nt: Optional[int] = None\nc = Conv2d(1, 1, 1)\n")
    got = {n: standard_import(u) for n, u in report.free.items()}
    assert got["F"] == "import torch.nn.functional as F"
    assert got["nn"] == "import torch.nn as nn"
    assert got["OrderedDict"] == "from collections import OrderedDict"
    assert got["partial"] == "from functools import partial"
    assert got["math"] == "import math"
    assert got["Optional"] == "from typing import Optional"
    assert got["Conv2d"] == "from torch.nn import Conv2d"
    assert got["x0"] is None


def test_aliases_group_common_names():
    assert "squeezeexcite" in aliases("SEModule")
    assert "depthwiseseparableconv" in aliases("DWConv")
    assert "convnormact" in aliases("ConvBNAct")
    assert aliases("FooBar") == {"foobar"}


def test_signature_and_call_compatibility():
    code = (
        "import torch.nn as nn\n"
        "class Base(nn.Module):\n"
        "    expansion = 4\n"
        "    def __init__(self, c, rd_ratio=0.25, *, act=None):\n"
        "        super().__init__()\n"
        "class SE(Base):\n"
        "    pass\n"
    )
    sig = definition_signature(code, "SE")
    assert sig is not None and sig.params == ["c", "rd_ratio"] and sig.required == 1 and sig.kwonly == ["act"]
    assert "expansion" in sig.attributes
    good = analyze("x = SE(8, rd_ratio=0.5)\ny = SE.expansion\n").free["SE"]
    bad = analyze("x = SE(8, 2, 3, squeeze=1)\n").free["SE"]
    assert call_compatibility(sig, good) == 1.0
    assert call_compatibility(sig, bad) == 0.0


def test_extract_definition_takes_helpers_and_imports_it_needs():
    code = (
        "import math\nimport torch.nn as nn\nimport os\n\n"
        "def make_divisible(v, d=8):\n    return int(math.ceil(v / d) * d)\n\n"
        "class Unused(nn.Module):\n    pass\n\n"
        "class SE(nn.Module):\n    def __init__(self, c):\n        super().__init__()\n        self.c = make_divisible(c)\n\n"
        "if __name__ == '__main__':\n    SE(3)\n"
    )
    out = extract_definition(code, {"SE"})
    assert "import math" in out and "def make_divisible" in out and "class SE" in out
    assert "Unused" not in out and "import os" not in out and "__main__" not in out


def test_rename_keeps_attributes_and_keywords():
    code = "def helper(x):\n    return x\n\nclass A:\n    def f(self):\n        return helper(self.helper, helper=1)\n"
    out = rename_names(code, {"helper": "helper_2"})
    assert "def helper_2(x)" in out and "helper_2(self.helper, helper=1)" in out


def test_apply_plan_adds_imports_and_never_touches_user_definitions():
    user = "import torch.nn as nn\n\ndef make_divisible(v):\n    return v\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.se = SE(8)\n"
    block = (
        "from torch import nn\nimport math\n\n"
        "def make_divisible(v, d=8):\n    return int(math.ceil(v / d) * d)\n\n"
        "class SE(nn.Module):\n    def __init__(self, c):\n        super().__init__()\n        self.c = make_divisible(c)\n"
    )
    from rag_server.candidates import Candidate

    report = analyze(user)
    cand = Candidate(name="SE", symbol="SE", code=block, match="exact")
    code, inserted, added = apply_plan(user, report, {}, [cand])
    ast.parse(code)
    assert "def make_divisible(v):\n    return v\n" in code  # the user's own helper is untouched
    assert "def make_divisible_2(v, d=8)" in code and "make_divisible_2(c)" in code
    assert added == ["import math"]  # ``from torch import nn`` is the same binding as ``import torch.nn as nn``
    assert code.index("class SE") < code.index("class Net")
    assert inserted[0]["renamed"] == {"make_divisible": "make_divisible_2"}
    assert analyze(code).free == {}


def test_apply_plan_shares_the_models_nn_alias_and_one_renamed_import_across_blocks():
    """``nn = torch.nn`` binds nn as an import does; where the model binds nn to something else, every block shares
    one ``nn_2`` (it used to get ``nn_2``, ``nn_3``, ``nn_4``, one import per block)."""
    from rag_server.candidates import Candidate

    blocks = [Candidate(name=n, symbol=n, code=f"from torch import nn\n\nclass {n}(nn.Module):\n    pass\n", match="exact")
              for n in ("SE", "CBAM", "DropPath")]
    uses = "class Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.a, self.b, self.c = SE(), CBAM(), DropPath()\n"
    aliased = "import torch\nnn = torch.nn\n\n\n" + uses
    code, _, added = apply_plan(aliased, analyze(aliased), {}, blocks)
    assert added == [] and "nn_2" not in code and analyze(code).free == {}
    late = "import torch\nregistry = [SE]\nnn = torch.nn\n\n\n" + uses  # SE goes in above the alias: not shared
    code, _, added = apply_plan(late, analyze(late), {}, blocks)
    assert added == ["from torch import nn as nn_2"] and code.index("class SE(nn_2.Module)") < code.index("nn = torch.nn")
    own = "import torch\n\n\nclass nn:\n    Module = torch.nn.Module\n\n\n" + uses
    code, inserted, added = apply_plan(own, analyze(own), {}, blocks)
    assert added == ["from torch import nn as nn_2"] and code.count("nn_2.Module") == 3
    assert [i["renamed"] for i in inserted] == [{"nn": "nn_2"}] * 3


def test_import_of_reads_how_a_block_binds_a_name():
    from rag_server.candidates import _import_of

    code = "import torch.nn.functional as F\nfrom timm.layers.helpers import make_divisible\nfrom .x import y\nimport math\n"
    assert _import_of(code, "make_divisible") == "from timm.layers.helpers import make_divisible"
    assert _import_of(code, "F") == "import torch.nn.functional as F"
    assert _import_of(code, "math") == "import math"
    assert _import_of(code, "y") is None  # relative imports cannot be copied


def test_patch_says_when_its_check_is_no_verdict_on_the_code():
    """A worker that died read "# check: crashed at None: WorkerError: ..." as if the model had crashed."""
    from nnrag.cli.patch import verdict_line
    from sandbox.spec import CheckResult

    died = verdict_line(CheckResult("crashed", error_type="WorkerError", message="worker 0 exited"))
    assert died.startswith("crashed: WorkerError: worker 0 exited") and "not a verdict on the code" in died
    failed = verdict_line(CheckResult("failed", failed_stage="forward", error_type="RuntimeError", message="shapes"))
    assert failed == "failed at forward: RuntimeError: shapes"
    assert verdict_line(CheckResult("ok")) == "ok"
