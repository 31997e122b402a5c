"""Audits end to end: real pool, dedup by code hash, resume after a partial run, reports."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from nnrag.cli import app
from sandbox.audit import RESULTS_FILE, code_hash, load_done, run_audit
from sandbox.pool import CheckerPool
from sandbox.report import write_report
from sandbox.spec import CheckSpec

GOOD = "import torch.nn as nn\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.fc = nn.Linear(3, {n})\n    def forward(self, x):\n        return self.fc(x.mean((2, 3)))\n"
BAD = "import torch.nn as nn\nclass Net(nn.Module):\n    def forward(self, x):\n        return Missing(x)\n"


@pytest.fixture(scope="module")
def pool():
    with CheckerPool(size=2, preload=("torch",)) as p:
        yield p


def _items() -> list[tuple[str, str]]:
    return [("a", GOOD.format(n=10)), ("b", GOOD.format(n=10)), ("c", GOOD.format(n=5)), ("d", BAD), ("e", "def broken(:\n")]


def test_dedup_resume_and_report(pool, tmp_path):
    spec = CheckSpec(timeout_s=10)
    first = run_audit(_items(), tmp_path, pool, spec, limit=2)
    assert first.total_names == 5 and first.unique == 4 and first.checked == 2
    second = run_audit(_items(), tmp_path, pool, spec)
    assert second.already_done == 2 and second.checked == 2
    third = run_audit(_items(), tmp_path, pool, spec)
    assert third.checked == 0
    done = load_done(tmp_path)
    assert len(done) == 4
    lines = (tmp_path / RESULTS_FILE).read_text().splitlines()
    assert len(lines) == 4  # identical code ("a" and "b") checked once, nothing re-checked
    summary = write_report(tmp_path, title="test audit")
    assert summary["names"] == 5 and summary["checked"] == 4
    assert summary["statuses"] == {"ok": 2, "failed": 2}
    assert summary["stage_rates"]["parse"]["passed"] == 3
    assert summary["stage_rates"]["forward"]["rate_of_all"] == pytest.approx(0.5)
    assert summary["diagnosis_kinds"].get("undefined_name") == 1
    report = (tmp_path / "report.md").read_text()
    assert "Per-stage pass rates" in report and "undefined_name" in report
    assert "<table>" in (tmp_path / "report.html").read_text()
    assert (tmp_path / "stage_rates.png").stat().st_size > 1000


def test_rerun_after_a_fix_reports_current_codes_and_duplicate_names_count(pool, tmp_path):
    spec = CheckSpec(stages=("parse", "compile", "import", "instantiate", "forward"), timeout_s=10)
    run_audit([("m", BAD), ("g", GOOD.format(n=10))], tmp_path, pool, spec)
    fixed = run_audit([("m", GOOD.format(n=4)), ("g", GOOD.format(n=10))], tmp_path, pool, spec)
    assert (fixed.total_names, fixed.unique, fixed.already_done, fixed.checked) == (2, 2, 1, 1)
    assert len((tmp_path / RESULTS_FILE).read_text().splitlines()) == 3  # the old result stays for resume
    summary = write_report(tmp_path)
    assert (summary["names"], summary["unique_codes"], summary["checked"]) == (2, 2, 2)
    assert summary["statuses"] == {"ok": 2}
    assert "undefined_name" not in (tmp_path / "report.md").read_text()
    # one name with two codes in one source: both items count ("a" and "a#2"), and both codes
    dup = tmp_path / "dup"
    state = run_audit([("a", GOOD.format(n=10)), ("a", GOOD.format(n=4)), ("b", BAD)], dup, pool, spec)
    assert (state.total_names, state.unique, state.already_done, state.checked) == (3, 3, 0, 3)
    summary = write_report(dup)
    assert (summary["names"], summary["unique_codes"], summary["checked"]) == (3, 3, 3)
    assert summary["statuses"] == {"ok": 2, "failed": 1}


def test_torn_last_line_is_ignored_on_resume(pool, tmp_path):
    run_audit(_items()[:1], tmp_path, pool, CheckSpec(timeout_s=10))
    with (tmp_path / RESULTS_FILE).open("a") as fh:
        fh.write('{"hash": "trunc')
    assert len(load_done(tmp_path)) == 1


def test_cli_audit_on_a_jsonl(tmp_path):
    source = tmp_path / "models.jsonl"
    source.write_text("\n".join(json.dumps({"name": n, "code": c}) for n, c in _items()[:4]) + "\n")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["audit", str(source), "--out", str(out), "--workers", "1", "--stage", "forward", "--preload", "torch"])
    assert result.exit_code == 0, result.output
    assert (out / "report.html").exists()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["checked"] == 3 and summary["statuses"] == {"ok": 2, "failed": 1}


def test_sources_directory_and_jsonl_errors(tmp_path):
    from nnrag.cli.check import _items_from_source

    folder = tmp_path / "dir"
    (folder / "sub").mkdir(parents=True)
    (folder / "m.py").write_text(BAD)
    (folder / "sub" / "n.py").write_text(GOOD.format(n=3))
    (folder / "notes.txt").write_text("not python")
    assert [item.name for item in _items_from_source(str(folder))] == ["m.py", "sub/n.py"]
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"name": "x"}\n')
    (item,) = _items_from_source(str(broken))  # a bad line is a rejected item naming the line, not the end of the audit
    assert item.problem == "line 1 of broken.jsonl: expected a JSON object with 'name' and 'code'; 'code' missing"


def test_cli_rejects_a_bad_source(tmp_path):
    result = CliRunner().invoke(app, ["audit", str(tmp_path / "nope.txt"), "--out", str(tmp_path / "o")])
    assert result.exit_code != 0


def test_cli_check_json_and_exit_code(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text(BAD)
    result = CliRunner().invoke(app, ["check", str(bad), "--json", "--input-shape", "2,3,8,8"])
    assert result.exit_code == 1
    data = json.loads(result.output)
    assert data["status"] == "failed" and data["diagnosis"]["problem"].startswith("Missing is not defined")
    assert data["example"]["inputs"] == [[2, 3, 8, 8]]
    for shape in ("2,x", "2,,3", "2,3,8,8,", "2,-3"):  # a bad part is an error (exit 2), never a shorter shape checked instead
        refused = CliRunner().invoke(app, ["check", str(bad), "--input-shape", shape])
        assert refused.exit_code == 2 and "input shape must be" in refused.output, (shape, refused.output)
        refused = CliRunner().invoke(app, ["patch", str(bad), "--input-shape", shape])
        assert refused.exit_code == 2 and "input shape must be" in refused.output, (shape, refused.output)
    by_x = json.loads(CliRunner().invoke(app, ["check", str(bad), "--json", "--input-shape", "2x3x8x8"]).output)
    assert by_x["example"]["inputs"] == [[2, 3, 8, 8]]
    assert CliRunner().invoke(app, ["check", str(tmp_path / "absent.py")]).exit_code != 0


SLEEPY = "import time\nimport torch.nn as nn\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.fc = nn.Linear(3, {n})\n    def forward(self, x):\n        time.sleep(2.5)\n        return self.fc(x.mean((2, 3)))\n"


def test_a_worker_killed_mid_audit_is_checked_again_not_stored_as_the_codes_crash(tmp_path):
    """``kill -9`` of a sandbox worker was stored as the code's crash (WorkerError) and never checked again."""
    import os
    import signal
    import threading

    spec = CheckSpec(stages=("parse", "compile", "import", "instantiate", "forward"), timeout_s=10)
    items = [(f"m{n}", SLEEPY.format(n=n)) for n in range(2, 6)]
    with CheckerPool(size=2, preload=("torch",)) as pool:
        pool.wait_ready()
        killed: list[int] = []

        def kill_the_workers() -> None:  # the first two checks sleep in forward now: their workers die under them
            killed.extend(pool.worker_pids())
            for pid in killed:
                os.kill(pid, signal.SIGKILL)

        timer = threading.Timer(1.0, kill_the_workers)
        timer.start()
        state = run_audit(items, tmp_path, pool, spec)
        timer.join()
        assert killed and pool.restarts >= 1
        assert (state.checked, state.statuses, state.undecided) == (4, {"ok": 4}, 0)
        lines = [json.loads(line) for line in (tmp_path / RESULTS_FILE).read_text().splitlines()]
        assert [line["result"]["status"] for line in lines] == ["ok"] * 4  # nothing stored as the code's crash
        in_hash_order = [name for name, code in sorted(items, key=lambda item: code_hash(item[1]))]
        assert [line["name"] for line in lines] != in_hash_order  # a killed check was checked again, after the others
        assert run_audit(items, tmp_path, pool, spec).checked == 0


def test_outcomes_the_sandbox_could_not_decide_are_checked_by_the_next_audit(tmp_path):
    """A pool whose workers never start answers WorkerError for every code, twice: stored, but not as done."""
    spec = CheckSpec(stages=("parse", "compile", "import"), timeout_s=10)
    items = [("good", GOOD.format(n=3)), ("bad", BAD)]
    with CheckerPool(size=1, preload=("torch",), start_timeout_s=0.001) as broken:
        state = run_audit(items, tmp_path, broken, spec)
    assert state.checked == 2 and state.undecided == 2
    assert load_done(tmp_path) == {}
    assert write_report(tmp_path)["undecided"] == 2
    with CheckerPool(size=1, preload=("torch",)) as pool:
        again = run_audit(items, tmp_path, pool, spec)
    assert (again.already_done, again.checked, again.undecided) == (0, 2, 0)
    assert len(load_done(tmp_path)) == 2


def test_stored_records_from_before_are_read_as_verdicts_or_not(tmp_path):
    """Records written before WallTimeout existed: a wall-clock cap stored as "Timeout" is no verdict; a CPU-budget one is."""
    records = [("wall", "Timeout", "the check exceeded its wall-clock cap of 40 s during forward"),
               ("cpu", "Timeout", "the check exceeded its 10 s CPU budget during forward"),
               ("died", "WorkerError", "worker 0 exited (code -9): "), ("bad", "NameError", "name 'Missing' is not defined")]
    with (tmp_path / RESULTS_FILE).open("w") as fh:
        for digest, error_type, message in records:
            fh.write(json.dumps({"hash": digest, "name": digest, "result": {"status": "failed", "error_type": error_type, "message": message}}) + "\n")
    assert {digest for digest, _ in load_done(tmp_path)} == {"cpu", "bad"}


def test_a_message_with_a_lone_surrogate_does_not_stop_the_report(pool, tmp_path):
    """``raise RuntimeError("bad " + chr(0xD800))``: writing report.md raised UnicodeEncodeError, and every rerun (and
    --report-only) raised it again from the stored result."""
    code = GOOD.format(n=10).replace("return self.fc", "raise RuntimeError('bad ' + chr(0xD800))\n        return self.fc")
    run_audit([("s" + chr(0xDC80), code)], tmp_path, pool, CheckSpec(timeout_s=10))
    summary = write_report(tmp_path)
    assert summary["checked"] == 1 and "\\udc80" in (tmp_path / "report.md").read_text()
