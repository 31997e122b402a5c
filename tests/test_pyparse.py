"""nnrag.pyparse: CPython 3.11's spurious AST depth-mismatch SystemError (python/cpython#106905) is retried."""

import ast

import pytest

from nnrag import pyparse


def test_a_spurious_depth_mismatch_is_retried_and_other_errors_raised(monkeypatch):
    real = ast.parse
    failures = iter([SystemError("AST constructor recursion depth mismatch (before=45, after=80)")])

    def flaky(source, filename="<unknown>"):
        error = next(failures, None)
        if error is not None:
            raise error
        return real(source, filename=filename)

    monkeypatch.setattr(ast, "parse", flaky)
    assert isinstance(pyparse.parse("x = 1\n").body[0], ast.Assign), "the second attempt parses"
    with pytest.raises(SyntaxError):
        pyparse.parse("def (:\n")
    monkeypatch.setattr(ast, "parse", lambda source, filename="<unknown>": (_ for _ in ()).throw(SystemError("other")))
    with pytest.raises(SystemError, match="other"):
        pyparse.parse("x = 1\n")


def test_source_bytes_are_read_as_python_reads_them():
    """A BOM is dropped, a coding cookie honoured, and bytes invalid in UTF-8 never lose the file."""
    assert pyparse.decode_source(b"\xef\xbb\xbfx = 1\n") == "x = 1\n"
    assert pyparse.decode_source("# -*- coding: latin-1 -*-\nname = 'Ren\u00e9'\n".encode("latin-1")).endswith("'Ren\u00e9'\n")
    assert pyparse.decode_source(b"x = '\xff'\n") == "x = '\u00ff'\n"
    assert pyparse.parse("\ufeffx = 1\n").body[0].targets[0].id == "x"
