"""Mine scope-closed nn.Module blocks from the files of one or more sources.

Every module-level class that subclasses ``nn.Module`` (directly, or through other
classes of the same source across modules) becomes a Block whose code is the class plus
the transitive closure of what it needs, resolved through the source's import graph
(``indexer.imports``) and assembled by ``indexer.closure``. Mined code is parsed and
compiled here, never executed: validation happens in the sandbox.
"""

from __future__ import annotations

import ast
import logging
from dataclasses import dataclass, field, replace

from corpus.records import SourceFile
from indexer.closure import BlockAssembler, missing_dependencies
from indexer.imports import DefTarget, ModuleGraph
from indexer.records import Block
from indexer.scope import ModuleInfo
from indexer.self_module import unqualified_self_references

log = logging.getLogger(__name__)

# Version of what mining makes of the same files (the closure rules, what counts as a block). A store mined by another
# version mines every source again on its next build (``indexer.build``); blocks whose code comes out the same keep
# their verdicts and vectors. Why: a source whose files did not change was carried over as mined, so a closure fix
# never reached an existing store. "" (stores before versions): the closure of session 20. "2": autograd Functions and
# ABCs are no blocks, namespace packages, the package's own guarded imports inlined, imports under a module-level if
# optional, cheap annotation-only definitions and constant-key registry entries carried. "3": a guarded own import
# whose module needs a missing package keeps its fallback; an annotation-only class that needs another package is not
# carried (the default sources mine the same blocks as with "2"). "4": quoted annotations carry their names like lazy
# ones, and ``mod.Cfg`` in a lazy annotation is written ``Cfg``; a relative import above the source's top package is
# unresolved (was a top-level module, a missing package); files nested too deeply or not named in UTF-8 are skipped
# with a reason (of the default sources only ultralytics' YOLO changes: ``-> yolo.depth.DepthValidator``). "5": a
# renamed global is renamed in its ``global`` statements, mutations inside module-level for/if/try statements join the
# block, a class body's load of a name it binds later reads the module's, a module-level ``del`` defines nothing, a
# function-local import of a module the source lacks is unresolved (of
# the default sources only timm's ``ByobNet`` changes: its ``model_cfgs`` gets the ``*_clip_gap`` entries a loop adds).
# "6": a name rebound or mutated below a definition-time read comes after the reader (``W = 50.0`` under
# ``def f(k=W)``), a star import below an import of the same name wins, a module-level call of a function that sets
# module-level names mutates them (of the default sources, 48 of ultralytics' blocks change: ``TORCH_VERSION`` moves
# above ``torch.set_printoptions(...)``, where the source has it). "7": what ``if __name__ == "__main__":`` holds binds
# and mutates nothing (vit-pytorch's ``MockMasker`` is no block; fightingcv's ``gnconv`` no longer carries the HorNet
# its module's main guard builds; 23 ultralytics blocks read ``time`` as ``time``, not ``time_tqdm``); a setter called
# through another of the module's functions, ``D.pop(...)`` with its result used and a tensor's ``mul_`` in a called
# function set names too; an imported name rebound below its reader is kept (it had become a NameError); a module's
# in-place changes of a name it imports (``CFG["k"] = 42`` after ``from .cfg import CFG``) join the blocks reading it;
# the names a function called at definition time reads (a decorator, ``act=get_act()``) count as read then. The last
# five change no block of the default sources. "8": a module that names itself (``d2l = sys.modules[__name__]``) is
# read with ``d2l.name`` as ``name`` (``self_module``): d2l's blocks no longer stop at import; no block of the default
# sources changes.
MINER_VERSION = "8"


@dataclass
class MineReport:
    """What happened besides the blocks: files that did not parse, blocks that did not compile."""

    parse_errors: dict[str, str] = field(default_factory=dict)  # file path -> why it was not mined (parse error, name taken)
    compile_errors: dict[str, str] = field(default_factory=dict)  # qualified name -> error


def _group_by_source(files: list[SourceFile]) -> dict[str, list[SourceFile]]:
    groups: dict[str, list[SourceFile]] = {}
    for f in files:
        groups.setdefault(f.provenance.source, []).append(f)
    return {k: sorted(v, key=lambda f: (f.module, not f.is_package, f.provenance.path)) for k, v in sorted(groups.items())}


def build_graph(files: list[SourceFile], report: MineReport | None = None) -> tuple[ModuleGraph, dict[str, SourceFile]]:
    """Parse the files of ONE source into a module graph (unparsable files are reported and skipped)."""
    modules: dict[str, ModuleInfo] = {}
    by_module: dict[str, SourceFile] = {}
    for f in files:
        if not _utf8(f.provenance.path) or not _utf8(f.module):
            if report is not None:
                report.parse_errors[safe_text(f.provenance.path)] = (
                    f"the file name is not valid UTF-8 ({safe_text(f.provenance.path)}): no module can be named after it; rename the file")
            continue
        taken = by_module.get(f.module)
        if taken is not None:  # foo.py beside foo/__init__.py: Python imports the package, so does the graph
            if report is not None:
                report.parse_errors[f.provenance.path] = f"module {f.module} is already {taken.provenance.path}"
            continue
        try:
            modules[f.module] = ModuleInfo(f.module, unqualified_self_references(f.text), f.is_package)
            by_module[f.module] = f
        except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
            if report is not None:
                report.parse_errors[f.provenance.path] = f"{type(exc).__name__}: {exc}"
    spec = files[0].provenance.source if files else ""
    return ModuleGraph(modules, installed=spec.startswith("pkg:")), by_module


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:  # a lone surrogate: a byte of a file name that is not UTF-8 (``caf\xe9.py``)
        return False


def safe_text(text: str) -> str:
    """``text`` with the undecodable bytes of a file name (surrogate escapes) written as ``\xe9``: SQLite, JSON and
    the tokenizer take only valid Unicode."""
    return text if _utf8(text) else text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _init_signature(graph: ModuleGraph, target: DefTarget, seen: set[DefTarget] | None = None) -> str:
    """``(self, a, b=1)`` of the class's ``__init__``, or of the nearest inlined base that has one."""
    seen = seen or set()
    if target in seen:
        return ""
    seen.add(target)
    for node in graph.class_nodes(target):
        for stmt in node.body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) and stmt.name == "__init__":
                return f"({ast.unparse(stmt.args)})"
    for base, _ in graph.base_targets(target):
        if isinstance(base, DefTarget) and base.module in graph.modules:
            sig = _init_signature(graph, base, seen)
            if sig:
                return sig
    return ""


MAX_COMPANIONS = 12


def _required_init_params(node: ast.AST) -> tuple[set[str], set[str]] | None:
    """(all parameter names, required ones) of a class's own ``__init__``; None without one."""
    for stmt in getattr(node, "body", []):
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) and stmt.name == "__init__":
            a = stmt.args
            positional = a.posonlyargs + a.args
            required = {x.arg for x in positional[1: len(positional) - len(a.defaults)]}
            required |= {x.arg for x, d in zip(a.kwonlyargs, a.kw_defaults) if d is None}
            return {x.arg for x in positional[1:] + a.kwonlyargs}, required
    return None


def config_companions(graph: ModuleGraph, cls: DefTarget) -> list[DefTarget]:
    """Definitions of the class's own module that its builders pass to its constructor.

    A class with required constructor arguments (``SENet(block, layers)``,
    ``EfficientNet(block_args)``) is built in its module by functions whose arguments name
    other definitions there (``block=SEResNetBlock``, ``block_args=decode_arch_def(...)``):
    calls of the class (directly or passed to a builder) and ``dict(...)`` configs whose
    keys are all constructor parameters. Those definitions join the block, so the call-site
    guesses of ``indexer.examples`` can be used."""
    mi = graph.modules[cls.module]
    params = _required_init_params(graph.class_nodes(cls)[-1])
    if params is None or not params[1]:
        return []
    names: set[str] = set()
    for unit in mi.units:
        if unit.kind != "def":
            continue
        for call in (n for n in ast.walk(unit.node) if isinstance(n, ast.Call)):
            callee = call.func.id if isinstance(call.func, ast.Name) else getattr(call.func, "attr", None)
            passes_cls = callee == cls.name or any(isinstance(a, ast.Name) and a.id == cls.name for a in call.args)
            named = [k.arg for k in call.keywords if k.arg is not None]  # ``**kwargs`` entries aside
            is_config = callee == "dict" and bool(named) and all(k in params[0] for k in named)
            if not (passes_cls or is_config):
                continue
            values = [k.value for k in call.keywords] + (list(call.args) if passes_cls else [])
            names |= {n.id for v in values for n in ast.walk(v) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    out: list[DefTarget] = []
    for name in sorted(names - {cls.name}):
        target = graph.resolve(cls.module, name)
        if isinstance(target, DefTarget) and target != cls:
            out.append(target)
    return out[:MAX_COMPANIONS]


def module_classes(graph: ModuleGraph) -> list[tuple[DefTarget, DefTarget]]:
    """(block root, class) for the top-level nn.Module classes of the source, in
    (module, line) order. Module-level aliases of such classes (``SqueezeExcite = SEModule``)
    are blocks too: their code is the class's closure plus the alias line."""
    out: list[tuple[DefTarget, DefTarget]] = []
    for module in sorted(graph.modules):
        mi = graph.modules[module]
        for unit in mi.units:
            if unit.kind in ("class", "compound"):
                names = [unit.node.name] if unit.kind == "class" else unit.names
                for name in names:
                    target = DefTarget(module, name)
                    if mi.defs[name][-1] != unit.index:
                        continue  # redefined later in the module: the last definition wins
                    if graph.resolve(module, name) != target:
                        continue  # kept as an import by policy (torch's own Module)
                    if graph.class_nodes(target) and graph.is_module_class(target):
                        out.append((target, target))
            elif _is_alias(unit.node) and mi.defs[unit.node.targets[0].id] == [unit.index]:
                alias = DefTarget(module, unit.node.targets[0].id)
                value = unit.node.value
                cls = graph.resolve(module, value.id) if isinstance(value, ast.Name) else None
                if isinstance(cls, DefTarget) and cls.name != alias.name and graph.is_module_class(cls):
                    out.append((alias, cls))
    return out


def _is_alias(node: ast.stmt) -> bool:
    return isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name) and isinstance(node.value, ast.Name)


def class_docstring(node: ast.ClassDef) -> str:
    """The class's docstring, else its ``__init__``'s. Why: timm often documents a block in ``__init__`` ("Coordinate
    Attention module" of ``CoordAttn``, EfficientNet, MobileNetV3), and the text search and the embedding read the
    docstring: "coordinate attention" did not find CoordAttn in the top 100."""
    own = ast.get_docstring(node)
    if own:
        return own
    init = next((s for s in node.body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef)) and s.name == "__init__"), None)
    return (ast.get_docstring(init) or "") if init is not None else ""


def mine_source(files: list[SourceFile], report: MineReport | None = None) -> list[Block]:
    """Blocks of the files of one source."""
    graph, by_module = build_graph(files, report)
    assembler = BlockAssembler(graph)
    blocks: list[Block] = []
    # modules read through a file link last: a block found in both is named by its real file (merge_duplicates keeps
    # the first provenance first). Why: ``compat.py -> layers/conv.py`` made compat.py the block's file, whose git
    # blob is the link's text, not the code
    linked = {module for module, f in by_module.items() if f.extra.get("symlink")}
    for target, cls in sorted(module_classes(graph), key=lambda pair: pair[0].module in linked):
        mi = graph.modules[target.module]
        unit = mi.units[mi.defs[target.name][-1]]
        cls_node = graph.class_nodes(cls)[-1]
        qualified = f"{target.module}.{target.name}"
        try:
            assembled = _assemble(graph, assembler, target, cls)
        except RecursionError as exc:  # code nested past what the walkers read: the block is skipped, the rest mined
            if report is not None:
                path = by_module[target.module].provenance.path
                why = f"{target.name}: {type(exc).__name__}: {exc or 'nested too deeply to read'}"
                report.parse_errors[path] = f"{report.parse_errors[path]}; {why}" if path in report.parse_errors else why
            log.debug("block %s not assembled: %s", qualified, exc)
            continue
        error = assembler.compile_error(assembled.parts, qualified)
        if error:
            if report is not None:
                report.compile_errors[qualified] = error
            log.debug("block %s does not compile: %s", qualified, error)
        prov = replace(
            by_module[target.module].provenance,
            line_start=unit.line_start,
            line_end=unit.line_end,
            qualified_name=qualified,
        )
        blocks.append(
            Block(
                name=target.name,
                qualified_name=qualified,
                code=assembled.code,
                provenances=[prov],
                signature=_init_signature(graph, cls),
                docstring=class_docstring(cls_node),
                external_imports=assembled.external_imports,
                missing_deps=missing_dependencies(assembled.required_external),
                unresolved=assembled.unresolved,
            )
        )
    return blocks


def _assemble(graph: ModuleGraph, assembler: BlockAssembler, target: DefTarget, cls: DefTarget):
    """The block of ``target``, with its config companions when they resolve no worse."""
    assembled = assembler.assemble(target)
    companions = config_companions(graph, cls) if target == cls else []
    if companions:
        with_companions = assembler.assemble(target, extra=companions)
        if set(with_companions.unresolved) <= set(assembled.unresolved):
            assembled = with_companions
    return assembled


def mine_files(files: list[SourceFile], report: MineReport | None = None) -> list[Block]:
    """Unvalidated, unhashed, scope-closed blocks of every nn.Module class in ``files``.
    Files are grouped by their source spec: names resolve only within one source."""
    blocks: list[Block] = []
    for _, group in _group_by_source(list(files)).items():
        blocks.extend(mine_source(group, report))
    return blocks
