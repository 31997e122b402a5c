"""``nnrag index`` ends by naming, per source, the modules its blocks stopped at import for: x-transformers' einx,
loguru and torch_einops_utils (declared dependencies not installed here) stopped 49 of its 97 blocks, and only each
block's own validation error said so. Real miner, sandbox and store."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from nnrag.cli import app

runner = CliRunner()
NEEDS = '''import torch.nn as nn
import nnrag_absent_a
import nnrag_absent_b


class NeedsTwo(nn.Module):
    def forward(self, x):
        return nnrag_absent_a.f(nnrag_absent_b.g(x))


class NeedsOne(nn.Module):
    def forward(self, x):
        return nnrag_absent_a.f(x)
'''
FINE = "import torch.nn as nn\n\n\nclass Fine(nn.Module):\n    def forward(self, x):\n        return x\n"


def test_index_names_the_modules_its_blocks_stopped_at_import_for(tmp_path):
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "needs.py").write_text(NEEDS)
    (proj / "fine.py").write_text(FINE)
    spec, store = f"dir:{proj}", str(tmp_path / "store")
    line = (f"{spec}: 2 block(s) stop at import: nnrag_absent_a (2), nnrag_absent_b (1) are not installed here; "
            "pip install them and re-index with --force to validate them")
    built = runner.invoke(app, ["index", "-s", spec, "--store", store, "--workers", "1", "--json"])
    assert built.exit_code == 0, built.output
    (sr,) = json.loads(built.stdout)["sources"]
    assert (sr["stopped_by_missing"], sr["missing_modules"]) == (2, {"nnrag_absent_a": 2, "nnrag_absent_b": 1})
    assert line in built.stderr
    again = runner.invoke(app, ["index", "-s", spec, "--store", store, "--workers", "1"], env={"COLUMNS": "400"})
    assert again.exit_code == 0 and "up to date" in again.stdout, again.output  # read back from the store
    assert again.stdout.rstrip().endswith(line), again.stdout
