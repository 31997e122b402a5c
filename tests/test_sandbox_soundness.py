"""A stage that ran without an exception must also have done what training needs (``sandbox.soundness``): finite
outputs and gradients, a forward that runs in eval mode, a train step that changes the parameters. And the checks
around them: a model taken from a library, the input a model takes, the BatchNorm batch-1 hint. Through a real
CheckerPool (real worker processes)."""

from __future__ import annotations

import pytest

from helpers_models import BATCH_FIRST, POSITIONAL_ENCODING, SEQUENCE_FIRST
from sandbox.pool import CheckerPool
from sandbox.spec import CheckSpec, Example
from tests.test_sandbox_lemur import lemur

MODEL = '''
import torch
import torch.nn as nn


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Linear(8, 8)
        self.head = nn.Linear(8, 4)

    def forward(self, x):
        return {ret}
'''

TRAINING_STAGES = ("parse", "compile", "import", "instantiate", "forward", "backward", "train_step")


def model(ret: str) -> str:
    return MODEL.format(ret=ret)


def check(pool: CheckerPool, code: str, inputs: list[list[int]] | None = None, **spec: object):
    example = Example(inputs=inputs or [[2, 8]]) if inputs is not False else None
    return pool.check(code, CheckSpec(example=example, **spec))


@pytest.fixture(scope="module")
def pool():
    with CheckerPool(size=1, preload=("torch",)) as p:
        yield p


def test_nan_output_fails_forward_naming_the_layer_that_made_it(pool):
    """``x / 0 * 0`` (NaN) and ``log(0)`` (-inf) passed every stage: training would be NaN from the first step."""
    result = check(pool, model("self.head(torch.sqrt(self.body(x) - 100.0))"))
    assert (result.status, result.failed_stage, result.error_type) == ("failed", "forward", "NonFiniteOutput")
    assert "NaN" in result.message and "`<root>` (Model)" in result.message, result.message
    inf = check(pool, model("self.head(self.body(x)) + torch.log(torch.zeros(1))"))
    assert inf.error_type == "NonFiniteOutput" and "inf" in inf.message, inf.message


def test_nan_made_inside_a_layer_is_traced_to_that_layer(pool):
    code = model("self.head(self.body(x))").replace("self.body = nn.Linear(8, 8)", "self.body = nn.Linear(8, 8)\n        "
                                                    "nn.init.constant_(self.body.bias, float('nan'))")
    result = check(pool, code)
    assert result.error_type == "NonFiniteOutput" and "`body` (Linear)" in result.message, result.message


def test_finite_output_with_nan_gradients_fails_backward_naming_the_parameters(pool):
    """``y + sqrt(y * 0)``: the output is finite, the gradient of sqrt at 0 is not; the first optimizer step makes the
    weights NaN."""
    result = check(pool, model("self.head(self.body(x)) + torch.sqrt(self.head(self.body(x)) * 0)"))
    assert (result.failed_stage, result.error_type) == ("backward", "NonFiniteGradient"), result.message
    assert "`head.weight`" in result.message and "`body.weight`" in result.message
    assert "epsilon" in result.diagnosis.hint


def test_minus_inf_for_masked_classes_is_meant_and_trains(pool):
    """Logits with -inf for a class the model rules out (``masked_fill(~allowed, -inf)``) failed NonFiniteOutput, and
    the train step's random target could land on the masked class (an infinite loss). A sample that is -inf
    everywhere still fails: no class is possible."""
    code = model("self.head(self.body(x)).masked_fill(self.banned, float('-inf'))").replace(
        "self.head = nn.Linear(8, 4)", "self.head = nn.Linear(8, 4)\n        self.register_buffer('banned', torch.tensor([False, False, True, False]))")
    result = check(pool, code, stages=TRAINING_STAGES)
    assert result.status == "ok", (result.message, result.traceback)
    log_probabilities = check(pool, code.replace("float('-inf'))", "float('-inf')).log_softmax(-1)"), stages=TRAINING_STAGES)
    assert log_probabilities.status == "ok", log_probabilities.message  # backward's squared loss had made them NaN
    everywhere = check(pool, code.replace("torch.tensor([False, False, True, False])", "torch.ones(4, dtype=torch.bool)"))
    assert everywhere.error_type == "NonFiniteOutput" and "8 -inf" in everywhere.message, everywhere.message


def test_sparse_gradients_are_read_through_their_values(pool):
    """An ``nn.EmbeddingBag(sparse=True)`` gradient is a sparse tensor: the finiteness check crashed on it ("Could not
    run 'aten::ne.Scalar' with arguments from the 'SparseCPU' backend") and blamed CUDA."""
    code = model("self.head(self.bag(x))").replace(
        "self.body = nn.Linear(8, 8)", "self.bag = nn.EmbeddingBag(100, 8, mode='mean', sparse=True)")
    result = pool.check(code, CheckSpec(stages=TRAINING_STAGES, example=Example(inputs=[[2, 6]], input_dtypes=["int64"])))
    assert result.status == "ok", (result.message, result.traceback)


def test_gradients_taken_in_forward_are_told_to_use_enable_grad(pool):
    """``torch.autograd.grad`` inside forward fails under a test loop's no_grad, as in the eval-mode forward."""
    code = model("torch.autograd.grad(self.head(self.body(x)).sum(), x, create_graph=True)[0].sum(1, keepdim=True) "
                 "+ self.head(self.body(x))").replace("def forward(self, x):\n", "def forward(self, x):\n        x = x.requires_grad_(True)\n")
    result = check(pool, code)
    assert "eval mode" in result.message and "torch.enable_grad()" in result.diagnosis.hint, (result.message, result.diagnosis)


def test_a_forward_that_breaks_in_eval_mode_fails_forward_and_says_so(pool):
    code = model("self.head(self.body(x)) if self.training else x.view(-1, 3)")
    result = check(pool, code)
    assert (result.failed_stage, result.error_type) == ("forward", "RuntimeError"), result.message
    assert "eval mode" in result.message and "eval mode" in result.diagnosis.problem, result.diagnosis


def test_a_model_that_differs_in_eval_mode_but_runs_passes(pool):
    """Dropout and BatchNorm behave differently in eval mode; only an exception or a non-finite output fails."""
    code = model("self.head(torch.nn.functional.dropout(self.norm(self.body(x)), 0.5, self.training))").replace(
        "self.head = nn.Linear(8, 4)", "self.head = nn.Linear(8, 4)\n        self.norm = nn.BatchNorm1d(8)")
    result = check(pool, code, stages=TRAINING_STAGES)
    assert result.status == "ok", (result.message, result.traceback)


@pytest.mark.parametrize("ret", ["self.head(self.body(x)) * 0.0", "torch.round(torch.sigmoid(self.head(self.body(x))) * 4 + 1)"])
def test_an_output_that_does_not_change_with_the_parameters_fails_backward(pool, ret):
    """Output times zero, or rounded (a 1-5 star rating): every gradient is zero, so no step trains it. The times-zero
    model passed until the train step (two SGD steps that changed nothing), the rounded one passed the default check,
    which stops at backward."""
    result = check(pool, model(ret))
    assert (result.failed_stage, result.error_type) == ("backward", "ZeroGradient"), result.message
    assert "also against random targets" in result.message and "round" in result.diagnosis.hint


def test_parameters_no_gradient_reaches_are_a_warning_not_a_failure(pool):
    """An LSTM's raw (output, hidden) returned before its ``fc``, or a backbone run under no_grad: the check passed
    with no word that those parameters will never train."""
    unused = check(pool, model("self.body(x)"))
    assert unused.status == "ok" and len(unused.warnings) == 1, unused.warnings
    assert "`head.weight`, `head.bias`" in unused.warnings[0] and "of the 4 trainable" in unused.warnings[0]
    frozen = check(pool, model("self.head(self.body(x))").replace("super().__init__()", "super().__init__()\n        "
                                                                    "torch.manual_seed(0)").replace(
        "return self.head(self.body(x))", "with torch.no_grad():\n            x = self.body(x)\n        return self.head(x)"))
    assert frozen.status == "ok" and "`body.weight`" in frozen.warnings[0] and "head" not in frozen.warnings[0]
    assert check(pool, model("self.head(self.body(x))")).warnings == []


SEQUENCE = '''
import torch
import torch.nn as nn


class Forecaster(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.LSTM(8, 16{batch_first})
        self.norm = nn.BatchNorm1d(16)
        self.drop = nn.Dropout(0.5)
        self.fc = nn.Linear(16, 4)

    def forward(self, x):  # (batch, time, features)
        out, _ = self.rnn(x)
        h = self.drop(self.norm(out[:, -1])) + 0.01 * torch.randn(x.shape[0], 16)
        return {ret}
'''


@pytest.mark.parametrize("batch_first, ret, mixes", [
    ("", "self.fc(h)", True),  # recurrence across the batch: (batch, time, features) read as (time, batch, features)
    (", batch_first=True", "self.fc(h).softmax(dim=0)", True),  # probabilities normalised across the batch
    (", batch_first=True", "self.fc(h)", False),  # BatchNorm (running statistics in eval), dropout and noise: apart
])
def test_samples_mixed_across_the_batch_are_a_warning(pool, batch_first, ret, mixes):
    """An LSTM without batch_first given (batch, time, features), or softmax over dim 0, passed every stage with no
    word: the model trains, on nonsense."""
    result = check(pool, SEQUENCE.format(batch_first=batch_first, ret=ret), inputs=[[2, 5, 8]], stages=TRAINING_STAGES)
    assert result.status == "ok", (result.message, result.traceback)
    warned = [w for w in result.warnings if "mixes samples across dimension 0" in w]
    assert bool(warned) == mixes, result.warnings


SAMPLES_APART = {
    "state kept between calls": """
class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 4)
        self.register_buffer("memory", torch.zeros(4))

    def forward(self, x):
        out = self.fc(x) + self.memory
        self.memory = out.detach().mean(0)
        return out
""",
    "numpy noise in eval": """
import numpy as np


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        return self.fc(x) + torch.from_numpy(np.random.randn(*x.shape[:1], 4)).float()
""",
    "a (batch, batch) similarity": """
class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        z = self.fc(x)
        return z @ z.t()
""",
}


@pytest.mark.parametrize("body", SAMPLES_APART.values(), ids=SAMPLES_APART.keys())
def test_models_that_keep_samples_apart_get_no_mixing_warning(pool, body):
    """A carried state changed every output between the check's forwards, numpy's noise was not seeded alike, and a
    similarity matrix's column 0 is sample 0's: each got the batch-mixing warning (audit of the new rules)."""
    result = check(pool, "import torch\nimport torch.nn as nn\n" + body, inputs=[[3, 8]])
    assert result.status == "ok", (result.message, result.traceback)
    assert not [w for w in result.warnings if "mixes samples" in w], result.warnings


@pytest.mark.parametrize("body", SAMPLES_APART.values(), ids=SAMPLES_APART.keys())
def test_models_that_keep_samples_apart_get_no_batch_position_warning(pool, body):
    result = check(pool, "import torch\nimport torch.nn as nn\n" + body, inputs=[[3, 8]])
    assert result.status == "ok", (result.message, result.traceback)
    assert not [w for w in result.warnings if "position in the batch" in w], result.warnings


POSITIONAL = POSITIONAL_ENCODING + '''

class Net(nn.Module):
    def __init__(self, vocab=50, d_model=16):
        super().__init__()
        self.emb = nn.Embedding(vocab, d_model)
        self.pos = PositionalEncoding(d_model)
        self.fc = nn.Linear(d_model, 10)

    def forward(self, x):  # (batch, tokens)
        h = self.pos(self.emb(x))
        return self.fc(h.mean(dim=1))
'''


@pytest.mark.parametrize("added, warned", [
    (SEQUENCE_FIRST, True),  # sequence-first given (batch, tokens, features): position b added to sample b
    (BATCH_FIRST, False),  # the same table read batch-first
])
def test_an_output_that_depends_on_the_samples_position_in_the_batch_is_a_warning(pool, added, warned):
    """The tutorial's sequence-first PositionalEncoding on a batch-first model passed every stage with no word: each
    sample got its batch index as every token's position. Samples do not mix, so the mixing warning said nothing."""
    example = Example(inputs=[[3, 7]], input_dtypes=["int64"])
    result = pool.check(POSITIONAL.format(added=added), CheckSpec(example=example, stages=TRAINING_STAGES))
    assert result.status == "ok", (result.message, result.traceback)
    assert bool([w for w in result.warnings if "depends on its position in the batch" in w]) == warned, result.warnings
    assert not [w for w in result.warnings if "mixes samples" in w], result.warnings
    if warned:
        assert "it first happens in `pos` (PositionalEncoding in Net)" in result.warnings[0], result.warnings


@pytest.mark.parametrize("batch_first, ret, at_fault", [
    ("", "self.fc(h)", "`rnn` (LSTM in Forecaster)"),  # the recurrence runs across the batch
    (", batch_first=True", "self.fc(h).softmax(dim=0)", "`<root>` (Forecaster), the model's own forward code, not one of its layers"),
])
def test_a_batch_warning_names_the_first_layer_that_breaks_it(pool, batch_first, ret, at_fault):
    """The mixing warning said what was wrong and guessed why, not where: in a model of many blocks the user (and
    Patch, which swaps that block first) needs the layer whose output first mixes the samples while its input did not."""
    result = check(pool, SEQUENCE.format(batch_first=batch_first, ret=ret), inputs=[[2, 5, 8]], stages=TRAINING_STAGES)
    assert result.status == "ok", (result.message, result.traceback)
    warned = [w for w in result.warnings if "mixes samples across dimension 0" in w]
    assert warned and f"it first happens in {at_fault};" in warned[0], result.warnings


WEAK_MIX = """
import torch
import torch.nn as nn


class CornerMix(nn.Module):
    def forward(self, x):  # one value per sample gets a tenth of the batch's mean of it
        y = x.clone()
        y[:, 0, 0, 0] += 0.1 * x[:, 0, 0, 0].mean()
        return y


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 64, 3, padding=1)
        self.act = nn.ReLU(inplace=True)
        self.mix = CornerMix()
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(64 * 8 * 8, 10))

    def forward(self, x):
        return self.head(self.mix(self.act(self.conv(x))))
"""


def test_a_small_mix_is_named_where_it_happens_not_where_it_grows(pool):
    """A2-Nets' DoubleAttention (a softmax over the batch) moved its output by less than 1e-4 of its sum and the warning
    named the classifier's Linear, which cannot mix samples; an in-place ReLU's input, read after its call, looked
    changed."""
    result = check(pool, WEAK_MIX, inputs=[[2, 3, 8, 8]])
    assert result.status == "ok", (result.message, result.traceback)
    warned = [w for w in result.warnings if "mixes samples across dimension 0" in w]
    assert warned and "it first happens in `mix` (CornerMix in Net);" in warned[0], result.warnings


def test_noise_drawn_in_eval_says_nothing_of_batch_positions(pool):
    """A forward that draws noise per sample (torch's, here in eval mode) gives each place in the batch its own noise."""
    result = check(pool, SEQUENCE.format(batch_first=", batch_first=True", ret="self.fc(h)"), inputs=[[2, 5, 8]])
    assert result.status == "ok" and not result.warnings, (result.message, result.warnings)


def test_a_gradient_few_inputs_pass_is_found_on_a_larger_batch(pool):
    """An age regressor ending in ``.clamp(0, 1) * 100`` passes a gradient for about 1.5% of inputs: none of the two
    checked samples, and it was called untrainable (ZeroGradient); the second backward draws a larger batch. Here the
    outputs pass a gradient only above 1.0, which none of the checked samples' reach."""
    code = model("self.head(self.body(x)).clamp(min=1.0) * 100")
    result = check(pool, code)
    assert result.status == "ok", (result.error_type, result.message)


def test_a_straight_through_rounding_passes(pool):
    result = check(pool, model("(lambda y: y + (y.round() - y).detach())(self.head(self.body(x)))"), stages=TRAINING_STAGES)
    assert result.status == "ok", (result.message, result.traceback)


def test_a_complex_parameter_is_fingerprinted_and_trains(pool):
    """A spectral filter's complex weight (FNO-style): the parameter fingerprint took ``.double()`` of it."""
    code = model("self.head(torch.fft.ifft(torch.fft.fft(self.body(x)) * self.filter).real)").replace(
        "self.head = nn.Linear(8, 4)", "self.head = nn.Linear(8, 4)\n        self.filter = nn.Parameter(torch.randn(8, dtype=torch.cfloat))")
    result = check(pool, code, stages=TRAINING_STAGES)
    assert result.status == "ok", (result.message, result.traceback)


def test_a_zero_initialised_last_layer_still_trains(pool):
    """A zero output (a zero-initialised projection, as ControlNet's zero convolutions) has zero gradients under a loss
    against zeros; the train step's target is random, so such a model is not called untrainable."""
    code = model("self.head(self.body(x))").replace("self.head = nn.Linear(8, 4)", "self.head = nn.Linear(8, 4)\n"
                                                    "        nn.init.zeros_(self.head.weight); nn.init.zeros_(self.head.bias)")
    result = check(pool, code.replace("nn.Linear(8, 4)", "nn.Linear(8, 1)"), stages=TRAINING_STAGES)
    assert result.status == "ok", (result.message, result.traceback)
    no_bias = code.replace("; nn.init.zeros_(self.head.bias)", "").replace("nn.Linear(8, 4)", "nn.Linear(8, 4, bias=False)")
    assert check(pool, no_bias).status == "ok"  # zero output, zero squared-output gradient: the random targets tell


@pytest.mark.parametrize("learn_body", [
    "pass",  # an empty learn
    "for inputs, labels in train_data:\n            loss = self.criteria[0](self(inputs), labels)",  # no backward, no step
])
def test_a_lemur_learn_that_trains_nothing_fails_train_step(pool, learn_body):
    code = lemur()
    start = code.index("        for inputs, labels in train_data:")
    code = code[:start] + "        " + learn_body + "\n"
    result = check(pool, code, inputs=False)
    assert (result.failed_stage, result.error_type) == ("train_step", "NothingLearned"), (result.message, code)
    assert "learn() over two epochs (2 and 8 batches)" in result.message


def test_a_lemur_learn_with_a_zero_learning_rate_fails_train_step(pool):
    code = lemur().replace("lr=prm['lr']", "lr=0.0")
    result = check(pool, code, inputs=False)
    assert result.error_type == "NothingLearned", result.message


@pytest.mark.parametrize("change", [
    # gradients accumulated over 4 batches: the first epoch's 2 batches never reach a step; the second epoch's 8 do
    ("        for inputs, labels in train_data:\n            self.optimizer.zero_grad()\n",
     "        for i, (inputs, labels) in enumerate(train_data):\n            if i % 4 == 0:\n"
     "                self.optimizer.zero_grad()\n"),
    # a warm-up from lr 0 stepped once per epoch (per learn() call): the first epoch cannot change anything
    ("    def learn(self, train_data):\n",
     "    def learn(self, train_data):\n        if not hasattr(self, 'epochs'):\n            self.epochs = 0\n"
     "        for group in self.optimizer.param_groups:\n            group['lr'] = 0.01 * min(1, self.epochs / 5)\n"
     "        self.epochs += 1\n"),
])
def test_a_lemur_learn_that_starts_learning_in_its_second_epoch_passes(pool, change):
    code = lemur().replace(*change)
    if "i % 4" in code:
        code = code.replace("            self.optimizer.step()", "            if i % 4 == 3:\n                self.optimizer.step()")
    result = check(pool, code, inputs=False)
    assert result.status == "ok" and result.stages["train_step"] == "ok", (result.message, code)


def test_lemur_learn_gets_a_dataloader(pool):
    """LEMUR's trainer passes a DataLoader: ``len(train_data.dataset)`` and ``train_data.batch_size`` failed on the list
    the check passed, with a hint about attributes set in __init__."""
    code = lemur().replace("        for inputs, labels in train_data:",
                           "        assert len(train_data.dataset) == 2 * train_data.batch_size\n"
                           "        assert len(train_data.dataset.targets) == 4 and train_data.dataset.classes[9] == '9'\n"
                           "        for inputs, labels in train_data:")
    result = check(pool, code, inputs=False)
    assert result.status == "ok" and result.stages["train_step"] == "ok", (result.message, result.traceback)


@pytest.mark.parametrize("code", [
    "import timm\nmodel = timm.create_model('resnet10t', num_classes=10)\n",
    "import torch.nn as nn\nimport timm\nloss = nn.CrossEntropyLoss()\n\ndef build():\n    return timm.create_model('resnet10t', num_classes=10)\n",
])
def test_a_model_taken_from_a_library_is_the_entry(pool, code):
    """A file that defines no nn.Module class but builds one with a library (an instance, or a zero-argument function
    returning the library's call) failed with "the code defines no nn.Module subclass"."""
    result = check(pool, code, inputs=[[2, 3, 32, 32]])
    assert result.status == "ok", (result.message, result.traceback)
    assert result.output_shapes == [[2, 10]]


def test_a_file_with_no_model_says_how_to_name_one(pool):
    """``main()`` ending in ``sys.exit()`` is not mistaken for a model builder (it is not run)."""
    code = "import sys\nimport torch.nn as nn\nloss = nn.CrossEntropyLoss()\n\ndef main():\n    return sys.exit(3)\n"
    result = check(pool, code, inputs=[[2, 3, 32, 32]])
    assert result.error_type == "NoModule", result.message
    assert "--entry" in result.diagnosis.hint


IMAGENET_SIZED = '''
import torch
import torch.nn as nn


class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 11, stride=4), nn.ReLU(), nn.MaxPool2d(3, 2))
        self.fc = nn.Linear(8 * 26 * 26, 10)

    def forward(self, x):
        return self.fc(torch.flatten(self.features(x), 1))
'''


def test_a_model_for_another_input_size_gets_the_input_it_runs_on(pool):
    """Built for 224 px, checked on the default 32 px: the hint said "set in_features=32" and nothing said the input
    was the problem. The checker now finds an input the model runs on and names the option that checks it; the
    verdict stays the default input's."""
    result = check(pool, IMAGENET_SIZED, inputs=False)
    assert (result.status, result.failed_stage) == ("failed", "forward")
    assert "`--input-shape 2,3,224,224`" in result.diagnosis.hint, result.diagnosis.hint
    chosen = check(pool, IMAGENET_SIZED, inputs=[[2, 3, 32, 32]])
    assert "--input-shape 2,3,224,224" not in chosen.diagnosis.hint  # the caller chose that input: no second guess


FRAMES_FIRST = '''
import torch
import torch.nn as nn


class Acoustic(nn.Module):
    def __init__(self, n_mels=40):
        super().__init__()
        self.conv = nn.Conv1d(n_mels, 32, 3, padding=1)
        self.fc = nn.Linear(32, 29)

    def forward(self, frames):  # (batch, time, mels)
        return self.fc(torch.relu(self.conv(frames.transpose(1, 2))).transpose(1, 2))
'''


def test_a_sequence_model_that_transposes_its_frames_gets_the_input_it_runs_on(pool):
    """(batch, time, mels) into a Conv1d after a transpose: the only shape the hint gave, (2, 40, 32), failed again."""
    result = check(pool, FRAMES_FIRST, inputs=False)
    assert (result.status, result.failed_stage) == ("failed", "forward")
    assert "`--input-shape 2,16,40`" in result.diagnosis.hint, result.diagnosis.hint


def test_batch_norm_given_one_value_per_channel_is_told_to_use_a_larger_batch(pool):
    code = model("self.head(self.norm(self.body(x)))").replace(
        "self.head = nn.Linear(8, 4)", "self.head = nn.Linear(8, 4)\n        self.norm = nn.BatchNorm1d(8)")
    result = check(pool, code, inputs=[[1, 8]])
    assert result.failed_stage == "forward"
    assert "batch of at least 2" in result.diagnosis.hint and "num_features=8" not in result.diagnosis.hint, result.diagnosis


def test_a_first_conv_given_the_wrong_channels_is_told_about_the_models_input(pool):
    """A generator fed (2, 3, 32, 32) images was told "make in_channels match the previous layer's output channels": its
    first layer has no previous layer; the input is what does not fit."""
    code = "import torch.nn as nn\n\n\nclass Generator(nn.Module):\n    def __init__(self):\n        super().__init__()\n" \
           "        self.net = nn.Sequential(nn.ConvTranspose2d(64, 16, 4), nn.ReLU(), nn.ConvTranspose2d(16, 3, 4))\n\n" \
           "    def forward(self, z):\n        return self.net(z)\n"
    result = check(pool, code, inputs=[[2, 3, 32, 32]])
    assert result.failed_stage == "forward"
    assert "the model's input [2, 3, 32, 32]" in result.diagnosis.hint and "previous layer" not in result.diagnosis.hint, result.diagnosis
