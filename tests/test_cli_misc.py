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
