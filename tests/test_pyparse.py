"""nnrag.pyparse: CPython 3.11's spurious AST depth-mismatch SystemError (python/cpython#106905) is retried."""

import ast

import pytest

from nnrag import pyparse


def test_a_spurious_depth_mismatch_is_retried_and_other_errors_raised(monkeypatch):
    real = ast.parse
    failures = iter([SystemError("AST constructor recursion depth mismatch (before=45, after=80)")])

    def flaky(source, filename="<unknown>", mode="exec"):
        error = next(failures, None)
        if error is not None:
            raise error
        return real(source, filename=filename, mode=mode)

    monkeypatch.setattr(ast, "parse", flaky)
    assert isinstance(pyparse.parse("x = 1\n").body[0], ast.Assign), "the second attempt parses"
    with pytest.raises(SyntaxError):
        pyparse.parse("def (:\n")
    monkeypatch.setattr(ast, "parse", lambda source, filename="<unknown>", mode="exec": (_ for _ in ()).throw(SystemError("other")))
    with pytest.raises(SystemError, match="other"):
        pyparse.parse("x = 1\n")


def test_source_bytes_are_read_as_python_reads_them():
    """A BOM is dropped, a coding cookie honoured, and bytes invalid in UTF-8 never lose the file."""
    assert pyparse.decode_source(b"\xef\xbb\xbfx = 1\n") == "x = 1\n"
    assert pyparse.decode_source("# -*- coding: latin-1 -*-\nname = 'Ren\u00e9'\n".encode("latin-1")).endswith("'Ren\u00e9'\n")
    assert pyparse.decode_source(b"x = '\xff'\n") == "x = '\u00ff'\n"
    assert pyparse.parse("\ufeffx = 1\n").body[0].targets[0].id == "x"


# ------------------------------------------------------------------ code nested past what our readers take
# Shapes of nesting, each at a depth: CPython's parser reads all of them far deeper than libcst's visitors and our
# own walkers (``[[...]]`` 137 deep, ``a[a[...]]`` 96, chains of 321 ``and``, ``+``, ``.b``, implicit string
# concatenations, ``elif``s raised RecursionError in Patch and Suggest).
NESTINGS = {
    "list": lambda d: "x = " + "[" * d + "SEModule(8)" + "]" * d + "\n",
    "call": lambda d: "x = " + "f(" * d + "1" + ")" * d + "\n",
    "subscript": lambda d: "x = " + "a[" * d + "1" + "]" * d + "\n",
    "dict": lambda d: "x = " + "{1: " * d + "1" + "}" * d + "\n",
    "and chain": lambda d: "x = " + " and ".join(["a"] * (d + 1)) + "\n",
    "string concatenation": lambda d: "x = (" + " ".join(['"a"'] * (d + 1)) + ")\n",
    "attribute chain": lambda d: "x = a" + ".b" * d + "\n",
    "elif chain": lambda d: "if a:\n    pass\n" + "elif a:\n    pass\n" * d,
    "conditional chain": lambda d: "x = " + "a if b else " * d + "c\n",
    "lambda chain": lambda d: "x = " + "lambda: " * d + "1\n",
}


def _largest_accepted(shape, upper: int = 400) -> int:
    lo, hi = 1, upper  # lo accepted, hi refused
    assert_refused(NESTINGS[shape](hi))
    while hi - lo > 1:
        mid = (lo + hi) // 2
        try:
            pyparse.refuse_too_deep(NESTINGS[shape](mid))
            lo = mid
        except RecursionError:
            hi = mid
    return lo


def assert_refused(code: str) -> None:
    for check in (pyparse.refuse_too_deep, pyparse.parse_cst):
        with pytest.raises(pyparse.TooDeep, match="nests too deeply") as info:
            check(code)
        assert isinstance(info.value, RecursionError) and isinstance(info.value, ValueError)  # server and CLI read it


def _in_frames(depth: int, fn):
    """``fn()`` called ``depth`` Python frames down, as a server thread or the CLI calls our readers."""
    return fn() if depth == 0 else _in_frames(depth - 1, fn)


@pytest.mark.parametrize("shape", list(NESTINGS))
def test_code_our_readers_cannot_take_is_refused_and_what_is_accepted_they_read(shape):
    """Past the limit every shape is a TooDeep; at the deepest accepted, libcst's scope analysis, codegen and our
    transformers (Patch's reading) run without RecursionError even 150 frames down."""
    from rag_server.candidates import free_what_is_missing
    from rag_server.scope import analyze

    assert_refused(NESTINGS[shape](300))
    deepest = NESTINGS[shape](_largest_accepted(shape))
    code = "import torch.nn as nn\n" + deepest + "y = nn.Swish()\n"

    def read():
        source, _, _ = free_what_is_missing(code)
        report = analyze(source)
        return report.module.code

    assert "nn.SiLU()" in _in_frames(150, read)


def test_normal_and_mid_edit_code_is_not_refused_but_brackets_left_open_past_the_limit_are():
    import timm

    for module in ("vision_transformer", "efficientnet"):
        with open(f"{timm.__path__[0]}/models/{module}.py", encoding="utf-8") as f:
            pyparse.refuse_too_deep(f.read())  # timm's deepest: 30 levels
    pyparse.refuse_too_deep("x = foo(\n    bar(1, [2, {3: (4,\n")  # mid-edit: the caller mends it
    pyparse.refuse_too_deep("x = " + "(" * 150 + "1" + ")" * 150 + "\n")  # parentheses add no level
    with pytest.raises(pyparse.TooDeep, match=r"line 2\): 100 brackets open"):
        pyparse.refuse_too_deep("import torch\nx = " + "[" * 100 + "1\n")  # does not parse: measured by its brackets
    with pytest.raises(pyparse.TooDeep):
        pyparse.refuse_too_deep("x = " + "[" * 250 + "1" + "]" * 250 + "\n")  # "too many nested parentheses" for CPython


SERVER_PACKAGES = ("rag_server", "indexer", "predictor")  # what runs in the server's RPC threads (sandbox: own processes)


def test_the_servers_code_parses_through_pyparse_only():
    """A raw ``ast.parse`` in the channels-first reader lost 114 of 554 Suggests to INTERNAL
    ("AST constructor recursion depth mismatch") under mixed load: CPython 3.11's AST constructor state is shared by
    threads. Every parse in the server's packages goes through ``pyparse.parse``, which takes them one at a time."""
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    raw = []
    for package in SERVER_PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
                if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "parse"
                        and isinstance(node.func.value, ast.Name) and node.func.value.id == "ast"):
                    raw.append(f"{path.relative_to(root)}:{node.lineno}")
    assert not raw, raw


def test_parses_in_many_threads_never_fail_spuriously():
    """The race needs a thread switch inside the AST constructor: a garbage collection that runs a Python finalizer
    does it. Raw ``ast.parse`` failed about once in 4 s of such load; through ``pyparse.parse``, never."""
    import gc
    import threading
    import time

    code = "\n".join(f"def f{i}(x):\n    return [x * {i} for _ in range(3)] + [{{'a': (x, {i})}}]" for i in range(300))
    errors: list[str] = []

    class Cyclic:
        def __init__(self) -> None:
            self.me = self

        def __del__(self) -> None:
            time.sleep(0)

    def work() -> None:
        end = time.monotonic() + 2.0
        while time.monotonic() < end:
            for _ in range(50):
                Cyclic()
            try:
                pyparse.parse(code)
            except SystemError as exc:
                errors.append(str(exc))

    thresholds = gc.get_threshold()
    gc.set_threshold(50, 5, 5)
    try:
        threads = [threading.Thread(target=work) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        gc.set_threshold(*thresholds)
    assert not errors, errors[:3]
