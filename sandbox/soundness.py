"""Whether a stage that ran without an exception did what training needs: finite outputs and gradients, a forward that
also runs in eval mode, and a train step that changed the parameters. Runs only inside a sandboxed child process.

Why: "no exception" passed models whose forward returned NaN (``x / 0 * 0``), whose gradients were NaN (``sqrt`` of
zeros), which raised only in eval mode (``model.eval()``, as every test loop calls it), or whose ``learn`` trained
nothing (an empty ``learn``, ``lr=0``, a loss of ``output * 0``): each would waste a training run or give a useless
model, and a check exists to say so before that.
"""

from __future__ import annotations

import contextlib
import math
import random
import sys
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import torch
import torch.nn as nn

from sandbox.spec import FIRST_LAYER_AT_FAULT, SAMPLE_POSITION, SAMPLES_MIX

LISTED_NAMES = 4  # parameter names a message lists before "and N more"


class UnsoundStage(Exception):
    """A stage ran but its result is unusable; ``error_type`` names how (the runner's StageError carries it on)."""

    def __init__(self, error_type: str, message: str):
        super().__init__(message)
        self.error_type = error_type


@dataclass(frozen=True)
class NonFinite:
    """Where non-finite values are: which tensor, its shape, and how many NaN, +inf and -inf values it holds."""

    index: int
    shape: list[int]
    nans: int
    infs: int
    negative_infs: int
    size: int

    def describe(self, what: str) -> str:
        counts = ((self.nans, "NaN"), (self.infs, "+inf"), (self.negative_infs, "-inf"))
        kinds = " and ".join(f"{count:,} {kind}" for count, kind in counts if count)
        return f"{what} {self.index} (shape {self.shape}) holds {kinds} of its {self.size:,} values"


def first_non_finite(tensors: list[torch.Tensor], masked_allowed: bool = False) -> NonFinite | None:
    """The first floating (or complex) tensor holding NaN or inf, with its counts; None when all are finite.
    ``masked_allowed``: -inf is fine unless a sample (a row along the first dimension) is all -inf. Why: an output of
    logits or log-probabilities with -inf for masked or impossible classes (``masked_fill(~allowed, -inf)``) is what
    the model means, and its loss on an allowed class is finite; a sample with no finite value is not. A sparse tensor
    (a sparse embedding's gradient) is read through its stored values."""
    for index, tensor in enumerate(tensors):
        if not (tensor.is_floating_point() or tensor.is_complex()) or tensor.numel() == 0:
            continue
        values = tensor.detach()
        values = values.coalesce().values() if values.is_sparse else values
        values = torch.view_as_real(values) if values.is_complex() else values
        if bool(torch.isfinite(values).all()):
            continue
        nans, infs = int(torch.isnan(values).sum()), int(torch.isposinf(values).sum())
        negative_infs = int(torch.isneginf(values).sum())
        if masked_allowed and not nans and not infs and not _a_sample_all_negative_inf(values):
            continue
        return NonFinite(index, list(tensor.shape), nans, infs, negative_infs, tensor.numel())
    return None


def _a_sample_all_negative_inf(values: torch.Tensor) -> bool:
    rows = values.reshape(values.shape[0], -1) if values.dim() > 0 else values.reshape(1, 1)
    return bool(torch.isneginf(rows).all(dim=1).any())


Flatten = Callable[[Any], list[torch.Tensor]]  # the tensors of a forward's output (the runner's _flatten_tensors)


def non_finite_source(model: nn.Module, run: Callable[[], Any], flatten: Flatten) -> str:
    """The first module (in call order) whose output is not finite though its tensor inputs were: ``run`` is called
    once more with a forward hook on every module. "" when every module's output was finite (the model's own forward
    code made the values: then the root is named) or the rerun raised."""
    names = {id(m): (n or "<root>") for n, m in model.named_modules()}
    found: list[str] = []

    def hook(module: nn.Module, args: tuple, output: Any) -> None:
        if found or id(module) not in names:
            return
        inputs = [a for a in args if isinstance(a, torch.Tensor)]
        if first_non_finite(inputs, masked_allowed=True) is None and first_non_finite(flatten(output), masked_allowed=True) is not None:
            found.append(f"`{names[id(module)]}` ({type(module).__name__})")

    from torch.nn.modules import module as module_mod

    handle = module_mod.register_module_forward_hook(hook)
    try:
        with torch.no_grad():
            run()
    except Exception:  # noqa: BLE001 - only where the values appear is wanted; the failure is already known
        return ""
    finally:
        handle.remove()
    return found[0] if found else ""


def check_output_finite(model: nn.Module, output: Any, rerun: Callable[[], Any], flatten: Flatten, mode: str = "") -> None:
    """UnsoundStage("NonFiniteOutput") when forward's output holds NaN or +inf (or a sample that is all -inf; -inf for
    masked classes is meant), naming the first layer that made them."""
    bad = first_non_finite(flatten(output), masked_allowed=True)
    if bad is None:
        return
    source = non_finite_source(model, rerun, flatten)
    where = f"; the first layer whose output is not finite is {source}" if source else ""
    raise UnsoundStage("NonFiniteOutput", f"forward{mode} ran, but {bad.describe('its output')}{where}")


def check_gradients_finite(model: nn.Module) -> None:
    """UnsoundStage("NonFiniteGradient") when backward left NaN or inf in any parameter's gradient: the first optimizer
    step would make those parameters NaN."""
    bad = [name for name, p in model.named_parameters() if p.grad is not None and first_non_finite([p.grad]) is not None]
    if bad:
        raise UnsoundStage("NonFiniteGradient", f"backward gave NaN or inf gradients to {_listed(bad)}, though forward's "
                                                "output was finite")


def check_some_gradient(model: nn.Module, backward_to_random_targets: Callable[[], None]) -> None:
    """UnsoundStage("ZeroGradient") when every trainable parameter's gradient is zero, also after a second backward
    against random targets: the output does not change with any parameter (``torch.round``, argmax, sign,
    comparisons, a factor of zero), so no optimizer step can train it. Why the second backward: a zero-initialised
    last layer outputs zeros, whose squared-output loss has a zero gradient though the model trains."""
    if _any_nonzero_gradient(model):
        return
    backward_to_random_targets()
    if not _any_nonzero_gradient(model):
        count = sum(1 for p in model.parameters() if p.requires_grad)
        raise UnsoundStage("ZeroGradient", f"backward gave a zero gradient to every one of the model's {count} trainable "
                                           "parameter tensors, also against random targets: the output does not "
                                           "change with the parameters")


def ungraded_parameters_warning(model: nn.Module) -> str:
    """A warning naming the trainable parameters backward gave no gradient ("" when it reached all): a head defined but
    never used (``return out, hidden`` of an LSTM before its ``fc``), a backbone run under ``torch.no_grad()`` or
    detached. Not a failure: a frozen part may be meant, and the rest trains; but no optimizer step will change them."""
    missed = [name for name, p in model.named_parameters() if p.requires_grad and p.grad is None]
    if not missed:
        return ""
    total = sum(1 for p in model.parameters() if p.requires_grad)
    return (f"backward of the checked batch gave no gradient to {_listed(missed)} of the {total} trainable parameter "
            "tensors: forward's output did not use them, or computed them under torch.no_grad() or .detach(); unless "
            "other batches use them (routing, layer drop) or another loss trains them, training will never change "
            "them (set requires_grad=False if they are frozen on purpose)")


def _any_nonzero_gradient(model: nn.Module) -> bool:
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    return any(bool((g.coalesce().values() if g.is_sparse else g).abs().gt(0).any()) for g in grads)


def check_loss_finite(loss: torch.Tensor, step: int) -> None:
    if first_non_finite([loss]) is not None:
        raise UnsoundStage("NonFiniteLoss", f"the train step's loss is {loss.item()} at step {step + 1}")


def parameter_fingerprints(model: nn.Module) -> dict[str, tuple[float, float]]:
    """Per trainable parameter, its sum and sum of squares in float64: enough to tell that a step changed it without
    a copy of every weight (a copy would double a large model's memory inside the check's limit)."""
    with torch.no_grad():
        return {name: _fingerprint(torch.view_as_real(p) if p.is_complex() else p)
                for name, p in model.named_parameters() if p.requires_grad and p.numel()}


def _fingerprint(values: torch.Tensor) -> tuple[float, float]:
    wide = values.double()
    return float(wide.sum()), float(wide.pow(2).sum())


def check_trained(model: nn.Module, before: dict[str, tuple[float, float]], how: str) -> None:
    """UnsoundStage when the train step left NaN or inf in a parameter ("NonFiniteParameter") or changed no trainable
    parameter at all ("NothingLearned"). ``how`` says what trained, for the message."""
    after = parameter_fingerprints(model)
    broken = [name for name, (total, squares) in after.items() if not (math.isfinite(total) and math.isfinite(squares))]
    if broken:
        raise UnsoundStage("NonFiniteParameter", f"{how} made {_listed(broken)} NaN or inf")
    if before and not any(after.get(name) != value for name, value in before.items()):
        raise UnsoundStage("NothingLearned", f"{how} changed none of the model's {len(before)} trainable parameter tensors")


def check_eval_forward(model: nn.Module, inputs: list[Any], flatten: Flatten) -> str:
    """Forward once more in eval mode (``model.eval()``, no gradients), as a test loop runs it, then back to train
    mode. An exception propagates with a note saying it came in eval mode; non-finite output is NonFiniteOutput.
    Returns the warning of ``batch_mixing_warning``, else of ``batch_position_warning`` ("" when the samples stay apart
    and do not depend on their place in the batch)."""
    model.eval()
    try:
        with torch.no_grad():
            try:
                output = _seeded_forward(model, inputs)
            except Exception as exc:
                exc.add_note(EVAL_MODE_NOTE)
                raise
            check_output_finite(model, output, lambda: model(*inputs), flatten, mode=" in eval mode")
            return batch_mixing_warning(model, inputs, output, flatten) or batch_position_warning(model, inputs, output, flatten)
    finally:
        model.train()


def batch_mixing_warning(model: nn.Module, inputs: list[Any], output: Any, flatten: Flatten) -> str:
    """A warning when, in eval mode, changing only the first sample of the batch changes another sample's output: the
    model mixes samples across dimension 0. Why: ``nn.LSTM`` / ``nn.TransformerEncoder`` without ``batch_first=True``
    given (batch, time, features) treat the batch as time (attention or recurrence across samples), and softmax over
    dim 0 normalises across the batch; each passes every stage and trains on nonsense. A warning, not a failure: the
    first dimension may be graph nodes or set elements on purpose, or time in a time-first model. The original batch
    runs again after the changed one, and the two adjacent forwards are compared: a model that keeps state between
    calls (a carried hidden state, a KV cache, MoCo's queue) changes every output from call to call, and says nothing.
    A (batch, batch, ...) output (a similarity matrix) is compared without its first column, which sample 0 feeds."""
    batch = _batch_size(inputs)
    if batch is None or batch < 2:
        return ""
    try:
        changed = [_first_sample_redrawn(t) if _holds_batch(t, batch) else t for t in inputs]
        again = flatten(_seeded_forward(model, changed))
        original = flatten(_seeded_forward(model, inputs))
    except Exception:  # noqa: BLE001 - another sample the model refuses says nothing about mixing
        return ""
    if not _same_others(flatten(output), original, batch, all_rows=True):
        return ""  # the same batch twice gave other outputs: state kept between calls, not mixing
    pairs = [(a, b) for a, b in zip(original, again) if _batched(a, b, batch)]
    reached = any(not torch.equal(a[:1], b[:1]) for a, b in pairs)
    if not reached or _same_others(original, again, batch):
        return ""
    at_fault = first_layer_at_fault(model, (inputs, changed), batch, flatten, _others_kept)
    return ("in eval mode, changing only the first sample of the batch changed the other samples' outputs: the model "
            f"{SAMPLES_MIX} (nn.LSTM / nn.GRU / nn.TransformerEncoder without batch_first=True given "
            f"(batch, time, features), or a softmax, mean or norm over dim 0){at_fault}; ignore this if dimension 0 is "
            "not the batch (a time-first model, graph nodes, set elements)")


def batch_position_warning(model: nn.Module, inputs: list[Any], output: Any, flatten: Flatten) -> str:
    """A warning when, in eval mode, the batch in reverse order gives the samples other outputs than their own in reverse
    order: each sample's output depends on its position in the batch without depending on the other samples (which
    ``batch_mixing_warning`` finds). Why: the PyTorch tutorial's ``PositionalEncoding`` is sequence-first (``x +
    pe[:x.size(0)]``); given (batch, tokens, features) it adds position b to every token of sample b, and the model
    passes every stage and trains on it. A forward that draws random numbers says nothing (its noise lands on other
    samples), nor one that changes from call to call; a (batch, batch, ...) output (a similarity matrix) is compared
    reversed in both dimensions. A warning, not a failure: dimension 0 may be time in a time-first model."""
    batch = _batch_size(inputs)
    if batch is None or batch < 2:
        return ""
    try:
        first, drew = _seeded_forward_drawing(model, inputs)
        if drew:
            return ""
        reversed_batch = [t.flip(0) if _holds_batch(t, batch) else t for t in inputs]
        again = flatten(_seeded_forward(model, reversed_batch))
    except Exception:  # noqa: BLE001 - a model that refuses the reordered batch says nothing about positions
        return ""
    original = flatten(first)
    if not _same_others(flatten(output), original, batch, all_rows=True):
        return ""  # the same batch twice gave other outputs: state kept between calls
    pairs = [(a, b.flip(0)) for a, b in zip(original, again) if _batched(a, b, batch)]
    if not pairs or all(_close(a, b) or (a.dim() >= 2 and a.shape[1] == batch and _close(a, b.flip(1))) for a, b in pairs):
        return ""
    at_fault = first_layer_at_fault(model, (inputs, reversed_batch), batch, flatten, _reversed_kept)
    return ("in eval mode, the batch in reverse order gave the samples other outputs: each sample's output "
            f"{SAMPLE_POSITION} (dimension 0 read as the sequence: a sequence-first positional encoding, "
            f"x + pe[:x.size(0)], given (batch, tokens, features)){at_fault}; ignore this if dimension 0 is not the "
            "batch")


Summaries = list[torch.Tensor | None]  # per tensor, ``_sample_summaries``
LayerCall = tuple[str, Summaries, Summaries]  # a module's path, its tensor inputs' and its output's summaries


def first_layer_at_fault(model: nn.Module, batches: tuple[list[Any], list[Any]], batch: int, flatten: Flatten,
                         kept: Callable[[torch.Tensor, torch.Tensor], bool]) -> str:
    """Where a batch warning's property first breaks, as the warning's tail (``FIRST_LAYER_AT_FAULT``): the first
    module, in call order (a module's call ends after its children's), whose batched tensor inputs in the two seeded
    forwards over ``batches`` relate as ``kept`` wants while its output does not; its path, its class and its
    enclosing modules' classes. Why: the warning said what is wrong, not where; a user (and Patch, which swaps that
    block first) needs the layer, which in a model of inserted blocks is rarely the last one. "" when the two forwards'
    calls do not line up (control flow that depends on the values), none breaks it, or the reruns raise."""
    try:
        first, second = (_layer_calls(model, inputs, batch, flatten) for inputs in batches)
    except Exception:  # noqa: BLE001 - where is only a detail of a warning already made
        return ""
    if not first or [call[0] for call in first] != [call[0] for call in second]:
        return ""
    for (name, ins_a, outs_a), (_, ins_b, outs_b) in zip(first, second):
        if _all_kept(ins_a, ins_b, kept) is True and _all_kept(outs_a, outs_b, kept) is False:
            return f"; {FIRST_LAYER_AT_FAULT} {_layer_named(model, name)}"
    return ""


def _layer_calls(model: nn.Module, inputs: list[Any], batch: int, flatten: Flatten) -> list[LayerCall]:
    """A seeded forward over ``inputs`` recording each call of one of ``model``'s modules, in the order calls end. The
    inputs are read before the call (an in-place ``ReLU`` has overwritten them by its end), the output after."""
    paths = {id(m): path for path, m in model.named_modules()}
    calls: list[LayerCall] = []
    started: list[Summaries] = []  # the inputs of the calls under way, innermost last

    def before(module: nn.Module, args: tuple, kwargs: dict) -> None:
        started.append(_sample_summaries([a for a in (*args, *kwargs.values()) if isinstance(a, torch.Tensor)], batch))

    def after(module: nn.Module, args: tuple, kwargs: dict, output: Any) -> None:
        calls.append((paths[id(module)], started.pop(), _sample_summaries(flatten(output), batch)))

    handles = [hook for m in model.modules() for hook in (m.register_forward_pre_hook(before, with_kwargs=True),
                                                         m.register_forward_hook(after, with_kwargs=True))]
    try:
        _seeded_forward(model, inputs)
    finally:
        for handle in handles:
            handle.remove()
    return calls


def _sample_summaries(tensors: list[torch.Tensor], batch: int) -> Summaries:
    """Per tensor, a (batch, 3) float64 summary of each sample: its sum, a weighted sum and the sum of absolute values
    (the scale the comparison allows for); None for a tensor without the batch in dimension 0. Token ids count too:
    they are a model's inputs. Why summaries: two forwards' every layer output kept whole would double a large model's
    memory inside the check."""
    summaries: Summaries = []
    for tensor in tensors:
        if not _holds_batch(tensor, batch):
            summaries.append(None)
            continue
        values = tensor.detach()
        rows = (torch.view_as_real(values) if values.is_complex() else values).reshape(batch, -1).double()
        weights = torch.cos(torch.arange(rows.shape[1], dtype=torch.float64) * 0.7)
        summaries.append(torch.stack([rows.sum(1), rows @ weights, rows.abs().sum(1)], dim=1))
    return summaries


def _all_kept(first: Summaries, second: Summaries, kept: Callable[[torch.Tensor, torch.Tensor], bool]) -> bool | None:
    """Whether every pair of batched tensors of the same shape keeps the property; None when there is no such pair."""
    pairs = [(a, b) for a, b in zip(first, second) if a is not None and b is not None and a.shape == b.shape]
    if len(first) != len(second) or not pairs:
        return None
    return all(kept(a, b) for a, b in pairs)


def _summaries_close(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Sums and weighted sums equal (infinities alike) or within 1e-6 of the samples' absolute sums: above float32
    rounding (about 1e-7 of them), below a small mix. Why so tight: A2-Nets' softmax over the batch moved a
    DoubleAttention's output by less than 1e-4 of its sum, the next block amplified it, and at 1e-4 a Linear further on
    was named."""
    scale = torch.maximum(a[:, 2:], b[:, 2:])
    return bool(((a[:, :2] == b[:, :2]) | ((a[:, :2] - b[:, :2]).abs() <= 1e-6 * scale + 1e-12)).all())


def _reversed_kept(a: torch.Tensor, b: torch.Tensor) -> bool:
    """The second forward (the batch reversed) gave each sample what the first gave it."""
    return _summaries_close(a, b.flip(0))


def _others_kept(a: torch.Tensor, b: torch.Tensor) -> bool:
    """The second forward (the first sample changed) gave samples 1.. what the first gave them."""
    return _summaries_close(a[1:], b[1:])


def _layer_named(model: nn.Module, path: str) -> str:
    """`path` (Class in Parent in ... in Model): the module and the classes it sits in, innermost first; for the
    model itself, `<root>` (Model) and words saying it is the model's own forward code (`<root>` is no attribute to look up)."""
    modules = dict(model.named_modules())
    parts = path.split(".") if path else []
    classes = [type(modules[".".join(parts[:i])]).__name__ for i in range(len(parts), -1, -1)]
    where = f"`{path or '<root>'}` ({' in '.join(classes)})"
    return where if path else f"{where}, the model's own forward code, not one of its layers"


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return torch.allclose(a, b, rtol=1e-4, atol=1e-6, equal_nan=True)


def _seeded_forward_drawing(model: nn.Module, inputs: list[Any]) -> tuple[Any, bool]:
    """A seeded forward (``_seeded_rngs``) and whether it drew from torch's, Python's or numpy's random numbers."""
    with _seeded_rngs() as numpy:
        before = _rng_fingerprint(numpy)
        output = model(*inputs)
        return output, _rng_fingerprint(numpy) != before


def _rng_fingerprint(numpy: Any) -> tuple:
    """torch's, Python's and numpy's random states, comparable with ``==``."""
    state = None
    if numpy is not None:
        name, keys, pos, has_gauss, cached = numpy.random.get_state()
        state = (name, bytes(keys), pos, has_gauss, cached)
    return bytes(torch.random.get_rng_state().numpy()), random.getstate(), state


def _batch_size(inputs: list[Any]) -> int | None:
    """The batch: the first dimension of the first tensor input of rank >= 1 (None without one)."""
    first = next((t for t in inputs if isinstance(t, torch.Tensor) and t.dim() >= 1), None)
    return None if first is None else first.shape[0]


def _holds_batch(value: Any, batch: int) -> bool:
    return isinstance(value, torch.Tensor) and value.dim() >= 1 and value.shape[0] == batch


def _batched(a: torch.Tensor, b: torch.Tensor, batch: int) -> bool:
    return a.shape == b.shape and _holds_batch(a, batch) and (a.is_floating_point() or a.is_complex())


def _same_others(first: list[torch.Tensor], second: list[torch.Tensor], batch: int, all_rows: bool = False) -> bool:
    """Whether the batched outputs agree on samples 1.. (every sample with ``all_rows``), leaving out column 0 of a
    (batch, batch, ...) output."""
    for a, b in zip(first, second):
        if not _batched(a, b, batch):
            continue
        rows = slice(None) if all_rows else slice(1, None)
        a, b = a[rows], b[rows]
        if a.dim() >= 2 and a.shape[1] == batch and not all_rows:
            a, b = a[:, 1:], b[:, 1:]
        if not _close(a, b):
            return False
    return True


@contextlib.contextmanager
def _seeded_rngs() -> Iterator[Any]:
    """Every RNG a model may draw from (torch's, Python's, numpy's) seeded alike, each left as it was after; yields
    numpy's module (None when not imported)."""
    numpy = sys.modules.get("numpy")
    saved_random, saved_numpy = random.getstate(), numpy.random.get_state() if numpy is not None else None
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            random.seed(0)
            if numpy is not None:
                numpy.random.seed(0)
            yield numpy
    finally:
        random.setstate(saved_random)
        if numpy is not None:
            numpy.random.set_state(saved_numpy)


def _seeded_forward(model: nn.Module, inputs: list[Any]) -> Any:
    """Forward with every RNG seeded alike each time (``_seeded_rngs``): two forwards that draw noise draw the same."""
    with _seeded_rngs():
        return model(*inputs)


RETRY_BATCH = 256  # samples of the second backward's batch (``larger_batch``), fewer for large samples
RETRY_ELEMENTS = 1 << 21  # values in each of its input tensors at most


def larger_batch(inputs: list[Any]) -> list[Any]:
    """``inputs`` with every tensor that has the batch's size in dimension 0 redrawn for a batch of up to RETRY_BATCH
    samples (fewer when a sample is large), of the same kind (ids within the ids they hold); other values as given."""
    batch = _batch_size(inputs)
    if batch is None:
        return inputs
    per_sample = max(1, max(t[0].numel() if t.shape[0] else 0 for t in inputs if _holds_batch(t, batch)))
    size = max(batch, min(RETRY_BATCH, RETRY_ELEMENTS // per_sample))
    return [_redrawn(t, size) if _holds_batch(t, batch) else t for t in inputs]


def _redrawn(tensor: torch.Tensor, size: int) -> torch.Tensor:
    """A new draw of ``size`` samples like ``tensor``'s: normal values, random booleans, or ids within those it holds."""
    shape = (size, *tensor.shape[1:])
    if tensor.is_floating_point() or tensor.is_complex():
        return torch.randn(shape, dtype=tensor.dtype)
    if tensor.dtype == torch.bool:
        return torch.rand(shape) > 0.5
    low, high = int(tensor.min()), int(tensor.max())
    return torch.randint(low, high + 1, shape, dtype=tensor.dtype)


def _first_sample_redrawn(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` with its first sample replaced by another draw of the same kind (ids within the ids it holds)."""
    out = tensor.clone()
    out[0] = ~tensor[0] if tensor.dtype == torch.bool else _redrawn(tensor, 1)[0]
    return out


EVAL_MODE_NOTE = "raised in eval mode (model.eval(), as a test loop runs it); train mode passed"
GRAD_IN_EVAL_HINT = ("forward takes gradients itself (torch.autograd.grad, .backward()), and a test loop runs it under "
                     "torch.no_grad(), as the check's eval-mode forward does: wrap that part of forward in "
                     "`with torch.enable_grad():` and make its input require grad there")


def _listed(names: list[str]) -> str:
    shown = ", ".join(f"`{n}`" for n in names[:LISTED_NAMES])
    more = f" and {len(names) - LISTED_NAMES} more" if len(names) > LISTED_NAMES else ""
    noun = "parameter" if len(names) == 1 else "parameters"
    return f"{len(names)} {noun} ({shown}{more})"
