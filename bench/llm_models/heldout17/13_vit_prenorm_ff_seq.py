# undefined: PreNorm, FeedForward
# input: 2,16 int64
import torch
import torch.nn as nn


class TokenSelfAttention(nn.Module):
    def __init__(self, dim, heads=4, dropout=0.):
        super().__init__()
        self.attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)

    def forward(self, x, key_padding_mask=None):
        out, _ = self.attn(x, x, x, key_padding_mask=key_padding_mask, need_weights=False)
        return out


class Net(nn.Module):
    """Pre-norm transformer encoder for token-sequence classification (e.g. short text, 10 classes)."""

    def __init__(self, num_classes=10, vocab_size=1000, max_len=64, dim=128, depth=3, heads=4,
                 mlp_dim=256, dropout=0.1, pad_idx=0):
        super().__init__()
        self.pad_idx = pad_idx
        self.tok_emb = nn.Embedding(vocab_size, dim, padding_idx=pad_idx)
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
        self.pos_emb = nn.Parameter(torch.randn(1, max_len + 1, dim) * 0.02)
        self.dropout = nn.Dropout(dropout)
        self.layers = nn.ModuleList([])
        for _ in range(depth):
            self.layers.append(nn.ModuleList([
                PreNorm(dim, TokenSelfAttention(dim, heads=heads, dropout=dropout)),
                PreNorm(dim, FeedForward(dim, mlp_dim, dropout=dropout)),
            ]))
        self.mlp_head = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, num_classes))

    def forward(self, tokens):
        b, n = tokens.shape
        pad_mask = tokens == self.pad_idx
        pad_mask = torch.cat([torch.zeros(b, 1, dtype=torch.bool, device=tokens.device), pad_mask], dim=1)
        x = self.tok_emb(tokens)
        x = torch.cat([self.cls_token.expand(b, -1, -1), x], dim=1)
        x = self.dropout(x + self.pos_emb[:, :n + 1])
        for attn, ff in self.layers:
            x = attn(x, key_padding_mask=pad_mask) + x
            x = ff(x) + x
        return self.mlp_head(x[:, 0])
