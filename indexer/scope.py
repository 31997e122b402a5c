"""Per-module static analysis: top-level units, the module-level names each one binds,
and every reference it makes to a module-level (global) name, with exact positions.

Why positions: a block is assembled from source slices, and renaming a clashing
definition or collapsing ``utils.helper`` to ``helper`` is an edit at exact spans,
which keeps comments, decorators and formatting as the source has them.

Scopes follow Python's rules (function locals, class bodies invisible to methods,
comprehension targets, ``global`` declarations), so a local variable that happens to
share a name with a module-level definition is never mistaken for a reference.
Parsing uses ``ast`` (C parser, ~10x faster than a concrete syntax tree), which keeps
mining the default corpus within seconds; ``col_offset`` values are UTF-8 byte offsets.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from typing import Callable

from nnrag.pyparse import MAX_DEPTH, TooDeep, ast_depth, parse

_DEF_NAME_RE = re.compile(rb"(?:async\s+def|def|class)\s+([A-Za-z_][A-Za-z0-9_]*)")


@dataclass
class Ref:
    """One occurrence of a global name. ``attrs`` is the attribute chain that follows it
    (``F.relu`` -> ``(("relu", end_line, end_col),)``), used to resolve module attributes."""

    name: str
    line: int
    col: int
    end_line: int
    end_col: int
    attrs: tuple[tuple[str, int, int], ...] = ()
    load_time: bool = True  # evaluated when the top-level statement runs (not inside a def body)
    store: bool = False  # a binding site (assignment target or def/class name)
    annotation: bool = False  # inside an annotation that ``from __future__ import annotations`` leaves unevaluated


@dataclass
class ImportBinding:
    """A name bound by an import statement. ``module`` is absolute (relative imports resolved)."""

    name: str  # the local name bound
    module: str  # absolute module of the import
    attr: str | None  # ``from module import attr``; None for ``import module``
    full: str = ""  # for ``import a.b.c`` (no alias): "a.b.c", binding "a"
    line: int = 0


@dataclass
class Unit:
    """A top-level statement of a module (a def, class, assignment or compound statement)."""

    index: int
    node: ast.stmt
    kind: str  # "def", "class", "assign", "import", "compound", "other"
    names: tuple[str, ...]  # module-level names it binds (import units: none, see ``imports``)
    line_start: int  # first line, decorators included
    line_end: int
    imports: list[ImportBinding] = field(default_factory=list)  # import statements it holds
    module_imports: list[ast.AST] = field(default_factory=list)  # import nodes binding module-level names inside a compound unit
    _refs: list[Ref] | None = None
    _import_nodes: list[ast.AST] | None = None


def absolute_module(current: str, is_package: bool, level: int, module: str | None) -> str | None:
    """Absolute module name of ``from <level dots><module> import ...`` inside ``current``; None when it climbs above
    the source's top package (Python: "attempted relative import beyond top-level package"). Why: ``from ..config
    import X`` in ``layers.conv`` of an indexed ``layers/`` folder names ``mynet.config``, a module outside the
    source, not a top-level ``config`` (which read as a missing pip package). A top-level module's ``from .util
    import f`` still reads as its sibling ``util``: a folder without ``__init__.py`` is a namespace package."""
    if level == 0:
        return module or None
    parts = current.split(".") if is_package else current.split(".")[:-1]
    if level - 1 > len(parts) or (level - 1 == len(parts) and (parts or not module)):
        return None
    base = parts[: len(parts) - (level - 1)]
    return ".".join(base + ([module] if module else [])) or None


class ModuleInfo:
    """The parsed module and its top-level units; references are computed on demand."""

    def __init__(self, name: str, text: str, is_package: bool = False):
        self.name, self.text, self.is_package = name, text, is_package
        self.tree = parse(text, filename=name)
        _refuse_deep(self.tree)
        self.lines_b = text.encode("utf-8").splitlines(keepends=True)
        self.future_annotations = any(
            isinstance(s, ast.ImportFrom) and s.module == "__future__" and any(a.name == "annotations" for a in s.names)
            for s in self.tree.body
        )
        self.units: list[Unit] = []
        self.defs: dict[str, list[int]] = {}  # name -> unit indices that bind it (non-import units)
        self.imports: dict[str, ImportBinding] = {}  # top-level import statements, last wins
        self.star_imports: list[str] = []  # absolute modules of ``from x import *``, in order
        self.star_lines: list[int] = []  # the line of each of them
        self.import_fulls: dict[str, list[str]] = {}  # "torch" -> ["torch.nn.functional"] for ``import torch.nn.functional``
        self.all_names: list[str] | None = None
        self.mutations: dict[str, list[int]] = {}  # name -> top-level statements that mutate it in place
        self.unresolved_imports: dict[str, str] = {}  # name -> ``..config`` of a relative import above the source's top
        self._build_units()

    # ---------------------------------------------------------------- units

    def _imports_of(self, stmt: ast.stmt) -> list[ImportBinding]:
        out: list[ImportBinding] = []
        if isinstance(stmt, ast.Import):
            for a in stmt.names:
                if a.asname:
                    out.append(ImportBinding(a.asname, a.name, None, line=stmt.lineno))
                else:
                    top = a.name.split(".")[0]
                    out.append(ImportBinding(top, top, None, full=a.name, line=stmt.lineno))
        elif isinstance(stmt, ast.ImportFrom):
            mod = absolute_module(self.name, self.is_package, stmt.level, stmt.module)
            if mod is None and stmt.level:
                self.unresolved_imports.update((a.asname or a.name, "." * stmt.level + (stmt.module or "")) for a in stmt.names)
            if mod is None or mod == "__future__":
                return out
            for a in stmt.names:
                if a.name == "*":
                    out.append(ImportBinding("*", mod, "*", line=stmt.lineno))
                else:
                    out.append(ImportBinding(a.asname or a.name, mod, a.name, line=stmt.lineno))
        return out

    def _build_units(self) -> None:
        for i, stmt in enumerate(self.tree.body):
            start = min([stmt.lineno] + [d.lineno for d in getattr(stmt, "decorator_list", [])])
            if isinstance(stmt, (ast.Import, ast.ImportFrom)):
                binds = self._imports_of(stmt)
                unit = Unit(i, stmt, "import", (), start, stmt.end_lineno or stmt.lineno, imports=binds)
                for b in binds:
                    if b.name == "*":
                        self.star_imports.append(b.module)
                        self.star_lines.append(b.line)
                    else:
                        self.imports[b.name] = b
                        if b.full and b.full != b.name:
                            self.import_fulls.setdefault(b.name, []).append(b.full)
            else:
                names, nested = _bound_at_module_level(stmt)
                kind = {ast.FunctionDef: "def", ast.AsyncFunctionDef: "def", ast.ClassDef: "class"}.get(type(stmt))
                if kind is None:
                    kind = "assign" if isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)) else ("compound" if isinstance(stmt, (ast.If, ast.Try, ast.With, ast.For, ast.While)) or _is_trystar(stmt) else "other")
                binds = [b for s in nested for b in self._imports_of(s)]
                names = tuple(dict.fromkeys(list(names) + [b.name for b in binds if b.name != "*"]))
                unit = Unit(i, stmt, kind, names, start, stmt.end_lineno or stmt.lineno, imports=binds, module_imports=list(nested))
                for n in names:
                    self.defs.setdefault(n, []).append(i)
                for mutated in _mutated_names(stmt):
                    if mutated not in names:
                        self.mutations.setdefault(mutated, []).append(i)
                if "__all__" in names:
                    self._read_all(stmt)
            self.units.append(unit)
        self._add_calls_that_set_globals()

    def _add_calls_that_set_globals(self) -> None:
        """A module-level call of one of the module's functions that sets module-level names (``global _FUSED``,
        ``_CFG["scale"] = s``) mutates them. Why: ``set_layer_config(fused=True)`` was dropped from the blocks
        reading those names, which then computed with the defaults (1.0 where the source computes 40.0)."""
        for unit in self.units:
            if unit.kind in ("def", "class", "import"):
                continue
            for called in _module_level_calls(unit.node):
                for name in sorted(self._names_set_by_call(called, unit.index, set()) - set(unit.names)):
                    if unit.index not in self.mutations.get(name, []):
                        self.mutations.setdefault(name, []).append(unit.index)

    def _names_set_by_call(self, called: str, before: int, seen: set[int]) -> set[str]:
        """Module-level names a call of ``called`` sets, when it is one of the module's functions defined above unit
        ``before``: its own (``_globals_set_by``) and those of the module's functions it calls in turn (``_outer()``
        calling the setter had been missed)."""
        fn = [i for i in self.defs.get(called, []) if i < before]
        node = self.units[fn[-1]].node if fn else None
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or fn[-1] in seen:
            return set()
        seen.add(fn[-1])
        out = _globals_set_by(node)
        for inner in {n.func.id for stmt in node.body for n in _walk_here(stmt) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}:
            out |= self._names_set_by_call(inner, before, seen)
        return out

    def _read_all(self, stmt: ast.stmt) -> None:
        value = getattr(stmt, "value", None)
        if isinstance(value, (ast.List, ast.Tuple)):
            items = [e.value for e in value.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
            if isinstance(stmt, ast.AugAssign):
                self.all_names = (self.all_names or []) + items
            else:
                self.all_names = items

    # ---------------------------------------------------------------- references

    def refs(self, unit: Unit) -> list[Ref]:
        if unit._refs is None:
            collector = _RefCollector(self.lines_b, lazy_annotations=self.future_annotations)
            collector.top(unit.node)
            unit._refs = collector.refs
            unit._import_nodes = collector.imports
        return unit._refs

    def import_nodes(self, unit: Unit) -> list[ast.AST]:
        """Import statements anywhere inside the unit (function-local ones included)."""
        self.refs(unit)
        return unit._import_nodes or []

    def unit_text(self, unit: Unit) -> bytes:
        return b"".join(self.lines_b[unit.line_start - 1 : unit.line_end])


def _refuse_deep(tree: ast.Module) -> None:
    """``TooDeep`` (a RecursionError, which every reader of modules takes as "does not parse") when the module nests
    past ``nnrag.pyparse.MAX_DEPTH`` levels of ``ast``. Why: the miner's walkers and ``ast.unparse`` (dedup) recurse
    about once per level; a 400-term ``x + x + ...`` raised RecursionError mid-index and nothing was published. Such
    code is refused by the server's readers anyway (libcst levels >= ``ast`` levels); timm's deepest file is 29
    levels, torch's 100."""
    depth, line = ast_depth(tree)
    if depth > MAX_DEPTH:
        raise TooDeep(f"the code nests too deeply to read (line {line}): {depth} levels of syntax, at most {MAX_DEPTH}; "
                      f"flatten it (name the inner parts)")


def _is_trystar(stmt: ast.stmt) -> bool:
    return type(stmt).__name__ == "TryStar"


def _root_name(node: ast.AST) -> str | None:
    """``X`` of ``X[k]``, ``X.a.b``, ``X[k].a``."""
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _mutated_name(stmt: ast.stmt) -> str | None:
    """The name a simple statement mutates in place: ``X[k] = v``, ``X.a = v``,
    ``X[k] += v``, ``del X[k]``, ``X.update(...)`` / ``X.append(...)``; None otherwise."""
    if isinstance(stmt, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
        targets = stmt.targets if isinstance(stmt, (ast.Assign, ast.Delete)) else [stmt.target]
        roots = {_root_name(t) for t in targets if isinstance(t, (ast.Attribute, ast.Subscript))}
        if len(roots) == 1 and len(targets) == 1:
            return roots.pop()
        return None
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call) and isinstance(stmt.value.func, ast.Attribute):
        return _root_name(stmt.value.func.value)
    return None


def changes_in_place(stmt: ast.stmt, name: str) -> bool:
    """Whether a top-level statement stores into ``name`` (``X[k] = v``, ``X.a = v``) or calls one of its mutating
    methods (``.update``, ``.append``, ``mul_``), also inside its ``if`` / ``for`` / ``try``; a call of any other
    method (``LOGGER.warning(...)``) is no change."""
    return name in _mutated_names(stmt, _stored_in_place)


def _mutated_names(stmt: ast.stmt, mutated: Callable[[ast.stmt], str | None] | None = None) -> list[str]:
    """The names a top-level statement mutates in place (``_mutated_name``), also from inside the bodies of a
    compound one (``for name, cls in ...: ACTS[name] = cls``, ``if ...: ACTS["silu"] = nn.SiLU``, ``try:``), never
    from inside a def or class. Why: only simple statements counted, so a block reading ``ACTS`` got ``ACTS = {}``
    alone, passed every stage, and built ``nn.Identity`` where the source built ``nn.GELU``."""
    found, stack = [], [stmt]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        if is_main_guard(node):
            stack.extend(reversed(node.orelse))  # type: ignore[attr-defined]
            continue
        if (name := (mutated or _mutated_name)(node)) is not None:
            found.append(name)
        elif isinstance(node, (ast.If, ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith, ast.Try, ast.ExceptHandler)) or _is_trystar(node):
            stack.extend(reversed([child for child in ast.iter_child_nodes(node) if isinstance(child, (ast.stmt, ast.ExceptHandler))]))
    return list(dict.fromkeys(found))


def _walk_here(node: ast.AST):
    """``node`` and what it holds, not entering the bodies of defs, classes and lambdas (they run later, if ever)."""
    stack = [node]
    while stack:
        here = stack.pop()
        yield here
        if is_main_guard(here):
            stack.extend(here.orelse)  # type: ignore[attr-defined]
        elif not isinstance(here, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            stack.extend(ast.iter_child_nodes(here))


def _module_level_calls(stmt: ast.stmt) -> set[str]:
    """Names called as plain functions when a top-level statement runs (``set_config(...)``, also inside its
    ``if`` / ``try`` / ``for``)."""
    return {n.func.id for n in _walk_here(stmt) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}


def _globals_set_by(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    """Module-level names a function sets when called: those it declares ``global`` and assigns, and those it
    mutates in place (``_CFG[k] = v``, ``_ACTS.update(...)``) without a local of that name."""
    body = [n for stmt in fn.body for n in _walk_here(stmt)]
    declared = {name for n in body if isinstance(n, ast.Global) for name in n.names}
    args = fn.args
    local = {a.arg for a in args.posonlyargs + args.args + args.kwonlyargs + [x for x in (args.vararg, args.kwarg) if x]}
    local |= {n.id for n in body if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)} - declared
    assigned = {n.id for n in body if isinstance(n, ast.Name) and isinstance(n.ctx, (ast.Store, ast.Del))} & declared
    mutated = {name for n in body if isinstance(n, ast.stmt) and (name := _stored_in_place(n)) is not None}
    return assigned | (mutated - local)


# methods that change a dict, list or set in place. Why a list: any method call counted, so every function that
# logs (``LOGGER.warning(...)``) was taken to change ``LOGGER``, and its module-level calls joined every block using it
_MUTATING_METHODS = frozenset({"update", "setdefault", "append", "extend", "insert", "pop", "popitem", "remove",
                               "clear", "add", "discard", "__setitem__", "sort", "reverse"})


def _stored_in_place(stmt: ast.stmt) -> str | None:
    """``_mutated_name`` for a statement inside a function: a store into ``X[k]`` / ``X.a``, or a call of one of
    ``_MUTATING_METHODS`` or of a tensor's in-place method (``mul_``) on ``X``, its result used or not
    (``old = D.pop("a")``)."""
    value = getattr(stmt, "value", None)
    if isinstance(stmt, (ast.Expr, ast.Assign, ast.AnnAssign)) and isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute):
        method = value.func.attr
        if method in _MUTATING_METHODS or (method.endswith("_") and not method.startswith("_")):
            return _root_name(value.func.value)
        if isinstance(stmt, ast.Expr):
            return None
    return _mutated_name(stmt)


def _bound_at_module_level(stmt: ast.stmt) -> tuple[list[str], list[ast.stmt]]:
    """Names a top-level statement binds at module scope, and import statements nested in it."""
    names, imports, _ = _module_level_bindings(stmt)
    return names, imports


def module_level_classes(stmt: ast.stmt) -> list[ast.ClassDef]:
    """The ``class`` statements a top-level statement runs at module level: itself, or those inside its ``if`` /
    ``try`` / ``with`` bodies (``except ImportError: class LayerNorm(nn.Module)``)."""
    return [node for node in _module_level_bindings(stmt)[2] if isinstance(node, ast.ClassDef)]


def is_main_guard(node: ast.AST) -> bool:
    """``if __name__ == "__main__":``. Why: its body does not run when the module is imported, yet a class defined in
    it (vit-pytorch's ``MockMasker``) was mined as a block whose code never defines it at module level."""
    test = getattr(node, "test", None) if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Compare) and isinstance(test.left, ast.Name) and test.left.id == "__name__"
            and len(test.comparators) == 1 and isinstance(test.comparators[0], ast.Constant)
            and test.comparators[0].value == "__main__" and isinstance(test.ops[0], ast.Eq))


def _module_level_bindings(stmt: ast.stmt) -> tuple[list[str], list[ast.stmt], list[ast.stmt]]:
    """(names bound at module scope, nested import statements, def/class statements) of a top-level statement."""
    names: list[str] = []
    imports: list[ast.stmt] = []
    definitions: list[ast.stmt] = []

    stack: list[ast.AST] = [stmt]  # depth-first in source order, without recursion
    while stack:
        node = stack.pop()
        if is_main_guard(node):  # its body never runs on import: only its ``else`` binds names
            stack.extend(reversed(node.orelse))  # type: ignore[attr-defined]
            continue
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(node.name)
            definitions.append(node)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            imports.append(node)
            continue
        if isinstance(node, (ast.Lambda, ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
            continue
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):  # ``del X`` defines nothing: pulled in as
            names.append(node.id)  # a definition of ``_tmp``, it ran before ``TOTAL = sum(_tmp)`` and the block failed
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.append(node.name)
        elif isinstance(node, ast.NamedExpr) and isinstance(node.target, ast.Name):
            names.append(node.target.id)
        stack.extend(reversed(list(ast.iter_child_nodes(node))))
    return list(dict.fromkeys(names)), imports, definitions


# ---------------------------------------------------------------- scope-aware reference collection
#
# One pass with deferred resolution: inside a function, a name is local if it is bound
# anywhere in that function, so each occurrence waits in its scope's ``pending`` list
# until the scope ends; unbound ones move outwards (skipping class bodies, which nested
# scopes cannot see) until they reach the module, where they are global references.


class _Scope:
    __slots__ = ("kind", "bound", "declared_global", "pending")

    def __init__(self, kind: str):
        self.kind = kind  # "module", "function", "class", "comp"
        self.bound: set[str] = set()
        self.declared_global: set[str] = set()
        self.pending: list[Ref] = []


def _arg_names(args: ast.arguments) -> list[str]:
    out = [a.arg for a in args.posonlyargs + args.args + args.kwonlyargs]
    if args.vararg:
        out.append(args.vararg.arg)
    if args.kwarg:
        out.append(args.kwarg.arg)
    return out


def _is_dataclass_marker(annotation: ast.AST) -> bool:
    """``ClassVar[...]``, ``typing.ClassVar``, ``InitVar[...]``, ``dataclasses.InitVar``."""
    root = annotation.value if isinstance(annotation, ast.Subscript) else annotation
    name = root.id if isinstance(root, ast.Name) else root.attr if isinstance(root, ast.Attribute) else ""
    return name in ("ClassVar", "InitVar")


_COMPS = (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)
_QUOTES = (b'"""', b"'''", b'"', b"'")
MAX_QUOTED_DEPTH = 40  # levels of a quoted annotation read; deeper ones (never seen in real code) are left as text


def typing_name(node: ast.AST) -> str:
    """``Literal`` of ``Literal``, ``typing.Literal``, ``t.Literal``; "" otherwise."""
    return node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""


def parse_quoted_annotation(node: ast.Constant, lines_b: list[bytes] | None = None) -> ast.expr | None:
    """The expression a string annotation holds (``"ModelCfg"``, ``"cfgmod.ModelCfg"``, ``"Optional[Cfg]"``), parsed
    as ``typing`` evaluates it; None when it is no expression. With ``lines_b`` (the module's lines) the positions
    are the source's, so a reference inside the string can be renamed in place; a string whose text differs from
    its value (escapes, prefixes, several lines, implicit concatenation) then gives None."""
    if not isinstance(node.value, str) or not node.value.strip():
        return None
    try:
        expr = parse(node.value.strip() if lines_b is None else node.value, mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    if ast_depth(expr)[0] > MAX_QUOTED_DEPTH:
        return None
    if lines_b is None:
        return expr
    if node.lineno != node.end_lineno or node.lineno > len(lines_b):
        return None
    try:
        value_b = node.value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate written as an escape
        return None
    segment = lines_b[node.lineno - 1][node.col_offset : node.end_col_offset]
    quote = next((q for q in _QUOTES if segment == q + value_b + q), None)
    if quote is None:
        return None
    offset = node.col_offset + len(quote)
    for sub in ast.walk(expr):
        if hasattr(sub, "lineno"):
            sub.lineno = sub.end_lineno = node.lineno
            sub.col_offset += offset
            sub.end_col_offset += offset
    return expr


class _RefCollector:
    def __init__(self, lines_b: list[bytes], lazy_annotations: bool):
        self.lines_b = lines_b
        self.lazy = lazy_annotations
        self.refs: list[Ref] = []
        self.imports: list[ast.Import | ast.ImportFrom] = []  # every import statement, at any depth
        self.scopes: list[_Scope] = [_Scope("module")]
        self._in_annotation = 0  # > 0 while visiting a lazy (string) annotation
        self._annotating = 0  # > 0 while visiting any annotation (lazy or evaluated): its strings are quoted ones

    # -- scope bookkeeping
    def _load_time(self) -> bool:
        return all(s.kind in ("module", "class") for s in self.scopes)

    def _bind(self, name: str, scope: _Scope | None = None) -> None:
        scope = scope or self.scopes[-1]
        if scope.kind != "module" and name not in scope.declared_global:
            scope.bound.add(name)

    def _occur(self, ref: Ref) -> None:
        scope = self.scopes[-1]
        if scope.kind == "module" or ref.name in scope.declared_global:
            self.refs.append(ref)
        elif scope.kind == "class":
            # a class body reads a name from its own namespace once bound there, else from the module's: its pending
            # refs all escape. Why: ``eps = eps`` in a class body lost the module's ``eps`` (NameError at import)
            if not ref.store and ref.name not in scope.bound:
                scope.pending.append(ref)
        else:
            scope.pending.append(ref)

    def _push(self, scope: _Scope, nodes: list[ast.AST], bound: list[str] = ()) -> None:
        scope.bound.update(bound)
        self.scopes.append(scope)
        for n in nodes:
            self.visit(n)
        self.scopes.pop()
        escaping = scope.pending if scope.kind == "class" else [r for r in scope.pending if r.name not in scope.bound]
        if not escaping:
            return
        # class bodies are invisible to nested scopes: skip them when moving outwards
        i = len(self.scopes) - 1
        if scope.kind != "class":
            while self.scopes[i].kind == "class":
                i -= 1
        parent = self.scopes[i]
        if parent.kind == "module":
            self.refs.extend(escaping)
        else:
            for r in escaping:
                (self.refs if r.name in parent.declared_global else parent.pending).append(r)

    def _name(self, node: ast.Name, attrs: tuple[tuple[str, int, int], ...] = ()) -> None:
        store = not isinstance(node.ctx, ast.Load)
        if store:
            self._bind(node.id)
        lazy = self._in_annotation > 0
        self._occur(Ref(node.id, node.lineno, node.col_offset, node.end_lineno, node.end_col_offset, attrs, self._load_time() and not lazy, store, lazy))

    def _annotation(self, node: ast.AST, lazy: bool | None = None) -> None:
        """An annotation: evaluated at definition time, or with lazy annotations collected as ``annotation`` refs
        (never needed to define the block, but ``dataclasses`` / ``typing.get_type_hints`` users evaluate them).
        Quoted parts (``cfg: "ModelCfg"``, ``Optional["Cfg"]``) are lazy either way (``_quoted_annotation``)."""
        lazy = self.lazy if lazy is None else lazy
        self._annotating += 1
        self._in_annotation += lazy
        try:
            self.visit(node)
        finally:
            self._annotating -= 1
            self._in_annotation -= lazy

    def _quoted_annotation(self, node: ast.Constant) -> None:
        """A string in an annotation: a forward reference that ``typing.get_type_hints`` evaluates as Python, so its
        names are collected as lazy ``annotation`` refs, like those of ``from __future__ import annotations``. Why:
        ``cfg: "ModelCfg"`` did not carry ``ModelCfg``, and the example guesser passed an int for ``cfg``."""
        expr = parse_quoted_annotation(node, self.lines_b)
        if expr is not None:
            self._annotation(expr, lazy=True)

    def _def_site(self, node: ast.AST, name: str) -> None:
        if len(self.scopes) != 1:
            self._bind(name)
            return
        line = node.lineno
        m = _DEF_NAME_RE.match(self.lines_b[line - 1], node.col_offset)
        if m and m.group(1).decode() == name:
            self.refs.append(Ref(name, line, m.start(1), line, m.end(1), (), True, True))

    # -- traversal
    def top(self, stmt: ast.stmt) -> None:
        self.visit(stmt)

    def visit(self, node: ast.AST) -> None:
        t = type(node)
        if t is ast.Name:
            self._name(node)
        elif t is ast.Attribute:
            chain: list[ast.Attribute] = []
            cur: ast.AST = node
            while type(cur) is ast.Attribute:
                chain.append(cur)
                cur = cur.value
            if type(cur) is ast.Name:
                self._name(cur, tuple((a.attr, a.end_lineno, a.end_col_offset) for a in reversed(chain)))
            else:
                self.visit(cur)
        elif t is ast.Constant:
            if self._annotating and isinstance(node.value, str):
                self._quoted_annotation(node)
        elif t is ast.Subscript and self._annotating and typing_name(node.value) in ("Literal", "Annotated"):
            # ``Literal["relu"]`` holds values, ``Annotated[T, "meta"]`` metadata: neither is a forward reference
            self._annotation(node.value, lazy=self._in_annotation > 0)
            if typing_name(node.value) == "Annotated":
                first = node.slice.elts[0] if isinstance(node.slice, ast.Tuple) and node.slice.elts else node.slice
                self.visit(first)
        elif t is ast.FunctionDef or t is ast.AsyncFunctionDef:
            for d in node.decorator_list:
                self.visit(d)
            self._args_outer(node.args, annotations=True)
            if node.returns is not None:
                self._annotation(node.returns)
            self._def_site(node, node.name)
            self._push(_Scope("function"), node.body, _arg_names(node.args))
        elif t is ast.Lambda:
            self._args_outer(node.args, annotations=False)
            self._push(_Scope("function"), [node.body], _arg_names(node.args))
        elif t is ast.ClassDef:
            for d in node.decorator_list:
                self.visit(d)
            for b in node.bases:
                self.visit(b)
            for k in node.keywords:
                self.visit(k.value)
            self._def_site(node, node.name)
            self._push(_Scope("class"), node.body)
        elif t in _COMPS:
            gens = node.generators
            self.visit(gens[0].iter)
            rest: list[ast.AST] = [g.target for g in gens]
            rest += [g.iter for g in gens[1:]] + [c for g in gens for c in g.ifs]
            rest += [node.key, node.value] if t is ast.DictComp else [node.elt]
            self._push(_Scope("comp"), rest)
        elif t is ast.NamedExpr:
            self.visit(node.value)
            # the walrus target binds in the nearest enclosing non-comprehension scope
            i = len(self.scopes) - 1
            while self.scopes[i].kind == "comp":
                i -= 1
            target = node.target
            if self.scopes[i].kind == "module":
                self.refs.append(Ref(target.id, target.lineno, target.col_offset, target.end_lineno, target.end_col_offset, (), self._load_time(), True))
            else:
                self.scopes[i].bound.add(target.id)
        elif t is ast.AnnAssign:
            if self._load_time() and (not self.lazy or (self.scopes[-1].kind == "class" and _is_dataclass_marker(node.annotation))):
                # lazy annotations are strings, except for dataclasses, which look up
                # ``ClassVar`` / ``InitVar`` in the module when the class is created
                self._annotation(node.annotation, lazy=False)
            elif self._load_time():
                self._annotation(node.annotation)
            if node.value is not None:  # the value is evaluated before its target is bound
                self.visit(node.value)
            self.visit(node.target)
        elif t is ast.Assign:
            self.visit(node.value)
            for target in node.targets:
                self.visit(target)
        elif t is ast.Global:
            if len(self.scopes) > 1:
                self.scopes[-1].declared_global.update(node.names)
                self._global_declaration(node)
        elif t is ast.Nonlocal:
            self.scopes[-1].bound.update(node.names)
        elif t is ast.Import or t is ast.ImportFrom:
            self.imports.append(node)
            for a in node.names:
                if a.name != "*":
                    self._bind(a.asname or (a.name.split(".")[0] if t is ast.Import else a.name))
        elif t is ast.ExceptHandler:
            if node.name:
                self._bind(node.name)
            for child in ast.iter_child_nodes(node):
                self.visit(child)
        elif t is ast.MatchAs or t is ast.MatchStar:
            if node.name:
                self._bind(node.name)
            for child in ast.iter_child_nodes(node):
                self.visit(child)
        else:
            for child in ast.iter_child_nodes(node):
                self.visit(child)

    def _global_declaration(self, node: ast.Global) -> None:
        """Each name of a one-line ``global`` statement as a binding reference, so that renaming a clashing global
        renames its declaration with it: ``global _FUSED`` stayed as written beside ``_FUSED_a = True``, and the
        function set a local while the block passed every stage."""
        if node.lineno != node.end_lineno or node.lineno > len(self.lines_b):
            return
        line, pos = self.lines_b[node.lineno - 1], node.col_offset + len(b"global")
        for name in node.names:
            found = re.compile(rb"(?<![\w.])" + re.escape(name.encode()) + rb"(?!\w)").search(line, pos, node.end_col_offset)
            if found is None:
                return
            self.refs.append(Ref(name, node.lineno, found.start(), node.lineno, found.end(), (), False, True))
            pos = found.end()

    def _args_outer(self, args: ast.arguments, annotations: bool) -> None:
        for d in args.defaults:
            self.visit(d)
        for d in args.kw_defaults:
            if d is not None:
                self.visit(d)
        if annotations:
            for a in args.posonlyargs + args.args + args.kwonlyargs + [x for x in (args.vararg, args.kwarg) if x]:
                if a.annotation is not None:
                    self._annotation(a.annotation)
