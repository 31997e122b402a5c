# undefined: TransformerDecoderLayer, MultiheadAttention
# input: 2,20,24 float32
import torch
from torch import nn


class Net(nn.Module):
    """Perceiver/DETR-style read-out: learned queries cross-attend to a float feature sequence."""

    def __init__(self, in_features=24, d_model=64, nhead=4, num_queries=4, num_layers=2,
                 dim_feedforward=128, dropout=0.1, num_classes=10):
        super().__init__()
        self.input_proj = nn.Linear(in_features, d_model)
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, batch_first=True)
        self.norm0 = nn.LayerNorm(d_model)
        self.query_embed = nn.Parameter(torch.randn(num_queries, d_model) * 0.02)
        self.layers = nn.ModuleList([
            TransformerDecoderLayer(d_model=d_model, nhead=nhead, dim_feedforward=dim_feedforward,
                                    dropout=dropout, batch_first=True)
            for _ in range(num_layers)
        ])
        self.norm = nn.LayerNorm(d_model)
        self.fc = nn.Linear(num_queries * d_model, num_classes)

    def forward(self, x):
        memory = self.input_proj(x)
        attn_out, _ = self.self_attn(memory, memory, memory)
        memory = self.norm0(memory + attn_out)
        tgt = self.query_embed.unsqueeze(0).expand(x.size(0), -1, -1)
        for layer in self.layers:
            tgt = layer(tgt, memory)
        return self.fc(self.norm(tgt).flatten(1))
