"""Guess inputs for a built module: candidate (input shapes, dtypes), best first.

Runs inside the sandboxed child, on a module built from untrusted code, so it only
reads the module (attributes, submodules, the forward signature) and imports
nothing but torch. Why a list: a block's expected input is rarely written down;
the first layer it reaches (Conv2d in_channels, Linear in_features, an Embedding,
a LayerNorm's normalized_shape) and attributes such as ``in_chs``/``dim``/
``img_size`` narrow it to a handful of shapes that the runner tries in order.
Shapes are small (batch 2, 32x32 images, 16 tokens) so a failed guess is cheap.
"""

from __future__ import annotations

import ast
import inspect
import math
import re
import textwrap
from typing import Any

import torch
from torch import nn
from torch.nn.parameter import is_lazy

Proposal = tuple[list[list[int]], list[str]]

BATCH = 2
TOKENS = 16  # a square (4x4) so blocks that fold tokens back to a grid accept it
IMAGE = 32
MAX_PROPOSALS = 16
MAX_ELEMENTS = 2 * 64 * 128 * 128  # one input tensor, in elements

_CHANNEL_ATTRS = (
    "in_chs", "in_channels", "in_chans", "in_planes", "inplanes", "in_ch", "c1", "inp",
    "num_channels", "channels", "chs",
)
_DIM_ATTRS = (
    "dim", "embed_dim", "in_dim", "d_model", "hidden_size", "hidden_dim", "in_features",
    "num_features", "input_dim", "dim_in", "width", "normalized_shape", "num_embeds",
)
_IMG_ATTRS = ("img_size", "image_size", "input_size", "resolution", "input_resolution", "feat_size", "grid_size")
_TOKEN_HINT_ATTRS = ("num_heads", "heads", "n_heads", "nhead", "head_dim", "qkv", "to_qkv", "attn", "mlp")


def propose_inputs(module: nn.Module, size_hint: tuple[int, int] | None = None) -> list[Proposal]:
    """Candidate ``(shapes, dtypes)`` for ``module.forward``, best first, deduplicated.

    ``size_hint``: an (H, W) the module was constructed for (its ``feat_size=``/``img_size=``
    argument) when the module does not keep it as an attribute of its own (timm's
    BottleneckAttn hands it to a relative-position table that asserts the input's size)."""
    proposals: list[Proposal] = []
    n_required = _required_forward_args(module)
    first = _first_leaf(module)
    image_hw = _image_size(module) or _pair(size_hint) or _window_multiple(module)
    channels = _int_attr(module, _CHANNEL_ATTRS)
    dim = _int_attr(module, _DIM_ATTRS)
    if _is_loss(module):
        proposals += _loss_inputs(dim or channels)
    fold = _fold_input(module)
    if fold:
        proposals.append(([fold], ["float32"]))
    tokenish = _looks_token_based(module)

    if _is(first, "Embedding", "EmbeddingBag"):
        proposals.append(([[BATCH, TOKENS]], ["int64"]))
    if _is(first, "Conv2d", "ConvTranspose2d", "LazyConv2d") or (channels and not tokenish):
        c = _conv_in(first, 2) or channels or 3
        for hw in _image_sizes(image_hw, _grid_anywhere(module), _first_stride(module)):
            proposals.append(([[BATCH, c, hw[0], hw[1]]], ["float32"]))
        if BATCH * c * IMAGE * IMAGE > MAX_ELEMENTS:
            # a wide input (Inception's 1088-channel blocks): smaller maps keep it within the budget
            proposals += [([[BATCH, c, 16, 16]], ["float32"]), ([[BATCH, c, 8, 8]], ["float32"])]
    if _is(first, "Conv1d", "ConvTranspose1d"):
        c = _conv_in(first, 1) or channels or 3
        proposals += [([[BATCH, c, 32]], ["float32"]), ([[BATCH, c, 64]], ["float32"])]
        # (batch, time, features) sequences a forward transposes first (audio frames, time series): a hint of
        # `--input-shape 2,40,32` for a (B, T, 40) model failed again
        proposals.append(([[BATCH, TOKENS, c]], ["float32"]))
    if _is(first, "Conv3d", "ConvTranspose3d"):
        c = _conv_in(first, 3) or channels or 3
        proposals += [([[BATCH, c, 4, 32, 32]], ["float32"]), ([[BATCH, c, 8, 64, 64]], ["float32"])]
    if _is(first, "Linear") or tokenish or dim:
        f = first.in_features if _is(first, "Linear") else (dim or channels)
        if f:
            grid = image_hw or (4, 4)
            token_shapes = [[BATCH, TOKENS, f], [BATCH, grid[0] * grid[1], f], [BATCH, f], [BATCH, grid[0], grid[1], f]]
            if not tokenish and _is(first, "Linear"):
                token_shapes = [[BATCH, f]] + token_shapes
            for shape in token_shapes:
                proposals.append(([shape], ["float32"]))
    if _is(first, "LayerNorm", "RMSNorm"):
        ns = list(first.normalized_shape) if isinstance(first.normalized_shape, (tuple, list)) else [int(first.normalized_shape)]
        proposals += [([[BATCH, TOKENS, *ns]], ["float32"]), ([[BATCH, *ns]], ["float32"])]
    if _is(first, "BatchNorm2d", "GroupNorm", "InstanceNorm2d"):
        c = getattr(first, "num_features", None) or getattr(first, "num_channels", None)
        if c:
            proposals.append(([[BATCH, c, 16, 16]], ["float32"]))
    if _is(first, "BatchNorm1d"):
        n = first.num_features or 16  # 0 for a lazy one: any width
        proposals += [([[BATCH, n]], ["float32"]), ([[BATCH, n, 16]], ["float32"])]
    # norms that also take an unbatched input of one rank less: their batched rank goes first
    if _is(first, "InstanceNorm1d"):
        proposals.insert(0, ([[BATCH, first.num_features or 16, 16]], ["float32"]))
    if _is(first, "BatchNorm3d", "InstanceNorm3d"):
        proposals.insert(0, ([[BATCH, first.num_features or 16, 4, 8, 8]], ["float32"]))
    if channels or dim:
        c = channels or dim
        # channels-last blocks (timm *Cl modules, ConvNeXt-style blocks) take NHWC
        proposals.append(([[BATCH, 8, 8, c]], ["float32"]))
        proposals.append(([[BATCH, c, 16, 16]], ["float32"]))
    conv = next((m for m in module.modules() if _is(m, "Conv2d")), None)
    hw = image_hw or (IMAGE, IMAGE)
    if conv is not None and conv is not first:
        # the first Conv2d anywhere (a norm or a Linear was registered before it)
        proposals += [([[BATCH, conv.in_channels, hw[0], hw[1]]], ["float32"]), ([[BATCH, conv.in_channels, 16, 16]], ["float32"])]
    width = channels or dim or _first_vector_param(module) or _first_width(module)
    if width:
        # blocks with no telling first layer: NCHW, NHWC and tokens at the width they normalise
        grid = _grid_anywhere(module)
        proposals += [([[BATCH, width, hw[0], hw[1]]], ["float32"]), ([[BATCH, hw[0], hw[1], width]], ["float32"])]
        if grid:
            proposals.append(([[BATCH, grid[0] * grid[1], width]], ["float32"]))
        proposals += [([[BATCH, width, 16, 16]], ["float32"]), ([[BATCH, TOKENS, width]], ["float32"])]
    fixed_tokens = _tokens_from_bias_index(module)
    if fixed_tokens:
        # attention with a learned bias per token pair (LeViT, EfficientFormer, EfficientViT):
        # the token count is fixed by that table; the grid is its square root
        side = math.isqrt(fixed_tokens)
        front = []
        for w in _width_candidates(module):
            front.append(([[BATCH, fixed_tokens, w]], ["float32"]))
            if side * side == fixed_tokens:
                front.append(([[BATCH, w, side, side]], ["float32"]))
        proposals = front + proposals
    bias = _attention_bias_shape(module)
    if bias:
        # relative-position bias modules take the attention scores (B, heads, N, N) of one window
        proposals.insert(0 if "pos" in type(module).__name__.lower() else len(proposals), ([bias], ["float32"]))
    proposals += _fallbacks()
    proposals = _dedupe(proposals)
    if n_required > 1:
        proposals = [_repeat(p, n_required) for p in proposals] + proposals
    elif n_required == 0 and not _has_var_positional(module):
        proposals = [([], [])] + proposals
    return _dedupe(proposals)[:MAX_PROPOSALS]


def _tokens_from_bias_index(module: nn.Module) -> int | None:
    """N of the first (N, N) index buffer (``attention_bias_idxs``) anywhere in the module."""
    for name, buf in module.named_buffers():
        leaf = name.rsplit(".", 1)[-1].lower()
        if ("idx" in leaf or "index" in leaf) and buf.dim() == 2 and buf.shape[0] == buf.shape[1] and 1 < buf.shape[0] <= 4096:
            return int(buf.shape[0])
    return None


def _width_candidates(module: nn.Module) -> list[int]:
    """Widths the input may have: declared ones, the first layer's, the first conv's times the
    heads (per-head convs on channel chunks), the last layer's output."""
    first = _first_leaf(module)
    heads = _int_attr(module, ("num_heads", "heads", "n_heads"))
    conv_in = _conv_in(first, 2) or next((int(m.in_channels) for m in module.modules() if _is(m, "Conv2d")), None)
    last = None
    for m in module.modules():
        if _is(m, "Linear"):
            last = int(m.out_features)
        elif _is(m, "Conv2d"):
            last = int(getattr(m, "out_channels", 0)) or last
    out = [_int_attr(module, _DIM_ATTRS), _int_attr(module, _CHANNEL_ATTRS), _first_width(module), conv_in,
           conv_in * heads if conv_in and heads else None, last]
    return list(dict.fromkeys(w for w in out if w))


def _fold_input(module: nn.Module) -> list[int] | None:
    """nn.Fold takes (N, C * prod(kernel_size), L) with L the number of sliding blocks."""
    if not _is(module, "Fold"):
        return None
    attrs = vars(module)
    size, kernel = _pair(attrs.get("output_size")), _pair(attrs.get("kernel_size"))
    dilation, padding, stride = (_pair(attrs.get(k)) or (1, 1) if k != "padding" else _pair(attrs.get(k)) or (0, 0)
                                 for k in ("dilation", "padding", "stride"))
    if attrs.get("padding") == 0:
        padding = (0, 0)
    if not size or not kernel:
        return None
    blocks = [(size[i] + 2 * padding[i] - dilation[i] * (kernel[i] - 1) - 1) // stride[i] + 1 for i in (0, 1)]
    if min(blocks) <= 0:
        return None
    return [BATCH, kernel[0] * kernel[1], blocks[0] * blocks[1]]


def _fallbacks() -> list[Proposal]:
    return [
        ([[BATCH, 3, IMAGE, IMAGE]], ["float32"]),
        ([[BATCH, 16, 16, 16]], ["float32"]),
        ([[BATCH, TOKENS, 32]], ["float32"]),
        ([[BATCH, 32]], ["float32"]),
        ([[BATCH, 3, 64, 64]], ["float32"]),
        ([[BATCH, 3, 224, 224]], ["float32"]),
    ]


def _loss_inputs(width: int | None = None) -> list[Proposal]:
    """Losses take (input, target): class logits + int labels, or two same-shape tensors.
    A loss with its own width (``AdaptiveLogSoftmaxWithLoss(in_features, ...)``) takes
    features of that width and int labels first."""
    own = [([[BATCH, width], [BATCH]], ["float32", "int64"])] if width else []
    return own + [
        ([[BATCH, 10], [BATCH]], ["float32", "int64"]),
        ([[BATCH, 10], [BATCH, 10]], ["float32", "float32"]),
        ([[BATCH, 10], [BATCH, 10], [BATCH]], ["float32", "float32", "float32"]),
    ]


def _is_loss(module: nn.Module) -> bool:
    name = type(module).__name__
    return _is(module, "_Loss") or name.endswith("Loss") or name.endswith("CrossEntropy")


def _required_forward_args(module: nn.Module) -> int:
    """Positional parameters of forward without defaults (0 when unknown)."""
    try:
        params = inspect.signature(module.forward).parameters.values()
    except (TypeError, ValueError):
        return 1
    return sum(
        1 for p in params
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
    )


def _has_var_positional(module: nn.Module) -> bool:
    try:
        return any(p.kind == p.VAR_POSITIONAL for p in inspect.signature(module.forward).parameters.values())
    except (TypeError, ValueError):
        return False


def _first_leaf(module: nn.Module) -> nn.Module | None:
    """The first registered module that holds parameters or is a known input layer."""
    input_layers = (
        "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d",
        "Linear", "Embedding", "EmbeddingBag", "LayerNorm", "BatchNorm1d", "BatchNorm2d", "BatchNorm3d",
        "GroupNorm", "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d", "RMSNorm",
    )
    for sub in module.modules():
        if _is(sub, *input_layers):
            return sub
    return None


_LAYER_ATTRS = {
    "Conv": ("in_channels", "kernel_size"), "Linear": ("in_features",), "Embedding": ("num_embeddings",),
    "LayerNorm": ("normalized_shape",), "RMSNorm": ("normalized_shape",), "BatchNorm": ("num_features",),
    "GroupNorm": ("num_channels",), "InstanceNorm": ("num_features",),
}


def _is(module: object, *names: str) -> bool:
    """Whether ``module`` is one of the torch.nn layers ``names``, by class name along its MRO.

    By name, not isinstance: a mined block of torch.nn is a copy of the layer's class
    (``class Conv2d(_ConvNd)`` defined in the block), not ``torch.nn.Conv2d`` itself. The
    layer's attributes must be there too, so an unrelated class called ``Linear`` is not taken.
    """
    if module is None:
        return False
    mro = {cls.__name__ for cls in type(module).__mro__}
    for name in names:
        if name in mro:
            needed = next((attrs for prefix, attrs in _LAYER_ATTRS.items() if name.startswith(prefix)), ())
            if all(hasattr(module, a) for a in needed):
                return True
    return False


def _first_vector_param(module: nn.Module) -> int | None:
    for tensor in list(module.parameters(recurse=False)) + list(module.buffers(recurse=False)):
        if is_lazy(tensor):  # a lazy layer's (LazyLinear) shapes come from its first input
            continue
        if tensor.dim() == 1 and tensor.numel() > 1:
            return int(tensor.numel())
        if tensor.dim() == 4 and tensor.shape[0] == 1 and tensor.shape[2:] == (1, 1):
            return int(tensor.shape[1])
    return None


def _conv_in(layer: nn.Module | None, ndim: int) -> int | None:
    if _is(layer, "_ConvNd") and isinstance(layer.kernel_size, tuple) and len(layer.kernel_size) == ndim:
        return int(layer.in_channels)
    return None


def _int_attr(module: nn.Module, names: tuple[str, ...]) -> int | None:
    for name in names:
        value = getattr(module, name, None) if name in _plain_attrs(module) else None
        if isinstance(value, bool):
            continue
        if isinstance(value, int) and 0 < value <= 4096:
            return value
        if isinstance(value, (tuple, list, torch.Size)) and len(value) == 1 and isinstance(value[0], int):
            return int(value[0])
    return None


def _plain_attrs(module: nn.Module) -> set[str]:
    return set(vars(module))


def _image_size(module: nn.Module) -> tuple[int, int] | None:
    """An image size the module insists on (timm PatchEmbed.img_size and the like)."""
    for holder in [module] + [m for _, m in list(module.named_children())[:3]]:
        attrs = _plain_attrs(holder)
        for name in _IMG_ATTRS:
            if name not in attrs:
                continue
            hw = _pair(getattr(holder, name))
            if hw and name in ("feat_size", "grid_size", "input_resolution") and holder is module:
                return hw
            if hw and name not in ("feat_size", "grid_size", "input_resolution"):
                return hw
    return None


def _attention_bias_shape(module: nn.Module) -> list[int] | None:
    attrs = vars(module)
    shape = attrs.get("bias_shape")  # timm RelPosBias: (N, N, heads)
    if isinstance(shape, (tuple, list)) and len(shape) == 3 and all(isinstance(v, int) for v in shape) and shape[0] == shape[1] <= 256:
        return [BATCH, shape[2], shape[0], shape[1]]
    ws, heads = _pair(attrs.get("window_size")), attrs.get("num_heads")
    if not ws or not isinstance(heads, int) or isinstance(heads, bool) or heads <= 0:
        return None
    prefix = attrs.get("prefix_tokens", attrs.get("num_prefix_tokens", 0))
    n = ws[0] * ws[1] + (prefix if isinstance(prefix, int) and not isinstance(prefix, bool) else 0)
    return [BATCH, heads, n, n] if n <= 256 else None


def _first_width(module: nn.Module) -> int | None:
    for sub in module.modules():
        if _is(sub, "LayerNorm", "RMSNorm"):
            shape = sub.normalized_shape
            return int(shape[-1] if isinstance(shape, (tuple, list)) else shape)
        if _is(sub, "Linear"):
            return int(sub.in_features)
    return None


def _grid_anywhere(module: nn.Module) -> tuple[int, int] | None:
    """A token grid some submodule was built for (LeViT ``resolution``, Swin ``input_resolution``)."""
    for sub in module.modules():
        attrs = vars(sub)
        for name in ("input_resolution", "resolution", "feat_size", "grid_size"):
            hw = _pair(attrs.get(name))
            if hw and hw[0] * hw[1] <= 4096:
                return hw
    return None


def _window_multiple(module: nn.Module) -> tuple[int, int] | None:
    """An image size that windowed attention (Swin, DaVit, GCViT: window 7) divides evenly."""
    for sub in module.modules():
        ws = _pair(vars(sub).get("window_size"))
        if ws and ws != (1, 1) and (ws[0] > 4 or ws[1] > 4 or 32 % ws[0] or 32 % ws[1]):
            return (min(ws[0] * 8, 64), min(ws[1] * 8, 64))
    return None


def _pair(value: Any) -> tuple[int, int] | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and 0 < value <= 1024:
        return (value, value)
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(isinstance(v, int) and 0 < v <= 1024 for v in value):
        return (int(value[0]), int(value[1]))
    return None


def _image_sizes(fixed: tuple[int, int] | None, grid: tuple[int, int] | None = None, stride: int = 1) -> list[tuple[int, int]]:
    """``fixed`` first; a token grid some inner layer was built for (MaxVit's partition
    grid) scaled back through the first layer's stride comes next."""
    sizes = [fixed] if fixed else []
    if grid and stride > 1:
        sizes.append((grid[0] * stride, grid[1] * stride))
    return sizes + [(IMAGE, IMAGE), (64, 64), (35, 35), (224, 224), (299, 299)]


def _first_stride(module: nn.Module) -> int:
    """The stride of the first strided Conv2d (a downsampling block's input is that much larger)."""
    for sub in module.modules():
        if _is(sub, "Conv2d"):
            stride = getattr(sub, "stride", 1)
            stride = stride[0] if isinstance(stride, tuple) and stride else stride
            if isinstance(stride, int) and 1 < stride <= 4:
                return stride
    return 1


def _looks_token_based(module: nn.Module) -> bool:
    """Attention / transformer / MLP-on-tokens modules take (B, N, C)."""
    name = type(module).__name__.lower()
    if any(k in name for k in ("attn", "attention", "transformer", "mlp", "tokens", "encoderlayer")):
        return not any(_is(m, "Conv2d") for m in module.children())
    attrs = _plain_attrs(module) | set(dict(module.named_children()))
    return any(a in attrs for a in _TOKEN_HINT_ATTRS[:4]) and not any(_is(m, "Conv2d") for m in module.modules())


def _repeat(proposal: Proposal, n: int) -> Proposal:
    shapes, dtypes = proposal
    if not shapes or len(shapes) == n:
        return proposal  # nothing to repeat, or already one tensor per argument (a loss's input and target)
    return [shapes[0]] * n, [dtypes[0]] * n


def _dedupe(proposals: list[Proposal]) -> list[Proposal]:
    seen: set[str] = set()
    out: list[Proposal] = []
    for shapes, dtypes in proposals:
        key = repr((shapes, dtypes))
        if key not in seen and all(math.prod(s) <= MAX_ELEMENTS for s in shapes):
            seen.add(key)
            out.append((shapes, dtypes))
    return out


# --- structured inputs ------------------------------------------------------------------
#
# Some blocks take more than tensors: lists of feature maps (FPN necks, detection heads),
# dicts of them, (H, W) sizes or ints next to a token tensor, boxes, lists of images.
# An input spec describes one argument as JSON (``Example.input_specs``), and
# ``sandbox.runner.build_input`` makes the value:
#   {"kind": "tensor", "shape": [...], "dtype": "float32", "range": [lo, hi] (optional)}
#   {"kind": "boxes", "count": K, "image": [H, W], "batch_index": B or null}  (x1, y1, x2, y2 inside the image)
#   {"kind": "list" | "tuple", "items": [spec, ...]}, {"kind": "dict", "items": {key: spec}}
#   {"kind": "value", "value": json}, {"kind": "object", "class": name, "args": [spec, ...]}
# The spec is read from forward's signature: annotations first, then parameter names.

Spec = dict[str, Any]
_GRIDS = ((8, 8), (4, 4), (7, 7), (14, 14))
_SIZE_NAMES = {"size", "hw", "feat_size", "thw", "shape", "input_size", "spatial_shape", "grid_size", "x_size", "hw_shape", "hw_size", "resolution"}
_INT_NAMES = {"h": 0, "height": 0, "w": 1, "width": 1}


def propose_structured(module: nn.Module) -> list[list[Spec]]:
    """Candidate argument specs for a forward that takes more than plain tensors, best first;
    [] when every required argument looks like a tensor."""
    params = _forward_params(module)
    if _is_graph(params):
        return _graph_specs(module, params)
    if _is_loss(module) and len(params) >= 2:
        # probabilities and targets in [0, 1] (BCELoss refuses anything else)
        probs = {"kind": "tensor", "shape": [BATCH, 10], "dtype": "float32", "range": [0.05, 0.95]}
        return [[probs] * len(params)]
    if len(params) >= 2 and all(_kind(name, ann) == "tensor" for name, ann in params):
        return _per_argument_tensors(module, [name for name, _ in params])
    if not params or all(_kind(name, ann) == "tensor" for name, ann in params):
        return []
    plain = [shapes[0] for shapes, _ in propose_inputs(module) if len(shapes) >= 1][:3]
    if any(_kind(n, a) in ("int", "size") for n, a in params):
        # a token tensor beside its (H, W): (B, N, C) at the width the module works at
        width = _int_attr(module, _DIM_ATTRS) or _int_attr(module, _CHANNEL_ATTRS) or _first_width(module) or _conv_in(_first_leaf(module), 2)
        if width:
            plain.insert(1, [BATCH, TOKENS, width])
    out: list[list[Spec]] = []
    for grid in _GRIDS:
        for extra in (0, 1):  # tokens = the grid, or the grid plus a class token
            for base in plain:
                specs = _specs_for(module, params, grid, extra, base)
                if specs is not None and specs not in out:
                    out.append(specs)
            if not any(_kind(n, a) in ("int", "size") for n, a in params):
                break
        if not any(_kind(n, a) in ("int", "size") for n, a in params) and out:
            break
    return out[:MAX_PROPOSALS]


# Graph layers (PyTorch Geometric and the like) take node features beside an edge list: ``x`` (N, C),
# ``edge_index`` (2, E) of node ids, per-edge ``edge_attr`` / ``edge_weight``, per-node ``pos`` / ``z`` /
# ``batch``. Node ids come from make_inputs' integers in [0, 10), so 10 nodes make every id valid.
GRAPH_NODES = 10
GRAPH_EDGES = 24
_GRAPH_MARKERS = {"edge_index", "adj_t", "pos"}
_EDGE_ATTR_ATTRS = ("edge_dim", "edge_channels", "num_edge_features", "edge_features")


def _is_graph(params: list[tuple[str, str]]) -> bool:
    return any(name.lower() in _GRAPH_MARKERS for name, _ in params)


def _graph_specs(module: nn.Module, params: list[tuple[str, str]]) -> list[list[Spec]]:
    """One candidate per plausible node-feature width (the module's in_channels/dim, its first
    Linear, 16); the other arguments get the shape their name implies."""
    widths = [w for w in (_int_attr(module, _CHANNEL_ATTRS), _int_attr(module, _DIM_ATTRS), _first_width(module), 16) if w]
    edge_width = _int_attr(module, _EDGE_ATTR_ATTRS)
    out: list[list[Spec]] = []
    atoms = any(name.lower() == "pos" for name, _ in params)  # z beside positions: atomic numbers, else node latents
    for width in dict.fromkeys(widths):
        specs = [_graph_arg(name.lower(), width, edge_width or width, atoms) for name, _ in params]
        if specs not in out:
            out.append(specs)
    return out[:MAX_PROPOSALS]


def _graph_arg(name: str, width: int, edge_width: int, atoms: bool) -> Spec:
    def tensor(shape: list[int], dtype: str = "float32") -> Spec:
        return {"kind": "tensor", "shape": shape, "dtype": dtype}

    if name in ("edge_index", "adj_t"):
        return tensor([2, GRAPH_EDGES], "int64")
    if name in ("edge_type", "edge_label"):
        return tensor([GRAPH_EDGES], "int64")
    if name == "edge_weight":
        return tensor([GRAPH_EDGES])
    if name == "edge_attr":
        return tensor([GRAPH_EDGES, edge_width])
    if name == "pos":
        return tensor([GRAPH_NODES, 3])
    if name in ("batch", "node_type") or (name == "z" and atoms):
        return tensor([GRAPH_NODES], "int64")
    return tensor([GRAPH_NODES, width])


def _forward_params(module: nn.Module, depth: int = 0) -> list[tuple[str, str]]:
    """(name, annotation text) of forward's required positional parameters. An unannotated
    parameter gets the annotation its use implies: iterated or ``len()``-ed -> a list of tensors,
    read by string key or ``.items()`` -> a dict, handed whole to a child module -> that
    child's annotation (RetinaNetHead passes ``x`` to heads that take ``List[Tensor]``)."""
    try:
        parameters = inspect.signature(module.forward).parameters.values()
    except (TypeError, ValueError):
        return []
    out = []
    tree = None
    for p in parameters:
        if p.kind not in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) or p.default is not p.empty:
            continue
        ann = p.annotation
        if ann is not p.empty and isinstance(ann, type) and ann.__module__ not in ("builtins", "torch"):
            text = ann.__name__  # a class of the block's own (torchvision's ImageList)
        else:
            text = "" if ann is p.empty else ann if isinstance(ann, str) else inspect.formatannotation(ann)
        text = text.replace("typing.", "").replace("torch.", "").replace(" ", "")
        if not text and depth < 3:
            tree = tree if tree is not None else _forward_tree(module)
            text = _annotation_from_use(module, tree, p.name, depth) if tree is not None else ""
        out.append((p.name, text))
    return out


def _per_argument_tensors(module: nn.Module, names: list[str]) -> list[list[Spec]]:
    """Several tensor arguments of different widths (NASNet cells take the previous two
    layers' outputs): each gets the width of the first layer it flows into, at the same
    size or with the first one twice as large."""
    tree = _forward_tree(module)
    if tree is None:
        return []
    widths = [_width_by_use(module, tree, name) for name in names]
    if not all(widths):
        return []
    out = []
    for side in (16, 32):
        for scale in (1, 2):
            sides = [side * scale] + [side] * (len(names) - 1)
            out.append([{"kind": "tensor", "shape": [BATCH, w, n, n], "dtype": "float32"} for w, n in zip(widths, sides)])
    return out


def _width_by_use(module: nn.Module, tree: ast.AST, name: str) -> int | None:
    """Input width of the first child layer ``name`` flows into (through width-keeping children)."""
    aliases = {name}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Assign) or not isinstance(node.value, ast.Call):
            continue
        call = node.value
        if not (isinstance(call.func, ast.Attribute) and isinstance(call.func.value, ast.Name) and call.func.value.id == "self"):
            continue
        if not any(isinstance(a, ast.Name) and a.id in aliases for a in call.args):
            continue
        child = getattr(module, call.func.attr, None)
        if not isinstance(child, nn.Module):
            continue
        first = _first_leaf(child)
        width = _conv_in(first, 2) or (first.in_features if _is(first, "Linear") else None) or getattr(first, "num_features", None)
        if width:
            return int(width)
        aliases |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return None


def _forward_tree(module: nn.Module) -> ast.AST | None:
    try:
        return ast.parse(textwrap.dedent(inspect.getsource(type(module).forward)))
    except (OSError, TypeError, SyntaxError):
        return None


def _annotation_from_use(module: nn.Module, tree: ast.AST, name: str, depth: int) -> str:
    is_name = lambda n: isinstance(n, ast.Name) and n.id == name  # noqa: E731
    for node in ast.walk(tree):
        if isinstance(node, (ast.For, ast.comprehension)) and is_name(node.iter):
            return "list[Tensor]"
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("len", "enumerate", "zip") and any(is_name(a) for a in node.args):
            return "list[Tensor]"
        if isinstance(node, ast.Attribute) and is_name(node.value) and node.attr in ("items", "keys", "values"):
            return "dict[str,Tensor]"
        if isinstance(node, ast.Subscript) and is_name(node.value) and isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str):
            return "dict[str,Tensor]"
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "self" and node.args and is_name(node.args[0])):
            child = getattr(module, node.func.attr, None)
            if isinstance(child, nn.Module) and not isinstance(child, (nn.Sequential, nn.ModuleList)):
                params = _forward_params(child, depth + 1)
                if params and params[0][1]:
                    return params[0][1]
    return ""


def _kind(name: str, ann: str) -> str:
    lower, a = name.lower(), ann.lower()
    if lower in ("boxes", "rois", "proposals", "bboxes"):
        return "boxes"
    if lower in ("image_shapes", "image_sizes", "original_image_sizes"):
        return "image_sizes"
    if re.fullmatch(r"(list|sequence)\[str\]", a) or lower == "names":
        return "names"
    if re.fullmatch(r"(dict|mapping|ordereddict)\[str,tensor\]", a):
        return "feature_dict"
    if re.fullmatch(r"(list|sequence)\[tensor\]|tuple\[tensor,\.\.\.\]", a) or lower in ("feature_maps", "features_list", "xs"):
        return "images" if lower == "images" else "feature_list"
    if a == "int" or lower in _INT_NAMES or lower in ("b", "batch", "batch_size", "t"):
        return "int"
    if a == "float":
        return "float"
    if lower in _SIZE_NAMES or re.fullmatch(r"(tuple|list)\[int(,int)*(,\.\.\.)?\]|size_?", a):
        return "size"
    if ann and ann[0].isupper() and ann.isidentifier() and ann not in ("Tensor", "Any", "Optional"):
        return "object"
    return "tensor"


def _specs_for(module: nn.Module, params: list[tuple[str, str]], grid: tuple[int, int], extra: int,
               base: list[int]) -> list[Spec] | None:
    size_len = 3 if any("thw" in n.lower() or a.count("int") == 3 for n, a in params) else 2
    size = [2, *grid] if size_len == 3 else list(grid)
    tokens = math.prod(size) + extra
    channels = _conv_in(_first_leaf(module), 2) or _int_attr(module, _CHANNEL_ATTRS) or _int_attr(module, _DIM_ATTRS) or 32
    specs: list[Spec] = []
    first_tensor: Spec | None = None
    for name, ann in params:
        kind = _kind(name, ann)
        if kind == "int":
            lower = name.lower()
            value = BATCH if lower in ("b", "batch", "batch_size") else 2 if lower == "t" else grid[_INT_NAMES.get(lower, 0)]
            specs.append({"kind": "value", "value": value})
        elif kind == "float":
            specs.append({"kind": "value", "value": 0.5})
        elif kind == "size":
            specs.append({"kind": "tuple" if "list" not in ann.lower() else "list", "items": [{"kind": "value", "value": v} for v in size]})
        elif kind == "names":
            specs.append({"kind": "list", "items": [{"kind": "value", "value": "0"}]})
        elif kind == "image_sizes":
            specs.append({"kind": "list", "items": [{"kind": "tuple", "items": [{"kind": "value", "value": 64}] * 2}] * BATCH})
        elif kind == "boxes":
            if ann.lower().startswith(("list", "sequence")):
                specs.append({"kind": "list", "items": [{"kind": "boxes", "count": 3, "image": [64, 64], "batch_index": None}] * BATCH})
            else:
                specs.append({"kind": "boxes", "count": 4, "image": [16, 16], "batch_index": BATCH})
        elif kind == "images":
            specs.append({"kind": "list", "items": [{"kind": "tensor", "shape": [3, 64, 64], "dtype": "float32"}] * BATCH})
        elif kind == "feature_list":
            specs.append({"kind": "list", "items": _feature_maps(module, channels)})
        elif kind == "feature_dict":
            keys = _feature_keys(module)
            maps = _feature_maps(module, channels, len(keys))
            specs.append({"kind": "dict", "items": dict(zip(keys, maps))})
        elif kind == "object":
            specs.append({"kind": "object", "class": ann, "args": [
                {"kind": "tensor", "shape": [BATCH, 3, 64, 64], "dtype": "float32"},
                {"kind": "list", "items": [{"kind": "tuple", "items": [{"kind": "value", "value": 64}] * 2}] * BATCH}]})
        else:
            shape = list(base)
            if first_tensor is None and any(_kind(n, a) in ("int", "size") for n, a in params):
                if len(shape) == 3:
                    shape = [shape[0], tokens, shape[2]]  # tokens of the (H, W) grid passed beside them
                elif len(shape) == 4:
                    shape = [shape[0], shape[1], *grid]
                else:
                    return None
            spec = {"kind": "tensor", "shape": shape, "dtype": "float32"}
            first_tensor = first_tensor or spec
            specs.append(spec if first_tensor is spec else first_tensor)
    return specs


def _feature_maps(module: nn.Module, channels: int, levels: int | None = None) -> list[Spec]:
    """Feature maps of halving size, one per level: as many levels as the module has
    per-level branches (a ModuleList of convs), each with that branch's input channels."""
    per_level: list[int] = []
    for sub in module.modules():
        if isinstance(sub, nn.ModuleList) and len(sub) > 1:
            widths = [_conv_in(next((m for m in item.modules() if _is(m, "Conv2d")), None), 2) for item in sub]
            if all(widths):
                per_level = [int(w) for w in widths]  # type: ignore[arg-type]
                break
    counted = next((len(v) for k, v in vars(module).items() if k in _LEVEL_ATTRS and isinstance(v, (list, tuple)) and 0 < len(v) <= 6), None)
    n = levels or len(per_level) or counted or 2
    widths = per_level[:n] if len(per_level) >= n else [channels] * n
    return [{"kind": "tensor", "shape": [BATCH, widths[i], max(16 >> i, 2), max(16 >> i, 2)], "dtype": "float32"} for i in range(n)]


_LEVEL_ATTRS = ("sizes", "aspect_ratios", "featmap_names", "in_channels_list", "strides", "anchor_sizes")


def _feature_keys(module: nn.Module) -> list[str]:
    names = vars(module).get("featmap_names")
    if isinstance(names, (list, tuple)) and names and all(isinstance(k, str) for k in names):
        return list(names)
    return ["0", "1"]
