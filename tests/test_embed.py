"""Embedder: the ONNX fast path gives the sentence-transformers vectors; shapes and
normalisation; the text built for a block carries its name, signature and docstring."""

import numpy as np
import pytest

from helpers_index import real_block
from indexer.embed import DIM, Embedder, block_text, embedder_version, split_identifier


@pytest.fixture(scope="module")
def onnx_embedder():
    return Embedder(backend="onnx")


def test_onnx_matches_sentence_transformers(onnx_embedder):
    texts = [
        "squeeze and excitation block",
        "x",
        block_text(real_block("timm.layers.mlp", "Mlp")),  # long: truncated at the window by both
        "class A(nn.Module):\n    def forward(self, x):\n        return x * 2",
    ]
    fast = onnx_embedder.encode(texts)
    reference = Embedder(backend="torch").encode(texts)
    cosines = (fast * reference).sum(axis=1)
    assert np.all(cosines > 1 - 1e-4), cosines
    assert onnx_embedder.version == Embedder(backend="torch").version == embedder_version()


def test_shapes_and_normalisation(onnx_embedder):
    out = onnx_embedder.encode([f"query number {i}" for i in range(40)], batch_size=16)
    assert out.shape == (40, DIM) and out.dtype == np.float32
    assert np.allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    # batching and ordering do not change a text's vector
    single = onnx_embedder.encode(["query number 7"])[0]
    assert float(single @ out[7]) > 1 - 1e-5
    assert onnx_embedder.encode([]).shape == (0, DIM)
    with pytest.raises(TypeError, match="list of texts"):
        onnx_embedder.encode("not a list")
    with pytest.raises(ValueError, match="unknown embedding backend"):
        Embedder(backend="gpu")


def test_block_text_has_name_words_signature_docstring():
    block = real_block("timm.layers.squeeze_excite", "SEModule")
    text = block_text(block)
    assert text.startswith("SEModule (se module)")
    assert block.signature.split(",")[0] in text
    assert "class SEModule" in text
    assert len(text) < 4000


def test_split_identifier():
    assert split_identifier("SqueezeExcite") == ["squeeze", "excite"]
    assert split_identifier("conv_bn_act") == ["conv", "bn", "act"]
    assert split_identifier("MLPBlock") == ["mlp", "block"]
    assert split_identifier("ResNet50V2") == ["res", "net50", "v2"]


def test_texts_with_lone_surrogates_are_embedded_not_refused(onnx_embedder):
    """A file name that is not UTF-8 reaches Python as surrogate escapes (``caf\\udce9``); the tokenizer refused such
    a text with a TypeError that stopped the whole index. It is embedded with the surrogate written as an escape."""
    from indexer.embed import valid_text

    assert valid_text("caf\udce9.Cafe") == "caf\\udce9.Cafe" and valid_text("café") == "café"
    out = onnx_embedder.encode(["caf\udce9.Cafe", "ok"])
    assert out.shape == (2, DIM) and np.allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    assert float(out[0] @ onnx_embedder.encode_one("caf\\udce9.Cafe")) > 1 - 1e-5
