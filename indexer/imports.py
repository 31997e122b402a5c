"""Name resolution through the real import graph of one source.

A global name used in module M resolves to exactly one of:

- ``DefTarget(module, name)``: a module-level definition inside the source, found by
  following M's own definitions, then its imports (relative or absolute, through
  ``__init__`` re-exports and ``from x import *``, respecting ``__all__``) to the module
  that defines it;
- ``ExtTarget(module, attr)``: something imported from outside the source (torch,
  numpy, another installed package), which stays an import statement;
- ``ModTarget(module)``: a module of the source used as a namespace (``utils.helper``);
- ``None``: unresolvable (recorded, never guessed).

Nothing is ever looked up by bare name across unrelated modules.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import importlib.util
import sys
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

from indexer.scope import ImportBinding, ModuleInfo, module_level_classes

BUILTIN_NAMES = frozenset(dir(builtins)) | {"__name__", "__file__", "__doc__", "__spec__", "__package__", "__loader__", "__builtins__", "__path__", "__qualname__", "__module__", "__class__", "__annotations__", "__dict__"}

# The root of every module class: never inlined, always imported.
MODULE_ROOT = ("torch.nn.modules.module", "Module")
ANCHORS = {"torch.nn.modules.module.Module": ("torch.nn", "Module")}


@dataclass(frozen=True, order=True)
class DefTarget:
    module: str
    name: str


@dataclass(frozen=True, order=True)
class ExtTarget:
    module: str
    attr: str | None = None  # None: the module object itself

    @property
    def qualname(self) -> str:
        return f"{self.module}.{self.attr}" if self.attr else self.module


@dataclass(frozen=True, order=True)
class ModTarget:
    module: str


Target = DefTarget | ExtTarget | ModTarget


@lru_cache(maxsize=None)
def top_level_installed(top: str) -> bool:
    try:
        return importlib.util.find_spec(top) is not None
    except (ImportError, ValueError):
        return False


@lru_cache(maxsize=None)
def installed_module_exists(dotted: str) -> bool:
    """Whether an installed module ``a.b.c`` exists, by path, without importing ``a``."""
    parts = dotted.split(".")
    try:
        spec = importlib.util.find_spec(parts[0])
    except (ImportError, ValueError):
        return False
    if spec is None:
        return False
    if len(parts) == 1:
        return True
    for loc in spec.submodule_search_locations or []:
        base = Path(loc).joinpath(*parts[1:])
        if (base / "__init__.py").is_file() or base.with_suffix(".py").is_file() or any(base.parent.glob(base.name + ".*.so")):
            return True
    return False


def _top_spec(parts: list[str]):
    """The import spec of an installed top-level package ``parts[0]`` (None when absent or the name is no identifier
    path), found without importing it."""
    if not all(p.isidentifier() for p in parts):
        return None
    try:
        return importlib.util.find_spec(parts[0])
    except (ImportError, ValueError):
        return None


def installed_module_file(dotted: str) -> tuple[Path, bool] | None:
    """(file, is_package) of an installed pure-Python module, found by path without importing."""
    parts = dotted.split(".")
    spec = _top_spec(parts)
    if spec is None:
        return None
    if len(parts) == 1 and not spec.submodule_search_locations:
        origin = Path(spec.origin or "")
        return (origin, False) if origin.suffix == ".py" else None
    for loc in spec.submodule_search_locations or []:
        base = Path(loc).joinpath(*parts[1:])
        if (base / "__init__.py").is_file():
            return base / "__init__.py", True
        if len(parts) > 1 and base.with_suffix(".py").is_file():
            return base.with_suffix(".py"), False
    return None


class InstalledModules(dict):
    """Installed modules parsed on first use (never imported): lets the miner read the
    class hierarchy of torch, torchvision or any installed package statically."""

    def __init__(self) -> None:
        super().__init__()
        self._missing: set[str] = set()

    def _load(self, name: str) -> bool:
        if dict.__contains__(self, name):
            return True
        if name in self._missing:
            return False
        found = installed_module_file(name)
        if found is not None:
            try:
                dict.__setitem__(self, name, ModuleInfo(name, found[0].read_text(encoding="utf-8", errors="replace"), found[1]))
                return True
            except (SyntaxError, ValueError, RecursionError, OSError):
                pass
        self._missing.add(name)
        return False

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._load(name)

    def __missing__(self, name: str) -> ModuleInfo:
        if self._load(name):
            return dict.__getitem__(self, name)
        raise KeyError(name)

    def get(self, name: str, default=None):  # type: ignore[override]
        return self[name] if name in self else default


_INSTALLED_GRAPH: "ModuleGraph | None" = None


def installed_graph() -> "ModuleGraph":
    global _INSTALLED_GRAPH
    if _INSTALLED_GRAPH is None:
        _INSTALLED_GRAPH = ModuleGraph(InstalledModules(), installed=True, framework=False)
    return _INSTALLED_GRAPH


def _resolve_installed(qualname: str, _depth: int = 0) -> DefTarget | str | None:
    """The definition behind ``pkg.mod.Class`` of an installed package, read statically from its source (through
    re-exports: ``torch.nn.Conv2d`` -> ``torch.nn.modules.conv.Conv2d``); the anchor's own name when it is or
    re-exports ``torch.nn.Module`` or another anchor; None when unknown (not installed, compiled, not a class)."""
    if qualname == "torch.nn.Module" or qualname in ANCHORS:
        return qualname
    if _depth > 8:
        return None
    graph = installed_graph()
    parts = qualname.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        module = ".".join(parts[:cut])
        if module in graph.modules:
            break
    else:
        return None
    target = graph.resolve(module, parts[cut])
    rest = parts[cut + 1 :]
    if isinstance(target, DefTarget):
        return target if not rest else None
    if isinstance(target, ExtTarget):
        q = ".".join([target.qualname] + rest)
        return None if q == qualname else _resolve_installed(q, _depth + 1)
    return None


def _compiled_module(qualname: str) -> bool:
    """Whether some prefix of ``pkg.mod.Class`` is an installed compiled extension module (``torch._C``): its
    classes cannot subclass nn.Module, a Python class. Found by path (``_C.*.so`` beside no ``_C.py`` or
    ``_C/__init__.py``; a bare ``_C/`` directory of stubs loses to the extension, as in Python's import system)."""
    parts = qualname.split(".")
    spec = _top_spec(parts)
    if spec is None:
        return False
    if not spec.submodule_search_locations:
        return Path(spec.origin or "").suffix in (".so", ".pyd")
    for cut in range(len(parts) - 1, 1, -1):
        for loc in spec.submodule_search_locations:
            base = Path(loc).joinpath(*parts[1:cut])
            if (base / "__init__.py").is_file() or base.with_suffix(".py").is_file():
                return False
            if any(base.parent.glob(base.name + ".*.so")) or any(base.parent.glob(base.name + ".*.pyd")):
                return True
    return False


def external_is_module_class(qualname: str) -> bool | None:
    """Whether ``pkg.mod.Class`` of an installed package is an nn.Module, read statically from its source; None when
    unknown (not installed, or not readable as a class). A class of the standard library (``abc.ABC``, frozen in
    CPython) or of a compiled extension module (``torch._C._FunctionBase``) is known not to be one: why: with
    "unknown", ``torch.autograd.Function`` subclasses and ABCs that define ``forward`` were mined as blocks."""
    if qualname.split(".")[0] in sys.stdlib_module_names:
        return False
    target = _resolve_installed(qualname)
    if isinstance(target, str):
        return True
    if target is None:
        return False if _compiled_module(qualname) else None
    return installed_graph().is_module_class(target)


def installed_class(qualname: str) -> DefTarget | None:
    """Where ``pkg.mod.Class`` of an installed package is defined (``torch.nn.Conv2d`` -> ``torch.nn.modules.conv.Conv2d``),
    in ``installed_graph()``; None when unknown or not a definition (nn.Module itself, an anchor)."""
    target = _resolve_installed(qualname)
    return target if isinstance(target, DefTarget) else None


def script_sibling(modules: dict[str, ModuleInfo], importer: str, module: str) -> str | None:
    """The sibling module that ``import module`` means in ``importer`` when it lives in a plain directory (no
    ``__init__.py``) and the source root has no ``module``: what ``python code/train.py`` finds, since Python puts
    the script's directory first on sys.path. None otherwise (a package's absolute imports start at the root)."""
    parent = importer.rpartition(".")[0]
    if not parent or parent in modules or module.split(".")[0] in modules:
        return None
    candidate = f"{parent}.{module}"
    top = f"{parent}.{module.split('.')[0]}"
    return candidate if candidate in modules or top in modules else None


def bind_script_siblings(modules: dict[str, ModuleInfo]) -> None:
    """Rewrite script-style imports of sibling files (``from layers import ConvX`` in ``code/model.py`` beside
    ``code/layers.py``) to the sibling's module name, as relative imports are made absolute. Why: they were read as
    a pip package named ``layers``, so the block kept the import and failed in the sandbox with missing_deps."""
    for name, mi in modules.items():
        for local, binding in list(mi.imports.items()):
            sibling = script_sibling(modules, name, binding.module)
            if sibling is not None:
                full = binding.full and sibling + binding.full[len(binding.module):]
                mi.imports[local] = replace(binding, module=sibling, full=full)
                if full and full != local:
                    mi.import_fulls[local] = [full if f == binding.full else f for f in mi.import_fulls.get(local, [])]
        mi.star_imports = [script_sibling(modules, name, star) or star for star in mi.star_imports]


class ModuleGraph:
    """The modules of one source and resolution of names between them (memoised)."""

    def __init__(self, modules: dict[str, ModuleInfo], installed: bool, framework: bool | None = None):
        self.modules = modules
        self.installed = installed  # the source's package is importable here
        if framework is None:
            framework = any(m == "torch" or m.startswith("torch.") for m in modules)
        self.framework = framework  # torch itself: its non-Module classes keep their identity
        self._resolved: dict[tuple[str, str], Target | None] = {}
        self._module_class: dict[DefTarget, bool | None] = {}
        self._namespaces: set[str] | None = None  # packages without ``__init__.py`` (computed on first use)
        if not installed:
            bind_script_siblings(modules)

    # ---------------------------------------------------------------- resolution

    def resolve(self, module: str, name: str) -> Target | None:
        """What ``name`` means at module level in ``module``."""
        key = (module, name)
        if key not in self._resolved:
            self._resolved[key] = None  # cycle guard
            self._resolved[key] = self._resolve(module, name, exported_only=False, seen=set())
        return self._resolved[key]

    def _resolve(self, module: str, name: str, exported_only: bool, seen: set[tuple[str, str]]) -> Target | None:
        if (module, name) in seen:
            return None
        seen.add((module, name))
        mi = self.modules.get(module)
        if mi is None:
            sub = f"{module}.{name}"
            return self._modtarget(sub) if self.is_namespace(module) and (sub in self.modules or self.is_namespace(sub)) else None
        # a star import below the module's own binding of the name rebinds it, as in Python: ``from .b import Block``
        # then ``from .a import *`` is a's Block
        bound_at = max([mi.units[i].line_start for i in mi.defs.get(name, [])] + [mi.imports[name].line if name in mi.imports else 0])
        hit = self._from_stars(mi, name, seen, below=bound_at) if bound_at else None
        if hit is not None:
            return hit
        if name in mi.defs:
            return self._policy(DefTarget(module, name))
        if name in mi.imports:
            hit = self._binding(mi.imports[name], seen)
            if hit is not None:
                return hit
        hit = self._from_stars(mi, name, seen)
        if hit is not None:
            return hit
        sub = f"{module}.{name}"
        if mi.is_package and sub in self.modules:
            return self._modtarget(sub)
        return None

    def _from_stars(self, mi: ModuleInfo, name: str, seen: set[tuple[str, str]], below: int = 0) -> Target | None:
        """What the last of ``mi``'s star imports of the source's own modules below line ``below`` that exports
        ``name`` binds it to (None when none does)."""
        for star, line in reversed(list(zip(mi.star_imports, mi.star_lines))):
            if line <= below or star not in self.modules:
                continue
            smi = self.modules[star]
            if smi.all_names is not None and name not in smi.all_names:
                continue
            if smi.all_names is None and name.startswith("_"):
                continue
            hit = self._resolve(star, name, True, seen)
            if hit is not None:
                return hit
        return None

    def is_namespace(self, module: str) -> bool:
        """A package of the source without ``__init__.py`` (PEP 420 namespace package): not a module of the graph,
        but the parent of some. Why: ``from pkg import submodule`` there was read as an import of an external ``pkg``."""
        if not module or self.installed or module in self.modules:
            return False  # an installed source's parents are real packages (``torch`` of ``pkg:torch.nn``)
        if self._namespaces is None:
            found: set[str] = set()
            for name in dict.keys(self.modules):
                parts = name.split(".")
                found.update(".".join(parts[:i]) for i in range(1, len(parts)))
            self._namespaces = found
        return module in self._namespaces

    def is_internal(self, module: str) -> bool:
        """A module of the source, or a namespace package of it."""
        return module in self.modules or self.is_namespace(module)

    def _binding(self, b: ImportBinding, seen: set[tuple[str, str]]) -> Target | None:
        if b.attr is None:  # import a.b [as x]
            target = b.module
            if target in self.modules or self.is_namespace(target) or self._inside(target):
                return self._modtarget(target) if target in self.modules or self.is_namespace(target) else None
            return ExtTarget(target, None)
        if self.is_namespace(b.module):
            # ``from pkg import helpers`` where ``pkg`` has no ``__init__.py``: only its submodules can be imported
            sub = f"{b.module}.{b.attr}"
            if sub in self.modules or self.is_namespace(sub):
                return self._modtarget(sub)
            return None
        if b.module in self.modules:
            # the package's own binding wins over a submodule of the same name, as in Python
            # (timm.layers.create_conv2d is the function that __init__ imports, not the module)
            hit = self._resolve(b.module, b.attr, True, seen)
            sub = f"{b.module}.{b.attr}"
            if hit is None and sub in self.modules:
                return self._modtarget(sub)
            return hit
        if self._inside(b.module):
            return None  # an internal module missing from the source
        sub = f"{b.module}.{b.attr}"
        if installed_module_exists(sub):
            return ExtTarget(sub, None)
        return ExtTarget(b.module, b.attr)

    def _inside(self, module: str) -> bool:
        """A module under a package of this source that the source does not have."""
        parts = module.split(".")
        return any(self.is_namespace(".".join(parts[:i])) or (".".join(parts[:i]) in self.modules and self.modules[".".join(parts[:i])].is_package) for i in range(1, len(parts))) and not self.installed

    def _modtarget(self, module: str) -> Target:
        """An internal module used as a namespace: imported when the package is installed."""
        if self.installed:
            return ExtTarget(module, None)
        return ModTarget(module)

    def _policy(self, target: DefTarget) -> Target:
        """Definitions that must keep their identity are imported rather than inlined."""
        qual = f"{target.module}.{target.name}"
        if qual in ANCHORS:
            return ExtTarget(*ANCHORS[qual])
        if self.installed:
            mi = self.modules[target.module]
            units = [mi.units[i] for i in mi.defs[target.name]]
            if any(r.name == "__file__" for u in units for r in mi.refs(u)):
                return ExtTarget(target.module, target.name)  # finds files next to its module: import it
            if any(u.kind == "class" for u in units) and self.is_enum_class(target):
                return ExtTarget(target.module, target.name)  # identity checks (``mode in InterpolationMode``) need the original
        if self.framework and self.installed:
            if any(u.kind == "class" for u in units) and not self.is_module_class(target):
                return ExtTarget(target.module, target.name)  # torch's own Parameter, mixins, enums
        return target

    def resolve_attrs(self, target: Target, attrs: tuple[tuple[str, int, int], ...]) -> tuple[Target | None, int]:
        """Follow ``mod.attr.attr`` through internal module targets. Returns the final
        target and how many attributes were consumed."""
        used = 0
        while isinstance(target, ModTarget) and used < len(attrs):
            target = self.resolve(target.module, attrs[used][0])
            used += 1
        return target, used

    # ---------------------------------------------------------------- class hierarchy

    def class_nodes(self, target: DefTarget) -> list[ast.ClassDef]:
        """The ``class`` statements that bind ``target`` at module level: top-level ones, and those inside a top-level
        ``if`` / ``try`` (``try: from apex... import FusedLayerNorm as LayerNorm`` / ``except ImportError: class
        LayerNorm(nn.Module)``), in source order."""
        mi = self.modules[target.module]
        out: list[ast.ClassDef] = []
        for i in mi.defs.get(target.name, []):
            unit = mi.units[i]
            if unit.kind == "class":
                out.append(unit.node)
            elif unit.kind == "compound":
                out += [n for n in module_level_classes(unit.node) if n.name == target.name]
        return out

    def base_targets(self, target: DefTarget) -> list[tuple[Target | None, str]]:
        """Resolved base classes of a class definition (target, dotted text)."""
        out: list[tuple[Target | None, str]] = []
        for node in self.class_nodes(target):
            for base in node.bases:
                expr = base.value if hasattr(base, "slice") and hasattr(base, "value") else base
                out.append(self._resolve_expr(target.module, expr))
        return out

    def _resolve_expr(self, module: str, expr) -> tuple[Target | None, str]:
        """What a dotted name expression (``nn.Conv2d``, ``Base``) means at module level in
        ``module``, and its text; (None, "") for any other expression."""
        chain: list[str] = []
        while hasattr(expr, "attr") and hasattr(expr, "value"):
            chain.append(expr.attr)
            expr = expr.value
        if not hasattr(expr, "id"):
            return None, ""
        chain.reverse()
        t = self.resolve(module, expr.id)
        attrs = tuple((a, 0, 0) for a in chain)
        t, used = self.resolve_attrs(t, attrs)
        rest = chain[used:]
        if rest and isinstance(t, ExtTarget):
            t = ExtTarget(".".join([t.qualname] + rest[:-1]), rest[-1])
        elif rest:
            t = None
        return t, ".".join([expr.id] + chain)

    def is_module_class(self, target: DefTarget, _seen: frozenset[DefTarget] = frozenset()) -> bool:
        """Whether a class of the source subclasses nn.Module, directly or through
        other classes of the source, across modules."""
        if target in self._module_class:
            return bool(self._module_class[target])
        if target in _seen:
            return False
        if not self.class_nodes(target):
            return False
        mi = self.modules[target.module]
        result = False
        unknown_external = False
        external_stars = [m for m in mi.star_imports if m not in self.modules]
        for t, text in self.base_targets(target):
            if isinstance(t, DefTarget):
                if self.is_module_class(t, _seen | {target}) or self._is_module_alias(t, _seen | {target}):
                    result = True
            elif isinstance(t, ExtTarget) and t.attr:
                known = external_is_module_class(t.qualname)
                if known:
                    result = True
                elif known is None:
                    unknown_external = True
            elif isinstance(t, ExtTarget):
                unknown_external = True
            elif text and external_stars and self.resolve(target.module, text.split(".")[0]) is None:
                # a name that only ``from torch.nn import *`` can bind (``class M(Module)``)
                if any(external_is_module_class(f"{star}.{text}") for star in external_stars):
                    result = True
                else:
                    unknown_external = True
        if not result and unknown_external:
            result = self._defines_forward(target)
        self._module_class[target] = result
        return result

    def _is_module_alias(self, target: DefTarget, seen: frozenset[DefTarget]) -> bool:
        """A base named through ``Base = nn.Module`` (the name's only definition, a plain alias
        of a module class). Bases only: the alias itself is no class to mine."""
        mi = self.modules[target.module]
        units = [mi.units[i] for i in mi.defs.get(target.name, [])]
        if len(units) != 1 or units[0].kind != "assign":
            return False
        node = units[0].node
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
                and isinstance(node.value, (ast.Name, ast.Attribute))):
            return False
        t, _text = self._resolve_expr(target.module, node.value)
        if isinstance(t, DefTarget) and t != target:
            return self.is_module_class(t, seen)
        if isinstance(t, ExtTarget) and t.attr:
            return bool(external_is_module_class(t.qualname))
        return False

    def is_enum_class(self, target: DefTarget, _seen: frozenset[DefTarget] = frozenset()) -> bool:
        """Whether a class of the source subclasses ``enum.Enum`` (directly or through classes
        of the source): its members are compared by identity, so a copy is a different type."""
        if target in _seen:
            return False
        for t, _text in self.base_targets(target):
            if isinstance(t, ExtTarget) and t.module == "enum":
                return True
            if isinstance(t, DefTarget) and self.is_enum_class(t, _seen | {target}):
                return True
        return False

    def _defines_forward(self, target: DefTarget) -> bool:
        return any(getattr(stmt, "name", None) == "forward" for node in self.class_nodes(target) for stmt in node.body)
