"""Block store: round-trip, symbol lookup, hybrid search by meaning on real blocks,
filters, atomic publish (a killed writer leaves the old version readable)."""

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from helpers_index import ok_validation, real_block, real_blocks
from indexer.build import store_blocks
from corpus.records import Provenance
from indexer.embed import Embedder
from indexer.records import Block
from indexer.store import BlockStore, StoreError, read_current


@pytest.fixture(scope="module")
def embedder():
    return Embedder()


@pytest.fixture(scope="module")
def store(tmp_path_factory, embedder):
    blocks = real_blocks()
    # a second block named Mlp that only imports: the best-validated one must win
    weak = real_block("timm.layers.mlp", "Mlp", source="pkg:other", validation=ok_validation("import"))
    weak.qualified_name = "other.layers.Mlp"
    weak.code += "\n\nEXTRA = 1\n"
    blocks.insert(0, weak)
    path = tmp_path_factory.mktemp("store")
    store_blocks(blocks, path, embedder=embedder)
    return BlockStore(path, embedder=embedder)


def test_round_trip_keeps_every_field(tmp_path, embedder):
    original = real_block("torchvision.ops.misc", "SqueezeExcitation", validation=ok_validation())
    from sandbox.spec import Example

    original.example = Example(init_args=[16, 4], init_kwargs={"scale_activation": {"__expr__": "nn.Hardsigmoid"}}, inputs=[[2, 16, 8, 8]])
    original.params, original.flops, original.missing_deps, original.unresolved = 1234, 5678, ["einops"], ["helper"]
    store_blocks([original], tmp_path, embedder=embedder)
    back = BlockStore(tmp_path, embedder=embedder).get("SqueezeExcitation")
    assert back is not None
    assert back.to_dict() == original.to_dict()


def test_get_by_name_qualified_name_and_hash(store):
    by_name = store.get("Mlp")
    assert by_name.qualified_name == "timm.layers.mlp.Mlp"  # validated through backward beats import-only
    assert store.get("other.layers.Mlp").qualified_name == "other.layers.Mlp"
    assert store.get(by_name.content_hash[:12]).content_hash == by_name.content_hash
    assert store.get("NoSuchBlock") is None
    assert [b.qualified_name for b in store.blocks_named("Mlp")] == ["timm.layers.mlp.Mlp", "other.layers.Mlp"]
    assert store.alternatives(by_name) == ["other.layers.Mlp"]


def test_get_reads_a_qualified_or_case_insensitive_name_as_the_symbol_lookup_does(store):
    """Search's symbol lookup resolves ``timm.layers.SEModule`` and ``semodule``: GetBlock (``get``) must open the same
    block, the best validated of a shared name, and still find nothing where several classes match."""
    for key in ("timm.layers.SEModule", "semodule", "SEMODULE", "timm.layers.squeeze_excite.semodule"):
        assert [h.block.name for h in store.lookup_symbol(key, k=1)] == ["SEModule"], key
        got = store.get(key)
        assert got is not None and got.qualified_name == "timm.layers.squeeze_excite.SEModule", key
    assert store.get("mlp").qualified_name == "timm.layers.mlp.Mlp"  # two blocks of one class: the best validated
    assert store.get("timm.layers.Mlp").qualified_name == "timm.layers.mlp.Mlp"
    assert store.get("nn.Linear") is None and store.get("torchvision.layers.SEModule") is None  # qualifier does not fit
    assert store.get("drop") is None and store.get("se_module") is None  # a prefix, a normalised spelling: not one name


def test_symbol_lookup_exact_normalized_prefix(store):
    exact = store.lookup_symbol("DropPath")
    assert (exact[0].block.name, exact[0].match) == ("DropPath", "exact")
    norm = store.lookup_symbol("drop_path")
    assert (norm[0].block.name, norm[0].match) == ("DropPath", "normalized")
    prefix = store.lookup_symbol("Drop")
    assert {h.block.name for h in prefix} == {"DropPath", "DropBlock2d"}
    assert all(h.match == "prefix" for h in prefix)
    assert store.lookup_symbol("Zzz") == []
    assert len(store.lookup_symbol("", k=3)) == 0


def test_initials_lookup(store):
    assert {h.block.name for h in store.lookup_initials("SE")} == {"SqueezeExcitation"}
    assert [h.block.name for h in store.lookup_initials("sd")] == ["StochasticDepth"]
    assert store.lookup_initials("XYZ") == [] and store.lookup_initials("") == []


@pytest.mark.parametrize(
    "query, expected",
    [
        ("channel attention that squeezes spatial dims and rescales channels", {"SqueezeExcitation", "SEModule"}),
        ("randomly drop whole residual paths during training", {"DropPath", "StochasticDepth"}),
        ("split an image into patches and project them to embeddings", {"PatchEmbed"}),
        ("recurrent network with long short-term memory cells", {"LSTM"}),
        ("mobile inverted residual block with depthwise convolution", {"InvertedResidual"}),
    ],
)
def test_hybrid_search_finds_block_by_meaning(store, query, expected):
    hits = store.search(query, k=3)
    assert hits[0].block.name in expected, [h.block.name for h in hits]
    assert hits[0].score >= hits[-1].score


def test_search_by_identifier_words_and_filters(store):
    hits = store.search("BasicBlock", k=2)
    assert hits[0].block.name == "BasicBlock" and hits[0].match in ("hybrid", "lexical")
    lexical = store.search("BasicBlock", k=2, mode="lexical")  # BM25 and the exact name: both lexical, not "hybrid"
    assert lexical[0].block.name == "BasicBlock" and {h.match for h in lexical} == {"lexical"}
    only_tv = store.search("attention", k=20, sources=["pkg:torchvision"])
    assert only_tv and all("pkg:torchvision" in {p.source for p in h.block.provenances} for h in only_tv)
    assert [h.block.qualified_name for h in store.search("attention", k=20, sources=["torchvision"])] == [h.block.qualified_name for h in only_tv]
    with pytest.raises(ValueError, match="source 'tiimm' is not in this store; this store holds: .*pkg:torchvision"):
        store.search("attention", sources=["tiimm"])
    forward_only = store.search("multi layer perceptron", k=20, min_stage="forward")
    assert "other.layers.Mlp" not in {h.block.qualified_name for h in forward_only}
    with pytest.raises(ValueError, match="unknown stage"):
        store.search("x", min_stage="fly")
    with pytest.raises(ValueError, match="k must be"):
        store.search("x", k=0)
    with pytest.raises(ValueError, match="empty query"):
        store.search("   ")


def test_stats_counts(store):
    stats = store.stats()
    assert stats["blocks"] == len(real_blocks()) + 1
    assert stats["by_stage"]["import"] == stats["blocks"]
    assert stats["by_stage"]["backward"] == stats["blocks"] - 1
    assert stats["by_source"]["pkg:other"]["blocks"] == 1
    assert stats["embedder_version"].startswith("all-MiniLM-L6-v2@")


def test_missing_store_is_a_clear_error(tmp_path):
    with pytest.raises(StoreError, match="no index"):
        BlockStore(tmp_path / "nothing")


def test_killed_writer_leaves_previous_version_usable(tmp_path, embedder):
    store_blocks([real_block("timm.layers.drop", "DropPath", validation=ok_validation())], tmp_path, embedder=embedder)
    before = read_current(tmp_path)
    # a writer in another process that stalls between adding blocks and publishing
    script = textwrap.dedent(
        f"""
        import sys, time, numpy as np
        sys.path.insert(0, {str(os.path.dirname(__file__))!r})
        from helpers_index import real_block
        from indexer.dedup import hash_block
        from indexer.store import StoreWriter
        w = StoreWriter({str(tmp_path)!r}, "test")
        b = hash_block(real_block("timm.layers.mlp", "Mlp"))
        w.add([b], np.ones((1, 384), np.float32))
        print("written", flush=True)
        time.sleep(60)
        w.publish()
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "written"
        assert list((tmp_path / "versions").glob("*.partial"))
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert read_current(tmp_path) == before
    store = BlockStore(tmp_path, embedder=embedder)
    assert store.all_names() == ["DropPath"]
    assert store.search("drop path", k=1)[0].block.name == "DropPath"
    # the next build cleans the leftover partial version and publishes
    store_blocks([real_block("timm.layers.mlp", "Mlp", validation=ok_validation())], tmp_path, embedder=embedder)
    assert not list((tmp_path / "versions").glob("*.partial"))
    assert BlockStore(tmp_path, embedder=embedder).all_names() == ["Mlp"]
    # an open reader keeps answering from its version after a new publish
    assert store.get("DropPath") is not None


def test_code_words_put_the_block_class_first_and_respect_the_limit():
    from indexer.lexical import code_words

    helper = "\n".join(f"def helper_{i}(x):\n    return x.alpha_{i} + beta_{i}\n" for i in range(30))
    code = f"import torch\n\n{helper}\n\nclass Squeeze(torch.nn.Module):\n    def forward(self, x):\n        return self.excite_gate(x)\n"
    full = code_words(code, name="Squeeze").split()
    assert {"excite", "gate", "alpha", "beta"} <= set(full)
    assert len(full) == len(set(full))  # distinct words
    short = code_words(code, limit=6, name="Squeeze").split()
    assert len(short) == 6 and {"excite", "gate"} <= set(short) and not {"alpha", "beta"} & set(short)  # the class's own words survive the cut
    assert code_words("def broken(:\n  pass", name="X")  # unparsable code still gives words, no crash


def _synthetic_block(name: str, source: str, doc: str, validation: dict) -> Block:
    code = f'import torch\nfrom torch import nn\n\n\nclass {name}(nn.Module):\n    """{doc}"""\n\n    def forward(self, x):\n        return x\n'
    prov = Provenance(source=source, package=source.split(":")[1], version="test", path=f"{name}.py", module=name.lower(),
                      line_start=5, line_end=9, qualified_name=f"{name.lower()}.{name}")
    return Block(name=name, qualified_name=f"{name.lower()}.{name}", code=code, provenances=[prov], docstring=doc, validation=validation)


def test_filtered_search_fills_k_from_a_small_source_and_ranks_the_same_for_any_k(tmp_path, embedder):
    # 450 convolution blocks of a big source, 15 recurrent ones of a small source: a convolution query filtered to the
    # small source finds its blocks only at the bottom of the nearest-neighbour ranking (it used to stop at depth 400)
    blocks = [_synthetic_block(f"ConvUnit{i}", "pkg:big", f"convolution block {i} with batch norm and relu", ok_validation())
              for i in range(450)]
    blocks += [_synthetic_block(f"RecurrentCell{i}", "pkg:small", f"recurrent gated cell {i} over a sequence",
                                ok_validation("forward" if i % 2 else "backward")) for i in range(15)]
    store_blocks(blocks, tmp_path, embedder=embedder)
    store = BlockStore(tmp_path, embedder=embedder)
    hits = store.search("convolution block with batch norm", k=10, sources=["pkg:small"])
    assert len(hits) == 10 and all(h.block.name.startswith("RecurrentCell") for h in hits)
    top5 = store.search("convolution block with batch norm", k=5, sources=["pkg:small"])
    assert [h.block.name for h in top5] == [h.block.name for h in hits[:5]]
    backward = store.search("convolution block with batch norm", k=10, sources=["pkg:small"], min_stage="backward")
    assert len(backward) == 8 and all(h.block.passed("backward") for h in backward)


def _get_in_a_new_thread(store: BlockStore, name: str) -> Block | None:
    import threading

    found: list = []
    thread = threading.Thread(target=lambda: found.append(store.get(name)))
    thread.start()
    thread.join()
    return found[0]


def test_a_version_an_open_reader_serves_outlives_later_publishes(tmp_path, embedder):
    import gc

    store_blocks([real_block("timm.layers.drop", "DropPath", validation=ok_validation())], tmp_path, embedder=embedder)
    reader = BlockStore(tmp_path, embedder=embedder)
    for name in ("Mlp", "DropBlock2d"):  # two more versions: the first is past keep_versions=2
        module = "timm.layers.mlp" if name == "Mlp" else "timm.layers.drop"
        store_blocks([real_block(module, name, validation=ok_validation())], tmp_path, embedder=embedder)
    assert reader.version_dir.is_dir()
    found = _get_in_a_new_thread(reader, "DropPath")  # a thread with no SQLite connection yet
    assert found is not None and found.name == "DropPath"
    held = reader.version_dir
    del reader
    gc.collect()
    store_blocks([real_block("timm.layers.mlp", "Mlp", validation=ok_validation())], tmp_path, embedder=embedder)
    assert not held.exists()  # once no reader holds it, the next publish prunes it


def test_pruning_keeps_the_two_newest_versions_even_within_one_second(tmp_path, embedder):
    made = []
    for name in ("DropPath", "DropBlock2d", "DropPath", "DropBlock2d"):  # four builds, well within a few seconds
        store_blocks([real_block("timm.layers.drop", name, validation=ok_validation())], tmp_path, embedder=embedder)
        made.append(read_current(tmp_path).name)
    left = sorted(p.name for p in (tmp_path / "versions").iterdir())
    assert left == made[-2:]  # names sort in the order the versions were made


def _damage(version_dir, how: str) -> str:
    """Break one file of a published version as a bad copy, a full disk or a stray delete would; returns its name."""
    db, vectors = version_dir / "blocks.sqlite", version_dir / "vectors.faiss"
    if how == "no vectors":
        vectors.unlink()
        return vectors.name
    if how == "short vectors":
        vectors.write_bytes(vectors.read_bytes()[:100])
        return vectors.name
    data = db.read_bytes()
    db.write_bytes(data[: len(data) // 2] if how == "half db" else data[:-4096])  # "last page": the header still reads
    return db.name


@pytest.mark.parametrize("how", ["no vectors", "short vectors", "half db", "last page"])
def test_a_damaged_version_is_a_clear_error_naming_the_file(tmp_path, embedder, how):
    """A truncated blocks.sqlite or a missing vectors.faiss was a DatabaseError or FAISS RuntimeError traceback from
    every command (search, stats, even index --force): now a StoreError names the store, the file and the rebuild."""
    store_blocks(real_blocks()[:3], tmp_path, embedder=embedder)
    broken = _damage(read_current(tmp_path), how)
    with pytest.raises(StoreError) as err:
        BlockStore(tmp_path, embedder=embedder)
    message = str(err.value)
    assert f"store {tmp_path} is damaged" in message and f"{read_current(tmp_path) / broken} cannot be read" in message, message
    assert f"nnrag index --force --store {tmp_path}" in message and "\n" not in message
