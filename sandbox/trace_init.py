"""Real constructor arguments, recorded by running a package's own factories.

Runs only inside the sandboxed child, after every static guess failed. Why: many blocks
take arguments that no guess from names gets right (VGG's layer list, MaxVit's config
dataclasses, stage widths that must agree with each other), but the package already knows
them: timm's registered model entrypoints and torchvision's builders construct the class
with working values. We call those factories with the real class's ``__init__`` hooked;
the hook records the arguments and aborts the factory, so nothing past the first instance
is built. The arguments are rendered as JSON values and ``{"__expr__": ...}`` over names
the checked block defines (or torch), so the example stays reproducible from the block's
code alone in a clean process. Module instances among the arguments (``features=`` of
torchvision's VGG) are rendered from their own recorded construction, seen through a
profile hook while the factory runs.
"""

from __future__ import annotations

import ast
import builtins
import dataclasses
import enum
import functools
import importlib
import inspect
import math
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from sandbox.spec import Example

PER_FACTORY_S = 3.0
MAX_RECORDS = 2  # complete records wanted
MAX_INCOMPLETE = 4  # records one factory may make before it is stopped
CONTINUE_S = 1.0  # how long a factory may go on building after an incomplete record
WALL_BACKSTOP = 4.0  # a factory's wall-clock limit, as a multiple of its CPU-time limit
MAX_EXPR_CHARS = 20_000
MAX_DEPTH = 8


class _Recorded(Exception):
    """Raised by the hooked ``__init__`` once the arguments are recorded: stops the factory."""


class OutOfTime(Exception):
    pass


class Unrenderable(Exception):
    """A value that cannot be written as JSON or as an expression over the block's names."""


def traced_examples(
    origin: str,
    entry: str,
    factories: list[str],
    namespace: dict[str, Any],
    budget_s: float,
    fallback_kwargs: dict[str, Any] | None = None,
) -> list[Example]:
    """Examples built from the arguments the factories pass to ``origin.entry``: a shrunk
    variant (one block per stage, 10 classes) first, then the arguments as recorded."""
    try:
        real = getattr(importlib.import_module(origin), entry)
    except Exception:  # noqa: BLE001 - not importable here: nothing to trace
        return []
    if not isinstance(real, type):
        return []
    calls = _Calls()
    renderer = _Renderer(namespace, origin.split(".")[0], calls.constructions)
    _record_calls(real, factories, budget_s, calls, complete=lambda bound: _unrenderable(bound, renderer) == 0)
    examples: list[Example] = []
    # records with the fewest fallbacks first: an argument that cannot be rendered (a projection
    # layer the block does not define) falls back to its default, which often breaks the block
    for bound in sorted(calls.records, key=lambda b: _unrenderable(b, renderer)):
        example = _example_from(bound, renderer, fallback_kwargs or {})
        if example is None:
            continue
        for candidate in (_shrunk(example), example):
            if candidate is not None and candidate not in examples:
                examples.append(candidate)
    return examples


@dataclasses.dataclass
class _Calls:
    records: list[inspect.BoundArguments] = dataclasses.field(default_factory=list)
    # id(module) -> (module, class, constructor arguments): kept alive so ids stay unique
    constructions: dict[int, tuple[Any, type, inspect.BoundArguments]] = dataclasses.field(default_factory=dict)


def _record_calls(real: type, factories: list[str], budget_s: float, calls: _Calls | None = None,
                  complete: Callable[[inspect.BoundArguments], bool] = lambda bound: True) -> _Calls:
    """Run the factories with ``real.__init__`` hooked. A record that is ``complete`` (every
    argument can be written over the block's names) stops its factory; an incomplete one lets the
    construction go on, so the factory's next instances are seen too (the second block of a stage
    gets no projection layer), up to MAX_INCOMPLETE per factory."""
    calls = calls if calls is not None else _Calls()
    init = real.__init__
    own = real.__dict__.get("__init__")
    try:
        signature = inspect.signature(init)
    except (TypeError, ValueError):
        return calls

    def hooked(self: Any, *args: Any, **kwargs: Any) -> None:
        try:
            bound = signature.bind(self, *args, **kwargs)
        except TypeError:
            return init(self, *args, **kwargs)
        calls.records.append(bound)
        state["seen"] += 1
        if complete(bound) or state["seen"] >= MAX_INCOMPLETE:
            raise _Recorded
        left, _ = signal.getitimer(signal.ITIMER_PROF)
        if left > CONTINUE_S:
            signal.setitimer(signal.ITIMER_PROF, CONTINUE_S)  # the next instances come soon or never
        return init(self, *args, **kwargs)

    state = {"seen": 0}
    deadline = time.process_time() + budget_s  # CPU time, like the check's own budget
    real.__init__ = hooked  # type: ignore[misc]
    try:
        for name in factories:
            left = deadline - time.process_time()
            if left < 0.3 or sum(map(complete, calls.records)) >= MAX_RECORDS:
                break
            factory = _resolve_factory(name)
            if factory is None:
                continue
            state["seen"] = 0
            try:
                # the first factories get most of the time: a detection builder makes its backbone first
                with time_limit(min(left, max(PER_FACTORY_S, 0.6 * left))), _constructions(calls.constructions):
                    factory(**_no_weights(factory))
            except _Recorded:
                pass
            except (Exception, OutOfTime):  # noqa: BLE001 - a factory that fails tells us nothing
                continue
    finally:
        if own is None:
            del real.__init__
        else:
            real.__init__ = own  # type: ignore[misc]
    return calls


_NO_WEIGHTS = {"weights": None, "weights_backbone": None, "pretrained": False, "pretrained_backbone": False}


def _no_weights(factory: Callable[..., Any]) -> dict[str, Any]:
    """Arguments that keep a factory from loading pretrained weights (torchvision's detection
    builders default to ``weights_backbone=...IMAGENET1K_V1``): nothing is ever downloaded."""
    try:
        names = set(inspect.signature(factory).parameters)
    except (TypeError, ValueError):
        return {}
    return {k: v for k, v in _NO_WEIGHTS.items() if k in names}


def _resolve_factory(name: str) -> Callable[[], Any] | None:
    module_name, _, attr = name.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except Exception:  # noqa: BLE001
        return None
    return obj if callable(obj) else None


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    def expire(signum: int, frame: Any) -> None:
        raise OutOfTime

    # CPU seconds (a busy machine slows the factory down, not its budget), with a wall-clock
    # backstop for a factory that blocks without using the CPU
    previous = signal.signal(signal.SIGPROF, expire), signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_PROF, max(seconds, 0.05))
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.05) * WALL_BACKSTOP)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGPROF, previous[0])
        signal.signal(signal.SIGALRM, previous[1])


@contextmanager
def _constructions(store: dict[int, tuple[Any, type, inspect.BoundArguments]]) -> Iterator[None]:
    """Record the constructor arguments of every nn.Module built meanwhile: the first
    ``__init__`` frame entered for an instance carries the arguments its class was called with."""

    def profile(frame: Any, event: str, arg: Any) -> None:
        if event != "call" or frame.f_code.co_name != "__init__":
            return
        code = frame.f_code
        if not code.co_argcount:
            return
        first = frame.f_locals.get(code.co_varnames[0])
        if not isinstance(first, nn.Module) or id(first) in store:
            return
        info = inspect.getargvalues(frame)
        arguments = {n: info.locals[n] for n in info.args[1:] if n in info.locals}
        store[id(first)] = (first, type(first), _Frozen(info.args[1:], arguments, info.varargs and info.locals.get(info.varargs),
                                                         info.keywords and info.locals.get(info.keywords)))

    previous = sys.getprofile()
    sys.setprofile(profile)
    try:
        yield
    finally:
        sys.setprofile(previous)


@dataclasses.dataclass
class _Frozen:
    """Constructor arguments seen at ``__init__`` entry: named, extra positional, extra keyword."""

    names: list[str]
    named: dict[str, Any]
    varargs: Any
    varkw: Any


class _Renderer:
    """Python source for recorded values, over the names of the checked block's namespace."""

    def __init__(self, namespace: dict[str, Any], package: str, constructions: dict[int, tuple[Any, type, Any]]):
        self.namespace = namespace
        self.package = package
        self.constructions = constructions

    def value(self, value: Any) -> Any:
        """A JSON value when the value is plain JSON (no tuples), else ``{"__expr__": source}``."""
        if _plain_json(value):
            return value
        source = self.source(value, 0)
        if len(source) > MAX_EXPR_CHARS:
            raise Unrenderable("expression too long")
        return {"__expr__": source}

    def source(self, value: Any, depth: int) -> str:
        if depth > MAX_DEPTH:
            raise Unrenderable("nested too deep")
        if value is None or isinstance(value, (bool, int, str)):
            return repr(value)
        if isinstance(value, float):
            if not math.isfinite(value):
                return f"float({str(value)!r})"
            return repr(value)
        if isinstance(value, torch.Size):
            value = tuple(value)
        if isinstance(value, tuple):
            items = [self.source(v, depth + 1) for v in value]
            return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
        if isinstance(value, list):
            return "[" + ", ".join(self.source(v, depth + 1) for v in value) + "]"
        if isinstance(value, dict):
            return "{" + ", ".join(f"{self.source(k, depth + 1)}: {self.source(v, depth + 1)}" for k, v in value.items()) + "}"
        if isinstance(value, torch.dtype):
            return f"__import__('torch').{str(value).split('.')[-1]}"
        if isinstance(value, functools.partial):
            parts = [self.ref(value.func)] + [self.source(a, depth + 1) for a in value.args]
            parts += [f"{k}={self.source(v, depth + 1)}" for k, v in value.keywords.items()]
            return f"__import__('functools').partial({', '.join(parts)})"
        if isinstance(value, enum.Enum):
            return f"{self.ref(type(value))}.{value.name}"
        if isinstance(value, type) or inspect.isfunction(value) or inspect.isbuiltin(value):
            return self.ref(value)
        if dataclasses.is_dataclass(value):
            return self._dataclass(value, depth)
        if isinstance(value, nn.Module):
            return self._module(value, depth)
        raise Unrenderable(f"a {type(value).__name__} value")

    def ref(self, obj: Any) -> str:
        """The name of a class or function in the block's namespace, or its torch path."""
        qualname = getattr(obj, "__qualname__", "") or ""
        if not qualname or "<" in qualname:
            raise Unrenderable(f"{obj!r} has no importable name")
        top, _, rest = qualname.partition(".")
        local = self.namespace.get(top)
        module = getattr(obj, "__module__", "") or ""
        if local is not None:
            target = local
            for part in rest.split(".") if rest else []:
                target = getattr(target, part, None)
            # The block holds copies of the traced package's own classes, so a package object
            # matches its copy by name; an object from elsewhere (torch.nn.GELU) never matches a
            # block class that only shares its name (timm's own GELU takes other arguments).
            same_name = (target is not None and module.split(".")[0] == self.package
                         and getattr(target, "__qualname__", None) == qualname
                         and getattr(target, "__name__", None) == getattr(obj, "__name__", None))
            if target is obj or same_name:
                return qualname
        if module == "builtins" and getattr(builtins, qualname, None) is obj:
            return qualname
        root = module.split(".")[0]
        if root and root != self.package or root == "torch":
            # an external import of the block (torch, functools, ...): reach it by its module path
            paths = ("torch.nn", "torch.nn.functional", "torch") if root == "torch" else ()
            for path in (*paths, module):
                if getattr(importlib.import_module(path), qualname.split(".")[0], None) is None:
                    continue
                holder = importlib.import_module(path)
                if _follow(holder, qualname) is obj or path == module:
                    return f"{self._module_alias(holder) or f'__import__({path!r}, fromlist=[{chr(39)}_{chr(39)}])'}.{qualname}"
        raise Unrenderable(f"{qualname} is not defined in the block")

    def _module_alias(self, module: Any) -> str | None:
        """A name the block binds to ``module`` (``nn`` for torch.nn, ``F``), if any."""
        for name, value in self.namespace.items():
            if value is module and not name.startswith("__"):
                return name
        return None

    def _dataclass(self, value: Any, depth: int) -> str:
        parts = []
        for f in dataclasses.fields(value):
            if not f.init:
                continue
            current = getattr(value, f.name)
            default = f.default if f.default is not dataclasses.MISSING else (
                f.default_factory() if f.default_factory is not dataclasses.MISSING else dataclasses.MISSING)  # type: ignore[misc]
            try:
                same = default is not dataclasses.MISSING and bool(current == default)
            except Exception:  # noqa: BLE001 - tensors and other odd equality
                same = False
            if not same:
                parts.append(f"{f.name}={self.source(current, depth + 1)}")
        return f"{self.ref(type(value))}({', '.join(parts)})"

    def _module(self, module: nn.Module, depth: int) -> str:
        if type(module) in (nn.Sequential, nn.ModuleList):
            # containers are often filled after construction (``append``): render what they hold
            children = ", ".join(self.source(child, depth + 1) for child in module.children())
            return f"{self.ref(type(module))}({children})" if type(module) is nn.Sequential else f"{self.ref(type(module))}([{children}])"
        if type(module) is nn.ModuleDict:
            items = ", ".join(f"{name!r}: {self.source(child, depth + 1)}" for name, child in module.named_children())
            return f"{self.ref(nn.ModuleDict)}({{{items}}})"
        record = self.constructions.get(id(module))
        if record is None or record[0] is not module:
            raise Unrenderable(f"no recorded construction of a {type(module).__name__}")
        _, cls, frozen = record
        parts = []
        for name in frozen.names:
            if name in frozen.named:
                parts.append(f"{name}={self.source(frozen.named[name], depth + 1)}")
        if frozen.varargs:
            # extra positional arguments (``nn.Sequential(*layers)``): named ones must go first, positionally
            parts = [self.source(frozen.named[n], depth + 1) for n in frozen.names if n in frozen.named]
            parts += [self.source(v, depth + 1) for v in frozen.varargs]
        if frozen.varkw:
            parts += [f"{k}={self.source(v, depth + 1)}" for k, v in frozen.varkw.items()]
        return f"{self.ref(cls)}({', '.join(parts)})"


def _follow(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        obj = getattr(obj, part, None)
    return obj


def _plain_json(value: Any) -> bool:
    if value is None or isinstance(value, (bool, int, str)):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(_plain_json(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain_json(v) for k, v in value.items())
    return False


def _example_from(bound: inspect.BoundArguments, renderer: _Renderer, fallback: dict[str, Any]) -> Example | None:
    """The recorded call as an Example: an argument that cannot be rendered falls back to its
    default, else to the static guess; without either the record is not usable."""
    parameters = list(bound.signature.parameters.values())[1:]
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    positional_only = False
    for p in parameters:
        if p.name not in bound.arguments:
            continue
        value = bound.arguments[p.name]
        if p.kind == p.VAR_POSITIONAL:
            if value:
                positional_only = True
            continue
        if p.kind == p.VAR_KEYWORD:
            for key, item in value.items():
                rendered = _render_or(renderer, item, key, fallback, has_default=True)
                if rendered is not _SKIP:
                    kwargs[key] = rendered
            continue
        rendered = _render_or(renderer, value, p.name, fallback, has_default=p.default is not p.empty)
        if rendered is _SKIP:
            if p.default is p.empty or p.kind == p.POSITIONAL_ONLY:
                return None
            continue
        if p.kind == p.POSITIONAL_ONLY:
            args.append(rendered)
        else:
            kwargs[p.name] = rendered
    if positional_only:
        # extra positional arguments: every named positional parameter must be passed positionally
        var = next(p for p in parameters if p.kind == p.VAR_POSITIONAL)
        args = []
        for p in parameters:
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
                if p.name not in kwargs:
                    return None
                args.append(kwargs.pop(p.name))
        try:
            args += [renderer.value(v) for v in bound.arguments[var.name]]
        except Unrenderable:
            return None
    takes_classes = any(p.name == "num_classes" and p.kind != p.POSITIONAL_ONLY for p in parameters)
    if takes_classes and not positional_only and (kwargs.get("num_classes", 1000) or 0) > 10:
        kwargs["num_classes"] = 10  # a small head, as every whole network is checked
    return Example(init_args=args, init_kwargs=kwargs, inputs=None)


_SKIP = object()


def _unrenderable(bound: inspect.BoundArguments, renderer: _Renderer) -> int:
    """How many arguments of the record cannot be written over the block's names (each falls
    back to a default or a static guess, so the record builds a different configuration)."""
    count = 0
    for name, value in list(bound.arguments.items())[1:]:
        kind = bound.signature.parameters[name].kind
        items = list(value.values()) if kind == inspect.Parameter.VAR_KEYWORD else list(value) if kind == inspect.Parameter.VAR_POSITIONAL else [value]
        for item in items:
            try:
                renderer.value(item)
            except (Unrenderable, RecursionError):
                count += 1
    return count


def _render_or(renderer: _Renderer, value: Any, name: str, fallback: dict[str, Any], has_default: bool) -> Any:
    try:
        return renderer.value(value)
    except (Unrenderable, RecursionError):
        if name in fallback:
            return fallback[name]
        return _SKIP


_STAGE_KEYS = ("depths", "layers", "num_blocks", "blocks", "stage_blocks", "block_counts", "block_repeats")


def _shrunk(example: Example) -> Example | None:
    """One block per stage and at most two layers: fast to build and run. None when nothing shrinks."""
    kwargs = dict(example.init_kwargs)
    changed = False
    for key, value in example.init_kwargs.items():
        lower = key.lower()
        if isinstance(value, dict) and set(value) == {"__expr__"} and lower in _STAGE_KEYS:
            try:
                literal = ast.literal_eval(value["__expr__"])
            except (ValueError, SyntaxError):
                literal = None
            if isinstance(literal, tuple) and literal and all(isinstance(v, int) and not isinstance(v, bool) for v in literal):
                small = tuple(min(v, 1) for v in literal)
                changed |= small != literal
                kwargs[key] = {"__expr__": repr(small)}
            continue
        if _per_stage_block_configs(value):
            # timm's decoded ``block_args``: one list of block dicts per stage; the first block of
            # each stage carries its stride and width, the repeats only add depth
            small = [stage[:1] for stage in value]
            changed |= small != value
            kwargs[key] = small
        elif lower in _STAGE_KEYS and isinstance(value, list) and value and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            small = [min(v, 1) for v in value]
            changed |= small != value
            kwargs[key] = small
        elif lower in ("depth", "num_layers", "n_layers") and isinstance(value, int) and not isinstance(value, bool) and value > 2:
            kwargs[key] = 2
            changed = True
    return Example(init_args=list(example.init_args), init_kwargs=kwargs, inputs=None) if changed else None


def _per_stage_block_configs(value: Any) -> bool:
    """A list of stages, each a non-empty list of per-block config dicts."""
    return (isinstance(value, list) and len(value) >= 2
            and all(isinstance(stage, list) and stage and all(isinstance(b, dict) for b in stage) for stage in value))
