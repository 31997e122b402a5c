"""A model class a check cannot import (defined under ``if __name__ == "__main__":`` or inside a function) is diagnosed
as such by Check and Patch, even beside helper modules at module level, and Patch stops at once instead of swapping
blocks. Real sandbox subprocesses, a tiny real store."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from rag_server.patch import patch
from sandbox.spec import CheckSpec

SOURCES = ["pkg:timm.layers.drop", "pkg:timm.layers.squeeze_excite"]

HEADER = "import torch\nimport torch.nn as nn\n\n\n"
HELPER = (
    "class ConvBN(nn.Module):\n"
    "    def __init__(self, cin, cout):\n"
    "        super().__init__()\n"
    "        self.conv = nn.Conv2d(cin, cout, 3, padding=1, bias=False)\n"
    "        self.bn = nn.BatchNorm2d(cout)\n\n"
    "    def forward(self, x):\n"
    "        return self.bn(self.conv(x))\n\n\n"
)


def model_class(name: str, indent: str, block: str = "nn.Identity()") -> str:
    """A small classifier ``name`` that uses the helper ConvBN and ``block``, indented by ``indent``."""
    lines = [
        f"class {name}(nn.Module):",
        "    def __init__(self, num_classes=10):",
        "        super().__init__()",
        "        self.a = ConvBN(3, 16)",
        f"        self.b = {block}",
        "        self.fc = nn.Linear(16, num_classes)",
        "",
        "    def forward(self, x):",
        "        return self.fc(self.b(self.a(x)).mean((2, 3)))",
    ]
    return "\n".join(indent + line if line else "" for line in lines) + "\n"


def guarded(form: str, name: str = "Net", block: str = "nn.Identity()") -> str:
    """ConvBN at module level, the model ``name`` only in the branch of ``form`` that runs as a script."""
    demo = f"print({name}()(torch.randn(2, 3, 32, 32)).shape)\n"
    if form == "eq":
        return HEADER + HELPER + 'if __name__ == "__main__":\n' + model_class(name, "    ", block) + "    " + demo
    if form == "reversed":
        return HEADER + HELPER + "if '__main__' == __name__:\n" + model_class(name, "    ", block) + "    " + demo
    if form == "else":
        return HEADER + HELPER + 'if __name__ != "__main__":\n    pass\nelse:\n' + model_class(name, "    ", block) + "    " + demo
    if form == "nested":
        return (HEADER + HELPER + 'if __name__ == "__main__":\n    if torch.__version__:\n'
                + model_class(name, "        ", block) + "        " + demo)
    if form == "function":
        return (HEADER + HELPER + "def main():\n" + model_class(name, "    ", block) + "    " + demo
                + '\n\nif __name__ == "__main__":\n    main()\n')
    raise ValueError(form)


@pytest.fixture(scope="module")
def pool():
    from sandbox.pool import CheckerPool

    with CheckerPool(size=1) as p:
        yield p


@pytest.fixture(scope="module")
def store(tmp_path_factory, pool):
    from indexer.build import build_index
    from indexer.store import BlockStore

    path: Path = tmp_path_factory.mktemp("guard_store")
    report = build_index(SOURCES, path, pool=pool)
    assert report.unique >= 3, report
    return BlockStore(path)


@pytest.mark.parametrize("test", ["__name__ == '__main__' and torch.cuda.is_available()", "not __name__ != '__main__'",
                                  "__name__ in ('__main__',)", "__name__ is '__main__'"])
def test_other_spellings_of_the_guard_are_recognised(test):
    from sandbox.diagnose import unreachable_model

    code = guarded("eq", "Classifier").replace('if __name__ == "__main__":', f"if {test}:")
    found = unreachable_model(ast.parse(code), "", ["ConvBN"])
    assert found is not None and found.name == "Classifier" and found.error_type == "MainGuardOnly", (test, found)
    or_ed = guarded("eq", "Classifier").replace('if __name__ == "__main__":', "if __name__ == '__main__' or True:")
    assert unreachable_model(ast.parse(or_ed), "", ["ConvBN"]) is None  # runs on import too


@pytest.mark.parametrize("form", ["eq", "reversed", "else", "nested", "function"])
def test_the_model_class_is_found_wherever_the_script_hides_it(form):
    """The model (the class no other class uses) is found under each guard form, and in a function, beside a helper."""
    from sandbox.diagnose import unreachable_model

    found = unreachable_model(ast.parse(guarded(form, "Classifier")), "", ["ConvBN"])
    assert found is not None and found.name == "Classifier", found
    assert (found.function == "main") == (form == "function"), found


def test_a_module_level_model_is_not_overridden_by_a_guarded_demo_class():
    """A module-level model no other class uses stays the model: a guarded class that is no nn.Module, or a module
    level class no hidden class uses, is no reason for the diagnosis."""
    from sandbox.diagnose import unreachable_model

    code = HEADER + HELPER + model_class("Classifier", "") + '\nif __name__ == "__main__":\n    class Cfg:\n        pass\n'
    assert unreachable_model(ast.parse(code), "", ["ConvBN", "Classifier"]) is None
    code = HEADER + HELPER + 'if __name__ == "__main__":\n    class Options(dict):\n        pass\n'
    assert unreachable_model(ast.parse(code), "", ["ConvBN"]) is None


@pytest.mark.parametrize("form", ["eq", "else", "function"])
def test_check_diagnoses_the_hidden_model_not_the_helper(pool, form):
    """Check built the module-level helper (ConvBN, "missing 2 required positional arguments", or "ok")."""
    checked = pool.check(guarded(form, "Classifier"), CheckSpec())
    expected = "ClassInFunction" if form == "function" else "MainGuardOnly"
    assert checked.error_type == expected and "'Classifier'" in checked.message, checked
    if form == "function":
        assert "function `main`" in checked.message and "module level" in checked.diagnosis.hint, checked
    else:
        assert "__main__" in checked.message and "out of the `if __name__" in checked.diagnosis.hint, checked


@pytest.mark.parametrize("form", ["eq", "else", "nested", "function"])
def test_patch_stops_at_once_for_a_hidden_model(store, pool, form):
    """Patch checked ConvBN (then an inserted block) as the model, swapped blocks and blamed one; for the else form it
    said "as given: ok" and left DropPath unpatched; for a class inside ``def main()`` it got NoModule and swapped."""
    result = patch(guarded(form, block="DropPath(0.1)"), CheckSpec(), store, pool)
    expected = "ClassInFunction" if form == "function" else "MainGuardOnly"
    assert result.check is not None and result.check.error_type == expected, result.attempts
    assert result.tries == 1 and len(result.attempts) == 1, result.attempts
    assert "`Net`" in result.stop_reason and "no block can fix" in result.stop_reason, result.stop_reason
    assert [i["name"] for i in result.inserted] == ["DropPath"], result.inserted  # still patched: it runs as a script
    assert ("function `main`" if form == "function" else "__main__") in result.stop_reason, result.stop_reason


@pytest.mark.parametrize("form", ["eq", "function"])
def test_patch_with_the_hidden_entry_named_stops_at_once(store, pool, form):
    """``--entry Net`` was diagnosed MainGuardOnly yet Patch made 5 attempts with an empty stop_reason."""
    result = patch(guarded(form, block="SqueezeExcite(16)"), CheckSpec(entry="Net"), store, pool)
    assert result.check is not None and result.check.error_type in ("MainGuardOnly", "ClassInFunction"), result.attempts
    assert result.tries == 1 and len(result.attempts) == 1, result.attempts
    assert "`Net`" in result.stop_reason, result.stop_reason


def test_with_no_free_names_the_check_made_is_listed(store, pool):
    """No free names: ``tries`` was 1 but ``attempts`` empty; a hidden model got no stop_reason."""
    working = HEADER + HELPER + model_class("Net", "")
    result = patch(working, CheckSpec(), store, pool)
    assert result.check.ok and result.tries == 1 and result.attempts == ["as given: ok"], result.attempts

    result = patch(guarded("eq"), CheckSpec(), store, pool)
    assert result.tries == 1 and len(result.attempts) == 1 and result.attempts[0].startswith("as given: failed"), result.attempts
    assert "MainGuardOnly" in result.attempts[0] and "`Net`" in result.stop_reason, (result.attempts, result.stop_reason)
