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

import inspect
import math
from typing import Any

import torch
from torch import nn

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


def propose_inputs(module: nn.Module) -> list[Proposal]:
    """Candidate ``(shapes, dtypes)`` for ``module.forward``, best first, deduplicated."""
    proposals: list[Proposal] = []
    n_required = _required_forward_args(module)
    first = _first_leaf(module)
    image_hw = _image_size(module) or _window_multiple(module)
    channels = _int_attr(module, _CHANNEL_ATTRS)
    dim = _int_attr(module, _DIM_ATTRS)
    if _is_loss(module):
        proposals += _loss_inputs(dim or channels)
    tokenish = _looks_token_based(module)

    if _is(first, "Embedding", "EmbeddingBag"):
        proposals.append(([[BATCH, TOKENS]], ["int64"]))
    if _is(first, "Conv2d", "ConvTranspose2d", "LazyConv2d") or (channels and not tokenish):
        c = _conv_in(first, 2) or channels or 3
        for hw in _image_sizes(image_hw, _grid_anywhere(module), _first_stride(module)):
            proposals.append(([[BATCH, c, hw[0], hw[1]]], ["float32"]))
    if _is(first, "Conv1d", "ConvTranspose1d"):
        c = _conv_in(first, 1) or channels or 3
        proposals += [([[BATCH, c, 32]], ["float32"]), ([[BATCH, c, 64]], ["float32"])]
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
        proposals += [([[BATCH, first.num_features]], ["float32"]), ([[BATCH, first.num_features, 16]], ["float32"])]
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
        "Linear", "Embedding", "EmbeddingBag", "LayerNorm", "BatchNorm1d", "BatchNorm2d",
        "GroupNorm", "InstanceNorm2d", "RMSNorm",
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
