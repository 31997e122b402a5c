"""Model code shared by tests of different packages (the check, Patch)."""

from __future__ import annotations

# The PyTorch tutorial's sinusoidal PositionalEncoding; ``{added}`` is what forward adds to x: ``self.pe[:x.size(0)]``
# reads x as (sequence, batch, features), as the tutorial does; ``self.pe[:x.size(1)].transpose(0, 1)`` as (batch,
# sequence, features).
POSITIONAL_ENCODING = '''import math

import torch
import torch.nn as nn


class PositionalEncoding(nn.Module):
    def __init__(self, d_model, dropout=0.1, max_len=64):
        super().__init__()
        self.dropout = nn.Dropout(p=dropout)
        position = torch.arange(max_len).unsqueeze(1)
        div_term = torch.exp(torch.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))
        pe = torch.zeros(max_len, 1, d_model)
        pe[:, 0, 0::2] = torch.sin(position * div_term)
        pe[:, 0, 1::2] = torch.cos(position * div_term)
        self.register_buffer("pe", pe)

    def forward(self, x):
        return self.dropout(x + {added})
'''
SEQUENCE_FIRST = "self.pe[:x.size(0)]"
BATCH_FIRST = "self.pe[:x.size(1)].transpose(0, 1)"
