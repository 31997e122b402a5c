# undefined: TokenEmbedding, PositionalEncoding, generate_square_subsequent_mask
# input: 2,16 int64
import math
import torch
import torch.nn as nn
from torch import Tensor


class Net(nn.Module):
    """Causal Transformer encoder over token ids (seq-first layout, as in the PyTorch
    'Language Translation with nn.Transformer' tutorial), last-token classification."""

    def __init__(self, in_shape=(1, 16), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        vocab_size = prm.get("vocab_size", 1000)
        emb_size = prm.get("emb_size", 128)
        nhead = prm.get("nhead", 4)
        num_layers = prm.get("num_layers", 2)
        dim_feedforward = prm.get("dim_feedforward", 256)
        dropout = prm.get("dropout", 0.1)

        self.src_tok_emb = TokenEmbedding(vocab_size, emb_size)
        self.positional_encoding = PositionalEncoding(emb_size, dropout=dropout)
        encoder_layer = nn.TransformerEncoderLayer(d_model=emb_size, nhead=nhead,
                                                   dim_feedforward=dim_feedforward, dropout=dropout)
        self.encoder = nn.TransformerEncoder(encoder_layer, num_layers=num_layers, enable_nested_tensor=False)
        self.generator = nn.Linear(emb_size, out_shape[0])

    def forward(self, src: Tensor) -> Tensor:
        src = src.transpose(0, 1)  # (N, S) -> (S, N)
        src_mask = generate_square_subsequent_mask(src.size(0)).to(src.device)
        x = self.positional_encoding(self.src_tok_emb(src))
        memory = self.encoder(x, mask=src_mask)
        return self.generator(memory[-1])
