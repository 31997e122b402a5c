"""A new embedder (another token window or model) re-embeds every block of an existing
store but keeps its validation results: nothing goes to the sandbox again. A new validator
version is the other way round: every block is checked again, vectors are kept."""

import numpy as np
import pytest

from indexer.build import build_index
from indexer.embed import Embedder
from indexer.store import BlockStore
from sandbox.pool import CheckerPool

BLOCKS = '''
import torch
from torch import nn


class Gate(nn.Module):
    """Rescale channels by a sigmoid gate computed from globally pooled features."""

    def __init__(self, channels: int = 8):
        super().__init__()
        self.fc = nn.Conv2d(channels, channels, 1)

    def forward(self, x):
        return x * torch.sigmoid(self.fc(x.mean((2, 3), keepdim=True)))


class Stem(nn.Module):
    """Convolution, batch norm and ReLU on the input image."""

    def __init__(self, in_chs: int = 3, out_chs: int = 8):
        super().__init__()
        self.conv = nn.Conv2d(in_chs, out_chs, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(out_chs)

    def forward(self, x):
        return torch.relu(self.bn(self.conv(x)))
'''


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("reembed")
    pkg = root / "src" / "gatepkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "blocks.py").write_text(BLOCKS)
    with CheckerPool(size=1, preload=("torch",)) as pool:
        yield {"specs": [f"dir:{root / 'src'}"], "store": root / "store", "cache": root / "cache", "pool": pool}


def test_new_embedder_reembeds_without_revalidating(env):
    wide, default = Embedder(max_tokens=64), Embedder()
    build = lambda embedder: build_index(env["specs"], env["store"], cache_dir=env["cache"], pool=env["pool"], embedder=embedder)  # noqa: E731
    first = build(wide)
    assert first.validated == first.unique == 2 and first.passed["backward"] == 2
    old = BlockStore(env["store"], embedder=wide)
    old_vectors = {old.block_by_id(i).name: old.vectors([i])[0] for i in range(len(old))}

    again = build(default)
    assert not again.up_to_date
    assert again.validated == 0 and again.validation_reused == 2  # nothing sent to the sandbox
    assert again.embedded == 2 and again.embeddings_reused == 0
    assert again.passed["backward"] == 2
    new = BlockStore(env["store"], embedder=default)
    assert new.embedder_version == default.version != wide.version
    for i in range(len(new)):
        block = new.block_by_id(i)
        assert block.passed("backward") and block.example is not None
        vector = new.vectors([i])[0]
        assert np.allclose(vector, default.encode_blocks([block])[0], atol=1e-5)  # the new embedder's vector
        assert float(vector @ old_vectors[block.name]) < 1 - 1e-4  # not the old one carried over
    assert new.search("rescale channels with a gate from pooled features", k=1)[0].block.name == "Gate"

    assert build(default).up_to_date  # and with the same embedder again, nothing to do


def test_new_validator_version_revalidates_without_reembedding(env, monkeypatch):
    import indexer.validate

    build = lambda: build_index(env["specs"], env["store"], cache_dir=env["cache"], pool=env["pool"])  # noqa: E731
    build()
    assert build().up_to_date
    assert BlockStore(env["store"]).meta["validator_version"] == indexer.validate.VALIDATOR_VERSION
    monkeypatch.setattr(indexer.validate, "VALIDATOR_VERSION", indexer.validate.VALIDATOR_VERSION + "-next")
    again = build()
    assert not again.up_to_date
    assert again.validated == 2 and again.validation_reused == 0  # both blocks went to the sandbox again
    assert again.embedded == 0 and again.embeddings_reused == 2
    assert again.passed["backward"] == 2
    assert BlockStore(env["store"]).meta["validator_version"].endswith("-next")
    assert build().up_to_date  # judged by this version now: nothing to do


def test_new_miner_version_mines_every_source_again_and_keeps_unchanged_blocks(env, monkeypatch):
    """A closure fix reaches an existing store: its sources are mined again though their files did not change; blocks
    whose code comes out the same keep their verdicts and vectors."""
    import indexer.mine

    build = lambda: build_index(env["specs"], env["store"], cache_dir=env["cache"], pool=env["pool"])  # noqa: E731
    build()
    assert build().up_to_date
    assert BlockStore(env["store"]).meta["miner_version"] == indexer.mine.MINER_VERSION
    monkeypatch.setattr(indexer.mine, "MINER_VERSION", indexer.mine.MINER_VERSION + "-next")
    again = build()
    assert not again.up_to_date and not any(s.reused for s in again.sources)
    assert again.mined == 2 and again.validated == 0 and again.validation_reused == 2
    assert again.embedded == 0 and again.embeddings_reused == 2 and again.passed["backward"] == 2
    assert BlockStore(env["store"]).meta["miner_version"].endswith("-next")
    assert build().up_to_date
