"""Scope analysis of a Python module with libcst: which names it uses but never binds.

A name is *free* when no enclosing scope binds it and it is not a builtin: the
blocks an LLM forgot to define or import. For each free name we also record how it
is used (call sites' positional count and keyword names, ``Name.attr`` accesses,
base class, decorator) because that is what ranks the store's candidates.
Annotations that Python never evaluates (string annotations, local variable
annotations, every annotation under ``from __future__ import annotations``) do not
make a name free.
"""

from __future__ import annotations

import ast
import builtins
from dataclasses import dataclass, field

import libcst as cst
from libcst.metadata import (
    ComprehensionScope,
    FunctionScope,
    MetadataWrapper,
    ParentNodeProvider,
    PositionProvider,
    ScopeProvider,
)

from nnrag import pyparse

MODULE_DUNDERS = {
    "__file__", "__name__", "__doc__", "__spec__", "__loader__", "__package__", "__builtins__",
    "__path__", "__cached__", "__annotations__", "__dict__", "__debug__", "__class__", "__module__", "__qualname__",
}
BUILTIN_NAMES = set(dir(builtins)) | MODULE_DUNDERS


@dataclass
class CallSite:
    """One call of a free name: ``Name(a, b, k=1)`` -> n_positional=2, keywords=["k"]."""

    n_positional: int
    keywords: list[str]
    star_args: bool  # *args or **kwargs at the call: counts are lower bounds
    text: str
    line: int
    # each positional argument's name when it is a plain name or ``self.name`` (``stride``), else ""
    positional_names: list[str] = field(default_factory=list)
    unpacked: int | None = None  # the result unpacked into this many names (``q, k = f(...)``); None otherwise


@dataclass
class InstanceCall:
    """One call of an instance of a free name: ``y = self.attr(a, b)`` -> n_positional=2, unpacked=False."""

    n_positional: int
    unpacked: bool | None  # the result is unpacked (``x, size = ...``): True; used as one value: False; unknown: None
    keywords: tuple[str, ...] = ()  # the keywords it passes by name (``attn(x, mask=m)``: ("mask",)); a ``**kw`` adds none


@dataclass
class NameUsage:
    name: str
    lines: list[int] = field(default_factory=list)
    calls: list[CallSite] = field(default_factory=list)
    attributes: set[str] = field(default_factory=set)  # Name.attr
    as_base: bool = False
    as_decorator: bool = False
    first_statement: int = 0  # index in module.body of the first top-level statement using it
    at_import: bool = False  # used in code that runs when the module is imported (module or class body)
    context_lines: list[str] = field(default_factory=list)
    # how its instances are called (``self.attr(x)`` where ``self.attr = Name(...)``; an element of ``nn.Sequential``
    # gets one input): what the block's ``forward`` must accept and return
    instance_calls: list[InstanceCall] = field(default_factory=list)
    value_uses: list[int] = field(default_factory=list)  # lines where it is read as a plain value (not called, no ``.attr``)
    subscripted: bool = False  # read as ``Name[key]``: a table (transformers' ``ACT2FN[act]``, DARTS' ``OPS[op]``)
    # what the model reads on its instances (``self.rotary = Name(...)`` then ``self.rotary.rotate_queries_or_keys(q)``):
    # methods and attributes the block must have
    instance_attributes: set[str] = field(default_factory=set)
    # names bound in the functions (and comprehensions) around its uses, their parameters included: what a misspelt
    # local (``self.conv2(feature)`` beside ``features = ...``) most likely meant
    local_names: set[str] = field(default_factory=set)

    @property
    def only_attributes(self) -> bool:
        """Used only as ``Name.attr``: looks like a module alias (``nn.Conv2d``, ``F.relu``)."""
        return bool(self.attributes) and not self.calls and not self.as_base and not self.as_decorator


@dataclass
class ScopeReport:
    module: cst.Module
    free: dict[str, NameUsage]  # in order of first use
    top_level: dict[str, int]  # name bound at module level -> statement index
    import_targets: dict[str, str]  # name bound by a top-level import -> dotted target


def top_level_bindings(module: cst.Module) -> tuple[dict[str, int], dict[str, str]]:
    """Names bound by module-level statements (defs, classes, assignments, imports) and import targets."""
    bound: dict[str, int] = {}
    targets: dict[str, str] = {}
    for index, stmt in enumerate(module.body):
        for name, target in _statement_bindings(stmt):
            bound.setdefault(name, index)
            if target is not None:
                targets.setdefault(name, target)
    return bound, targets


def _dotted(node: cst.BaseExpression) -> str:
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        return f"{_dotted(node.value)}.{node.attr.value}"
    return ""


def import_bindings(stmt: cst.Import | cst.ImportFrom) -> list[tuple[str, str]]:
    """(bound name, dotted target) for each alias of an import statement; ``*`` gives ("*", module)."""
    out: list[tuple[str, str]] = []
    if isinstance(stmt, cst.Import):
        for alias in stmt.names:
            full = _dotted(alias.name)
            if alias.asname is not None:
                out.append((_dotted(alias.asname.name), full))
            else:
                head = full.split(".")[0]
                out.append((head, head))
        return out
    module = ("." * len(stmt.relative)) + (_dotted(stmt.module) if stmt.module is not None else "")
    if isinstance(stmt.names, cst.ImportStar):
        return [("*", module)]
    for alias in stmt.names:
        name = _dotted(alias.name)
        bound = _dotted(alias.asname.name) if alias.asname is not None else name
        out.append((bound, f"{module}.{name}"))
    return out


def alias_binding(stmt: cst.CSTNode, imported: dict[str, str | None]) -> tuple[str, str] | None:
    """(bound name, dotted target) for a module-level ``nn = torch.nn`` whose value is an attribute path of an imported
    name (``imported``: bound name -> import target, None for definitions); None for any other statement. Why: such a
    line binds ``nn`` as surely as ``from torch import nn``, and a block that imports ``nn`` can share it."""
    if not isinstance(stmt, cst.SimpleStatementLine) or len(stmt.body) != 1 or not isinstance(stmt.body[0], cst.Assign):
        return None
    assign = stmt.body[0]
    if len(assign.targets) != 1 or not isinstance(assign.targets[0].target, cst.Name):
        return None
    if not isinstance(assign.value, (cst.Attribute, cst.Name)):
        return None
    path = _dotted(assign.value)
    root, _, rest = path.partition(".")
    target = imported.get(root)
    if target is None:
        return None
    return assign.targets[0].target.value, f"{target}.{rest}" if rest else target


def _assigned_names(target: cst.BaseExpression) -> list[str]:
    if isinstance(target, cst.Name):
        return [target.value]
    if isinstance(target, (cst.Tuple, cst.List)):
        return [n for el in target.elements for n in _assigned_names(el.value)]
    if isinstance(target, cst.StarredElement):
        return _assigned_names(target.value)
    return []


def _statement_bindings(stmt: cst.CSTNode) -> list[tuple[str, str | None]]:
    if isinstance(stmt, (cst.ClassDef, cst.FunctionDef)):
        return [(stmt.name.value, None)]
    if isinstance(stmt, cst.SimpleStatementLine):
        out: list[tuple[str, str | None]] = []
        for small in stmt.body:
            if isinstance(small, (cst.Import, cst.ImportFrom)):
                out.extend(import_bindings(small))
            elif isinstance(small, cst.Assign):
                for target in small.targets:
                    out.extend((n, None) for n in _assigned_names(target.target))
            elif isinstance(small, (cst.AnnAssign, cst.AugAssign)):
                out.extend((n, None) for n in _assigned_names(small.target))
        return out
    if isinstance(stmt, (cst.If, cst.Try, cst.With, cst.For, cst.While)):
        # guarded definitions (try: import x / except: x = None) still bind at module level
        out = []
        for child in _child_statements(stmt):
            out.extend(_statement_bindings(child))
        return out
    return []


def _child_statements(stmt: cst.CSTNode) -> list[cst.CSTNode]:
    found: list[cst.CSTNode] = []

    class Collect(cst.CSTVisitor):
        def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
            found.append(node)
            return False

        def visit_ClassDef(self, node: cst.ClassDef) -> bool:
            found.append(node)
            return False

        def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> bool:
            found.append(node)
            return False

    stmt.visit(Collect())
    return found


def _not_evaluated(access, scope, parents, future_annotations: bool) -> bool:
    """Annotations Python never evaluates: strings, locals' annotations, or all under the future import."""
    if not access.is_annotation:
        return False
    if future_annotations or isinstance(access.node, (cst.SimpleString, cst.ConcatenatedString)):
        return True
    node = access.node
    while node in parents:
        parent = parents[node]
        if isinstance(parent, cst.AnnAssign) and isinstance(scope, FunctionScope):
            return True
        if isinstance(parent, (cst.FunctionDef, cst.ClassDef, cst.Module)):
            break
        node = parent
    # string inside an annotation: Name nodes created from a parsed string annotation
    return False


def _has_future_annotations(module: cst.Module) -> bool:
    for stmt in module.body:
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                if isinstance(small, cst.ImportFrom) and _dotted(small.module or cst.Name("x")) == "__future__":
                    if not isinstance(small.names, cst.ImportStar) and any(
                        _dotted(a.name) == "annotations" for a in small.names
                    ):
                        return True
    return False


def parse_cst(code: str) -> cst.Module:
    """libcst's tree of ``code``, once its nesting is known to be readable (``pyparse.parse_cst``). Why: libcst's native
    parser overflows the thread's stack on code such as ``"x = " + "-" * 10_000 + "1"`` (a segfault that takes the
    server down), and its visitors raise RecursionError on code CPython reads (``[[...]]`` 137 deep); such code is a
    ``pyparse.TooDeep`` (a RecursionError and a ValueError) here."""
    return pyparse.parse_cst(code)  # mid-edit code and NUL bytes go on: libcst gives its own error, as before


def analyze(code: str | cst.Module) -> ScopeReport:
    """Free names of ``code`` with their usage, plus the module's top-level bindings."""
    module = code if isinstance(code, cst.Module) else parse_cst(code)
    wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
    scopes = wrapper.resolve(ScopeProvider)
    parents = wrapper.resolve(ParentNodeProvider)
    positions = wrapper.resolve(PositionProvider)
    future = _has_future_annotations(module)
    bound, targets = top_level_bindings(module)
    star_import = "*" in bound
    lines = module.code.splitlines()

    free: dict[str, NameUsage] = {}
    seen_scopes = {id(s): s for s in scopes.values() if s is not None}
    accesses = []
    for scope in seen_scopes.values():
        for access in scope.accesses:
            if access.referents:
                continue
            node = access.node
            if not isinstance(node, cst.Name):
                continue
            name = node.value
            if name in BUILTIN_NAMES or name in bound:
                continue
            if _not_evaluated(access, scope, parents, future):
                continue
            at_import = not isinstance(scope, (FunctionScope, ComprehensionScope)) or _in_signature(node, parents)
            accesses.append((positions[node].start.line, positions[node].start.column, name, node, at_import, scope))
    if star_import:  # ``from x import *`` may bind anything: trust it
        accesses = []
    for line, _col, name, node, at_import, scope in sorted(accesses, key=lambda a: (a[0], a[1])):
        usage = free.setdefault(name, NameUsage(name=name, first_statement=_statement_index(node, parents, module)))
        usage.at_import = usage.at_import or at_import
        if not at_import:
            usage.local_names |= _enclosing_locals(scope)
        usage.first_statement = min(usage.first_statement, _statement_index(node, parents, module))
        usage.lines.append(line)
        if 0 < line <= len(lines) and len(usage.context_lines) < 6:
            usage.context_lines.append(lines[line - 1].strip())
        _record_use(usage, node, parents, module, positions)
    held = _classes_and_instances_held(module.code, set(free))  # parsed once for both readings
    for name, calls in _calls_on_instances(held, set(free)).items():
        free[name].instance_calls = calls
    for name, read in _attributes_read_on_instances(held).items():
        free[name].instance_attributes = read
    for name, (calls, attributes) in parameter_calls(module.code, set(free)).items():
        free[name].calls += calls
        free[name].attributes |= attributes
    return ScopeReport(module=module, free=free, top_level=bound, import_targets=targets)


def _enclosing_locals(scope) -> set[str]:
    """Names bound in ``scope`` and the function and comprehension scopes around it (parameters included), up to
    the first class or module scope."""
    out: set[str] = set()
    while isinstance(scope, (FunctionScope, ComprehensionScope)):
        out.update(assignment.name for assignment in scope.assignments)
        scope = scope.parent
    return out


def _in_signature(node: cst.CSTNode, parents) -> bool:
    """Default values and decorators are evaluated when the ``def`` runs, not when it is called."""
    while node in parents:
        parent = parents[node]
        if isinstance(parent, (cst.Param, cst.Decorator)):
            return True
        if isinstance(parent, (cst.IndentedBlock, cst.SimpleStatementSuite, cst.Module)):
            return False
        node = parent
    return False


def _statement_index(node: cst.CSTNode, parents, module: cst.Module) -> int:
    while node in parents:
        parent = parents[node]
        if parent is module:
            return module.body.index(node)  # type: ignore[arg-type]
        node = parent
    return 0


def _unpacked_into(call: cst.Call, parents) -> int | None:
    """How many names ``call``'s result is unpacked into (``q, k = f(...)``: 2); None when it is not unpacked, or
    unpacked with a starred name."""
    assign = parents.get(call)
    if not isinstance(assign, cst.Assign) or assign.value is not call or len(assign.targets) != 1:
        return None
    target = assign.targets[0].target
    if not isinstance(target, (cst.Tuple, cst.List)) or any(isinstance(e, cst.StarredElement) for e in target.elements):
        return None
    return len(target.elements)


def _record_use(usage: NameUsage, node: cst.Name, parents, module: cst.Module, positions) -> None:
    parent = parents.get(node)
    if isinstance(parent, cst.Call) and parent.func is node:
        positional = [a for a in parent.args if a.keyword is None and a.star == ""]
        keywords = [a.keyword.value for a in parent.args if a.keyword is not None]
        star = any(a.star for a in parent.args)
        names = [_cst_argument_name(a.value) for a in positional]
        usage.calls.append(
            CallSite(len(positional), keywords, star, module.code_for_node(parent)[:300], positions[parent].start.line, names,
                     _unpacked_into(parent, parents))
        )
    elif isinstance(parent, cst.Attribute) and parent.value is node:
        usage.attributes.add(parent.attr.value)
    elif isinstance(parent, cst.Arg) and isinstance(parents.get(parent), cst.ClassDef):
        usage.as_base = True
    elif not isinstance(parent, cst.Decorator):
        usage.value_uses.append(positions[node].start.line)
        usage.subscripted |= isinstance(parent, cst.Subscript) and parent.value is node
    if isinstance(parent, cst.Decorator) or (
        isinstance(parent, cst.Call) and isinstance(parents.get(parent), cst.Decorator)
    ):
        usage.as_decorator = True


def _cst_argument_name(value: cst.BaseExpression) -> str:
    """``stride`` for ``stride`` or ``self.stride``; "" for any other expression."""
    if isinstance(value, cst.Name):
        return value.value
    if isinstance(value, cst.Attribute) and isinstance(value.value, cst.Name) and value.value.value == "self":
        return value.attr.value
    return ""


def _ast_argument_name(value: ast.expr) -> str:
    """``stride`` for ``stride`` or ``self.stride``; "" for any other expression."""
    if isinstance(value, ast.Name):
        return value.id
    return value.attr if is_self_attr(value) else ""  # type: ignore[attr-defined]


def _constructed(expr: ast.AST, names: set[str]) -> list[str]:
    """Names of ``names`` called in ``expr`` (the classes an expression builds instances of)."""
    return [n.func.id for n in ast.walk(expr) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in names]


def _sequential_elements(expr: ast.AST, names: set[str]) -> list[str]:
    """Names built as elements of an ``nn.Sequential(...)`` in ``expr``: Sequential calls each with one input."""
    out: list[str] = []
    for node in ast.walk(expr):
        func = node.func if isinstance(node, ast.Call) else None
        called = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        if called == "Sequential":
            for arg in node.args:  # type: ignore[union-attr]
                out += _constructed(arg, names)
    return out


def is_self_attr(node: ast.AST) -> bool:
    """``self.attr``."""
    return isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self"


def _unpacked(call: ast.Call, parents: dict[ast.AST, ast.AST]) -> bool | None:
    """Whether a call's result is unpacked into several names (True), used as one value (False), or indexed (None)."""
    parent = parents.get(call)
    if isinstance(parent, ast.Assign) and parent.value is call:
        return any(isinstance(t, (ast.Tuple, ast.List)) for t in parent.targets)
    return None if isinstance(parent, ast.Subscript) else False


def _instance_call(call: ast.Call, parents: dict[ast.AST, ast.AST]) -> InstanceCall:
    """How ``call`` (of an instance, without ``*args``) calls it: positional count, unpacking, keyword names."""
    return InstanceCall(len(call.args), _unpacked(call, parents), tuple(k.arg for k in call.keywords if k.arg))


def instance_calls(code: str, names: set[str]) -> dict[str, list[InstanceCall]]:
    """For each of ``names``: how its instances are called, read from the classes of ``code`` (``self.attr =
    Name(...)`` then ``self.attr(x, y)``; an element of ``nn.Sequential`` gets one input and its result is used as
    one value). Calls with ``*args`` are skipped (their count is unknown)."""
    return _calls_on_instances(_classes_and_instances_held(code, names), names)


HeldInstances = list[tuple[ast.ClassDef, dict[str, list[str]]]]  # each class, with its ``_instances_held``


def _calls_on_instances(held: HeldInstances, names: set[str]) -> dict[str, list[InstanceCall]]:
    out: dict[str, list[InstanceCall]] = {}
    for cls, holds in held:
        parents: dict[ast.AST, ast.AST] = {}
        for node in ast.walk(cls):
            for child in ast.iter_child_nodes(node):
                parents[child] = node
            if isinstance(node, ast.Assign):
                for name in _sequential_elements(node.value, names):
                    out.setdefault(name, []).append(InstanceCall(1, False))
        for node in ast.walk(cls):
            if not (isinstance(node, ast.Call) and is_self_attr(node.func) and node.func.attr in holds):  # type: ignore[attr-defined]
                continue
            if not any(isinstance(a, ast.Starred) for a in node.args):
                for name in holds[node.func.attr]:  # type: ignore[attr-defined]
                    out.setdefault(name, []).append(_instance_call(node, parents))
        for name, call in _loop_calls(cls, names, parents):
            out.setdefault(name, []).append(call)
    return out


def _classes_and_instances_held(code: str, names: set[str]) -> HeldInstances:
    """Each class of ``code`` with its ``_instances_held``; none when ``code`` does not parse."""
    try:
        tree = pyparse.parse(code)
    except (SyntaxError, ValueError, RecursionError):
        return []
    return [(cls, _instances_held(cls, names)) for cls in ast.walk(tree) if isinstance(cls, ast.ClassDef)]


def _instances_held(cls: ast.ClassDef, names: set[str]) -> dict[str, list[str]]:
    """``self.attr`` -> the names it is built from directly (``self.attr = Name(...)``)."""
    holds: dict[str, list[str]] = {}
    for node in ast.walk(cls):
        if not isinstance(node, ast.Assign):
            continue
        value = node.value
        if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id in names:
            for target in node.targets:
                if is_self_attr(target):
                    holds.setdefault(target.attr, []).append(value.func.id)  # type: ignore[attr-defined]
    return holds


def instance_attributes(code: str, names: set[str]) -> dict[str, set[str]]:
    """For each of ``names``: the attributes and methods the classes of ``code`` read on its instances
    (``self.rotary = Name(dim=16)`` then ``self.rotary.rotate_queries_or_keys(q)``). Why: two blocks of one name may
    serve different interfaces (lucidrains' ``RotaryEmbedding`` rotates queries, timm's only builds embeddings); the
    one lacking what the model calls fails its forward with an AttributeError."""
    return _attributes_read_on_instances(_classes_and_instances_held(code, names))


def _attributes_read_on_instances(held: HeldInstances) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for cls, holds in held:
        for node in ast.walk(cls):
            if (isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load) and is_self_attr(node.value)
                    and node.value.attr in holds):  # type: ignore[attr-defined]
                for name in holds[node.value.attr]:  # type: ignore[attr-defined]
                    out.setdefault(name, set()).add(node.attr)
    return out


def container_elements(cls: ast.AST, names: set[str]) -> dict[str, list[str]]:
    """``self.attr`` -> the names built as its elements (``self.blocks = nn.ModuleList([Block(...) for ...])``)."""
    out: dict[str, list[str]] = {}
    for node in ast.walk(cls):
        if not isinstance(node, ast.Assign) or not isinstance(node.value, ast.Call):
            continue
        func = node.value.func
        called = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        if called not in {"ModuleList", "Sequential"}:
            continue
        built = [n for arg in node.value.args for n in _constructed(arg, names)]
        for target in node.targets:
            if is_self_attr(target) and built:
                out.setdefault(target.attr, []).extend(built)  # type: ignore[attr-defined]
    return out


def _loop_calls(cls: ast.ClassDef, names: set[str], parents: dict[ast.AST, ast.AST]) -> list[tuple[str, InstanceCall]]:
    """Instance calls through a loop over a container of them: ``for blk in self.blocks: x = blk(x)`` (also
    ``for i, blk in enumerate(self.blocks)``)."""
    elements = container_elements(cls, names)
    out: list[tuple[str, InstanceCall]] = []
    for loop in (n for n in ast.walk(cls) if isinstance(n, ast.For)):
        element = loop_element(loop)
        if element is None or element[0] not in elements:
            continue
        for node in element_calls(loop, element[1]):
            if not any(isinstance(a, ast.Starred) for a in node.args):
                out += [(name, _instance_call(node, parents)) for name in elements[element[0]]]
    return out


def loop_element(loop: ast.For) -> tuple[str, str] | None:
    """``(attr, variable)`` of a loop over a container attribute: ``for blk in self.blocks`` or
    ``for i, blk in enumerate(self.blocks)`` -> ``("blocks", "blk")``; None for any other loop."""
    iterated, target = loop.iter, loop.target
    if isinstance(iterated, ast.Call) and isinstance(iterated.func, ast.Name) and iterated.func.id == "enumerate" and iterated.args:
        iterated = iterated.args[0]
        target = target.elts[1] if isinstance(target, ast.Tuple) and len(target.elts) == 2 else target
    if is_self_attr(iterated) and isinstance(target, ast.Name):
        return iterated.attr, target.id  # type: ignore[attr-defined]
    return None


def element_calls(loop: ast.For, variable: str) -> list[ast.Call]:
    """The calls of the loop variable ``variable`` in ``loop`` (``blk(x)``)."""
    return [n for n in ast.walk(loop) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == variable]


def _functions(tree: ast.Module) -> dict[str, list[tuple[ast.FunctionDef, bool]]]:
    """Functions and methods of ``tree`` by name, each with whether it is a method (its first parameter is bound)."""
    out: dict[str, list[tuple[ast.FunctionDef, bool]]] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            out.setdefault(node.name, []).append((node, False))
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef):
                    static = any(isinstance(d, ast.Name) and d.id == "staticmethod" for d in item.decorator_list)
                    out.setdefault(item.name, []).append((item, not static))
    return out


def _bound_parameters(call: ast.Call, func: ast.FunctionDef, method: bool, known: dict[str, str]) -> dict[str, str]:
    """Parameter of ``func`` -> free name passed to it by ``call`` (``self._make_layer(BasicBlock, 64, 2)`` binds
    ``block`` to ``BasicBlock``). ``known``: the names that stand for a free name at the call (itself, or a local
    alias of it) -> that free name."""
    params = [a.arg for a in func.args.posonlyargs + func.args.args][1 if method else 0:]
    bound: dict[str, str] = {}
    for i, arg in enumerate(call.args):
        if isinstance(arg, ast.Starred):
            break
        if isinstance(arg, ast.Name) and arg.id in known and i < len(params):
            bound[params[i]] = known[arg.id]
    for kw in call.keywords:
        if kw.arg and isinstance(kw.value, ast.Name) and kw.value.id in known:
            bound[kw.arg] = known[kw.value.id]
    return bound


def _local_aliases(func: ast.FunctionDef, names: set[str]) -> dict[str, str]:
    """Locals of ``func`` assigned one of ``names`` as it is (``block = PreActBlock``) -> that name."""
    aliases: dict[str, str] = {}
    for node in ast.walk(func):
        if (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
                and isinstance(node.value, ast.Name) and node.value.id in names and node.targets[0].id not in names):
            aliases[node.targets[0].id] = node.value.id
    return aliases


def _names_at_calls(tree: ast.Module, names: set[str]) -> tuple[dict[int, dict[str, str]], list[tuple[ast.FunctionDef, str, str]]]:
    """For each call of ``tree`` (by id), the names that stand for a free name there (the names themselves and the local
    aliases of the function around it); and every (function, alias, free name) binding."""
    plain = {n: n for n in names}
    at_call = {id(n): plain for n in ast.walk(tree) if isinstance(n, ast.Call)}
    bindings: list[tuple[ast.FunctionDef, str, str]] = []
    for func in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)):  # outer functions first: inner ones win
        aliases = _local_aliases(func, names)
        if aliases:
            bindings += [(func, alias, name) for alias, name in aliases.items()]
            at_call.update({id(n): {**plain, **aliases} for n in ast.walk(func) if isinstance(n, ast.Call)})
    return at_call, bindings


def _uses_in(func: ast.FunctionDef, local: str, code: str, calls: list[CallSite], attributes: set[str]) -> None:
    """Add how ``func`` calls ``local`` and which of its attributes it reads to ``calls`` and ``attributes``."""
    for node in ast.walk(func):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == local:
            star = any(isinstance(a, ast.Starred) for a in node.args) or any(k.arg is None for k in node.keywords)
            keywords = [k.arg for k in node.keywords if k.arg]
            positional = [a for a in node.args if not isinstance(a, ast.Starred)]
            text = (ast.get_source_segment(code, node) or "")[:300]
            arg_names = [_ast_argument_name(a) for a in positional]
            calls.append(CallSite(len(positional), keywords, star, text, node.lineno, arg_names))
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == local:
            attributes.add(node.attr)


def parameter_calls(code: str, names: set[str]) -> dict[str, tuple[list[CallSite], set[str]]]:
    """For each of ``names`` passed as an argument to a function of ``code``, or assigned to a local as it is: how that
    function calls the parameter (or the local) and which of its attributes it reads (``_make_layer(self, block, planes,
    n, stride)`` with ``block(self.in_planes, planes, stride)`` and ``block.expansion``): the class's call sites, though
    its name never appears in them. A local alias passed on (``block = PreActBlock`` then ``self._make_layer(block,
    ...)``) binds the parameter as the name itself would.

    Why: the ResNet pattern ``self._make_layer(BasicBlock, 64, 2, stride=1)`` is how LLMs build most residual
    networks; without these calls the block's arguments are unknown and its name looks like a module alias. Through an
    alias, a class lacking ``expansion`` was inserted and failed with AttributeError."""
    try:
        tree = pyparse.parse(code)
    except (SyntaxError, ValueError, RecursionError):
        return {}
    functions = _functions(tree)
    at_call, bindings = _names_at_calls(tree, names)
    for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
        callee = call.func.id if isinstance(call.func, ast.Name) else call.func.attr if is_self_attr(call.func) else ""
        for func, method in functions.get(callee, []):  # type: ignore[arg-type]
            bound = _bound_parameters(call, func, method and callee != getattr(call.func, "id", ""), at_call[id(call)])
            bindings += [(func, param, name) for param, name in bound.items()]
    out: dict[str, tuple[list[CallSite], set[str]]] = {}
    done: set[tuple[int, str, str]] = set()
    for func, local, name in bindings:
        if (id(func), local, name) not in done:
            done.add((id(func), local, name))
            _uses_in(func, local, code, *out.setdefault(name, ([], set())))
    return {name: v for name, v in out.items() if v[0] or v[1]}


def free_names(code: str) -> list[str]:
    return list(analyze(code).free)


def edit_distance(a: str, b: str) -> int:
    """Insertions, deletions, replacements and swaps of two neighbours that turn ``a`` into ``b``."""
    previous, current = list(range(len(b) + 1)), [0] * (len(b) + 1)
    before: list[int] = []
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], before[j - 2] + 1)
        before, previous = previous, current
    return previous[len(b)]


def local_typo(usage: NameUsage) -> list[str]:
    """The names bound in the function around ``usage`` (its parameters too) that free name ``usage.name`` most
    likely misspells, nearest first; [] when it is not read like a misspelt local. It must be read only as a value
    (never called, no ``.attr``, no base class or decorator: those are blocks, helpers and modules) and only inside
    functions, in the local's case style, and within one edit of it (two for names of five or more characters), fewer
    edits than it has characters. Why: an LLM's ``self.conv2(feature)`` beside ``features = ...`` got a library block
    by meaning search (a class object passed to conv2d), and the check blamed conv2d, not the typo."""
    name = usage.name
    if usage.calls or usage.attributes or usage.as_base or usage.as_decorator or usage.instance_calls:
        return []
    if usage.at_import or not usage.value_uses:
        return []
    limit = min(1 if len(name) < 5 else 2, len(name) - 1)
    style = name.lstrip("_")[:1].isupper()
    near = [(edit_distance(name, local), local) for local in usage.local_names
            if local != name and local.lstrip("_")[:1].isupper() == style and local not in {"self", "cls"}]
    near = sorted(n for n in near if n[0] <= limit)
    return [local for distance, local in near if distance == near[0][0]] if near else []
