"""The records exchanged with the sandbox: what to check (CheckSpec) and what happened (CheckResult).

Plain dataclasses with JSON round-trips, because they cross process boundaries
(worker pipes), the wire (gRPC) and disk (audit JSONL). This module imports
nothing from the rest of the project.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

MODEL_FILE = "model.py"  # the name checked code runs under in the sandbox, and its tracebacks name

STAGES: tuple[str, ...] = ("parse", "compile", "import", "instantiate", "forward", "backward", "train_step")
STATUSES: tuple[str, ...] = ("ok", "failed", "timeout", "oom", "crashed", "rejected")
# Names ``Example.input_dtypes`` may use (torch attribute names; "float" and "long" are aliases).
# What a check runs unless the caller names its stages; an entry with the LEMUR contract also runs train_step
# (``CheckSpec.train_lemur``), since its own ``train_setup``/``learn`` are what LEMUR's trainer calls.
DEFAULT_STAGES: tuple[str, ...] = ("parse", "compile", "import", "instantiate", "forward", "backward")
INPUT_DTYPES: tuple[str, ...] = ("float32", "float", "float16", "bfloat16", "float64", "int64", "long", "int32", "bool")
# error_type of outcomes that say nothing about the checked code: the sandbox, the machine or the caller ended the
# check (see ``is_verdict``). "WallTimeout": the wall-clock cap passed while the machine was busy; "DeadlineExceeded":
# the caller's deadline; "WorkerError": the worker process died or stopped answering; "SandboxInternalError": a bug
# of the checker (or a result it could not read back).
SANDBOX_SIDE_ERRORS: frozenset[str] = frozenset({"WallTimeout", "DeadlineExceeded", "Cancelled", "WorkerError", "SandboxInternalError"})
MAX_OUTPUT_SHAPES = 64  # output shapes a result carries; ``CheckResult.output_count`` has the full count


@dataclass
class Example:
    """One way to build and call a module: constructor arguments and input shapes.

    JSON values only. An argument written as ``{"__expr__": "nn.BatchNorm2d"}`` is
    evaluated inside the sandbox, in the checked module's namespace, so examples can
    name classes and functions (norm layers, activations) without pickling them.
    ``input_dtypes`` parallels ``inputs``; None means float32 for every input
    ("int64" inputs are filled with token ids in [0, 10)). ``inputs=None`` asks the
    sandbox to infer input shapes from the built module (``sandbox.infer_input``).
    """

    init_args: list[Any] = field(default_factory=list)
    init_kwargs: dict[str, Any] = field(default_factory=dict)
    inputs: list[list[int]] | None = field(default_factory=lambda: [[2, 3, 32, 32]])
    input_dtypes: list[str] | None = None
    # One JSON spec per forward argument when they are not all plain tensors (lists or dicts
    # of feature maps, (H, W) sizes, ints, boxes); see ``sandbox.infer_input``. When set, it
    # wins over ``inputs``, which then lists the shapes of the top-level tensor arguments only.
    input_specs: list[dict[str, Any]] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Example":
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


@dataclass
class CheckSpec:
    """What to check. Defaults fit an LLM-written CIFAR-10 classifier.

    entry: what to build: a class, a function returning the model, or a module-level model instance (rebuilt from its
        assignment); None -> ``Net``; else the model the file builds itself (``model = Classifier()``, a zero-argument
        factory ``def resnet10(): return ResNet(...)``); else the last top-level nn.Module class (used by no other)
        that builds with the example's arguments; else the last top-level one; else the last (``sandbox.entry``).
    lemur: construct with the LEMUR contract ``Net(in_shape, out_shape, prm, device)``;
        None -> detect automatically.
    example: constructor args and inputs; None -> no args, input (2, 3, 32, 32).
    candidates: extra examples tried in order inside the same sandboxed process when
        the first fails at instantiate/forward/backward (the indexer uses this to find a
        working example in one round trip); the result's ``example`` says which worked.
    stages: run up to and including the last stage named here.
    train_lemur: with the default stages (DEFAULT_STAGES), an entry built with the LEMUR contract
        also runs train_step (``train_setup`` + ``learn`` on a tiny batch), so a broken ``learn``
        is caught by every caller that keeps the defaults; False stops at the default stages.
        Stages other than the default are always run exactly as given.
    require_trainable: whether a model without a trainable parameter fails at backward (NoTrainableParameter):
        None -> when the check chose the entry (a whole file is checked as a model, which must have something to
        train), not when the caller named it (the indexer checks parameter-free blocks, activations and pools, by
        name; their backward is "skipped"). train_step always needs one: an optimizer cannot be built without.
    origin, factories: where ``entry`` is defined in an installed package (``timm.models.vgg``)
        and functions of that package that construct it (``timm.models.vgg:vgg11``). When every
        example fails, the sandbox calls these factories, records the arguments the real class
        receives, and tries them (``sandbox.trace_init``).
    """

    entry: str | None = None
    lemur: bool | None = None
    example: Example | None = None
    candidates: list[Example] = field(default_factory=list)
    expected_output_shape: list[int] | None = None
    stages: tuple[str, ...] = DEFAULT_STAGES
    max_params: int = 200_000_000
    timeout_s: float = 30.0
    memory_mb: int = 4096
    count_flops: bool = True
    origin: str | None = None
    factories: list[str] = field(default_factory=list)
    train_lemur: bool = True
    require_trainable: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["stages"] = list(self.stages)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "CheckSpec":
        data = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        if data.get("example") is not None:
            data["example"] = Example.from_dict(data["example"])
        data["candidates"] = [Example.from_dict(c) for c in data.get("candidates") or []]
        if "stages" in data:
            data["stages"] = tuple(data["stages"])
        return cls(**data)


@dataclass
class Diagnosis:
    """A one-line problem and a concrete hint, for a feedback-memory loop to store."""

    problem: str = ""
    hint: str = ""
    kind: str = ""  # machine-readable category: undefined_name, shape_mismatch, missing_module, timeout, oom, ...
    symbol: str = ""  # the name the problem is about (undefined name, missing module), for store lookups
    line: int | None = None  # line in the checked code where it broke, when known
    # for a layer's shape mismatch: its class and the shapes of the tensors it was given (what Patch reads to reshape
    # an inserted block's input; not sent over the wire, where ``problem`` says both)
    layer_type: str = ""
    input_shapes: list[list[int]] = field(default_factory=list)


# The words of ``sandbox.soundness``'s warning that samples of a batch mix, which callers look for (Patch's batch-first retry)
SAMPLES_MIX = "mixes samples across dimension 0"
# and of its warning that a sample's output depends on where it sits in the batch (Patch tries other blocks)
SAMPLE_POSITION = "depends on its position in the batch"
# and the words before the layer either warning names as the first to do it: `path` (Type in Parent in ...), which Patch
# reads to swap the inserted block at fault first
FIRST_LAYER_AT_FAULT = "it first happens in"


@dataclass
class CheckResult:
    """What happened. ``status`` is one of STATUSES; ``stages`` maps each stage run to
    "ok" / "failed" / "skipped"; ``failed_stage`` is None when status is ok."""

    status: str
    stages: dict[str, str] = field(default_factory=dict)
    failed_stage: str | None = None
    error_type: str = ""
    message: str = ""
    traceback: str = ""
    params: int | None = None
    flops: int | None = None  # forward FLOPs per sample (2 per multiply-add)
    output_shapes: list[list[int]] = field(default_factory=list)
    forward_ms: float | None = None
    peak_rss_mb: float | None = None
    wall_ms: float | None = None
    example: Example | None = None  # the example that worked (or the last tried)
    entry: str | None = None  # what was built: a class, a factory function, or a module-level model instance
    diagnosis: Diagnosis = field(default_factory=Diagnosis)
    stdout: str = ""  # captured and truncated
    cpu_s: float | None = None  # CPU seconds the check's processes had used when it finished or a time limit ended it
    output_count: int | None = None  # tensors in the forward output; ``output_shapes`` lists at most MAX_OUTPUT_SHAPES
    warnings: list[str] = field(default_factory=list)  # passed, but likely to hurt training (see sandbox.soundness)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def passed(self, stage: str) -> bool:
        return self.stages.get(stage) == "ok"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "CheckResult":
        data = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        if data.get("example") is not None:
            data["example"] = Example.from_dict(data["example"])
        data["diagnosis"] = Diagnosis(**(data.get("diagnosis") or {}))
        return cls(**data)


def is_verdict(result: CheckResult) -> bool:
    """Whether ``result`` judges the checked code (it passed, or failed by its own doing), rather than reporting
    that the sandbox, the machine or the caller ended the check. Why: stores and audits keep verdicts for good and
    must check again whatever is not one (a worker killed from outside, a timeout on an overloaded machine)."""
    return verdict_error(result.error_type, result.message)


def verdict_error(error_type: str, message: str = "") -> bool:
    """``is_verdict`` from an error type and message alone (a stored "Type: message" string). Records written
    before "WallTimeout" existed said "Timeout" with "the check exceeded its wall-clock cap": not verdicts either."""
    if error_type in SANDBOX_SIDE_ERRORS:
        return False
    return not (error_type == "Timeout" and message.startswith(("the check exceeded its wall-clock cap", "no result within")))


INT64_MAX = (1 << 63) - 1


def _is_int(value: Any, low: int = -INT64_MAX - 1, high: int = INT64_MAX) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_shape(value: Any) -> bool:
    return isinstance(value, list) and all(_is_int(d) for d in value)


def _strings(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())


_RESULT_FIELD_CHECKS: dict[str, tuple[Any, str]] = {
    "status": (lambda v: v in STATUSES, f"one of {', '.join(STATUSES)}"),
    "stages": (lambda v: _strings(v) and all(s in ("ok", "failed", "skipped") for s in v.values()), "a map of stage names to ok/failed/skipped"),
    "failed_stage": (lambda v: v is None or isinstance(v, str), "a stage name or null"),
    "error_type": (lambda v: isinstance(v, str), "a string"), "message": (lambda v: isinstance(v, str), "a string"),
    "traceback": (lambda v: isinstance(v, str), "a string"), "stdout": (lambda v: isinstance(v, str), "a string"),
    "entry": (lambda v: v is None or isinstance(v, str), "a string or null"),
    "params": (lambda v: v is None or _is_int(v, 0), "a count (int64) or null"),
    "flops": (lambda v: v is None or _is_int(v, 0), "a count (int64) or null"),
    "output_count": (lambda v: v is None or _is_int(v, 0), "a count (int64) or null"),
    "output_shapes": (lambda v: isinstance(v, list) and all(_is_shape(s) for s in v), "a list of shapes (lists of int64)"),
    "warnings": (lambda v: isinstance(v, list) and all(isinstance(w, str) for w in v), "a list of strings"),
    **{name: (lambda v: v is None or _is_number(v), "a number or null") for name in ("forward_ms", "peak_rss_mb", "wall_ms", "cpu_s")},
    "example": (lambda v: v is None or _example_problem(v) is None, "an example (init_args list, init_kwargs map, input shapes)"),
    "diagnosis": (lambda v: isinstance(v, dict) and set(v) <= {"problem", "hint", "kind", "symbol", "line", "layer_type", "input_shapes"}
                  and all(isinstance(v.get(k, ""), str) for k in ("problem", "hint", "kind", "symbol", "layer_type"))
                  and (v.get("line") is None or _is_int(v["line"], -(1 << 31), (1 << 31) - 1))
                  and isinstance(v.get("input_shapes", []), list) and all(_is_shape(s) for s in v.get("input_shapes", [])),
                  "a diagnosis (strings, a line number and input shapes)"),
}


def _example_problem(data: Any) -> str | None:
    checks = {"init_args": lambda v: isinstance(v, list), "init_kwargs": lambda v: isinstance(v, dict) and all(isinstance(k, str) for k in v),
              "inputs": lambda v: v is None or (isinstance(v, list) and all(_is_shape(s) for s in v)),
              "input_dtypes": lambda v: v is None or (isinstance(v, list) and all(isinstance(d, str) for d in v)),
              "input_specs": lambda v: v is None or (isinstance(v, list) and all(isinstance(s, dict) for s in v))}
    if not isinstance(data, dict):
        return "not an object"
    return next((name for name, ok in checks.items() if name in data and not ok(data[name])), None)


def result_problem(data: Any) -> str | None:
    """What makes ``data`` not a CheckResult dict (a field of the wrong type, a count past int64), or None. Why: the
    result comes from the process that ran the checked code, which can write one of its own; a params of 2**70 or a
    diagnosis line of "seven" passed through and failed the server's reply as an internal error."""
    if not isinstance(data, dict):
        return f"the result is a {type(data).__name__}, not an object"
    if "status" not in data:
        return "the result has no status"
    for name, (ok, what) in _RESULT_FIELD_CHECKS.items():
        if name in data and not ok(data[name]):
            return f"{name} must be {what}, got {data[name]!r:.80}"
    return None
