"""Where a free name can come from: a standard import, or blocks in the store, ranked.

Order of evidence: a well-known alias (``F`` -> ``import torch.nn.functional as F``; a ``torch.nn`` class only
when its signature takes the calls made); then the store by exact name, by normalised name, other spellings
(``ChannelAttn``), common aliases (SE / SqueezeExcite / SqueezeExcitation / SEModule, ...) and initials (``GRN``),
a top-level helper defined inside a stored block (``drop_path``, ``make_divisible``), and a semantic search with
the usage context when few names matched or none can be called as written. Candidates are ranked by
compatibility with the call sites (construction: positional count, keyword names, required arguments; how the
instances are called and their results used, against ``forward``'s arguments and returns; attributes read), by validation, by how much they share identifiers
with the user's code, and across the missing names by module coherence (``rank_by_coherence``).
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.util
import inspect
import re
import threading
from dataclasses import dataclass, field, replace
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any, Callable

import libcst as cst
from cachetools import LRUCache, cached

from indexer.store import INSTALLED_WEIGHT, LEVEL_WEIGHTS, stage_index
from nnrag import pyparse
from rag_server.codeops import (
    ACTIVATION_LAYER_PARAMETERS,
    LAYOUT_PARAMETERS,
    KeywordEdits,
    drop_missing_imports,
    extract_definition,
    import_lines,
    prepend_to_init,
    rewrite_torch_nn_attributes,
    set_parameter_defaults,
    torch_nn_note,
)
from rag_server.call_layout import CHANNELS_FIRST, CHANNELS_LAST, INTEGER_DTYPES, TOKEN_IDS, TOKENS, fed_layout
from rag_server.scope import CallSite, InstanceCall, NameUsage
from rag_server.stated_layers import StatedLayer, lacking_layers, name_words, split_words

# name -> import statement, for names LLMs use without importing
STANDARD_IMPORTS: dict[str, str] = {
    "torch": "import torch",
    "nn": "import torch.nn as nn",
    "F": "import torch.nn.functional as F",
    "optim": "import torch.optim as optim",
    "init": "from torch.nn import init",
    "Tensor": "from torch import Tensor",
    "Parameter": "from torch.nn import Parameter",
    "checkpoint": "from torch.utils.checkpoint import checkpoint",
    "torchvision": "import torchvision",
    "np": "import numpy as np",
    "numpy": "import numpy",
    "math": "import math",
    "partial": "from functools import partial",
    "reduce": "from functools import reduce",
    "wraps": "from functools import wraps",
    "lru_cache": "from functools import lru_cache",
    "OrderedDict": "from collections import OrderedDict",
    "defaultdict": "from collections import defaultdict",
    "namedtuple": "from collections import namedtuple",
    "deque": "from collections import deque",
    "Counter": "from collections import Counter",
    "abc": "import collections.abc as abc",
    "chain": "from itertools import chain",
    "product": "from itertools import product",
    "accumulate": "from itertools import accumulate",
    "islice": "from itertools import islice",
    "repeat": "from itertools import repeat",
    "dataclass": "from dataclasses import dataclass",
    "Enum": "from enum import Enum",
    "trunc_normal_": "from torch.nn.init import trunc_normal_",
    # torch names older code and tutorials use unimported: ``Variable(x)`` (a no-op wrapper since torch 0.4), custom
    # autograd functions, data loading, schedulers, weight reparametrizations
    "Variable": "from torch.autograd import Variable",
    "Function": "from torch.autograd import Function",
    "autograd": "from torch import autograd",
    "DataLoader": "from torch.utils.data import DataLoader",
    "Dataset": "from torch.utils.data import Dataset",
    "TensorDataset": "from torch.utils.data import TensorDataset",
    "lr_scheduler": "from torch.optim import lr_scheduler",
    "weight_norm": "from torch.nn.utils import weight_norm",
    "spectral_norm": "from torch.nn.utils import spectral_norm",
    "clip_grad_norm_": "from torch.nn.utils import clip_grad_norm_",
}
TYPING_NAMES = {
    "Any", "Callable", "Dict", "List", "Optional", "Tuple", "Type", "Union", "Sequence", "Iterable", "Iterator",
    "Mapping", "Set", "FrozenSet", "Literal", "Final", "ClassVar", "cast", "TypeVar", "Generic", "NamedTuple",
    "Protocol", "overload", "MutableMapping", "DefaultDict",
}
EINOPS_IMPORTS = {
    "rearrange": "from einops import rearrange",
    "einops_repeat": "from einops import repeat",
    "Rearrange": "from einops.layers.torch import Rearrange",
    "Reduce": "from einops.layers.torch import Reduce",
}
# names whose standard import is only a fallback: the store (timm's own code) comes first
STORE_FIRST = {"trunc_normal_"}
# modules usable as ``name.attr`` when the name alone is free
ATTRIBUTE_MODULES = {
    "os", "sys", "copy", "random", "time", "warnings", "functools", "itertools", "collections", "typing",
    "numbers", "re", "inspect", "enum", "operator", "logging", "json", "string", "math", "dataclasses",
    "torchvision", "timm", "einops",
}

ALIAS_GROUPS: list[set[str]] = [
    {"se", "semodule", "seblock", "selayer", "squeezeexcite", "squeezeexcitation", "squeezeandexcitation",
     "squeezeexcitationblock", "squeezeexcitationmodule", "seattention", "squeezeexcitelayer"},
    {"dwconv", "depthwiseconv", "depthwiseconv2d", "depthwiseseparableconv", "dsconv", "separableconv",
     "separableconv2d", "sepconv", "dwsconv", "depthwiseseparableconv2d", "dwconv2d", "dwseparableconv"},
    {"convbnact", "convnormact", "convbnrelu", "convbnlayer", "conv2dnormactivation", "convbnrelu6",
     "convbnswish", "basicconv", "basicconv2d", "convblock", "convbnactivation", "convnormactivation",
     "convbnsilu", "convbnacti", "conv2dbnact", "convbatchnormact"},
    {"convbn", "conv2dbn", "convnorm", "convbatchnorm"},
    {"mlp", "feedforward", "ffn", "mlpblock", "feedforwardnetwork", "positionwisefeedforward"},
    {"droppath", "stochasticdepth", "droppathlayer"},
    {"swish", "silu"},
    {"hswish", "hardswish"},
    {"hsigmoid", "hardsigmoid"},
    {"mish"},
    {"layernorm2d", "layernormchannels", "channellayernorm", "layernormchannelsfirst"},
    {"eca", "ecamodule", "ecalayer", "efficientchannelattention", "ecablock"},
    {"cbam", "cbammodule", "cbamblock"},
    {"mbconv", "invertedresidual", "mbconvblock", "invertedresidualblock", "mobilebottleneck", "mv2block"},
    {"bottleneck", "bottleneckblock", "resnetbottleneck"},
    {"basicblock", "basicresblock", "resnetbasicblock"},
    {"patchembed", "patchembedding", "patchembeddings"},
    {"makedivisible"},
    {"to2tuple", "pair", "ntuple2"},
    {"attention", "selfattention", "multiheadselfattention", "mhsa"},
    {"gem", "generalizedmeanpooling", "gempool"},
    {"channelshuffle"},
    {"splatconv2d", "splitattn", "splitattention", "splitattentionconv2d", "splat"},  # ResNeSt's block / timm's
    {"skconv", "selectivekernel", "selectivekernelconv", "skconv2d", "sklayer"},  # SKNet's block / timm's
    {"roundfilters", "roundchannels"},  # EfficientNet-PyTorch's helper / timm's
    {"nonlocal", "nonlocalblock", "nonlocalblock2d", "nonlocalattn", "nonlocalattention", "nlblock", "nonlocalmodule"},
    {"contextblock", "globalcontext", "gcblock", "gcmodule", "globalcontextblock"},  # GCNet's block / timm's
    {"preactblock", "preactbasic", "preactbasicblock", "preactresblock"},  # pre-activation ResNet / timm's
    {"simam", "simamodule"},
]


def normalize(name: str) -> str:
    return name.lower().replace("_", "")


@lru_cache(maxsize=1)
def _alias_index() -> dict[str, set[str]]:
    index: dict[str, set[str]] = {}
    for group in ALIAS_GROUPS:
        for key in group:
            index[key] = group
    return index


# words that name the same thing in block names, spelled out or abbreviated (ChannelAttention / ChannelAttn)
WORD_ABBREVIATIONS: list[set[str]] = [
    {"attention", "attn", "att"}, {"convolution", "conv"}, {"activation", "act"}, {"normalization", "norm"},
    {"batchnorm", "bn"}, {"positional", "position", "pos"}, {"encoding", "enc"}, {"embedding", "embed", "emb"},
    {"residual", "res"}, {"block", "blk"}, {"depthwise", "dw"}, {"pointwise", "pw"}, {"separable", "sep"},
    {"pooling", "pool"}, {"average", "avg"}, {"maximum", "max"}, {"excitation", "excite"}, {"dimension", "dim"},
]
MAX_SPELLINGS = 32
_WORD_GROUP = {word: group for group in WORD_ABBREVIATIONS for word in group}
_SPELLED_OUT = {word: max(group, key=len) for group in WORD_ABBREVIATIONS for word in group}


def spellings(name: str) -> set[str]:
    """Normalised spellings of ``name`` with each word spelled out or abbreviated (``ChannelAttention`` ->
    ``channelattn``, ...), a plural one in the singular too (``SinusoidalPositionEmbeddings`` ->
    ``sinusoidalposemb``), at most ``MAX_SPELLINGS``."""
    out = {""}
    for word in name_words(name):
        group = _WORD_GROUP.get(word) or (_WORD_GROUP.get(word[:-1]) if word.endswith("s") else None) or {word}
        out = {prefix + alt for prefix in out for alt in sorted(group)}
        if len(out) > MAX_SPELLINGS:
            return {normalize(name)}
    return out | {normalize(name)}


def spelled_out_words(name: str) -> set[str]:
    """The words of a block name, each abbreviation spelled out (``ResBlk`` -> {residual, block})."""
    return {_SPELLED_OUT.get(w, w) for w in name_words(name)}


def word_overlap(name: str, symbol: str) -> float:
    """Share of ``name``'s words that ``symbol`` also has: a meaning match that keeps the name's words ranks first."""
    words = spelled_out_words(name)
    return len(words & spelled_out_words(symbol)) / len(words) if words else 0.0


def is_acronym(name: str) -> bool:
    """``GRN``, ``ECA``, ``MHSA``: a short all-capitals name, read as the initials of a longer one (two letters,
    ``FC`` or ``BN``, match too many unrelated names)."""
    letters = name.strip("_")
    return 3 <= len(letters) <= 6 and letters.isalpha() and letters.isupper()


def names_a_function(name: str) -> bool:
    """No capital letter: the way PEP 8 names functions (``adaptive_avgmax_pool2d``, ``channel_shuffle``); classes
    take CapWords. Why it matters: a class whose name differs only in case (segmentation_models_pytorch's
    ``AdaptiveAvgMaxPool2d``) is another object than the function of that exact name (timm's
    ``adaptive_avgmax_pool2d(x, 1)``), so it must not keep the function from being looked for (``store_candidates``)."""
    return name == name.lower() and any(ch.isalpha() for ch in name)


GENERIC_SUFFIXES = ("module", "block", "layer", "unit")  # ``simam_module`` is SimAM, ``eca_layer`` is ECA


def aliases(name: str) -> set[str]:
    """Normalised names that mean the same block as ``name`` (itself included): its other spellings
    (``spellings``), each without a generic last word (``GENERIC_SUFFIXES``), and the alias groups of each."""
    keys = spellings(name)
    keys |= {k[: -len(suffix)] for k in keys for suffix in GENERIC_SUFFIXES if k.endswith(suffix) and len(k) - len(suffix) >= 3}
    out: set[str] = set()
    for key in keys:
        out |= _alias_index().get(key, {key}) | {key}
    return out


@lru_cache(maxsize=1)
def _torch_nn_names() -> frozenset[str]:
    import torch.nn as nn  # the caller's own process: reading torch's public names only

    return frozenset(n for n in dir(nn) if not n.startswith("_") and isinstance(getattr(nn, n), type))


@lru_cache(maxsize=1)
def _torch_nn_attributes() -> frozenset[str]:
    import torch.nn as nn  # the caller's own process: reading torch's public names only

    return frozenset(dir(nn))


def torch_nn_replacement(attr: str) -> str | None:
    """What ``nn.<attr>`` should read when the installed torch.nn has no ``attr``: None when it has it; the torch.nn
    class it means when ``attr`` is that class up to case and underscores (``nn.Relu``) or one of its names in the
    alias table (``nn.Swish`` -> ``SiLU``, ``nn.HSwish`` -> ``Hardswish``); "" when it means no torch.nn class (the
    block is missing: ``nn.DropPath``, ``nn.LayerNorm2d``). Why: LLMs write ``nn.X`` for blocks torch never had."""
    if attr in _torch_nn_attributes() or attr.startswith("_"):
        return None
    keys = _alias_index().get(normalize(attr), set()) | {normalize(attr)}
    return next((n for n in sorted(_torch_nn_names()) if normalize(n) in keys), "")


# Layers LLMs call from ``nn`` that torch.nn spells with an argument (Keras' and MXNet's global pooling), by normalised
# name: the torch.nn call that computes the same thing. Global pooling keeps torch's [B, C, 1, 1] (MXNet's
# ``GlobalAvgPool2D``), which ``flatten(1)`` / ``view(B, -1)`` read as [B, C]. Why a table: no stored block has these
# names, and the nearest by name (timm's ``AdaptiveAvgMaxPool2d``) returns the mean of average and max pooling.
TORCH_NN_EQUIVALENTS = {
    **dict.fromkeys(("globalavgpool2d", "globalaveragepool2d", "globalaveragepooling2d", "globalavgpooling2d"), "AdaptiveAvgPool2d(1)"),
    **dict.fromkeys(("globalmaxpool2d", "globalmaxpooling2d"), "AdaptiveMaxPool2d(1)"),
    **dict.fromkeys(("globalavgpool1d", "globalaveragepool1d", "globalaveragepooling1d", "globalavgpooling1d"), "AdaptiveAvgPool1d(1)"),
    **dict.fromkeys(("globalmaxpool1d", "globalmaxpooling1d"), "AdaptiveMaxPool1d(1)"),
}


def torch_nn_equivalent(attr: str) -> str | None:
    """The torch.nn call (``AdaptiveAvgPool2d(1)``) that an argument-less ``nn.<attr>()`` torch.nn lacks means, from
    ``TORCH_NN_EQUIVALENTS``; None for any other name."""
    if attr in _torch_nn_attributes():
        return None
    return TORCH_NN_EQUIVALENTS.get(normalize(attr))


def installed(module: str) -> bool:
    """Whether ``module`` can be imported here (the sandbox runs in the same environment)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


# Packages whose submodules Patch may look up by name: the server imports them anyway (finding a submodule's spec
# imports its parent package, so an arbitrary package named by untrusted code is never looked into).
LIBRARY_PACKAGES = ("torch", "torchvision", "timm")


def importable(module: str) -> bool:
    """Whether ``from module import ...`` can work here: its top-level package is installed, and for a library package
    (``LIBRARY_PACKAGES``) the submodule exists too. Why: ``from timm.blocks import DropPath`` and ``from torch.models
    import ...`` were kept as imports of something real, so the names they bind got no block."""
    top = module.split(".")[0]
    if not installed(top):
        return False
    return top not in LIBRARY_PACKAGES or module == top or installed(module)


MAX_STAR_DEPTH = 4  # star imports followed from one module (timm.models.layers -> timm.layers.activations)
# a module with more star imports is not judged: timm.models star-imports its 100 model files (3 s to read them)
MAX_STAR_IMPORTS = 4


def _star_source(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute name of the module a ``from M import *`` in ``module`` reads (relative ones resolved)."""
    if not node.level:
        return node.module or ""
    parts = module.split(".") if is_package else module.split(".")[:-1]
    base = parts[: len(parts) - (node.level - 1)] if node.level > 1 else parts
    return ".".join(base + ([node.module] if node.module else []))


@lru_cache(maxsize=256)
def _module_top_names(module: str, depth: int = 0) -> tuple[frozenset[str], bool] | None:
    """Names bound at the top level of an installed library module's source (inside ``if`` / ``try`` too), read
    statically, and whether it is a package; None when that cannot tell (not a library package, no source, a module
    ``__getattr__``, a star import from a module that cannot be told either). A star import from another library module
    adds every name that module binds (a superset of what it exports). Why: timm's deprecated ``timm.models.layers``,
    the path LLMs write most, is such a shim over ``timm.layers``; without following it an imagined
    ``from timm.models.layers import SqueezeExciteBlock`` stopped the model at import."""
    if module.split(".")[0] not in LIBRARY_PACKAGES or depth > MAX_STAR_DEPTH:
        return None
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return None
    tree = _parsed(Path(spec.origin).read_text(encoding="utf-8"))
    if tree is None:
        return None
    is_package = spec.submodule_search_locations is not None
    names: set[str] = set()
    stack: list[ast.AST] = list(tree.body)
    stars = 0
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.If, ast.Try, ast.With)):
            stack.extend(ast.iter_child_nodes(node))
        elif isinstance(node, (ast.ExceptHandler,)):
            stack.extend(node.body)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            if any(alias.name == "*" for alias in node.names):
                stars += 1
                if stars > MAX_STAR_IMPORTS:
                    return None
                source = _star_source(module, is_package, node) if isinstance(node, ast.ImportFrom) else ""
                found = _module_top_names(source, depth + 1) if source and source != module else None
                if found is None:
                    return None
                names.update(found[0])
                continue
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            if node.name == "__getattr__":
                return None
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
    return frozenset(names), is_package


def module_lacks(module: str, name: str) -> bool:
    """Whether installed library ``module`` certainly does not offer ``name`` (``from torchvision.ops import
    ConvBNActivation``): not bound at its top level and not a submodule. False whenever that cannot be told, and for
    dunder names (``__version__``: set by the import system or at run time)."""
    if name.startswith("__"):
        return False
    found = _module_top_names(module)
    if found is None or name in found[0]:
        return False
    names, is_package = found
    if not is_package:
        return True  # a plain module has no submodules
    try:
        return importlib.util.find_spec(f"{module}.{name}") is None
    except (ImportError, ValueError):
        return False


def free_what_is_missing(code: str) -> tuple[str, list[str], dict[str, str]]:
    """``code`` as Patch resolves it: without its imports of modules that do not exist here or of names an installed
    module lacks (``from models.common import Conv``, ``from .blocks import SEBlock``), those names then free, and with
    each ``nn.X`` torch.nn lacks rewritten (``nn.Swish`` -> ``nn.SiLU``, ``nn.DropPath`` -> a free ``DropPath``); a
    note each, and the ``nn.X`` rewrites (written -> now). Why one function: Patch and Suggest must agree on which
    names bind nothing real. Raises ``libcst.ParserSyntaxError`` for code libcst cannot parse."""
    source, notes = drop_missing_imports(code, importable, module_lacks)
    source, rewrites = rewrite_torch_nn_attributes(source, torch_nn_replacement, torch_nn_equivalent)
    return source, notes + [torch_nn_note(written, now) for written, now in rewrites.items()], rewrites


def standard_import(usage: NameUsage) -> str | None:
    """The import line that binds ``usage.name`` when it is a well-known alias, else None."""
    name = usage.name
    if name in {"repeat", "reduce"} and installed("einops") and any(
        re.search(r"['\"][^'\"]*->", c.text) for c in usage.calls
    ):
        return f"from einops import {name}"
    if name in EINOPS_IMPORTS and name not in {"einops_repeat"} and installed("einops"):
        return EINOPS_IMPORTS[name]
    if name in STANDARD_IMPORTS:
        return STANDARD_IMPORTS[name]
    if name in TYPING_NAMES:
        return f"from typing import {name}"
    if usage.only_attributes and name in ATTRIBUTE_MODULES and installed(name):
        return f"import {name}"
    if name in _torch_nn_names():
        return f"from torch.nn import {name}"
    return None


# ---------------------------------------------------------------------------- store candidates


@dataclass
class Candidate:
    """One way to define a free name: ``code`` (scope-closed) defines ``symbol``."""

    name: str  # the free name in the user's code
    symbol: str  # what the code defines (== name unless matched through an alias)
    code: str
    match: str  # exact / normalized / alias / helper / semantic / import
    score: float = 0.0
    compat: float = 1.0
    reason: str = ""
    block: Any = None  # indexer.records.Block, None for an import
    import_line: str | None = None
    edits: KeywordEdits = field(default_factory=KeywordEdits)  # of the model's call-site keywords, to call this definition
    defaults: dict[str, str] = field(default_factory=dict)  # parameter -> default set in the block where None cannot work
    shortcut: str = ""  # statements put first in the block's ``__init__``: a projection shortcut (``projection_shortcut``)
    adapter: str = ""  # a function that defines ``name`` by calling ``symbol`` (``kernel_variants``); "" for an alias
    weighed: bool = False  # ``weigh_layout_and_family`` has scored it (a ``kernel_variants`` copy is not scored twice)
    lacking: tuple[str, ...] = ()  # layers its name states that the block lacks (``stated_layers``), in words
    whole_network: bool = False  # a network of the model's very name where the model passes no class count
    doubts: list[str] = field(default_factory=list)  # why it may not do what the model's name means, for the user

    @cached_property
    def signature(self) -> "Signature | None":
        """The call signature of ``symbol`` as ``code`` defines it (None for an import)."""
        return definition_signature(self.code, self.symbol) if self.code else None

    @property
    def qualified_name(self) -> str:
        if self.block is None:
            return self.import_line or ""
        base = self.block.qualified_name
        if self.symbol != self.block.name:
            module = base.rsplit(".", 1)[0] if "." in base else base
            return f"{module}.{self.symbol}"
        return base

    @property
    def provenance(self) -> dict[str, Any]:
        if self.block is None:
            return {}
        return self.block.provenance.to_dict()

    @property
    def identity(self) -> str:
        """What makes two candidates the same: the import, or the definitions inserted (``definitions_key``): a helper
        such as ``conv3x3`` cut from ``BasicBlock``'s block or ``Bottleneck``'s, or torchvision's mvit
        ``PositionalEncoding`` stored alone and cut out of ``MViT``'s block (whose cut keeps ``MViT``'s unused imports),
        is one candidate."""
        return self.import_line or f"{definitions_key(self.code)}:{self.symbol}"


@lru_cache(maxsize=4096)
def definitions_key(code: str) -> str:
    """A hash of ``code``'s top-level statements other than imports, normalised (``ast.dump``: no comments, layout or
    quoting). Why: the same class cut out of two stored blocks carries each block's imports, used or not, and was
    offered, checked and counted as two different blocks (the second try of torchvision's ``PositionalEncoding`` failed
    as the first had, and Patch stopped, blaming the model)."""
    tree = _parsed(code)
    if tree is None:
        text = code
    else:
        text = "\n".join(ast.dump(s) for s in tree.body if not isinstance(s, (ast.Import, ast.ImportFrom)))
    return hashlib.sha1(text.encode()).hexdigest()


@dataclass
class Signature:
    params: list[str] = field(default_factory=list)  # positional-or-keyword, after self
    required: int = 0  # leading params without defaults
    kwonly: list[str] = field(default_factory=list)
    kwonly_required: list[str] = field(default_factory=list)
    varargs: bool = False
    varkw: bool = False
    attributes: set[str] = field(default_factory=set)  # class attributes and methods
    # what its instances have besides: ``self.x = ...`` in its methods, buffers and parameters registered by name;
    # None when a ``__getattr__`` of the class may answer any name
    instance_attributes: set[str] | None = field(default_factory=set)
    is_class: bool = False
    forward: "Signature | None" = None  # a class's ``forward`` (None: not defined in the block, e.g. inherited)
    returns_tuple: bool | None = None  # every ``return`` of the function is a tuple (True), none is (False), else None
    returns_count: int | None = None  # a function's: how many values each of its ``return``s gives (``returned_count``)
    number_defaults: dict[str, float] = field(default_factory=dict)  # parameters whose default is a number (``1. / 16``)
    init_owner: str = ""  # the class whose ``__init__`` this is (the class itself or a base defined beside it)
    none_defaults: set[str] = field(default_factory=set)  # parameters whose default is None
    # of those, the ones ``__init__`` calls unguarded (timm's res2net ``Bottle2neck`` and its ``norm_layer``)
    unset_callables: list[str] = field(default_factory=list)
    # required layer parameters that end the required ones (torchvision's RegNet ``ResBottleneckBlock(width_in,
    # width_out, stride, norm_layer, activation_layer, group_width=1, ...)``), and required keyword-only ones (RAFT's
    # ``ResidualBlock(in_channels, out_channels, *, norm_layer, stride=1)``): they can take a default
    required_layers: list[str] = field(default_factory=list)
    external_base: bool = False  # a base class outside the block (its attributes are unknown here)
    # parameters that take a module, layer class, callable or tensor, never a number (``numbers_into_non_numbers``)
    not_numbers: set[str] = field(default_factory=set)
    tensors: set[str] = field(default_factory=set)  # of those, the ones annotated as a tensor (``x: torch.Tensor``)
    callables: set[str] = field(default_factory=set)  # of those, the ones the block calls (``self.downsample(x)``)
    # a record whose ``__init__`` ``@dataclass`` or ``NamedTuple`` generates from its fields (timm's ``RegNetCfg``): the
    # model reads its fields back, so no keyword of its calls is ever dropped (``keyword_edits``)
    is_record: bool = False
    # parameters that pick the input layout (``LAYOUT_PARAMETERS``) -> the layout their default picks
    layout_defaults: dict[str, str] = field(default_factory=dict)
    # kernel-size parameters passed to a conv whose padding is a fixed number -> that padding (nextvit's ``ConvNormAct``
    # builds ``nn.Conv2d(..., kernel_size=kernel_size, padding=1)``): only one kernel size keeps the map's size
    fixed_paddings: dict[str, int] = field(default_factory=dict)


def _number(node: ast.expr) -> float | None:
    """The value of a numeric literal default: ``16``, ``-1``, ``0.25``, ``1. / 16``, ``1 / 8``; else None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return float(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _number(node.operand)
        return None if inner is None else -inner
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Div, ast.Mult)):
        left, right = _number(node.left), _number(node.right)
        if left is None or right is None or (isinstance(node.op, ast.Div) and right == 0):
            return None
        return left / right if isinstance(node.op, ast.Div) else left * right
    return None


def _signature_of_args(args: ast.arguments, drop_first: bool) -> Signature:
    positional = list(args.posonlyargs) + list(args.args)
    n_defaults = len(args.defaults)
    if drop_first and positional:
        positional = positional[1:]
    sig = Signature(params=[a.arg for a in positional])
    sig.required = max(0, len(positional) - n_defaults)
    sig.kwonly = [a.arg for a in args.kwonlyargs]
    sig.kwonly_required = [a.arg for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is None]
    sig.varargs = args.vararg is not None
    sig.varkw = args.kwarg is not None
    defaulted = list(zip(positional[len(positional) - n_defaults:], args.defaults)) if n_defaults else []
    defaulted += [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None]
    sig.number_defaults = {a.arg: v for a, d in defaulted if (v := _number(d)) is not None}
    sig.none_defaults = {a.arg for a, d in defaulted if isinstance(d, ast.Constant) and d.value is None}
    annotated = {a.arg: _type_names(a.annotation) - TYPE_WRAPPERS for a in positional + list(args.kwonlyargs) if a.annotation}
    sig.not_numbers = {name for name, types in annotated.items() if types and types <= NOT_NUMBER_TYPES}
    sig.tensors = {name for name, types in annotated.items() if types and types <= TENSOR_TYPES}
    sig.not_numbers |= {a.arg for a, d in defaulted if _names_a_class(d) or _takes_a_name(a.arg, d, annotated.get(a.arg))}
    sig.layout_defaults = {a.arg: layout for a, d in defaulted if (layout := _layout_of_default(a.arg, d)) is not None}
    return sig


def _takes_a_name(param: str, default: ast.expr, annotation: set[str] | None) -> bool:
    """Whether a parameter takes a name, never a number: its default is a string (``act="silu"``, ``mode="bilinear"``)
    and neither its annotation nor its name says a number may do (``padding: Union[str, int] = "same"``). Why: YOLOX's
    ``Bottleneck(in, out, shortcut, expansion, depthwise, act)`` was tried first for an ultralytics-style
    ``Bottleneck(c1, c2, shortcut, g, k, 0.5)`` and failed building itself ("Unsupported act type: 0.5")."""
    if not (isinstance(default, ast.Constant) and isinstance(default.value, str)) or "pad" in param:
        return False
    return not (annotation and annotation & NUMBER_TYPES)


NUMBER_TYPES = frozenset({"int", "float", "Number", "complex"})


def _layout_of_default(param: str, default: ast.expr) -> str | None:
    """The layout a layout parameter's literal default picks: ``channels_last=True``, ``data_format="channels_first"``."""
    if param not in LAYOUT_PARAMETERS or not isinstance(default, ast.Constant):
        return None
    if param == "channels_last" and isinstance(default.value, bool):
        return CHANNELS_LAST if default.value else CHANNELS_FIRST
    return default.value if default.value in (CHANNELS_LAST, CHANNELS_FIRST) else None


def layout_switches(sig: Signature | None, layout: str | None, usage: NameUsage) -> dict[str, str]:
    """New defaults for the layout parameters of ``sig`` whose default picks another layout than the map the model
    feeds the block (``layout``: channels-first after an ``nn.Conv2d``, channels-last after a permute), when no call
    passes them: ``channels_last=False``, ``data_format="channels_first"``.

    Why: timm's ``GlobalResponseNorm(dim, channels_last=True)`` after a ``Conv2d`` normalised over the width as if it
    were the channels, and the check passed whenever the width equalled the channels (32 x 32 CIFAR, 32 channels)."""
    if sig is None or layout not in (CHANNELS_FIRST, CHANNELS_LAST) or not sig.layout_defaults:
        return {}
    passed = {k for call in usage.calls for k in call.keywords}
    passed |= {p for call in usage.calls for p in sig.params[:call.n_positional]}
    switches = {}
    for param, picked in sig.layout_defaults.items():
        if picked != layout and param not in passed:
            switches[param] = str(layout == CHANNELS_LAST) if param == "channels_last" else repr(layout)
    return switches


# Types an argument annotated with takes no number: a module, a layer class or factory, a tensor. Not ``str``: timm
# annotates ``padding: str = ''`` where ``padding=1`` works.
TENSOR_TYPES = frozenset({"Tensor", "Parameter"})
NOT_NUMBER_TYPES = TENSOR_TYPES | frozenset({"Module", "Sequential", "ModuleList", "ModuleDict", "Callable", "LayerType",
                                             "ModuleType", "Type", "type"})
# Names inside an annotation that say nothing of the type by themselves (``Optional[nn.Module]``)
TYPE_WRAPPERS = frozenset({"Optional", "Union", "None"})


def _type_names(annotation: ast.expr) -> set[str]:
    """The type names an annotation mentions: ``Optional[nn.Module]`` -> {Optional, Module}, ``"torch.Tensor"`` ->
    {Tensor}; ``nn``, ``torch`` and ``typing`` before a dot are dropped (only the last name says the type).

    Why: an annotation whose every type is a module, callable or tensor rules a number out: timm's efficientvit
    ``ResidualBlock(main: nn.Module, shortcut: nn.Module)`` scored 1.00 against an LLM's ``ResidualBlock(64, 64)``,
    and the check it cost failed calling ``64(x)``."""
    if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
        try:
            annotation = pyparse.parse(annotation.value, mode="eval").body
        except (SyntaxError, ValueError, RecursionError):
            return {"?"}
    qualifiers = {id(n.value) for n in ast.walk(annotation) if isinstance(n, ast.Attribute)}
    names: set[str] = set()
    for node in ast.walk(annotation):
        if isinstance(node, ast.Attribute):
            names.add(node.attr)
        elif isinstance(node, ast.Name) and id(node) not in qualifiers:
            names.add(node.id)
        elif isinstance(node, ast.Constant) and node.value is not None and node.value is not Ellipsis:
            names.add("?")  # a literal type (``Literal[1]``) or a quoted name: unknown
    return names


# Modules whose attributes a default names are classes or functions (``nn.ReLU``, ``F.gelu``), never a number
CALLABLE_NAMESPACES = frozenset({"nn", "torch.nn", "F", "torch.nn.functional", "nn.functional"})


def _names_a_class(default: ast.expr) -> bool:
    """Whether a default is a layer class or function: ``nn.ReLU``, ``F.gelu``, ``BasicBlock`` (a CamelCase name; an
    UPPER_CASE one is a constant), ``partial(nn.LayerNorm, eps=1e-6)``, ``lambda x: x``."""
    if isinstance(default, ast.Attribute):
        return ast.unparse(default.value) in CALLABLE_NAMESPACES
    if isinstance(default, ast.Name):
        return default.id[:1].isupper() and any(c.islower() for c in default.id)
    if isinstance(default, ast.Call):
        return getattr(default.func, "id", "") == "partial"
    return isinstance(default, ast.Lambda)


def _called_parameters(init: ast.AST, block: ast.Module, params: set[str]) -> set[str]:
    """Parameters the code calls: ``norm_layer(dim)`` in ``init`` (an ``__init__`` or a function), or kept as
    ``self.main = main`` (or as a branch of ``main if main is not None else nn.Identity()``) and called as
    ``self.main(x)`` anywhere in ``block``.

    Why: a parameter the block calls holds a module or a function whatever its default (None, or none at all: timm's
    cpubone ``ResidualBlock(main, shortcut=None)``), so a number passed to it fails."""
    called = {n.func.id for n in ast.walk(init) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)} & params
    kept: dict[str, set[str]] = {}  # self attribute -> the parameters it may hold
    for node in ast.walk(init):
        if isinstance(node, ast.Assign):
            values = [node.value.body, node.value.orelse] if isinstance(node.value, ast.IfExp) else [node.value]
            held = {v.id for v in values if isinstance(v, ast.Name) and v.id in params}
            for target in node.targets:
                if held and isinstance(target, ast.Attribute) and getattr(target.value, "id", "") == "self":
                    kept.setdefault(target.attr, set()).update(held)
    for node in ast.walk(block) if kept else ():
        func = node.func if isinstance(node, ast.Call) else None
        if isinstance(func, ast.Attribute) and getattr(func.value, "id", "") == "self" and func.attr in kept:
            called |= kept[func.attr]
    return called


def _unset_callables(init: ast.FunctionDef, none_defaults: set[str]) -> list[str]:
    """Parameters defaulting to None that ``init`` calls (``norm_layer(width)``) where no test reads them (``if``,
    ``x if norm_layer else y``, ``norm_layer or nn.BatchNorm2d``) and that it never rebinds: a call that leaves them
    out fails with "'NoneType' object is not callable"."""
    rebound: set[str] = set()
    tested: set[str] = set()
    called: set[str] = set()
    for node in ast.walk(init):
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.NamedExpr)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            rebound.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
        elif isinstance(node, (ast.If, ast.IfExp, ast.While)):
            tested.update(n.id for n in ast.walk(node.test) if isinstance(n, ast.Name))
        elif isinstance(node, ast.BoolOp):
            tested.update(n.id for v in node.values for n in ast.walk(v) if isinstance(n, ast.Name))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            called.add(node.func.id)
    return sorted((none_defaults & called) - rebound - tested)


LAYER_PARAMETER_SUFFIXES = ("_layer", "_fn", "_cls")


def _is_layer_parameter(param: str) -> bool:
    """``norm_layer``, ``activation_layer``, ``act_fn``, ``conv_cls``: a parameter that takes a layer class."""
    words = param.split("_")
    return param.endswith(LAYER_PARAMETER_SUFFIXES) and any(w in words for w, _ in CONVENTIONAL_LAYERS)


def _required_layers(sig: Signature) -> list[str]:
    """The layer parameters among the last required ones of ``sig``, when every required parameter after the first of
    them is one: giving those defaults keeps the signature valid (no default before a required parameter); and its
    required keyword-only layer parameters, which may take a default wherever they stand (torchvision's RAFT
    ``ResidualBlock(in_channels, out_channels, *, norm_layer, stride=1)``)."""
    tail: list[str] = []
    for param in reversed(sig.params[: sig.required]):
        if not _is_layer_parameter(param):
            break
        tail.insert(0, param)
    return tail + [p for p in sig.kwonly_required if _is_layer_parameter(p)]


PLAIN_BASES = {"nn.Module", "torch.nn.Module", "Module", "object"}  # bases whose __init__ takes no arguments
NAMED_TUPLE_BASES = {"NamedTuple", "typing.NamedTuple"}
DATACLASS_FIELD_CALLS = {"field", "dataclasses.field"}
CLASS_VARIABLE_TYPES = {"ClassVar", "typing.ClassVar"}
KEYWORD_ONLY_MARKERS = {"KW_ONLY", "dataclasses.KW_ONLY"}


def _decorator_name(decorator: ast.expr) -> str:
    """``@dataclass(frozen=True)`` -> ``dataclass``, ``@dataclasses.dataclass`` -> ``dataclasses.dataclass``."""
    return ast.unparse(decorator.func if isinstance(decorator, ast.Call) else decorator)


def _dataclass_options(node: ast.ClassDef) -> dict[str, ast.expr] | None:
    """The keywords of ``node``'s ``@dataclass`` decorator (any spelling: ``dataclass``, ``dataclasses.dataclass``,
    ``pydantic.dataclasses.dataclass``, with or without a call), None when it is not a dataclass."""
    for decorator in node.decorator_list:
        name = _decorator_name(decorator)
        if name == "dataclass" or name.endswith(".dataclass"):
            return {k.arg: k.value for k in decorator.keywords if k.arg} if isinstance(decorator, ast.Call) else {}
    return None


def _is_true(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


def _is_false(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is False


def _generated_fields(node: ast.ClassDef, all_kw_only: bool) -> list[tuple[str, ast.expr | None, bool]] | None:
    """``(name, default or None, keyword-only)`` for each field the generated ``__init__`` of ``node`` takes, in
    order: annotated class attributes less ``ClassVar`` ones and ``field(init=False)``; a default, ``field(default=)``
    or ``field(default_factory=)`` makes one optional. None when a field's options cannot be read (``field(**opts)``)."""
    fields: list[tuple[str, ast.expr | None, bool]] = []
    kw_only = all_kw_only
    for stmt in node.body:
        if not isinstance(stmt, ast.AnnAssign) or not isinstance(stmt.target, ast.Name):
            continue
        annotation = stmt.annotation.value if isinstance(stmt.annotation, ast.Subscript) else stmt.annotation
        type_name = ast.unparse(annotation).strip("'\"")
        if type_name in CLASS_VARIABLE_TYPES or type_name.startswith("ClassVar["):
            continue
        if type_name in KEYWORD_ONLY_MARKERS:
            kw_only = True  # ``_: KW_ONLY``: every field after it is keyword-only
            continue
        default, field_kw_only = stmt.value, kw_only
        value = stmt.value
        if isinstance(value, ast.Call) and ast.unparse(value.func) in DATACLASS_FIELD_CALLS:
            if any(k.arg is None for k in value.keywords) or value.args:
                return None
            options = {k.arg: k.value for k in value.keywords}
            if _is_false(options.get("init")):
                continue
            default = options.get("default", options.get("default_factory"))
            if "kw_only" in options:
                field_kw_only = _is_true(options["kw_only"])
        fields = [f for f in fields if f[0] != stmt.target.id]  # a redefined field keeps its place in CPython; rare
        fields.append((stmt.target.id, default, field_kw_only))
    return fields


def _fields_signature(chain: list[ast.ClassDef]) -> Signature | None:
    """The signature ``@dataclass`` or ``NamedTuple`` generates for ``chain[0]``, whose bases (in the block) follow it
    in ``chain``: the fields of its dataclass bases first. None when it cannot be read for sure."""
    if not chain:
        return None
    fields: list[tuple[str, ast.expr | None, bool]] = []
    for cls in reversed(chain):
        options = _dataclass_options(cls)
        named_tuple = bool(cls.bases) and ast.unparse(cls.bases[0]) in NAMED_TUPLE_BASES
        if options is None and not named_tuple:
            continue  # a plain base's annotations are no fields
        own = _generated_fields(cls, _is_true((options or {}).get("kw_only")))
        if own is None:
            return None
        names = {f[0] for f in own}
        fields = [f for f in fields if f[0] not in names] + own
    sig = Signature()
    for name, default, kw_only in fields:
        if kw_only:
            sig.kwonly.append(name)
            if default is None:
                sig.kwonly_required.append(name)
        else:
            sig.params.append(name)
    positional = [f for f in fields if not f[2]]
    sig.required = next((i for i, f in enumerate(positional) if f[1] is not None), len(positional))
    sig.number_defaults = {n: v for n, d, _ in fields if d is not None and (v := _number(d)) is not None}
    sig.none_defaults = {n for n, d, _ in fields if isinstance(d, ast.Constant) and d.value is None}
    return sig


def unknown_signature() -> Signature:
    """A signature that cannot be read for sure (an attrs class, a pydantic model, an ``__init__`` from a base outside
    the block): it accepts any call, so no keyword the model passes is ever renamed away or dropped."""
    return Signature(varargs=True, varkw=True)


# Decorators (by their last name, or their module's) that give a class an ``__init__`` built from its fields: attrs's
# ``@define``/``@frozen``/``@attr.s``/``@attrs``, ``@attr.dataclass``, and any from the attrs, pydantic or msgspec modules
INIT_GENERATING_DECORATORS = frozenset({"s", "attrs", "define", "frozen", "mutable", "dataclass_transform"})
INIT_GENERATING_MODULES = frozenset({"attr", "attrs", "pydantic", "msgspec"})


def _generates_init(cls: ast.ClassDef) -> bool:
    """Whether ``cls`` gets an ``__init__`` not written in its body: an attrs-style decorator, or a metaclass."""
    for decorator in cls.decorator_list:
        parts = _decorator_name(decorator).split(".")
        if parts[-1] in INIT_GENERATING_DECORATORS or parts[0] in INIT_GENERATING_MODULES:
            return True
    return any(k.arg == "metaclass" for k in cls.keywords)


def _may_replace_init(cls: ast.ClassDef) -> bool:
    """Whether a class without an ``__init__`` anywhere in the block may still take arguments: any decorator (it may
    return another class or a wrapper), a class keyword, a ``__new__``."""
    names = {s.name for s in cls.body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))}
    return bool(cls.decorator_list) or bool(cls.keywords) or "__new__" in names


def definition_signature(code: str, symbol: str) -> Signature | None:
    """Call signature of a top-level class (its ``__init__``, following bases in the same code, or the one ``@dataclass``
    or ``NamedTuple`` generates from its fields) or function. A class whose ``__init__`` cannot be read for sure gets
    ``unknown_signature``: a keyword dropped at its calls would silently change the model (``NetConfig(num_classes=100)``
    made ``NetConfig()``: 10 classes)."""
    tree = _parsed(code)
    if tree is None:
        return None
    defs = {s.name: s for s in tree.body if isinstance(s, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))}
    node = defs.get(symbol)
    if node is None:
        return None
    if not isinstance(node, ast.ClassDef):
        sig = _signature_of_args(node.args, drop_first=False)
        sig.callables = _called_parameters(node, tree, set(sig.params + sig.kwonly))
        sig.not_numbers |= sig.callables
        sig.returns_count = returned_count(node)
        return sig
    attributes: set[str] = set()
    instance_names: set[str] = set()
    current: ast.AST | None = node
    init: ast.FunctionDef | None = None
    generated: Signature | None = None
    unknown = False
    owner = ""
    forward: ast.FunctionDef | None = None
    inherited = False
    chain: list[ast.ClassDef] = []
    for _ in range(8):  # follow single inheritance inside the block
        if not isinstance(current, ast.ClassDef):
            break
        chain.append(current)
        for stmt in current.body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                attributes.add(stmt.name)
                instance_names.update(_set_on_self(stmt))
                if stmt.name == "__init__" and init is None and generated is None and not unknown:
                    init = stmt  # type: ignore[assignment]
                    owner = current.name
                if stmt.name == "forward" and forward is None:
                    forward = stmt  # type: ignore[assignment]
            elif isinstance(stmt, ast.Assign):
                attributes.update(t.id for t in stmt.targets if isinstance(t, ast.Name))
            elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                attributes.add(stmt.target.id)
        if init is None and generated is None and not unknown:
            options = _dataclass_options(current)
            named_tuple = bool(current.bases) and ast.unparse(current.bases[0]) in NAMED_TUPLE_BASES
            if (options is not None and not _is_false(options.get("init"))) or named_tuple:
                rest = _dataclass_chain(current, defs)
                generated = _fields_signature(rest)
                unknown = generated is None
                owner = current.name
            elif _generates_init(current):
                unknown = True
        base = current.bases[0] if current.bases else None
        current = defs.get(base.id) if isinstance(base, ast.Name) else None
        if current is None and base is not None and ast.unparse(base) not in PLAIN_BASES | NAMED_TUPLE_BASES:
            inherited = True  # __init__ may come from a class outside the block (nn.Conv2d, nn.Sequential)
    if init is not None:
        # the drop_first shift keeps defaults aligned: defaults belong to the last params
        sig = _signature_of_args(init.args, drop_first=True)
        sig.unset_callables = _unset_callables(init, sig.none_defaults)
        sig.callables = _called_parameters(init, tree, set(sig.params + sig.kwonly))
        sig.not_numbers |= sig.callables
        sig.required_layers = _required_layers(sig)
        sig.init_owner = owner
        sig.fixed_paddings = _fixed_paddings(init, set(sig.params + sig.kwonly))
    elif generated is not None:
        sig = generated
        sig.init_owner = owner
        sig.is_record = True
    elif unknown or inherited or any(_may_replace_init(c) for c in chain):
        sig = unknown_signature()
    else:
        sig = Signature()  # ``object.__init__``: no arguments
    sig.attributes = attributes
    sig.instance_attributes = None if "__getattr__" in attributes else instance_names
    sig.is_class = True
    sig.external_base = inherited
    if forward is not None:
        sig.forward = _signature_of_args(forward.args, drop_first=True)
        sig.forward.returns_tuple = returns_tuple(forward)
    return sig


def _fixed_paddings(init: ast.FunctionDef, params: set[str]) -> dict[str, int]:
    """``kernel_size`` parameter -> the fixed padding of a conv built in ``init`` with ``kernel_size=<parameter>`` and
    ``padding=<positive int>`` (``Signature.fixed_paddings``)."""
    out: dict[str, int] = {}
    for call in (n for n in ast.walk(init) if isinstance(n, ast.Call) and "conv" in _called_name(n).lower()):
        keywords = {k.arg: k.value for k in call.keywords if k.arg}
        kernel, padding = keywords.get("kernel_size"), keywords.get("padding")
        # padding 0 is no claim on the size: the block may pad by itself (timm's ``CecaModule``, circular ``F.pad``)
        if isinstance(kernel, ast.Name) and kernel.id in params and isinstance(padding, ast.Constant) and type(padding.value) is int and padding.value > 0:
            out[kernel.id] = padding.value
    return out


def _called_name(call: ast.Call) -> str:
    return call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", "")


def pads_for_another_kernel(sig: Signature, call: CallSite) -> list[str]:
    """The kernel sizes ``call`` passes (as int literals) that the block's fixed padding does not keep the map's size
    for (``ConvBNSiLU(32, 16, 1, 1)`` into a conv padded by 1: the map grows by 2 at every such layer and the check
    still passes)."""
    if not sig.fixed_paddings:
        return []
    given = dict(_given_arguments(sig, call))
    out: list[str] = []
    for param, padding in sig.fixed_paddings.items():
        value = given.get(param)
        if isinstance(value, ast.Constant) and type(value.value) is int and value.value != 2 * padding + 1:
            out.append(f"{param}={value.value} with padding {padding}")
    return out


def _dataclass_chain(cls: ast.ClassDef, defs: dict[str, ast.AST]) -> list[ast.ClassDef]:
    """``cls`` and the bases it inherits fields from, nearest first; [] when a base outside the block may hold fields
    (a dataclass defined elsewhere) or more than one base does."""
    chain: list[ast.ClassDef] = []
    current: ast.AST | None = cls
    for _ in range(8):
        if not isinstance(current, ast.ClassDef):
            break
        chain.append(current)
        bases = [ast.unparse(b) for b in current.bases]
        if len(bases) > 1:
            return []
        if not bases or bases[0] in PLAIN_BASES | NAMED_TUPLE_BASES:
            return chain
        current = defs.get(bases[0])
    return []


def _own_returns(func: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.expr]:
    """The values of ``func``'s own ``return`` statements (not of functions or classes inside it)."""
    values: list[ast.expr] = []
    stack: list[ast.AST] = list(func.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            continue
        if isinstance(node, ast.Return) and node.value is not None:
            values.append(node.value)
        stack.extend(ast.iter_child_nodes(node))
    return values


def returns_tuple(func: ast.FunctionDef) -> bool | None:
    """True when every ``return`` of ``func`` (not of functions inside it) gives a tuple literal (timm's twins
    ``PatchEmbed``: ``return x, out_size``), False when none does, None when mixed or nothing is returned."""
    kinds = {isinstance(value, ast.Tuple) for value in _own_returns(func)}
    return kinds.pop() if len(kinds) == 1 else None


# Return values that are one value, never a tuple: arithmetic, a comparison, a literal number or string
SINGLE_VALUES = (ast.BinOp, ast.UnaryOp, ast.Compare, ast.Constant, ast.JoinedStr)


def returned_count(func: ast.FunctionDef | ast.AsyncFunctionDef) -> int | None:
    """How many values every ``return`` of ``func`` (not of functions inside it) gives: a tuple literal's length, 1 for
    a value that is never a tuple (``SINGLE_VALUES``); None when a return is anything else (a name, a call: it may
    hold a tuple), when they differ, or when nothing is returned."""
    counts = {_value_count(value) for value in _own_returns(func)}
    return counts.pop() if len(counts) == 1 else None


def _value_count(value: ast.expr) -> int | None:
    """How many values ``value`` gives when returned: a tuple literal's length (None with a starred element), 1 for
    ``SINGLE_VALUES``, None otherwise."""
    if isinstance(value, ast.Tuple):
        return None if any(isinstance(e, ast.Starred) for e in value.elts) else len(value.elts)
    return 1 if isinstance(value, SINGLE_VALUES) else None


def unpacks_otherwise(sig: Signature, call: CallSite) -> bool:
    """Whether ``call`` unpacks the result into another number of names than the function ``sig`` returns:
    ``q, k = apply_rotary_pos_emb(q, k, cos, sin)`` (Llama's, which returns ``q_embed, k_embed``) against timm's Gemma 4
    ``apply_rotary_pos_emb(x, cos, sin, unsqueeze_dim=2)``, which returns one tensor: the call reaches it with four
    arguments, and the forward fails in its ``unsqueeze``."""
    return not sig.is_class and call.unpacked is not None and sig.returns_count is not None and call.unpacked != sig.returns_count


def _too_many_arguments(forward: Signature, call: InstanceCall) -> bool:
    """Whether an instance call passes more positional arguments than ``forward`` takes: a TypeError whatever the
    keywords (a call's keywords are not counted, so a forward lacking a required argument is left to ``_serves``).
    Why apart: blocks whose ``forward(x)`` a UNet calls as ``up(x4, x3)`` scored 0.67-0.75 and were tried first."""
    return not forward.varargs and call.n_positional > len(forward.params)


def _serves(forward: Signature, call: InstanceCall) -> bool:
    """Whether a ``forward`` of this signature can serve an instance call: takes that many positional arguments and
    the keywords it passes (none twice), gets every required argument, and returns a tuple exactly when the caller
    unpacks one (where both are known). Why the keywords: an encoder's ``self.slf_attn(x, x, x, mask=mask)`` into a
    ``forward(Q, K, V, key_padding_mask=None, attn_mask=None)`` is a TypeError at the first forward."""
    n, given = call.n_positional, set(call.keywords)
    if not forward.varkw and not given <= set(forward.params + forward.kwonly):
        return False  # an unexpected keyword argument
    if given & set(forward.params[:n]):
        return False  # given by position and by name
    required = forward.params[n:forward.required] + forward.kwonly_required
    takes = set(required) <= given and (forward.varargs or n <= len(forward.params))
    shape_known = forward.returns_tuple is not None and call.unpacked is not None
    return takes and (not shape_known or forward.returns_tuple == call.unpacked)


# Parameters a caller's positional arguments never mean: timm 1.0's layers end their signatures with ``device=None,
# dtype=None``, so the sixth of ``MobileViTBlock(dim, depth, channel, kernel_size, patch_size, mlp_dim)`` would land in
# mvitv2 ``PatchEmbed``'s ``device`` (``torch.device(128)``: "Found no NVIDIA driver") after costing a check.
PLACEMENT_PARAMETERS = frozenset({"device", "dtype"})


def calls_fit(sig: Signature, usage: NameUsage) -> bool:
    """Whether every call site can call ``sig``: positional count, keyword names (none given twice: ``CoordAttn(c, c,
    rd_ratio=...)`` fills ``rd_ratio`` positionally), required arguments covered, no positional argument in
    ``PLACEMENT_PARAMETERS``."""
    names = set(sig.params) | set(sig.kwonly)
    for call in usage.calls:
        if set(sig.params[: call.n_positional]) & (set(call.keywords) | PLACEMENT_PARAMETERS):
            return False  # "got multiple values for argument", or a width passed as a device
        ok_kw = sig.varkw or all(k in names for k in call.keywords)
        ok_pos = sig.varargs or call.n_positional <= len(sig.params)
        covered = set(sig.params[: call.n_positional]) | set(call.keywords)
        ok_req = call.star_args or (
            all(p in covered for p in sig.params[: sig.required]) and all(k in covered for k in sig.kwonly_required)
        )
        if not (ok_kw and ok_pos and ok_req):
            return False
    return True


# Keyword names that mean the same argument, with the same value, in different code bases (timm's ``in_chs`` is
# torchvision's ``in_channels``; GhostNet's ``relu=True`` is timm's ``use_act=True``). Only pure renames: timm's
# ``rd_ratio=1/16`` is not CBAM's ``reduction_ratio=16`` (that one is inverted: ``REDUCTION_DIVISORS``).
IN_CHANNELS = frozenset({"in_channels", "in_chs", "in_ch", "inp", "inplanes", "in_planes", "in_dim", "dim_in", "c_in", "input_channels", "c1", "num_input_features"})
OUT_CHANNELS = frozenset({"out_channels", "out_chs", "out_ch", "oup", "outplanes", "out_planes", "out_dim", "dim_out", "c_out", "output_channels", "c2", "num_output_features"})
CHANNELS = frozenset({"channels", "channel", "num_channels", "n_channels", "num_features", "n_feats", "normalized_shape", "features"})
# A channel reduction given as a divisor (CBAM's ``reduction_ratio=16``) where the block takes a fraction (timm's
# ``rd_ratio=1. / 16``, a default between 0 and 1): the value is inverted at the call site.
REDUCTION_DIVISORS = frozenset({"reduction", "reduction_ratio", "ratio", "se_reduction", "reduction_factor", "r"})
REDUCTION_FRACTIONS = frozenset({"rd_ratio", "se_ratio", "squeeze_ratio", "se_rd_ratio"})
DIM = frozenset({"dim", "embed_dim", "d_model", "emb_dim", "embedding_dim"})
# timm's DropPath and DropBlock take ``drop_prob``; a transformer block's dropout is its ``proj_drop``
DROP_PATH_RATES = frozenset({"drop_path", "drop_path_rate", "drop_path_prob", "drop_path_ratio", "stochastic_depth_prob", "sd_prob", "drop_prob"})
DROPOUT_RATES = frozenset({"dropout", "drop_rate", "dropout_rate", "drop", "dropout_prob", "p", "prob", "proj_drop"})
KEYWORD_SYNONYMS = (
    IN_CHANNELS,
    OUT_CHANNELS,
    CHANNELS,
    frozenset({"kernel_size", "ksize", "kernel", "k_size"}),
    REDUCTION_DIVISORS,
    REDUCTION_FRACTIONS,
    frozenset({"relu", "use_act", "use_relu", "apply_act", "with_act"}),
    DROP_PATH_RATES,
    DROPOUT_RATES,
    frozenset({"num_heads", "heads", "n_heads", "nhead", "n_head"}),
    frozenset({"head_dim", "dim_head", "d_head", "dim_per_head", "head_dims"}),  # timm's MaxxVit cfg takes dim_head
    DIM,
    frozenset({"eps", "epsilon", "norm_eps", "layer_norm_eps"}),
    frozenset({"expand_ratio", "expansion", "exp_ratio", "expansion_ratio", "expand_factor", "expansion_factor"}),
    frozenset({"bias", "use_bias", "with_bias"}),
    frozenset({"layer_scale_init_value", "ls_init_value", "init_values", "layer_scale_init", "layerscale_init_value"}),
    frozenset({"groups", "G", "num_groups", "group"}),  # SKNet's and ShuffleAttention's ``G=``
    frozenset({"seq_len", "num_patch", "num_patches", "num_tokens", "n_patches", "n_tokens", "seq_length"}),
)
_SYNONYMS_OF = {word: group for group in KEYWORD_SYNONYMS for word in group}
# A block that keeps its channel count takes ``channels`` where an LLM passes ``in_planes=`` (CBAM's
# ``ChannelAttention(in_planes=64)`` is timm's ``ChannelAttn(channels=64)``), and a convolutional block's width is
# ConvNeXt's ``dim`` (timm's ``ConvNeXtBlock(in_chs)``): tried when the keyword's own group has none.
# A drop rate under a dropout's name (``p``, ``dropout``) for a block whose only rate is a drop path's (timm's
# ``DropPath(drop_prob=0.)``) is that rate: dropped, it ran with stochastic depth off and the check said ok.
_RELATED_GROUP = {IN_CHANNELS: CHANNELS, CHANNELS: IN_CHANNELS, DIM: IN_CHANNELS | CHANNELS, DROPOUT_RATES: DROP_PATH_RATES}
# At most this many distinct keywords are dropped for one definition; each costs DROP_PENALTY in the ranking.
MAX_DROPPED_KEYWORDS = 2
# Keywords never dropped: without them a block may still run, silently computing something else (a stride the model
# asked for, ConvNeXt's ``data_format="channels_first"`` on a LayerNorm over the last axis when width == channels).
NEVER_DROPPED = frozenset({"stride", "data_format", "batch_first", "channels_last", "dilation", "groups"})
# Keyword values that ask for what every convolution does by default: a block with no parameter for the keyword
# computes the same without it, so such a keyword is dropped even when NEVER_DROPPED and is not counted against
# MAX_DROPPED_KEYWORDS (RepVGG's ``RepVGGBlock(..., groups=1, deploy=...)`` for timm's ``RepVggBlock(in_chs, ...)``).
NEUTRAL_KEYWORD_VALUES = {"groups": 1, "dilation": 1, "stride": 1, "deploy": False, "inference_mode": False}


def _synonyms_among(keyword: str, params: list[str]) -> list[str]:
    """The parameters that take ``keyword``'s value under another name: its synonym group first, then a related one."""
    group = _SYNONYMS_OF.get(keyword, frozenset())
    found = [p for p in params if p in group]
    if not found and group in _RELATED_GROUP:
        found = [p for p in params if p in _RELATED_GROUP[group]]
    return found


def _fraction_for(keyword: str, sig: Signature, params: list[str]) -> list[str]:
    """The parameters that take ``keyword``'s divisor as a fraction (``reduction_ratio`` -> ``rd_ratio``)."""
    if keyword not in REDUCTION_DIVISORS:
        return []
    return [p for p in params if p in REDUCTION_FRACTIONS and 0.0 < sig.number_defaults.get(p, -1.0) < 1.0]


# Boolean switches of a block's activation (``GhostModule(..., relu=False)``), and the parameters that take the
# activation layer itself in another code base (timm's ``GhostModule(..., act_layer=nn.ReLU)``)
ACTIVATION_FLAGS = frozenset({"relu", "use_act", "use_relu", "apply_act", "with_act", "use_activation", "act", "activation"})


def keyword_values(call: CallSite, keyword: str) -> list[ast.expr]:
    """The values ``call`` passes as ``keyword=`` (read from its text; empty when the text does not parse)."""
    try:
        node = pyparse.parse(call.text.strip(), mode="eval").body
    except (SyntaxError, ValueError, RecursionError):
        return []
    return [k.value for k in node.keywords if k.arg == keyword] if isinstance(node, ast.Call) else []


def passed_values(usage: NameUsage, keyword: str) -> list[ast.expr]:
    """The values every call of ``usage`` passes as ``keyword=`` (``keyword_values``), in call order."""
    return [v for call in usage.calls if keyword in call.keywords for v in keyword_values(call, keyword)]


def _always_neutral(keyword: str, usage: NameUsage) -> bool:
    """Whether every call that passes ``keyword`` passes its neutral value (``NEUTRAL_KEYWORD_VALUES``) as a literal."""
    if keyword not in NEUTRAL_KEYWORD_VALUES:
        return False
    neutral = NEUTRAL_KEYWORD_VALUES[keyword]
    values = passed_values(usage, keyword)
    return bool(values) and all(isinstance(v, ast.Constant) and type(v.value) is type(neutral) and v.value == neutral for v in values)


def _literal_flag(value: ast.expr) -> bool:
    return isinstance(value, ast.Constant) and (value.value is True or value.value is False or value.value in (0, 1))


def _activation_layer_for(keyword: str, sig: Signature, params: list[str], usage: NameUsage) -> str | None:
    """The block's activation layer parameter that a boolean activation flag the block lacks stands for (``relu=``
    -> ``act_layer``), when every call passes the flag as a literal and none passes the layer itself.

    Why: dropping ``relu=False`` for timm's ``GhostModule(..., act_layer=nn.ReLU)`` switched on the ReLU the model turned
    off; ``act_layer=nn.Identity`` keeps the model's meaning (``relu=True``: the block's default)."""
    if keyword not in ACTIVATION_FLAGS:
        return None
    layers = [p for p in params if p in ACTIVATION_LAYER_PARAMETERS]
    if len(layers) != 1 or any(layers[0] in call.keywords for call in usage.calls):
        return None
    values = passed_values(usage, keyword)
    if not values or not all(_literal_flag(v) for v in values):
        return None
    return layers[0]


# The parameter ``projection_shortcut`` builds a default for when the caller passes None
SHORTCUT_PARAMETER = "downsample"


def _bools_for_modules(sig: Signature, usage: NameUsage, shortcut: bool) -> list[str]:
    """Keywords every call passes as a bool literal where the block takes a module (``_takes_module``) that the block
    does without when given None: ``downsample=False`` (a None default), ``downsample=True`` where the block builds its
    projection shortcut for None (``shortcut``: ``projection_shortcut``). Dropped, the block's own default serves.

    Why: ``BasicBlock(32, 64, stride=2, downsample=True)`` (a CIFAR ResNet's switch) reached torchvision's and timm's
    ``BasicBlock`` as ``self.downsample = True`` and failed with "'bool' object is not callable"."""
    out: list[str] = []
    params = set(sig.params + sig.kwonly)
    for keyword in dict.fromkeys(k for call in usage.calls for k in call.keywords):
        if keyword not in params or keyword not in sig.none_defaults or not _takes_module(sig, keyword):
            continue
        values = passed_values(usage, keyword)
        if not values or not all(_bool_literal(v) for v in values):
            continue
        if all(v.value is False or (shortcut and keyword == SHORTCUT_PARAMETER) for v in values):  # type: ignore[attr-defined]
            out.append(keyword)
    return out


def keyword_edits(sig: Signature | None, usage: NameUsage, allow_drops: bool = True, shortcut: bool = False) -> KeywordEdits:
    """Edits of call-site keywords that let every call site call ``sig``: renamed to a synonym among its parameters
    (``{"relu": "use_act"}``), inverted (a reduction divisor where the definition takes a fraction) or, with
    ``allow_drops``, dropped when it has no parameter for them (at most ``MAX_DROPPED_KEYWORDS``). Empty when the calls
    fit as written, when a keyword has two candidate parameters, or when the edited calls still do not fit (arity,
    required arguments). A definition with ``**kwargs`` gets renames and inversions only: ResNeSt's
    ``reduction_factor=4`` would reach timm's ``SplitAttn(..., rd_ratio=0.25, **kwargs)`` through its ``**kwargs``
    and go on to ``nn.Conv2d``, which refuses it; ``rd_ratio=1 / 4`` is what the block means.

    Why: LLM-written models call a block with the argument names of the repository they remember (``in_channels=``,
    ``relu=True``, ``reduction_ratio=16``, ``padding=1``); the indexed block takes the same argument under another name,
    as a fraction, or not at all. Editing the call site (shown in the diff) is the smallest change that lets the model
    use the block; the sandbox check then tells whether it runs.

    A bool literal where the block takes a module it can do without is dropped (``_bools_for_modules``; ``shortcut``:
    the block gets ``projection_shortcut``). A record's keywords (``Signature.is_record``: a ``@dataclass`` or
    ``NamedTuple``) are renamed at most, never dropped: the model reads its fields back (timm's ``RegNetCfg(depth=6,
    width_init=16)`` ran with the default ``w0``; ``ConvStemConfig(..., padding=1)`` then failed on ``s.padding``).
    """
    if sig is None or not usage.calls:
        return KeywordEdits()
    neutral: list[str] = _bools_for_modules(sig, usage, shortcut)
    if not neutral and not sig.varkw and calls_fit(sig, usage):
        return KeywordEdits()
    allow_drops = allow_drops and not sig.is_record
    params = sig.params + sig.kwonly
    renamed: dict[str, str] = {}
    inverted: dict[str, str] = {}
    flags: dict[str, str] = {}
    dropped: list[str] = []
    for call in usage.calls:
        for keyword in call.keywords:
            if keyword in params or keyword in renamed or keyword in inverted or keyword in flags or keyword in dropped + neutral:
                continue
            synonyms = _synonyms_among(keyword, params)
            fractions = [] if synonyms else _fraction_for(keyword, sig, params)
            if len(synonyms) == 1:
                renamed[keyword] = synonyms[0]
            elif len(fractions) == 1:
                inverted[keyword] = fractions[0]
            elif (layer := _activation_layer_for(keyword, sig, params, usage)) is not None:
                flags[keyword] = layer
            elif sig.varkw:
                continue  # ``**kwargs`` takes it as written (``absorbed_keywords``); never dropped
            elif not synonyms and not fractions and allow_drops and _always_neutral(keyword, usage):
                neutral.append(keyword)
            elif synonyms or fractions or not allow_drops or keyword in NEVER_DROPPED:
                return KeywordEdits()  # two parameters could take it, or it may not be dropped
            else:
                dropped.append(keyword)
    if len(dropped) > MAX_DROPPED_KEYWORDS:
        return KeywordEdits()
    edits = KeywordEdits(renamed, inverted, tuple(dropped + neutral), flags)
    edited = edited_usage(usage, edits)
    if any(len(set(call.keywords)) != len(call.keywords) for call in edited.calls):
        return KeywordEdits()  # two keywords of one call became the same parameter
    return edits if edits and calls_fit(sig, edited) else KeywordEdits()


# The layer a None-default layer parameter conventionally takes in timm / torchvision code, by a word in its name,
# when the block's validated example does not say.
CONVENTIONAL_LAYERS = (("norm", "nn.BatchNorm2d"), ("act", "nn.ReLU"), ("activation", "nn.ReLU"), ("conv", "nn.Conv2d"))
_LAYER_REFERENCE = re.compile(r"nn\.[A-Za-z_][A-Za-z0-9_]*")


# A norm layer for tokens [B, N, C] or channels-last input: normalises the last axis, as timm's ViT passes it
TOKEN_NORM = "nn.LayerNorm"
# Norm layers that need [B, C, ...] input: no norm for tokens (a ``BatchNorm2d(head_dim)`` on [B, heads, N, head_dim]
# normalises the heads axis)
CHANNELS_FIRST_NORMS = frozenset({"nn.BatchNorm1d", "nn.BatchNorm2d", "nn.BatchNorm3d", "nn.InstanceNorm1d",
                                  "nn.InstanceNorm2d", "nn.InstanceNorm3d", "nn.SyncBatchNorm", "nn.LazyBatchNorm2d"})


def _is_norm_parameter(param: str) -> bool:
    return "norm" in param.split("_")


def layer_defaults(sig: Signature | None, code: str, example_kwargs: dict[str, Any] | None = None,
                   layout: str | None = None) -> dict[str, str]:
    """Defaults for the parameters ``sig`` defaults to None yet calls unguarded: the ``torch.nn`` layer the block's
    validated example passed (``norm_layer=nn.BatchNorm2d``), else the conventional one for a word of its name
    (``CONVENTIONAL_LAYERS``); a parameter neither tells about is left as it is, and so is every one when ``code`` does
    not bind ``nn``.

    Also for the layer parameters a block requires last (``Signature.required_layers``: torchvision's RegNet
    ``ResBottleneckBlock(..., norm_layer, activation_layer, group_width=1)``), all of them or none, and for those it
    requires by keyword (torchvision's RAFT ``ResidualBlock(in_channels, out_channels, *, norm_layer, stride=1)``).

    Why: timm's building blocks leave such layers to the model that builds them (res2net's ``Bottle2neck`` takes
    ``norm_layer=None`` and calls it); an LLM's ``Bottle2neck(64, 32, stride=2)``, or a ``_make_layer(Bottle2neck, ...)``
    that calls it through a variable, then fails with "'NoneType' object is not callable" although the block is the
    right one. Setting the default in the inserted block serves every way the model calls it.

    ``layout`` is what the model feeds the block (``call_layout.fed_layout``): for tokens or channels-last input a
    norm parameter gets ``nn.LayerNorm`` where the convention, or the example, says a channels-first norm (timm's
    ``Attention(64, num_heads=4, qk_norm=True)`` after an ``nn.Linear`` failed with ``nn.BatchNorm2d``: "running_mean
    should contain 4 elements not 16")."""
    if sig is None or not (sig.unset_callables or sig.required_layers) or not binds_torch_nn(code):
        return {}
    defaults: dict[str, str] = {}
    for param in sig.unset_callables + sig.required_layers:
        example = (example_kwargs or {}).get(param)
        value = example.get("__expr__") if isinstance(example, dict) else None
        if not (isinstance(value, str) and _LAYER_REFERENCE.fullmatch(value)):
            value = next((layer for word, layer in CONVENTIONAL_LAYERS if word in param.split("_")), None)
        if layout in (TOKENS, CHANNELS_LAST) and _is_norm_parameter(param) and value in CHANNELS_FIRST_NORMS:
            value = TOKEN_NORM
        if value is not None:
            defaults[param] = value
    positional = [p for p in sig.required_layers if p not in sig.kwonly_required]
    if not all(p in defaults for p in positional):  # a default before a required parameter is a syntax error
        defaults = {p: v for p, v in defaults.items() if p not in positional}
    return defaults


def with_defaults(sig: Signature | None, defaults: dict[str, str]) -> Signature | None:
    """``sig`` once ``defaults`` are set in the block: the required layer parameters they name are no longer required
    (the positional ones all of them or none, as ``layer_defaults`` gives them)."""
    if sig is None or not any(p in defaults for p in sig.required_layers):
        return sig
    positional = [p for p in sig.required_layers if p not in sig.kwonly_required]
    set_positional = positional if positional and all(p in defaults for p in positional) else []
    set_kwonly = [p for p in sig.required_layers if p in sig.kwonly_required and p in defaults]
    return replace(sig, required=sig.required - len(set_positional),
                   required_layers=[p for p in sig.required_layers if p not in set_positional + set_kwonly],
                   kwonly_required=[p for p in sig.kwonly_required if p not in set_kwonly])


@lru_cache(maxsize=512)
def binds_torch_nn(code: str) -> bool:
    """Whether a block's top-level imports bind ``nn`` to ``torch.nn``. Why ``ast`` and a cache: a libcst parse of
    each of BasicBlock's 18 candidates per call (for this one fact) made an IDE's Suggest take 4-20 s."""
    try:
        body = pyparse.parse(code).body
    except (SyntaxError, ValueError, RecursionError):
        return False
    return any(
        (isinstance(s, ast.Import) and any(a.name == "torch.nn" and a.asname == "nn" for a in s.names))
        or (isinstance(s, ast.ImportFrom) and s.module == "torch" and not s.level and any(a.name == "nn" and a.asname in (None, "nn") for a in s.names))
        for s in body
    )


def with_block_edits(cand: Candidate) -> str:
    """``cand.code`` as Patch inserts it: the defaults set where the block's None cannot work (``defaults``) and the
    projection shortcut (``shortcut``) put first in its ``__init__``; a copy of torch.nn's own class imported from
    torch.nn instead (``torch_nn_class``). Patch and Suggest insert the same code."""
    code = cand.code
    exported = torch_nn_class(cand)
    if exported is not None:
        return f"from torch.nn import {exported}\n"
    if cand.defaults or cand.shortcut:
        owner = getattr(cand.signature, "init_owner", "")
        code = set_parameter_defaults(code, {owner}, cand.defaults)
        code = prepend_to_init(code, {owner}, cand.shortcut)
    return code


def torch_nn_class(cand: Candidate) -> str | None:
    """The name torch.nn exports ``cand``'s block under, when the block is torch.nn's own class (the store mines
    ``torch.nn`` from its source) and Patch inserts it unchanged (no defaults or shortcut set in its code); else None.

    Why: Patch copied such a class with everything its module needs (torch's ``MultiheadAttention`` for an LLM's
    ``MultiHeadAttention``: 750 lines, ``Linear`` and the init functions included) where one import line does."""
    block = cand.block
    if block is None or cand.symbol != block.name or not block.qualified_name.startswith("torch.nn.") or cand.defaults or cand.shortcut:
        return None
    import torch.nn as nn  # the caller's own process: reading torch's public classes only

    cls = getattr(nn, block.name, None)
    if not isinstance(cls, type) or f"{cls.__module__}.{cls.__qualname__}" != block.qualified_name:
        return None
    return block.name


# torch.nn classes that read (sequence, batch, features) unless built with ``batch_first=True``
BATCH_FIRST_LAYERS = frozenset({"LSTM", "GRU", "RNN", "TransformerEncoderLayer", "TransformerDecoderLayer", "Transformer",
                                "MultiheadAttention"})
# torch.nn classes whose forward returns a tuple, the output first: (output, attention weights), (output, hidden state)
TUPLE_OUTPUT_LAYERS = frozenset({"MultiheadAttention", "LSTM", "GRU", "RNN"})


def says_batch_first(usage: NameUsage) -> bool:
    """Whether a call of ``usage``'s name passes ``batch_first``, or may (``**kwargs``): then the model has said it."""
    return any("batch_first" in call.keywords or call.star_args for call in usage.calls)


def sequence_stand_in(cand: Candidate, usage: NameUsage) -> Candidate:
    """``cand`` defined for the model's name through a subclass (``adapter``) when it is a torch.nn sequence layer
    standing in for a block of another name (``MultiHeadAttention`` <- ``nn.MultiheadAttention``, ``LSTMEncoder`` <-
    ``nn.LSTM``): built batch-first unless a call says, and returning its output alone where every call uses the
    result as one value (none unpacks it); ``cand`` itself otherwise.

    Why: the model's own block of that name takes (batch, tokens, features) and returns one tensor, as LLM code writes
    them; torch's read (sequence, batch, features) and return a tuple, so ``h + self.attn(h, h, h)`` failed with
    "unsupported operand type(s) for +: 'Tensor' and 'tuple'" whichever such block went in, and Patch stopped."""
    layer = torch_nn_class(cand)
    if layer is None or cand.name == layer or cand.adapter:
        return cand
    batch_first = layer in BATCH_FIRST_LAYERS and not says_batch_first(usage)
    output_only = layer in TUPLE_OUTPUT_LAYERS and bool(usage.instance_calls) and all(
        c.unpacked is False for c in usage.instance_calls)
    if not (batch_first or output_only):
        return cand
    said = [w for w, on in (("batch-first", batch_first), ("returning its output alone", output_only)) if on]
    lines = [f"class {cand.name}({layer}):", f'    """torch.nn\'s {layer} for the model\'s {cand.name}: {", ".join(said)}."""']
    if batch_first:
        lines += ["", "    def __init__(self, *args, batch_first=True, **kwargs):",
                  "        super().__init__(*args, batch_first=batch_first, **kwargs)"]
    if output_only:
        lines += ["", "    def forward(self, *args, **kwargs):", "        return super().forward(*args, **kwargs)[0]"]
    reason = f"; {cand.name} is torch.nn's {layer}, {', '.join(said)}"
    return replace(cand, adapter="\n".join(lines) + "\n", reason=cand.reason + reason)


SHORTCUT_DESCRIPTION = "1x1 conv + BatchNorm2d when the stride or the width changes"


def projection_shortcut(sig: Signature | None, code: str) -> str:
    """Statements that give a ResNet-style block its projection shortcut when the caller passes none and the shape
    changes: ``downsample = nn.Sequential(nn.Conv2d(inplanes, planes * self.expansion, 1, stride), nn.BatchNorm2d(...))``,
    as torchvision's and timm's ``_make_layer`` build it; "" when ``sig`` is not such a block (``downsample=None``, a
    ``stride``, in- and out-width first, ``self.downsample`` tested against None) or the block does not bind ``nn``.

    Why: torchvision's and timm's ``BasicBlock`` / ``Bottleneck`` leave the shortcut to the network; LLM code calls
    them the way CIFAR ResNets define them, ``Bottleneck(in_planes, planes, stride)``, which builds its own, and the
    residual sum then fails on the first block whose stride or width changes. Where the shapes match, or the model
    passes ``downsample``, nothing changes."""
    if sig is None or not sig.is_class or "downsample" not in sig.none_defaults or "stride" not in sig.params:
        return ""
    if len(sig.params) < 2 or sig.params[0] not in IN_CHANNELS or sig.params[1] not in OUT_CHANNELS | {"planes"}:
        return ""
    if "self.downsample is not None" not in code or not binds_torch_nn(code):
        return ""
    inp, out = sig.params[:2]
    width = f"{out} * self.expansion" if "expansion" in sig.attributes else out
    return (
        f"if downsample is None and (stride != 1 or {inp} != {width}):  # nnrag: the projection shortcut _make_layer builds\n"
        f"    downsample = nn.Sequential(\n"
        f"        nn.Conv2d({inp}, {width}, kernel_size=1, stride=stride, bias=False), nn.BatchNorm2d({width})\n"
        f"    )\n"
    )


def edited_usage(usage: NameUsage, edits: KeywordEdits) -> NameUsage:
    """``usage`` as its call sites read once ``edits`` apply to their keywords."""
    if not edits:
        return usage
    return replace(usage, calls=[replace(c, keywords=edits.keywords(c.keywords)) for c in usage.calls])


def signature_of(obj: Any) -> Signature | None:
    """The call signature of an installed class or function (a class's ``__init__`` without ``self``); None when
    Python cannot tell (builtins written in C)."""
    try:
        params = list(inspect.signature(obj).parameters.values())
    except (TypeError, ValueError):
        return None
    sig = Signature(is_class=isinstance(obj, type))
    for p in params:
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            sig.params.append(p.name)
            if p.default is p.empty and sig.required == len(sig.params) - 1:  # leading params without defaults
                sig.required += 1
        elif p.kind is p.KEYWORD_ONLY:
            sig.kwonly.append(p.name)
            if p.default is p.empty:
                sig.kwonly_required.append(p.name)
        elif p.kind is p.VAR_POSITIONAL:
            sig.varargs = True
        else:
            sig.varkw = True
        if isinstance(p.default, (int, float)) and not isinstance(p.default, bool):
            sig.number_defaults[p.name] = float(p.default)
    return sig


def torch_refuses(usage: NameUsage) -> bool:
    """``usage.name`` is a ``torch.nn`` class that cannot take the calls the code makes: an LLM's
    ``LayerNorm(dim, eps=1e-6, data_format="channels_first")`` means ConvNeXt's own LayerNorm, not torch's; nor the
    calls its instances get: lucidrains' ``Transformer(dim, depth, heads, dim_head, mlp_dim, dropout)`` fits
    ``nn.Transformer``'s six positional parameters, but ``self.transformer(x)`` cannot call its ``forward(src, tgt)``."""
    import torch.nn as nn  # reading an installed class's signature; nothing of the user's is run

    cls = getattr(nn, usage.name, None)
    if not isinstance(cls, type):
        return False
    sig = signature_of(cls)
    if sig is not None and usage.calls and not calls_fit(sig, usage):
        return True
    if sig is not None and any(channels_into_sizes(sig, call) for call in usage.calls):
        return True  # ``Upsample(ch * 2)``: a diffusion model's block, not ``nn.Upsample(size=...)``
    forward = signature_of(functools.partial(cls.forward, None)) if usage.instance_calls else None  # without ``self``
    return forward is not None and not all(_serves(forward, call) for call in usage.instance_calls)


def import_first(usage: NameUsage, line: str | None) -> bool:
    """Whether ``line`` (``standard_import(usage)``) is the answer for the name without asking the store: a well-known
    alias or ``torch.nn`` class, unless the name is one the store should answer first (``STORE_FIRST``) or a
    ``torch.nn`` class the calls cannot construct (``torch_refuses``). Patch and Suggest decide alike."""
    if line is None or usage.name in STORE_FIRST:
        return False
    return not (line.startswith("from torch.nn import") and torch_refuses(usage))


def misplaced_arguments(sig: Signature, call: CallSite) -> list[str]:
    """Positional arguments of ``call`` named like a parameter of ``sig`` at another position: ``block(in_planes,
    planes, stride)`` into torchvision's video ``BasicBlock(inplanes, planes, conv_builder, stride=1)`` hands the
    stride to ``conv_builder``; also a width (``channel_dim``) where a layer class goes (timm's ``MixerBlock(dim,
    seq_len, mlp_ratio, mlp_layer)``) or a module (``ResidualBlock(main: nn.Module, ...)``). Such a call reaches the
    definition, but with its arguments in the wrong slots."""
    return [name for i, name in enumerate(call.positional_names)
            if name and i < len(sig.params) and sig.params[i] != name
            and (name in sig.params or (_takes_module(sig, sig.params[i]) and _names_number(name)))]


def _takes_module(sig: Signature, param: str) -> bool:
    """Whether ``param`` takes a layer, module or function: named so (``mlp_layer``) or known so (``Signature.not_numbers``),
    a tensor aside (``features``, ``hidden`` name numbers and tensors alike)."""
    return _takes_layer(param) or param in sig.not_numbers - sig.tensors


def call_arguments(call: CallSite) -> tuple[list[ast.expr], dict[str, ast.expr]] | None:
    """The positional and keyword argument expressions of ``call`` (read from its text; None when it does not parse)."""
    try:
        node = pyparse.parse(call.text.strip(), mode="eval").body
    except (SyntaxError, ValueError, RecursionError):
        return None
    if not isinstance(node, ast.Call):
        return None
    return list(node.args), {k.arg: k.value for k in node.keywords if k.arg is not None}


def numbers_into_non_numbers(sig: Signature, call: CallSite) -> list[str]:
    """The parameters of ``sig`` that take no number (``Signature.not_numbers``: a module, a layer class, a callable,
    a tensor) where ``call`` passes a number literal (``ResidualBlock(64, 64)`` into ``ResidualBlock(main: nn.Module,
    shortcut: nn.Module)``), or a bool literal to one the block calls (``BasicBlock(32, 64, 2, True)`` into a block
    that calls ``self.downsample(x)``). Such a call constructs the block, and the first forward fails calling ``64(x)``
    or ``True(x)``."""
    if not sig.not_numbers:
        return []
    return [param for param, value in _given_arguments(sig, call) if param in sig.not_numbers
            and (_number(value) is not None or (_bool_literal(value) and param in sig.callables))]


def _given_arguments(sig: Signature, call: CallSite) -> list[tuple[str, ast.expr]]:
    """(parameter of ``sig``, argument expression of ``call``) for every argument the call passes by position or
    keyword; [] when the call's text does not parse."""
    arguments = call_arguments(call)
    if arguments is None:
        return []
    positional, keywords = arguments
    given = list(zip(sig.params, positional))  # ``*args`` stops the pairing where it stands
    given = given[: next((i for i, a in enumerate(positional) if isinstance(a, ast.Starred)), len(given))]
    return given + [(k, v) for k, v in keywords.items() if k in call.keywords]  # not one ``keyword_edits`` dropped


def words_into_numbers(sig: Signature, call: CallSite) -> list[str]:
    """The parameters of ``sig`` whose default is a number where ``call`` passes words: a string, a dict, or a list /
    tuple / set holding a string. A CBAM ``ChannelGate(planes, 16, ['avg', 'max'])`` into pytorchcv's BAM
    ``ChannelGate(channels, reduction_ratio=16, num_layers=1)`` fails at construction (``num_layers - 1`` on a list).
    Containers of numbers are left alone: ``kernel_size=3`` takes ``(3, 3)``."""
    if not sig.number_defaults:
        return []
    return [param for param, value in _given_arguments(sig, call) if param in sig.number_defaults and _holds_words(value)]


def _holds_words(node: ast.expr) -> bool:
    """Whether ``node`` is a string literal, a dict literal, or a list / tuple / set literal holding a string."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.Dict):
        return True
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        return any(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts)
    return False


def counts_into_fractions(sig: Signature, call: CallSite) -> list[str]:
    """The parameters of ``sig`` whose default is a fraction strictly between 0 and 1 (a ratio or a rate:
    ``shrinkage_rate=0.25``, ``rd_ratio=1. / 16``) where ``call`` passes a count: a whole number above 1 or a floor
    division (``channels // 4``, never a fraction). ``SqueezeExcitation(64, 16)`` means 16 squeeze channels;
    into vit-pytorch's ``SqueezeExcitation(dim, shrinkage_rate=0.25)`` it builds a 1,024-wide hidden layer, and the
    model passes its check with the wrong block."""
    fractions = {p for p, v in sig.number_defaults.items() if 0.0 < v < 1.0}
    fractions |= set(sig.params + sig.kwonly) & RATE_PARAMETERS  # ``dropout_rate`` without a default
    if not fractions:
        return []
    return [param for param, value in _given_arguments(sig, call) if param in fractions and _is_count(value)]


# Parameters that take a probability whatever their default (``ResidualBlock(in_size, out_size, dropout_rate)``:
# a diffusion model's ``ResBlock(ch, ch, time_dim)`` built it with dropout 128); ``p`` alone is also GeM's exponent
RATE_PARAMETERS = (DROPOUT_RATES | DROP_PATH_RATES) - {"p"}
# Words of a variable's name that say it counts something (``time_dim``, ``out_ch``, ``num_heads``): never a fraction
COUNT_WORDS = frozenset({"dim", "dims", "channel", "channels", "ch", "chs", "planes", "width", "num", "depth", "heads",
                         "features", "hidden", "groups", "filters", "units", "classes"})


# Parameters that take a spatial size, never a channel count (``nn.Upsample(size)``, a ``kernel_size``)
SIZE_PARAMETERS = frozenset({"size", "output_size", "scale_factor", "kernel_size", "stride", "padding", "dilation"})
# Words of a variable's name that say it holds a channel (or feature) count
CHANNEL_WORDS = frozenset({"ch", "chs", "channel", "channels", "planes", "features", "filters", "dim", "hidden"})


def channels_into_sizes(sig: Signature, call: CallSite) -> list[str]:
    """The parameters of ``sig`` that take a spatial size (``SIZE_PARAMETERS``) where ``call`` passes a variable named
    as a channel count (``ch * 2``, ``out_ch``), and a ``kernel_size`` given an even number of 16 or more. Why: a
    diffusion model's ``Upsample(ch * 2)`` became ``nn.Upsample(size=64)`` (it ran where 64 happened to be twice the
    map, and resized everything else), and a U-Net's ``ConvBlock(in_ch, out_ch)`` timm's ``ConvBlock(dim,
    kernel_size)``: a 32x32 kernel."""
    out: list[str] = []
    for param, value in _given_arguments(sig, call):
        if param in SIZE_PARAMETERS and _names_channels(value) or param == "kernel_size" and _channel_literal(value):
            out.append(param)
    return out


def _channel_literal(node: ast.expr) -> bool:
    """An even whole number of 16 or more: a channel count, never a kernel size (kernels are odd, and small)."""
    return isinstance(node, ast.Constant) and type(node.value) is int and node.value >= 16 and node.value % 2 == 0


def _names_channels(node: ast.expr) -> bool:
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Mult, ast.FloorDiv)):
        return _names_channels(node.left) or _names_channels(node.right)
    return bool(CHANNEL_WORDS & _variable_words(node))


def _variable_words(node: ast.expr) -> set[str]:
    """The lower-cased words of a variable or attribute argument (``self.out_ch`` -> {out, ch}); empty for others."""
    name = node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else ""
    return set(name.lower().split("_")) if name else set()


def _is_count(node: ast.expr) -> bool:
    """A whole-number literal above 1, a floor division (``c // 4``), or a variable named as a count (``time_dim``,
    ``ch * 2``): an argument that is never a fraction."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.FloorDiv):
        return True
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
        return _is_count(node.left) or _is_count(node.right)
    if COUNT_WORDS & _variable_words(node):
        return True
    return isinstance(node, ast.Constant) and type(node.value) is int and node.value > 1


def _bool_literal(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, bool)


def _takes_layer(param: str) -> bool:
    """``mlp_layer``, ``block_fn``, ``norm_cls``: a parameter that takes a class or a function, not a number."""
    return param.endswith(LAYER_PARAMETER_SUFFIXES)


NUMBER_WORDS = frozenset({"dim", "dims", "channel", "channels", "ch", "chs", "planes", "width", "size", "ratio", "num",
                          "depth", "heads", "stride", "kernel", "features", "hidden", "expansion", "factor", "rate", "groups"})


def _names_number(name: str) -> bool:
    """Whether a variable's name says it holds a number (``channel_dim``, ``num_heads``, ``mlp_ratio``)."""
    return bool(NUMBER_WORDS & set(name.lower().split("_")))


def call_compatibility(sig: Signature | None, usage: NameUsage) -> float:
    """Fraction of the uses the definition can serve: how its instances are called (``forward``'s arity),
    attributes, base class; 0 when some call site cannot call it (arity, keywords, required arguments) or passes a
    number where it takes a module or a function (``numbers_into_non_numbers``) or words where it takes a number
    (``words_into_numbers``); a call that puts arguments in the wrong slots (``misplaced_arguments``,
    ``counts_into_fractions``, a channel count into a size: ``channels_into_sizes``), a kernel size into a conv whose
    fixed padding does not fit it (``pads_for_another_kernel``) or that unpacks another number of values than a
    function returns (``unpacks_otherwise``) serves none of its uses."""
    if sig is None:
        return 0.0
    if not calls_fit(sig, usage):
        return 0.0  # a definition that cannot be called as the code calls it fails whatever else fits
    if any(numbers_into_non_numbers(sig, call) for call in usage.calls):
        return 0.0  # a number where the block takes a module or a function: its forward fails
    if any(words_into_numbers(sig, call) for call in usage.calls):
        return 0.0  # words where it takes a number: ``num_layers - 1`` on ``['avg', 'max']`` fails at construction
    if sig.forward is not None and any(_too_many_arguments(sig.forward, call) for call in usage.instance_calls):
        return 0.0  # ``Up(x4, x3)`` into a ``forward(x)``: a TypeError at the first forward
    checks: list[float] = [0.0 if misplaced_arguments(sig, call) or counts_into_fractions(sig, call) or pads_for_another_kernel(sig, call)
                           or channels_into_sizes(sig, call) or unpacks_otherwise(sig, call) else 1.0 for call in usage.calls]
    if usage.instance_calls and sig.forward is not None:
        checks.append(sum(_serves(sig.forward, call) for call in usage.instance_calls) / len(usage.instance_calls))
    if usage.attributes:
        checks.append(len(usage.attributes & sig.attributes) / len(usage.attributes))
    if usage.instance_attributes:
        checks.append(1.0 - len(instance_attributes_lacking(sig, usage)) / len(usage.instance_attributes))
    if usage.as_base:
        checks.append(1.0 if sig.is_class else 0.0)
    return sum(checks) / len(checks) if checks else 1.0


# ``classes``: segmentation_models_pytorch's networks (``Unet(encoder_name, ..., classes=1)``, ``DPT``)
NETWORK_PARAMETERS = frozenset({"num_classes", "n_classes", "nb_classes", "class_num", "num_class", "classes", "num_labels"})


# A class named as a network: ``CoAtNet``, ``GhostNet``, ``DistillableEfficientViT``, a GAN's ``Discriminator`` /
# ``Generator`` (lightning-bolts' MLP ``Discriminator`` had been inserted for a DCGAN's ``DiscriminatorBlock``), a
# ``...Classifier``, ``...Model``. Not ``...Network``: torchvision's ``FeaturePyramidNetwork`` is a neck, the TFT's
# ``GatedResidualNetwork`` a block
NETWORK_NAME = re.compile(r"(?:[A-Za-z0-9](?:Net|ViT|Classifier|Model|GAN|VAE)|Discriminator|Generator)$")


def is_whole_network(cand: Candidate, usage: NameUsage) -> bool:
    """Whether the candidate is a classifier (its ``__init__`` takes ``num_classes``, or hands ``*args`` / ``**kwargs``
    on to a class that does) or is named as a network, where the model neither passes ``num_classes`` nor names a
    network: a meaning match for a building block must not be a whole network (fightingcv's ``ShuffleTransformer`` for
    an LLM's ``ShuffleV2Block``: 457M parameters, refused by the sandbox's budget after costing a check; fightingcv's
    ``CoAtNet`` for a UNet's ``OutConv``, vit-pytorch's ``CCT``, whose ``**kwargs`` reach ``TransformerClassifier
    (num_classes=...)``, for a ``FiLM``)."""
    if any(k in NETWORK_PARAMETERS for call in usage.calls for k in call.keywords):
        return False
    sig = cand.signature
    if sig is None:
        return False
    if NETWORK_PARAMETERS & set(sig.params + sig.kwonly):
        return True
    if NETWORK_NAME.search(cand.symbol) and not NETWORK_NAME.search(cand.name):
        return True
    return (sig.varargs or sig.varkw) and passes_on_network_parameters(cand.code, cand.symbol)


def passes_on_network_parameters(code: str, symbol: str, depth: int = 0) -> bool:
    """Whether class ``symbol``'s ``__init__`` hands its ``*args`` / ``**kwargs`` to a class defined in ``code`` that
    takes ``num_classes`` or hands them on again (``super().__init__(*args, **kwargs)`` reaches its bases)."""
    tree = _parsed(code)
    defs = {s.name: s for s in tree.body if isinstance(s, ast.ClassDef)} if tree is not None else {}
    cls = defs.get(symbol)
    init = next((s for s in cls.body if isinstance(s, ast.FunctionDef) and s.name == "__init__"), None) if cls else None
    if init is None or depth > 2:
        return False
    spread = {a.arg for a in (init.args.vararg, init.args.kwarg) if a is not None}
    for call in (n for n in ast.walk(init) if isinstance(n, ast.Call)):
        passed = [a.value for a in call.args if isinstance(a, ast.Starred)] + [k.value for k in call.keywords if k.arg is None]
        if not any(isinstance(v, ast.Name) and v.id in spread for v in passed):
            continue
        func = call.func
        if isinstance(func, ast.Attribute) and func.attr == "__init__" and isinstance(func.value, ast.Call):
            targets = [b.id for b in cls.bases if isinstance(b, ast.Name)]  # type: ignore[union-attr]
        else:
            targets = [func.id] if isinstance(func, ast.Name) else []
        for target in (t for t in targets if t in defs):
            sig = definition_signature(code, target)
            if sig is not None and NETWORK_PARAMETERS & set(sig.params + sig.kwonly):
                return True
            if passes_on_network_parameters(code, target, depth + 1):
                return True
    return False


# ``self.register_buffer("freqs", ...)``: methods of nn.Module that bind the name their first argument gives
_REGISTERING = frozenset({"register_buffer", "register_parameter", "register_module", "add_module"})


def _set_on_self(method: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    """Names a method binds on ``self``: ``self.x = ...`` (also annotated or augmented), ``setattr(self, "x", ...)``
    and the registering calls of nn.Module."""
    out: set[str] = set()
    for node in ast.walk(method):
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) and isinstance(node.value, ast.Name) \
                and node.value.id == "self":
            out.add(node.attr)
        elif isinstance(node, ast.Call) and (bound := _bound_by_call(node)) is not None:
            out.add(bound)
    return out


def _bound_by_call(call: ast.Call) -> str | None:
    """The name ``setattr(self, "x", ...)`` or a registering call (``self.register_buffer("x", ...)``) binds."""
    func = call.func
    if isinstance(func, ast.Attribute) and func.attr in _REGISTERING:
        at = 0
    elif isinstance(func, ast.Name) and func.id == "setattr":
        at = 1
    else:
        return None
    arg = call.args[at] if len(call.args) > at else None
    return arg.value if isinstance(arg, ast.Constant) and isinstance(arg.value, str) else None


@lru_cache(maxsize=1)
def _module_attributes() -> frozenset[str]:
    """What every ``nn.Module`` instance has (``parameters``, ``training``, ``eval``, ...)."""
    import torch.nn as nn  # the caller's own process: reading torch's public names only

    return frozenset(dir(nn.Module()))


def instance_attributes_lacking(sig: Signature | None, usage: NameUsage) -> set[str]:
    """What the model reads on the name's instances (``self.rotary.rotate_queries_or_keys``) that the candidate's class,
    its bases defined beside it and nn.Module all lack. Empty when a base from outside the block or a ``__getattr__``
    may provide it."""
    if not usage.instance_attributes or sig is None or not sig.is_class or sig.external_base or sig.instance_attributes is None:
        return set()
    return usage.instance_attributes - sig.attributes - sig.instance_attributes - _module_attributes()


def lacks_attributes(cand: Candidate, usage: NameUsage) -> bool:
    """Whether the model reads a class attribute (``Block.expansion``), or an attribute of an instance, that the
    candidate's class, and every base defined beside it, lacks: the first read raises AttributeError. A base from
    outside the block may have it."""
    sig = cand.signature
    if sig is None or not sig.is_class or sig.external_base:
        return False
    return bool(usage.attributes - sig.attributes) or bool(instance_attributes_lacking(sig, usage))


_WORD_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def identifiers(text: str) -> set[str]:
    return {w for w in _WORD_RE.findall(text) if len(w) > 2}


def keyword_overlap(sig: Signature | None, usage: NameUsage) -> float:
    """How many argument names at the call sites the definition's parameters share (0..1)."""
    if sig is None or not usage.calls:
        return 0.0
    used = set()
    for call in usage.calls:
        used.update(call.keywords)
        used.update(identifiers(call.text.split("(", 1)[-1]))
    params = set(sig.params) | set(sig.kwonly)
    if not used or not params:
        return 0.0
    return len(used & params) / (len(used) * len(params)) ** 0.5


def absorbed_keywords(sig: Signature | None, usage: NameUsage) -> set[str]:
    """Call-site keywords that no parameter of ``sig`` names, taken only by its ``**kwargs``: a block that swallows
    ``num_patch=`` and ``token_dim=`` ignores them as surely as one that has them dropped."""
    if sig is None or not sig.varkw:
        return set()
    named = set(sig.params) | set(sig.kwonly)
    return {k for call in usage.calls for k in call.keywords if k not in named}


def usage_query(usage: NameUsage) -> str:
    """A search query for a free name: its words, then how it is called and used."""
    parts = [usage.name, split_words(usage.name)]
    parts += [c.text for c in usage.calls[:2]]
    parts += usage.context_lines[:2]
    return " ".join(parts)[:400]


# Characters of code whose parsed trees stay cached. A tree takes about 38 times its code in memory (the 2,220 default
# blocks: 64.5 MB of code, 2.5 GB of trees), so the cache is bounded by the code it holds, not by a count: 4,096 entries
# (every block, and every Suggest's own code) could hold 2.5 GB in a long-running server.
PARSED_CODE_BUDGET = 4_000_000


@cached(LRUCache(maxsize=PARSED_CODE_BUDGET, getsizeof=lambda sized: sized[0]), lock=threading.Lock())
def _parsed_sized(code: str) -> tuple[int, ast.Module | None]:
    """(the code's length, its tree): the cache weighs an entry by the first. A code over the budget is not kept."""
    try:
        return max(len(code), 1), pyparse.parse(code)
    except (SyntaxError, ValueError, RecursionError):
        return max(len(code), 1), None


def _parsed(code: str) -> ast.Module | None:
    """``ast`` (not libcst) for the hot path: candidates read many blocks per name (shared trees: never changed)."""
    return _parsed_sized(code)[1]


HELPER_MATCHES = frozenset({"helper", "helper-alias", "block-import"})


def _take_helper(block: Any, name: str, wanted: set[str], seen: set[str], found: dict[str, Candidate],
                 add: Callable[[Any, str, str], None]) -> None:
    """Candidates for ``name`` from a block that may define or import it (once per block: ``seen``): its import of
    ``name`` from an installed package, ``name`` cut from its code (``helper``), or a helper of the name in another
    spelling (``helper-alias``)."""
    ident = getattr(block, "content_hash", "") or block.qualified_name
    if ident in seen:
        return
    seen.add(ident)
    flat = normalize(block.code)
    if not any(w.lstrip("_") in flat for w in wanted):
        return  # cheap text test before parsing
    defined = _top_level_defines(block.code)
    line = _import_of(block.code, name)
    if line is not None and _importable(line):
        # the store's own code imports it from an installed package: do the same
        key = f"import:{line}"
        if key not in found:
            found[key] = Candidate(name, name, "", "block-import", MATCH_WEIGHT["helper"] + 1.0, 1.0,
                                   f"imported the way {block.qualified_name} imports it", None, line)
    elif name in defined and name != block.name:
        add(block, name, "helper")
    else:
        for symbol in sorted(defined):
            if symbol != block.name and normalize(symbol).lstrip("_") in {w.lstrip("_") for w in wanted}:
                add(block, symbol, "helper-alias")
                return


def _top_level_defines(code: str) -> set[str]:
    tree = _parsed(code)
    if tree is None:
        return set()
    out = set()
    for stmt in tree.body:
        if isinstance(stmt, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            out.add(stmt.name)
        elif isinstance(stmt, ast.Assign):
            out.update(t.id for t in stmt.targets if isinstance(t, ast.Name))
    return out


@lru_cache(maxsize=1024)
def _extract(code: str, symbol: str) -> str | None:
    try:
        return extract_definition(code, {symbol})
    except cst.ParserSyntaxError:
        return None


def needs_missing_module(code: str, missing: list[str]) -> bool:
    """Whether ``code`` (a helper cut from a block) imports one of the block's ``missing`` modules.

    Why: a block that stops at import on mmcv may still hold a pure-torch helper (mmseg's ``nlc_to_nchw``, mmcv's
    ``kaiming_init``); the helper's closure is what goes into the model, so only its own imports count."""
    if not missing:
        return False
    tops = {dotted.lstrip(".").split(".")[0] for _, dotted in import_lines(code)}
    return bool(tops & set(missing))


def _validated_bonus(block: Any) -> float:
    """The store's weight of the last validation stage ``block`` passed (``indexer.store.LEVEL_WEIGHTS``: the same
    weights order same-name blocks there), 0 for a block never validated or with no stage failed."""
    validation = getattr(block, "validation", {}) or {}
    if not validation:
        return 0.0
    for stage in ("backward", "forward", "instantiate"):
        if block.passed(stage):
            return LEVEL_WEIGHTS[stage_index(stage)]
    failed = any(not v.get("ok") for v in validation.values())
    return LEVEL_WEIGHTS[0] if failed else 0.0


ABSTRACT_CLASS_ERROR = "Can't instantiate abstract class"


def is_abstract(block: Any) -> bool:
    """Whether validation found ``block`` an abstract class (its ``abstractmethod``s unimplemented): no call builds it.
    Why: by meaning, pytorch-forecasting's abstract ``RNN`` was tried for a ``PositionalEncoding`` and cost a check."""
    stage = (getattr(block, "validation", {}) or {}).get("instantiate") or {}
    return ABSTRACT_CLASS_ERROR in str(stage.get("error", ""))


# A block of an installed library (a ``pkg:`` source: torch, torchvision, timm) over one read from an archive or LEMUR;
# the store's same-name order weighs it the same (``indexer.store.INSTALLED_WEIGHT``)
INSTALLED_SOURCE_BONUS = INSTALLED_WEIGHT


def from_installed_library(block: Any) -> bool:
    """Whether ``block`` comes from an installed library (a ``pkg:`` source)."""
    provenance = getattr(block, "provenance", None)
    return str(getattr(provenance, "source", "")).startswith("pkg:")


def _installed_bonus(block: Any) -> float:
    """``INSTALLED_SOURCE_BONUS`` for a block an installed library defines.

    Why: that library is what the user's environment already runs and its maintainers keep; archives read in place
    (``pypi:``, ``wheel:``) and LEMUR fill the gaps. timm's ``PatchEmbed`` should come before a paper collection's
    copy that fits the call as well, while a block only the collection has (``BAMBlock``) still ranks on its own."""
    return INSTALLED_SOURCE_BONUS if from_installed_library(block) else 0.0


# A definition that fits only once call-site keywords are renamed ranks below one that fits as written, but an
# exact name with renames stays above a fitting alias (3.0 - 0.4 > 2.2). Each keyword dropped costs more: an exact name
# that fits once one keyword is dropped ties with a fitting alias (3.0 - 0.8 = 2.2), and keyword overlap decides.
RENAME_PENALTY = 0.4
DROP_PENALTY = 0.8
# A keyword only ``**kwargs`` takes costs half a drop: the block may forward it somewhere that uses it (timm's blocks
# pass ``**kwargs`` on to their layers), or ignore it (timm's ``MetaFormerBlock`` taking an MLP-Mixer's ``num_patch=``).
ABSORB_PENALTY = 0.4
MATCH_WEIGHT = {"exact": 3.0, "normalized": 2.6, "alias": 2.2, "helper": 2.4, "helper-alias": 2.0, "semantic": 1.0}


def _make_candidate(name: str, block: Any, symbol: str, match: str, usage: NameUsage, user_ids: set[str],
                    layout: str | None = None) -> Candidate | None:
    """``layout``: what the model feeds the name's instances (``fed_layout``), for the layers set in the block."""
    if symbol == block.name and (getattr(block, "missing_deps", None) or is_abstract(block)):
        return None
    code = block.code
    if symbol != block.name:
        code = _extract(code, symbol)
        if code is None or needs_missing_module(code, getattr(block, "missing_deps", None) or []):
            return None
    sig = definition_signature(code, symbol)
    if sig is None and symbol == block.name:
        return None
    defaults = layer_defaults(sig, code, getattr(getattr(block, "example", None), "init_kwargs", None), layout)
    defaults.update(layout_switches(sig, layout, usage))
    lacking = lacking_layers(name, code, symbol, defaults) if match in GUESSES else []
    if lacking:  # an activation it takes as a parameter is set to the stated one, and then no longer lacking
        defaults.update(stated_activation(sig, code, lacking))
        lacking = lacking_layers(name, code, symbol, defaults)
    sig = with_defaults(sig, defaults)
    shortcut = projection_shortcut(sig, code)
    # a block found by meaning must take the arguments as given (renamed at most): dropping some would let any block in
    edits = keyword_edits(sig, usage, allow_drops=match != "semantic", shortcut=bool(shortcut))
    usage = edited_usage(usage, edits)  # scored as the call sites will read after the edits
    compat = call_compatibility(sig, usage) if sig is not None else 0.5
    overlap = keyword_overlap(sig, usage)
    shared = identifiers(code)
    context = len(shared & user_ids) / (len(shared) ** 0.5 * max(len(user_ids), 1) ** 0.5) if shared else 0.0
    validated = _validated_bonus(block)
    unresolved_penalty = 0.5 if getattr(block, "unresolved", None) else 0.0
    size_penalty = min(len(code) / 40000.0, 0.5)
    edit_penalty = (RENAME_PENALTY if edits.renamed or edits.inverted or edits.flag_layers else 0.0) + DROP_PENALTY * len(edits.dropped)
    edit_penalty += ABSORB_PENALTY * len(absorbed_keywords(sig, usage))
    lacking_penalty = LACKING_PENALTY if lacking else 0.0
    score = (MATCH_WEIGHT[match] + 2.0 * compat + 1.0 * overlap + 1.0 * context + validated + _installed_bonus(block)
             - unresolved_penalty - size_penalty - edit_penalty - lacking_penalty)
    reason = (
        f"{match} match for '{name}' ({symbol} from {block.qualified_name}); call-site compatibility {compat:.2f}"
        f"{f' with keywords edited at the call sites ({edits.describe()})' if edits else ''}, "
        f"argument-name overlap {overlap:.2f}, validated={'yes' if validated > 0 else 'no'}"
    )
    if defaults:
        reason += f"; defaults set in the block: {', '.join(f'{k}={v}' for k, v in defaults.items())}"
    if shortcut:
        reason += f"; downsample: {SHORTCUT_DESCRIPTION}"
    labels = tuple(layer.label for layer in lacking)
    doubts = [f"its name states {' and '.join(labels)}, which {symbol} lacks"] if labels else []
    if labels:
        reason += f"; lacks the {' and '.join(labels)} its name states"
    return Candidate(name, symbol, code, match, score, compat, reason, block, edits=edits, defaults=defaults, shortcut=shortcut,
                     lacking=labels, doubts=doubts)


# What a block found under another name loses for each layer its name states and it lacks (``stated_layers``): as much
# as a layout misfit, more than what orders blocks of one name
LACKING_PENALTY = 1.0
# What a whole network of the model's very name loses where the model passes no class count: as much as a layout misfit
NETWORK_PENALTY = 1.0


def stated_activation(sig: Signature | None, code: str, lacking: list[StatedLayer]) -> dict[str, str]:
    """``{act_layer: "nn.SiLU"}`` where the name states an activation the block lacks and the block takes its activation
    as a parameter (torchvision's ``Conv2dNormActivation(activation_layer=nn.ReLU)`` for a ``ConvBNSiLU``)."""
    wanted = next((layer.layer for layer in lacking if layer.layer), "")
    params = [p for p in (sig.params + sig.kwonly if sig is not None else []) if p in ACTIVATION_LAYER_PARAMETERS]
    if not wanted or not params:
        return {}
    if binds_torch_nn(code):
        return {params[0]: wanted}
    return {params[0]: f"torch.{wanted}"} if binds_torch(code) else {}  # torchvision's ``torch.nn.ReLU``


@lru_cache(maxsize=512)
def binds_torch(code: str) -> bool:
    """Whether a block's top-level imports bind ``torch`` (``import torch``)."""
    try:
        body = pyparse.parse(code).body
    except (SyntaxError, ValueError, RecursionError):
        return False
    return any(isinstance(s, ast.Import) and any(a.name == "torch" and a.asname in (None, "torch") for a in s.names) for s in body)


def store_candidates(usage: NameUsage, store: Any, user_code: str, limit: int = 6,
                     token_ids: frozenset[str] = frozenset()) -> list[Candidate]:
    """Ranked candidates from the block store for one free name (best first, distinct code). ``token_ids``: the
    model's forward parameters the check feeds integer ids (``call_layout.token_id_parameters``)."""
    name = usage.name
    wanted = aliases(name)
    key = normalize(name)
    user_ids = identifiers(user_code)
    layout = fed_layout(_parsed(user_code), name, token_ids)
    found: dict[str, Candidate] = {}

    def add(block: Any, symbol: str, match: str) -> None:
        cand = _make_candidate(name, block, symbol, match, usage, user_ids, layout)
        if cand is None:
            return
        ident = cand.identity
        if ident not in found or found[ident].score < cand.score:
            found[ident] = cand

    for block in _safe(store.blocks_named, name):
        add(block, block.name, "exact")
    hits = list(_safe(store.lookup_symbol, name, k=20))
    for alias in sorted(wanted - {key}):
        hits += _safe(store.lookup_symbol, alias, k=10)
    if is_acronym(name):  # GRN -> GlobalResponseNorm
        for hit in _safe(store.lookup_initials, name, k=10):
            add(hit.block, hit.block.name, "alias")
    for hit in hits:
        block = hit.block
        bkey = normalize(block.name)
        if block.name == name:
            add(block, block.name, "exact")
        elif bkey == key or bkey.lstrip("_") == key.lstrip("_"):
            add(block, block.name, "normalized")
        elif bkey in wanted:
            add(block, block.name, "alias")
    for cand in layout_variants(usage, store, user_ids, layout):  # ConvNeXt's LayerNorm(..., data_format="channels_first")
        if cand.identity not in found or found[cand.identity].score < cand.score:
            found[cand.identity] = cand
    # a helper defined inside a stored block (functions like drop_path, constants, helper classes), unless a block of the
    # name itself can be called as the code calls it: torch's ``ChannelShuffle(groups)`` class must not hide
    # torchvision's ``channel_shuffle(x, groups)`` function from a model that calls ``channel_shuffle(x, 2)``; for a
    # function's name only a block of that exact name does (``names_a_function``)
    hiding = {"exact"} if names_a_function(name) else {"exact", "normalized"}
    if not any(c.match in hiding and c.compat > 0 for c in found.values()):
        pool = [h.block for h in hits] + [h.block for h in _safe(store.search, usage_query(usage), k=20)]
        pool += [h.block for h in _safe(store.search, name, k=20)]
        seen: set[str] = set()
        for block in pool:
            _take_helper(block, name, wanted, seen, found, add)
        if not any(c.match in HELPER_MATCHES and c.compat >= 1.0 and not c.edits for c in found.values()):
            # the searches reached no block that defines or imports it in a form the model calls as written: read the
            # blocks that do (pytorchcv's ``round_channels(channels, divisor=8)`` in every block the searches found, timm's
            # ``round_channels(channels, multiplier=1.0, ...)`` that the model's ``multiplier=`` needs in none)
            for block in _safe(store.blocks_binding, name, k=20):
                _take_helper(block, name, wanted, seen, found, add)
    if not any(c.match in {"exact", "normalized"} and c.compat > 0 for c in found.values()):
        for cand in kernel_variants(usage, store, user_code):  # conv_1x1_bn -> ConvBN(..., kernel_size=1)
            found.setdefault(cand.identity, cand)
    fitting = [c for c in found.values() if c.compat >= 1.0 and layout_misfit(c, layout) is None and not c.lacking]
    if len(callable_first(list(found.values()))) < limit or not fitting:
        # few name matches, or none can serve the call sites as written (an LLM's ``ResidualBlock(32, 64, stride=2)``
        # against blocks of that name that need other arguments) or take the layout the model feeds them (a GPT's
        # ``TransformerBlock`` fed tokens, where every block of the name works on 4-D maps): blocks that mean the same
        # and take these arguments, ranked by their score, so a failed check has somewhere to go next
        # a class attribute the model reads (``Block.expansion``) or a layout narrows the blocks that can serve: look further
        narrowed = bool(usage.attributes) or not fitting and (layout in WRONG_RANK or layout == TOKEN_IDS)
        query = usage_query(usage)
        hits = [] if is_table(usage) else semantic_hits(store, query, k=NARROWED_READ if narrowed else 10)
        meant = meaning_candidates(usage, hits, user_ids, layout)
        if len(hits) == NARROWED_READ and (usage.attributes and not meant or _none_take_ids(meant, layout)):
            # none of the 30 nearest has the class attributes the model reads, or takes the token ids it is fed: read
            # further. Why: 710 pytorchcv blocks took the 30 places nearest an SE-ResNet's
            # ``BottleneckResidualSEBlock``, none with the ``expansion`` the model reads, and the bottlenecks that have
            # it (timm's ``Bottle2neck``, 0.59) came 31st and after; ``nn.Embedding`` came 32nd for a text model's
            # ``TokenEmbedding(vocab_size, emb_size)``. Not for a layout of float tensors alone: read that deep, a GRU
            # came in for a ``PositionalEncoding``
            deeper = meaning_candidates(usage, semantic_hits(store, query, k=SEMANTIC_DEEP_READ)[NARROWED_READ:], user_ids, layout)
            meant += [c for c in deeper if layout != TOKEN_IDS or takes_token_ids(c)]
        for cand in meant:
            found.setdefault(cand.identity, cand)
    # a block found under another name (an alias, by meaning) must not be a whole network; one of the very name, a
    # helper such as timm's ``create_classifier(num_features, num_classes)`` too, is what the model calls
    cands = [c for c in found.values() if c.match in NAME_MATCHES or c.symbol == name or not is_whole_network(c, usage)]
    for cand in cands:
        if cand.block is not None and cand.match in NAME_MATCHES and is_whole_network(cand, usage):
            # smp's whole ``FPN`` segmentation model (encoder, hub weights) for an ``FPN(in_channels_list=..., out_channels=...)``
            # neck: below torchvision's ``FeaturePyramidNetwork``, and said
            cand.whole_network = True
            cand.score -= NETWORK_PENALTY
            cand.reason += "; a whole network (its constructor takes a class count) where the model passes none"
            cand.doubts.append(f"{cand.symbol} is a whole network (its constructor takes a class count), which the "
                               f"model's call does not pass: check that {name} means a network, not a block")
    cands = [sequence_stand_in(c, usage) for c in cands]
    names_before_guesses(cands)
    weigh_layout_and_family(cands, layout)
    cands = [layout_stand_in(c, layout) for c in cands]
    return package_diverse(sorted(callable_first(cands), key=_rank_key), limit)


NARROWED_READ = 30  # how far a meaning search reads for a name whose class attributes or layout narrow what serves
SEMANTIC_DEEP_READ = 120  # how far it reads when the nearest NARROWED_READ hold no block with the attributes read


def meaning_candidates(usage: NameUsage, hits: list[tuple[Any, float]], user_ids: set[str], layout: str | None) -> list[Candidate]:
    """Candidates for ``usage``'s name among meaning-search ``hits`` (block hit, cosine similarity): a block of the same
    kind (class or function) and of another name, sharing a word of the name or close enough in meaning, that takes
    the model's calls at least half (compatibility 0.5), has the attributes the model reads and is no whole network;
    scored by its fit plus its similarity and shared name words (at most about an alias match's weight)."""
    name = usage.name
    out = []
    for hit, similarity in hits:
        if hit.block.name == name or not _same_kind(name, hit.block.name):
            continue
        shared = word_overlap(name, hit.block.name)
        if shared == 0.0 and similarity < SEMANTIC_UNNAMED_MIN_SIMILARITY:
            continue  # nothing of the name, and only generic model context in common
        cand = _make_candidate(name, hit.block, hit.block.name, "semantic", usage, user_ids, layout)
        if cand is not None and cand.compat >= 0.5 and not lacks_attributes(cand, usage) and not is_whole_network(cand, usage):
            cand.score += similarity + 0.5 * shared
            cand.reason += f", cosine similarity {similarity:.2f}, shared name words {shared:.2f}"
            cand.doubts.insert(0, f"found by meaning (cosine similarity {similarity:.2f}), not by its name: "
                                  f"check that {cand.symbol} does what {name} should")
            out.append(cand)
    return out


# ``ConvNeXt`` is ``ConvNeXtBlock`` less a generic word, but a whole network is never the block a model builds
NAME_MATCHES = frozenset({"exact", "normalized"})
GUESS_MARGIN = 0.01  # how far below the best fitting block of the very name a guess (alias, meaning) is put
GUESSES = frozenset({"alias", "helper-alias", "semantic"})  # matches by another name than the model's


def names_before_guesses(cands: list[Candidate]) -> None:
    """No alias or meaning match above the best block of the very name that takes the model's calls as written
    (compatibility 1, no keyword edit) and ran forward in validation. Why: the size penalty and the shared-identifier
    term (together up to 1.5) outweighed the name (0.8): ``DepthwiseSeparableConv(32, 64, stride=2)`` got xception's
    ``SeparableConv2d``, whose default kernel is 1x1, over timm's ``DepthwiseSeparableConv`` (3x3 depthwise, BN, act),
    which scope closure makes 88 KB. Layout and family weighing come after, so a block of the name fed the wrong
    layout still loses."""
    own = {"exact"} if any(names_a_function(c.name) for c in cands) else NAME_MATCHES  # ``adaptive_avgmax_pool2d``: no class
    fitting = [c.score for c in cands if c.match in own and c.compat >= 1.0 and not c.edits and not c.whole_network
               and c.block is not None and c.block.passed("forward")]
    if not fitting:
        return
    ceiling = max(fitting) - GUESS_MARGIN
    for cand in cands:
        if cand.match in GUESSES and cand.score > ceiling:
            cand.score = ceiling
            cand.reason += "; ranked below the block of the model's own name that takes its calls as written"
# Below what separates an exact name from an alias: it orders blocks of one name that fit the call site alike
FAMILY_BONUS = 0.3
LAYOUT_PENALTY = 1.0  # a block validated on inputs of another rank than the model feeds it fails its forward
# A block validated on float input, fed integer token ids: its first layer fails on them whatever its name (a conv or a
# linear layer takes no integer tensor), so it goes below every block that took ids, an exact name's match included
IDS_PENALTY = 3.0


def example_rank(cand: Candidate) -> int | None:
    """The number of dimensions of the first input ``cand``'s block ran forward on in validation (None when unknown,
    or when ``cand`` is a helper cut from a block whose example is the block's own)."""
    block = cand.block
    example = getattr(block, "example", None)
    if block is None or cand.symbol != block.name or not example or not example.inputs:
        return None
    if not getattr(block, "validation", None) or not block.passed("forward"):
        return None
    first = example.inputs[0]
    return len(first) if isinstance(first, (list, tuple)) else None


def example_layout(cand: Candidate) -> str | None:
    """The layout of the input ``cand``'s block ran forward on in validation: tokens for [B, N, C]; for a 4-D map,
    channels-last when its two middle sizes match and the last differs ([2, 8, 8, 32]), channels-first when its last
    two match and the second differs ([2, 512, 32, 32]) or all three match (the validator tries [B, C, H, W] first);
    None when unknown."""
    rank = example_rank(cand)
    if rank == 3:
        return TOKENS
    if rank != 4:
        return None
    _, first, second, third = cand.block.example.inputs[0]  # type: ignore[union-attr]
    if first == second != third:
        return CHANNELS_LAST
    return CHANNELS_FIRST if second == third else None


# How a block validated on one layout takes another the model feeds it, and gives back what the model expects:
# (fed, validated on) -> forward's body after ``b, ... = x.shape``. Tokens become the square map they came from.
_LAYOUT_FORWARDS = {
    (TOKENS, CHANNELS_FIRST): ("3", "b, n, c = x.shape\n        side = int(round(n ** 0.5))",
                               "x.transpose(1, 2).reshape(b, c, side, side)", "y.flatten(2).transpose(1, 2)"),
    (TOKENS, CHANNELS_LAST): ("3", "b, n, c = x.shape\n        side = int(round(n ** 0.5))",
                              "x.reshape(b, side, side, c)", "y.reshape(b, -1, y.shape[-1])"),
    (CHANNELS_FIRST, TOKENS): ("4", "b, c, h, w = x.shape", "x.flatten(2).transpose(1, 2)",
                               "y.transpose(1, 2).reshape(b, -1, h, w)"),
}
_LAYOUT_WORDS = {TOKENS: "tokens [B, N, C]", CHANNELS_FIRST: "maps [B, C, H, W]", CHANNELS_LAST: "maps [B, H, W, C]"}


def layout_stand_in(cand: Candidate, layout: str | None) -> Candidate:
    """``cand`` defined for the model's name through a subclass (``adapter``) that reshapes what the model feeds it
    into the layout it was validated on, and its output back, when the two differ in rank: tokens [B, N, C] of a
    square map for a block of maps ([B, C, H, W] or [B, H, W, C]), a [B, C, H, W] map for a block of tokens. Its score
    keeps the layout penalty: a block that takes the layout as fed still comes first. ``cand`` itself otherwise.

    Why: LLM code feeds tokens to blocks whose library takes maps (SwiftFormer's ``EfficientAdditiveAttention``, Swin's
    blocks: the papers' code takes [B, N, C], timm's [B, H, W, C] or [B, C, H, W]), and the only blocks of the name
    failed their forward with "not enough values to unpack (expected 4, got 3)"."""
    validated = example_layout(cand) if layout in WRONG_RANK and cand.adapter == "" and cand.block is not None else None
    shape = _LAYOUT_FORWARDS.get((layout, validated)) if validated is not None else None  # type: ignore[arg-type]
    if shape is None:
        return cand
    rank, unpack, into, back = shape
    fed, wants = _LAYOUT_WORDS[layout], _LAYOUT_WORDS[validated]  # type: ignore[index]
    adapter = (f"class {cand.name}({cand.symbol}):\n"
               f'    """{cand.symbol} takes {wants}; the model feeds it {fed}: reshaped on the way in and out."""\n\n'
               f"    def forward(self, x, *args, **kwargs):\n"
               f"        if x.dim() != {rank}:\n"
               f"            return super().forward(x, *args, **kwargs)\n"
               f"        {unpack}\n"
               f"        y = super().forward({into}, *args, **kwargs)\n"
               f"        return {back}\n")
    return replace(cand, adapter=adapter, reason=cand.reason + f"; given {fed} reshaped to the {wants} it takes")


def _module_parts(cand: Candidate) -> tuple[str, str]:
    module = _module_of(cand)
    parent, _, last = module.rpartition(".")
    return parent, last


def family_module(cand: Candidate, cands: list[Candidate]) -> bool:
    """Whether ``cand`` comes from the module its family is named after: the module is named after the class
    in a model zoo (``timm.models.convnext.ConvNeXtBlock``, not maxxvit's copy), or other candidates of the
    same name come from modules named as its variants (``vision_transformer`` beside ``vision_transformer_sam``).

    Why: blocks of one name that fit the call alike were ordered by size and word overlap; the canonical definition,
    the one its library keeps and the others copy or vary, lost to a copy or a variant (SAM's windowed ``Block``)."""
    if cand.match not in NAME_MATCHES:
        return False  # it orders the blocks of the name asked for; a meaning match's own name says nothing of that
    parent, last = _module_parts(cand)
    family = normalize(last)
    if len(family) >= 3 and normalize(cand.symbol).startswith(family) and ".models." in f".{parent}.":
        return True  # a model family's file (a library's layer modules are named by kind: ``timm.layers.mlp``)
    variants = (_module_parts(c) for c in cands if c is not cand and c.symbol == cand.symbol and c.match in NAME_MATCHES)
    return bool(last) and any(p == parent and m.startswith(last + "_") for p, m in variants)


# The rank of input a block validated on that a layout cannot take: tokens [B, N, C] are no 4-D map, and a block
# validated on tokens (``nn.Linear`` on the last dimension) fails on [B, C, H, W]; a channels-last map fits either.
WRONG_RANK = {TOKENS: 4, CHANNELS_FIRST: 3}


# A class name that states the layout it takes: timm's ``PartitionAttentionCl`` / ``...2d`` pairs, ``LayerNorm2d``
_CHANNELS_LAST_NAME = re.compile(r"(?:Cl|_cl|NHWC|Nhwc|ChannelsLast|_channels_last)$")
_CHANNELS_FIRST_NAME = re.compile(r"(?:2d|2D|NCHW|Nchw)$")


def name_layout(name: str) -> str | None:
    """The layout a class name states (``PartitionAttentionCl``: channels-last; ``LayerNorm2d``: channels-first)."""
    if _CHANNELS_LAST_NAME.search(name):
        return CHANNELS_LAST
    return CHANNELS_FIRST if _CHANNELS_FIRST_NAME.search(name) else None


def _layout_conflict(cand: Candidate, layout: str | None) -> bool:
    """Whether ``cand``'s name states a layout the model does not feed it: a channels-last block for a map fed
    channels-first (or named ``...2d`` by the model), a ``...2d`` block for tokens or a channels-last map."""
    stated = name_layout(cand.symbol)
    wanted = layout or name_layout(cand.name)
    if stated is None or wanted is None or stated == wanted:
        return False
    return stated == CHANNELS_LAST and wanted == CHANNELS_FIRST or stated == CHANNELS_FIRST and wanted in (TOKENS, CHANNELS_LAST)


def weigh_layout_and_family(cands: list[Candidate], layout: str | None) -> None:
    """Add ``FAMILY_BONUS`` to candidates from their family's module (``family_module``) and take ``LAYOUT_PENALTY``
    from those validated on inputs of a rank the model's layout rules out (``fed_layout``: tokens [B, N, C] after
    ``x.flatten(2).transpose(1, 2)``, where visformer's ``Block`` takes [B, C, H, W] and SAM's [B, H, W, C]), and from
    those whose name states another layout (``_layout_conflict``: timm's ``PartitionAttentionCl`` took
    ``PartitionAttention2d``'s place on a conv feature map, and passed the check computing over the wrong axis)."""
    fresh = [c for c in cands if not c.weighed]
    for cand in [c for c in fresh if family_module(c, cands)]:
        cand.score += FAMILY_BONUS
        cand.reason += f", from the module its family is named after ({_module_of(cand)})"
    for cand in fresh:
        cand.weighed = True
        misfit = layout_misfit(cand, layout)
        if misfit:
            cand.score -= IDS_PENALTY if _float_fed_ids(cand, layout) else LAYOUT_PENALTY
            cand.reason += f", {misfit}"


def example_dtype(cand: Candidate) -> str | None:
    """The dtype of the first input ``cand``'s block ran forward on in validation (None when unknown: see
    ``example_rank``)."""
    if example_rank(cand) is None:
        return None
    dtypes = cand.block.example.input_dtypes  # type: ignore[union-attr]
    return dtypes[0] if dtypes else "float32"


def takes_token_ids(cand: Candidate) -> bool:
    """Whether ``cand``'s block ran forward on integer ids in validation (``nn.Embedding``, a BERT's embeddings)."""
    return example_dtype(cand) in INTEGER_DTYPES


def _float_fed_ids(cand: Candidate, layout: str | None) -> bool:
    """Whether the model feeds ``cand`` token ids and its block ran forward on float input in validation."""
    return layout == TOKEN_IDS and example_dtype(cand) not in (None, *INTEGER_DTYPES)


def _none_take_ids(cands: list[Candidate], layout: str | None) -> bool:
    return layout == TOKEN_IDS and not any(takes_token_ids(c) and c.compat >= 1.0 for c in cands)


def layout_misfit(cand: Candidate, layout: str | None) -> str | None:
    """Why ``cand`` cannot take the ``layout`` the model feeds it (validated on inputs of a rank that layout rules out,
    on float input where the model feeds it token ids, or named for another layout: ``_layout_conflict``); None when
    nothing says it cannot."""
    if _float_fed_ids(cand, layout):
        return f"validated on {example_dtype(cand)} input where the model feeds it integer token ids"
    rank = example_rank(cand) if layout in WRONG_RANK else None
    if rank is not None and rank == WRONG_RANK[layout]:  # type: ignore[index]
        return f"validated on {rank}-D input where the model feeds it {layout.replace('_', '-')} input"  # type: ignore[union-attr]
    if _layout_conflict(cand, layout):
        return f"named for {name_layout(cand.symbol).replace('_', '-')} input"  # type: ignore[union-attr]
    return _dimension_conflict(cand)


_DIMENSION_SUFFIX = re.compile(r"([123])[dD]$")
# Input ranks a block for data of 1 or 3 spatial dimensions never takes: a 1-D block gets [B, C, L] (or [B, C]), a
# 3-D one [B, C, D, H, W]; a block validated on a 2-D image's [B, C, H, W] is for neither
_WRONG_RANKS = {1: (4, 5), 3: (3, 4)}


def stated_dimensions(name: str) -> int | None:
    """The spatial dimensions a name states by its suffix (``SEBlock1D``: 1, ``ConvBlock3d``: 3), else None."""
    match = _DIMENSION_SUFFIX.search(name)
    return int(match.group(1)) if match else None


def _dimension_conflict(cand: Candidate) -> str | None:
    """Why ``cand`` is for data of other dimensions than the model's name states (``ResBlock1d``, ``ConvBlock3d``):
    named ``...2d``, or validated on a 2-D image's [B, C, H, W]. Why: an audio model's ``SqueezeExcite1d`` and a video
    model's ``ConvBlock3d`` got 2-D blocks first and failed (or were told to give the model 4-D input)."""
    wanted = stated_dimensions(cand.name)
    if wanted not in _WRONG_RANKS:
        return None
    stated = stated_dimensions(cand.symbol)
    if stated is not None:  # its own name says which data it is for; its validation's input was a guess
        return f"named for {stated}-D data where the model's name says {wanted}-D" if stated != wanted else None
    rank = example_rank(cand)
    if rank in _WRONG_RANKS[wanted]:  # type: ignore[index]
        return f"validated on {rank}-D input where the model's name says {wanted}-D data"
    return None


def _package(cand: Candidate) -> str:
    provenance = getattr(cand.block, "provenance", None)
    return str(getattr(provenance, "package", "") or "")


def package_diverse(ranked: list[Candidate], limit: int) -> list[Candidate]:
    """The first ``limit`` of ``ranked``, where each package's best candidate takes the place of the lowest-ranked
    of another package's second and later ones. Why: a library copies a helper into many model files (timm's five
    ``window_partition``, all taking a (height, width) tuple), the copies filled every place, and a model that
    passes an int had no candidate left to fall back to when the first copy failed."""
    top = ranked[:limit]
    for extra in ranked[limit:]:
        packages = [_package(c) for c in top]
        if _package(extra) in packages:
            continue
        repeated = [i for i, p in enumerate(packages) if packages.count(p) > 1]
        if not repeated:
            break
        top[repeated[-1]] = extra
    return sorted(top, key=_rank_key)


def callable_first(cands: list[Candidate]) -> list[Candidate]:
    """``cands`` without those the model's call sites cannot call (compatibility 0: ``mlp_ratio=`` to a block that takes
    no such argument) when any other can be called. Why: each of them costs a sandbox try that fails at instantiate,
    and takes a place in the ``limit`` a block that fits would have had."""
    fitting = [c for c in cands if c.compat > 0]
    return fitting if fitting else cands


KERNEL_IN_NAME = re.compile(r"^(?P<pre>[A-Za-z_]*?)_?(?P<k>[1-9])x(?P=k)_?(?P<post>[A-Za-z_]*)$")
KERNEL_PARAMETERS = frozenset({"kernel_size", "ksize", "kernel", "k_size", "k"})


def kernel_variants(usage: NameUsage, store: Any, user_code: str) -> list[Candidate]:
    """For a helper whose name states its kernel size (``conv_1x1_bn(inp, oup)``, ``conv_3x3_bn(inp, oup, stride)``,
    MobileNetV2's and MobileViT's reference code): the candidates of the name without it (``conv_bn`` -> timm's
    ``ConvBN``) whose third parameter is the kernel size, each defined through a function that passes the size there.

    Why: the libraries keep one block with a ``kernel_size`` argument where reference code spells a helper per size."""
    m = KERNEL_IN_NAME.match(usage.name)
    if m is None or not (m.group("pre") or m.group("post")):
        return []
    base = "_".join(p for p in (m.group("pre"), m.group("post")) if p)
    widened = replace(usage, name=base, calls=[
        replace(c, n_positional=c.n_positional + 1) if c.n_positional >= 2 else c for c in usage.calls])
    if not usage.calls or any(c.n_positional < 2 for c in usage.calls):
        return []  # the size goes third: both widths must come first
    out: list[Candidate] = []
    for cand in store_candidates(widened, store, user_code):
        sig = cand.signature
        if sig is None or len(sig.params) < 3 or sig.params[2] not in KERNEL_PARAMETERS or cand.compat <= 0:
            continue
        adapter = (f"def {usage.name}(in_channels, out_channels, *args, **kwargs):\n"
                   f"    return {cand.symbol}(in_channels, out_channels, {m.group('k')}, *args, **kwargs)\n")
        out.append(replace(cand, name=usage.name, match="alias", score=cand.score - RENAME_PENALTY, adapter=adapter,
                           reason=cand.reason + f"; '{usage.name}' is it with {sig.params[2]}={m.group('k')}"))
    return out


_DATA_FORMAT = re.compile(r"""data_format\s*=\s*["'](channels_first|channels_last)["']""")


def data_format(usage: NameUsage) -> str | None:
    """``channels_first`` / ``channels_last`` when every call of the name passes that ``data_format`` literal, else None."""
    formats = {m.group(1) if (m := _DATA_FORMAT.search(call.text)) else None for call in usage.calls}
    return formats.pop() if len(formats) == 1 else None


def layout_variants(usage: NameUsage, store: Any, user_ids: set[str], fed: str | None = None) -> list[Candidate]:
    """Blocks whose layout is what the calls' ``data_format`` asks for, with that keyword dropped at the calls:
    ConvNeXt's ``LayerNorm(dim, eps=1e-6, data_format="channels_first")`` is a ``LayerNorm2d``, its ``channels_last``
    form a plain ``LayerNorm``. Scored as the calls read without the keyword (it costs no meaning), and only blocks
    that take no ``data_format`` themselves (those that do are ordinary candidates).

    Why: ConvNeXt-style models written by LLMs carry the reference implementation's one LayerNorm with a layout
    switch; the libraries split it into two classes, and keeping ``data_format`` is what makes a block run right.
    ``fed``: what the model feeds the name's instances (``fed_layout``), for the layers set in the block."""
    layout = data_format(usage)
    if layout is None:
        return []
    plain = replace(usage, calls=[replace(c, keywords=[k for k in c.keywords if k != "data_format"]) for c in usage.calls])
    variant, match = (usage.name + "2d", "alias") if layout == "channels_first" else (usage.name, "exact")
    out: list[Candidate] = []
    for block in _safe(store.blocks_named, variant):
        sig = definition_signature(block.code, block.name)
        if sig is None or "data_format" in sig.params + sig.kwonly:
            continue
        cand = _make_candidate(usage.name, block, block.name, match, plain, user_ids, fed)
        if cand is not None and cand.compat > 0:
            cand.edits = replace(cand.edits, dropped=(*cand.edits.dropped, "data_format"))
            cand.reason += f"; data_format='{layout}' is the layout of this block"
            out.append(cand)
    return out


def _rank_key(cand: Candidate) -> tuple[float, int, str]:
    """Best score first; on a tie the shorter code, then a stable order."""
    return -cand.score, len(cand.code), cand.identity


COHERENCE_WEIGHT = 0.3  # a tie-breaker: less than what separates an exact name match from an alias


def _module_of(cand: Candidate) -> str:
    provenance = getattr(cand.block, "provenance", None)
    return getattr(provenance, "module", "") or ""


def rank_by_coherence(candidates: dict[str, list[Candidate]]) -> dict[str, list[Candidate]]:
    """Re-rank each name's candidates by how many of the model's other missing names their module also offers
    (by name, not by meaning search).

    Why: LLM code imitates one source file; ``conv3x3`` beside ``BasicBlock`` and ``conv1x1`` means torchvision's
    resnet helper (a plain 3x3 conv), not another model's ``conv3x3`` that also adds a BatchNorm."""
    if len(candidates) < 2:
        return candidates
    modules = {name: {_module_of(c) for c in cands if c.match != "semantic"} - {""} for name, cands in candidates.items()}
    out: dict[str, list[Candidate]] = {}
    for name, cands in candidates.items():
        others = [mods for other, mods in modules.items() if other != name]
        for cand in cands:
            module = _module_of(cand)
            shared = sum(module in mods for mods in others) if module else 0
            if shared:
                cand.score += COHERENCE_WEIGHT * shared / len(others)
                cand.reason += f", its module offers {shared} of the other {len(others)} missing names"
        out[name] = sorted(cands, key=_rank_key)
    return out


SEMANTIC_MIN_SIMILARITY = 0.3
# A block found by meaning that shares no word of the name must be this close: the query's call-site context alone
# (``self.x = Qwzxv_Frobnicator_9(3)``) reaches 0.3 with a LayerNorm.
SEMANTIC_UNNAMED_MIN_SIMILARITY = 0.4


# How many more meaning hits to read than asked for, so that blocks which stop at import can be passed over
SEMANTIC_OVERREAD = 3


def semantic_hits(store: Any, query: str, k: int = 10) -> list[tuple[Any, float]]:
    """Meaning search, keeping only hits whose embedding is close enough to the query's:
    rank fusion alone says nothing about absolute relevance, so an unknown name would
    otherwise always get *some* block. Blocks that stop at import on a missing module are passed over: no call can
    use them (``_make_candidate``), and mmpretrain's graph convolutions took 7 of the 10 places a GCN's
    ``GraphConvolution`` had."""
    try:
        vector = store.embedder.encode([query])[0]
        hits = store.search(query, k=k * SEMANTIC_OVERREAD, vector=vector, mode="vector")
        out = []
        for hit in hits:
            block_id = store.id_of_hash(hit.block.content_hash)
            if block_id is None or getattr(hit.block, "missing_deps", None):
                continue
            similarity = float(store.vectors([block_id])[0] @ vector)
            if similarity >= SEMANTIC_MIN_SIMILARITY:
                out.append((hit, similarity))
        return out[:k]
    except (AttributeError, KeyError, ValueError, LookupError):
        return []


def _import_of(code: str, name: str) -> str | None:
    """The import statement by which ``code`` binds ``name`` (absolute imports only)."""
    tree = _parsed(code)
    if tree is None:
        return None
    for stmt in tree.body:
        if isinstance(stmt, ast.ImportFrom) and stmt.module and not stmt.level:
            for alias in stmt.names:
                if (alias.asname or alias.name) == name:
                    suffix = f" as {alias.asname}" if alias.asname and alias.asname != alias.name else ""
                    return f"from {stmt.module} import {alias.name}{suffix}"
        elif isinstance(stmt, ast.Import):
            for alias in stmt.names:
                if alias.asname == name:
                    return f"import {alias.name} as {name}"
                if alias.asname is None and alias.name.split(".")[0] == name:
                    return f"import {alias.name}"
    return None


def _importable(line: str) -> bool:
    top = line.split()[1].split(".")[0]
    return installed(top)


def is_table(usage: NameUsage) -> bool:
    """Whether the model only reads the name by key (``ACT2FN[hidden_act]``, DARTS' ``OPS[primitive](C, stride)``): a
    mapping, which no class or function found by meaning can stand for. Why: timm's ``LayerNormAct2dFp32`` and two
    more meaning matches were inserted for transformers' ``ACT2FN`` (``heldout18/12``), each costing a check."""
    return usage.subscripted and not (usage.calls or usage.attributes or usage.as_base or usage.as_decorator)


def _same_kind(name: str, symbol: str) -> bool:
    """CamelCase names are classes, snake_case ones functions, and a loss (``...Loss``) stands only for a loss: a
    semantic match keeps the kind. Why the loss: torch's ``TripletMarginLoss`` was the meaning match for an LLM's
    ``TripletAttention`` and cost a check, failing in ``forward``."""
    same_case = name.lstrip("_")[:1].isupper() == symbol.lstrip("_")[:1].isupper()
    return same_case and name.lower().endswith("loss") == symbol.lower().endswith("loss")


def _safe(fn, *args, **kwargs) -> list:
    """Store lookups return lists; a failing lookup must not sink the whole patch."""
    try:
        return list(fn(*args, **kwargs) or [])
    except (KeyError, ValueError, LookupError):
        return []
