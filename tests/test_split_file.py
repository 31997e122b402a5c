"""``nnrag eval-predictor --split-file``: a key the split file does not know is an error naming it and the allowed keys;
model names LEMUR does not have get a did-you-mean (case differences included), are listed in ``--json`` output with
the reason they were skipped, and fail at once (before LEMUR's runs are loaded) when no name is known; the metrics
table is printed whole when stdout is not a terminal.

The real LEMUR wheel (its zip listing); for the evaluation, a real (last-value) fit on synthetic runs under LEMUR names.
"""

from __future__ import annotations

import json
import time

import pytest
from typer.testing import CliRunner

from predictor.families import read_split


def _write(path, body) -> None:
    path.write_text(json.dumps(body))


@pytest.mark.parametrize("body", [
    {"train_models": ["a"], "test_models": ["b"], "test_model": ["c"]},  # a typo next to the real key: silently ignored
    {"train_models": ["a"], "test_model": ["b"]},  # the typo instead of the real key
])
def test_an_unknown_key_names_it_and_the_allowed_keys(tmp_path, body):
    _write(tmp_path / "s.json", body)
    with pytest.raises(ValueError) as caught:
        read_split(tmp_path / "s.json")
    message = str(caught.value)
    assert "'test_model'" in message and "train_models" in message and "did you mean 'test_models'" in message, message


def test_the_meta_a_built_split_holds_is_allowed(tmp_path):
    _write(tmp_path / "s.json", {"train_models": ["b", "a"], "test_models": ["c"], "meta": {"seed": 0}})
    assert read_split(tmp_path / "s.json") == (["b", "a"], ["c"])


def _lemur_names() -> list[str]:
    from corpus.lemur import lemur_wheel, model_names
    from predictor.data import cache_dir_or_default

    return model_names(lemur_wheel(cache_dir_or_default(None)))


def test_no_known_model_fails_at_once_with_did_you_mean(tmp_path, monkeypatch):
    """All names unknown: the error came after ~25 s of loading LEMUR's runs; now from the wheel's listing, before."""
    import predictor.train as train_module
    from nnrag.cli import app

    names = _lemur_names()
    assert "AlexNet" in names and "AirNet" in names

    def no_corpus(cache_dir=None):
        raise AssertionError("LEMUR's runs were loaded for a split that names no LEMUR model")

    monkeypatch.setattr(train_module, "corpus", no_corpus)
    _write(tmp_path / "s.json", {"train_models": ["alexnet", "NoSuchNet"], "test_models": ["AIRNET"]})
    started = time.monotonic()
    result = CliRunner().invoke(app, ["eval-predictor", "--split-file", str(tmp_path / "s.json"), "--models", "last_value",
                                      "--datasets", "cifar-10", "--json"])
    assert time.monotonic() - started < 15
    assert result.exit_code == 2, result.output
    assert "'AIRNET'" in result.output and "did you mean 'AirNet'" in result.output, result.output
    assert "AssertionError" not in result.output


def test_unknown_top_level_key_fails_the_command(tmp_path):
    from nnrag.cli import app

    _write(tmp_path / "s.json", {"train_models": ["AlexNet"], "test_models": ["AirNet"], "test_model": ["AirNet"]})
    result = CliRunner().invoke(app, ["eval-predictor", "--split-file", str(tmp_path / "s.json"), "--models", "last_value"])
    assert result.exit_code == 2 and "'test_model'" in result.output and "test_models" in result.output, result.output


@pytest.fixture
def evaluated_split(tmp_path, monkeypatch):
    """A split of 240 real LEMUR names whose runs are the synthetic corpus's (tests/test_predictor.py, renamed: loading
    LEMUR's real runs takes 30-90 s), plus names LEMUR lacks on either side and a LEMUR model without runs."""
    from dataclasses import replace

    import predictor.train as train_module
    from predictor.data import Corpus
    from test_predictor import _synthetic_corpus

    synthetic, names = _synthetic_corpus(), _lemur_names()
    real = {f"m{i}": names[i] for i in range(240)}
    c = Corpus(runs=[replace(r, model=real[r.model]) for r in synthetic.runs],
               models={real[m]: replace(info, name=real[m]) for m, info in synthetic.models.items()}, codes={},
               features={real[m]: f for m, f in synthetic.features.items()})
    monkeypatch.setattr(train_module, "corpus", lambda cache_dir=None: c)
    path = tmp_path / "s.json"
    _write(path, {"train_models": [*names[:192], "alexnet"], "test_models": [*names[192:240], "NoSuchNet", names[300]]})
    return path, names[300]


def test_skipped_models_are_listed_in_json_with_reasons(evaluated_split):
    from nnrag.cli import app

    path, without_runs = evaluated_split
    result = CliRunner().invoke(app, ["eval-predictor", "--split-file", str(path), "--models", "last_value", "--datasets", "cifar-10",
                                      "--json"])
    assert result.exit_code == 0, result.output + result.stderr
    body = json.loads(result.stdout)
    assert body["metrics"]
    skipped = {s["name"]: s for s in body["skipped_models"]}
    assert skipped["alexnet"]["side"] == "train_models" and "did you mean 'AlexNet'" in skipped["alexnet"]["reason"], skipped
    assert skipped["NoSuchNet"]["side"] == "test_models" and "not a LEMUR model" in skipped["NoSuchNet"]["reason"], skipped
    assert skipped[without_runs]["side"] == "test_models" and "no usable runs" in skipped[without_runs]["reason"], skipped
    assert len(skipped) == 3 and "alexnet" in result.stderr  # said in the text output too


def test_the_metrics_table_is_printed_whole_when_not_a_terminal(evaluated_split):
    from nnrag.cli import app

    result = CliRunner().invoke(app, ["eval-predictor", "--split-file", str(evaluated_split[0]), "--models", "last_value",
                                      "--datasets", "cifar-10"])
    assert result.exit_code == 0, result.output + result.stderr
    assert "…" not in result.stdout, result.stdout
    header = next(line for line in result.stdout.splitlines() if "subset" in line)
    for column in ("subset", "model", "dataset", "rmse", "pearson", "spearman", "kendall", "coverage80"):
        assert column in header, header
    assert "last_value" in result.stdout and "cifar-10" in result.stdout
