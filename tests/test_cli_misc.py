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
