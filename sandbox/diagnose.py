"""Turn a failure into a one-line problem and a concrete hint (a ``Diagnosis``).

A NAS loop feeds these back to its LLM and stores (problem, hint, outcome), so they must
be specific: which name, which layer, which shapes. ``diagnose_exception`` runs inside
the sandboxed child (it can look names up in torch/timm); ``diagnose_status`` runs in the
worker for deaths that leave no exception (timeout, signal). Callers outside can enrich
a hint with a store lookup through ``enrich`` and a ``hint_provider`` callable, since the
sandbox must not import the indexer.
"""

from __future__ import annotations

import ast
import difflib
import math
import re
import signal
import sys
from dataclasses import dataclass
from typing import Any, Callable

from sandbox.spec import Diagnosis

HintProvider = Callable[[Diagnosis], "str | None"]

# Where to look for a name the code uses but never defines, best first: (module, how to use it).
_NAME_HOMES: tuple[tuple[str, str], ...] = (
    ("torch.nn", "nn.{name} (with `import torch.nn as nn`)"),
    ("torch.nn.functional", "F.{name} (with `import torch.nn.functional as F`)"),
    ("torch", "torch.{name} (with `import torch`)"),
    ("timm.layers", "`from timm.layers import {name}`"),
    ("torchvision.ops", "`from torchvision.ops import {name}`"),
    ("torchvision.models", "`from torchvision.models import {name}`"),
    ("math", "`import math` and math.{name}"),
    ("typing", "`from typing import {name}`"),
    ("functools", "`from functools import {name}`"),
    ("collections", "`from collections import {name}`"),
    ("itertools", "`from itertools import {name}`"),
)
_MODULE_ALIASES = {
    "nn": "import torch.nn as nn", "F": "import torch.nn.functional as F", "torch": "import torch",
    "np": "import numpy as np", "numpy": "import numpy as np", "math": "import math", "timm": "import timm",
    "torchvision": "import torchvision", "init": "from torch.nn import init", "einops": "import einops",  # installed beside torch
    "rearrange": "from einops import rearrange", "repeat": "from einops import repeat", "Rearrange": "from einops.layers.torch import Rearrange",
}
_SHAPE_PATTERNS = (
    "shapes cannot be multiplied", "size mismatch", "must match the size", "to have", "channels", "expected input",
    "Expected input", "Expected size", "dimension", "shape", "size of tensor", "not enough values", "Expected 3D", "Expected 4D",
    "input.size", "normalized_shape", "invalid for input of size", "input size", "Output size is too small", "Kernel size can't be greater",
)
_OOM_PATTERNS = ("can't allocate memory", "not enough memory", "out of memory", "DefaultCPUAllocator")
# What a thread pool prints or raises when the check's process/thread limit (or its memory budget,
# which every thread's stack counts against) refuses one more thread: libgomp exits with code 1 on it.
_THREAD_LIMIT_PATTERNS = ("Thread creation failed", "can't start new thread", "Resource temporarily unavailable")
THREAD_LIMIT_HINT = ("use fewer threads (torch.set_num_threads(n), thread pools): a check may run at most {limit} processes "
                     "and threads, and each thread's stack counts against the memory budget")


def _is_network_error(exc: BaseException, msg: str) -> bool:
    return isinstance(exc, OSError) and any(p in msg for p in ("couldn't connect", "Network is unreachable", "Name or service not known",
                                                                 "Temporary failure in name resolution", "urlopen error"))


def _needs_gpu(msg: str) -> bool:
    """The messages torch raises when code asks for CUDA where there is none: "Torch not compiled with CUDA enabled"
    (a CPU build), "Found no NVIDIA driver on your system" (a CUDA build on a machine without a GPU, as here), and any
    other that names CUDA in capitals ("No CUDA GPUs are available", "... on a CUDA device but torch.cuda.is_available()
    is False")."""
    lower = msg.lower()
    return "nvidia driver" in lower or ("cuda" in lower and ("not compiled" in lower or "driver" in lower or "CUDA" in msg))


MAIN_GUARD_ONLY = ('is defined only under `if __name__ == "__main__":`; checks import the code as a module, so that block '
                   "never runs and the class does not exist")


CLASS_IN_FUNCTION = ("is defined inside function `{function}`, so it exists only while that function runs and a check, "
                     "which imports the code as a module, cannot build it")


@dataclass(frozen=True)
class HiddenClass:
    """A class a check cannot reach: defined only in the branch of a ``__name__`` test that runs as a script, or
    inside a function (``function``, the outermost one)."""

    name: str
    function: str = ""  # "" for a class under the main guard

    @property
    def error_type(self) -> str:
        return "ClassInFunction" if self.function else "MainGuardOnly"

    def why(self) -> str:
        """Why the class does not exist when the code is imported, to follow its name."""
        return CLASS_IN_FUNCTION.format(function=self.function) if self.function else MAIN_GUARD_ONLY

    def fix(self) -> str:
        return ("define the class at module level, outside the function" if self.function
                else "move the class out of the guard to module level")


def _script_only(test: ast.expr) -> str:
    """Which branch of an ``if test:`` runs only as a script: "body" for ``__name__ == "__main__"`` (either side, also
    ``is`` and ``in ("__main__",)``, or and-ed with other tests), "orelse" for ``!=`` / ``is not`` / ``not in`` /
    ``not (...)``; "" when ``test`` tests no such thing."""
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        return {"body": "orelse", "orelse": "body"}.get(_script_only(test.operand), "")
    if isinstance(test, ast.BoolOp):  # the body needs every and-ed test; the else branch needs one or-ed test false
        wanted = "body" if isinstance(test.op, ast.And) else "orelse"
        return wanted if any(_script_only(v) == wanted for v in test.values) else ""
    if not isinstance(test, ast.Compare) or len(test.ops) != 1:
        return ""
    left, right, op = test.left, test.comparators[0], test.ops[0]
    is_name = lambda s: isinstance(s, ast.Name) and s.id == "__name__"  # noqa: E731
    is_main = lambda s: isinstance(s, ast.Constant) and s.value == "__main__"  # noqa: E731
    if isinstance(op, (ast.In, ast.NotIn)):
        holds = is_name(left) and isinstance(right, (ast.Tuple, ast.List, ast.Set)) and any(is_main(e) for e in right.elts)
        return ("body" if isinstance(op, ast.In) else "orelse") if holds else ""
    if not ((is_name(left) and is_main(right)) or (is_main(left) and is_name(right))):
        return ""
    if isinstance(op, (ast.Eq, ast.Is)):
        return "body"
    return "orelse" if isinstance(op, (ast.NotEq, ast.IsNot)) else ""


_NOT_MODULE_BASES = {"object", "Enum", "IntEnum", "Flag", "NamedTuple", "TypedDict", "Protocol", "ABC", "Generic", "dict",
                     "list", "tuple", "set", "str", "int", "float", "type"}


def _base_name(base: ast.expr) -> str:
    base = base.value if isinstance(base, ast.Subscript) else base
    return base.attr if isinstance(base, ast.Attribute) else base.id if isinstance(base, ast.Name) else ""


def may_be_module(node: ast.ClassDef) -> bool:
    """Whether a class could be an nn.Module subclass, read from its bases alone (it is never run): any base but the
    plain ones (``object``, ``Enum``, ``dict``, exceptions)."""
    names = [_base_name(b) for b in node.bases]
    return any(n not in _NOT_MODULE_BASES and not n.endswith(("Error", "Exception")) for n in names)


def _hidden(stmts: list[ast.stmt], guarded: bool, function: str) -> list[tuple[ast.ClassDef, bool, str]]:
    """(class, under the main guard, enclosing function) for each class in ``stmts``, classes bodies not entered."""
    found: list[tuple[ast.ClassDef, bool, str]] = []
    for node in stmts:
        if isinstance(node, ast.ClassDef):
            found.append((node, guarded, function))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            found += _hidden(node.body, guarded, function or node.name)
        elif isinstance(node, ast.If):
            branch = _script_only(node.test)
            found += _hidden(node.body, guarded or branch == "body", function)
            found += _hidden(node.orelse, guarded or branch == "orelse", function)
        else:  # for, while, with, try, match: their blocks run at import like the module's own
            blocks = [getattr(node, f, []) for f in ("body", "orelse", "finalbody")]
            blocks += [part.body for part in getattr(node, "handlers", []) + getattr(node, "cases", [])]
            for block in blocks:
                found += _hidden(block, guarded, function)
    return found


def hidden_classes(tree: ast.Module) -> list[HiddenClass]:
    """The classes that may be nn.Modules yet do not exist once the code is imported as a module, in order: defined
    under ``if __name__ == "__main__":`` (any form of the test, nested in other statements) or inside a function."""
    return _hidden_of(_hidden(tree.body, False, ""))


def _hidden_of(found: list[tuple[ast.ClassDef, bool, str]]) -> list[HiddenClass]:
    """Of ``_hidden``'s classes, those that may be nn.Modules and are under the main guard or inside a function."""
    return [HiddenClass(node.name, function) for node, guarded, function in found if (guarded or function) and may_be_module(node)]


def assignment_targets(node: ast.Assign | ast.AnnAssign) -> list[ast.expr]:
    """What ``node`` assigns to: ``a = b = ...``'s targets, or an annotated assignment's one."""
    return node.targets if isinstance(node, ast.Assign) else [node.target]


def main_guard_classes(tree: ast.Module) -> list[str]:
    """Classes defined only under ``if __name__ == "__main__":``, in order. Why: an LLM that wraps its whole script in
    the guard leaves a check nothing to build; "the code defines no nn.Module subclass" hid why."""
    return [h.name for h in hidden_classes(tree) if not h.function]


def _used_by_other_classes(tree: ast.Module) -> set[str]:
    """Names read inside some class's definition (bases, body) other than their own: the classes a model uses."""
    used: set[str] = set()
    for cls in ast.walk(tree):
        if isinstance(cls, ast.ClassDef):
            used |= {n.id for n in ast.walk(cls) if isinstance(n, ast.Name) and n.id != cls.name}
    return used


def _module_level_names(tree: ast.Module) -> set[str]:
    """Names the module binds when imported: top-level definitions and assignments, also inside top-level ``if`` /
    ``try`` that are no main guard."""
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            names |= {n.id for t in assignment_targets(node) for n in ast.walk(t) if isinstance(n, ast.Name)}
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return names


def unreachable_model(tree: ast.Module, entry: str = "", module_models: list[str] | None = None) -> HiddenClass | None:
    """The model class a check cannot build because the script hides it (``hidden_classes``), else None.

    With ``entry``: that class, when the module does not bind it. Without: ``Net`` when the module does not bind it
    but hides it; else, when every module-level model class (``module_models``, the nn.Module subclasses the module
    defines) is used by another class (a helper such as ``ConvBN``), the last hidden class no other class uses (the
    model the user most likely means). Why: the check built a helper or a block Patch inserted as the model."""
    found = _hidden(tree.body, False, "")
    hidden = _hidden_of(found)
    if not hidden:
        return None
    reached = {node.name for node, guarded, function in found if not guarded and not function}
    bound = _module_level_names(tree) | reached
    wanted = entry or "Net"
    if wanted in bound:
        return None
    named = [h for h in hidden if h.name == wanted]
    if named or entry:
        return named[0] if named else None
    used = _used_by_other_classes(tree)
    if any(name not in used for name in module_models or []):
        return None
    roots = [h for h in hidden if h.name not in used]
    return roots[-1] if roots else None


def exception_text(exc: BaseException) -> str:
    """``str(exc)``, or what went wrong making it. Why: checked code defines its own exceptions, and a typo in their
    ``__str__`` (``f"bad shape {self.shap}"``) raised inside the checker, which then blamed itself for the failure."""
    try:
        text = str(exc)
        if isinstance(text, str):
            return text
    except BaseException as inner:  # noqa: BLE001 - anything the checked code's __str__ raises
        return f"<{type(exc).__name__} instance; its __str__ raised {type(inner).__name__}: {_inner_text(inner)}>"
    return f"<{type(exc).__name__} instance; its __str__ returned {type(text).__name__}, not str>"


def _inner_text(exc: BaseException) -> str:
    try:
        return str(exc)[:500]
    except BaseException:  # noqa: BLE001 - an exception of the checked code's again
        return "?"


def is_oom(exc: BaseException) -> bool:
    return isinstance(exc, MemoryError) or (isinstance(exc, RuntimeError) and any(p in exception_text(exc) for p in _OOM_PATTERNS))


INPLACE_HINT = ("a tensor autograd saved for backward is changed in place later (x += ..., x[...] = ..., x.add_(), "
                "nn.ReLU(inplace=True) on it): use the out-of-place form (x = x + ...) or drop inplace=True")


def is_inplace_error(exc: BaseException) -> bool:
    """Backward failed because an in-place op changed a tensor autograd had saved."""
    return isinstance(exc, RuntimeError) and "modified by an inplace operation" in exception_text(exc)


def inplace_diagnosis(msg: str, stage: str, line: int, code: str) -> Diagnosis:
    """The in-place failure located by anomaly mode: ``line`` made the tensor that a later in-place op changed."""
    made = re.search(r"which is output \d+ of (\w+)", msg)
    what = f"the output of {made.group(1)}" if made else "a tensor"
    text = _source_line(code, line)
    changed = _inplace_op_line(code, line)
    later = f"at line {changed} (`{_source_line(code, changed)}`)" if changed else "later in forward"
    problem = f"{stage} failed: {what} made at line {line} is modified in-place {later}"
    hint = f"{what} made at line {line}{f' (`{text}`)' if text else ''} is changed in-place {later}: {INPLACE_HINT}"
    return Diagnosis(problem, hint, "inplace", "", line)


def _inplace_op_line(code: str, made: int) -> int | None:
    """The first in-place change of the name assigned at line ``made``, later in the same function: an augmented
    assignment (``x += 1``; ``x[...] = ...`` counts too) or an in-place call (``x.add_(1)``, ``torch.relu_(x)``,
    ``F.relu(x, inplace=True)``): the usual culprits, found statically."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return None
    for func in (n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))):
        if not func.lineno <= made <= (func.end_lineno or func.lineno):
            continue
        names = {t.id for n in ast.walk(func) if isinstance(n, ast.Assign) and n.lineno == made for t in n.targets if isinstance(t, ast.Name)}
        for node in sorted(ast.walk(func), key=lambda n: getattr(n, "lineno", 0)):
            if getattr(node, "lineno", 0) > made and (_assigns_in_place(node, names) or _calls_in_place(node, names)):
                return node.lineno
    return None


def _assigns_in_place(node: ast.AST, names: set[str]) -> bool:
    """``x += ...`` or ``x[...] = ...`` for a name in ``names``."""
    target = node.target if isinstance(node, ast.AugAssign) else (node.targets[0] if isinstance(node, ast.Assign) else None)
    base = target.value if isinstance(target, ast.Subscript) else (target if isinstance(node, ast.AugAssign) else None)
    return isinstance(base, ast.Name) and base.id in names


def _calls_in_place(node: ast.AST, names: set[str]) -> bool:
    """``x.add_(...)``, ``torch.relu_(x)`` or ``f(x, inplace=True)`` for a name in ``names``. Why: only the assignment
    forms were located, so ``y.mul_(2)`` got "modified in-place later in forward" where ``y += 1`` got its line."""
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    trailing = name.endswith("_") and not name.endswith("__")
    if trailing and isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in names:
        return True  # x.add_(1)
    first = node.args[0] if node.args else None
    inplace_flag = any(k.arg == "inplace" and isinstance(k.value, ast.Constant) and k.value.value is True for k in node.keywords)
    return (trailing or inplace_flag) and isinstance(first, ast.Name) and first.id in names  # torch.relu_(x), F.relu(x, inplace=True)


def _source_line(code: str, line: int | None) -> str:
    lines = code.splitlines()
    return lines[line - 1].strip()[:120] if line and 0 < line <= len(lines) else ""


def _first_line(text: str, limit: int = 240) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line[:limit]


def _at(lineno: int | None) -> str:
    return f" (line {lineno})" if lineno else ""


def where_is(name: str) -> str | None:
    """How to get ``name`` from an installed library, or None."""
    if name in _MODULE_ALIASES:
        return _MODULE_ALIASES[name]
    for module_name, usage in _NAME_HOMES:
        module = sys.modules.get(module_name)
        if module is None:
            continue
        if not name.startswith("_") and hasattr(module, name):
            return usage.format(name=name)
    return None


def _did_you_mean(name: str, candidates: list[str]) -> str | None:
    close = difflib.get_close_matches(name, [c for c in candidates if not c.startswith("__")], n=1, cutoff=0.75)
    return close[0] if close else None


LEMUR_IN_SHAPE_HINT = "; in_shape is (batch, channels, height, width), so the input channels are in_shape[1], not in_shape[0]"


def _built_hint(code: str, name: str, entry: str | None) -> str:
    """Where ``__init__`` builds the failing layer: the error's traceback points at the forward call, but the
    fix (in_features, in_channels) goes where the layer is constructed. Adds the LEMUR layout hint when the
    channels come from in_shape[0]."""
    line = built_at(code, name, entry)
    text = _source_line(code, line)
    hint = f"; `{name}` is built at line {line}: `{text}`" if line else ""
    if "in_shape[0]" in (text if line else code):
        hint += LEMUR_IN_SHAPE_HINT
    return hint


def built_at(code: str, name: str, entry: str | None = None) -> int | None:
    """The line of the entry class's ``__init__`` that builds submodule ``name`` (``conv1``, ``classifier.1``), by a
    static scan: ``self.<attr> = ...``, then positional items of nn.Sequential/ModuleList for numeric parts."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return None
    classes = [n for n in tree.body if isinstance(n, ast.ClassDef)]
    chosen = [c for c in classes if c.name == entry] or ([c for c in classes if c.name == "Net"] or classes[-1:])
    parts = name.split(".")
    for cls in chosen:
        node = _self_assignment(cls, parts[0])
        if node is None:
            continue
        for part in parts[1:]:
            items = node.args if isinstance(node, ast.Call) and _call_name(node).endswith(("Sequential", "ModuleList")) else []
            if not part.isdigit() or int(part) >= len(items) or any(isinstance(a, ast.Starred) for a in items[: int(part) + 1]):
                break
            node = items[int(part)]
        return node.lineno
    return None


def _self_assignment(cls: ast.ClassDef, attr: str) -> ast.expr | None:
    """The value of ``self.<attr> = <value>`` in the class's ``__init__``."""
    for func in cls.body:
        if isinstance(func, ast.FunctionDef) and func.name == "__init__":
            for node in ast.walk(func):
                if isinstance(node, ast.Assign) and any(isinstance(t, ast.Attribute) and t.attr == attr
                                                        and isinstance(t.value, ast.Name) and t.value.id == "self" for t in node.targets):
                    return node.value
    return None


def _call_name(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else (func.id if isinstance(func, ast.Name) else "")


_TOO_SMALL_PATTERNS = ("Kernel size can't be greater than actual input size", "Output size is too small")


def _layer_hint(layer: dict, msg: str = "", inputs: list[list[int]] | None = None) -> str:
    kind, shapes, rep = layer["type"], layer["input_shapes"], layer["repr"]
    got = shapes[0] if shapes else None
    if "more than 1 value per channel" in msg and got:
        positions = math.prod(got[2:]) if len(got) > 2 else 1
        return (f"`{layer['name']}` is {rep}: in train mode it needs more than one value per channel, but input {got} "
                f"holds batch {got[0]} x {positions} position(s): use a batch of at least 2, or keep more than 1x1 "
                "positions before it (fewer downsamplings, or a larger input)")
    if any(p in msg for p in _TOO_SMALL_PATTERNS) and got and len(got) > 2:
        return (f"`{layer['name']}` is {rep} but its input {got} is spatially smaller than its window: the layers before "
                "it downsample too much for this input size; give the model a larger input (`--input-shape`) or "
                "downsample less (fewer stride-2 layers or pools, padding)")
    if kind == "Linear" and got:
        return f"`{layer['name']}` is {rep} but receives features of size {got[-1]}: set in_features={got[-1]}, or pool/flatten to the expected size before it (e.g. nn.AdaptiveAvgPool2d(1) + torch.flatten(x, 1))"
    if kind.startswith("Conv") and got:
        channels = got[1] if len(got) > 1 else None
        if inputs and got in inputs:  # the model's own input: there is no previous layer (a generator fed images)
            return (f"`{layer['name']}` is {rep} but receives the model's input {got} ({channels} channels): make its "
                    "in_channels match the input's channels, or give the model the input it takes (`--input-shape`)")
        return f"`{layer['name']}` is {rep} but receives input of shape {got} ({channels} channels): make in_channels match the previous layer's output channels"
    if "BatchNorm" in kind and got and len(got) > 1:
        return f"`{layer['name']}` is {rep} but receives {got[1]} channels (input {got}): set num_features={got[1]}"
    if kind == "LayerNorm" and got:
        return f"`{layer['name']}` is {rep} but its input has trailing shape {got[-1:]}: normalized_shape must equal the last dimension(s) of the input"
    return f"`{layer['name']}` ({rep}) fails on input shapes {shapes}: check the sizes produced by the layer before it"


_SPATIAL_NAMES = {1: ("length",), 2: ("height", "width"), 3: ("depth", "height", "width")}


def _layer_dims(layer: dict) -> int | None:
    """Spatial dimensions of a layer that takes (batch, channels, *spatial): 1, 2 or 3 for ConvNd, ConvTransposeNd,
    BatchNormNd, InstanceNormNd and the NNd pools; None for other layers."""
    match = re.fullmatch(r"(?:Lazy)?(?:Conv|ConvTranspose|BatchNorm|InstanceNorm|MaxPool|AvgPool|AdaptiveAvgPool|AdaptiveMaxPool)([123])d",
                         layer["type"])
    return int(match.group(1)) if match else None


def _rank_problem(layer: dict, inputs: list[list[int]] | None) -> tuple[int, list[int], list[int]] | None:
    """(spatial dims, the layer's input shape, the model input it comes from) when the failing layer got an input of a
    rank it does not take: neither (batch, channels, *spatial) nor one unbatched sample; or one unbatched sample that
    is the model input itself (a model input has a batch dimension, so a dimension is missing). Why: a Conv2d fed a
    (2, 3, 32) input read it as one sample of 2 channels, and the hint said to make in_channels match."""
    dims, shapes = _layer_dims(layer), layer["input_shapes"]
    if dims is None or not shapes or not inputs:
        return None
    got = shapes[0]
    model_input = next((s for s in inputs if s == got), None) or next((s for s in inputs if len(s) <= len(got)), inputs[0])
    if len(got) == dims + 2 or (len(got) == dims + 1 and got != model_input):
        return None
    if len(got) == 2 and re.fullmatch(r"(?:Lazy)?BatchNorm1d", layer["type"]):  # (batch, features) is BatchNorm1d's too
        return None
    return dims, got, model_input


def _rank_diagnosis(layer: dict, dims: int, got: list[int], model_input: list[int], first: str, lineno: int | None) -> Diagnosis:
    """The input rank the failing layer wants, and a model input shape that gives it that rank (``--input-shape``)."""
    wanted = dims + 2
    axes = ", ".join(("batch", "channels", *_SPATIAL_NAMES[dims]))
    added = len(got) - len(model_input)  # dimensions the model adds (unsqueeze) before the layer
    channels = _layer_channels(layer) or (model_input[1] if len(model_input) > 1 else 3)
    kernel = max([int(k) for k in re.findall(r"kernel_size=\(?(\d+)", layer["repr"])] or [1])
    side = max(32, 4 * kernel)
    spatial = [d for d in model_input[1:] if d != channels and d >= side][-dims:]
    layer_shape = [model_input[0] if model_input else 2, channels, *([side] * (dims - len(spatial)) + spatial)]
    rank = wanted - added
    if rank < 1:
        suggestion = ""
    else:
        shape = layer_shape if rank == wanted else (layer_shape[:1] + layer_shape[len(layer_shape) - rank + 1:] if rank < wanted
                                                    else layer_shape[:1] + [1] * (rank - wanted) + layer_shape[1:])
        text = ",".join(str(d) for d in shape)
        suggestion = f"; give the model a {rank}-D input, e.g. `--input-shape {text}` (Example.inputs=[{shape}])"
    source = (f"the model input {got} itself" if got == model_input else
              f"{len(got)}-D input {got}, made from the {len(model_input)}-D model input {model_input}")
    unbatched = f" (read as one unbatched sample of {got[0]} channels)" if len(got) == dims + 1 else ""
    problem = f"input rank mismatch in layer `{layer['name']}` ({layer['type']}): it takes {wanted}-D input, got {list(got)}: {first}"
    hint = f"`{layer['name']}` is {layer['repr']} and takes {wanted}-D input ({axes}), but receives {source}{unbatched}{suggestion}"
    return Diagnosis(problem[:400], hint, "input_rank", layer["name"], lineno)


def _layer_channels(layer: dict) -> int | None:
    """The input channels a layer's repr names first: Conv2d(3, 8, ...), BatchNorm2d(16, ...)."""
    match = re.match(r"\w+\((\d+)", layer["repr"])
    return int(match.group(1)) if match else None


def _recursion_diagnosis(stage: str, first: str, lineno: int | None) -> Diagnosis:
    """A RecursionError while Python reads the code (an expression of thousands of chained operations, calls or
    subscripts) or while the model runs (a module that calls itself). Why: both said "see the traceback", and a
    compile-time one has no traceback in the model's code."""
    if stage in ("parse", "compile"):
        return Diagnosis(f"the code nests too deeply for Python's compiler: {first}",
                         "split long expressions (chains of operators, calls, attributes or subscripts) into shorter "
                         "statements that name their intermediate results", "too_deep", "", lineno)
    return Diagnosis(f"RecursionError at {stage}{_at(lineno)}: {first}",
                     f"the model recurses past Python's limit{_at(lineno)}: a module or function that calls itself "
                     "without end (a forward that calls self(...) or a submodule that holds its parent)", "recursion", "", lineno)


def diagnose_exception(
    exc: BaseException,
    stage: str,
    namespace: dict[str, Any] | None = None,
    layer: dict | None = None,
    lineno: int | None = None,
    code: str = "",
    params: int | None = None,
    memory_mb: int | None = None,
    entry: str | None = None,
    inputs: list[list[int]] | None = None,
    inputs_inferred: bool = False,
) -> Diagnosis:
    """Diagnosis of an exception raised by user code at ``stage`` (runs in the child). ``inputs``: the shapes of the
    model inputs forward was fed; ``inputs_inferred``: the checker proposed them (``Example.inputs`` was None), which
    the problem then says, since the caller never saw them."""
    diagnosis = _diagnose_exception(exc, stage, namespace or {}, layer, lineno, code, params, memory_mb, entry, inputs)
    if inputs_inferred and inputs:
        diagnosis.problem += f" (model inputs inferred by the checker: {inputs})"
    return diagnosis


def _defined_after(code: str, name: str, lineno: int | None) -> int | None:
    """The line of a top-level definition of ``name`` (def, class, assignment) below ``lineno``, where it failed as
    not defined. Why: ``BLOCK = ResUnit`` above ``class ResUnit`` was told to define a class the file defines."""
    if not name or lineno is None:
        return None
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    for stmt in tree.body:
        bound = [stmt.name] if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) else [
            t.id for t in getattr(stmt, "targets", [getattr(stmt, "target", None)]) if isinstance(t, ast.Name)]
        if name in bound and stmt.lineno > lineno:
            return stmt.lineno
    return None


def _diagnose_exception(exc: BaseException, stage: str, namespace: dict[str, Any], layer: dict | None, lineno: int | None,
                        code: str, params: int | None, memory_mb: int | None, entry: str | None,
                        inputs: list[list[int]] | None) -> Diagnosis:
    etype = type(exc).__name__
    msg = exception_text(exc)
    first = _first_line(msg)

    if msg.startswith("sandbox: ") or _is_network_error(exc, msg):
        what = "network access" if _is_network_error(exc, msg) or "socket" in msg or "urllib" in msg or "http" in msg else "an operation outside the sandbox"
        return Diagnosis(
            f"the code attempted {what} at {stage}{_at(lineno)}: {first}",
            "checks run offline in a sandbox: do not download weights or data (use pretrained=False / random init), spawn processes or write outside the working directory",
            "sandbox_blocked" if msg.startswith("sandbox: ") else "network", "", lineno,
        )
    if isinstance(exc, SyntaxError):
        line = getattr(exc, "lineno", None)
        if line is None:
            return Diagnosis(f"the code is not Python source: {exc.msg}", _unparseable_hint(exc.msg or msg), "syntax_error", "", None)
        return Diagnosis(f"syntax error{_at(line)}: {exc.msg}", f"fix the syntax at line {line}: {(exc.text or '').strip()[:120]}", "syntax_error", "", line)
    if is_oom(exc):
        return Diagnosis(
            f"ran out of memory at {stage} (budget {memory_mb} MB){_at(lineno)}",
            f"the model (params={params}) or an intermediate tensor is too large: reduce widths, depth or the input size", "oom", "", lineno,
        )
    if isinstance(exc, NameError) and not isinstance(exc, UnboundLocalError):
        name = getattr(exc, "name", None) or (re.findall(r"name '([^']+)'", msg) or [""])[0]
        home = where_is(name)
        later = _defined_after(code, name, lineno)
        if later is not None:
            hint = (f"{name} is defined at line {later}, after line {lineno}, which uses it while the module loads: move the "
                    f"definition of {name} above line {lineno}")
        elif home:
            hint = f"{name} exists in an installed library: use {home}"
        else:
            close = _did_you_mean(name, list(namespace))
            hint = f"did you mean {close!r}? " if close else ""
            hint += f"define {name} in this file (class, function or constant) or import it; it is referenced but never defined"
        return Diagnosis(f"{name} is not defined{_at(lineno)}", hint, "undefined_name", name, lineno)
    if isinstance(exc, ModuleNotFoundError):
        name = getattr(exc, "name", None) or first
        return Diagnosis(
            f"module {name!r} is not available{_at(lineno)}",
            f"only the standard library, torch, torchvision, timm and numpy are installed: inline what you need from {name} or use torch equivalents",
            "missing_module", name or "", lineno,
        )
    if isinstance(exc, ImportError):
        match = re.search(r"cannot import name '([^']+)' from '([^']+)'", msg)
        name = match.group(1) if match else ""
        home = where_is(name) if name else None
        hint = f"{name} is available as {home}" if home else "import it from the module that defines it, or define it in this file"
        return Diagnosis(f"import failed{_at(lineno)}: {first}", hint, "import_error", name, lineno)
    if isinstance(exc, AttributeError):
        match = re.search(r"module '([^']+)' has no attribute '([^']+)'", msg)
        if match:
            module = sys.modules.get(match.group(1))
            close = _did_you_mean(match.group(2), dir(module)) if module else None
            hint = f"did you mean {match.group(1)}.{close}?" if close else f"{match.group(1)} has no {match.group(2)} in the installed version: use another API or define it"
            return Diagnosis(f"{match.group(1)}.{match.group(2)} does not exist{_at(lineno)}", hint, "attribute_error", match.group(2), lineno)
        return Diagnosis(f"attribute error at {stage}{_at(lineno)}: {first}", "an attribute is used before it is set (check __init__ assigns it) or on the wrong object", "attribute_error", "", lineno)
    if is_inplace_error(exc):
        return Diagnosis(f"backward failed at {stage}{_at(lineno)}: a tensor needed for the gradient was modified in place", INPLACE_HINT, "inplace", "", lineno)
    if _needs_gpu(msg):
        return Diagnosis(
            f"the code requires CUDA at {stage}{_at(lineno)}: {first}",
            "checks run on the CPU with no GPU: do not call .cuda() or hard-code device='cuda'; use the `device` argument or x.device",
            "device", "", lineno,
        )
    if _is_dtype_error(exc, msg):  # before the shape rules: "... 'indices' to have one of the following scalar types" is a dtype error
        return Diagnosis(f"dtype mismatch at {stage}{_at(lineno)}: {first}", _dtype_hint(msg), "dtype", "", lineno)
    if any(p in msg for p in _THREAD_LIMIT_PATTERNS):
        return Diagnosis(f"the code could not start another thread or process at {stage}{_at(lineno)}: {first}",
                         THREAD_LIMIT_HINT.format(limit=_nproc_limit()), "thread_limit", "", lineno)
    rank = _rank_problem(layer, inputs) if stage == "forward" and layer is not None else None
    if rank is not None:
        return _rank_diagnosis(layer, *rank, first, lineno)
    if stage in ("forward", "backward", "train_step") and layer is not None and any(p in msg for p in _SHAPE_PATTERNS):
        problem = f"shape mismatch in layer `{layer['name']}` ({layer['type']}) on input {layer['input_shapes']}: {first}"
        return Diagnosis(problem[:400], _layer_hint(layer, msg, inputs) + _built_hint(code, layer["name"], entry), "shape_mismatch",
                         layer["name"], lineno, layer["type"], layer["input_shapes"])
    if stage in ("forward", "backward", "train_step") and any(p in msg for p in _SHAPE_PATTERNS[:6]):
        return Diagnosis(f"shape mismatch at {stage}{_at(lineno)}: {first}", "the tensor sizes at that line do not fit: print the shapes produced by the layers before it", "shape_mismatch", "", lineno)
    if isinstance(exc, TypeError) and stage == "instantiate" and ("argument" in msg or "positional" in msg) and lineno:
        # raised in the model's own code: a call inside a constructor (a block built with arguments its class does not
        # take), not the model's constructor called without its arguments. Why: the hint sent users to --init-kwargs.
        return Diagnosis(
            f"constructor call failed{_at(lineno)}: {first}",
            f"the call at line {lineno}, made while the model is built, passes arguments its class or function does not "
            "take (or misses required ones): fix that call to fit the signature the message names",
            "constructor_args", "", lineno,
        )
    if isinstance(exc, TypeError) and stage == "instantiate" and ("argument" in msg or "positional" in msg):
        return Diagnosis(
            f"constructor call failed: {first}",
            "give the missing constructor arguments defaults, or pass them in CheckSpec.example.init_args / init_kwargs "
            "(`nnrag check --init-kwargs '{\"num_classes\": 10}'`); if this class is not the model, name the model with "
            "CheckSpec.entry (`--entry`)",
            "constructor_args", "", lineno,
        )
    if isinstance(exc, TypeError) and stage == "forward" and "forward()" in msg:
        return Diagnosis(f"forward call failed: {first}", "forward takes a different number of inputs: pass one input shape per tensor argument (`--input-shape` once per "
                         "input); if this class is not the model, name the model with CheckSpec.entry (`--entry`)", "forward_args", "", lineno)
    if isinstance(exc, SystemExit):
        return Diagnosis(f"the code called sys.exit({exc.code!r}) at {stage}{_at(lineno)}", "remove exit calls from library/model code", "exit", "", lineno)
    if isinstance(exc, RecursionError):
        return _recursion_diagnosis(stage, first, lineno)
    if "dtype" in msg:
        return Diagnosis(f"dtype mismatch at {stage}{_at(lineno)}: {first}", _dtype_hint(msg), "dtype", "", lineno)
    if getattr(exc, "error_type", None):  # our own StageError
        return Diagnosis(f"{exc.error_type} at {stage}: {first}", _stage_error_hint(exc.error_type, msg), exc.error_type, "", lineno)
    return Diagnosis(f"{etype} at {stage}{_at(lineno)}: {first}", f"see the traceback{_at(lineno)}; the error is raised in the model code" if lineno else "see the traceback", "exception", "", lineno)


def _unparseable_hint(msg: str) -> str:
    """A syntax error with no line: Python refused the text as a whole (null bytes, a bad encoding), so there is
    no line to fix and "line None" only misled."""
    if "null bytes" in msg:
        return "the text contains null bytes, so it is a binary file (or was read with the wrong encoding), not Python source: send the model's .py text"
    return f"the text as a whole cannot be read as Python source ({msg}): send the model's .py text, UTF-8 encoded"


def _is_dtype_error(exc: BaseException, msg: str) -> bool:
    """torch's dtype errors ("expected scalar type Long but found Float", "... to have one of the following scalar
    types", "... must have the same dtype"); a TypeError naming a ``dtype`` argument is a call error, decided later."""
    return "scalar type" in msg or ("dtype" in msg and not isinstance(exc, TypeError))


def _dtype_hint(msg: str) -> str:
    if "indices" in msg:  # an embedding given float inputs
        return ("the model takes integer ids (an embedding): give it int64 inputs (Example.input_dtypes=['int64'], "
                "`nnrag check --input-dtype int64`), or cast with x.long()")
    return "cast tensors to the same dtype (x.float(), x.long()) before combining them"


def _nproc_limit() -> int:
    from sandbox.guard import NPROC_LIMIT

    return NPROC_LIMIT


def _stage_error_hint(error_type: str, msg: str = "") -> str:
    if error_type == "OutputShapeMismatch" and msg.startswith("LEMUR contract: a per-pixel"):
        return ("upsample the per-pixel logits to the input's size (F.interpolate(out, size=x.shape[-2:], "
                "mode='bilinear')): LEMUR's segmentation masks are the image's size")
    if error_type == "OutputShapeMismatch" and msg.startswith("LEMUR contract"):
        return ("pool and flatten to (batch, features), then end with nn.Linear(features, out_shape[0]): LEMUR's trainer "
                "reads (batch, num_classes) logits, with num_classes = out_shape[0] (a text model fed token ids: "
                "check it with --input-dtype int64, and its per-token logits are read as text generation)")
    return {
        "EntryNotFound": "name an entry class that the code defines (CheckSpec.entry)",
        "EntryNotModule": "the entry must be a class that subclasses torch.nn.Module, or a function that returns an nn.Module",
        "NoModule": ("define a class that subclasses torch.nn.Module (a `Net` is picked first), or name the function that "
                     "builds the model as the entry (`--entry build`, CheckSpec.entry)"),
        "ClassInFunction": "define the model's classes at module level, not inside a function; keep only the demo run in the function",
        "MainGuardOnly": 'move the model\'s classes out of the `if __name__ == "__main__":` block to module level; keep only the demo run under it',
        "ParamBudget": "make the model smaller (fewer channels/layers) or raise CheckSpec.max_params",
        "OutputShapeMismatch": "make the final layer produce the expected shape (e.g. Linear(..., num_classes))",
        "NoTensorOutput": "forward must return a tensor, or a tuple/list/dict of tensors",
        "NoTrainableParameter": ("give the model layers with weights (nn.Linear, nn.Conv2d) and leave some of their parameters "
                                 "requires_grad=True; to check a fixed (frozen) model, run only up to forward (`--stage forward`)"),
        "NoGradient": "do not detach the output or wrap forward in torch.no_grad(); make sure parameters are used",
        "ZeroGradient": ("return what the loss should read before any rounding or selection (torch.round, argmax, sign, "
                         "> 0): those have a zero gradient; round or pick in the test loop, or use a straight-through "
                         "estimator (x + (x.round() - x).detach())"),
        "BadExample": "fix the example's inputs/dtypes",
        "NonFiniteOutput": ("find the op that makes them (the layer named, or the forward code around it): a division by "
                            "zero, log or sqrt of values <= 0, exp of large values, a mask of -inf that a softmax reads "
                            "in full; add an epsilon or clamp"),
        "NonFiniteGradient": ("an op whose derivative is infinite where forward uses it: sqrt or x ** p (p < 1) of 0, "
                              "log of 0, the norm of a zero vector, acos / asin at +-1; add an epsilon inside it "
                              "(torch.sqrt(x + 1e-6))"),
        "NonFiniteLoss": "make forward's output finite (see NonFiniteOutput); for a LEMUR model, its loss in learn()",
        "NonFiniteParameter": ("the step made weights NaN or inf: lower the learning rate, clip the gradients "
                               "(torch.nn.utils.clip_grad_norm_), or fix a loss that can be infinite"),
        "NothingLearned": ("each batch must run forward, loss.backward() and optimizer.step() (for a LEMUR model in "
                           "learn(), with the optimizer train_setup() builds from prm['lr'] > 0); a loss that does not "
                           "depend on the parameters (output * 0, argmax, round) gives them no gradient"),
    }.get(error_type, "see the message")


def diagnose_status(status: str, stage: str | None, timeout_s: float | None = None, signal_number: int | None = None,
                    exit_code: int | None = None, memory_mb: int | None = None, params: int | None = None,
                    output: str = "") -> Diagnosis:
    """Diagnosis for a child that died without reporting an exception (runs in the worker).
    ``output`` is what the check printed: a native library that exits on a refused thread says so there."""
    stage = stage or "unknown stage"
    if status == "timeout":
        return Diagnosis(
            f"did not finish within {timeout_s:g} s (stuck in {stage})",
            "look for an infinite loop or a model far too large for a (2, 3, 32, 32) input; a small CIFAR model checks in well under a second",
            "timeout",
        )
    if status == "oom":
        return Diagnosis(f"exceeded the memory budget ({memory_mb} MB) at {stage}", f"reduce widths, depth or input size (params={params})", "oom")
    if signal_number is not None:
        try:
            sig_name = signal.Signals(signal_number).name
        except ValueError:
            sig_name = f"signal {signal_number}"
        return Diagnosis(
            f"the process was killed by {sig_name} during {stage}",
            "a native crash (ctypes, an extension, an invalid op) or the code killed itself: remove low-level calls",
            "crash", sig_name,
        )
    if any(p in output for p in _THREAD_LIMIT_PATTERNS):
        return Diagnosis(
            f"the process exited (code {exit_code}) during {stage}: a thread pool could not start its threads",
            THREAD_LIMIT_HINT.format(limit=_nproc_limit()), "thread_limit",
        )
    return Diagnosis(
        f"the process exited (code {exit_code}) during {stage} without reporting a result",
        "the code called os._exit() or exit() at module level or in the model: remove it",
        "exit",
    )


def diagnose_wall(cause: str, stage: str, cpu_s: float | None, budget_s: float, wall_s: float) -> Diagnosis:
    """A check that reached its wall-clock cap before its CPU budget; ``cause`` is ``sandbox.worker.wall_cause``'s.
    Only "idle" blames the code: the others say the machine (or something unknown) held it up."""
    used = "an unknown amount" if cpu_s is None else f"{cpu_s:.2f} s"
    if cause == "idle":
        return Diagnosis(f"waited in {stage} for the whole wall-clock cap of {wall_s:g} s using {used} of CPU (stuck in {stage})",
                         "the code sleeps or blocks (time.sleep, reading a pipe or socket, a lock, input()): remove the wait", "timeout")
    if cause == "busy":
        return Diagnosis(f"the machine was busy: {used} of CPU used of the {budget_s:g} s budget when the wall-clock cap of {wall_s:g} s passed in {stage}",
                         "not the code's fault: re-check it on a less loaded machine or with fewer workers", "machine_busy")
    return Diagnosis(f"{used} of CPU used of the {budget_s:g} s budget when the wall-clock cap of {wall_s:g} s passed in {stage}: the machine was busy or the code waits",
                     "re-check it; if it ends the same way on an idle machine, look for a sleep or a blocking read in the code", "machine_busy")


def diagnose_deadline(kind: str, stage: str, cpu_s: float | None, budget_s: float) -> Diagnosis:
    """The caller ended the check: its deadline passed ("deadline") or it cancelled ("cancelled"); not the code's fault."""
    used = "an unknown amount" if cpu_s is None else f"{cpu_s:.2f} s"
    if kind == "cancelled":
        return Diagnosis(f"the caller cancelled the check during {stage}", "not the code's fault: check it again when the answer is wanted", "cancelled")
    return Diagnosis(f"the caller's deadline passed during {stage}, {used} of CPU used of the {budget_s:g} s budget",
                     "not the code's fault: give the check a later deadline", "deadline")


def enrich(diagnosis: Diagnosis, hint_provider: HintProvider | None) -> Diagnosis:
    """Let a caller (e.g. the server, with the block store) add a better hint; never fails the check."""
    if hint_provider is None or not diagnosis.problem:
        return diagnosis
    try:
        extra = hint_provider(diagnosis)
    except Exception:  # noqa: BLE001 - a broken provider must not break the result
        return diagnosis
    if extra:
        diagnosis.hint = f"{extra}; {diagnosis.hint}" if diagnosis.hint else extra
    return diagnosis
