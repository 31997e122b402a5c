"""``nnrag audit`` at the command line: resume keyed by code and check settings, how to call the models (options and a
JSONL item's "spec"), bad JSONL lines as rejected items, helper files reported apart from models, one audit per --out.
Real sandbox, one worker, tiny models, early stages where the point allows."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from nnrag.cli import app

GOOD = "import torch.nn as nn\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.fc = nn.Linear(3, {n})\n    def forward(self, x):\n        return self.fc(x.mean((2, 3)))\n"
TOKENS = ("import torch.nn as nn\nclass TextNet(nn.Module):\n    def __init__(self, vocab=100, dim=8):\n        super().__init__()\n"
          "        self.emb = nn.Embedding(vocab, dim)\n        self.fc = nn.Linear(dim, 2)\n"
          "    def forward(self, ids):\n        return self.fc(self.emb(ids).mean(1))\n")
NEEDS_KWARGS = ("import torch.nn as nn\nclass Helper(nn.Module):\n    def forward(self, x):\n        return x\n"
                "class Model(nn.Module):\n    def __init__(self, width):\n        super().__init__()\n        self.fc = nn.Linear(5, width)\n"
                "    def forward(self, x):\n        return self.fc(x)\n")


def _audit(*args: str):
    return CliRunner().invoke(app, ["audit", *args, "--workers", "1", "--preload", "torch"])


def _jsonl(path: Path, records: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return path


def _results(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


def test_resume_reuses_a_result_only_under_the_same_settings(tmp_path):
    source = _jsonl(tmp_path / "m.jsonl", [{"name": f"g{n}", "code": GOOD.format(n=n)} for n in (2, 3)])
    out = tmp_path / "out"
    first = _audit(str(source), "--out", str(out), "--stage", "compile")
    assert first.exit_code == 0, first.output
    assert "checked 2 new" in first.output
    again = _audit(str(source), "--out", str(out), "--stage", "compile")
    assert "checked 0 new" in again.output and "2 already done" in again.output
    changed = _audit(str(source), "--out", str(out), "--stage", "import")
    assert changed.exit_code == 0, changed.output
    assert "checked 2 new" in changed.output and "2 re-checked because the check settings changed" in changed.output
    assert [r["result"]["stages"].get("import") for r in _results(out)[-2:]] == ["ok", "ok"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["stage_rates"]["import"]["passed"] == 2  # the report covers the results made with today's settings
    # results written before settings were recorded: loaded, and checked again with a note
    old = tmp_path / "old"
    old.mkdir()
    lines = [json.dumps({k: v for k, v in r.items() if k != "settings"}) for r in _results(out)[:2]]
    (old / "results.jsonl").write_text("\n".join(lines) + "\n")
    legacy = _audit(str(source), "--out", str(old), "--stage", "compile")
    assert legacy.exit_code == 0, legacy.output
    assert "checked 2 new" in legacy.output and "made before check settings were recorded" in legacy.output


def test_call_options_item_specs_and_bad_jsonl_lines(tmp_path):
    source = _jsonl(tmp_path / "items.jsonl", [
        {"name": "tok", "code": TOKENS, "spec": {"example": {"inputs": [[2, 6]], "input_dtypes": ["int64"]}}},
        {"name": "num", "code": 123},
        "{not json",
        {"name": "badspec", "code": GOOD.format(n=2), "spec": {"colour": "red"}},
        {"name": "img", "code": GOOD.format(n=4)},
    ])
    out = tmp_path / "out"
    result = _audit(str(source), "--out", str(out), "--stage", "forward")
    assert result.exit_code == 0, result.output
    assert "items.jsonl:2" in result.output and "items.jsonl:3" in result.output and "items.jsonl:4" in result.output
    by_name = {r["name"]: r["result"] for r in _results(out)}
    assert by_name["tok"]["status"] == "ok", by_name["tok"]
    assert by_name["img"]["status"] == "ok"
    assert by_name["num"]["status"] == "rejected" and "line 2" in by_name["num"]["message"] and "string" in by_name["num"]["message"]
    assert "123" != by_name["num"].get("code")
    bad_lines = [r for n, r in by_name.items() if n not in ("tok", "img", "num")]
    assert len(bad_lines) == 2 and all(r["status"] == "rejected" for r in bad_lines)
    assert any("colour" in r["message"] for r in bad_lines)
    # the three rejected lines were never checked: not in the rates nor the timings (2 of 5 read as 40% passing)
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["checked"], summary["rejected"], summary["statuses"]) == (2, 3, {"ok": 2, "rejected": 3}), summary
    assert summary["stage_rates"]["forward"]["rate_of_all"] == 1.0
    assert "100.0% of checked pass" in result.output and "rejected, never checked" in (out / "report.md").read_text()
    # --entry, --init-kwargs, --input-shape on audit, parsed as check parses them
    model = tmp_path / "src"
    model.mkdir()
    (model / "m.py").write_text(NEEDS_KWARGS)
    called = _audit(str(model), "--out", str(tmp_path / "o2"), "--stage", "forward", "--entry", "Model",
                    "--init-kwargs", '{"width": 7}', "--input-shape", "2,5")
    assert called.exit_code == 0, called.output
    (record,) = _results(tmp_path / "o2")
    assert record["result"]["status"] == "ok" and record["result"]["output_shapes"] == [[2, 7]], record["result"]
    for bad in (["--input-shape", "2,x"], ["--init-kwargs", "[1]"], ["--input-shape", "2,5", "--input-dtype", "complex"]):
        refused = _audit(str(model), "--out", str(tmp_path / "o3"), *bad)
        assert refused.exit_code == 2, (bad, refused.output)


def test_helper_files_are_reported_apart_from_models(tmp_path):
    src = tmp_path / "src"
    (src / "models").mkdir(parents=True)
    (src / "models" / "__init__.py").write_text("")
    (src / "utils.py").write_text("def accuracy(out, y):\n    return (out.argmax(1) == y).float().mean()\n")
    (src / "config.py").write_text("class Config:\n    width = 3\n")
    (src / "models" / "layers.py").write_text(GOOD.format(n=3))
    (src / "models" / "net_a.py").write_text("import torch.nn as nn\nfrom .layers import Net as Block\n"
                                             "class Wrapper(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
                                             "        self.b = Block()\n    def forward(self, x):\n        return self.b(x)\n")
    out = tmp_path / "out"
    result = _audit(str(src), "--out", str(out), "--stage", "forward")
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["statuses"] == {"ok": 1}, summary
    assert summary["stage_rates"]["forward"]["rate_of_all"] == 1.0
    skipped = summary["skipped"]
    assert set(skipped["no model class"]) == {"models/__init__.py", "utils.py", "config.py"}, skipped
    assert [name for reason, names in skipped.items() if "relative import" in reason for name in names] == ["models/net_a.py"]
    assert "skipped" in result.output and "no model class" in (out / "report.md").read_text()


def test_a_second_audit_of_the_same_out_is_refused(tmp_path):
    from sandbox.audit import audit_lock

    source = _jsonl(tmp_path / "m.jsonl", [{"name": "g", "code": GOOD.format(n=2)}])
    out = tmp_path / "out"
    with audit_lock(out):
        refused = _audit(str(source), "--out", str(out), "--stage", "parse")
    assert refused.exit_code == 2, refused.output
    assert "another audit" in refused.output and str(out) in refused.output
    assert not (out / "results.jsonl").exists() or not _results(out)
    after = _audit(str(source), "--out", str(out), "--stage", "parse")
    assert after.exit_code == 0 and "checked 1 new" in after.output, after.output


def test_an_out_that_cannot_hold_an_audit_is_one_line_and_exit_2(tmp_path):
    """--out naming a file, and --report-only of a folder with no results, ended in a FileExistsError /
    FileNotFoundError traceback, exit 1."""
    source = _jsonl(tmp_path / "m.jsonl", [{"name": "g", "code": GOOD.format(n=2)}])
    a_file = tmp_path / "outfile"
    a_file.write_text("x\n")
    empty = tmp_path / "empty"
    empty.mkdir()
    cases = [(["--out", str(a_file)], "is not a directory"), (["--out", str(empty), "--report-only"], "holds no audit results"),
             (["--out", str(tmp_path / "missing"), "--report-only"], "holds no audit results")]
    for args, says in cases:
        refused = _audit(str(source), *args, "--stage", "parse")
        assert refused.exit_code == 2 and isinstance(refused.exception, SystemExit), (args, refused.output)
        assert says in refused.output and "Traceback" not in refused.output, (args, refused.output)
    assert a_file.read_text() == "x\n" and not (tmp_path / "missing").exists()


def test_a_source_with_nothing_to_audit_is_refused_like_an_empty_index_source(tmp_path):
    """An empty directory or JSONL passed with "0 items", exit 0, and a report, where ``nnrag index`` refuses the same
    with exit 2. Files that define no model are still items: they pass, reported as skipped."""
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    (empty_dir / "notes.txt").write_text("not python\n")
    blank = tmp_path / "blank.jsonl"
    blank.write_text("\n  \n")
    for source, says in ((empty_dir, "no readable .py file"), (blank, "no line")):
        out = tmp_path / f"out-{source.name}"
        refused = _audit(str(source), "--out", str(out), "--stage", "parse")
        assert refused.exit_code == 2 and isinstance(refused.exception, SystemExit), (source, refused.output)
        assert "nothing to audit" in refused.output and says in refused.output, refused.output
        assert not (out / "report.md").exists()
    helpers = tmp_path / "helpers"
    helpers.mkdir()
    (helpers / "util.py").write_text("def double(x):\n    return 2 * x\n")
    passed = _audit(str(helpers), "--out", str(tmp_path / "out-helpers"), "--stage", "parse")
    assert passed.exit_code == 0 and (tmp_path / "out-helpers" / "report.md").exists(), passed.output
