"""The LoRA regressor's trainer: a tiny random BERT under MiniLM's tokenizer stands in for MiniLM (the real one
trains for minutes), so these tests check the mechanics: it reads the code text, saves and loads to the same
numbers, runs from an exported training set, and keeps its settings."""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np
import pytest

from predictor.features import RunView
from predictor.lora import LoraRegressor, TrainingSet, code_text, default_backbone, learning_rate, train_lora

CODE = '''
import torch.nn as nn

class Net(nn.Module):
    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.body = nn.Sequential({layers})

    def forward(self, x):
        return self.body(x)

    def train_setup(self, prm):
        pass
'''


@pytest.fixture(scope="module")
def tiny_backbone(tmp_path_factory) -> Path:
    """A 2-layer, 32-wide random BERT saved beside MiniLM's tokenizer files."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    out = tmp_path_factory.mktemp("tiny_bert")
    tokenizer = AutoTokenizer.from_pretrained(default_backbone())
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128)
    BertModel(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def two_code_set(n_per_code: int = 24) -> TrainingSet:
    """Two codes with the same numeric features and finals 0.2 and 0.8: only the text tells them apart."""
    codes = {"convnet": CODE.format(layers="nn.Conv2d(3, 8, 3), nn.ReLU()"),
             "mlpnet": CODE.format(layers="nn.Flatten(), nn.Linear(3072, 10), nn.Sigmoid()")}
    finals = {"convnet": 0.2, "mlpnet": 0.8}
    views, models, targets, groups = [], [], [], []
    for model in codes:
        for i in range(n_per_code):
            views.append(RunView(dataset="cifar-10", hparams={"lr": 0.01, "batch": 64}, epochs=5, code_features={"n_conv": 1.0}))
            models.append(model)
            targets.append(finals[model])
            groups.append(f"{model}-{i % 6}")  # six families per code, so calibration holds out some of each
    return TrainingSet(views, models, {m: code_text(c) for m, c in codes.items()}, np.array(targets), groups)


def test_code_text_drops_imports_and_training_boilerplate():
    text = code_text(CODE.format(layers="nn.ReLU()"))
    assert "import" not in text and "train_setup" not in text
    assert "nn.Sequential(nn.ReLU())" in text


def test_learning_rate_decays_over_the_time_budget():
    assert learning_rate(1e-3, 0, 60) == pytest.approx(1e-3)
    assert learning_rate(1e-3, 30, 60) == pytest.approx(5e-4)
    assert learning_rate(1e-3, 90, 60) == pytest.approx(0.0)


def test_training_set_round_trips_and_refuses_other_pickles(tmp_path):
    data = two_code_set(3)
    data.save(tmp_path / "set.pkl.gz")
    loaded = TrainingSet.load(tmp_path / "set.pkl.gz")
    assert loaded.models == data.models and loaded.texts == data.texts and loaded.groups == data.groups
    assert np.array_equal(loaded.targets, data.targets)
    assert loaded.views[0].hparams == {"lr": 0.01, "batch": 64}
    with gzip.open(tmp_path / "other.pkl.gz", "wb") as fh:
        pickle.dump({"views": []}, fh)
    with pytest.raises(ValueError, match="not a LoRA training set"):
        TrainingSet.load(tmp_path / "other.pkl.gz")


def test_trains_on_the_code_text_then_saves_and_loads_to_the_same_numbers(tiny_backbone, tmp_path):
    data = two_code_set()
    reg = train_lora(data, minutes=0.15, batch_size=16, lr=3e-3, max_tokens=64, backbone=tiny_backbone, log=lambda _: None)
    texts = [data.texts["convnet"], data.texts["mlpnet"]]
    probe = [data.views[0], data.views[-1]]
    before = reg.predict_raw(probe, texts)
    assert before[1] - before[0] > 0.3  # finals 0.2 vs 0.8, the numeric features identical
    assert set(reg.halfwidth) == {0} and reg.halfwidth[0] >= 0.0
    reg.save(tmp_path / "lora")
    loaded = LoraRegressor.load(tmp_path / "lora", backbone=tiny_backbone)
    assert loaded.max_tokens == 64 and loaded.halfwidth == reg.halfwidth
    assert np.allclose(loaded.predict_raw(probe, texts), before, atol=1e-5)
    estimate = loaded.predict([RunView(**{**probe[0].__dict__, "code": CODE.format(layers="nn.Conv2d(3, 8, 3), nn.ReLU()")})])
    assert estimate.lo[0] <= estimate.point[0] <= estimate.hi[0]
