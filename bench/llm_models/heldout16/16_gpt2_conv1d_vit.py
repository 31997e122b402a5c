# undefined: Conv1D, NewGELUActivation
import math
import torch
import torch.nn as nn


class GPT2StyleAttention(nn.Module):
    def __init__(self, embed_dim, num_heads, dropout=0.0):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = embed_dim // num_heads
        self.c_attn = Conv1D(3 * embed_dim, embed_dim)
        self.c_proj = Conv1D(embed_dim, embed_dim)
        self.attn_dropout = nn.Dropout(dropout)
        self.resid_dropout = nn.Dropout(dropout)

    def _split_heads(self, t):
        B, N, _ = t.shape
        return t.view(B, N, self.num_heads, self.head_dim).permute(0, 2, 1, 3)

    def forward(self, x):
        q, k, v = self.c_attn(x).split(x.size(-1), dim=2)
        q, k, v = self._split_heads(q), self._split_heads(k), self._split_heads(v)
        w = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_dim)  # bidirectional, no mask
        w = self.attn_dropout(w.softmax(dim=-1))
        out = torch.matmul(w, v).permute(0, 2, 1, 3).contiguous()
        out = out.view(out.size(0), out.size(1), -1)
        return self.resid_dropout(self.c_proj(out))


class GPT2StyleMLP(nn.Module):
    def __init__(self, intermediate_size, embed_dim, dropout=0.0):
        super().__init__()
        self.c_fc = Conv1D(intermediate_size, embed_dim)
        self.c_proj = Conv1D(embed_dim, intermediate_size)
        self.act = NewGELUActivation()
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(self.act(self.c_fc(x))))


class GPT2StyleBlock(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.ln_1 = nn.LayerNorm(dim, eps=1e-5)
        self.attn = GPT2StyleAttention(dim, heads)
        self.ln_2 = nn.LayerNorm(dim, eps=1e-5)
        self.mlp = GPT2StyleMLP(4 * dim, dim)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class ImageGPT2Classifier(nn.Module):
    def __init__(self, num_classes=10, patch=4, n_embd=96, n_layer=4, n_head=4):
        super().__init__()
        n_pos = (32 // patch) ** 2
        self.wte = nn.Conv2d(3, n_embd, patch, patch)
        self.wpe = nn.Embedding(n_pos, n_embd)
        self.h = nn.ModuleList([GPT2StyleBlock(n_embd, n_head) for _ in range(n_layer)])
        self.ln_f = nn.LayerNorm(n_embd)
        self.score = nn.Linear(n_embd, num_classes, bias=False)

    def forward(self, x):
        x = self.wte(x).flatten(2).transpose(1, 2)
        pos = torch.arange(x.size(1), device=x.device)
        x = x + self.wpe(pos)[None]
        for block in self.h:
            x = block(x)
        return self.score(self.ln_f(x).mean(dim=1))
