"""Long flat chains (``x + x + ...``, ``-``*n, ``.clone()``*n, ``[0]``*n, ``lambda:``*n) are deep trees for ``ast`` and
libcst: every entry point refuses them with one clear message (the line, what is deep, what to do), never a
RecursionError traceback, an INTERNAL error or "does not parse (None)"."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from nnrag import pyparse
from nnrag.cli import app

HEAD = "import torch.nn as nn\n\nclass Net(nn.Module):\n    def forward(self, x):\n"  # the chain is on line 5
CHAINS = {
    "sum": lambda n: "return x" + " + x" * n,
    "product": lambda n: "return x" + " * x" * n,
    "unary minus": lambda n: "return " + "-" * n + "x",
    "clone calls": lambda n: "return x" + ".clone()" * n,
    "subscripts": lambda n: "return x" + "[0]" * n,
    "not": lambda n: "return " + "not " * n + "x",
    "lambdas": lambda n: "return " + "lambda: " * n + "x",
    "multi-line sum": lambda n: "return (x" + "\n        + x" * n + ")",
}


def model(chain: str) -> str:
    return HEAD + "        " + chain + "\n"


def assert_clear_refusal(message: str, line: int = 5) -> None:
    assert "nests too deeply" in message and f"line {line}" in message, message
    assert "split it" in message or "flatten it" in message, message
    assert "maximum recursion depth" not in message and "Traceback" not in message, message


@pytest.mark.parametrize("shape", list(CHAINS))
@pytest.mark.parametrize("n", [1000, 3000])
def test_long_flat_chains_are_refused_before_any_parser_fails_on_them(shape, n):
    code = model(CHAINS[shape](n))
    for check in (pyparse.refuse_too_deep, pyparse.parse_cst):
        with pytest.raises(pyparse.TooDeep) as info:
            check(code)
        assert_clear_refusal(str(info.value))
        assert "chained operations" in str(info.value)


def test_ast_parse_failing_on_depth_is_a_clear_too_deep():
    """``pyparse.parse`` gives CPython's own failures (RecursionError "during ast construction", MemoryError) the same
    message, so a caller that reads it as "does not parse" has something to say."""
    for code in (model(CHAINS["sum"](3000)), model(CHAINS["clone calls"](2000)), model(CHAINS["lambdas"](3000))):
        with pytest.raises(pyparse.TooDeep) as info:
            pyparse.parse(code)
        assert_clear_refusal(str(info.value))


def test_the_measure_counts_chains_but_not_flat_lists_prose_or_normal_code():
    import timm

    sums = pyparse.measure_nesting(model(CHAINS["sum"](500)))
    assert sums.line == 5 and sums.chain == 500 and sums.depth >= 500
    flat = "x = [" + ", ".join(["a.b + c"] * 5000) + "]\n" + "y = a < b" + " < b" * 5000 + "\n" + "@d\n" * 2000 + "def f():\n    pass\n"
    assert pyparse.measure_nesting(flat).depth < 10  # items, comparisons and decorators are flat in both trees
    code = open(f"{timm.__path__[0]}/models/vision_transformer.py", encoding="utf-8").read()
    assert pyparse.measure_nesting(code).depth < 60
    # prose with a bracket left open before the code: no statement ever ends, so it is measured line by line
    llm = "Here is the model (it uses SE blocks:\n```python\n" + code + "\n```\nIt can't fail.\n"
    assert pyparse.measure_nesting(llm).depth < 60
    pyparse.refuse_past(llm, pyparse.MAX_TOKEN_DEPTH)


def test_cli_patch_refuses_a_long_chain_with_exit_2_and_one_line(tmp_path):
    path = tmp_path / "deep_sum.py"
    path.write_text(model(CHAINS["sum"](3000)))
    out = CliRunner().invoke(app, ["patch", str(path), "--store", str(tmp_path / "no_store")])
    assert out.exit_code == 2, out.output
    assert out.output.startswith("error: ") and out.output.count("\n") == 1, out.output
    assert_clear_refusal(out.output)


def test_cli_check_refuses_code_python_cannot_compile_before_the_sandbox(tmp_path):
    path = tmp_path / "sum_2900.py"
    path.write_text(model(CHAINS["sum"](2900)))
    out = CliRunner().invoke(app, ["check", str(path), "--json"])
    assert out.exit_code == 2, out.output
    assert_clear_refusal(out.output)


def test_cli_predict_refuses_nested_lambdas_naming_the_nesting(tmp_path):
    path = tmp_path / "lambda_1000.py"
    path.write_text(model(CHAINS["lambdas"](1000)))
    out = CliRunner().invoke(app, ["predict", str(path), "--dir", str(tmp_path / "no_predictor")])
    assert out.exit_code == 2, out.output
    assert_clear_refusal(out.output)
    assert "(None)" not in out.output


@pytest.mark.parametrize("shape", ["sum", "clone calls", "lambdas"])
def test_servicer_refuses_deep_code_as_a_bad_request_naming_the_field(shape):
    from rag_server.convert import BadRequest
    from rag_server.servicer import _require_editable_code, _require_model_code

    code = model(CHAINS[shape](3000))
    for require in (_require_editable_code, _require_model_code):
        with pytest.raises(BadRequest) as info:
            require(code, "code")
        assert info.value.field == "code"
        assert_clear_refusal(info.value.problem)


def test_in_process_patch_refuses_a_long_chain_before_reading_the_store():
    from rag_server.patch import patch

    with pytest.raises(pyparse.TooDeep) as info:
        patch(model(CHAINS["clone calls"](3000)), None, None, None)  # no store is read: None stands for it
    assert_clear_refusal(str(info.value))


def test_the_last_resort_message_names_the_nesting_or_says_what_recursed():
    deep = pyparse.too_deep_error(model(CHAINS["subscripts"](300)), RecursionError("maximum recursion depth exceeded"))
    assert_clear_refusal(str(deep))
    shallow = pyparse.too_deep_error(model("return x"), RecursionError("maximum recursion depth exceeded"))
    assert isinstance(shallow, pyparse.TooDeep) and "recursed too deeply" in str(shallow) and "nests" not in str(shallow)
    already = pyparse.TooDeep("the code nests too deeply to read (line 2): ...")
    assert pyparse.too_deep_error("x = 1\n", already) is already


def test_a_reader_recursing_past_the_checks_is_a_bad_request_naming_code():
    from rag_server.convert import BadRequest
    from rag_server.servicer import _too_deep_is_bad_request

    code = model(CHAINS["subscripts"](300))
    with pytest.raises(BadRequest) as info, _too_deep_is_bad_request(code):
        raise RecursionError("maximum recursion depth exceeded")
    assert info.value.field == "code"
    assert_clear_refusal(info.value.problem)
    with pytest.raises(ValueError, match="not a recursion"), _too_deep_is_bad_request(code):
        raise ValueError("not a recursion")  # other errors pass through untouched
