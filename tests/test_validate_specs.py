"""indexer.validate: the constructor arguments a block is validated with, checked in a real sandbox.

LEMUR models get the LEMUR contract (as ``nnrag check`` does), config objects read through
attributes get a config, and backbone wrappers are built with their pretrained weights off.
"""

import textwrap

import pytest

from corpus.records import Provenance
from indexer.examples import CallSiteIndex
from indexer.records import Block
from indexer.validate import STAGES, build_spec, validate_blocks
from sandbox.pool import CheckerPool

HEADER = "import torch\nfrom torch import nn\n\n"


def _block(name: str, body: str, header: str = HEADER) -> Block:
    prov = Provenance(source="dir:/fixture", package="fixture", version="0", path="fixture/m.py", module="fixture.m")
    return Block(name=name, qualified_name=f"fixture.m.{name}", code=header + textwrap.dedent(body), provenances=[prov])


@pytest.fixture(scope="module")
def pool():
    with CheckerPool(size=2, preload=("torch", "torchvision", "timm")) as p:
        yield p


def _assert_passed(*blocks: Block) -> None:
    for block in blocks:
        assert all(block.passed(s) for s in STAGES), (block.name, block.validation)


LEMUR_NET = """
def supported_hyperparameters():
    return {"lr", "momentum", "dropout"}


class Net(nn.Module):
    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.device = device
        self.features = nn.Sequential(nn.Conv2d(in_shape[1], 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1))
        self.drop = nn.Dropout(prm["dropout"])
        self.fc = nn.Linear(8, out_shape[0])
        self.to(device)

    def train_setup(self, prm):
        self.optimizer = torch.optim.SGD(self.parameters(), lr=prm["lr"], momentum=prm["momentum"])

    def forward(self, x):
        return self.fc(self.drop(self.features(x).flatten(1)))
"""


def test_lemur_models_are_validated_with_the_lemur_contract(pool):
    block = _block("Net", LEMUR_NET)
    validate_blocks([block], pool, [])
    _assert_passed(block)
    in_shape, out_shape, prm, device = block.example.init_args  # the stored example is the contract's call
    assert in_shape[1] == 3 and out_shape == [10] and device == "cpu"
    assert {"lr", "momentum", "dropout"} <= set(prm) and block.example.inputs == [in_shape]


def test_blocks_without_the_lemur_contract_keep_their_guessed_arguments():
    spec = build_spec(_block("Stem", """
        class Stem(nn.Module):
            def __init__(self, in_shape, out_chs):
                super().__init__()
                self.conv = nn.Conv2d(in_shape[0], out_chs, 3)
    """), CallSiteIndex())
    assert spec.example is not None and set(spec.example.init_kwargs) == {"in_shape", "out_chs"}
    lemur = build_spec(_block("Net", LEMUR_NET), CallSiteIndex())
    assert lemur.example is None and lemur.candidates == []  # the sandbox supplies the contract


NANOGPT = """
class SelfAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        assert config.n_embd % config.n_head == 0
        self.qkv = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.drop = nn.Dropout(config.dropout)
        self.n_head = config.n_head
        self.register_buffer("mask", torch.tril(torch.ones(config.block_size, config.block_size)))

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        att = (q @ k.transpose(-2, -1)).masked_fill(self.mask[:T, :T] == 0, float("-inf")).softmax(-1)
        return self.drop(self.proj((att @ v).transpose(1, 2).reshape(B, T, C)))


class Block(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.ln = nn.LayerNorm(config.n_embd)
        self.attn = SelfAttention(config)

    def forward(self, x):
        return x + self.attn(self.ln(x))


class TinyGPT(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.wpe = nn.Embedding(config.block_size, config.n_embd)
        self.blocks = nn.ModuleList([Block(config) for _ in range(config.n_layer)])
        self.head = nn.Linear(config.n_embd, config.vocab_size, bias=False)

    def forward(self, idx):
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
        for block in self.blocks:
            x = block(x)
        return self.head(x)
"""

LLAMA = """
from dataclasses import dataclass


@dataclass
class ModelArgs:
    dim: int = 4096
    n_layers: int = 32
    n_heads: int = 32
    vocab_size: int = -1
    norm_eps: float = 1e-5
    max_seq_len: int = 2048


class Layer(nn.Module):
    def __init__(self, layer_id: int, args: ModelArgs):
        super().__init__()
        self.head_dim = args.dim // args.n_heads
        self.norm = nn.LayerNorm(args.dim, eps=args.norm_eps)
        self.ff = nn.Linear(args.dim, args.dim)

    def forward(self, x):
        return x + self.ff(self.norm(x))


class Transformer(nn.Module):
    def __init__(self, params: ModelArgs):
        super().__init__()
        self.tok = nn.Embedding(params.vocab_size, params.dim)
        self.layers = nn.ModuleList([Layer(i, params) for i in range(params.n_layers)])
        self.out = nn.Linear(params.dim, params.vocab_size)

    def forward(self, tokens):
        h = self.tok(tokens)
        for layer in self.layers:
            h = layer(h)
        return self.out(h)
"""

HF_STYLE = """
class Encoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.attn = nn.MultiheadAttention(cfg.hidden_size, cfg.num_attention_heads, dropout=cfg.attention_dropout, batch_first=True)
        self.norm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.mlp = nn.Sequential(nn.Linear(cfg.hidden_size, cfg.intermediate_size), nn.GELU(),
                                 nn.Linear(cfg.intermediate_size, cfg.hidden_size))
        self.layers = nn.ModuleList([nn.Linear(cfg.hidden_size, cfg.hidden_size) for _ in range(cfg.num_hidden_layers)])

    def forward(self, x):
        x = x + self.attn(x, x, x)[0]
        for layer in self.layers:
            x = layer(x)
        return self.norm(x + self.mlp(x))
"""


def test_config_objects_read_through_attributes_get_a_config(pool):
    gpt = [_block(name, NANOGPT) for name in ("SelfAttention", "Block", "TinyGPT")]
    llama = _block("Transformer", LLAMA)
    hf = _block("Encoder", HF_STYLE)
    validate_blocks([*gpt, llama, hf], pool, [])
    _assert_passed(*gpt, llama, hf)
    assert gpt[2].example.input_dtypes == ["int64"]  # token ids for the embedding-first model
    assert llama.example.init_kwargs["params"]["__expr__"].startswith("ModelArgs(")  # the code's own config class


BACKBONES = """
import torch.nn as nn
import torchvision
import timm


class Backbone(nn.Module):
    def __init__(self, pretrained=True, num_classes=10):
        super().__init__()
        self.body = torchvision.models.resnet18(weights="DEFAULT" if pretrained else None)
        self.body.fc = nn.Linear(512, num_classes)

    def forward(self, x):
        return self.body(x)


class TimmBackbone(nn.Module):
    def __init__(self, name="resnet18", pretrained=True):
        super().__init__()
        self.m = timm.create_model(name, pretrained=pretrained, num_classes=0)

    def forward(self, x):
        return self.m(x)


class Detector(nn.Module):
    def __init__(self, weights_backbone="IMAGENET1K_V1"):
        super().__init__()
        self.body = torchvision.models.mobilenet_v3_small(weights=weights_backbone).features

    def forward(self, x):
        return self.body(x)
"""


def test_backbone_wrappers_are_validated_without_pretrained_weights(pool):
    blocks = [_block(name, BACKBONES, header="") for name in ("Backbone", "TimmBackbone", "Detector")]
    validate_blocks(blocks, pool, [])
    _assert_passed(*blocks)
    assert blocks[0].example.init_kwargs["pretrained"] is False
    assert blocks[2].example.init_kwargs["weights_backbone"] is None
