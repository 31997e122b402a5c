"""The staged check of one piece of code. Runs only inside a sandboxed child process.

Stages, in order: parse, compile, import (exec the module), instantiate (build the entry
class), forward, backward, train_step (with the default stages, also for a whole LEMUR model: its own
``train_setup`` + ``learn``; its forward must give (batch, *out_shape)). Static stages run once; dynamic stages run per
example (``CheckSpec.example`` then ``CheckSpec.candidates``) until one passes, or until
two in a row fail the same way (stage, exception and message), so the indexer finds a
working constructor in one round trip without paying for every guess of a block that cannot run.

``report(partial)`` is called before every stage with the result so far, so that when the
child is killed (timeout, segfault) the worker still knows the stage it died in.
"""

from __future__ import annotations

import ast
import copy
import inspect
import linecache
import random
import re
import sys
import time
import traceback
import types
from dataclasses import replace
from typing import Any, Callable

import torch
import torch.nn as nn
import torch.utils.data
from torch.nn.parameter import is_lazy

from sandbox import diagnose, lemur, soundness
from sandbox.entry import EntryFinder, is_module_class
from sandbox.flops import RecurrentFlops, flop_counter
from sandbox.spec import (DEFAULT_STAGES, INPUT_DTYPES, MAX_OUTPUT_SHAPES, MODEL_FILE, STAGES, CheckResult, CheckSpec, Diagnosis,
                          Example)

BOM = "\ufeff"
MODULE_NAME = "nnrag_checked_model"
DEFAULT_INPUT = [[2, 3, 32, 32]]
DYNAMIC_STAGES = ("instantiate", "forward", "backward", "train_step")
MESSAGE_LIMIT = 2000
TRACEBACK_LIMIT = 4000

# LEMUR hyperparameters (values normalised like LEMUR's Optuna ranges); unknown supported keys get 0.5.
LEMUR_PRM_DEFAULTS: dict[str, Any] = {
    "lr": 0.01, "momentum": 0.9, "dropout": 0.2, "weight_decay": 1e-4, "batch": 2, "epoch": 1,
    "transform": "norm_256_flip", "pretrained": 0, "norm_eps": 1e-5, "norm_momentum": 0.1,
    "attention_dropout": 0.1, "stochastic_depth_prob": 0.1, "beta1": 0.9, "beta2": 0.999,
}
LEMUR_IN_SHAPE = (2, 3, 32, 32)
LEMUR_OUT_SHAPE = (10,)
LEMUR_RETRY_SIDES = (64, 256)
TRACE_BUDGET_S = 10.0  # running the package's factories to record real constructor arguments
TRACE_RESERVE_S = 4.0  # left for trying what the trace found
REPEATED_FAILURES = 2  # identical failures in a row that end the guessing (see _failing_the_same_way)


def _failing_the_same_way(attempts: list[CheckResult]) -> bool:
    """The last REPEATED_FAILURES attempts failed at the same stage with the same exception
    and message: the arguments that differ between them do not reach the failure, so further
    guesses of the same kind would too (failing blocks were half the sandbox's CPU, trying
    every candidate). The package's traced arguments still get their own tries."""
    if len(attempts) < REPEATED_FAILURES:
        return False
    signatures = {(a.failed_stage, a.status, a.error_type, a.message) for a in attempts[-REPEATED_FAILURES:]}
    return len(signatures) == 1


def _spatial_failure(attempt: CheckResult) -> bool:
    return attempt.failed_stage == "forward" and attempt.diagnosis.kind == "shape_mismatch" and "size" in attempt.message.lower()


class _LenientPrm(dict):
    """prm for models without supported_hyperparameters(): unknown keys read as 0.5."""

    def __missing__(self, key: str) -> float:
        return 0.5


class StageError(Exception):
    """A failure we detect ourselves (no Python exception from user code)."""

    def __init__(self, error_type: str, message: str, status: str = "failed"):
        super().__init__(message)
        self.error_type = error_type
        self.status = status


class LayerTracker:
    """Global forward hooks that remember which module was running when an exception hit.

    A pre-hook pushes (module, args); the post-hook pops. Post-hooks do not run when
    forward raises, so after a failure the stack's top is the innermost failing layer.
    """

    def __init__(self) -> None:
        self.stack: list[tuple[nn.Module, tuple]] = []
        self.names: dict[int, str] = {}
        self._handles: list[Any] = []

    def __enter__(self) -> "LayerTracker":
        from torch.nn.modules import module as module_mod

        self._handles = [
            module_mod.register_module_forward_pre_hook(self._pre),
            module_mod.register_module_forward_hook(self._post),
        ]
        return self

    def __exit__(self, *exc: Any) -> None:
        for handle in self._handles:
            handle.remove()

    def _pre(self, module: nn.Module, args: tuple) -> None:
        self.stack.append((module, args))

    def _post(self, module: nn.Module, args: tuple, output: Any) -> None:
        if self.stack and self.stack[-1][0] is module:
            self.stack.pop()

    def reset(self, model: nn.Module | None) -> None:
        self.stack.clear()
        if model is not None:
            self.names = {id(m): (n or "<root>") for n, m in model.named_modules()}

    def failing_layer(self) -> dict | None:
        if not self.stack:
            return None
        module, args = self.stack[-1]
        shapes = [list(a.shape) for a in args if isinstance(a, torch.Tensor)]
        return {"name": self.names.get(id(module), type(module).__name__), "type": type(module).__name__, "repr": _short_repr(module), "input_shapes": shapes}


def _short_repr(module: nn.Module) -> str:
    try:
        extra = module.extra_repr()
    except Exception:  # noqa: BLE001 - user modules may break extra_repr
        extra = ""
    return f"{type(module).__name__}({extra})"[:200]


def _user_traceback(exc: BaseException) -> tuple[str, int | None]:
    """Traceback frames in the checked file only, plus the exception line; and the innermost line number."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == MODEL_FILE]
    lines = [f'  File "{MODEL_FILE}", line {f.lineno}, in {f.name}\n    {(f.line or "").strip()}' for f in frames[-8:]]
    lineno = frames[-1].lineno if frames else None
    if isinstance(exc, SyntaxError) and exc.filename == MODEL_FILE:
        lineno = exc.lineno
        lines.append(f'  File "{MODEL_FILE}", line {exc.lineno}\n    {(exc.text or "").strip()}')
    text = "\n".join(["Traceback (user code only):", *lines, f"{type(exc).__name__}: {diagnose.exception_text(exc)}"])
    return text[-TRACEBACK_LIMIT:], lineno


def _flatten_tensors(value: Any, depth: int = 0) -> list[torch.Tensor]:
    """The tensors in an output: plain, in lists/tuples/dicts, or held by a record object
    (a dataclass, a namedtuple, or a plain class such as torchvision's ``ImageList``)."""
    if isinstance(value, torch.Tensor):
        return [value]
    if depth > 8 or isinstance(value, (nn.Module, type, str, bytes)) or value is None:
        return []
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _flatten_tensors(v, depth + 1)]
    try:
        fields = vars(value)
    except TypeError:  # no __dict__: ints, floats, slotted objects
        return []
    return [t for v in list(fields.values()) for t in _flatten_tensors(v, depth + 1)]


_DTYPES = {name: getattr(torch, name) for name in INPUT_DTYPES}


TOKEN_IDS = 10  # integer inputs are ids in [0, TOKEN_IDS), fewer when the model's smallest embedding table is smaller


def token_bound(model: nn.Module | None) -> int:
    """The exclusive upper bound of the integer ids fed to ``model``. Why: ids up to 9 made a model whose vocabulary
    is under 10 (an nn.Embedding(5, d) over class labels) fail forward with "index out of range in self"."""
    sizes = [m.num_embeddings for m in model.modules() if isinstance(m, (nn.Embedding, nn.EmbeddingBag))] if model is not None else []
    return max(1, min([TOKEN_IDS, *sizes]))


def make_inputs(shapes: list[list[int]], dtypes: list[str] | None, token_ids: int = TOKEN_IDS) -> list[torch.Tensor]:
    out = []
    for i, shape in enumerate(shapes):
        name = (dtypes[i] if dtypes and i < len(dtypes) else "float32") or "float32"
        dtype = _DTYPES.get(name)
        if dtype is None:
            raise StageError("BadExample", f"unknown input dtype {name!r}; use one of {sorted(_DTYPES)}")
        if dtype.is_floating_point:
            out.append(torch.randn(*shape, dtype=dtype))
        elif dtype == torch.bool:
            out.append(torch.rand(*shape) > 0.5)
        else:
            out.append(torch.randint(0, token_ids, tuple(shape), dtype=dtype))
    return out


def build_input(spec: dict[str, Any], namespace: dict) -> Any:
    """The value one ``Example.input_specs`` entry describes (see ``sandbox.infer_input``)."""
    kind = spec.get("kind")
    if kind == "tensor":
        (tensor,) = make_inputs([list(spec["shape"])], [spec.get("dtype") or "float32"])
        low_high = spec.get("range")
        if low_high and tensor.is_floating_point():
            tensor = torch.rand_like(tensor) * (low_high[1] - low_high[0]) + low_high[0]
        return tensor
    if kind == "boxes":
        count, (height, width) = int(spec["count"]), spec["image"]
        corner = torch.rand(count, 2) * torch.tensor([width / 2, height / 2])
        extent = torch.rand(count, 2) * torch.tensor([width / 2, height / 2]) + 1
        boxes = torch.cat([corner, corner + extent], dim=1)
        if spec.get("batch_index"):
            boxes = torch.cat([torch.randint(0, int(spec["batch_index"]), (count, 1)).float(), boxes], dim=1)
        return boxes
    if kind in ("list", "tuple"):
        items = [build_input(item, namespace) for item in spec["items"]]
        return items if kind == "list" else tuple(items)
    if kind == "dict":
        return {key: build_input(item, namespace) for key, item in spec["items"].items()}
    if kind == "value":
        return spec["value"]
    if kind == "object":
        cls = namespace.get(spec["class"])
        if not callable(cls):
            raise StageError("BadExample", f"input class {spec['class']!r} is not defined in the code")
        return cls(*[build_input(item, namespace) for item in spec.get("args", [])])
    raise StageError("BadExample", f"unknown input spec kind {kind!r}")


def _spec_shapes(specs: list[dict[str, Any]]) -> list[list[int]]:
    return [list(s["shape"]) for s in specs if s.get("kind") == "tensor"]


def _resolve(value: Any, namespace: dict) -> Any:
    if isinstance(value, dict):
        if set(value) == {"__expr__"}:
            return eval(value["__expr__"], namespace)  # noqa: S307 - runs in the sandbox, on purpose
        return {k: _resolve(v, namespace) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, namespace) for v in value]
    return value


# Constructor arguments that fix the spatial size of the input, strongest first.
_SIZE_KWARGS = ("feat_size", "input_size", "img_size", "image_size", "input_resolution", "resolution", "grid_size")


def _size_hint(example: Example | None) -> tuple[int, int] | None:
    """The (H, W) the example constructs the module for (``feat_size=[16, 16]``, ``img_size=64``)."""
    kwargs = example.init_kwargs if example is not None else {}
    for key in _SIZE_KWARGS:
        value = kwargs.get(key)
        if isinstance(value, dict) and set(value) == {"__expr__"}:
            try:
                value = ast.literal_eval(value["__expr__"])
            except (ValueError, SyntaxError):
                continue
        if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= 1024:
            return (value, value)
        if (isinstance(value, (list, tuple)) and len(value) == 2
                and all(isinstance(v, int) and not isinstance(v, bool) and 0 < v <= 1024 for v in value)):
            return (int(value[0]), int(value[1]))
    return None


def _propose_inputs(model: nn.Module, size_hint: tuple[int, int] | None = None) -> list[tuple[list[list[int]], list[str] | None, list[dict] | None]]:
    """(shapes, dtypes, specs) to try: structured specs first when forward asks for more than
    tensors, then plain tensor shapes."""
    try:
        from sandbox.infer_input import propose_inputs, propose_structured
    except ImportError:
        return [(DEFAULT_INPUT, None, None)]
    try:
        structured = [(_spec_shapes(specs), None, specs) for specs in propose_structured(model)]
    except Exception:  # noqa: BLE001 - a broken proposer must not fail the check
        structured = []
    try:
        proposals = [(list(map(list, s)), list(d) if d else None, None) for s, d in propose_inputs(model, size_hint=size_hint)]
    except Exception:  # noqa: BLE001 - a broken proposer must not fail the check
        proposals = []
    if (DEFAULT_INPUT, None, None) not in proposals:
        proposals.append((DEFAULT_INPUT, None, None))
    return structured + proposals


def is_lemur_class(cls: type | Callable[..., Any]) -> bool:
    """Whether the entry takes LEMUR's ``(in_shape, out_shape, prm, device)``; a factory function's own
    parameters count, a class's ``__init__`` after self."""
    try:
        params = list(inspect.signature(cls).parameters) if inspect.isfunction(cls) else list(inspect.signature(cls.__init__).parameters)[1:]
    except (TypeError, ValueError):
        return False
    return {"in_shape", "out_shape", "prm"} <= set(params)


def lemur_prm(namespace: dict) -> dict:
    supported = namespace.get("supported_hyperparameters")
    if not callable(supported):
        return _LenientPrm(LEMUR_PRM_DEFAULTS)
    try:
        keys = set(supported())
    except Exception:  # noqa: BLE001
        return _LenientPrm(LEMUR_PRM_DEFAULTS)
    # LEMUR's trainer always passes the run parameters (batch, epoch, transform) besides the
    # model's own hyperparameters, so models may read them even if they do not declare them.
    prm = {k: v for k, v in LEMUR_PRM_DEFAULTS.items() if k in ("lr", "momentum", "dropout", "batch", "epoch", "transform")}
    prm.update({k: LEMUR_PRM_DEFAULTS.get(k, 0.5) for k in keys if isinstance(k, str)})
    return prm


class CheckRun:
    """One check: static stages once, then dynamic stages per example until one works."""

    def __init__(self, code: str, spec: CheckSpec, report: Callable[[dict], None]):
        # Python drops a UTF-8 BOM from a file, but code sent as text (the gRPC Check, a JSONL
        # audit) may still start with one, and ast.parse fails on U+FEFF.
        self.code = code.removeprefix(BOM)
        self.spec = spec
        self.report = report
        last = max((STAGES.index(s) for s in spec.stages if s in STAGES), default=STAGES.index("forward"))
        self.wanted = STAGES[: last + 1]
        self.result = CheckResult(status="ok")
        self.namespace: dict[str, Any] = {}
        self.class_order: list[str] = []
        self.tree: ast.Module | None = None  # the parsed code: where a class the check cannot find is defined
        self.tracker = LayerTracker()
        self.current = "parse"
        self.lemur: lemur.LemurContract | None = None  # once built with the LEMUR contract
        self.inputs_inferred = False  # the failing forward's inputs were proposed by the checker, not given
        self.started = time.process_time()  # budgets inside a check are CPU time, like its timeout

    # --- bookkeeping -------------------------------------------------------------------
    def _enter(self, stage: str, result: CheckResult) -> None:
        self.current = stage
        partial = result.to_dict()
        partial["current_stage"] = stage
        self.report(partial)

    def _fail(self, result: CheckResult, stage: str, exc: BaseException) -> None:
        result.stages[stage] = "failed"
        result.failed_stage = stage
        dynamic = stage in ("forward", "backward", "train_step")
        layer = self.tracker.failing_layer() if dynamic else None
        example = result.example
        fed = example.inputs if dynamic and example is not None and example.input_specs is None else None
        if isinstance(exc, (StageError, soundness.UnsoundStage)):
            result.status, result.error_type, result.message = getattr(exc, "status", "failed"), exc.error_type, str(exc)[:MESSAGE_LIMIT]
            result.traceback, lineno = "", None
        else:
            result.status = "oom" if diagnose.is_oom(exc) else "failed"
            result.error_type = type(exc).__name__
            result.message = _with_notes(diagnose.exception_text(exc), exc)[:MESSAGE_LIMIT] or type(exc).__name__
            result.traceback, lineno = _user_traceback(exc)
        try:
            result.diagnosis = diagnose.diagnose_exception(
                exc, stage=stage, namespace=self.namespace, layer=layer, lineno=lineno, code=self.code,
                params=result.params, memory_mb=self.spec.memory_mb, entry=result.entry,
                inputs=fed, inputs_inferred=self.inputs_inferred,
            )
        except Exception:  # noqa: BLE001 - the checked code's exception broke a lookup (a property that raises): the failure stands
            result.diagnosis = Diagnosis(f"{result.error_type} at {stage}: {result.message[:240]}", "see the traceback", "exception", "", lineno)
        if soundness.EVAL_MODE_NOTE in (getattr(exc, "__notes__", None) or []):
            result.diagnosis = replace(result.diagnosis, problem=f"{result.diagnosis.problem} ({soundness.EVAL_MODE_NOTE})")
            if "does not require grad" in result.message:  # torch.autograd.grad in forward, under a test loop's no_grad
                result.diagnosis = replace(result.diagnosis, hint=soundness.GRAD_IN_EVAL_HINT)

    def _skip_rest(self, result: CheckResult) -> None:
        for stage in self.wanted:
            result.stages.setdefault(stage, "skipped")

    # --- static stages -------------------------------------------------------------------
    def run(self) -> CheckResult:
        result = self.result
        try:
            ok = self._static(result)
        except BaseException as exc:  # noqa: BLE001 - SystemExit at import is a user failure too
            self._fail(result, self.current, exc)
            ok = False
        if not ok or not any(s in self.wanted for s in DYNAMIC_STAGES):
            self._skip_rest(result)
            return result
        return self._dynamic(result)

    def _static(self, result: CheckResult) -> bool:
        self._enter("parse", result)
        tree = ast.parse(self.code, filename=MODEL_FILE)
        self.class_order = [n.name for n in tree.body if isinstance(n, ast.ClassDef)]
        self.tree = tree
        result.stages["parse"] = "ok"
        if "compile" not in self.wanted:
            return False
        self._enter("compile", result)
        code_obj = compile(tree, MODEL_FILE, "exec")
        result.stages["compile"] = "ok"
        if "import" not in self.wanted:
            return False
        self._enter("import", result)
        linecache.cache[MODEL_FILE] = (len(self.code), None, self.code.splitlines(True), MODEL_FILE)
        module = types.ModuleType(MODULE_NAME)
        module.__file__ = MODEL_FILE
        sys.modules[MODULE_NAME] = module
        self.namespace = module.__dict__
        exec(code_obj, self.namespace)  # noqa: S102 - the whole point, inside the sandbox
        result.stages["import"] = "ok"
        return True

    # --- dynamic stages ------------------------------------------------------------------
    def _entry_class(self, example: Example | None = None) -> type | Callable[..., nn.Module]:
        """The class to build, or a function that returns the model (``def Net(dim=256): return nn.Sequential(...)``,
        as ConvMixer-style code writes it, a factory, or a builder of a module-level instance): named by the spec, else
        chosen as ``sandbox.entry`` documents (``Net``; the model the file builds itself; the top-level model class).
        A function's result is checked to be an nn.Module when it is built (``_built_module``)."""
        ns = self.namespace
        finder = EntryFinder(self.tree or ast.Module(body=[], type_ignores=[]), ns, self.class_order, MODULE_NAME)
        if self.spec.entry:
            obj = ns.get(self.spec.entry)
            if obj is None:
                self._raise_if_hidden(self.spec.entry, [])
                raise StageError("EntryNotFound", f"entry class {self.spec.entry!r} is not defined in the code")
            if isinstance(obj, nn.Module):  # a module-level instance: the file's own model
                return finder.instance_builder(self.spec.entry)
            if not is_module_class(obj) and not inspect.isfunction(obj):
                raise StageError("EntryNotModule", f"entry {self.spec.entry!r} is not an nn.Module subclass (nor a function that returns one)")
            return obj
        if is_module_class(ns.get("Net")) or inspect.isfunction(ns.get("Net")):
            return ns["Net"]
        example = example or Example()
        if not example.init_args and not example.init_kwargs:
            built = finder.built_model()
            if built is not None:
                return built
        defined = [n for n in self.class_order if is_module_class(ns.get(n))]
        self._raise_if_hidden("", defined)
        if not defined:
            library = finder.library_model() if not example.init_args and not example.init_kwargs else None
            if library is not None:
                return library
            raise StageError("NoModule", "the code defines no nn.Module subclass, no module-level model and no "
                                         "zero-argument function returning one (and no entry was given)")
        takes_contract = (lambda cls: self.spec.lemur is not False and is_lemur_class(cls))  # noqa: E731
        return ns[finder.model_class(defined, list(example.init_args), dict(example.init_kwargs), takes_contract)]

    def _raise_if_hidden(self, entry: str, module_models: list[str]) -> None:
        """Fail with MainGuardOnly / ClassInFunction when the model the user means (``entry``, else ``Net`` or the class no
        other uses: ``diagnose.unreachable_model``) is defined where an import never makes it (under the main guard,
        inside a function), even beside module-level helpers (``module_models``) that would be built instead."""
        hidden = diagnose.unreachable_model(self.tree, entry, module_models) if self.tree is not None else None
        if hidden is None:
            return
        helpers = (f"; the module-level {', '.join(repr(m) for m in module_models)} only "
                   f"{'helps' if len(module_models) == 1 else 'help'} build it") if module_models else ""
        raise StageError(hidden.error_type, f"the model class {hidden.name!r} {hidden.why()}{helpers}")

    def _dynamic(self, result: CheckResult) -> CheckResult:
        examples = [self.spec.example] if self.spec.example is not None else [None]
        examples += list(self.spec.candidates)
        static = dict(result.stages)
        attempts: list[CheckResult] = []
        for example in examples:
            attempt = self._try(static, example)
            if attempt.status == "ok":
                return attempt
            attempts.append(attempt)
            if _failing_the_same_way(attempts):
                break
            if example is None and len(examples) == 1 and self.lemur is not None and _spatial_failure(attempt):
                # LEMUR models are trained on resized images (e.g. 256 px transforms): a model that
                # only breaks because 32 px is too small is retried at the sizes LEMUR uses.
                for side in LEMUR_RETRY_SIDES:
                    retry = self._try(static, Example(inputs=[[LEMUR_IN_SHAPE[0], LEMUR_IN_SHAPE[1], side, side]]))
                    if retry.status == "ok":
                        return retry
                    if not _spatial_failure(retry):
                        break
        traced: list[CheckResult] = []
        for example in self._traced_examples(examples):
            attempt = self._try(static, example)
            if attempt.status == "ok":
                return attempt
            attempts.append(attempt)
            traced.append(attempt)
            if _failing_the_same_way(traced):
                break
        # Report the attempt that got furthest (first one on ties).
        best = max(attempts, key=lambda a: (sum(v == "ok" for v in a.stages.values()), -attempts.index(a)))
        self._hint_fitting_input(static, best)
        self._skip_rest(best)
        return best

    def _hint_fitting_input(self, static: dict[str, str], failed: CheckResult) -> None:
        """When forward failed on the default input the caller did not choose, try the inputs the checker infers from
        the model (``sandbox.infer_input``: 224 px images, token ids, sequences); if one runs, the hint says which, with
        the ``--input-shape`` that checks it. Why: a model built for 224 px or for (batch, length, features) failed with
        hints to change its layers ("set in_features=32"), and nothing said its input was the problem. The verdict stays
        the default input's; the probe runs under a CPU-time limit within the check's budget."""
        if (self.spec.example is not None or self.spec.candidates or self.lemur is not None
                or failed.failed_stage != "forward" or failed.error_type in OWN_FAILURES):
            return
        budget = min(PROBE_BUDGET_S, self.spec.timeout_s - (time.process_time() - self.started) - PROBE_RESERVE_S)
        if budget < 1.0:
            return
        from sandbox.trace_init import OutOfTime, time_limit

        try:
            with time_limit(budget):
                probe = self._try(static, Example(inputs=None))
        except OutOfTime:
            return
        finally:
            _seed_everything(ATTEMPT_SEED)
        fitting = probe.example
        if probe.status != "ok" or fitting is None or fitting.input_specs is not None or not fitting.inputs:
            return
        if failed.example is not None and fitting.inputs == failed.example.inputs:
            return
        shapes = " ".join(f"--input-shape {','.join(map(str, s))}" for s in fitting.inputs)
        dtypes = [d for d in fitting.input_dtypes or []] if any(d != "float32" for d in fitting.input_dtypes or []) else []
        option = " ".join([shapes, *(f"--input-dtype {d}" for d in dtypes)])
        hint = (f"; or, if the model takes other inputs: it runs on {fitting.inputs}{f' {dtypes}' if dtypes else ''}, "
                f"found by the checker, so check it with `{option}` (Example.inputs)")
        failed.diagnosis = replace(failed.diagnosis, hint=failed.diagnosis.hint + hint)

    def _try(self, static: dict[str, str], example: Example | None) -> CheckResult:
        """One attempt from the static stages' results; a passing one has its remaining stages marked."""
        attempt = CheckResult(status="ok", stages=dict(static))
        self._attempt(attempt, example)
        if attempt.status == "ok":
            self._skip_rest(attempt)
        return attempt

    def _traced_examples(self, tried: list[Example | None]) -> list[Example]:
        """Examples from the arguments the package's own factories pass to the entry class
        (``sandbox.trace_init``), when the spec names them and time is left."""
        spec = self.spec
        if not spec.origin or not spec.factories or self.lemur is not None or not spec.entry:
            return []
        left = spec.timeout_s - (time.process_time() - self.started)
        budget = min(TRACE_BUDGET_S, left - TRACE_RESERVE_S)
        if budget < 1.0:
            return []
        from sandbox.trace_init import traced_examples

        first = tried[0] if tried and tried[0] is not None else Example()
        try:
            examples = traced_examples(spec.origin, spec.entry, list(spec.factories), self.namespace, budget, first.init_kwargs)
        except Exception:  # noqa: BLE001 - tracing is best effort; the static attempts stand
            return []
        return [e for e in examples if e not in tried]

    def _attempt(self, result: CheckResult, example: Example | None) -> None:
        self.tracker.reset(None)
        self.inputs_inferred = False
        _seed_everything(ATTEMPT_SEED)
        stage = "instantiate"
        model: nn.Module | None = None
        inputs: list[Any] = []
        try:
            self._enter(stage, result)
            cls = self._entry_class(example)
            result.entry = cls.__name__
            model, example = self._build(cls, example)
            if self.lemur is not None and self._trains_lemur(model):
                self.wanted = STAGES[: STAGES.index("train_step") + 1]
            result.example = example
            result.params = _param_count(model)
            if self.spec.max_params is not None and result.params > self.spec.max_params:  # None: no budget
                raise StageError("ParamBudget", f"{result.params:,} parameters exceed the budget of {self.spec.max_params:,}", status="rejected")
            result.stages[stage] = "ok"
            if "forward" not in self.wanted:
                return
            stage = "forward"
            self._enter(stage, result)
            self.tracker.reset(model)
            with self.tracker:
                model, inputs, output = self._forward(model, example, result, rebuild=lambda: self._build(cls, example)[0])
            result.params = _param_count(model)  # lazy layers (LazyLinear) have their shapes now
            result.stages[stage] = "ok"
            if "backward" in self.wanted:
                stage = "backward"
                self._enter(stage, result)
                result.stages[stage] = self._backward(model, output, inputs, result)
            keyed_output = isinstance(output, dict)
            del output
            if "train_step" in self.wanted:
                stage = "train_step"
                self._enter(stage, result)
                if self.lemur is not None and self.spec.expected_output_shape is None and not keyed_output:
                    # at train_step, not forward: forward's verdict (params, FLOPs) stays what the LEMUR table measured
                    self.lemur.labels = lemur.labels_for_output(result.output_shapes, self.lemur)
                self.tracker.reset(model)
                with self.tracker:
                    self._train_step(model, inputs, example)
                result.stages[stage] = "ok"
        except BaseException as exc:  # noqa: BLE001
            self._fail(result, stage, exc)
            if stage == "backward" and model is not None and diagnose.is_inplace_error(exc):
                self._locate_inplace(result, model, inputs)

    def _locate_inplace(self, result: CheckResult, model: nn.Module, inputs: list[Any]) -> None:
        """Rerun a backward that an in-place op broke under anomaly detection, which records where forward made
        each tensor: the error alone names no line of the model (only the op, "output 0 of Sigmoid"). Run only
        after the failure, since anomaly mode slows every op."""
        line = _anomaly_forward_line(model, inputs)
        if line is not None:
            result.diagnosis = diagnose.inplace_diagnosis(result.message, result.failed_stage or "backward", line, self.code)

    def _trains_lemur(self, model: nn.Module) -> bool:
        """Whether a LEMUR-contract entry also runs train_step: LEMUR's trainer calls the model's own
        ``train_setup`` and ``learn``, so a check that stops at backward passed models whose ``learn`` cannot
        run. Only with the default stages (a caller's own stages are run as given), and only for a model that
        has both methods: a block with just the constructor's signature is not a whole LEMUR model."""
        has_contract = all(callable(getattr(model, name, None)) for name in ("train_setup", "learn"))
        return has_contract and self.spec.train_lemur and tuple(self.spec.stages) == DEFAULT_STAGES

    def _build(self, cls: type, example: Example | None) -> tuple[nn.Module, Example]:
        use_lemur = self.spec.lemur if self.spec.lemur is not None else is_lemur_class(cls)
        if use_lemur:
            in_shape = tuple(example.inputs[0]) if example is not None and example.inputs else LEMUR_IN_SHAPE
            out_shape = tuple(self.spec.expected_output_shape[1:]) if self.spec.expected_output_shape else LEMUR_OUT_SHAPE
            prm = lemur_prm(self.namespace)
            if "batch" in prm:
                prm["batch"] = int(in_shape[0])
            if example is not None and isinstance(example.init_kwargs.get("prm"), dict):
                prm.update(example.init_kwargs["prm"])
            given = example is not None and bool(example.inputs)
            dtypes = example.input_dtypes if given else None
            self.lemur = lemur.LemurContract(in_shape, out_shape, prm, input_dtype=(dtypes or ["float32"])[0] or "float32")
            model = _built_module(cls, cls(in_shape, out_shape, prm, torch.device("cpu")))
            # every input and dtype given stays: token ids (--input-dtype int64) were fed as floats, a second input dropped
            inputs = [list(s) for s in example.inputs] if given else [list(in_shape)]
            used = Example(init_args=[list(in_shape), list(out_shape), dict(prm), "cpu"], inputs=inputs, input_dtypes=dtypes)
            return model, used
        self.lemur = None
        example = copy.deepcopy(example) if example is not None else Example()
        args = _resolve(example.init_args, self.namespace)
        kwargs = _resolve(example.init_kwargs, self.namespace)
        return _built_module(cls, cls(*args, **kwargs)), example

    def _forward(self, model: nn.Module, example: Example, result: CheckResult,
                 rebuild: Callable[[], nn.Module] | None = None) -> tuple[nn.Module, list[torch.Tensor], Any]:
        """The model that ran (rebuilt for each try when it has lazy layers, see below), its inputs and output."""
        model.train()
        if example.input_specs is not None:
            proposals = [(example.inputs or _spec_shapes(example.input_specs), None, example.input_specs)]
        elif example.inputs is not None:
            proposals = [(example.inputs, example.input_dtypes, None)]
        else:
            proposals = _propose_inputs(model, _size_hint(example))
        inferred = example.input_specs is None and example.inputs is None
        first_error: BaseException | None = None
        first_failure: tuple[list, list[list[int]], list[str] | None, list[dict] | None] | None = None
        count = self.spec.count_flops  # in the first forward tried (see _counted_forward); later ones run plain
        counted, flops = False, None
        # a lazy layer takes its shapes from the first input it sees, even when that forward then
        # fails: every further proposal gets a freshly built model that has seen nothing yet
        lazy = rebuild is not None and _has_lazy(model)
        for tried, (shapes, dtypes, specs) in enumerate(proposals):
            try:
                if lazy and tried:
                    model = rebuild().train()
                inputs = [build_input(s, self.namespace) for s in specs] if specs is not None else make_inputs(shapes, dtypes, token_bound(model))
                self.tracker.reset(model)
                drawn_before = _rng_states()
                start = time.perf_counter()
                if count:
                    count = False
                    output, flops = _counted_forward(model, inputs)
                    counted = True
                else:
                    output = model(*inputs)
                result.forward_ms = round((time.perf_counter() - start) * 1000, 3)
            except Exception as exc:  # noqa: BLE001
                if first_error is None:
                    first_error, first_failure = exc, (list(self.tracker.stack), shapes, dtypes, specs)
                continue
            example.inputs, example.input_dtypes = [list(s) for s in shapes], dtypes
            example.input_specs = specs
            break
        else:
            # the error reported is the first proposal's: the example and the failing layer must be that one's too, not
            # the last proposal's (the diagnosis named the (2, 3, 32, 32) fallback for a model fed two (2, 8) inputs)
            stack, shapes, dtypes, specs = first_failure  # type: ignore[misc]
            self.tracker.stack = stack
            example.inputs, example.input_dtypes, example.input_specs = [list(s) for s in shapes], dtypes, specs
            self.inputs_inferred = inferred
            raise first_error  # type: ignore[misc]
        tensors = _flatten_tensors(output)
        if not tensors:
            raise StageError("NoTensorOutput", f"forward returned {type(output).__name__}, not a tensor (or a tuple/dict of tensors)")
        # at most MAX_OUTPUT_SHAPES: a forward returning 700,000 tensors made a result line over the worker's
        # RESULT_LIMIT, which was cut and read as the code calling os._exit()
        result.output_shapes = [list(t.shape) for t in tensors[:MAX_OUTPUT_SHAPES]]
        result.output_count = len(tensors)
        expected = self.spec.expected_output_shape
        if expected is not None and not _shape_matches(result.output_shapes[0], expected):
            raise StageError("OutputShapeMismatch", f"output shape {result.output_shapes[0]} != expected {list(expected)}")
        if self.spec.count_flops:
            result.flops = flops if counted else _count_flops(model, inputs)
        if _rng_states() != drawn_before and not any(True for _ in model.parameters()):
            _replay_with_other_seeds(model, inputs)
        soundness.check_output_finite(model, output, lambda: model(*inputs), _flatten_tensors)
        warning = soundness.check_eval_forward(model, inputs, _flatten_tensors)
        if warning:
            result.warnings.append(warning)
        return model, inputs, output

    def _backward(self, model: nn.Module, output: Any, inputs: list[Any], result: CheckResult) -> str:
        trainable = [p for p in model.parameters() if p.requires_grad]
        if not trainable:
            required = self.spec.require_trainable
            if required or (required is None and not self.spec.entry):
                raise _no_trainable_parameter(model)
            return "skipped"
        loss = _backward_loss(output)
        if loss is None:
            raise StageError("NoGradient", "the output does not depend on any trainable parameter (detached, or computed under no_grad)")
        loss.backward()
        if all(p.grad is None for p in trainable):
            raise StageError("NoGradient", "backward produced no gradient for any parameter")
        soundness.check_gradients_finite(model)
        warning = soundness.ungraded_parameters_warning(model)
        if warning:
            result.warnings.append(warning)
        soundness.check_some_gradient(model, lambda: _backward_to_random_targets(model, inputs))
        model.zero_grad(set_to_none=True)
        return "ok"

    def _train_step(self, model: nn.Module, inputs: list[torch.Tensor], example: Example) -> None:
        if self.lemur is not None:
            model.train_setup(self.lemur.prm)
            before = soundness.parameter_fingerprints(model)
            model.learn(lemur.trainer_batches(self.lemur, TRAIN_STEPS, token_bound(model)))
            if soundness.parameter_fingerprints(model) == before:
                # a second, longer epoch: a warm-up from lr 0 stepped per epoch, or gradients accumulated over more
                # batches than the first epoch had, learn from the second on, as LEMUR's later epochs would
                model.learn(lemur.trainer_batches(self.lemur, LEMUR_SECOND_EPOCH_BATCHES, token_bound(model)))
            soundness.check_trained(model, before, f"learn() over two epochs ({TRAIN_STEPS} and "
                                                   f"{LEMUR_SECOND_EPOCH_BATCHES} batches)")
            return
        trainable = [p for p in model.parameters() if p.requires_grad]
        if not trainable:
            raise _no_trainable_parameter(model)
        optimizer = torch.optim.SGD(trainable, lr=0.01, momentum=0.9)
        model.train()
        before = soundness.parameter_fingerprints(model)
        for step in range(TRAIN_STEPS):
            if example.input_specs is not None:
                fresh = [build_input(spec, self.namespace) for spec in example.input_specs]
            else:
                fresh = make_inputs(example.inputs, example.input_dtypes, token_bound(model))
            out = _trained_output(model(*fresh))
            if out.dim() == 2 and out.is_floating_point() and out.shape[1] > 1:
                loss = nn.functional.cross_entropy(out, _random_classes(out))
            else:  # a random target: a zero-initialised last layer (zero output) still gets a gradient
                loss = nn.functional.mse_loss(out.float(), torch.randn(out.shape))
            soundness.check_loss_finite(loss, step)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        soundness.check_trained(model, before, f"{TRAIN_STEPS} SGD steps (lr 0.01)")


PROBE_BUDGET_S = 10.0  # CPU seconds for finding an input a model takes, after its forward failed on the default one
PROBE_RESERVE_S = 4.0  # left of the check's budget after that probe
# failures of the checker's own tests (not an exception of the model's): another input would not change them
OWN_FAILURES = ("NoTensorOutput", "OutputShapeMismatch", "RandomForward", "NonFiniteOutput")
TRAIN_STEPS = 2  # optimizer steps (LEMUR: batches given to learn()); the second catches state kept from the first
LEMUR_SECOND_EPOCH_BATCHES = 8  # a second learn() when the first changed nothing: accumulation over up to 8 batches


def _random_classes(logits: torch.Tensor) -> torch.Tensor:
    """A random class per sample among those its logits leave possible (finite). Why: a model that masks classes with
    -inf (unused or invalid ones) got a random target on a masked class, an infinite loss, and NonFiniteLoss."""
    possible = torch.isfinite(logits.detach()).float()
    possible[possible.sum(dim=1) == 0] = 1.0  # a sample with no finite logit: any class (its loss says the rest)
    return torch.multinomial(possible, 1).squeeze(1)


def _with_notes(text: str, exc: BaseException) -> str:
    """The exception's text and its notes (``add_note``: where the check ran it, e.g. in eval mode)."""
    notes = [n for n in getattr(exc, "__notes__", None) or [] if isinstance(n, str)]
    return f"{text} ({'; '.join(notes)})" if notes else text


def _no_trainable_parameter(model: nn.Module) -> StageError:
    """Why: a model with every parameter frozen (or none at all) passed with backward "skipped" and a train step that
    trained nothing, while one whose output was detached failed with NoGradient."""
    count = sum(1 for _ in model.parameters())
    why = (f"all {count} of its parameter tensors have requires_grad=False" if count
           else "it has no parameters: no layer with weights")
    return StageError("NoTrainableParameter", f"the model has no trainable parameter: an optimizer cannot be built ({why})")


def _built_module(entry: Callable[..., Any], built: Any) -> nn.Module:
    """What the entry built, once known to be a module: a factory function may return anything."""
    if not isinstance(built, nn.Module):
        raise StageError("EntryNotModule", f"entry {getattr(entry, '__name__', entry)!r} returned {type(built).__name__}, not an nn.Module")
    return built


def _backward_loss(output: Any) -> torch.Tensor | None:
    """The backward stage's loss: every differentiable output tensor squared, its -inf entries (masked classes, which
    forward allows) left out; None when none needs a gradient. Why left out: -inf squared is inf, and
    ``log_softmax`` of masked logits then back-propagated NaN to every parameter."""
    tensors = [t for t in _flatten_tensors(output) if (t.is_floating_point() or t.is_complex()) and t.requires_grad]
    if not tensors:
        return None
    magnitudes = [(t.abs() if t.is_complex() else t).float() for t in tensors]
    return sum(torch.where(torch.isneginf(m), torch.zeros_like(m), m).pow(2).mean() for m in magnitudes)


def _backward_to_random_targets(model: nn.Module, inputs: list[Any]) -> None:
    """Forward a larger batch of new samples (``soundness.larger_batch``) and back-propagate a squared error against
    random targets (as the train step's loss without classes), the gradients of the first backward dropped; on the
    checked inputs when the model refuses the larger batch. Why larger: an age regressor ending in ``.clamp(0, 1) *
    100`` passes a gradient for 1.5% of inputs, none of two samples, and was called untrainable."""
    model.zero_grad(set_to_none=True)
    try:
        out = _trained_output(model(*soundness.larger_batch(inputs)))
    except Exception:  # noqa: BLE001 - a model built for one batch size: its own inputs again
        model.zero_grad(set_to_none=True)
        out = _trained_output(model(*inputs))
    if out.is_floating_point() and out.requires_grad:
        nn.functional.mse_loss(out.float(), torch.randn(out.shape)).backward()


def _anomaly_forward_line(model: nn.Module, inputs: list[Any]) -> int | None:
    """The line of the checked file where forward made the tensor whose backward failed: anomaly mode warns
    with that forward call's traceback ("Traceback of forward call that caused the error")."""
    import warnings

    with warnings.catch_warnings(record=True) as caught, torch.autograd.set_detect_anomaly(True, check_nan=False):
        warnings.simplefilter("always")
        try:
            loss = _backward_loss(model(*inputs))
            if loss is not None:
                loss.backward()
        except Exception:  # noqa: BLE001 - the failure is expected; only its recorded traceback is wanted
            pass
    lines = [int(n) for w in caught for n in re.findall(rf'File "{re.escape(MODEL_FILE)}", line (\d+)', str(w.message))]
    return lines[-1] if lines else None


def _trained_output(output: Any) -> torch.Tensor:
    """The output a train step's loss reads: the first that depends on a trainable parameter (as backward's), else
    the first. Why: ``return logits.argmax(1), logits`` or ``{"pred": ..., "logits": ...}`` trains fine, but the loss
    on the first output, integer predictions, failed with "element 0 of tensors does not require grad". A complex
    output trains on its magnitude."""
    tensors = _flatten_tensors(output)
    out = next((t for t in tensors if (t.is_floating_point() or t.is_complex()) and t.requires_grad), tensors[0])
    return out.abs() if out.is_complex() else out


def _has_lazy(model: nn.Module) -> bool:
    """Whether the model still has lazy (uninitialized) parameters or buffers."""
    return any(is_lazy(t) for t in [*model.parameters(), *model.buffers()])


ATTEMPT_SEED = 0


def _seed_everything(seed: int) -> None:
    """Seed every RNG a model may draw from, at the start of each attempt.

    Why: random inputs, random initialisation and random forward paths (augmentation pipelines such as
    AugMix or RandomApply pick their ops at random) otherwise make a check pass or fail by chance, so the
    example recorded at index time could fail when the same example is re-run in a fresh sandbox.
    """
    random.seed(seed)
    torch.manual_seed(seed)
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed(seed)


RANDOM_REPLAY_SEEDS = (1, 2, 3)  # a random parameter-free forward also runs with these; at p = 0.5, 7 in 8 failures show


def _rng_states() -> tuple[bytes, Any]:
    """torch's and Python's random states, to tell whether a forward drew random numbers."""
    return bytes(torch.random.get_rng_state().numpy()), random.getstate()


def _replay_with_other_seeds(model: nn.Module, inputs: list[Any]) -> None:
    """The forward of a model without parameters that drew random numbers (an augmentation: RandomErasing, AutoAugment,
    RandomApply) once more with each of ``RANDOM_REPLAY_SEEDS``; a failure with any is the forward's. Why: 18 of
    torchvision's transforms were validated to backward by the branch seed 0 took, and failed in 35-60% of other draws
    ("No kernel registered", "Only torch.uint8 image tensors"). A model with parameters is not replayed (its dropout
    draws too, and its forward costs more); a parameter-free one is cheap to run again."""
    try:
        for seed in RANDOM_REPLAY_SEEDS:
            _seed_everything(seed)
            try:
                with torch.no_grad():
                    model(*[t.clone() if isinstance(t, torch.Tensor) else t for t in inputs])
            except Exception as exc:  # noqa: BLE001
                raise StageError("RandomForward", f"forward failed with seed {seed} (it draws at random; seed "
                                 f"{ATTEMPT_SEED} passed): {type(exc).__name__}: {exc}") from exc
    finally:
        _seed_everything(ATTEMPT_SEED)


def _param_count(model: nn.Module) -> int:
    """Parameters of the model; a lazy layer's parameters count once its first forward shaped them."""
    return int(sum(p.numel() for p in model.parameters() if not is_lazy(p)))


def _shape_matches(actual: list[int], expected: list[int]) -> bool:
    return len(actual) == len(expected) and all(e in (-1, None) or a == e for a, e in zip(actual, expected))


def _counted_forward(model: nn.Module, inputs: list[torch.Tensor]) -> tuple[Any, int | None]:
    """``model(*inputs)`` under a FLOP counter: the forward the check runs anyway also gives the
    forward FLOPs per sample, instead of a second no-grad pass (that pass cost ~10% of the CPU of
    a passing check). ``forward_ms`` then includes the counter's per-op overhead. A forward that
    raises under the counter runs once more without it, so only the model's own error fails the
    stage (FLOPs None when the counter was what broke)."""
    counter = flop_counter()
    try:
        with counter, RecurrentFlops(model, counter) as recurrent:
            output = model(*inputs)
    except Exception:  # noqa: BLE001 - maybe the counter's fault: the plain run below decides
        return model(*inputs), None
    return output, _flops_per_sample(counter.get_total_flops() + recurrent.extra, inputs)


def _flops_per_sample(total: int, inputs: list[Any]) -> int:
    tensors = _flatten_tensors(list(inputs))
    batch = tensors[0].shape[0] if tensors and tensors[0].dim() > 0 else 1
    return int(total // max(batch, 1))


def _count_flops(model: nn.Module, inputs: list[torch.Tensor]) -> int | None:
    """Forward FLOPs per sample (2 per multiply-add), from FlopCounterMode on an extra no-grad
    forward: for a forward that passed only after the counted one failed."""
    try:
        counter = flop_counter()
        with torch.no_grad(), counter, RecurrentFlops(model, counter) as recurrent:
            model(*inputs)
        return _flops_per_sample(counter.get_total_flops() + recurrent.extra, inputs)
    except Exception:  # noqa: BLE001 - FLOPs are best effort; the forward already passed
        return None


def run_check(code: str, spec: CheckSpec, report: Callable[[dict], None]) -> dict:
    """Entry point used by the worker's forked child: returns the CheckResult as a dict."""
    import resource

    result = CheckRun(code, spec, report).run()
    if not result.diagnosis.problem and result.status == "ok":
        result.diagnosis = Diagnosis()
    result.peak_rss_mb = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return result.to_dict()
