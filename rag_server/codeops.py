"""Source surgery for patching: cut a definition with its dependencies out of a block,
rename top-level names, and splice blocks and imports into a module.

Everything works on libcst trees so the user's code keeps its formatting and comments. The user's statements are
kept, with two exceptions that show in the diff: a keyword argument edited at a call (``edit_call_keywords``: renamed,
its value inverted, or dropped) and an import from a module that does not exist (``drop_missing_imports``).
"""

from __future__ import annotations

import ast
import re
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Callable, Iterator

import libcst as cst

from nnrag import pyparse
from rag_server.scope import _dotted, _statement_bindings, import_bindings, parse_cst


_TREES: ContextVar[dict[str, cst.Module] | None] = ContextVar("parsed_trees", default=None)


@contextmanager
def parse_once() -> Iterator[None]:
    """Inside this block (one patch), each source is parsed once. Why: a patch inserts the same store blocks on every
    try, and each insertion reads a block three or four times (imports, statements, renames); re-parsing them took
    57 of the 80 s of a 20-block patch. libcst trees are immutable, so one tree serves every reader. Scoped to the
    call, not the process: a large block's tree takes up to 12 MB, and a server must not keep them."""
    token = _TREES.set({})
    try:
        yield
    finally:
        _TREES.reset(token)


def parsed(code: str) -> cst.Module:
    """``code``'s tree: from this ``parse_once`` block's trees when inside one, else freshly parsed."""
    trees = _TREES.get()
    if trees is None:
        return parse_cst(code)
    tree = trees.get(code)
    if tree is None:
        tree = trees[code] = parse_cst(code)
    return tree


class _NameCollector(cst.CSTVisitor):
    """Every identifier a statement reads (over-approximate: not attribute names or keywords)."""

    def __init__(self) -> None:
        self.names: set[str] = set()

    def visit_Name(self, node: cst.Name) -> None:
        self.names.add(node.value)

    def visit_Attribute(self, node: cst.Attribute) -> bool:
        node.value.visit(self)
        return False

    def visit_Arg(self, node: cst.Arg) -> bool:
        node.value.visit(self)
        return False

    def visit_SimpleString(self, node: cst.SimpleString) -> None:
        # string annotations ("Foo") name classes too
        text = node.evaluated_value if isinstance(node.evaluated_value, str) else ""
        if text.isidentifier():
            self.names.add(text)


def referenced_names(node: cst.CSTNode) -> set[str]:
    collector = _NameCollector()
    node.visit(collector)
    return collector.names


def is_import(stmt: cst.CSTNode) -> bool:
    return isinstance(stmt, cst.SimpleStatementLine) and all(
        isinstance(s, (cst.Import, cst.ImportFrom)) for s in stmt.body
    )


def is_main_guard(stmt: cst.CSTNode) -> bool:
    if not isinstance(stmt, cst.If):
        return False
    test = stmt.test
    return isinstance(test, cst.Comparison) and isinstance(test.left, cst.Name) and test.left.value == "__name__"


def is_docstring(stmt: cst.CSTNode) -> bool:
    return (
        isinstance(stmt, cst.SimpleStatementLine)
        and len(stmt.body) == 1
        and isinstance(stmt.body[0], cst.Expr)
        and isinstance(stmt.body[0].value, (cst.SimpleString, cst.ConcatenatedString))
    )


def statement_bound_names(stmt: cst.CSTNode) -> set[str]:
    return {name for name, _ in _statement_bindings(stmt)}


def closure(module: cst.Module, roots: set[str]) -> list[int]:
    """Indices of the top-level statements needed to define ``roots`` (transitively), in order.

    Imports are included only when something in the closure reads the name they bind;
    ``__future__`` imports always come along; ``if __name__ == "__main__"`` never does.
    """
    binders: dict[str, list[int]] = {}
    for index, stmt in enumerate(module.body):
        if is_main_guard(stmt):
            continue
        for name in statement_bound_names(stmt):
            binders.setdefault(name, []).append(index)
    needed: set[int] = set()
    todo = list(roots)
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for index in binders.get(name, []):
            if index in needed:
                continue
            needed.add(index)
            stmt = module.body[index]
            if is_import(stmt):
                continue
            todo.extend(referenced_names(stmt))
    for index, stmt in enumerate(module.body):
        if is_import(stmt) and any(
            isinstance(s, cst.ImportFrom) and s.module is not None and module.code_for_node(s.module) == "__future__"
            for s in stmt.body
        ):
            needed.add(index)
    return sorted(needed)


def extract_definition(code: str, roots: set[str]) -> str:
    """The part of a (scope-closed) block's code that defines ``roots``, with what they need."""
    module = parsed(code)
    keep = closure(module, roots)
    body = [_strip_leading_blank(module.body[i]) if n == 0 else module.body[i] for n, i in enumerate(keep)]
    return module.with_changes(body=body, header=[]).code


def _strip_leading_blank(stmt: cst.CSTNode) -> cst.CSTNode:
    if hasattr(stmt, "leading_lines"):
        return stmt.with_changes(leading_lines=[line for line in stmt.leading_lines if line.comment is not None])
    return stmt


class _Renamer(cst.CSTTransformer):
    """Rename identifiers (not attribute names, not keyword argument names) everywhere."""

    def __init__(self, mapping: dict[str, str]) -> None:
        self.mapping = mapping

    def leave_Name(self, original: cst.Name, updated: cst.Name) -> cst.Name:
        new = self.mapping.get(updated.value)
        return updated.with_changes(value=new) if new else updated

    def visit_Attribute(self, node: cst.Attribute) -> bool:
        return True

    def leave_Attribute(self, original: cst.Attribute, updated: cst.Attribute) -> cst.Attribute:
        # restore the attribute name: obj.Foo must stay obj.Foo
        return updated.with_changes(attr=original.attr)

    def leave_Arg(self, original: cst.Arg, updated: cst.Arg) -> cst.Arg:
        return updated.with_changes(keyword=original.keyword)

    def leave_ImportAlias(self, original: cst.ImportAlias, updated: cst.ImportAlias) -> cst.ImportAlias:
        # the imported object keeps its name; only the local binding is renamed (``as new``)
        bound = original.asname.name if original.asname is not None else original.name
        if isinstance(bound, cst.Name) and bound.value in self.mapping:
            return original.with_changes(asname=cst.AsName(name=cst.Name(self.mapping[bound.value])))
        return original


def rename_names(code: str, mapping: dict[str, str]) -> str:
    """Rename top-level names of a block (and every reference to them) by ``mapping``."""
    if not mapping:
        return code
    return parsed(code).visit(_Renamer(mapping)).code


@dataclass
class KeywordEdits:
    """Edits of the keyword arguments at a model's calls of one name, so that they call the block chosen for it.

    ``renamed``: old -> the block's name for the same value (``relu=True`` -> ``use_act=True``). ``inverted``: old ->
    the block's name for the reciprocal value (CBAM's ``reduction_ratio=16`` -> timm's ``rd_ratio=1 / 16``).
    ``dropped``: keywords the block has no parameter for (``padding=1`` for a RepVGG block that pads itself).
    ``flag_layers``: a boolean activation flag -> the block's activation layer parameter: ``relu=False`` becomes
    ``act_layer=nn.Identity``, ``relu=True`` is removed (the block's default activation applies).
    """

    renamed: dict[str, str] = field(default_factory=dict)
    inverted: dict[str, str] = field(default_factory=dict)
    dropped: tuple[str, ...] = ()
    flag_layers: dict[str, str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.renamed or self.inverted or self.dropped or self.flag_layers)

    def keywords(self, keywords: list[str]) -> list[str]:
        """A call's keyword names as they read once edited (a flag as the layer parameter it may become)."""
        return [self.renamed.get(k, self.inverted.get(k, self.flag_layers.get(k, k))) for k in keywords if k not in self.dropped]

    def describe(self) -> str:
        """``relu= -> use_act=, reduction_ratio=v -> rd_ratio=1 / v, padding= dropped``: as reasons, the CLI and the demo
        show them."""
        parts = [f"{old}= -> {new}=" for old, new in self.renamed.items()]
        parts += [f"{old}=v -> {new}=1 / v" for old, new in self.inverted.items()]
        parts += [f"{old}= dropped" for old in self.dropped]
        parts += [f"{old}=False -> {new}={NO_ACTIVATION}, {old}=True -> the block's default {new}"
                  for old, new in self.flag_layers.items()]
        return ", ".join(parts)


NO_ACTIVATION = "nn.Identity"  # what an activation layer parameter takes for "no activation"


def flag_value(value: cst.BaseExpression) -> bool | None:
    """The truth of a literal flag value (``True``, ``False``, ``0``, ``1``), None for anything else."""
    if isinstance(value, cst.Name) and value.value in ("True", "False"):
        return value.value == "True"
    if isinstance(value, cst.Integer):
        return value.value not in ("0", "0x0")
    return None


def describe_defaults(defaults: dict[str, str]) -> str:
    """``norm_layer=nn.BatchNorm2d, downsample: 1x1 conv + BatchNorm2d when ...``: a default set in an inserted block,
    as code where it is a name, in words where it is the projection shortcut (``InsertedBlock.defaults_set``)."""
    return ", ".join(f"{k}={v}" if re.fullmatch(r"[\w.]+", v) else f"{k}: {v}" for k, v in defaults.items())


def _reciprocal(value: cst.BaseExpression) -> cst.BaseExpression:
    simple = isinstance(value, (cst.Integer, cst.Float, cst.Name, cst.Attribute, cst.Subscript, cst.Call))
    right = value if simple or value.lpar else value.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
    return cst.BinaryOperation(left=cst.Integer("1"), operator=cst.Divide(), right=right)


class _KeywordEditor(cst.CSTTransformer):
    """Apply ``edits[callee]`` to the keyword arguments of calls of bare names."""

    def __init__(self, edits: dict[str, KeywordEdits]) -> None:
        self.edits = edits

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.Call:
        edits = self.edits.get(updated.func.value) if isinstance(updated.func, cst.Name) else None
        if not edits:
            return updated
        args: list[cst.Arg] = []
        for arg in updated.args:
            keyword = arg.keyword.value if arg.keyword is not None else None
            if keyword in edits.dropped:
                continue
            if keyword in edits.flag_layers:
                if flag_value(arg.value):  # on: the block's own default activation
                    continue
                arg = arg.with_changes(keyword=cst.Name(edits.flag_layers[keyword]), value=cst.parse_expression(NO_ACTIVATION))
            if keyword in edits.inverted:
                arg = arg.with_changes(keyword=cst.Name(edits.inverted[keyword]), value=_reciprocal(arg.value))
            elif keyword in edits.renamed:
                arg = arg.with_changes(keyword=cst.Name(edits.renamed[keyword]))
            args.append(arg)
        if args and len(args) < len(updated.args):  # a dropped last argument leaves no dangling comma behind
            args[-1] = args[-1].with_changes(comma=updated.args[-1].comma)
        return updated.with_changes(args=args)


def edit_call_keywords(module: cst.Module, edits: dict[str, KeywordEdits]) -> cst.Module:
    """``module`` with the keyword arguments of calls to each name in ``edits`` edited (``GhostModule(..., relu=True)``
    -> ``GhostModule(..., use_act=True)``; ``CbamModule(c, reduction_ratio=16)`` -> ``CbamModule(c, rd_ratio=1 / 16)``)."""
    edits = {name: e for name, e in edits.items() if e}
    return module.visit(_KeywordEditor(edits)) if edits else module


class _KeywordAdder(cst.CSTTransformer):
    """Add ``keyword=value`` to every call of the bare name ``callee`` that does not pass ``keyword`` (nor ``**kwargs``)."""

    def __init__(self, callee: str, keyword: str, value: str) -> None:
        self.callee, self.keyword, self.value = callee, keyword, value

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.Call:
        if not (isinstance(updated.func, cst.Name) and updated.func.value == self.callee):
            return updated
        if any(a.keyword is not None and a.keyword.value == self.keyword or a.star == "**" for a in updated.args):
            return updated
        args = list(updated.args)
        trailing = args[-1].comma if args else cst.MaybeSentinel.DEFAULT  # a call laid out one argument per line keeps it
        if args:
            args[-1] = args[-1].with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
        added = cst.Arg(keyword=cst.Name(self.keyword), value=cst.parse_expression(self.value), comma=trailing,
                        equal=cst.AssignEqual(whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace("")))
        return updated.with_changes(args=[*args, added])


def add_call_keyword(code: str, callee: str, keyword: str, value: str) -> str:
    """``code`` with ``keyword=value`` passed at every call of ``callee`` that does not pass it (``LSTM(16, 32)`` ->
    ``LSTM(16, 32, batch_first=True)``)."""
    return parsed(code).visit(_KeywordAdder(callee, keyword, value)).code


class _ClassScoped(cst.CSTTransformer):
    """A transformer that knows the class it is in (``self.stack``) and edits only the classes in ``classes``."""

    def __init__(self, classes: set[str]) -> None:
        self.classes = classes
        self.stack: list[str] = []

    def in_target_class(self) -> bool:
        return bool(self.stack) and self.stack[-1] in self.classes

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self.stack.append(node.name.value)

    def leave_ClassDef(self, original: cst.ClassDef, updated: cst.ClassDef) -> cst.ClassDef:
        self.stack.pop()
        return updated


# Parameters that pick the input layout a block reads (timm's ``GlobalResponseNorm(channels_last=True)``, ConvNeXt's
# ``LayerNorm(data_format="channels_last")``): their literal default may be replaced (``candidates.layout_switches``)
LAYOUT_PARAMETERS = frozenset({"channels_last", "data_format"})
# Parameters of a block's ``__init__`` that hold its activation layer class (``act_layer=nn.ReLU``)
ACTIVATION_LAYER_PARAMETERS = frozenset({"act_layer", "activation_layer", "act_fn", "act_cls", "activation_fn", "act_layer_cls"})


OVERRIDDEN_PARAMETERS = LAYOUT_PARAMETERS | ACTIVATION_LAYER_PARAMETERS


class _DefaultSetter(_ClassScoped):
    """Give the ``__init__`` parameters of the classes in ``classes`` the defaults in ``defaults`` where they default to
    None or have none, and layout and activation parameters (``LAYOUT_PARAMETERS``, ``ACTIVATION_LAYER_PARAMETERS``:
    the SiLU a ``ConvBNSiLU``'s name states) whatever their default (the caller only names parameters that may take
    one)."""

    def __init__(self, classes: set[str], defaults: dict[str, str]) -> None:
        super().__init__(classes)
        self.defaults = defaults

    def leave_Param(self, original: cst.Param, updated: cst.Param) -> cst.Param:
        value = self.defaults.get(updated.name.value)
        unset = updated.default is None or (isinstance(updated.default, cst.Name) and updated.default.value == "None")
        if value is None or not (unset or updated.name.value in OVERRIDDEN_PARAMETERS) or not self.in_target_class():
            return updated
        if updated.default is None and updated.annotation is None:  # ``norm_layer`` -> ``norm_layer=nn.BatchNorm2d``
            tight = cst.AssignEqual(whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace(""))
            return updated.with_changes(default=cst.parse_expression(value), equal=tight)
        return updated.with_changes(default=cst.parse_expression(value))

    def leave_FunctionDef(self, original: cst.FunctionDef, updated: cst.FunctionDef) -> cst.FunctionDef:
        if original.name.value == "__init__" or not self.stack:
            return updated
        return updated.with_changes(params=original.params)  # only __init__'s parameters change


def set_parameter_defaults(code: str, classes: set[str], defaults: dict[str, str]) -> str:
    """``code`` with the ``__init__`` parameters of ``classes`` that default to None defaulting to ``defaults`` instead
    (timm's res2net ``Bottle2neck(..., norm_layer=None)`` -> ``norm_layer=nn.BatchNorm2d``)."""
    if not defaults:
        return code
    return parsed(code).visit(_DefaultSetter(classes, defaults)).code


class _InitPrepender(_ClassScoped):
    """Put ``statements`` first in the ``__init__`` of the classes in ``classes`` (after its docstring)."""

    def __init__(self, classes: set[str], statements: list[cst.BaseStatement]) -> None:
        super().__init__(classes)
        self.statements = statements

    def leave_FunctionDef(self, original: cst.FunctionDef, updated: cst.FunctionDef) -> cst.FunctionDef:
        if original.name.value != "__init__" or not self.in_target_class() or not isinstance(updated.body, cst.IndentedBlock):
            return updated
        body = list(updated.body.body)
        at = 1 if body and is_docstring(body[0]) else 0
        return updated.with_changes(body=updated.body.with_changes(body=body[:at] + self.statements + body[at:]))


def prepend_to_init(code: str, classes: set[str], statements: str) -> str:
    """``code`` with ``statements`` run first in the ``__init__`` of ``classes`` (``Candidate.shortcut``)."""
    if not statements:
        return code
    return parsed(code).visit(_InitPrepender(classes, list(cst.parse_module(statements).body))).code


def _missing_module(stmt: cst.BaseSmallStatement, importable: Callable[[str], bool]) -> str | None:
    """The module of a ``from M import names`` that cannot be imported from a single file: relative (a lone file has
    no package) or not ``importable`` (the dotted module); None otherwise, and for ``from M import *`` (``import M`` is
    ``_missing_module_aliases``'s)."""
    if not isinstance(stmt, cst.ImportFrom) or isinstance(stmt.names, cst.ImportStar):
        return None
    module = ("." * len(stmt.relative)) + (_dotted(stmt.module) if stmt.module is not None else "")
    if stmt.relative:
        return module
    return None if module == "__future__" or importable(module) else module


def _without_lacking(stmt: cst.BaseSmallStatement, lacks: Callable[[str, str], bool]) -> tuple[cst.BaseSmallStatement | None, list[str]]:
    """``from M import a, b`` without the names installed module M certainly does not offer (``lacks``): the statement
    left (None when nothing is), and the bound names removed."""
    if not isinstance(stmt, cst.ImportFrom) or isinstance(stmt.names, cst.ImportStar) or stmt.relative or stmt.module is None:
        return stmt, []
    module = _dotted(stmt.module)
    keep = [a for a in stmt.names if not lacks(module, _dotted(a.name))]
    if len(keep) == len(stmt.names):
        return stmt, []
    gone = [_dotted(a.asname.name if a.asname else a.name) for a in stmt.names if a not in keep]  # type: ignore[arg-type]
    if not keep:
        return None, gone
    keep[-1] = keep[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
    return stmt.with_changes(names=keep), gone


class _PrefixStripper(cst.CSTTransformer):
    """``mb.SEBlock`` -> ``SEBlock`` for each dotted prefix in ``prefixes`` (a module that is not there)."""

    def __init__(self, prefixes: set[str]) -> None:
        self.prefixes = prefixes

    def leave_Attribute(self, original: cst.Attribute, updated: cst.Attribute) -> cst.BaseExpression:
        return cst.Name(updated.attr.value) if _dotted(updated.value) in self.prefixes else updated


def _attributes_of(module: cst.Module, prefix: str) -> set[str]:
    """The names read as ``prefix.name`` in ``module``."""
    found: set[str] = set()

    class _Reader(cst.CSTVisitor):
        def visit_Attribute(self, node: cst.Attribute) -> None:
            if _dotted(node.value) == prefix:
                found.add(node.attr.value)

    module.visit(_Reader())
    return found


def _only_read_as_module(module: cst.Module, name: str) -> bool:
    """Whether ``name`` is read in ``module`` (outside imports) only as ``name.X``, at least once, and never on its own
    (called, subclassed, assigned, passed). Why: ``from pkg import layers`` binds a submodule or a class alike; only
    its uses tell them apart, and a class is nearly always used on its own somewhere."""
    through: set[int] = set()  # Name nodes that are an attribute's object or its attribute, or a keyword
    seen = {"as_prefix": False, "alone": False}

    class _Reader(cst.CSTVisitor):
        def visit_Import(self, node: cst.Import) -> bool:
            return False

        def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
            return False

        def visit_Attribute(self, node: cst.Attribute) -> None:
            through.add(id(node.attr))
            if isinstance(node.value, cst.Name) and node.value.value == name:
                through.add(id(node.value))
                seen["as_prefix"] = True

        def visit_Arg(self, node: cst.Arg) -> None:
            if node.keyword is not None:
                through.add(id(node.keyword))

        def visit_Name(self, node: cst.Name) -> None:
            if node.value == name and id(node) not in through:
                seen["alone"] = True

    module.visit(_Reader())
    return seen["as_prefix"] and not seen["alone"]


def _module_like(name: str) -> bool:
    """A name spelled as modules are (``layers``, ``_ops``), not as classes or constants (``Attention``, ``CFG``); the
    name a ``from`` import takes, not its alias (``from mynet import layers as L`` is a module)."""
    return name[:1].islower() or (name[:1] == "_" and name[1:2].islower())


def _missing_module_aliases(module: cst.Module, importable: Callable[[str], bool]) -> dict[int, tuple[str, str]]:
    """For each top-level ``import M [as a]`` of a module that is not installed, and each ``from M import m [as a]``
    of a module M that cannot be imported (``_missing_module``) where ``m`` reads as a submodule (``m`` spelled in
    lower case, its name ``a`` used only as ``a.X``: ``_only_read_as_module``), keyed by ``id`` of its alias node:
    (the prefix the code reads it through, ``a``, ``m`` or ``M``; the import as written). Skipped when a name read
    through it is also bound at the top level (stripping the prefix would change which object it means). Why the
    ``from`` form: ``from mynet import layers`` was removed as an import of the name ``layers``, and
    ``layers.Attention(...)`` was left unresolved, while ``import mynet.layers as layers`` was read through."""
    top = {name for stmt in module.body for name in statement_bound_names(stmt)}
    out: dict[int, tuple[str, str]] = {}
    for stmt in module.body:
        for small in stmt.body if isinstance(stmt, cst.SimpleStatementLine) else []:
            if isinstance(small, cst.ImportFrom) and (source := _missing_module(small, importable)) is not None:
                for alias in small.names:  # type: ignore[union-attr]  (_missing_module is None for a star import)
                    name = _dotted(alias.name)
                    bound = _dotted(alias.asname.name) if alias.asname else name  # type: ignore[arg-type]
                    if (_module_like(name) and _only_read_as_module(module, bound)
                            and not (_attributes_of(module, bound) & top)):
                        out[id(alias)] = (bound, f"from {source} import {name}" + (f" as {bound}" if alias.asname else ""))
            if not isinstance(small, cst.Import):
                continue
            for alias in small.names:
                full = _dotted(alias.name)
                prefix = _dotted(alias.asname.name) if alias.asname else full  # type: ignore[arg-type]
                if not importable(full.split(".")[0]) and not (_attributes_of(module, prefix) & top):
                    out[id(alias)] = (prefix, f"import {full}" + (f" as {prefix}" if alias.asname else ""))
    return out


def drop_missing_imports(code: str, importable: Callable[[str], bool],
                         lacks: Callable[[str, str], bool] = lambda module, name: False) -> tuple[str, list[str]]:
    """``code`` without its top-level ``from M import ...`` statements whose module M cannot be imported (``importable``
    of the dotted name), without its
    ``import M [as a]`` of such modules (``a.SEBlock`` then reads ``SEBlock``), and without the names an installed M
    certainly lacks (``lacks``: ``from torchvision.ops import ConvBNActivation``), with a note for each. Why: an LLM often imports its blocks from the project it imagines (``from models.common import Conv``,
    ``from .blocks import SEBlock``) or from the wrong library module; without the import those names are free, and
    Patch resolves them like any other missing name. Imports inside ``try`` or functions are left alone (the code
    already handles their failure)."""
    module = parsed(code)
    aliases = _missing_module_aliases(module, importable)
    body: list[cst.CSTNode] = []
    notes: list[str] = []
    for stmt in module.body:
        if not isinstance(stmt, cst.SimpleStatementLine):
            body.append(stmt)
            continue
        kept = []
        for small in stmt.body:
            imported = small.names if isinstance(small, (cst.Import, cst.ImportFrom)) and not isinstance(small.names, cst.ImportStar) else []
            if any(id(a) in aliases for a in imported):
                for a in imported:
                    if id(a) in aliases:
                        prefix, written = aliases[id(a)]
                        notes.append(f"removed `{written}`, a module that does not exist here, and read {prefix}.X as X")
                left = [a for a in imported if id(a) not in aliases]
                if not left:
                    continue
                left[-1] = left[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
                small = small.with_changes(names=left)
                if isinstance(small, cst.Import):
                    kept.append(small)
                    continue
            missing = _missing_module(small, importable)
            if missing is not None:
                names = ", ".join(bound for bound, _ in import_bindings(small))  # type: ignore[arg-type]
                notes.append(f"removed the import of {names} from {missing!r}, a module that does not exist here")
                continue
            left, gone = _without_lacking(small, lacks)
            if gone:
                source = _dotted(small.module)  # type: ignore[attr-defined]
                notes.append(f"removed {', '.join(gone)} from the import from {source!r}, which does not define {'it' if len(gone) == 1 else 'them'}")
            if left is not None:
                kept.append(left)
        if kept == list(stmt.body):
            body.append(stmt)
        elif kept:
            body.append(stmt.with_changes(body=[s.with_changes(semicolon=cst.MaybeSentinel.DEFAULT) for s in kept]))
    if not notes:
        return code, []
    new = module.with_changes(body=body)
    if aliases:
        new = new.visit(_PrefixStripper({prefix for prefix, _ in aliases.values()}))
    return new.code, notes


def _torch_nn_prefixes(module: cst.Module) -> set[str]:
    """The dotted prefixes through which ``module`` reads torch.nn: ``nn`` for ``import torch.nn as nn`` or ``from
    torch import nn``, ``torch.nn`` for ``import torch``."""
    prefixes: set[str] = set()
    for stmt in module.body:
        for small in stmt.body if isinstance(stmt, cst.SimpleStatementLine) else []:
            if isinstance(small, (cst.Import, cst.ImportFrom)):
                for bound, target in import_bindings(small):
                    if target == "torch.nn":
                        prefixes.add(bound)
                    elif target == "torch" and bound == "torch":
                        prefixes.add("torch.nn")
    return prefixes


class _TorchNnFixer(cst.CSTTransformer):
    """``nn.X`` -> ``nn.Real`` or ``X`` as ``replacement(X)`` says (None: leave it), recording each change once; a
    call ``nn.X()`` without arguments -> ``nn.<equivalent(X)>`` where ``equivalent`` names one (``nn.GlobalAvgPool2d()``
    -> ``nn.AdaptiveAvgPool2d(1)``)."""

    def __init__(self, prefixes: set[str], replacement: Callable[[str], str | None],
                 equivalent: Callable[[str], str | None] | None = None) -> None:
        self.prefixes = prefixes
        self.replacement = replacement
        self.equivalent = equivalent
        self.changed: dict[str, str] = {}  # written -> now

    def _equivalent_of(self, node: cst.BaseExpression) -> tuple[str, str] | None:
        """(prefix, the torch.nn call text) for an ``nn.X`` whose call ``equivalent`` rewrites."""
        if self.equivalent is None or not isinstance(node, cst.Attribute) or _dotted(node.value) not in self.prefixes:
            return None
        call = self.equivalent(node.attr.value)
        return (_dotted(node.value), call) if call else None

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        found = self._equivalent_of(original.func)
        if found is None or original.args:
            return updated
        prefix, call = found
        self.changed[f"{prefix}.{original.func.attr.value}()"] = f"{prefix}.{call}"  # type: ignore[attr-defined]
        return cst.parse_expression(f"{prefix}.{call}")

    def leave_Attribute(self, original: cst.Attribute, updated: cst.Attribute) -> cst.BaseExpression:
        prefix = _dotted(updated.value)
        if prefix not in self.prefixes:
            return updated
        if self._equivalent_of(original) is not None:
            return updated  # its call becomes the equivalent (``leave_Call``); any other use is left to a second pass
        real = self.replacement(updated.attr.value)
        if real is None:
            return updated
        written = f"{prefix}.{updated.attr.value}"
        if real:
            self.changed[written] = f"{prefix}.{real}"
            return updated.with_changes(attr=cst.Name(real))
        self.changed[written] = updated.attr.value
        return cst.Name(updated.attr.value)


def rewrite_torch_nn_attributes(code: str, replacement: Callable[[str], str | None],
                                equivalent: Callable[[str], str | None] | None = None) -> tuple[str, dict[str, str]]:
    """``code`` with each ``nn.X`` that torch.nn lacks rewritten as ``replacement`` says (``nn.Swish`` ->
    ``nn.SiLU``; ``nn.DropPath`` -> ``DropPath``, then a free name resolved like any other), each argument-less call
    ``nn.X()`` that ``equivalent`` names a torch.nn expression for rewritten to it (``nn.GlobalAvgPool2d()`` ->
    ``nn.AdaptiveAvgPool2d(1)``), and each rewrite (written -> now). Why: an ``nn.X`` is never a free name, so without
    this nothing is found for it."""
    module = parsed(code)
    prefixes = _torch_nn_prefixes(module)
    if not prefixes:
        return code, {}
    changed: dict[str, str] = {}
    for fixer in ([_TorchNnFixer(prefixes, replacement, equivalent)] if equivalent else []) + [_TorchNnFixer(prefixes, replacement)]:
        module = module.visit(fixer)
        changed.update(fixer.changed)
    return (module.code, changed) if changed else (code, {})


def torch_nn_note(written: str, now: str) -> str:
    """Patch's note on one ``nn.X`` rewrite."""
    return (f"read `{written}` as `{now}`: torch.nn has no {written.rsplit('.', 1)[1].rstrip('()')}"
            + ("" if "." in now else ", so it is resolved as a missing block"))


def without_future_imports(code: str) -> str:
    """``code`` without its top-level ``from __future__ import ...`` lines. Why: Python takes them only at the top of a
    file, and a block offered to an editor goes into the middle of one (Patch inserts blocks without them too);
    365 stored blocks (ultralytics', vit-pytorch's, ...) start with one, and each made the editor's file a
    SyntaxError."""
    try:
        body = pyparse.parse(code).body
    except (SyntaxError, ValueError, RecursionError):
        return code
    drop = {line for s in body if isinstance(s, ast.ImportFrom) and s.module == "__future__"
            for line in range(s.lineno, (s.end_lineno or s.lineno) + 1)}
    return "".join(line for i, line in enumerate(code.splitlines(keepends=True), 1) if i not in drop) if drop else code


def import_lines(code: str) -> list[tuple[str, str]]:
    """(bound name, dotted target) for every top-level import of ``code``."""
    module = parsed(code)
    out: list[tuple[str, str]] = []
    for stmt in module.body:
        if is_import(stmt):
            for small in stmt.body:
                out.extend(import_bindings(small))  # type: ignore[arg-type]
    return out


def split_block(code: str) -> tuple[list[cst.SimpleStatementLine], list[cst.CSTNode], cst.Module]:
    """A block's top-level imports and its other statements."""
    module = parsed(code)
    imports = [s for s in module.body if is_import(s)]
    rest = [s for s in module.body if not is_import(s) and not is_main_guard(s) and not is_docstring(s)]
    return imports, rest, module  # type: ignore[return-value]


def import_insert_index(module: cst.Module) -> int:
    """Where new imports go: after the docstring, ``__future__`` and the leading import run."""
    index = 0
    body = module.body
    if body and is_docstring(body[0]):
        index = 1
    last_import = None
    for i, stmt in enumerate(body):
        if is_import(stmt):
            last_import = i
        elif i >= index and not is_docstring(stmt):
            break
    return (last_import + 1) if last_import is not None else index


def with_blank_lines(stmt: cst.CSTNode, count: int) -> cst.CSTNode:
    if not hasattr(stmt, "leading_lines"):
        return stmt
    comments = [line for line in stmt.leading_lines if line.comment is not None]
    return stmt.with_changes(leading_lines=[cst.EmptyLine()] * count + comments)
