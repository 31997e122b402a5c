"""LEMUR-contract checks and sharper diagnoses, through a real CheckerPool (real worker processes).

LEMUR models are trained by their own ``train_setup``/``learn``, so the default check must run them;
their output must be (batch, *out_shape); and a failure should point at the line to fix.
"""

from __future__ import annotations

import pytest

from sandbox.pool import CheckerPool
from sandbox.spec import DEFAULT_STAGES, CheckSpec

LEMUR_TEMPLATE = '''
import torch
import torch.nn as nn


def supported_hyperparameters():
    return {{'lr', 'momentum'}}


class Net(nn.Module):
    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.device = device
        self.conv1 = nn.Conv2d({channels}, 8, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = {head}

    def forward(self, x):
        x = self.pool(torch.relu(self.conv1(x)))
        return {ret}

    def train_setup(self, prm):
        self.criteria = (nn.CrossEntropyLoss(),)
        self.optimizer = torch.optim.SGD(self.parameters(), lr=prm['lr'], momentum=prm['momentum'])

    def learn(self, train_data):
        for inputs, labels in train_data:
            self.optimizer.zero_grad()
            loss = {loss}(self(inputs), labels)
            loss.backward()
            self.optimizer.step()
'''


def lemur(channels: str = "in_shape[1]", head: str = "nn.Linear(8, out_shape[0])", ret: str = "self.head(torch.flatten(x, 1))",
          loss: str = "self.criteria[0]") -> str:
    return LEMUR_TEMPLATE.format(channels=channels, head=head, ret=ret, loss=loss)


def line_of(code: str, text: str) -> int:
    return next(i for i, line in enumerate(code.splitlines(), 1) if text in line)


PLAIN = '''
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 10)

    def forward(self, x):
        return self.fc(x.mean((2, 3)))
'''


@pytest.fixture(scope="module")
def pool():
    with CheckerPool(size=1, preload=("torch",)) as p:
        yield p


def test_default_check_of_a_lemur_model_runs_learn(pool):
    result = pool.check(lemur(loss="self.criterion"))  # learn() reads an attribute train_setup never set
    assert result.status == "failed", result.stages
    assert result.failed_stage == "train_step"
    assert result.stages["backward"] == "ok"
    assert "criterion" in result.message


def test_explicit_stages_are_honoured_for_lemur(pool):
    upto_forward = pool.check(lemur(loss="self.criterion"), CheckSpec(stages=DEFAULT_STAGES[:-1]))
    assert upto_forward.status == "ok" and "train_step" not in upto_forward.stages
    opted_out = pool.check(lemur(loss="self.criterion"), CheckSpec(train_lemur=False))
    assert opted_out.status == "ok" and "train_step" not in opted_out.stages


def test_lemur_signature_without_learn_keeps_the_default_stages(pool):
    code = lemur()
    code = code[: code.index("    def train_setup")]  # the constructor's contract only, as a mined block may have
    result = pool.check(code)
    assert result.status == "ok", result.message
    assert "train_step" not in result.stages


def test_default_check_of_a_plain_model_stops_at_backward(pool):
    result = pool.check(PLAIN)
    assert result.status == "ok"
    assert "train_step" not in result.stages and result.stages["backward"] == "ok"


def test_lemur_output_must_be_batch_by_out_shape(pool):
    result = pool.check(lemur(head="nn.Conv2d(8, 100, 1)", ret="self.head(x)"))
    # at train_step: forward's verdict, params and FLOPs stay as the LEMUR table (predictor features) measured them
    assert result.status == "failed" and result.failed_stage == "train_step" and result.stages["forward"] == "ok"
    assert result.flops
    assert result.error_type == "OutputShapeMismatch"
    assert "[2, 10]" in result.message and "[2, 100, 1, 1]" in result.message
    assert "out_shape" in result.diagnosis.hint


def test_lemur_output_check_takes_logits_in_a_tuple_dense_maps_and_per_token_logits():
    from sandbox.lemur import CLASSES, MASKS, TOKENS, LemurContract, labels_for_output
    from sandbox.soundness import UnsoundStage

    images = LemurContract((2, 3, 32, 32), (10,))
    assert labels_for_output([[2, 8, 4, 4], [2, 10]], images) == CLASSES  # return features, logits
    assert labels_for_output([[2, 10, 32, 32]], images) == MASKS  # per-pixel classes (segmentation)
    with pytest.raises(UnsoundStage, match=r"\[2, 10\]"):
        labels_for_output([[2, 100]], images)
    with pytest.raises(UnsoundStage, match=r"height and width \[32, 32\]"):
        labels_for_output([[2, 10, 8, 8]], images)  # a per-pixel map 4x smaller than LEMUR's masks
    tokens = LemurContract((2, 16), (50,), input_dtype="int64")
    assert labels_for_output([[2, 16, 50], [1, 2, 64]], tokens) == TOKENS  # per-token logits, hidden state
    assert labels_for_output([[32, 50]], tokens) == TOKENS  # (batch * length, vocabulary)
    assert labels_for_output([[2, 50]], tokens) == CLASSES  # a text classifier
    with pytest.raises(UnsoundStage):
        labels_for_output([[2, 16, 50]], LemurContract((2, 16), (50,)))  # float inputs: not token ids


SEGMENTATION = lemur(head="nn.Conv2d(8, out_shape[0], 1)",
                     ret="nn.functional.interpolate(self.head(x), size=(32, 32)){ret_scale}")
SEGMENTATION = SEGMENTATION.replace("x = self.pool(torch.relu(self.conv1(x)))", "x = torch.relu(self.conv1(x))")


def test_lemur_segmentation_model_learns_from_masks_of_the_image_size(pool):
    """A per-pixel output gets (batch, height, width) masks, as LEMUR's segmentation loader gives: with class labels
    every correct segmentation model failed "only batches of spatial targets supported"."""
    result = pool.check(SEGMENTATION.replace("{ret_scale}", ""))
    assert result.status == "ok", (result.error_type, result.message)
    assert result.stages["train_step"] == "ok" and result.output_shapes == [[2, 10, 32, 32]]


def test_lemur_segmentation_output_smaller_than_the_image_is_told_to_upsample(pool):
    code = SEGMENTATION.replace("{ret_scale}", "[..., ::4, ::4]")
    result = pool.check(code)
    assert result.status == "failed" and result.failed_stage == "train_step"
    assert result.error_type == "OutputShapeMismatch" and "height and width [32, 32]" in result.message
    assert "interpolate" in result.diagnosis.hint


TEXT_GENERATION = '''
import torch
import torch.nn as nn


def supported_hyperparameters():
    return {'lr', 'momentum'}


class Net(nn.Module):
    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.vocab = out_shape[0]
        self.embed = nn.Embedding(self.vocab, 16)
        self.rnn = nn.GRU(16, 16, batch_first=True)
        self.out = nn.Linear(16, self.vocab)

    def forward(self, ids):
        hidden, _ = self.rnn(self.embed(ids))
        return self.out(hidden){flat}

    def train_setup(self, prm):
        self.loss = nn.CrossEntropyLoss()
        self.optimizer = torch.optim.SGD(self.parameters(), lr=prm['lr'], momentum=prm['momentum'])

    def learn(self, train_data):
        for ids, targets in train_data:
            assert ids.dtype == torch.int64 and targets.shape == ids.shape, (ids.dtype, targets.shape)
            self.optimizer.zero_grad()
            self.loss(self(ids).reshape(-1, self.vocab), targets.reshape(-1)).backward()
            self.optimizer.step()
'''


@pytest.mark.parametrize("flat", ["", ".reshape(-1, self.vocab)"])
def test_lemur_text_generation_model_gets_token_ids_and_next_token_labels(pool, flat):
    """--input-dtype int64 reaches a LEMUR model (it was fed floats: "Expected tensor for argument #1 'indices'"),
    and per-token logits over token ids learn from token labels of the input's shape."""
    from sandbox.spec import Example

    spec = CheckSpec(example=Example(inputs=[[2, 16]], input_dtypes=["int64"]), expected_output_shape=None)
    result = pool.check(TEXT_GENERATION.replace("{flat}", flat), spec)
    assert result.status == "ok", (result.error_type, result.message)
    assert result.stages["train_step"] == "ok"
    assert result.example.input_dtypes == ["int64"] and result.example.inputs == [[2, 16]]


def test_binary_file_diagnosis_has_no_line_none(pool):
    result = pool.check("import torch\x00\x01\x02garbage")
    assert result.failed_stage == "parse"
    assert "None" not in result.diagnosis.hint and "None" not in result.diagnosis.problem
    assert "null" in result.diagnosis.hint.lower() or "binary" in result.diagnosis.hint.lower()


INPLACE = '''import torch
import torch.nn as nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, padding=1)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = torch.sigmoid(self.conv(x))
        x += 1.0
        return self.fc(x.mean((2, 3)))
'''


def test_inplace_backward_failure_names_the_forward_line(pool):
    result = pool.check(INPLACE)
    assert result.failed_stage == "backward"
    assert result.diagnosis.kind == "inplace"
    made = line_of(INPLACE, "torch.sigmoid")  # where the tensor later modified in place is made
    assert result.diagnosis.line == made
    assert "in-place" in result.diagnosis.hint and f"line {made}" in result.diagnosis.hint
    assert f"line {line_of(INPLACE, 'x += 1.0')}" in result.diagnosis.hint  # the in-place op itself, found statically
    for op in ("x.mul_(2.0)", "torch.relu_(x)", "x = F.relu(x, inplace=True)"):  # only the assignment forms were located
        code = INPLACE.replace("x += 1.0", op).replace("import torch.nn as nn\n", "import torch.nn as nn\nimport torch.nn.functional as F\n")
        found = pool.check(code)
        assert found.diagnosis.kind == "inplace", (op, found.message)
        assert f"line {line_of(code, op)} (`{op}`)" in found.diagnosis.problem, (op, found.diagnosis.problem)


SHAPE = '''import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU())
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(8 * 4 * 4, 10),
        )

    def forward(self, x):
        x = self.features(x)
        return self.classifier(x)
'''


def test_shape_error_points_at_where_the_layer_is_built(pool):
    result = pool.check(SHAPE)
    assert result.failed_stage == "forward" and result.diagnosis.kind == "shape_mismatch"
    assert result.diagnosis.symbol == "classifier.1"
    assert f"line {line_of(SHAPE, 'nn.Linear(8 * 4 * 4')}" in result.diagnosis.hint  # where __init__ builds it


def test_lemur_in_shape_zero_as_channels_gets_the_layout_hint(pool):
    code = lemur(channels="in_shape[0]")
    result = pool.check(code)
    assert result.failed_stage == "forward" and result.diagnosis.kind == "shape_mismatch"
    assert "in_shape[1]" in result.diagnosis.hint
    assert f"line {line_of(code, 'self.conv1 =')}" in result.diagnosis.hint


FACTORY = '''import torch.nn as nn

def Net(width=8, n_classes=10):
    return nn.Sequential(nn.Conv2d(3, width, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, n_classes))
'''


def test_factory_function_entry_is_called(pool):
    result = pool.check(FACTORY, CheckSpec(entry="Net"))
    assert result.status == "ok", (result.error_type, result.message)
    assert result.output_shapes == [[2, 10]] and result.entry == "Net"
    not_module = pool.check("def Net():\n    return 3\n", CheckSpec(entry="Net"))
    assert not_module.failed_stage == "instantiate" and not_module.error_type == "EntryNotModule"
