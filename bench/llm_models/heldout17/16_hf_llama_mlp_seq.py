# undefined: LlamaMLP, LlamaRMSNorm
# input: 2,16 int64
from types import SimpleNamespace

import torch
import torch.nn as nn


class DecoderLayer(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.input_layernorm = LlamaRMSNorm(config.hidden_size, eps=config.rms_norm_eps)
        self.self_attn = nn.MultiheadAttention(config.hidden_size, config.num_attention_heads,
                                               dropout=config.attention_dropout, bias=False, batch_first=True)
        self.post_attention_layernorm = LlamaRMSNorm(config.hidden_size, eps=config.rms_norm_eps)
        self.mlp = LlamaMLP(config)

    def forward(self, hidden_states, attn_mask=None):
        residual = hidden_states
        h = self.input_layernorm(hidden_states)
        h, _ = self.self_attn(h, h, h, attn_mask=attn_mask, need_weights=False)
        hidden_states = residual + h
        residual = hidden_states
        hidden_states = self.post_attention_layernorm(hidden_states)
        return residual + self.mlp(hidden_states)


class Net(nn.Module):
    """Tiny Llama-style causal LM backbone with a sequence-classification head (last token)."""

    def __init__(self, num_classes=10, vocab_size=1000, hidden_size=128, intermediate_size=344,
                 num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=64):
        super().__init__()
        self.config = SimpleNamespace(
            vocab_size=vocab_size, hidden_size=hidden_size, intermediate_size=intermediate_size,
            num_hidden_layers=num_hidden_layers, num_attention_heads=num_attention_heads,
            hidden_act="silu", rms_norm_eps=1e-6, attention_dropout=0.0, mlp_bias=False,
            max_position_embeddings=max_position_embeddings, pad_token_id=0,
        )
        self.embed_tokens = nn.Embedding(vocab_size, hidden_size, padding_idx=0)
        self.embed_positions = nn.Embedding(max_position_embeddings, hidden_size)
        self.layers = nn.ModuleList([DecoderLayer(self.config) for _ in range(num_hidden_layers)])
        self.norm = LlamaRMSNorm(hidden_size, eps=self.config.rms_norm_eps)
        self.score = nn.Linear(hidden_size, num_classes, bias=False)

    def forward(self, input_ids):
        b, t = input_ids.shape
        pos = torch.arange(t, device=input_ids.device)
        h = self.embed_tokens(input_ids) + self.embed_positions(pos)[None]
        causal = torch.triu(torch.ones(t, t, dtype=torch.bool, device=input_ids.device), diagonal=1)
        for layer in self.layers:
            h = layer(h, attn_mask=causal)
        h = self.norm(h)
        return self.score(h[:, -1])
