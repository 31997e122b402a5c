"""LLM text extraction with several code blocks and prose lines, and ``nnrag patch``'s check inputs and output
encoding: each test failed before its fix."""

from __future__ import annotations

import ast
import json

import pytest

from rag_server.llm_text import PatchInputError, extract_code
from rag_server.scope import analyze

IMPORTS = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n"
GATED = """class GatedResBlock(nn.Module):
    def __init__(self, ch):
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, padding=1)
        self.gate = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return x + self.gate * F.relu(self.conv(x))
"""
NET = """class Net(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.stem = nn.Conv2d(3, 32, 3, padding=1)
        self.blocks = nn.Sequential(GatedResBlock(32), GatedResBlock(32))
        self.fc = nn.Linear(32, num_classes)

    def forward(self, x):
        x = self.blocks(F.relu(self.stem(x)))
        return self.fc(x.mean((2, 3)))
"""


def fence(code: str, tag: str = "python") -> str:
    return f"```{tag}\n{code.rstrip(chr(10))}\n```\n"


def run(code: str):
    """Execute ``code`` as a module and build its Net on a CIFAR-sized batch."""
    import torch

    namespace: dict = {"__name__": "model"}
    exec(compile(code, "model.py", "exec"), namespace)
    return namespace, namespace["Net"]()(torch.randn(2, 3, 8, 8))


def test_the_blocks_the_model_uses_are_kept_with_their_imports():
    """The helper block (imports + GatedResBlock) was dropped for the Net block, and a store block went in its name."""
    text = f"First, a gated block:\n\n{fence(IMPORTS + chr(10) + GATED)}\nNow the network:\n\n{fence(NET)}"
    out = extract_code(text)
    assert "class GatedResBlock" in out.code and "class Net" in out.code and "import torch.nn.functional as F" in out.code
    assert analyze(out.code).free == {}
    assert out.code.index("class GatedResBlock") < out.code.index("class Net")
    assert any("code block 1 of 2" in n and "GatedResBlock" in n and "kept" in n for n in out.notes), out.notes
    _, y = run(out.code)
    assert tuple(y.shape) == (2, 10)


def test_usage_examples_shell_commands_and_drafts_are_dropped_and_said():
    """A first draft and its corrected version: the later one is kept; a pip line and a usage example are dropped."""
    draft_gated = GATED.replace("self.gate * F.relu", "F.relu")  # no gate: the first draft
    text = (
        f"Install:\n{fence('pip install torch', '')}"
        f"Here is the model:\n{fence(IMPORTS + chr(10) + draft_gated + chr(10) + NET.replace('num_classes=10', 'num_classes=7'))}"
        f"Oops, the block needs its gate:\n{fence(GATED)}"
        f"And the head should give 10 classes:\n{fence(NET)}"
        f"Usage:\n{fence('model = Net()' + chr(10) + 'print(model(torch.randn(1, 3, 32, 32)).shape)' + chr(10))}"
    )
    out = extract_code(text)
    ast.parse(out.code)
    assert out.code.count("class Net") == 1 and "num_classes=10" in out.code  # the corrected Net
    assert out.code.count("class GatedResBlock") == 1 and "self.gate * F.relu" in out.code  # the corrected block
    assert "model = Net()" not in out.code and "pip install" not in out.code
    namespace, y = run(out.code)
    assert tuple(y.shape) == (2, 10) and "model" not in namespace
    notes = "\n".join(out.notes)
    assert "code block 1 of 5: dropped, not valid Python (`pip install torch`)" in notes
    assert "code block 2 of 5" in notes and "defined again later" in notes
    assert "code block 5 of 5: dropped 2 other statements (`model = Net()`" in notes


def test_a_corrected_helper_after_the_model_replaces_the_models_own():
    """The model's block defines SE; a later block gives SE again: the later one is the one meant."""
    first = IMPORTS + "\nclass SE(nn.Module):\n    def forward(self, x):\n        return x * 0\n\n\n" + (
        "class Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.se = SE()\n\n"
        "    def forward(self, x):\n        return self.se(x).mean((1, 2, 3))\n")
    fixed = "class SE(nn.Module):\n    def forward(self, x):\n        return x\n"
    out = extract_code(f"Model:\n{fence(first)}\nFix, SE should keep x:\n{fence(fixed)}")
    import torch

    namespace: dict = {}
    exec(out.code, namespace)
    assert float(namespace["Net"]()(torch.ones(1, 1, 2, 2))) == 1.0


def test_a_future_import_stays_first_and_imports_precede_the_helpers():
    model = "from __future__ import annotations\nimport torch.nn as nn\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.b = Block()\n"
    helper = "import torch\n\n\nclass Block(nn.Module):\n    def forward(self, x):\n        return torch.relu(x)\n"
    out = extract_code(f"{fence(model)}\nwhere Block is\n{fence(helper)}")
    assert out.code.startswith("from __future__ import annotations\n")
    assert out.code.index("import torch.nn as nn") < out.code.index("class Block")
    namespace: dict = {}
    exec(out.code, namespace)
    namespace["Net"]()


def test_a_syntax_error_in_the_model_block_is_still_reported():
    with pytest.raises(PatchInputError) as info:
        extract_code(f"{fence('model = Net()' + chr(10))}\n{fence('import torch.nn as nn' + chr(10) + 'class Net(nn.Module):' + chr(10) + '    def f(:' + chr(10))}")
    assert info.value.line == 3 and "code block 2 of 2" in str(info.value)


@pytest.mark.parametrize("prose", [
    "Note: this uses a squeeze-and-excitation block.\n",
    "Here is the code:\n",
    "Explanation:\n",
])
def test_a_prose_line_above_the_code_is_stripped(prose):
    """``Note: ...`` matched the code pattern as an annotation and the start never moved past line 1."""
    out = extract_code(prose + IMPORTS + "\n\n" + NET)
    assert out.stripped and out.code.startswith("import torch\n") and "class Net" in out.code
    ast.parse(out.code)


def test_prose_lines_below_the_code_are_stripped():
    out = extract_code(IMPORTS + "\n\n" + NET + "\nExplanation:\n- The SE module recalibrates channels.\n- Pooling feeds the head.\n")
    assert out.stripped and out.code.rstrip().endswith("return self.fc(x.mean((2, 3)))")


def test_plain_text_parts_are_combined_like_fenced_blocks():
    text = ("Here is the gated block:\n" + IMPORTS + "\n" + GATED + "And the network:\n" + NET
            + "Usage: python train.py\nTo try it:\nmodel = Net()\nprint(model)\n")
    out = extract_code(text)
    assert "class GatedResBlock" in out.code and "class Net" in out.code and "model = Net()" not in out.code
    assert analyze(out.code).free == {}
    assert any("model = Net()" in n and "dropped" in n for n in out.notes)


def test_a_docstring_with_a_prose_like_line_is_kept():
    text = '"""CIFAR model.\n\nUsage: python train.py\n"""\n' + IMPORTS + "\n" + NET.replace("GatedResBlock(32), GatedResBlock(32)", "nn.Identity()") + "That is all.\n"
    out = extract_code(text)
    assert out.code.startswith('"""CIFAR model.') and "That is all" not in out.code


def test_code_with_a_syntax_error_between_prose_is_reported_not_dropped():
    """Moving the start past prose must not cut the user's broken block off: its error is reported."""
    text = "Here:\n" + IMPORTS + "class SE(nn.Module):\n    def f(:\n        pass\nAnd the net:\n" + NET
    with pytest.raises(PatchInputError) as info:
        extract_code(text)
    assert info.value.line == 6


# ---------------------------------------------------------------- nnrag patch: --input-dtype, --init-kwargs

TOKENS = """import torch.nn as nn


class Net(nn.Module):
    def __init__(self, vocab):
        super().__init__()
        self.emb = nn.Embedding(vocab, 8)
        self.fc = nn.Linear(8, 2)

    def forward(self, x):
        return self.fc(F.relu(self.emb(x)).mean(1))
"""


@pytest.fixture(scope="module")
def one_block_store(tmp_path_factory) -> str:
    """A real store of one block: these models' only free name is a standard import, so no block is inserted."""
    from helpers_index import ok_validation, real_block
    from indexer.build import store_blocks
    from indexer.embed import Embedder

    path = tmp_path_factory.mktemp("one_block_store")
    store_blocks([real_block("timm.layers.drop", "DropPath", validation=ok_validation())], path, embedder=Embedder())
    return str(path)


def test_patch_check_takes_input_dtypes_and_init_kwargs(tmp_path, one_block_store):
    """A token-id model failed every try on float32 inputs and the hint named an option patch lacked."""
    from typer.testing import CliRunner

    from nnrag.cli import app

    model = tmp_path / "tokens.py"
    model.write_text(TOKENS)
    runner = CliRunner()
    out = runner.invoke(app, ["patch", str(model), "--check", "--input-shape", "2,16", "--input-dtype", "int64",
                              "--init-kwargs", '{"vocab": 50}', "--json", "--store", one_block_store])
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert data["check"]["status"] == "ok", data["check"]
    assert data["check"]["example"]["input_dtypes"] == ["int64"] and data["check"]["example"]["init_kwargs"] == {"vocab": 50}
    assert data["added_imports"] == ["import torch.nn.functional as F"]


@pytest.mark.parametrize("args, message", [
    (["--input-dtype", "int64"], "one --input-dtype per --input-shape"),
    (["--input-shape", "2,16", "--input-dtype", "int8"], "unknown --input-dtype 'int8'"),
    (["--init-kwargs", "[1]"], "--init-kwargs must be a JSON object"),
    (["--init-kwargs", "{bad"], "--init-kwargs must be a JSON object"),
])
def test_patch_rejects_bad_check_inputs_as_check_does(tmp_path, one_block_store, args, message):
    from typer.testing import CliRunner

    from nnrag.cli import app

    model = tmp_path / "tokens.py"
    model.write_text(TOKENS)
    out = CliRunner().invoke(app, ["patch", str(model), "--check", *args, "--store", one_block_store])
    assert out.exit_code == 2 and message in " ".join(out.output.split()), out.output


# ---------------------------------------------------------------- nnrag patch: the output's encoding


def test_patch_writes_a_latin1_file_in_latin1(tmp_path, one_block_store):
    """The output kept ``coding: latin-1`` but was written as UTF-8: Python read ``cafÃ©``."""
    from typer.testing import CliRunner

    from nnrag.cli import app

    source = b"# -*- coding: latin-1 -*-\nimport torch.nn as nn\n\nLABEL = \"caf\xe9\"\n\n\nclass Net(nn.Module):\n    def forward(self, x):\n        return F.relu(x)\n"
    model = tmp_path / "lat.py"
    model.write_bytes(source)
    out = CliRunner().invoke(app, ["patch", str(model), "--store", one_block_store])
    assert out.exit_code == 0, out.output
    assert b"LABEL = \"caf\xe9\"" in out.stdout_bytes and b"import torch.nn.functional as F" in out.stdout_bytes
    namespace: dict = {}
    exec(compile(out.stdout_bytes, "lat.py", "exec"), namespace)
    assert namespace["LABEL"] == "caf\u00e9"


def test_a_cookie_that_cannot_encode_the_output_becomes_utf8():
    from nnrag.cli.patch import _encoded

    data, note = _encoded("# -*- coding: latin-1 -*-\nLABEL = 'caf\u00e9'\nSYMBOL = '\u20ac'\n")
    assert data.decode("utf-8").startswith("# -*- coding: utf-8 -*-\n") and "'\u20ac'" in data.decode("utf-8")
    assert note == "written as UTF-8 with its coding cookie changed to utf-8: '\u20ac' cannot be written in iso-8859-1"
    namespace: dict = {}
    exec(compile(data, "x.py", "exec"), namespace)
    assert namespace["LABEL"] == "caf\u00e9" and namespace["SYMBOL"] == "\u20ac"
    plain = "import torch\nx = '\u20ac'\n"
    assert _encoded(plain) == (plain.encode("utf-8"), None)


def test_a_broken_first_draft_is_dropped_when_a_corrected_block_follows():
    draft = IMPORTS + "class Net(nn.Module):\n    def forward(self, x)\n        return x\n"
    fixed = IMPORTS + "class Net(nn.Module):\n    def forward(self, x):\n        return x\n"
    out = extract_code(f"Draft:\n{fence(draft)}\nFixed the missing colon:\n{fence(fixed)}")
    assert out.code == fixed and out.notes == ["code block 1 of 2: dropped, not valid Python (`import torch`)"]
    with pytest.raises(PatchInputError) as info:  # the other way round: the model's block is the broken one
        extract_code(f"{fence(fixed.replace('class Net', 'class Small'))}\n{fence(draft.replace('return x', 'return self.a(x) + self.b(x)'))}")
    assert info.value.line == 5 and "code block 2 of 2" in str(info.value)
