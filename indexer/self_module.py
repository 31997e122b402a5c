"""Modules that name themselves: ``d2l = sys.modules[__name__]``, then ``d2l.zeros(...)`` and ``class
Seq2SeqEncoder(d2l.Encoder)``.

Why: d2l's ``torch.py`` (the code of the *Dive into Deep Learning* book, which LLMs copy more than any other PyTorch
source) reads its own functions and classes through that alias, and defines its aliases at the end of the file
(``zeros = torch.zeros``). A block cut from it kept ``d2l = sys.modules[__name__]`` and every statement writing
through it (``d2l.DATA_HUB['ptb'] = (d2l.DATA_URL + ...)``), but not the names read through it: in its own file the
alias is the block's module, which has none of them, and ``PositionalEncoding`` failed at import with "module has no
attribute 'DATA_URL'". Read as plain names, the closure finds them like any other module-level name.
"""

from __future__ import annotations

import re

import libcst as cst

# ``NAME = sys.modules[__name__]`` at the top level of a module (no indentation)
SELF_ALIAS = re.compile(r"^(\w+)\s*=\s*sys\.modules\[__name__\]\s*(?:#.*)?$", re.MULTILINE)


class _Unqualify(cst.CSTTransformer):
    """``alias.name`` -> ``name`` for each alias of the module itself."""

    def __init__(self, aliases: set[str]) -> None:
        super().__init__()
        self.aliases = aliases

    def leave_Attribute(self, original_node: cst.Attribute, updated_node: cst.Attribute) -> cst.BaseExpression:
        value = updated_node.value
        return updated_node.attr if isinstance(value, cst.Name) and value.value in self.aliases else updated_node


def unqualified_self_references(text: str) -> str:
    """``text`` with each ``alias.name`` read through a module-level ``alias = sys.modules[__name__]`` written as
    ``name``; the alias's own line stays, so every other line keeps its number (provenance line ranges). ``text``
    itself when it has no such alias or libcst cannot parse it."""
    aliases = set(SELF_ALIAS.findall(text))
    if not aliases:
        return text
    try:
        module = cst.parse_module(text)
    except cst.ParserSyntaxError:
        return text
    return module.visit(_Unqualify(aliases)).code
