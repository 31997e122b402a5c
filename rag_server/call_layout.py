"""Which tensor layout code feeds a module, read from its call sites (``ast``, never executed).

Why: two blocks of one name can need different layouts. timm's ``layers.mlp.Mlp`` works on channels-last input
(``nn.Linear`` on the last dimension) while ``models.swiftformer.Mlp`` is a 1x1 ``Conv2d`` + ``BatchNorm2d`` that
needs [B, C, H, W]; their call-site scores differ by keyword overlap alone. A model that runs
``x = x.permute(0, 2, 3, 1)`` before ``self.mlp(x)`` says which one it means.
"""

from __future__ import annotations

import ast
import re

from nnrag import pyparse
from rag_server.scope import container_elements, element_calls, is_self_attr, loop_element

CHANNELS_FIRST_LAYERS = frozenset({"Conv2d", "BatchNorm2d", "ConvTranspose2d", "InstanceNorm2d"})
LAST_DIM_LAYERS = frozenset({"Linear", "LayerNorm", "MultiheadAttention", "RMSNorm"})


def _ints(call: ast.Call) -> list[int]:
    return [a.value for a in call.args if isinstance(a, ast.Constant) and isinstance(a.value, int)]


def _method(call: ast.Call) -> str:
    return call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", "")


def _builds(call: ast.Call, name: str) -> bool:
    """Whether ``call`` is ``name(...)``, or an ``nn.Sequential`` whose first layer is one (``nn.Sequential(*[name(...)
    for _ in range(n)])``: what the Sequential gets, its first ``name`` gets)."""
    if getattr(call.func, "id", "") == name:
        return True
    if _method(call) != "Sequential" or not call.args:
        return False
    first = call.args[0].value if isinstance(call.args[0], ast.Starred) else call.args[0]
    if isinstance(first, (ast.ListComp, ast.GeneratorExp)):
        first = first.elt
    return isinstance(first, ast.Call) and getattr(first.func, "id", "") == name


def _attributes_built_by(tree: ast.Module, name: str) -> set[str]:
    """The ``self.<attr>`` the code assigns a ``name(...)`` instance (or a Sequential starting with one) to."""
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) and _builds(node.value, name):
            out.update(t.attr for t in node.targets if is_self_attr(t))  # type: ignore[attr-defined]
    return out


TOKENS, CHANNELS_LAST, CHANNELS_FIRST = "tokens", "channels_last", "channels_first"
# Integer token ids [B, N] (or [N, B]), as the check's example feeds a model over text: what takes them embeds them
TOKEN_IDS = "token_ids"
INTEGER_DTYPES = frozenset({"int64", "long", "int32"})
# Tensor methods that keep integer ids ids: moved, cast to another integer type, transposed, reshaped or sliced
ID_KEEPING_METHODS = frozenset({"transpose", "permute", "t", "view", "reshape", "contiguous", "long", "int", "to",
                                "clone", "detach", "flip", "unsqueeze", "squeeze", "cpu", "cuda"})
FLOAT_CASTS = frozenset({"float", "half", "double", "bfloat16"})


def input_layout(expr: ast.AST) -> str | None:
    """The layout ``expr`` has when its last step says so: ``x.flatten(2).transpose(1, 2)`` or
    ``x.permute(0, 2, 3, 1).reshape(B, H * W, C)`` (tokens [B, N, C]), ``x.permute(0, 2, 3, 1)`` (channels-last),
    ``x.permute(0, 3, 1, 2)`` (channels-first), ``rearrange(x, "b c h w -> b (h w) c")`` (tokens); None when it does
    not say."""
    if not isinstance(expr, ast.Call):
        return None
    method, ints = _method(expr), _ints(expr)
    if method == "permute" and len(ints) == 3:
        return TOKENS if ints[0] == 0 else None  # ``permute(1, 0, 2)`` makes a sequence-first input, no [B, N, C]
    if method == "permute" and len(ints) == 4:
        return CHANNELS_LAST if ints[-1] == 1 else CHANNELS_FIRST if ints[1] == 3 else None
    if method == "transpose" and sorted(ints) in ([1, 2], [-1, 1]) and "flatten" in ast.dump(expr.func):
        return TOKENS
    if method in ("reshape", "view") and len(expr.args) == 3 and isinstance(expr.func, ast.Attribute):
        # ``x.permute(0, 2, 3, 1).reshape(B, H * W, C)``: a channels-last map's pixels in a row
        return TOKENS if input_layout(expr.func.value) == CHANNELS_LAST else None
    pattern = next((a.value for a in expr.args if isinstance(a, ast.Constant) and isinstance(a.value, str)), "")
    if method == "rearrange" and "->" in pattern:
        groups = re.findall(r"\([^)]*\)|[^\s()]+", pattern.split("->")[1])
        if len(groups) == 3 and groups[-1] == "c":
            return TOKENS
        if len(groups) == 4 and "c" in groups:
            return CHANNELS_LAST if groups[-1] == "c" else CHANNELS_FIRST if groups[1] == "c" else None
    return None


def _last_assignment(func: ast.AST, arg: ast.Name, line: int) -> tuple[int, ast.AST] | None:
    """The line and value of ``arg``'s last assignment in ``func`` before ``line``."""
    last: tuple[int, ast.AST] | None = None
    for node in ast.walk(func):
        if isinstance(node, ast.Assign) and node.lineno < line and any(getattr(t, "id", "") == arg.id for t in node.targets):
            if last is None or node.lineno > last[0]:
                last = (node.lineno, node.value)
    return last


# Layers whose output is a [B, C, H, W] map whatever feeds them: they need one (a 2-D conv, batch norm or pooling)
MAP_LAYERS = CHANNELS_FIRST_LAYERS | frozenset({
    "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "AdaptiveMaxPool2d", "LPPool2d", "PixelShuffle", "PixelUnshuffle",
    "LazyConv2d", "LazyBatchNorm2d", "Conv2dSame", "ConvNormAct", "BatchNormAct2d", "LayerNorm2d"})
MAP_FUNCTIONS = frozenset({"conv2d", "conv_transpose2d", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d",
                           "adaptive_max_pool2d", "pixel_shuffle", "pixel_unshuffle"})
# Layers that keep their input's shape (norms, activations, dropout): ``self.se(F.relu(self.bn(self.conv(x))))`` feeds
# ``self.se`` what ``self.conv`` made
SHAPE_KEEPING_LAYERS = frozenset({
    "ReLU", "ReLU6", "GELU", "SiLU", "Swish", "Mish", "Sigmoid", "Tanh", "Hardswish", "Hardsigmoid", "HardSwish",
    "HardSigmoid", "LeakyReLU", "PReLU", "ELU", "SELU", "CELU", "Softplus", "Hardtanh", "GLU", "QuickGELU",
    "Dropout", "Dropout2d", "AlphaDropout", "DropPath", "DropBlock2d", "Identity", "GroupNorm", "LayerNorm", "RMSNorm",
    "LocalResponseNorm", "SyncBatchNorm"})
SHAPE_KEEPING_FUNCTIONS = frozenset({
    "relu", "relu_", "relu6", "gelu", "silu", "swish", "mish", "sigmoid", "tanh", "hardswish", "hardsigmoid",
    "leaky_relu", "elu", "selu", "celu", "softplus", "hardtanh", "dropout", "dropout2d", "drop_path", "layer_norm", "group_norm",
    "batch_norm", "instance_norm", "contiguous", "clone", "float", "half", "to", "abs", "neg"})
# Where functions that take the tensor first live (``F.relu(x)``); other ``a.relu()`` are methods of the tensor ``a``
FUNCTION_NAMESPACES = frozenset({"F", "torch", "nn.functional", "torch.nn.functional", "functional"})
# Parameters of a block's ``__init__`` that hold an activation, norm or dropout layer class (``act_layer``)
SHAPE_KEEPING_PARAMETER = re.compile(r"^(act|activation|norm|drop|dropout)(_layer|_fn|_cls)?$")
MAX_HOPS = 16  # assignments followed back from a call: ``x = self.conv(x); x = self.bn(x); x = F.relu(x)``


def _class_name(value: ast.AST) -> str:
    """The class a layer is built from: ``nn.ReLU(inplace=True)`` -> ``ReLU``, ``act_layer()`` -> ``act_layer``."""
    return _method(value) if isinstance(value, ast.Call) else ""


def _attribute_layers(tree: ast.Module, attr: str) -> set[str]:
    """The classes every ``self.<attr> = ...`` in ``tree`` builds (both branches of ``a if c else b``)."""
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(is_self_attr(t) and t.attr == attr for t in node.targets):  # type: ignore[attr-defined]
            values = [node.value.body, node.value.orelse] if isinstance(node.value, ast.IfExp) else [node.value]
            out.update(_class_name(v) or "?" for v in values)
    return out


def _keeps_shape(name: str) -> bool:
    """Whether a layer built from ``name`` keeps its input's shape: a known norm, activation or dropout class, or the
    block's own ``act_layer`` / ``norm_layer`` parameter."""
    return name in SHAPE_KEEPING_LAYERS or bool(SHAPE_KEEPING_PARAMETER.match(name))


def _wrapped_input(tree: ast.Module, call: ast.Call) -> ast.AST | None:
    """What ``call`` passes through unchanged in shape: the argument of ``self.act(...)`` (an attribute holding a
    norm, activation or dropout layer), of ``F.relu(...)`` / ``torch.sigmoid(...)``, or the tensor of ``x.relu()``."""
    method = _method(call)
    if is_self_attr(call.func):
        layers = _attribute_layers(tree, method)
        return call.args[0] if call.args and layers and all(_keeps_shape(n) for n in layers) else None
    if method not in SHAPE_KEEPING_FUNCTIONS:
        return None
    if isinstance(call.func, ast.Attribute) and ast.unparse(call.func.value) not in FUNCTION_NAMESPACES:
        return call.func.value  # ``x.relu()``, ``x.contiguous()``, ``x.to(dtype)``
    return call.args[0] if call.args else None  # ``F.relu(x)``, ``torch.sigmoid(x)``, ``drop_path(x, p)``


def _makes_map(tree: ast.Module, call: ast.Call) -> bool:
    """Whether ``call`` outputs a [B, C, H, W] map: ``self.conv(x)`` (an attribute holding ``nn.Conv2d``, batch norm or
    2-D pooling), ``F.conv2d(x, w)``, ``F.max_pool2d(x, 2)``."""
    if is_self_attr(call.func):
        layers = _attribute_layers(tree, _method(call))
        return bool(layers) and layers <= MAP_LAYERS
    return isinstance(call.func, ast.Attribute) and _method(call) in MAP_FUNCTIONS and bool(call.args)


def layout_of(tree: ast.Module, func: ast.AST, value: ast.AST, line: int, hops: int = 0,
              ids: frozenset[str] = frozenset()) -> str | None:
    """The layout of ``value`` (an expression in ``func`` at ``line``), followed back through what keeps a layout:
    norm, activation and dropout layers and functions (``F.relu(self.bn(self.conv(x)))``), residual adds
    (``x + self.conv(x)``) and variables (``x = self.act(self.bn1(self.conv1(x)))``); None when nothing says.
    ``ids``: the model's forward parameters fed integer token ids (``token_id_parameters``), read back through what
    keeps them ids (``src.transpose(0, 1)``, ``idx[:, :-1]``); a module called on them gives tokens.

    Why: blocks of one name take maps (timm's ``SEModule``) or tokens (TnT's ``SE``, a ``LayerNorm`` on the last axis);
    models rarely feed a block a bare ``self.conv(x)``, nearly always a normalised and activated one."""
    if hops > MAX_HOPS:
        return None
    if isinstance(value, ast.Name):
        last = _last_assignment(func, value, line)
        if last is None:
            return TOKEN_IDS if ids and f"{_owner(tree, func)}.{value.id}" in ids else None
        return layout_of(tree, func, last[1], last[0], hops + 1, ids)
    if isinstance(value, ast.Subscript):  # ``idx[:, :-1]``: a slice of ids is ids; of a map or tokens, unknown
        return TOKEN_IDS if ids and layout_of(tree, func, value.value, line, hops + 1, ids) == TOKEN_IDS else None
    if isinstance(value, ast.BinOp) and isinstance(value.op, (ast.Add, ast.Sub, ast.Mult, ast.Div)):
        sides = {layout_of(tree, func, v, line, hops + 1, ids) for v in (value.left, value.right)} - {None}
        return sides.pop() if len(sides) == 1 else None  # a residual add keeps the layout of the known side
    if not isinstance(value, ast.Call):
        return None
    said = input_layout(value)
    if said is not None:
        return said
    if _makes_map(tree, value):
        return CHANNELS_FIRST
    if _embeds_tokens(tree, value):
        return TOKENS
    if ids and _method(value) in ID_KEEPING_METHODS | FLOAT_CASTS and isinstance(value.func, ast.Attribute):
        if layout_of(tree, func, value.func.value, line, hops + 1, ids) == TOKEN_IDS:
            return TOKEN_IDS if _method(value) in ID_KEEPING_METHODS else None  # ``ids.float()``: values, not ids
    inner = _wrapped_input(tree, value)
    found = layout_of(tree, func, inner, line, hops + 1, ids) if inner is not None else None
    if ids and found is None and inner is None and is_self_attr(value.func) and value.args:
        if layout_of(tree, func, value.args[0], line, hops + 1, ids) == TOKEN_IDS:
            return TOKENS  # ``self.src_tok_emb(src)``: a module fed token ids embeds them
    if found is not None or not _works_on_last_dim(tree, value):
        return found
    given = layout_of(tree, func, value.args[0], line, hops + 1, ids) if value.args else None
    return TOKENS if given is None else given if given not in (CHANNELS_FIRST, TOKEN_IDS) else None


def _owner(tree: ast.Module, func: ast.AST) -> str:
    """The name of the top-level class whose method ``func`` is ("" for a function)."""
    return next((c.name for c in tree.body if isinstance(c, ast.ClassDef) and func in c.body), "")


def token_id_parameters(code: str, entry: str | None, dtypes: list[str] | None) -> frozenset[str]:
    """``Class.param`` for each parameter of the model's ``forward`` that the check feeds integer ids (``dtypes``: the
    example's input dtypes, in the order of the parameters): of ``entry``, else of each top-level class no other class
    uses (the model a check builds is one of them).

    Why: a model over text says nothing of its input in its code (``def forward(self, src)``), and its
    ``TokenEmbedding(vocab_size, emb_size)`` got neuralforecast's block of that name, a ``Conv1d`` over float series;
    the user's ``--input-dtype int64`` says what the block must take."""
    if not dtypes or not INTEGER_DTYPES & set(dtypes):
        return frozenset()
    try:
        tree = pyparse.parse(code)
    except (SyntaxError, ValueError, RecursionError):
        return frozenset()
    classes = [node for node in tree.body if isinstance(node, ast.ClassDef)]
    used = {n.id for c in classes for n in ast.walk(c) if isinstance(n, ast.Name) and n.id != c.name}
    models = [c for c in classes if c.name == entry] if entry else [c for c in classes if c.name not in used]
    out: set[str] = set()
    for cls in models:
        forward = next((f for f in cls.body if isinstance(f, ast.FunctionDef) and f.name == "forward"), None)
        if forward is not None:
            params = [a.arg for a in forward.args.posonlyargs + forward.args.args][1:]
            out |= {f"{cls.name}.{p}" for p, dtype in zip(params, dtypes) if dtype in INTEGER_DTYPES}
    return frozenset(out)


# Layers and functions that work on the last dimension (``nn.Linear``, ``nn.LayerNorm``): what they make is token or
# channels-last input, never a [B, C, H, W] map; given nothing else, tokens [B, N, C] (an ``nn.Linear(48, dim)`` patch
# embedding). A map fed to one (a classifier's ``self.fc(self.conv(x))``) has no layout worth reading.
LAST_DIM_FUNCTIONS = frozenset({"linear", "layer_norm", "rms_norm"})


# Layers and functions that look token ids up: ``nn.Embedding(vocab, dim)(idx)`` is tokens [B, N, C] whatever ``idx``
# is called (a GPT's ``self.tok(idx)``); ``EmbeddingBag`` pools them into [B, C] and is none of them
EMBEDDING_LAYERS = frozenset({"Embedding"})
EMBEDDING_FUNCTIONS = frozenset({"embedding"})


def _embeds_tokens(tree: ast.Module, call: ast.Call) -> bool:
    """Whether ``call`` is ``self.<attr>(idx)`` of an attribute holding only ``nn.Embedding`` layers, or
    ``F.embedding(idx, weight)``."""
    if is_self_attr(call.func):
        layers = _attribute_layers(tree, _method(call))
        return bool(layers) and layers <= EMBEDDING_LAYERS
    return isinstance(call.func, ast.Attribute) and _method(call) in EMBEDDING_FUNCTIONS and bool(call.args)


def _works_on_last_dim(tree: ast.Module, call: ast.Call) -> bool:
    """Whether ``call`` is ``self.<attr>(x)`` of an attribute holding only ``nn.Linear`` / ``nn.LayerNorm`` /
    ``nn.RMSNorm`` layers, or ``F.linear(x, w)`` / ``F.layer_norm(x, shape)``."""
    if is_self_attr(call.func):
        layers = _attribute_layers(tree, _method(call))
        return bool(layers) and layers <= LAST_DIM_LAYERS - {"MultiheadAttention"} | {"LazyLinear"}
    return isinstance(call.func, ast.Attribute) and _method(call) in LAST_DIM_FUNCTIONS and bool(call.args)


def _fed_calls(tree: ast.Module, name: str) -> list[tuple[ast.AST, ast.Call]]:
    """``(function, call)`` for each call that feeds an instance of ``name``: ``self.<attr>(x)`` with ``attr`` holding a
    ``name(...)`` (or a Sequential of them), ``self.<attr>[i](x)`` and ``for blk in self.<attr>: x = blk(x)`` with
    ``attr`` a ModuleList / Sequential built of them (``nn.ModuleList([Block(...) for _ in range(depth)])``)."""
    attrs = _attributes_built_by(tree, name)
    held = set(container_elements(tree, {name}))
    out: list[tuple[ast.AST, ast.Call]] = []
    for func in (n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))) if attrs | held else ():
        for call in (n for n in ast.walk(func) if isinstance(n, ast.Call)):
            called = call.func.value if isinstance(call.func, ast.Subscript) else call.func
            if is_self_attr(called) and called.attr in (held if called is not call.func else attrs):  # type: ignore[attr-defined]
                out.append((func, call))
        for loop in (n for n in ast.walk(func) if isinstance(n, ast.For)):
            element = loop_element(loop)
            if element is not None and element[0] in held:
                out += [(func, call) for call in element_calls(loop, element[1])]
    return [(func, call) for func, call in out if call.args]


def fed_layout(tree: ast.Module | None, name: str, ids: frozenset[str] = frozenset()) -> str | None:
    """The layout of what the code feeds ``name``'s instances (``_fed_calls``: ``self.<attr>(x)``, ``attr`` holding a
    ``name(...)`` or a Sequential of them, or a loop over a ModuleList of them) when every such call that says one says
    the same (``layout_of``: ``input_layout``, or an ``nn.Conv2d``'s output, channels-first, through norms, activations
    and residual adds; token ids from the ``ids`` parameters); else None.

    Why: blocks of one name take tokens [B, N, C] (ViT's ``Block``) or maps [B, C, H, W] (visformer's); a model that
    runs ``x.flatten(2).transpose(1, 2)`` before ``self.blocks(x)`` says which one it means."""
    calls = _fed_calls(tree, name) if tree is not None else []
    ranks = {layout_of(tree, func, call.args[0], call.lineno, ids=ids) for func, call in calls}  # type: ignore[arg-type]
    known = ranks - {None}  # a call whose input says nothing leaves the others to say what the instances take
    return known.pop() if len(known) == 1 else None


def fed_channels_last(tree: ast.Module | None, name: str) -> bool:
    """Whether some call feeding an instance of ``name`` (``_fed_calls``) gets channels-last or token input, read
    back through norms, activations and variables (``layout_of``). Why: ``self.mlp(self.norm(x))`` after
    ``x = x.permute(0, 2, 3, 1)`` was read as saying nothing, and a ConvNeXt block was offered a 1x1-conv ``Mlp``."""
    calls = _fed_calls(tree, name) if tree is not None else []
    return any(layout_of(tree, func, call.args[0], call.lineno) in (CHANNELS_LAST, TOKENS) for func, call in calls)  # type: ignore[arg-type]


def needs_channels_first(code: str, symbol: str) -> bool:
    """Whether class ``symbol`` in ``code`` only has layers that need [B, C, H, W] (a 2-D conv or batch norm, no
    ``nn.Linear`` or ``LayerNorm`` working on the last dimension)."""
    try:
        tree = pyparse.parse(code)
    except (SyntaxError, ValueError, RecursionError):
        return False
    cls = next((n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == symbol), None)
    if cls is None:
        return False
    used = {n.attr if isinstance(n, ast.Attribute) else n.id for n in ast.walk(cls) if isinstance(n, (ast.Attribute, ast.Name))}
    return bool(used & CHANNELS_FIRST_LAYERS) and not used & LAST_DIM_LAYERS
