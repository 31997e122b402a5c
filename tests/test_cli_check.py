"""``nnrag check`` and ``nnrag audit`` at the command line: bad options are clear errors (exit 2, no
traceback), files are read as Python reads them, and text from the checked code is printed as text."""

from __future__ import annotations

import json
import os
from pathlib import Path

from typer.testing import CliRunner

from nnrag.cli import app

RAISES = '''import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.f = nn.Linear(3, 10)

    def forward(self, x):
        raise ValueError("bad value [/foo] in x and [red]x[/red]")
'''

GOOD = "import torch.nn as nn\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.fc = nn.Linear(3, 10)\n    def forward(self, x):\n        return self.fc(x.mean((2, 3)))\n"

EMBED = '''import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(100, 16)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        return self.fc(self.emb(x).mean(1))
'''


def _invoke(*args: str, **kwargs):
    return CliRunner().invoke(app, list(args), **kwargs)


def test_budgets_the_sandbox_cannot_enforce_are_refused_before_any_check(tmp_path):
    model = tmp_path / "m.py"
    model.write_text(GOOD)
    for option, value in (("--timeout", "inf"), ("--timeout", "1e20"), ("--timeout", "nan"), ("--memory-mb", "99999999999999")):
        for command in (["check", str(model)], ["audit", str(tmp_path), "--out", str(tmp_path / "o")]):
            out = _invoke(*command, option, value)
            assert out.exit_code == 2 and isinstance(out.exception, SystemExit), (command, option, value, out.output)
            if value != "nan":  # typer's own range check refuses NaN
                assert f"error: {option} must be" in out.output, (command, option, value, out.output)
    huge = _invoke("check", str(model), "--input-shape", "99999999999999999999")
    assert huge.exit_code == 2 and "input shape must have at most 8 dimensions" in huge.output, huge.output
    assert "CPU-time budget" in _invoke("check", "--help").output


def test_input_dtype_is_one_per_input_shape(tmp_path):
    model = tmp_path / "embed.py"
    model.write_text(EMBED)
    alone = _invoke("check", str(model), "--input-dtype", "int64")
    assert alone.exit_code == 2 and "one --input-dtype per --input-shape" in alone.output, alone.output
    unknown = _invoke("check", str(model), "--input-shape", "2,16", "--input-dtype", "complex64")
    assert unknown.exit_code == 2 and "unknown --input-dtype 'complex64'" in unknown.output, unknown.output
    ids = _invoke("check", str(model), "--input-shape", "2,16", "--input-dtype", "int64", "--json")
    assert ids.exit_code == 0, ids.output
    assert json.loads(ids.output)["example"]["input_dtypes"] == ["int64"]


def test_markup_in_the_checked_codes_error_is_printed_as_text(tmp_path):
    model = tmp_path / "markup.py"
    model.write_text(RAISES)
    out = _invoke("check", str(model), "--stage", "forward")
    assert out.exit_code == 1, out.output
    assert "bad value [/foo] in x and [red]x[/red]" in out.output, out.output


def test_files_and_stdin_are_decoded_as_python_decodes_them(tmp_path):
    bom = tmp_path / "bom.py"
    bom.write_bytes(b"\xef\xbb\xbf" + GOOD.encode())
    assert _invoke("check", str(bom), "--json", "--stage", "import").exit_code == 0
    latin = b"# -*- coding: latin-1 -*-\nNAME = '\xe9t\xe9'\n" + GOOD.encode()  # not UTF-8: a cookie says what it is
    piped = _invoke("check", "-", "--json", "--stage", "import", input=latin)
    assert piped.exit_code == 0, piped.output


def test_audit_of_a_directory_skips_bad_entries_and_reports_multiline_messages_safely(tmp_path):
    source = tmp_path / "models"
    source.mkdir()
    (source / "good.py").write_bytes(b"\xef\xbb\xbf" + GOOD.encode())
    (source / "multi.py").write_text("raise ValueError('line one\\n# Injected heading\\n| a | b |\\n<script>alert(1)</script>')\n")
    os.symlink(source / "absent.py", source / "broken.py")
    (source / "pkg.py").mkdir()
    out_dir = tmp_path / "out"
    out = _invoke("audit", str(source), "--out", str(out_dir), "--workers", "1", "--stage", "import", "--preload", "torch")
    assert out.exit_code == 0, out.output
    assert "warning: skipped broken.py: broken symlink" in out.output
    summary = json.loads((out_dir / "summary.json").read_text())
    assert summary["statuses"] == {"ok": 1, "failed": 1}  # the BOM file parses; the bad entries are not items
    report = (out_dir / "report.md").read_text()
    assert not any(line.startswith("# Injected") or line.startswith("<script>") for line in report.splitlines())
    row = next(line for line in report.splitlines() if "line one" in line)
    assert row.startswith("| ") and "# Injected heading \\| a \\| b \\|" in row, row
    page = (out_dir / "report.html").read_text()
    assert "<script>alert" not in page and "<h1>Injected" not in page
    assert "&lt;script&gt;" in page and "| a | b |" in page


def test_init_kwargs_must_be_a_json_object(tmp_path):
    model = tmp_path / "m.py"
    model.write_text(GOOD)
    for text in ('[["num_classes", 10]]', '"x"', "{bad"):
        out = _invoke("check", str(model), "--init-kwargs", text)
        assert out.exit_code == 2 and "--init-kwargs must be a JSON object" in out.output, (text, out.output)


BROKEN_LEARN = (Path(__file__).parent / "fixtures" / "lemur_broken_learn.py").read_text()


def test_check_runs_a_lemur_models_learn_by_default_and_honours_an_explicit_stage(tmp_path):
    model = tmp_path / "lemur.py"
    model.write_text(BROKEN_LEARN)
    default = _invoke("check", str(model), "--json")
    assert default.exit_code == 1, default.output
    result = json.loads(default.output)
    assert result["failed_stage"] == "train_step" and "criterion" in result["message"]
    explicit = _invoke("check", str(model), "--json", "--stage", "backward")
    assert explicit.exit_code == 0, explicit.output
    assert "train_step" not in json.loads(explicit.output)["stages"]
