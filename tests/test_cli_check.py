"""``nnrag check`` and ``nnrag audit`` at the command line: bad options are clear errors (exit 2, no
traceback), files are decoded as Python decodes them (Latin-1 where Python would refuse a file), and text from the checked code is printed as text."""

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
    for option, value in (("--timeout", "inf"), ("--timeout", "1e20"), ("--timeout", "nan"), ("--timeout", "0.05"),
                          ("--memory-mb", "99999999999999")):
        for command in (["check", str(model)], ["audit", str(tmp_path), "--out", str(tmp_path / "o")]):
            out = _invoke(*command, option, value)
            assert out.exit_code == 2 and isinstance(out.exception, SystemExit), (command, option, value, out.output)
            assert f"error: {option} must be" in out.output, (command, option, value, out.output)
            if value in ("nan", "inf"):  # NaN was "Input should be greater than or equal to 0.1"
                assert "must be a finite number" in out.output, (command, value, out.output)
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


def test_escape_sequences_the_checked_code_prints_or_raises_never_reach_the_terminal(tmp_path):
    """A check's output, message and traceback are the code's own text: ``\\x1b[2J`` cleared the screen, ``\\x1b]52;``
    wrote to the clipboard and ``\\x1b[8m`` hid text. Control characters are printed as escapes."""
    model = tmp_path / "esc.py"
    model.write_text("print('\\x1b[2J\\x1b]52;c;ZWNobw==\\x07fake ok')\n"
                     + RAISES.replace("bad value [/foo] in x and [red]x[/red]", "broken \\x1b[8m hidden \\u202e \\ud800"))
    out = _invoke("check", str(model), "--stage", "forward")
    assert out.exit_code == 1, out.output
    assert "\x1b" not in out.output and "\x07" not in out.output and "\u202e" not in out.output, repr(out.output)
    assert "\\x1b[2J" in out.output and "broken \\x1b[8m hidden \\u202e \\ud800" in out.output, out.output  # a lone
    # surrogate is escaped too: rich could not encode it and the command ended in a traceback


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
    (source / "multi.py").write_text("class Net:\n    pass\nraise ValueError('line one\\n# Injected heading\\n| a | b |\\n<script>alert(1)</script>')\n")
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


# Burns about 2 s of CPU in forward: under a 0.5 s budget it times out, under 20 s it passes.
SLOW = '''import time
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        start = time.process_time()
        while time.process_time() - start < 2.0:
            pass
        return self.fc(x)
'''


def test_check_and_audit_budgets_default_to_the_settings(tmp_path, monkeypatch):
    """``nnrag patch`` and the server read check_timeout_s / check_memory_mb; check and audit had 30 s / 4096 MiB
    written in, so NNRAG_CHECK_TIMEOUT_S=1 still passed a model that needs seconds of CPU. An option still wins."""
    from nnrag.settings import get_settings

    model = tmp_path / "slow.py"
    model.write_text(SLOW)
    monkeypatch.setenv("NNRAG_CHECK_TIMEOUT_S", "0.5")
    get_settings.cache_clear()
    try:
        by_setting = _invoke("check", str(model), "--input-shape", "2,4", "--json")
        by_option = _invoke("check", str(model), "--input-shape", "2,4", "--json", "--timeout", "20")
        (tmp_path / "src").mkdir()
        (tmp_path / "src" / "slow.py").write_text(SLOW)
        audit = _invoke("audit", str(tmp_path / "src"), "--out", str(tmp_path / "audit"), "--preload", "torch", "--stage", "forward")
    finally:
        get_settings.cache_clear()
    assert by_setting.exit_code == 1 and json.loads(by_setting.output)["status"] == "timeout", by_setting.output
    assert by_option.exit_code == 0 and json.loads(by_option.output)["status"] == "ok", by_option.output
    assert audit.exit_code == 0, audit.output
    results = [json.loads(line) for line in (tmp_path / "audit" / "results.jsonl").read_text().splitlines()]
    assert [r["result"]["status"] for r in results] == ["timeout"], results


def test_a_failed_check_prints_only_what_it_measured(tmp_path):
    """A model that fails at forward has parameters but no forward time: it printed "forward None ms"."""
    model = tmp_path / "raises.py"
    model.write_text(RAISES)
    result = _invoke("check", str(model), "--input-shape", "2,3")
    assert result.exit_code == 1, result.output
    assert "None" not in result.output and "params 40" in result.output and "forward" not in result.output.split("params")[1].splitlines()[0]


def test_check_over_the_server_prints_the_stages_in_the_sandboxs_order(tmp_path):
    """The stages cross the wire as a protobuf map, which has no order: ``--server`` printed them shuffled."""
    from nnrag.settings import Settings
    from rag_server.backend import Backend
    from rag_server.server import build_server
    from sandbox.pool import CheckerPool
    from sandbox.spec import STAGES

    model = tmp_path / "good.py"
    model.write_text(GOOD)
    settings = Settings(store_dir=tmp_path / "no-store", predictor_dir=tmp_path / "no-predictor", address="127.0.0.1:0", workers=1)
    with CheckerPool(size=1, preload=("torch",)) as pool:
        running = build_server(settings, Backend.open(settings, pool=pool, with_predictor=False))
        try:
            remote = _invoke("check", str(model), "--json", "--server", running.address)
            table = _invoke("check", str(model), "--server", running.address)
        finally:
            running.stop(grace=1)
    local = _invoke("check", str(model), "--json")
    assert remote.exit_code == local.exit_code == table.exit_code == 0, (remote.output, local.output, table.output)
    stages = list(json.loads(remote.output)["stages"])
    assert stages == list(json.loads(local.output)["stages"]) == [s for s in STAGES if s in stages] and len(stages) >= 5
    printed = [line.split()[0] for line in table.output.splitlines() if line.strip() and line.split()[0] in STAGES]
    assert printed == stages, table.output


def test_a_closed_output_pipe_exits_141_not_1_which_means_the_check_failed(tmp_path):
    """``nnrag check good.py --json | true`` exited 1, silently, for a model that passes (both through typer's echo and
    through rich's console, which raises SystemExit(1)); a closed pipe exits as a Unix tool does: 141, no traceback."""
    import subprocess
    import sys

    model = tmp_path / "good.py"
    model.write_text(GOOD)
    cli = [sys.executable, "-c", "from nnrag.cli import main; main()"]
    for args in (["check", str(model), "--json"], ["check", str(model)], ["--help"]):
        proc = subprocess.Popen([*cli, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path)
        proc.stdout.close()  # the reader is gone before anything is written, as in `| true`
        stderr = proc.stderr.read().decode()
        assert proc.wait(timeout=120) == 141, (args, proc.returncode, stderr)
        assert "Traceback" not in stderr and "Exception ignored" not in stderr, (args, stderr)


def test_the_traceback_names_the_checked_file_not_the_sandboxs_copy(tmp_path):
    """Every traceback read `File "model.py"` whatever the file was called (the sandbox's name for the code)."""
    model = tmp_path / "resnet_try3.py"
    model.write_text(RAISES)
    traceback = json.loads(_invoke("check", str(model), "--json").output)["traceback"]
    assert f'File "{model}", line 10, in forward' in traceback and "model.py" not in traceback, traceback
    piped = json.loads(_invoke("check", "-", "--json", input=RAISES).output)
    assert 'File "<stdin>", line 10, in forward' in piped["traceback"], piped["traceback"]
    assert "resnet_try3.py" in _invoke("check", str(model)).output.replace("\n", "")
