"""Which entry a check builds when the caller names none (``CheckSpec.entry`` None). Runs inside the sandboxed child,
on the imported module's namespace and its parsed tree.

Order, first that applies:
1. ``Net`` (a class, or a function returning the model);
2. the model the file builds itself: a module-level instance of one of its top-level models (``model = Classifier()``),
   or a zero-argument factory function that returns one (``def resnet10(): return ResNet(BasicBlock, [1, 1])``),
   whichever is defined last; an instance is rebuilt by evaluating its assignment again, so each attempt gets a fresh one;
3. the nn.Module classes no other class (or helper function a class calls) uses, the top-level models: the last one
   that can be built with the example's arguments (no arguments by default: every ``__init__`` parameter defaulted, or
   LEMUR's contract), else the last of them;
4. the last nn.Module class;
5. in a file that defines no nn.Module class, the model it takes from a library: a module-level instance with
   parameters (``model = timm.create_model("resnet18")``) or a zero-argument function returning another module's call
   (``def build(): return torchvision.models.resnet18()``), whichever is defined last.
Why: "``Net``, else the last nn.Module subclass" built a helper defined after the model (``Helper(dim)``), a head class
below ``model = Classifier()``, or ``ResNet(block, layers)`` beside its ``resnet10()`` factory, and failed valid files.
"""

from __future__ import annotations

import ast
import copy
import inspect
import sys
from typing import Any, Callable

import torch.nn as nn

from sandbox.diagnose import _used_by_other_classes, assignment_targets

FACTORY_DEPTH = 3  # factories returning factories' results, followed this deep


def is_module_class(obj: Any) -> bool:
    return isinstance(obj, type) and issubclass(obj, nn.Module)


def used_names(tree: ast.Module) -> set[str]:
    """Names a model uses as a part: read inside another class, or inside a module-level function such a class reads
    (``def conv_bn(c): return ConvBN(c)`` called in a model's ``__init__``)."""
    used = _used_by_other_classes(tree)
    functions = {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    pending = [name for name in functions if name in used]
    seen: set[str] = set()
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        reads = {n.id for n in ast.walk(functions[name]) if isinstance(n, ast.Name) and n.id != name}
        used |= reads
        pending += [r for r in reads if r in functions]
    return used


def builds_with(cls: Any, args: list[Any], kwargs: dict[str, Any], lemur: Callable[[Any], bool]) -> bool:
    """Whether ``cls(*args, **kwargs)`` fits its signature (a LEMUR class gets the contract's arguments instead)."""
    if lemur(cls):
        return True
    try:
        inspect.signature(cls).bind(*args, **kwargs)
    except (TypeError, ValueError):
        return False
    return True


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else ""
    return ""


def _lookup(name: str, namespace: dict[str, Any]) -> Any:
    parts = name.split(".")
    obj = namespace.get(parts[0])
    for part in parts[1:]:
        obj = getattr(obj, part, None)
    return obj


def _library_function(callee: Callable[..., Any], module_name: str) -> bool:
    """Whether ``callee`` comes from an installed package, not the checked file nor the standard library: a model
    factory such as ``timm.create_model``, never ``sys.exit`` or ``print`` (a ``main()`` ending in one is no builder)."""
    module = getattr(callee, "__module__", None) or ""
    top = module.split(".")[0]
    return bool(top) and module != module_name and top not in sys.stdlib_module_names and top != "builtins"


def _required_parameters(func: Callable[..., Any]) -> bool:
    """Whether calling ``func()`` lacks an argument it needs (True also when its signature cannot be read)."""
    try:
        parameters = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return True
    return any(p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) for p in parameters)


class EntryFinder:
    """The static choices of steps 2 and 3 over one imported module."""

    def __init__(self, tree: ast.Module, namespace: dict[str, Any], class_order: list[str], module_name: str) -> None:
        self.tree = tree
        self.namespace = namespace
        self.class_order = class_order
        self.module_name = module_name
        self.used = used_names(tree)
        # the top-level models: the nn.Module classes the module defines that nothing else in it uses
        self.roots = {n for n in class_order if is_module_class(namespace.get(n)) and n not in self.used}
        self.functions = {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}

    # --- step 2 ----------------------------------------------------------------------------
    def built_model(self) -> Callable[[], nn.Module] | None:
        """A zero-argument builder of the model the file itself builds (module-level instance or factory), else None."""
        found: list[tuple[int, Callable[[], nn.Module]]] = []
        for node in self.tree.body:
            if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
                targets = assignment_targets(node)
                if len(targets) == 1 and isinstance(targets[0], ast.Name) and self._is_model_instance(targets[0].id):
                    found.append((node.lineno, self.instance_builder(targets[0].id)))
            elif isinstance(node, ast.FunctionDef) and self._is_model_factory(node.name, FACTORY_DEPTH):
                found.append((node.lineno, self.namespace[node.name]))
        return found[-1][1] if found else None

    def _is_model_instance(self, name: str) -> bool:
        obj = self.namespace.get(name)
        if not isinstance(obj, nn.Module) or name in self.used:
            return False
        cls = type(obj)
        return type(obj) is nn.Sequential or (cls.__module__ == self.module_name and cls.__name__ in self.roots)

    def _is_model_factory(self, name: str, depth: int) -> bool:
        func, node = self.namespace.get(name), self.functions.get(name)
        if depth <= 0 or node is None or not inspect.isfunction(func) or name in self.used or func.__module__ != self.module_name:
            return False
        if _required_parameters(func):
            return False
        return any(self._returns_model(value, node, depth) for value in self._returned(node))

    @staticmethod
    def _returned(func: ast.FunctionDef) -> list[ast.expr]:
        """The expressions ``func`` itself returns (not those of nested functions)."""
        values: list[ast.expr] = []
        pending: list[ast.AST] = list(func.body)
        while pending:
            node = pending.pop()
            if isinstance(node, ast.Return) and node.value is not None:
                values.append(node.value)
            elif not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
                pending += list(ast.iter_child_nodes(node))
        return values

    def _returns_model(self, value: ast.expr, func: ast.FunctionDef, depth: int) -> bool:
        """``return Model(...)``, ``return nn.Sequential(...)``, ``return other_factory()``, or ``return net`` where the
        function assigns ``net = Model(...)``."""
        if isinstance(value, ast.Name):
            calls = [n.value for n in ast.walk(func) if isinstance(n, ast.Assign) and isinstance(n.value, ast.Call)
                     and any(isinstance(t, ast.Name) and t.id == value.id for t in n.targets)]
            return any(self._returns_model(call, func, depth) for call in calls)
        if not isinstance(value, ast.Call):
            return False
        name = _dotted(value.func)
        callee = _lookup(name, self.namespace) if name else None
        if is_module_class(callee):
            return callee is nn.Sequential or (callee.__module__ == self.module_name and callee.__name__ in self.roots)
        return inspect.isfunction(callee) and self._is_model_factory(name, depth - 1)

    def instance_builder(self, name: str) -> Callable[[], nn.Module]:
        """Builds the module-level instance ``name`` again by evaluating the expression last assigned to it (a fresh
        model per attempt, built as the file builds it); a deep copy when no plain assignment made it."""
        value = next((n.value for n in reversed(self.tree.body) if isinstance(n, (ast.Assign, ast.AnnAssign)) and n.value is not None
                      and any(isinstance(t, ast.Name) and t.id == name for t in assignment_targets(n))),
                     None)
        namespace, instance = self.namespace, self.namespace.get(name)
        if value is None:
            def build() -> nn.Module:
                return copy.deepcopy(instance)
        else:
            code = compile(ast.Expression(body=value), self.namespace.get("__file__") or "<model>", "eval")

            def build() -> nn.Module:
                return eval(code, namespace)  # noqa: S307 - the checked file's own expression, inside the sandbox
        build.__name__ = build.__qualname__ = name
        return build

    # --- step 5 ----------------------------------------------------------------------------
    def library_model(self) -> Callable[[], nn.Module] | None:
        """For a file that defines no nn.Module class: a builder of the model it takes from a library, the last of a
        module-level instance with parameters (``model = timm.create_model("resnet18")``; a loss such as
        ``nn.CrossEntropyLoss()`` has none) and a zero-argument function that returns another module's call
        (``def build(): return torchvision.models.resnet18()``); the result is checked to be an nn.Module when built."""
        found: list[tuple[int, Callable[[], nn.Module]]] = []
        for node in self.tree.body:
            if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
                targets = assignment_targets(node)
                obj = self.namespace.get(targets[0].id) if len(targets) == 1 and isinstance(targets[0], ast.Name) else None
                if isinstance(obj, nn.Module) and any(True for _ in obj.parameters()):
                    found.append((node.lineno, self.instance_builder(targets[0].id)))
            elif isinstance(node, ast.FunctionDef) and self._returns_library_call(node):
                found.append((node.lineno, self.namespace[node.name]))
        return found[-1][1] if found else None

    def _returns_library_call(self, node: ast.FunctionDef) -> bool:
        func = self.namespace.get(node.name)
        if not inspect.isfunction(func) or func.__module__ != self.module_name or _required_parameters(func):
            return False
        for value in self._returned(node):
            callee = _lookup(_dotted(value.func), self.namespace) if isinstance(value, ast.Call) and _dotted(value.func) else None
            if is_module_class(callee) or (callable(callee) and _library_function(callee, self.module_name)):
                return True
        return False

    # --- step 3 ----------------------------------------------------------------------------
    def model_class(self, defined: list[str], args: list[Any], kwargs: dict[str, Any], lemur: Callable[[Any], bool]) -> str:
        """Among the nn.Module classes ``defined`` (source order): the last top-level one buildable with the example's
        arguments, else the last top-level one, else the last one."""
        roots = [n for n in defined if n in self.roots]
        buildable = [n for n in roots if builds_with(self.namespace[n], args, kwargs, lemur)]
        return (buildable or roots or defined)[-1]
