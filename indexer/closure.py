"""Assemble a scope-closed block: a class plus the transitive closure of the module-level
definitions it needs, with external imports at the top, in dependency order.

Steps: (1) link every global reference of every unit to its target through the import
graph (memoised per unit, shared by all blocks of the source); (2) walk the closure
from the root class; (3) merge identical definitions found in several modules, rename
the rest of the clashes deterministically (``name_<module>``) and rewrite their
references at exact spans; (4) order definitions so that whatever runs at definition
time (bases, decorators, defaults, constants) comes first, otherwise dependency order;
(5) emit imports (deduplicated, sorted) and the source slices.
"""

from __future__ import annotations

import ast
import heapq
import re
import sys
from dataclasses import dataclass, field

from indexer.imports import BUILTIN_NAMES, DefTarget, ExtTarget, ModTarget, ModuleGraph, installed_graph, installed_module_exists, top_level_installed
from indexer.scope import ImportBinding, Ref, Unit, _bound_at_module_level, absolute_module, changes_in_place

UnitKey = tuple[str, int]  # (module, unit index)
ExtKey = tuple[ExtTarget, str]  # (target, local name)


@dataclass
class Link:
    ref: Ref
    target: DefTarget | ExtKey | None  # None: builtin, unresolved or via external star import
    consumed: int = 0  # attributes folded into the target (``utils.helper`` -> 1)


@dataclass
class UnitLinks:
    links: list[Link] = field(default_factory=list)
    deps: dict[UnitKey, bool] = field(default_factory=dict)  # unit -> needed at definition time
    # units of this module that rebind or mutate a name this unit reads at definition time, below it in the source:
    # emitted after it, so it reads the value it reads in the source (``W = 50.0`` under ``def f(k=W)``)
    later: set[UnitKey] = field(default_factory=set)
    ext: set[ExtKey] = field(default_factory=set)
    ann_ext: set[ExtKey] = field(default_factory=set)  # external names read only in lazy annotations
    ann_deps: set[UnitKey] = field(default_factory=set)  # definitions read only in lazy annotations (carried when cheap)
    ext_fulls: set[str] = field(default_factory=set)  # ``import a.b.c`` lines
    star: set[str] = field(default_factory=set)  # external ``from x import *`` needed
    nested_external: set[str] = field(default_factory=set)  # top-level modules imported inside compound units
    optional_external: set[str] = field(default_factory=set)  # ... only under try/except ImportError or in function bodies
    unresolved: set[str] = field(default_factory=set)
    edits: list[tuple[int, int, int, int, str]] = field(default_factory=list)  # fixed edits (relative imports)
    # imports of internal definitions or modules inside functions or module-level try/if: rewritten at render time
    local_imports: list["InternalImport"] = field(default_factory=list)


@dataclass
class InternalImport:
    """An import statement of the source's own modules that is not a top-level import unit (inside a function, or
    under a module-level ``try`` / ``if``). Each alias becomes: its definition inlined (``local = <emitted name>``
    when the names differ), a direct import of the external thing it re-exports, or the alias text kept as it was.
    ``missing``: the statement is replaced by ``raise ImportError(missing)`` (a ``try/except ImportError`` import of
    something the source does not have: the fallback runs, as it would without the package)."""

    node: ast.Import | ast.ImportFrom
    entries: list[tuple[str, DefTarget | ExtTarget | None, str | None]]  # (local name, target, kept alias text)
    module_level: bool = False
    missing: str | None = None


@dataclass
class Assembled:
    code: str
    units: list[UnitKey]
    external_imports: list[str]
    unresolved: list[str]
    parts: list[str] = field(default_factory=list)  # header, then one text per unit
    required_external: list[str] = field(default_factory=list)  # external_imports minus those only under try/except ImportError


_IDENT_RE = re.compile(r"[^0-9A-Za-z_]")
MAX_ANNOTATION_UNITS = 8  # what a definition named only in a lazy annotation may add to a block, with its closure
MAX_ANNOTATION_LINES = 200


@dataclass(frozen=True)
class _Reserved:
    """A name some unit reads as a builtin or through a star import: never renamed, never taken."""

    name: str


def _star_provider(ext_stars: list[str], name: str) -> str | None:
    """The external module whose ``from m import *`` gives ``name``: the only one, or the
    last one that defines it as read statically from its installed source; None if unknown."""
    if len(ext_stars) == 1:
        return ext_stars[0]
    graph = installed_graph()
    for star in reversed(ext_stars):
        smi = graph.modules.get(star)
        if smi is None or (smi.all_names is not None and name not in smi.all_names) or (smi.all_names is None and name.startswith("_")):
            continue
        if graph.resolve(star, name) is not None:
            return star
    return None


class BlockAssembler:
    def __init__(self, graph: ModuleGraph):
        self.graph = graph
        self._links: dict[UnitKey, UnitLinks] = {}
        self._linking: set[UnitKey] = set()  # units whose links are being computed (``_reads_of_load_time_calls``)
        self._sigs: dict[UnitKey, int] = {}
        self._sig_ids: dict[tuple, int] = {}
        self._default_text: dict[UnitKey, str] = {}
        self._compiled: dict[str, str] = {}  # text -> "" when it compiles, else the error
        self._registrations: dict[DefTarget, dict[str, list[UnitKey]]] | None = None
        self._mutated: dict[DefTarget, set[DefTarget]] = {}

    # ---------------------------------------------------------------- linking (per unit, memoised)

    def links(self, key: UnitKey) -> UnitLinks:
        if key not in self._links:
            self._linking.add(key)
            try:
                self._links[key] = self._link(*key)
            finally:
                self._linking.discard(key)
        return self._links[key]

    def _link(self, module: str, index: int) -> UnitLinks:
        g = self.graph
        mi = g.modules[module]
        unit = mi.units[index]
        out = UnitLinks()
        keyed: dict[tuple[int, int, int], set[str]] | None = None  # registry reads with constant keys, on first use
        for ref in mi.refs(unit):
            if ref.annotation:
                self._link_annotation(module, unit, ref, out)
                continue
            target = g.resolve(module, ref.name)
            consumed = 0
            if isinstance(target, ModTarget):
                target, consumed = g.resolve_attrs(target, ref.attrs)
                if isinstance(target, ModTarget) or target is None:
                    out.unresolved.add(".".join([ref.name] + [a for a, _, _ in ref.attrs[: max(consumed, 1)]]))
                    out.links.append(Link(ref, None))
                    continue
            if target is None:
                if ref.name in BUILTIN_NAMES:
                    out.links.append(Link(ref, None))
                    continue
                ext_stars = [s for s in mi.star_imports if s not in g.modules]
                star = _star_provider(ext_stars, ref.name)
                if star is not None:
                    # ``from torch import *`` then ``sigmoid``: an explicit import of the name,
                    # so the star never shadows builtins or names of the block's other units
                    sub = f"{star}.{ref.name}"
                    ext_key = (ExtTarget(sub, None) if installed_module_exists(sub) else ExtTarget(star, ref.name), ref.name)
                    out.ext.add(ext_key)
                    out.links.append(Link(ref, ext_key))
                    continue
                if ext_stars:
                    out.star.update(ext_stars)
                else:
                    out.unresolved.add(ref.name)
                    if ref.name in mi.unresolved_imports:  # ``from ..config import X`` above the source's top package
                        out.unresolved.add(mi.unresolved_imports[ref.name])
                out.links.append(Link(ref, None))
                continue
            if isinstance(target, DefTarget):
                tmi = g.modules[target.module]
                own_name = target.module == module and target.name in unit.names
                # a definition-time read in the same module, of a name some statement above it defines: later
                # rebindings go after it. Without a definition above (``from .cfg import W`` then ``W = 11`` below), the
                # block keeps the later one first: the import is no unit of its own, and dropping it left W undefined
                below = target.module == module and ref.load_time and any(i < index for i in tmi.defs[target.name])
                for i in tmi.defs[target.name]:
                    if own_name:
                        continue  # its own name (recursion, a redefinition): order is kept by _toposort
                    if (target.module, i) != (module, index):
                        dep = (target.module, i)
                        out.deps[dep] = out.deps.get(dep, False) or (ref.load_time and not (below and i > index))
                        if below and i > index:
                            out.later.add(dep)
                # ``_ACTS["relu"] = nn.ReLU``, ``_ORDER.append(...)``: mutations join with the name;
                # one mutation of a name is ordered after the others by _toposort, not by this ref
                mutations = tmi.mutations.get(target.name, [])
                for i in mutations:
                    if (target.module, i) != (module, index):
                        dep = (target.module, i)
                        late = own_name or (target.module == module and index in mutations) or (below and i > index)
                        out.deps[dep] = out.deps.get(dep, False) or (ref.load_time and not late)
                        if below and i > index and not own_name:
                            out.later.add(dep)
                if target.module != module:
                    self._link_local_mutations(mi, index, ref, out)
                if target in self.registrations():
                    keyed = _constant_key_reads(unit.node) if keyed is None else keyed
                    for key in sorted(keyed.get((ref.line, ref.col, consumed), ())):
                        for dep in self.registrations()[target].get(key, []):
                            if dep != (module, index):
                                out.deps[dep] = out.deps.get(dep, False) or ref.load_time
                out.links.append(Link(ref, target, consumed))
                continue
            local = ref.name if consumed == 0 else ref.attrs[consumed - 1][0]
            ext_key = (target, local)
            out.ext.add(ext_key)
            if target.attr is None and consumed == 0:
                out.ext_fulls.update(mi.import_fulls.get(ref.name, []))
            out.links.append(Link(ref, ext_key, consumed))
        self._nested_imports(mi, unit, out)
        self._reads_of_load_time_calls(module, index, out)
        return out

    def _reads_of_load_time_calls(self, module: str, index: int, out: UnitLinks) -> None:
        """The module-level names that the module's functions a unit calls at definition time read (a decorator, a
        default ``act=get_act()``, and the functions they call in turn): read then, so their rebindings below the
        unit come after it, as for a name the unit reads itself. Why: ``get_act()`` reading ``DEFAULT_ACT`` got the
        ``DEFAULT_ACT = "silu"`` written at the end of the file (SiLU where the source builds ReLU)."""
        mi = self.graph.modules[module]
        functions = (ast.FunctionDef, ast.AsyncFunctionDef)
        todo = [dep for dep, load_time in out.deps.items() if load_time and dep[0] == module and isinstance(mi.units[dep[1]].node, functions)]
        seen: set[UnitKey] = set()
        while todo:
            key = todo.pop()
            if key in seen or key in self._linking:  # a definition-time call cycle: the source fails on it anyway
                continue
            seen.add(key)
            for ln in self.links(key).links:
                target = ln.target
                if not isinstance(target, DefTarget) or target.module != module:
                    continue
                defs = mi.defs[target.name]
                if any(i < index for i in defs):
                    out.later.update((module, i) for i in defs if i > index)
                todo.extend((module, i) for i in defs if isinstance(mi.units[i].node, functions))

    @staticmethod
    def _link_local_mutations(mi, index: int, ref: Ref, out: UnitLinks) -> None:
        """This module's mutations of a name it imports (``from .cfg import CFG`` then ``CFG["k"] = 42``): they join
        the units reading it, before a definition-time read below them and after one above them, as in the source.
        Why: they were dropped, and the block read the imported dict as first defined (1 where the source has 42)."""
        for i in mi.mutations.get(ref.name, []):
            if i == index or not changes_in_place(mi.units[i].node, ref.name):  # not ``if WINDOWS: LOGGER.warning(...)``
                continue
            dep = (mi.name, i)
            out.deps[dep] = out.deps.get(dep, False) or (ref.load_time and i < index)
            if ref.load_time and i > index:
                out.later.add(dep)

    def registrations(self) -> dict[DefTarget, dict[str, list[UnitKey]]]:
        """Registries that decorators of the source fill: registry -> key -> the decorated definitions. A definition
        ``@register`` (or ``@register("name")``) whose decorator function stores into a module-level name
        (``REGISTRY[cls.__name__] = cls``, ``.update`` / ``.append`` / ``.setdefault``) registers under its own
        name and the decorator's string arguments. Why: a block that reads ``REGISTRY["Scaled"]`` got the empty
        ``REGISTRY = {}`` without ``Scaled``, whose decoration fills it (in another module)."""
        if self._registrations is None:
            g = self.graph
            index: dict[DefTarget, dict[str, list[UnitKey]]] = {}
            for module in sorted(g.modules):
                mi = g.modules[module]
                for unit in mi.units:
                    if unit.kind not in ("def", "class") or not unit.node.decorator_list:
                        continue
                    for deco in unit.node.decorator_list:
                        call = deco if isinstance(deco, ast.Call) else None
                        fn, _ = g._resolve_expr(module, call.func if call else deco)
                        if not isinstance(fn, DefTarget):
                            continue
                        registries = self._mutated_globals(fn)
                        if not registries:
                            continue
                        keys = {unit.node.name}
                        if call is not None:
                            keys |= {a.value for a in call.args + [k.value for k in call.keywords] if isinstance(a, ast.Constant) and isinstance(a.value, str)}
                        for reg in registries:
                            for key in keys:
                                index.setdefault(reg, {}).setdefault(key, []).append((module, unit.index))
            self._registrations = index
        return self._registrations

    def _mutated_globals(self, fn: DefTarget) -> set[DefTarget]:
        """Module-level definitions a function (and the functions nested in it) stores into in place."""
        if fn not in self._mutated:
            self._mutated[fn] = set()
            mi = self.graph.modules[fn.module]
            out: set[DefTarget] = set()
            for i in mi.defs.get(fn.name, []):
                node = mi.units[i].node
                if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    continue
                local: set[str] = set()
                for n in ast.walk(node):
                    if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                        local.update(a.arg for a in n.args.posonlyargs + n.args.args + n.args.kwonlyargs + [x for x in (n.args.vararg, n.args.kwarg) if x])
                    elif isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
                        local.add(n.id)
                for name in _stored_roots(node) - local:
                    target = self.graph.resolve(fn.module, name)
                    if isinstance(target, DefTarget):
                        out.add(target)
            self._mutated[fn] = out
        return self._mutated[fn]

    def _link_annotation(self, module: str, unit: Unit, ref: Ref, out: UnitLinks) -> None:
        """A name read only in an annotation that ``from __future__ import annotations`` keeps as a string. Why carry
        it: ``dataclasses`` fields, ``typing.get_type_hints`` and pydantic evaluate them, and the example guesser
        builds ``__init__(self, cfg: Cfg)`` from the ``Cfg`` it finds in the block. Definitions of the source join
        the block when cheap (``_annotation_units``; not nn.Module classes: they are built otherwise); external names
        only when the block imports their package anyway or it is the standard library (``_annotation_imports``). A
        name that resolves to nothing is left as it is: it was never needed to run the block."""
        g = self.graph
        target = g.resolve(module, ref.name)
        consumed = 0
        if isinstance(target, ModTarget):
            target, consumed = g.resolve_attrs(target, ref.attrs)
        if isinstance(target, DefTarget):
            if (target.module == module and target.name in unit.names) or not self._cheap_annotation(target):
                return
            if all(_is_type_checking(g.modules[target.module].units[i].node) for i in g.modules[target.module].defs[target.name]):
                return  # bound under ``if TYPE_CHECKING:`` only: nothing to carry
            # ``cfgmod.Cfg`` is written ``Cfg`` (the block carries the definition, not its module), as evaluated
            # references are
            tmi = g.modules[target.module]
            out.ann_deps.update((target.module, i) for i in tmi.defs[target.name] + tmi.mutations.get(target.name, []))
            out.links.append(Link(ref, target, consumed))
        elif isinstance(target, ExtTarget) and consumed == 0:
            key = (target, ref.name)
            out.ann_ext.add(key)
            out.links.append(Link(ref, key))

    def _cheap_annotation(self, target: DefTarget) -> bool:
        """Whether an annotation-only definition joins the block: anything but an nn.Module class."""
        mi = self.graph.modules[target.module]
        if not any(mi.units[i].kind in ("class", "compound") for i in mi.defs[target.name]):
            return True
        return not (self.graph.class_nodes(target) and self.graph.is_module_class(target))

    def _nested_imports(self, mi, unit: Unit, out: UnitLinks) -> None:
        """Import statements inside units (try/except ImportError, if guards, function bodies). External ones stay
        as the source has them (relative ones made absolute); those of the source's own modules are inlined like a
        top-level import: why: ``try: from .other import f`` became ``from pkg.other import f``, so the block
        imported the package it was mined from (or silently ran its fallback). An import under a module-level
        ``if`` or ``try/except ImportError`` is optional: it never makes the block ``missing_deps``."""
        if unit.kind == "import":
            return
        nodes = mi.import_nodes(unit)
        if not nodes:
            return
        g = self.graph
        guarded = _guarded_imports(unit.node)
        try_guarded = _try_guarded_imports(unit.node)
        conditional = _conditional_imports(unit.node)
        type_checking = _type_checking_imports(unit.node)
        enclosing: dict[int, ast.AST] = {}  # import node -> innermost function holding it
        for fn in ast.walk(unit.node):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for n in ast.walk(fn):
                    if isinstance(n, (ast.Import, ast.ImportFrom)):
                        enclosing[id(n)] = fn
        required: set[str] = set()
        for node in nodes:
            tops: set[str] = set()
            mod: str | None = None
            if isinstance(node, ast.Import):
                tops = {a.name.split(".")[0] for a in node.names if not g.is_internal(a.name.split(".")[0])}
                internal = any(g.is_internal(a.name.split(".")[0]) for a in node.names)
            else:
                mod = absolute_module(mi.name, mi.is_package, node.level, node.module)
                if mod is None:
                    out.unresolved.add("." * node.level + (node.module or ""))
                    continue
                if not g.is_internal(mod.split(".")[0]) and mod != "__future__":
                    tops = {mod.split(".")[0]}
                if node.level:
                    names = ", ".join(a.name + (f" as {a.asname}" if a.asname else "") for a in node.names)
                    out.edits.append((node.lineno, node.col_offset, node.end_lineno, node.end_col_offset, f"from {mod} import {names}"))
                internal = g.is_internal(mod.split(".")[0])  # a module the source lacks too (``._compiled_ext``)
            module_level = any(node is m for m in unit.module_imports)
            if id(node) in type_checking:
                continue  # ``if TYPE_CHECKING:`` never runs: neither inlined nor a dependency
            if internal and module_level:
                tops |= self._local_import(mod, node, out, None, try_guarded=id(node) in try_guarded)
            elif internal and id(node) in enclosing:
                tops |= self._local_import(mod, node, out, enclosing[id(node)], try_guarded=id(node) in try_guarded)
            out.nested_external |= tops
            if module_level and id(node) not in guarded and id(node) not in conditional:
                required |= tops  # runs when the block is imported (function-local imports run only when called)
        out.optional_external = out.nested_external - required

    def _local_import(self, mod: str | None, node: ast.Import | ast.ImportFrom, out: UnitLinks, fn: ast.AST | None,
                      try_guarded: bool = False) -> set[str]:
        """An import of an internal module or definition inside a function (a cycle breaker, a lazy import) or under
        a module-level ``try`` / ``if`` (``fn`` None): definitions join the closure and the statement is rewritten
        at render time (dropped, or ``local = <emitted name>``); a name the module re-exports from outside becomes
        a direct import of it. A module bound inside a function is inlined when every use in the function is
        ``module.attr`` resolving to a definition (``utils.f`` -> ``f``), else it stays and is recorded as
        unresolved (the source's package is not importable where the block runs); at module level a module or a
        name the source lacks is unresolved too, unless ``try/except ImportError`` guards it (its fallback runs).
        Returns the external top-level modules the rewritten statement imports."""
        g = self.graph
        module_level = fn is None
        entries: list[tuple[str, DefTarget | ExtTarget | None, str | None]] = []
        tops: set[str] = set()
        changed = False
        missing: list[str] = []
        for a in node.names:
            if a.name == "*":
                if module_level and not g.installed:
                    out.unresolved.add(f"{mod}.*")
                return set()
            text = a.name + (f" as {a.asname}" if a.asname else "")
            local = _bound_name(node, a)
            if isinstance(node, ast.ImportFrom):
                t = g.resolve(mod, a.name) if mod in g.modules else g._binding(ImportBinding(local, mod, a.name), set())
            else:
                top = a.name if a.asname else local
                t = g._modtarget(top) if g.is_internal(top) else None
            failing = self._import_fails(t.module) if isinstance(t, DefTarget) and try_guarded and module_level and not g.installed else []
            if failing:
                # importing that module raises ImportError where the block runs (``import fancylib`` at its top, not
                # installed): the original's fallback runs, so the block keeps it rather than inlining the definition
                missing.append(f"{mod}.{a.name} (its module needs {', '.join(failing)})")
                entries.append((local, None, text))
            elif isinstance(t, DefTarget):
                tmi = g.modules[t.module]
                for i in tmi.defs[t.name] + tmi.mutations.get(t.name, []):
                    key = (t.module, i)
                    out.deps[key] = out.deps.get(key, False) or module_level
                entries.append((local, t, None))
                changed = True
            elif isinstance(t, ExtTarget) and not g.installed:
                entries.append((local, t, None))  # ``from .compat import np``: ``import numpy as np``
                tops.add(t.module.split(".")[0])
                changed = True
            elif isinstance(t, ModTarget) and not module_level:
                links = self._module_uses(fn, local, t)
                if links == []:  # never used (imported for its side effects): left as it is
                    entries.append((local, None, text))
                    continue
                if links is None:
                    out.unresolved.add(t.module)
                    entries.append((local, None, text))
                    continue
                for ln in links:
                    if isinstance(ln.target, DefTarget):
                        for i in g.modules[ln.target.module].defs[ln.target.name]:
                            out.deps.setdefault((ln.target.module, i), False)
                    else:
                        out.ext.add(ln.target)
                    out.links.append(ln)
                entries.append((local, None, None))
                changed = True
            else:
                if (module_level or try_guarded or t is None) and not g.installed:
                    # a module bound under a module-level guard, or a name the source does not have (also in a
                    # function: ``from .nothere import Thing`` became ``from pkg.nothere import Thing``, listed nowhere)
                    missing.append(t.module if isinstance(t, ModTarget) else f"{mod}.{a.name}" if mod else a.name)
                entries.append((local, None, text))
        if missing and try_guarded:
            out.local_imports.append(InternalImport(node, entries, module_level, f"{', '.join(missing)}: not part of this block"))
            return tops
        out.unresolved.update(missing)
        if changed:
            out.local_imports.append(InternalImport(node, entries, module_level))
        return tops

    def _import_fails(self, module: str) -> list[str]:
        """The external packages that ``module``'s own top-level import statements need and that are not installed:
        importing it raises ImportError. Why: ``try: from .other import exists / except ImportError: exists = None``
        was inlined with ``other``'s ``import fancylib`` at the top of the block, unguarded, so the fallback that ran in
        the package could never run. (One level: a module that imports a sibling needing a missing package is not
        followed.)"""
        tops = {b.module.split(".")[0] for u in self.graph.modules[module].units if u.kind == "import" for b in u.imports}
        return missing_dependencies(sorted(t for t in tops if not self.graph.is_internal(t) and t != "__future__"))

    def _module_uses(self, fn: ast.AST, local: str, target: ModTarget) -> list[Link] | None:
        """Links for every ``local.attr...`` in ``fn`` through module ``target``; None when
        one use is not an attribute chain reaching a definition or an external name."""
        inner: set[int] = {id(n.value) for n in ast.walk(fn) if isinstance(n, ast.Attribute)}
        roots: set[int] = set()
        links: list[Link] = []
        for n in ast.walk(fn):
            if not isinstance(n, ast.Attribute) or id(n) in inner:
                continue
            chain: list[ast.Attribute] = []
            cur: ast.AST = n
            while isinstance(cur, ast.Attribute):
                chain.append(cur)
                cur = cur.value
            if not (isinstance(cur, ast.Name) and cur.id == local):
                continue
            roots.add(id(cur))
            attrs = tuple((c.attr, c.end_lineno, c.end_col_offset) for c in reversed(chain))
            hit, consumed = self.graph.resolve_attrs(target, attrs)
            if isinstance(hit, ExtTarget):
                hit = (hit, attrs[consumed - 1][0])
            elif not isinstance(hit, DefTarget):
                return None
            ref = Ref(local, cur.lineno, cur.col_offset, cur.end_lineno, cur.end_col_offset, attrs, False, False)
            links.append(Link(ref, hit, consumed))
        for n in ast.walk(fn):
            if isinstance(n, ast.Name) and n.id == local and id(n) not in roots:
                return None  # the module object itself is used (passed, stored, rebound)
        return links

    # ---------------------------------------------------------------- assembly

    def assemble(self, root: DefTarget, extra: list[DefTarget] | tuple = ()) -> Assembled:
        """The block of ``root``; ``extra`` definitions (and their closures) join it."""
        g = self.graph
        root_units = [(t.module, i) for t in extra for i in g.modules[t.module].defs[t.name]]
        root_units += [(root.module, i) for i in g.modules[root.module].defs[root.name]]  # the root class last
        # (2) closure and a deterministic depth-first post-order
        seen: set[UnitKey] = set()
        order = self._closure(root_units, seen)
        order = order[:-1] + self._annotation_units(order, seen) + order[-1:]  # the root class stays last
        # (3) merge identical definitions, then name every identity
        canonical = self._merge_identical(order)
        units = [k for k in order if canonical[k] == k]
        annotations = self._annotation_imports(units)
        names = self._assign_names(root, units, canonical, annotations)
        # (4) order: definition-time deps first, DFS post-order otherwise
        units = self._toposort(units, canonical, {k: i for i, k in enumerate(order)})
        # (5) emit
        return self._emit(units, canonical, names, annotations)

    def _closure(self, starts: list[UnitKey], seen: set[UnitKey]) -> list[UnitKey]:
        """Units reachable from ``starts`` and not in ``seen`` (which grows), in depth-first post-order."""
        order: list[UnitKey] = []
        for start in starts:
            if start in seen:
                continue
            seen.add(start)
            stack: list[tuple[UnitKey, list[UnitKey]]] = [(start, sorted(self.links(start).deps))]
            while stack:
                key, todo = stack[-1]
                if todo:
                    nxt = todo.pop(0)
                    if nxt not in seen:
                        seen.add(nxt)
                        stack.append((nxt, sorted(self.links(nxt).deps)))
                else:
                    order.append(key)
                    stack.pop()
        return order

    def _annotation_units(self, order: list[UnitKey], seen: set[UnitKey]) -> list[UnitKey]:
        """Definitions named only in lazy annotations of the block's units that are cheap to carry: each with its
        closure adds at most ``MAX_ANNOTATION_UNITS`` units and ``MAX_ANNOTATION_LINES`` lines (a config dataclass,
        a NamedTuple, a type alias), never a trainer or a predictor class that drags half a package in."""
        out: list[UnitKey] = []
        pending = list(order)
        packages = self._external_packages(order) | set(sys.stdlib_module_names)
        while pending:
            key = pending.pop(0)
            for dep in sorted(self.links(key).ann_deps):
                if dep in seen:
                    continue
                trial = set(seen)
                extra = self._closure([dep], trial)
                lines = sum(self.graph.modules[m].units[i].line_end - self.graph.modules[m].units[i].line_start + 1 for m, i in extra)
                # and no package the block does not import already: a config class whose default reads a package
                # (``scale: float = fancylib.DEFAULT``) made the block import it for an annotation that never runs
                if len(extra) <= MAX_ANNOTATION_UNITS and lines <= MAX_ANNOTATION_LINES and self._external_packages(extra) <= packages:
                    seen |= trial
                    out += extra
                    pending += extra
        return out

    def _external_packages(self, units: list[UnitKey]) -> set[str]:
        """Top-level external packages the units read (their links and star imports)."""
        return ({t.module.split(".")[0] for k in units for t, _ in self.links(k).ext}
                | {s.split(".")[0] for k in units for s in self.links(k).star})

    def _annotation_imports(self, units: list[UnitKey]) -> set[ExtKey]:
        """External names read only in lazy annotations that the block imports: those of the standard library and
        of packages the block imports anyway (``torch`` of ``-> torch.Tensor``), never a package for its annotations."""
        ext = {ek for k in units for ek in self.links(k).ext}
        tops = self._external_packages(units)
        out: set[ExtKey] = set()
        for k in units:
            for ek in self.links(k).ann_ext:
                top = ek[0].module.split(".")[0]
                if ek not in ext and (top in tops or top in sys.stdlib_module_names):
                    out.add(ek)
        return out

    def _signature(self, key: UnitKey) -> int:
        """Id of (text, what every reference resolves to): equal ids mean the same definition."""
        if key not in self._sigs:
            mi = self.graph.modules[key[0]]
            unit = mi.units[key[1]]
            ul = self.links(key)
            inlined = tuple((li.missing, tuple(t for _, t, _ in li.entries)) for li in ul.local_imports)  # ``from .x import f`` differs by package
            sig = (unit.names, mi.unit_text(unit), tuple((ln.ref.line - unit.line_start, ln.ref.col, ln.consumed, ln.target) for ln in ul.links), inlined)
            self._sigs[key] = self._sig_ids.setdefault(sig, len(self._sig_ids))
        return self._sigs[key]

    def _merge_identical(self, order: list[UnitKey]) -> dict[UnitKey, UnitKey]:
        canonical: dict[UnitKey, UnitKey] = {}
        by_sig: dict[tuple, UnitKey] = {}
        for key in order:
            mi = self.graph.modules[key[0]]
            unit = mi.units[key[1]]
            if unit.kind in ("def", "class", "assign", "compound") and unit.names:
                canonical[key] = by_sig.setdefault(self._signature(key), key)
            else:
                canonical[key] = key
        return canonical

    def _identity(self, target: DefTarget, canonical: dict[UnitKey, UnitKey]) -> DefTarget:
        mi = self.graph.modules[target.module]
        idx = mi.defs[target.name]
        first = canonical.get((target.module, idx[0]))
        return DefTarget(first[0], target.name) if first else target

    def _assign_names(self, root: DefTarget, units: list[UnitKey], canonical, annotations: set[ExtKey] = frozenset()) -> dict:
        g = self.graph
        identities: dict[object, str] = {}
        for key in units:
            for n in g.modules[key[0]].units[key[1]].names:
                identities[DefTarget(key[0], n)] = n
        for key in units:
            for ek in self.links(key).ext:
                identities[ek] = ek[1]
        for ek in annotations:
            identities[ek] = ek[1]
        # names some unit reads as a builtin, through a star import or unresolved: whatever
        # else wants the name is renamed, or that unit would read it instead
        for key in units:
            for ln in self.links(key).links:
                if ln.target is None and not ln.ref.store:
                    identities.setdefault(_Reserved(ln.ref.name), ln.ref.name)
        groups: dict[str, list[object]] = {}
        for ident, want in identities.items():
            groups.setdefault(want, []).append(ident)

        def rank(ident: object) -> tuple:
            if ident == root:
                return (0, "", "")
            if isinstance(ident, _Reserved):
                return (0, "~", ident.name)
            if ident in annotations:  # an import for annotations only gives way to everything else
                return (4, ident[0].qualname, ident[1])
            if isinstance(ident, tuple):
                return (1, ident[0].qualname, ident[1])
            return (2 if ident.module == root.module else 3, ident.module, ident.name)

        taken = set(groups)
        names: dict[object, str] = {}  # only the renamed identities
        for want in sorted(groups):
            members = sorted(groups[want], key=rank)
            for ident in members[1:]:
                if isinstance(ident, _Reserved):
                    continue
                module = ident[0].module if isinstance(ident, tuple) else ident.module
                candidates = [f"{want}_{_IDENT_RE.sub('_', module.rsplit('.', 1)[-1])}", f"{want}_{_IDENT_RE.sub('_', module)}"]
                new = next((c for c in candidates if c not in taken), None)
                n = 2
                while new is None:
                    new = f"{candidates[-1]}_{n}" if f"{candidates[-1]}_{n}" not in taken else None
                    n += 1
                taken.add(new)
                names[ident] = new
        return names

    def _toposort(self, units: list[UnitKey], canonical, post: dict[UnitKey, int]) -> list[UnitKey]:
        present = set(units)
        hard: dict[UnitKey, set[UnitKey]] = {k: set() for k in units}
        for k in units:
            for dep, load_time in self.links(k).deps.items():
                d = canonical.get(dep, dep)
                if load_time and d in present and d != k:
                    hard[k].add(d)
        # several definitions of one name in a module (a fallback redefined under an ``if``)
        # keep their source order: the later one must win, as it does in the source
        by_name: dict[tuple[str, str], list[UnitKey]] = {}
        for k in units:
            for name in self.graph.modules[k[0]].units[k[1]].names:
                by_name.setdefault((k[0], name), []).append(k)
        for same in by_name.values():
            same.sort(key=lambda k: k[1])
            for earlier, later in zip(same, same[1:]):
                hard[later].add(earlier)
        # mutations of one name (``_ACTS["a"] = ...``, ``_ACTS.update(...)``, ``set_config(...)``) keep their source
        # order among themselves and with the name's definitions
        for module in {k[0] for k in units}:
            mi = self.graph.modules[module]
            for name, idx in mi.mutations.items():
                same = [(module, i) for i in sorted({*idx, *mi.defs.get(name, [])}) if (module, i) in present]
                for earlier, later in zip(same, same[1:]):
                    hard[later].add(earlier)
        # a rebinding or mutation below a definition-time read comes after the reader, as in the source
        for k in units:
            for d in self.links(k).later:
                d = canonical.get(d, d)
                if d in present and d != k:
                    hard[d].add(k)
        users: dict[UnitKey, list[UnitKey]] = {k: [] for k in units}
        for k, deps in hard.items():
            for d in deps:
                users[d].append(k)
        waiting = {k: len(d) for k, d in hard.items()}
        heap = [(post[k], k) for k in units if waiting[k] == 0]
        heapq.heapify(heap)
        out: list[UnitKey] = []
        done: set[UnitKey] = set()
        while len(out) < len(units):
            if not heap:  # a definition-time cycle: break it at the earliest unit
                k = min((k for k in units if k not in done), key=lambda k: post[k])
                heap.append((post[k], k))
            _, k = heapq.heappop(heap)
            if k in done:
                continue
            done.add(k)
            out.append(k)
            for u in users[k]:
                waiting[u] -= 1
                if waiting[u] == 0 and u not in done:
                    heapq.heappush(heap, (post[u], u))
        return out

    def _emit(self, units: list[UnitKey], canonical, names: dict, annotations: set[ExtKey] = frozenset()) -> Assembled:
        g = self.graph
        ext: set[ExtKey] = set(annotations)
        fulls: set[str] = set()
        stars: set[str] = set()
        nested: set[str] = set()
        nested_required: set[str] = set()
        unresolved: set[str] = set()
        future = False
        bodies: list[str] = []
        for key in units:
            mi = g.modules[key[0]]
            ul = self.links(key)
            future |= mi.future_annotations
            stars |= ul.star
            nested |= ul.nested_external
            nested_required |= ul.nested_external - ul.optional_external
            unresolved |= ul.unresolved
            ext |= ul.ext
            fulls |= ul.ext_fulls
            bodies.append(self._render(key, canonical, names))
        header: list[str] = []
        if future:
            header.append("from __future__ import annotations\n")
        plain: set[str] = set()
        froms: dict[str, set[str]] = {}
        for target, local in ext:
            new = names.get((target, local), local)
            if target.attr is None:
                if new == target.module:
                    plain.add(f"import {target.module}")
                elif "." in target.module and target.module.rsplit(".", 1)[1] == new:
                    froms.setdefault(target.module.rsplit(".", 1)[0], set()).add(new)
                else:
                    plain.add(f"import {target.module} as {new}")
            else:
                froms.setdefault(target.module, set()).add(target.attr if new == target.attr else f"{target.attr} as {new}")
        plain |= {f"import {f}" for f in fulls}
        # star imports first, so that the named imports the references were resolved to win
        lines = [f"from {m} import *" for m in sorted(stars)]
        lines += sorted(plain) + [f"from {m} import {', '.join(sorted(v))}" for m, v in sorted(froms.items())]
        header.extend(line + "\n" for line in lines)
        code = "".join(header) + ("\n\n" if header else "") + "\n\n".join(bodies)
        required = {t.module.split(".")[0] for t, _ in ext} | {s.split(".")[0] for s in stars} | nested_required
        tops = required | nested
        tops.discard("__future__")
        required.discard("__future__")
        return Assembled(code=code, units=units, external_imports=sorted(tops), unresolved=sorted(unresolved), parts=["".join(header)] + bodies, required_external=sorted(required))


    def _render(self, key: UnitKey, canonical, names: dict) -> str:
        """The unit's text with references rewritten to the emitted names (cached when the
        block renames nothing the unit refers to)."""
        ul = self.links(key)
        mi = self.graph.modules[key[0]]
        unit = mi.units[key[1]]
        own = {n: names[DefTarget(key[0], n)] for n in unit.names if DefTarget(key[0], n) in names} if names else {}
        if names:
            renamed = own or any(ln.target is not None and (self._identity(ln.target, canonical) if isinstance(ln.target, DefTarget) else ln.target) in names for ln in ul.links)
            renamed = renamed or any(isinstance(t, DefTarget) and self._identity(t, canonical) in names for li in ul.local_imports for _, t, _ in li.entries)
        else:
            renamed = False
        if not renamed and key in self._default_text:
            return self._default_text[key]
        edits = list(ul.edits)
        if own:
            edits = self._rename_nested_imports(mi, unit, own, edits)
        for li in ul.local_imports:
            node = li.node
            edits = [e for e in edits if (e[0], e[1]) != (node.lineno, node.col_offset)]
            edits.append((node.lineno, node.col_offset, node.end_lineno, node.end_col_offset, self._render_import(mi, li, own, names, canonical)))
        for link in ul.links:
            if link.target is None:
                continue
            ident = self._identity(link.target, canonical) if isinstance(link.target, DefTarget) else link.target
            new = names.get(ident) or (ident.name if isinstance(ident, DefTarget) else ident[1])
            ref = link.ref
            if link.consumed:
                _, end_line, end_col = ref.attrs[link.consumed - 1]
                edits.append((ref.line, ref.col, end_line, end_col, new))
            elif new != ref.name:
                edits.append((ref.line, ref.col, ref.end_line, ref.end_col, new))
        text = _apply_edits(mi.lines_b, unit.line_start, unit.line_end, edits).rstrip() + "\n"
        if not renamed:
            self._default_text[key] = text
        return text

    def _render_import(self, mi, li: InternalImport, own: dict[str, str], names: dict, canonical) -> str:
        """The text replacing an internal import statement (see ``InternalImport``); at module level the names it
        binds follow the unit's renames."""
        node = li.node
        if li.missing:
            return f"raise ImportError({li.missing!r})"
        rename = own if li.module_level else {}
        kept: list[str] = []
        parts: list[str] = []
        for a, (local, t, text) in zip(node.names, li.entries):
            lhs = rename.get(local, local)
            if text is not None:
                if lhs != local:
                    text = f"{a.name if isinstance(node, ast.ImportFrom) or a.asname else a.name.split('.')[0]} as {lhs}"
                kept.append(text)
            elif isinstance(t, DefTarget):
                new = names.get(self._identity(t, canonical)) or t.name
                if new != lhs:
                    parts.append(f"{lhs} = {new}")  # ``from .utils import helper as h2``: h2 stays local
            elif isinstance(t, ExtTarget) and t.attr is None:
                parts.append(f"import {t.module}" + (f" as {lhs}" if lhs != t.module else ""))
            elif isinstance(t, ExtTarget):
                parts.append(f"from {t.module} import {t.attr}" + (f" as {lhs}" if lhs != t.attr else ""))
        if kept and isinstance(node, ast.Import):
            parts.insert(0, "import " + ", ".join(kept))
        elif kept:
            parts.insert(0, f"from {absolute_module(mi.name, mi.is_package, node.level, node.module)} import " + ", ".join(kept))
        return "; ".join(parts) or "pass"

    @staticmethod
    def _rename_nested_imports(mi, unit: Unit, own: dict[str, str], edits: list) -> list:
        """Rename names bound by imports inside a compound unit (``try: from x import y``):
        the statement is regenerated with ``as <new name>``."""
        for node in unit.module_imports:
            bound = [(a, _bound_name(node, a)) for a in node.names]
            if not any(b in own for _, b in bound):
                continue
            parts = []
            for a, b in bound:
                name = a.name if not (isinstance(node, ast.Import) and b in own and not a.asname) else a.name.split(".")[0]
                parts.append(f"{name} as {own[b]}" if b in own else (f"{a.name} as {a.asname}" if a.asname else a.name))
            if isinstance(node, ast.Import):
                text = "import " + ", ".join(parts)
            else:
                module = absolute_module(mi.name, mi.is_package, node.level, node.module)
                text = f"from {module} import " + ", ".join(parts)
            edits = [e for e in edits if (e[0], e[1]) != (node.lineno, node.col_offset)]
            edits.append((node.lineno, node.col_offset, node.end_lineno, node.end_col_offset, text))
        return edits

    def compile_error(self, parts: list[str], filename: str) -> str:
        """"" when every part compiles, else the first error. Top-level statements compile
        independently, so each distinct part is compiled once for all blocks."""
        for part in parts:
            if part not in self._compiled:
                try:
                    compile(part, filename, "exec", dont_inherit=True)
                    self._compiled[part] = ""
                except (SyntaxError, ValueError) as exc:
                    self._compiled[part] = f"{type(exc).__name__}: {exc}"
            if self._compiled[part]:
                return self._compiled[part]
        return ""


_IMPORT_ERRORS = {"ImportError", "ModuleNotFoundError", "Exception", "BaseException"}


def _guarded_imports(node: ast.AST) -> set[int]:
    """ids of import nodes inside a ``try`` whose handlers catch ImportError: optional deps."""
    guarded = _try_guarded_imports(node)
    # ``if find_spec("apex"): from apex... import X`` / ``else: X = ...``: an import in a branch
    # whose alternative binds the same names is optional too (version or availability switches)
    for t in ast.walk(node):
        if not isinstance(t, ast.If) or not t.orelse:
            continue
        for branch, other in ((t.body, t.orelse), (t.orelse, t.body)):
            alternative = _branch_binds(other)
            for stmt in branch:
                for n in ast.walk(stmt):
                    if isinstance(n, (ast.Import, ast.ImportFrom)) and _import_binds(n) <= alternative:
                        guarded.add(id(n))
    return guarded


def _try_guarded_imports(node: ast.AST) -> set[int]:
    """ids of import nodes inside a ``try`` whose handlers catch ImportError."""
    guarded: set[int] = set()
    for t in ast.walk(node):
        if isinstance(t, ast.Try) and _caught(t) & _IMPORT_ERRORS:
            guarded.update(id(n) for stmt in t.body for n in ast.walk(stmt) if isinstance(n, (ast.Import, ast.ImportFrom)))
    return guarded


def _conditional_imports(node: ast.AST) -> set[int]:
    """ids of import nodes that run only under a condition: in a branch of an ``if`` (``if _AVAILABLE: import x``,
    ``if TYPE_CHECKING:``) or under ``with suppress(ImportError)``. Why: counted as required, such an optional
    package made 289 of torchmetrics' 312 blocks ``missing_deps`` though they import without it."""
    out: set[int] = set()
    for t in ast.walk(node):
        if isinstance(t, ast.If):
            stmts = t.body + t.orelse
        elif isinstance(t, ast.With) and any(isinstance(i.context_expr, ast.Call) and _name_of(i.context_expr.func) == "suppress" for i in t.items):
            stmts = t.body
        else:
            continue
        out.update(id(n) for stmt in stmts for n in ast.walk(stmt) if isinstance(n, (ast.Import, ast.ImportFrom)))
    return out


_MUTATORS = frozenset({"append", "update", "add", "setdefault", "extend", "insert", "__setitem__"})


def _chain_root(expr: ast.AST) -> tuple[ast.Name | None, int]:
    """``util.REGISTRY`` -> (Name ``util``, 1 attribute); (None, 0) for anything but a dotted name."""
    depth = 0
    while isinstance(expr, ast.Attribute):
        expr = expr.value
        depth += 1
    return (expr, depth) if isinstance(expr, ast.Name) else (None, 0)


def _stored_roots(fn: ast.AST) -> set[str]:
    """Names a function stores into in place: ``X[k] = v``, ``X.a = v``, ``X.update(...)`` / ``.append(...)``."""
    out: set[str] = set()
    for n in ast.walk(fn):
        targets = n.targets if isinstance(n, ast.Assign) else [n.target] if isinstance(n, (ast.AugAssign, ast.AnnAssign)) else []
        for t in targets:
            if isinstance(t, (ast.Subscript, ast.Attribute)):
                root, _ = _chain_root(t.value)
                if root is not None:
                    out.add(root.id)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in _MUTATORS:
            root, _ = _chain_root(n.func.value)
            if root is not None:
                out.add(root.id)
    return out


def _constant_key_reads(node: ast.AST) -> dict[tuple[int, int, int], set[str]]:
    """Reads of a dotted name with a constant string key (``REGISTRY["Scaled"]``, ``util.REGISTRY.get("Scaled")``):
    (line, col of the root name, attributes after it) -> keys."""
    out: dict[tuple[int, int, int], set[str]] = {}
    for n in ast.walk(node):
        if isinstance(n, ast.Subscript) and isinstance(n.slice, ast.Constant) and isinstance(n.slice.value, str):
            obj, key = n.value, n.slice.value
        elif (isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in ("get", "__getitem__", "pop")
              and n.args and isinstance(n.args[0], ast.Constant) and isinstance(n.args[0].value, str)):
            obj, key = n.func.value, n.args[0].value
        else:
            continue
        root, depth = _chain_root(obj)
        if root is not None:
            out.setdefault((root.lineno, root.col_offset, depth), set()).add(key)
    return out


def _is_type_checking(stmt: ast.AST) -> bool:
    return isinstance(stmt, ast.If) and _name_of(stmt.test) == "TYPE_CHECKING" and not stmt.orelse


def _type_checking_imports(node: ast.AST) -> set[int]:
    """ids of import nodes under ``if TYPE_CHECKING:`` (``typing.TYPE_CHECKING``), which only type checkers run."""
    out: set[int] = set()
    for t in ast.walk(node):
        if isinstance(t, ast.If) and _name_of(t.test) == "TYPE_CHECKING":
            out.update(id(n) for stmt in t.body for n in ast.walk(stmt) if isinstance(n, (ast.Import, ast.ImportFrom)))
    return out


def _name_of(expr: ast.AST) -> str:
    return expr.id if isinstance(expr, ast.Name) else getattr(expr, "attr", "")


def _caught(t: ast.Try) -> set[str]:
    """Exception names the handlers of a ``try`` catch (a bare ``except:`` catches BaseException)."""
    caught: set[str] = set()
    for h in t.handlers:
        if h.type is None:
            caught.add("BaseException")
        for e in h.type.elts if isinstance(h.type, ast.Tuple) else [h.type] if h.type is not None else []:
            caught.add(_name_of(e))
    return caught


def _bound_name(node: ast.Import | ast.ImportFrom, alias: ast.alias) -> str:
    """The name one alias of an import binds: ``import a.b`` binds ``a``, ``from m import x as y`` binds ``y``."""
    if alias.asname:
        return alias.asname
    return alias.name.split(".")[0] if isinstance(node, ast.Import) else alias.name


def _import_binds(node: ast.Import | ast.ImportFrom) -> set[str]:
    return {_bound_name(node, a) for a in node.names}


def _branch_binds(stmts: list[ast.stmt]) -> set[str]:
    """Names the statements of one branch bind (imports included)."""
    out: set[str] = set()
    for stmt in stmts:
        names, imports = _bound_at_module_level(stmt)
        out.update(names)
        for n in imports:
            out |= _import_binds(n)
    return out


def _apply_edits(lines_b: list[bytes], start: int, end: int, edits: list[tuple[int, int, int, int, str]]) -> str:
    """The text of lines [start, end] with (line, col, end_line, end_col, text) edits applied;
    columns are UTF-8 byte offsets as ``ast`` reports them."""
    chunk = lines_b[start - 1 : end]
    offsets = [0]
    for line in chunk:
        offsets.append(offsets[-1] + len(line))
    data = bytearray(b"".join(chunk))
    applied: list[tuple[int, int]] = []
    for line, col, end_line, end_col, text in sorted(set(edits), key=lambda e: (e[0], e[1]), reverse=True):
        a = offsets[line - start] + col
        b = offsets[end_line - start] + end_col
        if any(a < y and x < b for x, y in applied):
            continue  # overlapping edit (should not happen): keep the first
        data[a:b] = text.encode("utf-8")
        applied.append((a, b))
    return data.decode("utf-8")


def missing_dependencies(external: list[str]) -> list[str]:
    """Top-level external modules not importable here."""
    return [m for m in external if not top_level_installed(m)]


__all__ = ["Assembled", "BlockAssembler", "missing_dependencies", "installed_module_exists"]
