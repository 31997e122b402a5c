# undefined: PartitionAttentionLayer
import torch
import torch.nn as nn
import torch.nn.functional as F
from functools import partial


def supported_hyperparameters():
    return {"lr", "momentum", "dropout"}


class ConvDown(nn.Module):
    """Strided 3x3 conv + BN + GELU used between MaxViT stages."""

    def __init__(self, in_ch, out_ch):
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, kernel_size=3, stride=2, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(out_ch)
        self.act = nn.GELU()

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class Net(nn.Module):
    """Tiny MaxViT-like network: conv stem, then alternating block (window) and
    grid attention partitions at 16x16 and 8x8 resolution."""

    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.device = device
        in_channels = in_shape[1]
        num_classes = out_shape[0]
        dropout = float(prm.get("dropout", 0.1))
        norm = partial(nn.LayerNorm, eps=1e-5)

        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, 48, kernel_size=3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(48),
            nn.GELU(),
        )  # 16x16

        dims = [48, 96]
        grids = [(16, 16), (8, 8)]
        stages = []
        for i, (dim, grid) in enumerate(zip(dims, grids)):
            layers = []
            if i > 0:
                layers.append(ConvDown(dims[i - 1], dim))
            for ptype in ("window", "grid"):
                layers.append(
                    PartitionAttentionLayer(
                        in_channels=dim,
                        head_dim=16,
                        partition_size=4,
                        partition_type=ptype,
                        grid_size=grid,
                        mlp_ratio=2,
                        activation_layer=nn.GELU,
                        norm_layer=norm,
                        attention_dropout=0.0,
                        mlp_dropout=dropout,
                        p_stochastic_dropout=0.05 * i,
                    )
                )
            stages.append(nn.Sequential(*layers))
        self.stages = nn.Sequential(*stages)

        self.pool = nn.AdaptiveAvgPool2d(1)
        self.norm = nn.LayerNorm(dims[-1])
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(dims[-1], num_classes)
        self.to(device)

    def forward(self, x):
        x = self.stem(x)
        x = self.stages(x)
        x = self.pool(x).flatten(1)
        x = self.norm(x)
        return self.fc(self.drop(x))

    def train_setup(self, prm):
        self.to(self.device)
        self.criteria = (nn.CrossEntropyLoss().to(self.device),)
        self.optimizer = torch.optim.SGD(
            self.parameters(), lr=prm["lr"], momentum=prm["momentum"], weight_decay=5e-4
        )

    def learn(self, train_data):
        self.train()
        for inputs, labels in train_data:
            inputs, labels = inputs.to(self.device), labels.to(self.device)
            self.optimizer.zero_grad()
            outputs = self(inputs)
            loss = self.criteria[0](outputs, labels)
            loss.backward()
            nn.utils.clip_grad_norm_(self.parameters(), 3.0)
            self.optimizer.step()
