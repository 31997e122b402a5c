# undefined: Embeddings, SublayerConnection, subsequent_mask
# input: 2,16 int64
import math
import copy
import torch
import torch.nn as nn
import torch.nn.functional as F


class SelfAttention(nn.Module):
    def __init__(self, h, d_model, dropout=0.1):
        super().__init__()
        assert d_model % h == 0
        self.d_k = d_model // h
        self.h = h
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)
        self.dropout = nn.Dropout(p=dropout)

    def forward(self, x, mask=None):
        nb, T, _ = x.shape
        q, k, v = self.qkv(x).view(nb, T, 3, self.h, self.d_k).permute(2, 0, 3, 1, 4)
        scores = torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(self.d_k)
        if mask is not None:
            scores = scores.masked_fill(mask.unsqueeze(1) == 0, -1e9)
        p_attn = self.dropout(scores.softmax(dim=-1))
        out = torch.matmul(p_attn, v).transpose(1, 2).contiguous().view(nb, T, self.h * self.d_k)
        return self.out(out)


class DecoderOnlyLayer(nn.Module):
    def __init__(self, size, h, d_ff, dropout):
        super().__init__()
        self.self_attn = SelfAttention(h, size, dropout)
        self.feed_forward = nn.Sequential(nn.Linear(size, d_ff), nn.ReLU(), nn.Dropout(dropout), nn.Linear(d_ff, size))
        self.sublayer = nn.ModuleList([copy.deepcopy(SublayerConnection(size, dropout)) for _ in range(2)])
        self.size = size

    def forward(self, x, mask):
        x = self.sublayer[0](x, lambda x: self.self_attn(x, mask))
        return self.sublayer[1](x, self.feed_forward)


class Net(nn.Module):
    def __init__(self, vocab=1000, d_model=128, N=2, h=4, d_ff=256, dropout=0.1, max_len=512, num_classes=10):
        super().__init__()
        self.embed = Embeddings(d_model, vocab)
        self.pos = nn.Parameter(torch.zeros(1, max_len, d_model))
        nn.init.normal_(self.pos, std=0.02)
        self.layers = nn.ModuleList([DecoderOnlyLayer(d_model, h, d_ff, dropout) for _ in range(N)])
        self.norm = nn.LayerNorm(d_model)
        self.proj = nn.Linear(d_model, num_classes)

    def forward(self, src):
        T = src.size(1)
        mask = subsequent_mask(T).to(src.device)
        x = self.embed(src) + self.pos[:, :T]
        for layer in self.layers:
            x = layer(x, mask)
        x = self.norm(x)
        return self.proj(x[:, -1])
