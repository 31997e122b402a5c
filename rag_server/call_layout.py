"""Which tensor layout code feeds a module, read from its call sites (``ast``, never executed).

Why: two blocks of one name can need different layouts. timm's ``layers.mlp.Mlp`` works on channels-last input
(``nn.Linear`` on the last dimension) while ``models.swiftformer.Mlp`` is a 1x1 ``Conv2d`` + ``BatchNorm2d`` that
needs [B, C, H, W]; their call-site scores differ by keyword overlap alone. A model that runs
``x = x.permute(0, 2, 3, 1)`` before ``self.mlp(x)`` says which one it means.
"""

from __future__ import annotations

import ast
import re

from rag_server.scope import is_self_attr

CHANNELS_FIRST_LAYERS = frozenset({"Conv2d", "BatchNorm2d", "ConvTranspose2d", "InstanceNorm2d"})
LAST_DIM_LAYERS = frozenset({"Linear", "LayerNorm", "MultiheadAttention", "RMSNorm"})


def _ints(call: ast.Call) -> list[int]:
    return [a.value for a in call.args if isinstance(a, ast.Constant) and isinstance(a.value, int)]


def _method(call: ast.Call) -> str:
    return call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", "")


def makes_channels_last(expr: ast.AST) -> bool:
    """Whether ``expr`` turns [B, C, H, W] channels-last or into tokens: ``x.permute(0, 2, 3, 1)``,
    ``x.flatten(2).transpose(1, 2)``, ``rearrange(x, "b c h w -> b h w c")``."""
    for node in ast.walk(expr):
        if not isinstance(node, ast.Call):
            continue
        method, ints = _method(node), _ints(node)
        if method == "permute" and len(ints) == 4 and ints[1] != 1 and ints[-1] == 1:
            return True
        if method == "transpose" and sorted(ints) in ([1, 2], [-1, 1]) and "flatten" in ast.dump(node.func):
            return True
        pattern = next((a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)), "")
        if method == "rearrange" and "->" in pattern and pattern.split("->")[1].split()[-1:] == ["c"]:
            return True
    return False


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


def input_layout(expr: ast.AST) -> str | None:
    """The layout ``expr`` has when its last step says so: ``x.flatten(2).transpose(1, 2)`` (tokens [B, N, C]),
    ``x.permute(0, 2, 3, 1)`` (channels-last), ``x.permute(0, 3, 1, 2)`` (channels-first),
    ``rearrange(x, "b c h w -> b (h w) c")`` (tokens); None when it does not say."""
    if not isinstance(expr, ast.Call):
        return None
    method, ints = _method(expr), _ints(expr)
    if method == "permute" and len(ints) in (3, 4):
        return TOKENS if len(ints) == 3 else CHANNELS_LAST if ints[-1] == 1 else CHANNELS_FIRST if ints[1] == 3 else None
    if method == "transpose" and sorted(ints) in ([1, 2], [-1, 1]) and "flatten" in ast.dump(expr.func):
        return TOKENS
    pattern = next((a.value for a in expr.args if isinstance(a, ast.Constant) and isinstance(a.value, str)), "")
    if method == "rearrange" and "->" in pattern:
        groups = re.findall(r"\([^)]*\)|[^\s()]+", pattern.split("->")[1])
        if len(groups) == 3 and groups[-1] == "c":
            return TOKENS
        if len(groups) == 4 and "c" in groups:
            return CHANNELS_LAST if groups[-1] == "c" else CHANNELS_FIRST if groups[1] == "c" else None
    return None


def _last_assigned(func: ast.AST, arg: ast.Name, line: int) -> ast.AST | None:
    """The value ``arg`` was last assigned in ``func`` before ``line``."""
    last: tuple[int, ast.AST] | None = None
    for node in ast.walk(func):
        if isinstance(node, ast.Assign) and node.lineno < line and any(getattr(t, "id", "") == arg.id for t in node.targets):
            if last is None or node.lineno > last[0]:
                last = (node.lineno, node.value)
    return last[1] if last is not None else None


def fed_layout(tree: ast.Module | None, name: str) -> str | None:
    """The layout of what the code feeds ``name``'s instances (``self.<attr>(x)``, ``attr`` holding a ``name(...)`` or
    a Sequential of them) when every such call says the same (``input_layout``, or an ``nn.Conv2d``'s output:
    channels-first); else None.

    Why: blocks of one name take tokens [B, N, C] (ViT's ``Block``) or maps [B, C, H, W] (visformer's); a model that
    runs ``x.flatten(2).transpose(1, 2)`` before ``self.blocks(x)`` says which one it means."""
    attrs = _attributes_built_by(tree, name) if tree is not None else set()
    ranks: set[str | None] = set()
    for func in (n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))) if attrs else ():
        for call in (n for n in ast.walk(func) if isinstance(n, ast.Call)):
            if is_self_attr(call.func) and call.func.attr in attrs and call.args:  # type: ignore[attr-defined]
                arg = call.args[0]
                value = _last_assigned(func, arg, call.lineno) if isinstance(arg, ast.Name) else arg
                rank = input_layout(value) if value is not None else None
                if rank is None and value is not None and _made_by_layer(tree, value, CHANNELS_FIRST_LAYERS):
                    rank = CHANNELS_FIRST  # the output of ``self.conv(x)``, an ``nn.Conv2d``
                ranks.add(rank)
    return ranks.pop() if len(ranks) == 1 else None


def _made_by_layer(tree: ast.Module, value: ast.AST, layers: frozenset[str]) -> bool:
    """Whether ``value`` is ``self.<attr>(...)`` with ``attr`` holding one of ``layers`` (``nn.Conv2d(...)``)."""
    if not (isinstance(value, ast.Call) and is_self_attr(value.func)):
        return False
    attr = value.func.attr  # type: ignore[attr-defined]
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) and _method(node.value) in layers:
            if any(is_self_attr(t) and t.attr == attr for t in node.targets):  # type: ignore[attr-defined]
                return True
    return False


def _input_made_channels_last(func: ast.AST, call: ast.Call) -> bool:
    """Whether the first argument of ``call`` inside ``func`` is channels-last: built so in the call, or a variable
    last assigned so before the call's line."""
    if not call.args:
        return False
    arg = call.args[0]
    if makes_channels_last(arg):
        return True
    if not isinstance(arg, ast.Name):
        return False
    last: tuple[int, ast.AST] | None = None
    for node in ast.walk(func):
        if isinstance(node, ast.Assign) and node.lineno < call.lineno and any(getattr(t, "id", "") == arg.id for t in node.targets):
            if last is None or node.lineno > last[0]:
                last = (node.lineno, node.value)
    return last is not None and makes_channels_last(last[1])


def fed_channels_last(tree: ast.Module | None, name: str) -> bool:
    """Whether some ``self.<attr>(x)`` whose ``attr`` holds a ``name(...)`` gets channels-last or token input."""
    attrs = _attributes_built_by(tree, name) if tree is not None else set()
    if not attrs:
        return False
    for func in (n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))):
        for call in (n for n in ast.walk(func) if isinstance(n, ast.Call)):
            if is_self_attr(call.func) and call.func.attr in attrs and _input_made_channels_last(func, call):  # type: ignore[attr-defined]
                return True
    return False


def needs_channels_first(code: str, symbol: str) -> bool:
    """Whether class ``symbol`` in ``code`` only has layers that need [B, C, H, W] (a 2-D conv or batch norm, no
    ``nn.Linear`` or ``LayerNorm`` working on the last dimension)."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError):
        return False
    cls = next((n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == symbol), None)
    if cls is None:
        return False
    used = {n.attr if isinstance(n, ast.Attribute) else n.id for n in ast.walk(cls) if isinstance(n, (ast.Attribute, ast.Name))}
    return bool(used & CHANNELS_FIRST_LAYERS) and not used & LAST_DIM_LAYERS
