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
from dataclasses import dataclass, field

from indexer.imports import BUILTIN_NAMES, DefTarget, ExtTarget, ModTarget, ModuleGraph, installed_graph, installed_module_exists, top_level_installed
from indexer.scope import Ref, Unit, _bound_at_module_level, absolute_module

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
    ext: set[ExtKey] = field(default_factory=set)
    ext_fulls: set[str] = field(default_factory=set)  # ``import a.b.c`` lines
    star: set[str] = field(default_factory=set)  # external ``from x import *`` needed
    nested_external: set[str] = field(default_factory=set)  # top-level modules imported inside compound units
    optional_external: set[str] = field(default_factory=set)  # ... only under try/except ImportError or in function bodies
    unresolved: set[str] = field(default_factory=set)
    edits: list[tuple[int, int, int, int, str]] = field(default_factory=list)  # fixed edits (relative imports)
    # function-local imports of internal definitions or modules: (node, [(local name, inlined
    # definition or None, alias text kept as imported or None)]), rewritten at render time
    local_imports: list[tuple[ast.AST, list[tuple[str, DefTarget | None, str | None]]]] = field(default_factory=list)


@dataclass
class Assembled:
    code: str
    units: list[UnitKey]
    external_imports: list[str]
    unresolved: list[str]
    parts: list[str] = field(default_factory=list)  # header, then one text per unit
    required_external: list[str] = field(default_factory=list)  # external_imports minus those only under try/except ImportError


_IDENT_RE = re.compile(r"[^0-9A-Za-z_]")


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
        self._sigs: dict[UnitKey, int] = {}
        self._sig_ids: dict[tuple, int] = {}
        self._default_text: dict[UnitKey, str] = {}
        self._compiled: dict[str, str] = {}  # text -> "" when it compiles, else the error

    # ---------------------------------------------------------------- linking (per unit, memoised)

    def links(self, key: UnitKey) -> UnitLinks:
        if key not in self._links:
            self._links[key] = self._link(*key)
        return self._links[key]

    def _link(self, module: str, index: int) -> UnitLinks:
        g = self.graph
        mi = g.modules[module]
        unit = mi.units[index]
        out = UnitLinks()
        for ref in mi.refs(unit):
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
                out.links.append(Link(ref, None))
                continue
            if isinstance(target, DefTarget):
                tmi = g.modules[target.module]
                own_name = target.module == module and target.name in unit.names
                for i in tmi.defs[target.name]:
                    if own_name:
                        continue  # its own name (recursion, a redefinition): order is kept by _toposort
                    if (target.module, i) != (module, index):
                        dep = (target.module, i)
                        out.deps[dep] = out.deps.get(dep, False) or ref.load_time
                # ``_ACTS["relu"] = nn.ReLU``, ``_ORDER.append(...)``: mutations join with the name;
                # one mutation of a name is ordered after the others by _toposort, not by this ref
                mutations = tmi.mutations.get(target.name, [])
                for i in mutations:
                    if (target.module, i) != (module, index):
                        dep = (target.module, i)
                        late = own_name or (target.module == module and index in mutations)
                        out.deps[dep] = out.deps.get(dep, False) or (ref.load_time and not late)
                out.links.append(Link(ref, target, consumed))
                continue
            local = ref.name if consumed == 0 else ref.attrs[consumed - 1][0]
            ext_key = (target, local)
            out.ext.add(ext_key)
            if target.attr is None and consumed == 0:
                out.ext_fulls.update(mi.import_fulls.get(ref.name, []))
            out.links.append(Link(ref, ext_key, consumed))
        self._nested_imports(mi, unit, out)
        return out

    def _nested_imports(self, mi, unit: Unit, out: UnitLinks) -> None:
        """Import statements inside units (try/except ImportError, if guards, function
        bodies) stay as the source has them; relative ones are made absolute."""
        if unit.kind == "import":
            return
        nodes = mi.import_nodes(unit)
        if not nodes:
            return
        guarded = _guarded_imports(unit.node)
        enclosing: dict[int, ast.AST] = {}  # import node -> innermost function holding it
        for fn in ast.walk(unit.node):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for n in ast.walk(fn):
                    if isinstance(n, (ast.Import, ast.ImportFrom)):
                        enclosing[id(n)] = fn
        required: set[str] = set()
        for node in nodes:
            tops: set[str] = set()
            if isinstance(node, ast.Import):
                tops = {a.name.split(".")[0] for a in node.names if a.name.split(".")[0] not in self.graph.modules}
            elif isinstance(node, ast.ImportFrom):
                mod = absolute_module(mi.name, mi.is_package, node.level, node.module)
                if mod is None:
                    out.unresolved.add("." * node.level + (node.module or ""))
                    continue
                if mod.split(".")[0] not in self.graph.modules and mod != "__future__":
                    tops = {mod.split(".")[0]}
                if node.level:
                    names = ", ".join(a.name + (f" as {a.asname}" if a.asname else "") for a in node.names)
                    out.edits.append((node.lineno, node.col_offset, node.end_lineno, node.end_col_offset, f"from {mod} import {names}"))
            module_level = any(node is m for m in unit.module_imports)
            if not module_level and id(node) not in guarded and id(node) in enclosing:
                if isinstance(node, ast.ImportFrom) and mod is not None and mod in self.graph.modules:
                    self._local_import(mod, node, out, enclosing[id(node)])
                elif isinstance(node, ast.Import) and any(a.name.split(".")[0] in self.graph.modules for a in node.names):
                    self._local_import(None, node, out, enclosing[id(node)])
            out.nested_external |= tops
            if id(node) not in guarded and module_level:
                required |= tops  # runs when the block is imported (function-local imports run only when called)
        out.optional_external = out.nested_external - required

    def _local_import(self, mod: str | None, node: ast.Import | ast.ImportFrom, out: UnitLinks, fn: ast.AST) -> None:
        """An import of an internal module or definition inside a function (a cycle breaker,
        a lazy import): definitions join the closure and the statement is rewritten at render
        time (dropped, or ``local = <emitted name>``); a module bound by it is inlined when
        every use in the function is ``module.attr`` resolving to a definition (``utils.f``
        -> ``f``), else it stays and is recorded as unresolved (the source's package is not
        importable where the block runs)."""
        g = self.graph
        entries: list[tuple[str, DefTarget | None, str | None]] = []
        changed = False
        for a in node.names:
            if a.name == "*":
                return
            text = a.name + (f" as {a.asname}" if a.asname else "")
            local = _bound_name(node, a)
            if isinstance(node, ast.ImportFrom):
                t = g.resolve(mod, a.name)
            else:
                top = a.name if a.asname else local
                t = g._modtarget(top) if top in g.modules else None
            if isinstance(t, DefTarget):
                for i in g.modules[t.module].defs[t.name]:
                    out.deps.setdefault((t.module, i), False)
                entries.append((local, t, None))
                changed = True
            elif isinstance(t, ModTarget):
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
                entries.append((local, None, text))
        if changed:
            out.local_imports.append((node, entries))

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
        order: list[UnitKey] = []
        seen: set[UnitKey] = set()
        for start in root_units:
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
        # (3) merge identical definitions, then name every identity
        canonical = self._merge_identical(order)
        units = [k for k in order if canonical[k] == k]
        names = self._assign_names(root, units, canonical)
        # (4) order: definition-time deps first, DFS post-order otherwise
        units = self._toposort(units, canonical, {k: i for i, k in enumerate(order)})
        # (5) emit
        return self._emit(units, canonical, names)

    def _signature(self, key: UnitKey) -> int:
        """Id of (text, what every reference resolves to): equal ids mean the same definition."""
        if key not in self._sigs:
            mi = self.graph.modules[key[0]]
            unit = mi.units[key[1]]
            sig = (unit.names, mi.unit_text(unit), tuple((ln.ref.line - unit.line_start, ln.ref.col, ln.consumed, ln.target) for ln in self.links(key).links))
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

    def _assign_names(self, root: DefTarget, units: list[UnitKey], canonical) -> dict:
        g = self.graph
        identities: dict[object, str] = {}
        for key in units:
            for n in g.modules[key[0]].units[key[1]].names:
                identities[DefTarget(key[0], n)] = n
        for key in units:
            for ek in self.links(key).ext:
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
        # mutations of one name (``_ACTS["a"] = ...``, ``_ACTS.update(...)``) keep their source order
        for module in {k[0] for k in units}:
            for idx in self.graph.modules[module].mutations.values():
                same = [(module, i) for i in idx if (module, i) in present]
                for earlier, later in zip(same, same[1:]):
                    hard[later].add(earlier)
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

    def _emit(self, units: list[UnitKey], canonical, names: dict) -> Assembled:
        g = self.graph
        ext: set[ExtKey] = set()
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
            renamed = renamed or any(t is not None and self._identity(t, canonical) in names for _, entries in ul.local_imports for _, t, _ in entries)
        else:
            renamed = False
        if not renamed and key in self._default_text:
            return self._default_text[key]
        edits = list(ul.edits)
        if own:
            edits = self._rename_nested_imports(mi, unit, own, edits)
        for node, entries in ul.local_imports:
            kept = [text for _, t, text in entries if text is not None]
            parts = []
            if kept and isinstance(node, ast.Import):
                parts.append("import " + ", ".join(kept))
            elif kept:
                parts.append(f"from {absolute_module(mi.name, mi.is_package, node.level, node.module)} import " + ", ".join(kept))
            for local, t, _ in entries:
                new = (names.get(self._identity(t, canonical)) or t.name) if t is not None else local
                if new != local:
                    parts.append(f"{local} = {new}")  # ``from .utils import helper as h2``: h2 stays local
            edits = [e for e in edits if (e[0], e[1]) != (node.lineno, node.col_offset)]
            edits.append((node.lineno, node.col_offset, node.end_lineno, node.end_col_offset, "; ".join(parts) or "pass"))
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
    guarded: set[int] = set()
    for t in ast.walk(node):
        if not isinstance(t, ast.Try):
            continue
        caught: set[str] = set()
        for h in t.handlers:
            if h.type is None:
                caught.add("BaseException")
            for e in h.type.elts if isinstance(h.type, ast.Tuple) else [h.type] if h.type is not None else []:
                caught.add(e.id if isinstance(e, ast.Name) else getattr(e, "attr", ""))
        if caught & _IMPORT_ERRORS:
            guarded.update(id(n) for stmt in t.body for n in ast.walk(stmt) if isinstance(n, (ast.Import, ast.ImportFrom)))
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
