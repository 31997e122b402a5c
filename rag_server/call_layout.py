"""Which tensor layout code feeds a module, read from its call sites (``ast``, never executed).

Why: two blocks of one name can need different layouts. timm's ``layers.mlp.Mlp`` works on channels-last input
(``nn.Linear`` on the last dimension) while ``models.swiftformer.Mlp`` is a 1x1 ``Conv2d`` + ``BatchNorm2d`` that
needs [B, C, H, W]; their call-site scores differ by keyword overlap alone. A model that runs
``x = x.permute(0, 2, 3, 1)`` before ``self.mlp(x)`` says which one it means.
"""

from __future__ import annotations

import ast

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


def _attributes_built_by(tree: ast.Module, name: str) -> set[str]:
    """The ``self.<attr>`` the code assigns a ``name(...)`` instance to."""
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) and getattr(node.value.func, "id", "") == name:
            out.update(t.attr for t in node.targets if is_self_attr(t))  # type: ignore[attr-defined]
    return out


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
