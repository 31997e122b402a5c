"""``nnrag patch --json`` gives the same inserted blocks in-process and over ``--server``: the server's answer left out
``keyword_flag_layers`` (a model's ``relu=False`` rewritten to ``act_layer=nn.Identity``), so a client could not see
that edit. The same holds for ``doubts`` (a layer the model's name states that the inserted block lacks). Real store,
real gRPC server on loopback."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from nnrag.cli import app
from nnrag.settings import Settings
from rag_server.backend import Backend
from rag_server.server import build_server

runner = CliRunner()

# A ghost module that takes its activation layer (timm's spelling), not a boolean flag
GHOST = '''import torch
import torch.nn as nn


class GhostModule(nn.Module):
    """A GhostNet module: a primary convolution and cheap depthwise features."""

    def __init__(self, in_chs, out_chs, kernel_size=1, ratio=2, act_layer=nn.ReLU):
        super().__init__()
        init_chs = out_chs // ratio
        self.out_chs = out_chs
        self.primary_conv = nn.Sequential(nn.Conv2d(in_chs, init_chs, kernel_size, padding=kernel_size // 2, bias=False),
                                          nn.BatchNorm2d(init_chs), act_layer())
        self.cheap_operation = nn.Sequential(nn.Conv2d(init_chs, out_chs - init_chs, 3, padding=1, groups=init_chs, bias=False),
                                             nn.BatchNorm2d(out_chs - init_chs), act_layer())

    def forward(self, x):
        x1 = self.primary_conv(x)
        return torch.cat([x1, self.cheap_operation(x1)], dim=1)[:, : self.out_chs]
'''

# The model calls it with the boolean flag of another code base
MODEL = '''import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, padding=1)
        self.g1 = GhostModule(16, 32, relu=True)
        self.g2 = GhostModule(32, 32, relu=False)
        self.head = nn.Linear(32, num_classes)

    def forward(self, x):
        return self.head(self.g2(self.g1(self.stem(x))).mean((2, 3)))
'''

# A conv-norm-act block with a fixed ReLU, and a model that asks for a ``ConvBNSiLU``: the only fit lacks the SiLU
CONV_NORM_ACT = '''import torch.nn as nn


class ConvNormAct(nn.Module):
    def __init__(self, in_chs, out_chs, kernel_size=3):
        super().__init__()
        self.conv = nn.Conv2d(in_chs, out_chs, kernel_size, padding=kernel_size // 2)
        self.norm = nn.BatchNorm2d(out_chs)
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(self.norm(self.conv(x)))
'''

SILU_MODEL = '''import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = ConvBNSiLU(3, 16, 3)
        self.head = nn.Linear(16, 10)

    def forward(self, x):
        return self.head(self.stem(x).mean((2, 3)))
'''


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory):
    from indexer.build import build_index

    src = tmp_path_factory.mktemp("src") / "ghostnet"
    src.mkdir()
    (src / "LICENSE").write_text("MIT License\n\nPermission is hereby granted, free of charge, to any person obtaining a copy\n")
    (src / "ghost.py").write_text(GHOST)
    (src / "conv.py").write_text(CONV_NORM_ACT)
    path = tmp_path_factory.mktemp("store")
    report = build_index([f"dir:{src}"], path, validate=False)
    assert report.unique >= 1, report
    return path


@pytest.fixture(scope="module")
def server(store_dir):
    settings = Settings(store_dir=store_dir, address="127.0.0.1:0", workers=1, check_timeout_s=20.0)
    backend = Backend.open(settings, with_pool=False, with_predictor=False)
    assert backend.store is not None, backend.store_error
    running = build_server(settings, backend)
    yield running
    running.stop(grace=1)


def _patch_json(args: list[str]) -> dict:
    result = runner.invoke(app, ["patch", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_a_doubt_about_an_inserted_block_reaches_the_client_and_the_cli(store_dir, server, tmp_path):
    """Audit of Patch outside classification (F1): a block that passes the check while lacking what the model's name
    states (a ReLU conv for ``ConvBNSiLU``) was inserted without a word; now its doubt travels with it."""
    model = tmp_path / "silu.py"
    model.write_text(SILU_MODEL)
    local = _patch_json([str(model), "--store", str(store_dir)])
    remote = _patch_json([str(model), "--server", server.address])
    [block] = local["inserted"]
    assert block["qualified_name"].endswith("ConvNormAct") and block["doubts"] == ["its name states SiLU, which ConvNormAct lacks"]
    assert remote["inserted"] == local["inserted"]
    plain = runner.invoke(app, ["patch", str(model), "--store", str(store_dir)])
    assert "doubt about ConvBNSiLU: its name states SiLU, which ConvNormAct lacks" in plain.stderr, plain.stderr


def test_patch_json_gives_the_same_inserted_blocks_in_process_and_over_the_server(store_dir, server, tmp_path):
    model = tmp_path / "model.py"
    model.write_text(MODEL)
    local = _patch_json([str(model), "--store", str(store_dir)])
    remote = _patch_json([str(model), "--server", server.address])
    [block] = [b for b in local["inserted"] if b["name"] == "GhostModule"]
    assert block["keyword_flag_layers"] == {"relu": "act_layer"}, block
    assert "act_layer=nn.Identity" in local["code"]
    assert remote["inserted"] == local["inserted"]
    assert remote["code"] == local["code"]


def test_the_sdk_reads_the_flag_edit_and_says_it(server):
    from rag_server.client import Client

    with Client(server.address) as client:
        outcome = client.patch(MODEL, no_check=True)
    [block] = [b for b in outcome.inserted if b.name == "GhostModule"]
    assert block.keyword_flag_layers == {"relu": "act_layer"}, block
    assert "relu=False -> act_layer=nn.Identity" in block.keyword_edits.describe()
