"""Static guesses of constructor arguments for a mined block, best first.

Nothing here runs block code: the guesses come from reading it. Sources of evidence,
in the order they are tried:

1. the signature itself: defaults kept, required parameters filled from their name
   (``in_chs`` -> 32, ``num_classes`` -> 10, ``act_layer`` -> ``nn.ReLU``), their
   annotation (``int``, ``Tuple[int, int]``, ``Type[nn.Module]``, a config class
   defined in the block) or their default's type;
2. how the class is constructed elsewhere in its own source: direct calls
   ``Block(dim=..., num_heads=...)`` and model configs (``dict(...)`` literals whose
   keys are constructor parameters, e.g. timm's ``model_args = dict(embed_dim=192, ...)``);
   argument expressions are kept when every name they use exists in the block's code;
3. alternatives for the ambiguous guesses (a LayerNorm instead of a BatchNorm2d, other widths).

A parameter the block only reads attributes of (nanoGPT's ``config.n_embd``, also where it is
passed on whole to another class of the block) gets a config: the block's own config dataclass
when one fits, else a ``types.SimpleNamespace`` of values guessed from the attribute names.
Parameters that would load weights (``pretrained``, ``weights="DEFAULT"``) are turned off in
every candidate: the sandbox has no network. LEMUR's ``Net(in_shape, out_shape, prm, device)``
is recognised (``lemur_contract``) so the sandbox builds it with the contract's values.

Whole networks (a ``num_classes`` parameter) get ``num_classes=10`` and their smallest
config first, so validation stays fast. Inputs are left to the sandbox
(``Example.inputs = None`` -> ``sandbox.infer_input``). Parsing uses the stdlib ``ast``
rather than libcst: it is only read here, and ``ast`` is ~20x faster on the default corpus.
"""

from __future__ import annotations

import ast
import builtins
import copy
import functools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from nnrag import pyparse
from corpus.records import SourceFile
from indexer.imports import DefTarget, ExtTarget, installed_class, installed_graph
from indexer.scope import typing_name, module_level_classes, parse_quoted_annotation
from indexer.records import Block
from sandbox.spec import Example

MAX_CANDIDATES = 6
MAX_CALL_SITES = 3
_MISSING = object()

# Name -> value for required parameters, matched on the whole (lower-cased) name first,
# then on its tokens. Channel widths are 32 (divisible by every usual head count and
# group count, small enough to be fast).
WIDTH = 32
_EXACT: dict[str, Any] = {
    "num_classes": 10, "n_classes": 10, "classes": 10, "num_labels": 10, "nclass": 10,
    "kernel_size": 3, "k": 3, "ks": 3, "kernel": 3, "stride": 1, "s": 1, "padding": 1, "dilation": 1,
    "groups": 1, "num_heads": 4, "heads": 4, "n_heads": 4, "nhead": 4, "n_head": 4, "num_attention_heads": 4,
    "head_dim": 8, "dim_head": 8, "key_dim": 8, "window_size": 4, "shift_size": 0, "patch_size": 4,
    "img_size": 32, "image_size": 32, "input_size": 32, "resolution": 32, "input_resolution": [8, 8],
    "feat_size": [8, 8], "grid_size": [8, 8], "spatial_size": [8, 8], "size": 16, "output_size": 4,
    "depth": 2, "num_layers": 2, "n_layers": 2, "num_blocks": 1, "layer_per_block": 2,
    "depths": [1, 1, 1, 1], "layers": [1, 1, 1, 1], "levels": [1, 1, 1, 1, 1, 1],
    "mlp_ratio": 2, "expansion_ratio": 2, "expand_ratio": 2, "exp_ratio": 2, "squeeze_ratio": 0.25, "ratio": 0.25,
    "reduction": 4, "rd_ratio": 0.25, "growth_rate": 8, "bn_size": 2, "radix": 2, "cardinality": 1,
    "seq_len": 16, "max_seq_len": 16, "num_tokens": 16, "num_patches": 16, "max_len": 64, "vocab_size": 100,
    "num_embeddings": 100, "embedding_dim": WIDTH, "num_anchors": 3, "num_keypoints": 4,
    "upscale_factor": 2, "scale_factor": 2, "alpha": 1.0, "threshold": 0.1, "value": 0.0, "bits": 4,
    "degrees": 10.0, "p": 0.0, "norm_type": 2.0, "eps": 1e-5, "momentum": 0.1, "temperature": 1.0,
    "dropout": 0.0, "drop": 0.0, "drop_rate": 0.0, "drop_path": 0.0, "drop_path_rate": 0.0,
    "attention_dropout": 0.0, "attn_drop": 0.0, "proj_drop": 0.0, "stochastic_depth_prob": 0.0,
    "spatial_scale": 1.0, "sampling_ratio": 2, "a": 1, "b": 2, "dim1": 1, "dim0": 2,
    "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5], "crop_size": 32, "resize_size": 32,
    "border_size": 2, "block_size": 2, "focal_window": 3, "focal_level": 2, "temporal_size": 2,
    "is_first": False, "use_se": False, "residual_pool": False, "residual_with_cls_embed": False,
    "rel_pos_embed": False, "bias": True, "in_chans": 3, "num_channels_in": 3,
    "in_channels_list": [WIDTH, WIDTH], "hidden_channels": [WIDTH, WIDTH], "cutoffs": [4, 8],
    "channels_7x7": 16, "stem_size": WIDTH, "mid_chs": WIDTH, "inter_chs": WIDTH, "skip_chs": WIDTH,
}
_SCALAR_ANNOTATIONS = {"int", "float", "bool", "str", "Optional[int]", "Optional[float]", "Optional[str]", "int | None", "float | None"}
_WIDTH_TOKENS = {
    "dim", "chs", "channels", "channel", "planes", "features", "ch", "width", "hidden", "size",
    "inp", "oup", "c1", "c2", "ed", "embed", "d_model", "filters", "nf", "ni", "nc", "units", "out", "in", "mid",
}
# Parameters that take a built module: something small that accepts any tensor.
_MODULE_PARAMS = {"fn", "m", "module", "layer", "body", "inner", "wrapped", "pool", "op", "block_module"}
_MODEL_PARAMS = {"model", "backbone", "base", "net", "network", "base_model", "encoder", "features"}
# Parameters that make a constructor load weights (see ``_Guesser.weights_off``): flags get False,
# weight sources (paths, URLs, torchvision ``weights=`` enum names) None. ``weights`` alone only
# when its default names something to load: a required ``weights`` may be a loss's class weights.
_PRETRAINED_FLAG = re.compile(r"^(use_|load_)?pretrain(ed)?(_backbone|_weights|_model|_encoder)?$|^load_(weights|checkpoint)$")
_WEIGHTS_SOURCE = re.compile(r"^(weights|weights_backbone|backbone_weights|encoder_weights)$|"
                             r"^(pretrained|init)_(path|checkpoint|ckpt|file|url|cfg)$|^(checkpoint|ckpt)(_path|_file|_url)?$|"
                             r"^(weights|model)_(path|file|url)$")
_EITHER_OR = {"scale_factor": 2, "output_ratio": 0.5, "output_size": 4, "size": 16, "feat_size": [16, 16]}
_LAYER_EXPRS = {  # parameter-name token -> torch.nn class, by role
    "act": "ReLU", "activation": "ReLU", "nonlinearity": "ReLU",
    "norm": "BatchNorm2d", "bn": "BatchNorm2d",
    "pool": "MaxPool2d", "conv": "Conv2d",
}


@dataclass
class _ClassInfo:
    node: ast.ClassDef
    params: list[ast.arg] = field(default_factory=list)
    defaults: dict[str, ast.expr] = field(default_factory=dict)
    takes_kwargs: bool = False


@dataclass
class CallSiteIndex:
    """Every call in a source, indexed by callee name, plus every dict config, for all files.

    Built once per source (``constructor_candidates`` caches it by the files list)."""

    # name -> (call, the constants visible where it is made: local assignments over module ones)
    calls: dict[str, list[tuple[ast.Call, dict[str, ast.expr]]]] = field(default_factory=dict)
    dicts: list[tuple[dict[str, ast.expr], dict[str, ast.expr]]] = field(default_factory=list)  # keyword configs
    # Factory graph: bare name -> module-level definitions (module, name) whose body mentions it;
    # (module, name) -> required-argument count; module -> names it imports.
    referrers: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    required_args: dict[tuple[str, str], int] = field(default_factory=dict)
    classes_: set[tuple[str, str]] = field(default_factory=set)
    imported: dict[str, dict[str, str]] = field(default_factory=dict)  # module -> {name: module it comes from}

    @classmethod
    def build(cls, files: list[SourceFile]) -> "CallSiteIndex":
        index = cls()
        for f in files:
            try:
                tree = pyparse.parse(f.text)
            except (SyntaxError, ValueError):
                continue
            _CallCollector(index, _simple_assignments(tree.body)).visit(tree)
            index._add_definitions(f.module, tree, f.is_package)
        return index

    def _add_definitions(self, module: str, tree: ast.Module, is_package: bool = False) -> None:
        package = module if is_package else module.rpartition(".")[0]
        imported: dict[str, str] = {}
        for n in tree.body:
            if isinstance(n, ast.ImportFrom):
                base = package
                for _ in range(max(n.level - 1, 0)):
                    base = base.rpartition(".")[0]
                source = (f"{base}.{n.module}" if n.module else base) if n.level else (n.module or "")
                imported.update({(a.asname or a.name): source for a in n.names})
        self.imported[module] = imported
        for node in tree.body:
            if isinstance(node, ast.FunctionDef):
                required = _required_count(node.args, skip_self=False)
            elif isinstance(node, ast.ClassDef):
                self.classes_.add((module, node.name))
                init = next((n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None)
                required = _required_count(init.args, skip_self=True) if init is not None else 0
            elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                # a registry table (``_block_registry = dict(self_attn=SelfAttnBlock)``): a link, never a factory
                node.name, required = node.targets[0].id, -1  # type: ignore[attr-defined]
            else:
                continue
            key = (module, node.name)
            self.required_args[key] = required
            mentioned = {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and n.id != node.name}
            for name in mentioned:
                self.referrers.setdefault(name, []).append(key)

    def factories(self, module: str, name: str, limit: int = 6, max_depth: int = 5) -> list[str]:
        """Functions (and classes) of the source that can be called without arguments and
        construct ``module.name``, directly or through other definitions: ``"module:function"``,
        nearest and smallest-named first. The sandbox runs them to see real constructor arguments
        (timm's registered model entrypoints, torchvision's builders)."""
        found: dict[tuple[str, str], int] = {}
        seen = {(module, name)}
        frontier = [(module, name)]
        for depth in range(1, max_depth + 1):
            nxt = []
            for mod, target in frontier:
                for caller in self.referrers.get(target, []):
                    cmod, cname = caller
                    source = self.imported.get(cmod, {}).get(target)
                    # the caller's name must be this very definition: same module, or imported
                    # from it (or from a package that re-exports it)
                    if caller in seen or not (cmod == mod or (source and (source == mod or mod.startswith(source + ".")))):
                        continue
                    seen.add(caller)
                    if self.required_args.get(caller, 1) == 0 and not cname.startswith("_"):
                        found.setdefault(caller, depth)
                    nxt.append(caller)
            frontier = nxt[:200]
            if len(found) >= 4 * limit:
                break
        # functions (registered entrypoints, builders) before classes callable without arguments
        ranked = sorted(found, key=lambda k: (k in self.classes_, found[k], k[0] != module, _size_rank(k[1]), len(k[1]), k))
        return [f"{m}:{n}" for m, n in ranked[:limit]]


class _CallCollector(ast.NodeVisitor):
    """Records every call with the constants in scope (so ``GhostNet(cfgs)`` can read the
    ``cfgs = [[...]]`` its builder function defines just above)."""

    def __init__(self, index: CallSiteIndex, module_consts: dict[str, ast.expr]):
        self.index = index
        self.scopes = [module_consts]

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        # a builder's own parameters stand for their defaults (``depth_multiplier=1.0``)
        self.scopes.append({**self.scopes[-1], **_parameter_defaults(node.args), **_simple_assignments(node.body)})
        self.generic_visit(node)
        self.scopes.pop()

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_Call(self, node: ast.Call) -> None:
        name = _callee_name(node.func)
        if name == "dict" and any(k.arg for k in node.keywords):
            self.index.dicts.append(({k.arg: k.value for k in node.keywords if k.arg}, self.scopes[-1]))
        elif name:
            self.index.calls.setdefault(name, []).append((node, self.scopes[-1]))
        self.generic_visit(node)


def _required_count(args: ast.arguments, skip_self: bool) -> int:
    positional = list(args.posonlyargs) + list(args.args)
    if skip_self:
        positional = positional[1:]
    kwonly_required = sum(1 for d in args.kw_defaults if d is None)
    return max(len(positional) - len(args.defaults), 0) + kwonly_required


_SMALL = re.compile(r"(tiny|nano|pico|femto|atto|small|mini|micro|lite|mobile|_t$|_s$|_xs|b0|18$|11$|050|035|_n$|_\d+mf$)", re.I)
_LARGE = re.compile(r"(large|huge|giant|gigantic|big|_l$|_h$|_g$|xl|xxl|_b$|base|101|152|201|161)", re.I)


def _size_rank(name: str) -> int:
    """0 for a name that sounds small (``*_tiny``, ``resnet18``), 2 for a large one: small
    factories build (and abort) faster."""
    return 0 if _SMALL.search(name) else 2 if _LARGE.search(name) else 1


def _parameter_defaults(args: ast.arguments) -> dict[str, ast.expr]:
    positional = args.posonlyargs + args.args
    out = {a.arg: d for a, d in zip(positional[len(positional) - len(args.defaults):], args.defaults)}
    out.update({a.arg: d for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None})
    return out


def _simple_assignments(body: list[ast.stmt]) -> dict[str, ast.expr]:
    out: dict[str, ast.expr] = {}
    for stmt in body:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            out[stmt.targets[0].id] = stmt.value
        elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.value is not None:
            out[stmt.target.id] = stmt.value
    return out


_INDEX_CACHE: dict[int, tuple[list[SourceFile], CallSiteIndex]] = {}


def call_site_index(files: list[SourceFile]) -> CallSiteIndex:
    cached = _INDEX_CACHE.get(id(files))
    if cached is not None and cached[0] is files:
        return cached[1]
    index = CallSiteIndex.build(files)
    _INDEX_CACHE.clear()
    _INDEX_CACHE[id(files)] = (files, index)
    return index


def _aliased_class(tree: ast.Module, name: str, classes: Any, hops: int = 3) -> str:
    """The class ``name`` stands for: itself, or for a module-level alias ``name = Other`` (timm's ``ConvBnAct =
    ConvNormAct``) the class it names, followed up to ``hops`` times. Why: an alias has no class of its own name, so it
    was built with no arguments and failed at instantiate, and ``min_stage`` filters hid the library's own names."""
    for _ in range(hops):
        if name in classes:
            return name
        target = next((node.value.id for node in tree.body if isinstance(node, ast.Assign) and isinstance(node.value, ast.Name)
                       and any(isinstance(t, ast.Name) and t.id == name for t in node.targets)), None)
        if target is None:
            return name
        name = target
    return name


def constructor_candidates(block: Block, files: list[SourceFile], index: CallSiteIndex | None = None,
                           tree: ast.Module | None = None) -> list[Example]:
    """Candidate constructor arguments for ``block.name``, best first, inputs left to the sandbox.

    ``tree`` is the parsed ``block.code`` when the caller already has it (read, never changed here)."""
    if tree is None:
        try:
            tree = pyparse.parse(block.code)
        except SyntaxError:
            return [Example(inputs=None)]
    classes = module_classes_of(tree)
    name = _aliased_class(tree, block.name, classes)
    info = _class_info(name, classes, imports=_import_map(tree))
    if info is None:
        return [Example(inputs=None)]
    scope = _module_scope(tree)
    guesser = _Guesser(name, classes, scope, info)
    index = index if index is not None else call_site_index(files)

    base = guesser.base()
    candidates: list[dict[str, Any]] = []
    sites = guesser.call_sites(index)
    is_network = "num_classes" in {p.arg for p in info.params}
    small = guesser.shrunk()
    if small:
        # a shrunk config first (fewer layers, smaller images): fast, within the parameter budget
        candidates.append({**base, **small})
    required = {p.arg for p in guesser.required()}
    if sites and (is_network or required & set(sites[0])):
        # a config from the source that supplies required values beats a blind guess
        candidates.append({**base, **sites[0]})
    candidates.append(base)
    if not required:
        # the defaults as the source has them: the base's readings of them (a scalar the body
        # indexes taken as a list) can be wrong where the source works as it is
        candidates.append({})
    candidates += [{**base, **s} for s in sites[: MAX_CALL_SITES]]
    candidates += guesser.alternatives(base)
    examples = []
    seen: set[str] = set()
    offline = guesser.weights_off()
    for kwargs in candidates:
        if is_network and "num_classes" in guesser.param_names:
            kwargs = {**kwargs, "num_classes": 10}
        kwargs = {**kwargs, **offline}
        key = json.dumps(kwargs, sort_keys=True, default=str)
        if key in seen:
            continue
        seen.add(key)
        examples.append(Example(init_args=[], init_kwargs=kwargs, inputs=None))
    return examples[:MAX_CANDIDATES]


LEMUR_PARAMS = frozenset({"in_shape", "out_shape", "prm"})


def lemur_contract(block: Block, tree: ast.Module | None = None) -> bool:
    """Whether ``block.name`` is built as LEMUR's ``Net(in_shape, out_shape, prm, device)``.
    Why: the sandbox builds such a class with the contract's values (``sandbox.runner.is_lemur_class``,
    what ``nnrag check`` does); name guesses (``prm=32``, ``device=32``) fail or pass for the wrong reason."""
    if tree is None:
        try:
            tree = pyparse.parse(block.code)
        except SyntaxError:
            return False
    classes = module_classes_of(tree)
    info = _class_info(block.name, classes, imports=_import_map(tree))
    return info is not None and LEMUR_PARAMS <= {p.arg for p in info.params}


# --- reading the class ---------------------------------------------------------------------


def module_classes_of(tree: ast.Module) -> dict[str, ast.ClassDef]:
    """The module-level classes of a block's code by name: top-level ones and those inside a top-level ``if`` / ``try``
    (an ``except ImportError:`` fallback class), the last definition of a name winning as when the module runs."""
    return {node.name: node for stmt in tree.body for node in module_level_classes(stmt)}


def _class_info(name: str, classes: dict[str, ast.ClassDef], depth: int = 0,
                imports: dict[str, str] | None = None) -> _ClassInfo | None:
    """The ``__init__`` parameters of ``name``, following bases defined in the code when the
    class has no ``__init__`` (or only forwards ``*args, **kwargs``), then bases imported from
    an installed package (``class MyConv(nn.Conv2d): pass`` takes Conv2d's parameters, read
    from torch's source). ``imports``: ``_import_map`` of the block's code."""
    node = classes.get(name)
    if node is None or depth > 8:
        return None
    init = next((n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None)
    if init is None and _is_record_class(node):
        return _record_fields(node)
    if init is None or (_only_varargs(init) and node.bases):
        for base in _base_names(node):
            inherited = _class_info(base, classes, depth + 1, imports)
            if inherited is not None:
                inherited.node = node
                return inherited
        for base in node.bases:
            args = _installed_init_args(_dotted(base, imports or {}))
            if args is not None:
                return _info_from_args(node, args)
        if init is None:
            return _ClassInfo(node=node)
    return _info_from_args(node, init.args)


def _info_from_args(node: ast.ClassDef, args: ast.arguments) -> _ClassInfo:
    positional = list(args.posonlyargs) + list(args.args)
    params = positional[1:] + list(args.kwonlyargs)
    defaults: dict[str, ast.expr] = {}
    for arg, default in zip(positional[len(positional) - len(args.defaults):], args.defaults):
        defaults[arg.arg] = default
    for arg, default in zip(args.kwonlyargs, args.kw_defaults):
        if default is not None:
            defaults[arg.arg] = default
    return _ClassInfo(node=node, params=params, defaults=defaults, takes_kwargs=args.kwarg is not None)


def _import_map(tree: ast.Module) -> dict[str, str]:
    """Local name -> dotted path for the block's absolute module-level imports
    (``import torch.nn as nn`` -> ``nn: torch.nn``, ``from timm.layers import Mlp`` -> ``Mlp: timm.layers.Mlp``)."""
    out: dict[str, str] = {}
    for stmt in tree.body:
        if isinstance(stmt, ast.Import):
            for a in stmt.names:
                if a.asname:
                    out[a.asname] = a.name
                else:
                    top = a.name.split(".")[0]
                    out[top] = top
        elif isinstance(stmt, ast.ImportFrom) and not stmt.level and stmt.module:
            for a in stmt.names:
                if a.name != "*":
                    out[a.asname or a.name] = f"{stmt.module}.{a.name}"
    return out


def _dotted(expr: ast.expr, imports: dict[str, str]) -> str | None:
    """The installed dotted path of a base expression (``nn.Conv2d`` -> ``torch.nn.Conv2d``), None if not imported."""
    attrs: list[str] = []
    while isinstance(expr, ast.Attribute):
        attrs.append(expr.attr)
        expr = expr.value
    if not isinstance(expr, ast.Name) or expr.id not in imports:
        return None
    return ".".join([imports[expr.id]] + attrs[::-1])


@functools.lru_cache(maxsize=512)
def _installed_init_args(qualname: str | None, depth: int = 0) -> ast.arguments | None:
    """The ``__init__`` arguments of an installed class, read from its source (never imported),
    through its own bases when it has no ``__init__``; None when unknown. Shared: never changed."""
    if qualname is None or depth > 8:
        return None
    target = installed_class(qualname)
    if target is None:
        return None
    graph = installed_graph()
    mi = graph.modules[target.module]
    nodes = [mi.units[i].node for i in mi.defs.get(target.name, []) if mi.units[i].kind == "class"]
    if not nodes:
        return None
    inits = [n for n in nodes[-1].body if isinstance(n, ast.FunctionDef) and n.name == "__init__"]
    if inits and not _only_varargs(inits[-1]):
        return inits[-1].args  # the last one: the implementation after any ``@overload``
    for base, _text in graph.base_targets(target):
        if isinstance(base, DefTarget):
            found = _installed_init_args(f"{base.module}.{base.name}", depth + 1)
        elif isinstance(base, ExtTarget) and base.attr:
            found = _installed_init_args(base.qualname, depth + 1)
        else:
            continue
        if found is not None:
            return found
    return None


def _is_record_class(node: ast.ClassDef) -> bool:
    """A @dataclass or a NamedTuple: its constructor parameters are its annotated fields."""
    decorators = {ast.unparse(d).split("(")[0].rsplit(".", 1)[-1] for d in node.decorator_list}
    bases = {ast.unparse(b).rsplit(".", 1)[-1] for b in node.bases}
    return "dataclass" in decorators or "NamedTuple" in bases


def _record_fields(node: ast.ClassDef) -> _ClassInfo:
    info = _ClassInfo(node=node)
    for stmt in node.body:
        if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and "ClassVar" not in ast.unparse(stmt.annotation):
            info.params.append(ast.arg(arg=stmt.target.id, annotation=stmt.annotation))
            if stmt.value is not None:
                info.defaults[stmt.target.id] = stmt.value
    return info


def _only_varargs(init: ast.FunctionDef) -> bool:
    a = init.args
    return len(a.args) <= 1 and not a.kwonlyargs and (a.vararg is not None or a.kwarg is not None)


def _base_names(node: ast.ClassDef) -> list[str]:
    return [b.id for b in node.bases if isinstance(b, ast.Name)]


def _bound_names(targets: list[ast.expr]) -> list[str]:
    """Names an assignment rebinds: ``a = ...``, ``a, (b, *c) = ...``; never ``a[0] = ...`` or ``a.x = ...``."""
    out: list[str] = []
    for target in targets:
        if isinstance(target, ast.Starred):
            target = target.value
        if isinstance(target, ast.Name):
            out.append(target.id)
        elif isinstance(target, (ast.Tuple, ast.List)):
            out += _bound_names(target.elts)
    return out


def _callee_name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _module_scope(tree: ast.Module) -> set[str]:
    """Names bound at module level in the block's code (definitions, imports, assignments)."""
    names: set[str] = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    for node in _statements(tree.body):  # imports anywhere, function-local ones too
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                names.add((alias.asname or alias.name).split(".")[0])
    for node in tree.body:
        for target in _assigned(node):
            names.add(target)
    return names


def _statements(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Every statement in ``body`` and the bodies nested in it. Statements sit only in
    statement lists, so expressions (most of a 35 KB block's nodes) are never visited:
    a full ``ast.walk`` of each block cost ~15 CPU-s per cold index."""
    for stmt in body:
        yield stmt
        for attr in ("body", "orelse", "finalbody"):
            nested = getattr(stmt, attr, None)
            if isinstance(nested, list):
                yield from _statements(nested)
        for handler in getattr(stmt, "handlers", ()):
            yield from _statements(handler.body)
        for case in getattr(stmt, "cases", ()):
            yield from _statements(case.body)


def _assigned(node: ast.stmt) -> list[str]:
    if isinstance(node, ast.Assign):
        return [n.id for t in node.targets for n in ast.walk(t) if isinstance(n, ast.Name)]
    if isinstance(node, (ast.AnnAssign, ast.AugAssign)) and isinstance(node.target, ast.Name):
        return [node.target.id]
    if isinstance(node, (ast.If, ast.Try)):
        body = list(node.body) + list(getattr(node, "orelse", [])) + [s for h in getattr(node, "handlers", []) for s in h.body]
        return [n for s in body for n in _assigned(s)] + [
            s.name for s in body if isinstance(s, (ast.FunctionDef, ast.ClassDef))
        ] + [(a.asname or a.name).split(".")[0] for s in body if isinstance(s, (ast.Import, ast.ImportFrom)) for a in s.names]
    return []


# --- guessing values -------------------------------------------------------------------------


class _Guesser:
    def __init__(self, name: str, classes: dict[str, ast.ClassDef], scope: set[str], info: _ClassInfo):
        self.name = name
        self.classes = classes
        self.scope = scope
        self.info = info
        self.param_names = [p.arg for p in info.params]
        self.nn = "nn" if "nn" in scope else ("torch.nn" if "torch" in scope else "__import__('torch').nn")
        self.channels_last = self._mentions_layernorm()
        self.config_defaults: dict[str, Any] = {}  # param -> its config class built with plain defaults

    def _mentions_layernorm(self) -> bool:
        text = ast.dump(self.info.node)
        return "LayerNorm" in text and "BatchNorm" not in text

    def required(self) -> list[ast.arg]:
        return [p for p in self.info.params if p.arg not in self.info.defaults]

    def base(self) -> dict[str, Any]:
        """Required parameters filled; defaults kept, except size knobs made small."""
        kwargs: dict[str, Any] = {}
        for p in self.required():
            kwargs[p.arg] = self.guess(p)
        for name, node in self.info.defaults.items():
            value = _literal(node)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and self._subscripted(name):
                # a scalar default the body indexes (``drop_path[i]``): the source always passes a list
                kwargs[name] = [value] * 8
        kwargs.update(self._layers_needed_but_none())
        heads = self._int_default("num_heads") or self._int_default("heads")
        for key in ("dim", "embed_dim", "hidden_dim", "d_model", "in_features", "hidden_size", "in_dim", "in_chs", "in_channels"):
            if key in kwargs and heads and isinstance(kwargs[key], int) and kwargs[key] % heads:
                kwargs[key] = heads * 8
        return kwargs

    def weights_off(self) -> dict[str, Any]:
        """``pretrained=False`` / ``weights=None`` for parameters that would download weights.
        Why: the sandbox refuses the network, so a backbone wrapper (``resnet18(weights="DEFAULT"
        if pretrained else None)``, ``timm.create_model(name, pretrained=pretrained)``) only
        validates its architecture with the weights off. Set in every candidate, call sites too."""
        out: dict[str, Any] = {}
        for p in self.info.params:
            lower = p.arg.lower()
            default = _literal(self.info.defaults.get(p.arg))
            if _PRETRAINED_FLAG.search(lower):
                out[p.arg] = False if default is _MISSING or isinstance(default, bool) else None
            elif _WEIGHTS_SOURCE.search(lower) and self._names_weights(p.arg, default):
                out[p.arg] = None
        return out

    def _names_weights(self, name: str, default: Any) -> bool:
        """Whether the default of a weights-sounding parameter names weights to load: a path or enum
        name (a str), an expression (``ResNet18_Weights.DEFAULT``); a required one unless it is a plain
        ``weights`` (a loss's class weights)."""
        if name not in self.info.defaults:
            return name.lower() != "weights"
        return isinstance(default, str) or default is _MISSING

    def _layers_needed_but_none(self) -> dict[str, Any]:
        """Layer factories the body calls although nothing supplies them: a parameter that
        defaults to None and is called without a None check (``norm_layer(out_chs)``), and
        keys read from ``**kwargs`` (``block_kwargs.get('norm_layer')``) that the source's
        builders always pass. Filled with the usual layer guess (``nn.BatchNorm2d``, ``nn.ReLU``)."""
        init = next((n for n in self.info.node.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None)
        if init is None:
            return {}
        nodes = list(ast.walk(init))
        called = {n.func.id for n in nodes if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
        checked = {n.id for c in nodes if isinstance(c, (ast.Compare, ast.BoolOp, ast.IfExp, ast.If)) for n in ast.walk(
            c.test if isinstance(c, (ast.IfExp, ast.If)) else c) if isinstance(n, ast.Name)}
        checked |= {n.id for n in nodes if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}  # ``x = get_norm_layer(x)``
        out: dict[str, Any] = {}
        for name, default in self.info.defaults.items():
            if isinstance(default, ast.Constant) and default.value is None and name in called and name not in checked:
                layer = self._layer_for(name.lower())
                if layer is not None:
                    out[name] = layer
        kwarg = init.args.kwarg.arg if init.args.kwarg is not None else None
        if kwarg is not None:
            for n in nodes:
                key = None
                if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in ("get", "pop") and isinstance(n.func.value, ast.Name) and n.func.value.id == kwarg:
                    first = n.args[0] if n.args else None
                    key = first.value if isinstance(first, ast.Constant) and isinstance(first.value, str) else None
                    if len(n.args) > 1 and not (isinstance(n.args[1], ast.Constant) and n.args[1].value is None):
                        key = None  # a real default is given
                if key and key.isidentifier() and key not in self.param_names and key not in out:
                    layer = self._layer_for(key.lower())
                    if layer is not None:
                        out[key] = layer
        return out

    def _int_default(self, name: str) -> int | None:
        node = self.info.defaults.get(name)
        value = _literal(node) if node is not None else None
        return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None

    def guess(self, p: ast.arg) -> Any:
        value = self._guess_scalar(p)
        if not isinstance(value, (list, dict)) and self._subscripted(p.arg):
            # ``drop_path[i]``, ``window_size[0]``: the body indexes it, so it takes a sequence
            return [value] * 4
        annotation = _annotation_text(p.annotation)
        if (re.match(r"(Tuple|tuple)\[", annotation) and isinstance(value, list) and value
                and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)):
            # the annotation says tuple and some code checks (``assert isinstance(size, tuple)``)
            return {"__expr__": repr(tuple(value))}
        return value

    def _indexed_length(self, lower: str) -> int:
        """1 + the largest constant index ``__init__`` reads from the parameter (``makers[3]`` -> 4), 4 if none."""
        init = next((n for n in self.info.node.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None)
        indices = [n.slice.value for n in ast.walk(init) if init is not None and isinstance(n, ast.Subscript)
                   and isinstance(n.value, ast.Name) and n.value.id.lower() == lower
                   and isinstance(n.slice, ast.Constant) and isinstance(n.slice.value, int)] if init is not None else []
        return max(indices) + 1 if indices else 4

    def _subscripted(self, name: str) -> bool:
        return name in self._subscripted_names

    @functools.cached_property
    def _subscripted_names(self) -> set[str]:
        """Names indexed (``name[...]``) in ``__init__``; one walk for all parameters. A name
        that a plain statement of ``__init__`` rebinds first (Swin's ``patch_size =
        to_2tuple(patch_size)``) is not: the later ``patch_size[0]`` indexes the new value."""
        init = next((n for n in self.info.node.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None)
        if init is None:
            return set()
        rebound: dict[str, int] = {}  # name -> last line of its first unconditional rebinding
        for stmt in init.body:
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target] if isinstance(stmt, ast.AnnAssign) and stmt.value else []
            for name in _bound_names(targets):
                rebound.setdefault(name, stmt.end_lineno or stmt.lineno)
        return {n.value.id for n in ast.walk(init) if isinstance(n, ast.Subscript) and isinstance(n.value, ast.Name)
                and n.lineno <= rebound.get(n.value.id, n.lineno)}

    def _guess_scalar(self, p: ast.arg) -> Any:
        name = p.arg
        lower = name.lower()
        annotation = _annotation_text(p.annotation)
        if lower in _MODULE_PARAMS or (re.search(r"\bModule\b", annotation) and lower not in _MODEL_PARAMS and not re.search(r"Type\[|type\[|Callable", annotation)):
            return {"__expr__": f"{self.nn}.Identity()"}
        if lower in ("encoder_layer", "decoder_layer"):
            kind = "Encoder" if lower.startswith("encoder") else "Decoder"
            return {"__expr__": f"{self.nn}.Transformer{kind}Layer({WIDTH}, 4, {WIDTH * 2}, batch_first=True)"}
        if lower in _MODEL_PARAMS:
            return {"__expr__": f"{self.nn}.Sequential({self.nn}.Conv2d(3, {WIDTH}, 3, padding=1), {self.nn}.ReLU())"}
        bag = self._config_bag(name, annotation)
        if bag is not _MISSING:
            return bag
        from_annotation = self._from_annotation(annotation, lower)
        if from_annotation is not _MISSING:
            return from_annotation
        if lower in _EXACT:
            return copy.deepcopy(_EXACT[lower])
        # an annotation that says number/flag/text overrules a layer-sounding name (``norm_type: float``)
        layer = self._layer_for(lower) if annotation not in _SCALAR_ANNOTATIONS else None
        if layer is not None:
            return layer
        if re.search(r"(dims|widths|sizes|chs_list|channels_list)$", lower):
            return [WIDTH, WIDTH * 2]
        if re.search(r"depths$", lower):
            return [1, 1]
        tokens = set(re.split(r"_+", lower)) | {lower}
        if tokens & _WIDTH_TOKENS or re.fullmatch(r"[a-z]*(dim|chs?|channels?|planes|features)\d*", lower):
            return WIDTH
        if "ratio" in tokens:
            return 1.0
        if tokens & {"num", "n"} or lower.startswith(("num", "n_")):
            return 2
        if tokens & {"drop", "dropout", "prob"}:
            return 0.0
        if annotation in ("int",):
            return WIDTH
        if annotation in ("float",):
            return 0.5
        if annotation in ("bool",):
            return False
        return WIDTH

    def _construct(self, cls: str, depth: int = 0, given: dict[str, Any] | None = None) -> Any:
        """``Cls(required=guess, ...)`` for a class defined in the code (config dataclasses,
        an encoder layer passed to its stack), or None when it cannot be guessed. ``given``:
        values for some of its parameters (a config's fields the block reads)."""
        info = _class_info(cls, self.classes)
        if info is None or depth > 2:
            return None
        sub = _Guesser(cls, self.classes, self.scope, info)
        given = given or {}
        args = [f"{p.arg}={_render(sub.guess(p))}" for p in sub.required() if p.arg not in given]
        args += [f"{k}={_render(v)}" for k, v in given.items()]
        return {"__expr__": f"{cls}({', '.join(args)})"}

    # --- config objects read through attributes ----------------------------------------------

    def _config_bag(self, name: str, annotation: str) -> Any:
        """A config object for a parameter the block only reads attributes of (nanoGPT's
        ``config.n_embd``, LLaMA's ``params.dim``), or _MISSING. Why: a name guess (an int) fails
        with "'int' object has no attribute 'n_embd'". Built as the block's own config class when
        one has every field read (``GPTConfig``), else as a ``types.SimpleNamespace``."""
        if annotation and not _class_like(annotation):
            return _MISSING
        if annotation in self.classes and not _is_record_class(self.classes[annotation]):
            return _MISSING  # a module or plain class of the code: ``_from_annotation`` builds it
        init = _init_of(self.info.node, self.classes)
        reads = _config_reads(init, name, self.classes, self.info.node) if init is not None else None
        if not reads or any(_private(path) for path in _paths(reads)):
            return _MISSING  # private attributes (``graph._tracer_cls``): an object of a library, not a config
        values = {attr: _bag_value(attr, sub) for attr, sub in reads.items()}
        config_class = self._config_class(annotation, reads)
        if config_class is not None:
            return self._config_from_class(name, config_class, values)
        return _namespace(values)

    def _config_from_class(self, param: str, cls: str, values: dict[str, Any]) -> Any:
        """``cls(...)`` with the guessed values for the fields read whose defaults are numbers (a
        4096-wide, 32-layer default is slow or over budget; LLaMA's ``vocab_size=-1`` fails), other
        defaults kept (a tuple of block configs). The plain defaults become an alternative. A guess replaces a
        default of its own type only: ``width_mult: float = 1.0`` is a factor, not a width (32 made a 25k-parameter
        net 23.6M)."""
        info = _class_info(cls, self.classes)
        numbers = {k: type(_literal(node)) for k, node in (info.defaults if info else {}).items()
                   if type(_literal(node)) in (int, float)}
        given = {k: v for k, v in values.items() if k in numbers and type(v) is numbers[k]}
        built = self._construct(cls, given=given)
        if given and built is not None:
            self.config_defaults[param] = self._construct(cls)
        return built if built is not None else _MISSING

    def _config_class(self, annotation: str, reads: dict[str, Any]) -> str | None:
        """The block's class to build a config from: the annotated one, else a dataclass or
        NamedTuple of the code whose fields include every attribute read (the fewest fields first)."""
        if annotation in self.classes:
            return annotation
        if any(sub for sub in reads.values()):
            return None  # nested reads (``cfg.model.dim``): a namespace of namespaces
        fits = []
        for cls, node in self.classes.items():
            if cls != self.name and _is_record_class(node):
                fields = {p.arg for p in _record_fields(node).params}
                if set(reads) <= fields:
                    fits.append((len(fields), cls))
        return min(fits)[1] if fits else None

    def _layer_for(self, lower: str) -> Any:
        if lower in ("block", "block_fn", "block_cls", "block_type", "block_constructor", "block_layer"):
            block = self._block_class()
            if block:
                return {"__expr__": block}
        for token, layer in _LAYER_EXPRS.items():
            if lower == token or lower.startswith(token + "_") or lower.endswith("_" + token) or f"_{token}_" in lower:
                if token in ("norm", "bn") and self.channels_last:
                    layer = "LayerNorm"
                if lower.endswith(("layer", "fn", "type", "cls", "_layer")) or lower in _LAYER_EXPRS or "layer" in lower:
                    return {"__expr__": f"{self.nn}.{layer}"}
        return None

    def _block_class(self) -> str | None:
        """A building-block class defined in the code (BasicBlock before Bottleneck)."""
        names = [n for n in self.classes if n != self.name and re.search(r"block|bottleneck|layer|unit|cell", n, re.I)]
        names.sort(key=lambda n: (0 if "basic" in n.lower() else 1 if "block" in n.lower() else 2, n))
        return names[0] if names else None

    def _from_annotation(self, annotation: str, lower: str) -> Any:
        if not annotation:
            return _MISSING
        union = re.fullmatch(r"Union\[(.*)\]", annotation)
        if union:
            members = _split_top_level(union.group(1))
            if members and all(re.match(r"(Tuple|tuple|List|list|Sequence)\[", m) for m in members):
                # ``Union[Tuple[int], Tuple[int, int]]``: any member will do; the last is the most explicit
                return self._from_annotation(members[-1], lower)
        if re.search(r"(Sequence|List|list|Iterable)\[(typing\.)?Callable", annotation):
            # a pipeline of callables (torchvision's Compose): one that passes its input on
            return {"__expr__": f"[{self.nn}.Identity()]"}
        classes_in_code = [n for n in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", annotation) if n in self.classes]
        if classes_in_code and not re.search(r"Module|Callable|Type\b|type\[", annotation):
            built = self._construct(classes_in_code[0])
            if built is not None:
                return built
        if re.search(r"Type\[|type\[|Callable", annotation):
            if classes_in_code:
                if re.match(r"(Sequence|List|list|Tuple|tuple)\[", annotation):
                    # one class per stage (VideoResNet's ``conv_makers``): as many as the body indexes
                    return {"__expr__": f"[{classes_in_code[0]}] * {self._indexed_length(lower)}"}
                return {"__expr__": classes_in_code[0]}
            layer = self._layer_for(lower + "_layer")
            if layer is not None:
                return layer
            if "Module" in annotation and not re.search(r"block|layer|unit|cell|stage", lower):
                # a factory of a module the block does not define (VideoResNet's ``stem``): nn.Identity
                # takes any arguments and passes its input on; never for the building block itself,
                # which would leave the class hollow
                return {"__expr__": f"{self.nn}.Identity"}
            return _MISSING
        if re.search(r"(Tuple|tuple|List|list|Sequence)\[", annotation) and lower in _EXACT and not annotation.startswith(("Union", "Optional", "int")):
            value = _EXACT[lower]
            return value if isinstance(value, list) else [value, value]
        fixed = re.fullmatch(r"(?:Tuple|tuple)\[(int(?:, int)+)\]", annotation)
        if fixed and lower not in _EXACT:
            # a fixed arity (``channels: Tuple[int, int, int, int]``): fields of one config must agree
            n = fixed.group(1).count("int")
            if re.search(r"depth|layer|block|level|stride|dilation", lower):
                return [1] * n
            if re.search(r"patch|window|kernel", lower):
                return [4] * n  # a square patch/window
            if re.search(r"size|resolution|shape", lower):
                return [16] * n
            return [WIDTH * 2 ** min(i, 2) for i in range(n)]
        if re.search(r"(Tuple|tuple|List|list|Sequence)\[int", annotation) and lower not in _EXACT:
            return [1, 1, 1, 1] if re.search(r"depth|layer|block|level", lower) else [WIDTH, WIDTH * 2]
        if annotation.startswith(("list[float]", "List[float]")):
            return [0.5, 0.5, 0.5]
        if re.fullmatch(r"(Dict|dict|Mapping)\[str, *str\]", annotation) and set(self.param_names) & _MODEL_PARAMS:
            # layer names to pick out of the model argument (torchvision's ``return_layers``): the
            # children of the model guess, ``nn.Sequential(conv, act)`` -> "0" and "1", both WIDTH wide
            return {"0": "0", "1": "1"}
        if annotation == "torch.dtype":
            return {"__expr__": "__import__('torch').float32"}
        return _MISSING

    def shrunk(self) -> dict[str, Any]:
        """Smaller values for a network's size knobs that have defaults: one block per stage,
        at most two layers, 64x64 images."""
        out: dict[str, Any] = {}
        for name, node in self.info.defaults.items():
            value = _literal(node)
            lower = name.lower()
            if value is _MISSING:
                continue
            if lower in ("aux_logits", "transform_input", "init_weights"):
                if value is True:
                    out[name] = False
                continue
            if isinstance(value, bool):
                continue
            if re.fullmatch(r"(depths|layers|num_blocks|blocks|stage_blocks|block_counts|num_layers_per_stage)", lower):
                if isinstance(value, list) and value and all(isinstance(v, int) for v in value):
                    out[name] = [min(v, 1) for v in value]
            elif re.fullmatch(r"depth|n_layers|num_\w*layers", lower) and isinstance(value, int) and value > 2:
                out[name] = 2
            elif lower in ("img_size", "image_size") and isinstance(value, int) and value > 64:
                out[name] = 64
            elif lower in ("img_size", "image_size") and isinstance(value, list) and len(value) == 2:
                out[name] = [64, 64]
        return out

    def alternatives(self, base: dict[str, Any]) -> list[dict[str, Any]]:
        """Other readings of the ambiguous guesses: the other norm family, wider channels."""
        out: list[dict[str, Any]] = []
        swap = {"BatchNorm2d": "LayerNorm", "LayerNorm": "BatchNorm2d"}
        swapped = {}
        for key, value in base.items():
            if isinstance(value, dict) and "__expr__" in value:
                layer = value["__expr__"].rsplit(".", 1)[-1]
                if layer in swap:
                    swapped[key] = {"__expr__": value["__expr__"][: -len(layer)] + swap[layer]}
        if swapped:
            out.append({**base, **swapped})
        unset = {}
        for name, node in self.info.defaults.items():
            if isinstance(node, ast.Constant) and node.value is None and name.lower() in _EITHER_OR:
                unset[name] = _EITHER_OR[name.lower()]
        if unset:
            # "either size or scale_factor should be defined": set the first one the class has
            first = next(iter(unset))
            out.append({**base, first: unset[first]})
        if self.info.takes_kwargs and "Conv" in ast.unparse(self.info.node) and "kernel_size" not in self.param_names:
            out.append({**base, "kernel_size": 3})
        if self.config_defaults:
            out.append({**base, **self.config_defaults})
        wider = {k: 64 for k, v in base.items() if v == WIDTH and not isinstance(v, bool)}
        if wider:
            out.append({**base, **wider})
        return out

    # --- call sites and configs ---------------------------------------------------------

    def call_sites(self, index: CallSiteIndex) -> list[dict[str, Any]]:
        """Keyword arguments from calls to this class and from ``dict`` configs, smallest first."""
        found: list[dict[str, Any]] = []
        for call, consts in index.calls.get(self.name, []):
            kwargs = self._bind(call, consts)
            if kwargs:
                found.append(kwargs)
        params = set(self.param_names)
        required = {p.arg for p in self.required()}
        for config, consts in index.dicts:
            keys = set(config)
            if len(keys) >= 2 and keys <= params and (required & keys or not required) and len(keys & required) >= min(1, len(required)):
                kwargs = {}
                for key, node in config.items():
                    value = self._value(node, key, consts)
                    if value is not _MISSING:
                        kwargs[key] = value
                if len(kwargs) >= 2 or (required & set(kwargs)):
                    found.append(kwargs)
        unique: dict[str, dict[str, Any]] = {}
        for kwargs in found:
            unique.setdefault(json.dumps(kwargs, sort_keys=True, default=str), kwargs)
        # Configs that supply every required parameter first, then the smallest.
        return sorted(unique.values(), key=lambda kw: (len(required - set(kw)), _size_of(kw)))[: MAX_CALL_SITES + 1]

    def _bind(self, call: ast.Call, consts: dict[str, ast.expr]) -> dict[str, Any]:
        if any(isinstance(a, ast.Starred) for a in call.args) or len(call.args) > len(self.param_names):
            return {}
        kwargs: dict[str, Any] = {}
        for name, node in zip(self.param_names, call.args):
            value = self._value(node, name, consts)
            if value is not _MISSING:
                kwargs[name] = value
        for kw in call.keywords:
            if kw.arg is None or kw.arg not in self.param_names:
                continue
            value = self._value(kw.value, kw.arg, consts)
            if value is not _MISSING:
                kwargs[kw.arg] = value
        return kwargs

    def _value(self, node: ast.expr, param: str, consts: dict[str, ast.expr] | None = None, depth: int = 0) -> Any:
        """A JSON value (literal), an ``__expr__`` over names the block defines, or _MISSING
        for expressions over a caller's local variables (the base guess is used instead).
        Names bound to constants where the call is made are followed (``cfgs``), and
        ``table[variant]`` over a constant dict takes its smallest entry."""
        value = _literal(node)
        if value is not _MISSING:
            return value
        consts = consts or {}
        if depth < 3 and isinstance(node, ast.Name) and node.id in consts and node.id not in self.scope:
            return self._value(consts[node.id], param, consts, depth + 1)
        if (depth < 3 and isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name)
                and node.value.id in consts and _literal(node.slice) is _MISSING):
            table = consts[node.value.id]
            if isinstance(table, ast.Dict):
                options = [self._value(v, param, consts, depth + 1) for v in table.values]
                options = [o for o in options if o is not _MISSING]
                if options:
                    return min(options, key=lambda o: _size_of({"v": o}))
        if depth < 3 and any(isinstance(n, ast.Name) and n.id in consts and n.id not in self.scope for n in ast.walk(node)):
            # ``decode_arch_def(arch_def)`` with ``arch_def = [...]`` a constant of the builder: inline it
            node = _InlineConsts({k: v for k, v in consts.items() if k not in self.scope}).visit(copy.deepcopy(node))
            depth = 3
        free = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
        if free and all(n in self.scope or hasattr(builtins, n) for n in free) and not _has_lambda(node):
            return {"__expr__": ast.unparse(node)}
        return _MISSING


# Values for a config's attributes by name, first match wins; then ``_EXACT``, then widths.
# Sizes are WIDTH (32) with 4 heads of 8, so ``n_embd % n_head == 0``; sequence limits exceed
# the 16 tokens the sandbox feeds; token ids (< 10) fit the vocabulary.
_BAG_RULES: list[tuple[re.Pattern[str], Any]] = [(re.compile(p), v) for p, v in [
    (r"^(block_size|max_seq_len|max_seq_length|seq_length|max_position_embeddings|n_positions|n_ctx|context_length|max_len|max_length)$", 64),
    (r"^(vocab_size|n_vocab|vocab)$", 100),
    (r"heads?$|^nhead$", 4),
    (r"(^|_)(eps|epsilon)$", 1e-5),
    (r"drop", 0.0),
    (r"bias$", True),
    (r"^(head_dim|dim_head|head_size|d_head|kv_channels)$", 8),
    (r"multiple_of", 8),
    (r"multiplier$", 1.0),
    (r"theta$", 10000.0),
    (r"initializer_range|init_std", 0.02),
    (r"experts_per_tok|top_?k$", 2),
    (r"experts$", 4),
    (r"token_id$|_idx$", 0),
    (r"^(use|is|tie|enable|add)_|flash|causal", False),
    (r"^(n_?layers?|num_\w*layers|n_blocks|num_blocks|depth)$", 2),
    (r"intermediate|ffn|ff_dim|d_ff|n_inner|mlp_dim|dim_feedforward", 2 * WIDTH),
]]
_BAG_WIDTH = re.compile(r"dim|embd|embed|hidden|width|d_model|channels|features|n_state|size$")
_INDEXED = "[]"  # key of an attribute tree: the attribute is indexed (``cfg.depths[i]``)


def _bag_value(attr: str, sub: dict[str, Any]) -> Any:
    """A value for ``config.<attr>``; ``sub`` is what the block reads from it in turn."""
    if _INDEXED in sub:
        return [_bag_value(attr, {k: v for k, v in sub.items() if k != _INDEXED})] * 4
    if sub:
        return _namespace({a: _bag_value(a, s) for a, s in sub.items()})
    lower = attr.lower()
    value = next((v for pattern, v in _BAG_RULES if pattern.search(lower)), _MISSING)
    if value is _MISSING and lower in _EXACT:
        value = copy.deepcopy(_EXACT[lower])
    if value is _MISSING:  # a size unless the name counts something (``n_experts``)
        value = 2 if lower.startswith(("n_", "num_")) and not _BAG_WIDTH.search(lower) else WIDTH
    return value


def _namespace(values: dict[str, Any]) -> dict[str, str]:
    """An attribute bag as an ``__expr__`` (no import needed in the block's namespace)."""
    fields = ", ".join(f"{k}={_render(v)}" for k, v in values.items())
    return {"__expr__": f"__import__('types').SimpleNamespace({fields})"}


def _annotation_text(node: ast.expr | None) -> str:
    """An annotation as code, its quoted parts read as ``typing`` reads them: ``"ModelCfg"`` -> ``ModelCfg``,
    ``Optional["Cfg"]`` -> ``Optional[Cfg]`` (``Literal`` values and ``Annotated`` metadata stay strings). Why: a
    quoted config class read as the text ``'ModelCfg'``, and the guesser passed an int for it."""
    return ast.unparse(_Unquote().visit(copy.deepcopy(node))) if node is not None else ""


class _Unquote(ast.NodeTransformer):
    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        expr = parse_quoted_annotation(node)
        return self.visit(expr) if expr is not None else node

    def visit_Subscript(self, node: ast.Subscript) -> ast.AST:
        kind = typing_name(node.value)
        if kind == "Literal":
            return node
        if kind == "Annotated" and isinstance(node.slice, ast.Tuple) and node.slice.elts:
            node.slice.elts[0] = self.visit(node.slice.elts[0])
            return node
        return self.generic_visit(node)


def _class_like(annotation: str) -> bool:
    """An annotation naming a class (``GPTConfig``, ``cfg.ModelArgs``), not a scalar, container or module."""
    return (re.fullmatch(r"[A-Za-z_][\w.]*", annotation) is not None and annotation not in _SCALAR_ANNOTATIONS
            and not re.search(r"Module|Tensor|Callable|dict|Dict|list|List|tuple|Tuple|Any", annotation))


def _init_of(node: ast.ClassDef, classes: dict[str, ast.ClassDef], depth: int = 0) -> ast.FunctionDef | None:
    """The ``__init__`` a class runs: its own, else the first one among its bases in the code."""
    init = next((n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None)
    if init is not None or depth > 8:
        return init
    for base in _base_names(node):
        if base in classes:
            found = _init_of(classes[base], classes, depth + 1)
            if found is not None:
                return found
    return None


def _config_reads(fn: ast.FunctionDef, param: str, classes: dict[str, ast.ClassDef],
                  owner: ast.ClassDef | None = None, depth: int = 0) -> dict[str, Any] | None:
    """The attributes read from ``param`` in ``fn`` as a tree (``{"n_embd": {}, "model": {"dim": {}}}``),
    following it where it is passed whole to a class of the block (``Block(config)`` ->
    ``CausalSelfAttention(config)``) and where ``owner`` keeps it (``self.config = config``).
    None when it is used any other way (called, indexed, passed to code not in the block,
    rebound): then it is not an attribute bag."""
    if depth > 4:
        return None
    parents = _parents(fn)
    tree: dict[str, Any] = {}
    kept: list[str] = []
    for node in ast.walk(fn):
        if not (isinstance(node, ast.Name) and node.id == param):
            continue
        parent = parents.get(node)
        if not isinstance(node.ctx, ast.Load):
            return None
        if isinstance(parent, ast.Attribute):
            path = _attribute_path(node, parents)
            if path is None:
                return None
            _merge(tree, path)
        elif (isinstance(parent, ast.Call) and parent.func is not node) or isinstance(parent, ast.keyword):
            call = parents.get(parent) if isinstance(parent, ast.keyword) else parent
            passed = _passed_reads(call, node, classes, depth) if isinstance(call, ast.Call) else None
            if passed is None:
                return None
            _merge_trees(tree, passed)
        elif (isinstance(parent, ast.Assign) and len(parent.targets) == 1 and isinstance(parent.targets[0], ast.Attribute)
              and isinstance(parent.targets[0].value, ast.Name) and parent.targets[0].value.id == "self"):
            kept.append(parent.targets[0].attr)
        elif not isinstance(parent, (ast.Compare, ast.BoolOp, ast.UnaryOp, ast.If, ast.IfExp, ast.Assert)):
            return None
    if owner is not None and kept:
        owner_parents = _parents(owner)
        for node in ast.walk(owner):  # ``self.config.n_embd`` anywhere in the class
            if (isinstance(node, ast.Attribute) and node.attr in kept and isinstance(node.value, ast.Name)
                    and node.value.id == "self" and isinstance(owner_parents.get(node), ast.Attribute)):
                path = _attribute_path(node, owner_parents)
                if path:
                    _merge(tree, path)
    return tree


def _parents(node: ast.AST) -> dict[ast.AST, ast.AST]:
    """Child -> parent for every node under ``node``."""
    return {child: parent for parent in ast.walk(node) for child in ast.iter_child_nodes(parent)}


def _attribute_path(node: ast.expr, parents: dict[ast.AST, ast.AST]) -> list[str] | None:
    """``config.a.b`` from its ``config`` Name: ["a", "b"] (+ ``_INDEXED`` when indexed); None for a
    method call (``config.get(...)``), which an attribute bag cannot answer."""
    path: list[str] = []
    while isinstance(parents.get(node), ast.Attribute) and parents[node].value is node:  # type: ignore[attr-defined]
        node = parents[node]
        path.append(node.attr)  # type: ignore[attr-defined]
    outer = parents.get(node)
    if isinstance(outer, ast.Call) and outer.func is node:
        return None
    if isinstance(outer, ast.Subscript) and outer.value is node:
        path.append(_INDEXED)
    return path


def _passed_reads(call: ast.Call, node: ast.Name, classes: dict[str, ast.ClassDef], depth: int) -> dict[str, Any] | None:
    """What the callee reads from an argument passed whole: ``getattr(cfg, "x")`` reads x (with a
    default: nothing needed), a class of the block reads what its ``__init__`` does; None otherwise."""
    callee = call.func.id if isinstance(call.func, ast.Name) else None
    if callee in ("hasattr", "isinstance", "print", "repr", "str"):
        return {}
    if callee == "getattr" and call.args[:1] == [node] and len(call.args) >= 2:
        key = call.args[1]
        if not (isinstance(key, ast.Constant) and isinstance(key.value, str)):
            return None
        return {} if len(call.args) > 2 else {key.value: {}}
    if callee not in classes:
        return None
    init = _init_of(classes[callee], classes)
    if init is None:
        return None
    params = [a.arg for a in list(init.args.posonlyargs) + list(init.args.args)][1:]
    if node in call.args:
        position = call.args.index(node)
        target = params[position] if position < len(params) and not any(isinstance(a, ast.Starred) for a in call.args) else None
    else:
        target = next(k.arg for k in call.keywords if k.value is node)
    if target is None:
        return None
    return _config_reads(init, target, classes, classes[callee], depth + 1)


def _paths(tree: dict[str, Any]) -> Iterator[list[str]]:
    """Every attribute path of a tree of reads."""
    for key, sub in tree.items():
        yield [key]
        for rest in _paths(sub):
            yield [key, *rest]


def _private(path: list[str]) -> bool:
    return any(key.startswith("_") for key in path if key != _INDEXED)


def _merge(tree: dict[str, Any], path: list[str]) -> None:
    for key in path:
        tree = tree.setdefault(key, {})


def _merge_trees(tree: dict[str, Any], other: dict[str, Any]) -> None:
    for key, sub in other.items():
        _merge_trees(tree.setdefault(key, {}), sub)


class _InlineConsts(ast.NodeTransformer):
    """Replaces names bound to constants at the call site by their values (one level)."""

    def __init__(self, consts: dict[str, ast.expr]):
        self.consts = consts

    def visit_Name(self, node: ast.Name) -> ast.expr:
        value = self.consts.get(node.id)
        if isinstance(node.ctx, ast.Load) and value is not None and _literal(value) is not _MISSING:
            return copy.deepcopy(value)
        return node


def _split_top_level(text: str) -> list[str]:
    """``"Tuple[int], Tuple[int, int]"`` -> its comma-separated members at bracket depth 0."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += ch == "["
        depth -= ch == "]"
        if ch == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    parts.append(text[start:].strip())
    return [p for p in parts if p]


def _render(value: Any) -> str:
    """Python source for a guessed value (``__expr__`` values inline)."""
    if isinstance(value, dict) and set(value) == {"__expr__"}:
        return value["__expr__"]
    if isinstance(value, list):
        return "[" + ", ".join(_render(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {_render(v)}" for k, v in value.items()) + "}"
    return repr(value)


def _literal(node: ast.expr | None) -> Any:
    if node is None:
        return _MISSING
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return _MISSING
    return _jsonable(value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, (tuple, list)):
        items = [_jsonable(v) for v in value]
        return _MISSING if any(v is _MISSING for v in items) else items
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            return _MISSING
        items = {k: _jsonable(v) for k, v in value.items()}
        return _MISSING if any(v is _MISSING for v in items.values()) else items
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return _MISSING


def _has_lambda(node: ast.expr) -> bool:
    return any(isinstance(n, (ast.Lambda, ast.NamedExpr)) for n in ast.walk(node))


def _size_of(kwargs: dict[str, Any]) -> float:
    """How big a config looks: the product-ish of its numbers (small configs validate fast)."""
    total = 0.0
    for value in kwargs.values():
        numbers = [v for v in _flat(value) if isinstance(v, (int, float)) and not isinstance(v, bool)]
        total += sum(abs(n) for n in numbers)
    return total


def _flat(value: Any) -> list[Any]:
    if isinstance(value, list):
        return [x for v in value for x in _flat(v)]
    if isinstance(value, dict) and set(value) == {"__expr__"}:
        return [float(n) for n in re.findall(r"(?<![\w.])\d+(?:\.\d+)?", value["__expr__"])]
    if isinstance(value, dict):
        return [x for v in value.values() for x in _flat(v)]
    return [value]
