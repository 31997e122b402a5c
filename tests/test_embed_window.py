"""Embedder window and batching: the token window is part of the version, texts shorter
than the window embed the same under any window, a text's vector does not depend on the
texts batched with it, and batches respect the word-piece budget."""

import pytest

from helpers_index import real_block
from indexer.embed import MAX_BATCH_TOKENS, MAX_TOKENS, Embedder, _token_batches, block_text


@pytest.fixture(scope="module")
def embedders():
    return Embedder(), Embedder(max_tokens=256)


def test_window_is_part_of_the_version_and_cuts_long_texts_only(embedders):
    default, wide = embedders
    assert default.max_tokens == MAX_TOKENS < 256
    assert default.version.endswith(f"/{MAX_TOKENS}") and wide.version.endswith("/256")
    long_text = block_text(real_block("timm.layers.mlp", "Mlp"))
    assert len(default._tokenizer.encode(long_text).ids) == MAX_TOKENS  # filled and cut
    short = "squeeze and excitation channel attention"
    a, b = default.encode([long_text, short]), wide.encode([long_text, short])
    assert float(a[1] @ b[1]) > 1 - 1e-5  # under both windows: the same vector
    assert float(a[0] @ b[0]) < 1 - 1e-4  # the wider window read more of the code
    with pytest.raises(ValueError, match="max_tokens"):
        Embedder(max_tokens=512)


def test_vector_does_not_depend_on_batch_mates(embedders):
    default, _ = embedders
    texts = [block_text(real_block(m, n)) for m, n in (("timm.layers.mlp", "Mlp"), ("timm.layers.squeeze_excite", "SEModule"), ("torchvision.ops.misc", "SqueezeExcitation"))]
    texts += [f"query {i} about {w}" for i, w in enumerate(["attention", "pooling", "dropout", "norm"] * 6)]
    together = default.encode(texts)
    for i in (0, 2, 5):
        alone = default.encode([texts[i]])[0]
        assert float(alone @ together[i]) > 1 - 1e-5


@pytest.mark.parametrize("lengths, batch_size", [([5] * 70, 32), ([3, 10, 40, 190, 190, 192, 192, 192], 32), ([300, 400], 32), ([20] * 10, 4), ([], 8)])
def test_token_batches_cover_in_order_within_budget(lengths, batch_size):
    batches = _token_batches(lengths, batch_size)
    assert [p for b in batches for p in b] == list(range(len(lengths)))
    for batch in batches:
        assert 1 <= len(batch) <= batch_size
        longest = max(lengths[p] for p in batch)
        assert len(batch) == 1 or len(batch) * longest <= MAX_BATCH_TOKENS
    # greedy: a batch is closed only when the next text would break a limit
    for batch, nxt in zip(batches, batches[1:]):
        assert len(batch) == batch_size or (len(batch) + 1) * lengths[nxt[0]] > MAX_BATCH_TOKENS
