"""Dedup: content hash ignores comments/docstrings/formatting, structural hash ignores
local names, merge keeps every provenance, MinHash groups near-duplicates."""

import pytest

from corpus.records import Provenance
from indexer.dedup import content_hash, merge_duplicates, near_duplicate_groups, struct_hash
from indexer.records import Block

BASE = '''
import torch
from torch import nn


class SEBlock(nn.Module):
    """Squeeze and excite."""

    def __init__(self, channels, reduction=16):
        super().__init__()
        self.fc1 = nn.Conv2d(channels, channels // reduction, 1)
        self.fc2 = nn.Conv2d(channels // reduction, channels, 1)

    def forward(self, x):
        s = x.mean((2, 3), keepdim=True)
        return x * torch.sigmoid(self.fc2(torch.relu(self.fc1(s))))
'''

REFORMATTED = '''
import torch
from torch import nn
class SEBlock(nn.Module):
    # a comment that changes nothing
    def __init__(self, channels, reduction = 16):
        super( ).__init__()
        self.fc1 = nn.Conv2d(channels,
                             channels // reduction, 1)
        self.fc2 = nn.Conv2d(channels // reduction, channels, 1)
    def forward(self, x):
        """Another docstring."""
        s = x.mean((2, 3), keepdim=True)  # squeeze
        return x * torch.sigmoid(self.fc2(torch.relu(self.fc1(s))))
'''

RENAMED = BASE.replace("SEBlock", "SqueezeExcite").replace("channels", "chs").replace("fc1", "reduce").replace("fc2", "expand").replace("s = ", "pooled = ").replace("(s)", "(pooled)")


def _block(code: str, name: str, source: str, path: str) -> Block:
    prov = Provenance(source=source, package=source.split(":")[1], version="1", path=path, module=path[:-3].replace("/", "."), qualified_name=name)
    return Block(name=name.rsplit(".", 1)[-1], qualified_name=name, code=code, provenances=[prov])


def test_content_hash_ignores_comments_docstrings_formatting():
    assert content_hash(BASE) == content_hash(REFORMATTED)
    assert content_hash(BASE) != content_hash(BASE.replace("reduction=16", "reduction=8"))


def test_struct_hash_ignores_local_names_but_not_library_calls():
    assert content_hash(BASE) != content_hash(RENAMED)
    assert struct_hash(BASE) == struct_hash(RENAMED)
    assert struct_hash(BASE) != struct_hash(BASE.replace("nn.Conv2d", "nn.Conv1d"))
    assert struct_hash(BASE) != struct_hash(BASE.replace("torch.sigmoid", "torch.tanh"))


def test_hash_rejects_code_that_does_not_parse():
    with pytest.raises(ValueError, match="does not parse"):
        content_hash("class X(:\n")


def test_merge_keeps_one_block_with_all_provenances():
    a = _block(BASE, "pkg_a.se.SEBlock", "pkg:pkg_a", "pkg_a/se.py")
    b = _block(REFORMATTED, "pkg_b.layers.SEBlock", "pkg:pkg_b", "pkg_b/layers.py")
    c = _block(RENAMED, "pkg_b.other.SqueezeExcite", "pkg:pkg_b", "pkg_b/other.py")
    merged = merge_duplicates([a, b, c, _block(BASE, "pkg_a.se.SEBlock", "pkg:pkg_a", "pkg_a/se.py")])
    assert [m.qualified_name for m in merged] == ["pkg_a.se.SEBlock", "pkg_b.other.SqueezeExcite"]
    assert [p.source for p in merged[0].provenances] == ["pkg:pkg_a", "pkg:pkg_b"]  # the repeat is not added
    assert merged[0].struct_hash == merged[1].struct_hash


def test_near_duplicates_grouped_and_unrelated_kept_apart():
    variant = BASE.replace("s = x.mean((2, 3), keepdim=True)", "s = x.mean((2, 3), keepdim=True)\n        s = s * 1.0")
    other = '''
from torch import nn
class MLP(nn.Module):
    def __init__(self, d, hidden):
        super().__init__()
        self.a = nn.Linear(d, hidden)
        self.b = nn.Linear(hidden, d)
        self.drop = nn.Dropout(0.1)
    def forward(self, x):
        return self.drop(self.b(nn.functional.gelu(self.a(x))))
'''
    blocks = [_block(BASE, "a.SE", "pkg:a", "a.py"), _block(other, "b.MLP", "pkg:b", "b.py"), _block(variant, "c.SE2", "pkg:c", "c.py")]
    groups = near_duplicate_groups(blocks, threshold=0.7)
    assert groups == [[0, 2]]
