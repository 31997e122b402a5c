"""CLI odds and ends: what ``nnrag predict`` and ``nnrag report`` say about a model file they cannot read as Python."""

from __future__ import annotations

from typer.testing import CliRunner

from nnrag.cli import app


def test_a_model_file_with_nul_bytes_is_refused_without_a_line_number(tmp_path):
    model = tmp_path / "nul.py"
    model.write_bytes(b"import torch\x00\n")
    for command in (["predict", str(model)], ["report", str(model), "--final", "0.5"]):
        out = CliRunner().invoke(app, [*command, "--dir", str(tmp_path / "no-predictor")])
        assert out.exit_code == 2 and isinstance(out.exception, SystemExit), (command, out.output)
        assert "source code string cannot contain null bytes" in out.output and "line None" not in out.output, out.output


def test_serve_names_the_metrics_port_when_it_is_taken(tmp_path):
    """A taken --metrics-port ended with only "[Errno 98] Address already in use", which reads as the gRPC port."""
    import os
    import socket
    import subprocess
    import sys

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**os.environ, "NNRAG_HOME": str(tmp_path / "home")}
        serve = [sys.executable, "-c", "from nnrag.cli import main; main()", "serve", "--address", "127.0.0.1:0", "--metrics-port", str(port)]
        done = subprocess.run(serve, capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "metrics port" in lines[0] and f"127.0.0.1:{port}" in lines[0] and "in use" in lines[0], done.stderr


def test_train_predictor_refuses_an_out_it_cannot_save_to_before_training(tmp_path, monkeypatch):
    """``train-predictor --out FILE`` trained for about 4 minutes, then ended in a traceback."""
    import time

    import predictor.train

    def no_training(*args, **kwargs):
        raise AssertionError("it trained before refusing")

    monkeypatch.setattr(predictor.train, "train_predictor", no_training)
    a_file = tmp_path / "notadir"
    a_file.write_text("x\n")
    cases = [(a_file, "is not a directory"), (a_file / "sub", "is not a directory")]
    for out, says in cases:
        start = time.monotonic()
        refused = CliRunner().invoke(app, ["train-predictor", "--fast", "--out", str(out)])
        assert refused.exit_code == 2 and isinstance(refused.exception, SystemExit), (out, refused.output)
        assert says in refused.output and str(out) in refused.output, refused.output
        assert time.monotonic() - start < 10, "it trained before refusing"
    assert a_file.read_text() == "x\n"


def test_eval_predictor_refuses_a_bad_grouping_or_folds_before_loading_data(tmp_path, monkeypatch):
    """--grouping bogus was refused only after 67-109 s of loading LEMUR; --folds 0 or -1 was never checked up front."""
    import predictor.train

    def no_loading(*args, **kwargs):
        raise AssertionError("data loaded before the options were checked")

    monkeypatch.setattr(predictor.train, "load_or_build_split", no_loading)
    cases = [(["--grouping", "bogus"], "--grouping"), (["--folds", "0"], "--folds"), (["--folds", "-1"], "--folds"),
             (["--folds", "1", "--new-dataset", "x", "--dir", str(tmp_path / "none")], "--folds")]
    for args, says in cases:
        refused = CliRunner().invoke(app, ["eval-predictor", *args])
        assert refused.exit_code == 2 and isinstance(refused.exception, SystemExit), (args, refused.output, refused.exception)
        assert says in refused.output, (args, refused.output)


def test_report_refuses_an_empty_run_id(tmp_path):
    """``--run-id ""`` was accepted, yet an empty run_id means "no id" to ReportResult: the run named nothing."""
    model = tmp_path / "m.py"
    model.write_text("import torch.nn as nn\nclass Net(nn.Module):\n    pass\n")
    for run_id in ("", "  "):
        out = CliRunner().invoke(app, ["report", str(model), "--final", "0.5", "--epochs", "3", "--run-id", run_id,
                                       "--dir", str(tmp_path / "no-predictor")])
        assert out.exit_code == 2 and isinstance(out.exception, SystemExit), (run_id, out.output)
        assert "--run-id must name the run" in out.output, out.output


def test_version_prints_the_version_the_server_reports():
    """There was no ``nnrag --version``: a script pinning the tool had only pip to ask."""
    import nnrag

    out = CliRunner().invoke(app, ["--version"])
    assert out.exit_code == 0 and out.stdout.strip() == f"nnrag {nnrag.__version__} (API nnrag.v1)", out.output
