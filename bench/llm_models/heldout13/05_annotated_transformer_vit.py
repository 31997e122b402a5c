# undefined: MultiHeadedAttention, PositionalEncoding, clones
import math
import torch
import torch.nn as nn
import torch.nn.functional as F


def supported_hyperparameters():
    return {'lr', 'momentum', 'dropout'}


class EncoderLayer(nn.Module):
    """Pre-norm encoder layer: self-attn and feed forward, each wrapped in a residual."""

    def __init__(self, d_model, h, d_ff, dropout):
        super().__init__()
        self.self_attn = MultiHeadedAttention(h, d_model, dropout)
        self.feed_forward = nn.Sequential(nn.Linear(d_model, d_ff), nn.ReLU(),
                                          nn.Dropout(dropout), nn.Linear(d_ff, d_model))
        self.norms = clones(nn.LayerNorm(d_model, eps=1e-6), 2)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x, mask=None):
        y = self.norms[0](x)
        x = x + self.dropout(self.self_attn(y, y, y, mask))
        return x + self.dropout(self.feed_forward(self.norms[1](x)))


class Net(nn.Module):
    """Transformer encoder over 4x4 patches (64 tokens) for CIFAR-10."""

    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.device = device
        d_model, h, d_ff, N, patch = 128, 4, 256, 4, 4
        dropout = prm['dropout']
        self.patch_embed = nn.Conv2d(in_shape[1], d_model, kernel_size=patch, stride=patch)
        self.pos = PositionalEncoding(d_model, dropout)
        self.layers = clones(EncoderLayer(d_model, h, d_ff, dropout), N)
        self.norm = nn.LayerNorm(d_model, eps=1e-6)
        self.head = nn.Linear(d_model, out_shape[0])

    def forward(self, x):
        x = self.patch_embed(x).flatten(2).transpose(1, 2)   # [B, N, d_model]
        x = self.pos(x)
        for layer in self.layers:
            x = layer(x)
        x = self.norm(x).mean(dim=1)
        return self.head(x)

    def train_setup(self, prm):
        self.to(self.device)
        self.criteria = (nn.CrossEntropyLoss(label_smoothing=0.1).to(self.device),)
        self.optimizer = torch.optim.SGD(self.parameters(), lr=prm['lr'], momentum=prm['momentum'])

    def learn(self, train_data):
        self.train()
        for inputs, labels in train_data:
            inputs, labels = inputs.to(self.device), labels.to(self.device)
            self.optimizer.zero_grad()
            loss = self.criteria[0](self(inputs), labels)
            loss.backward()
            nn.utils.clip_grad_norm_(self.parameters(), 1.0)
            self.optimizer.step()
