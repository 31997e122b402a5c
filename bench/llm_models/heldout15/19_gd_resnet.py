# undefined: conv_nd, normalization, zero_module
import torch
import torch.nn as nn
import torch.nn.functional as F


def supported_hyperparameters():
    return {"lr", "momentum", "dropout"}


class GNResUnit(nn.Module):
    """Guided-diffusion style residual block (no timestep embedding):
    GN -> SiLU -> conv -> GN -> SiLU -> dropout -> zero-initialised conv."""

    def __init__(self, channels, dropout, out_channels=None, down=False):
        super().__init__()
        self.out_channels = out_channels or channels
        self.down = down
        self.in_layers = nn.Sequential(
            normalization(channels),
            nn.SiLU(),
            conv_nd(2, channels, self.out_channels, 3, padding=1),
        )
        self.out_layers = nn.Sequential(
            normalization(self.out_channels),
            nn.SiLU(),
            nn.Dropout(p=dropout),
            zero_module(conv_nd(2, self.out_channels, self.out_channels, 3, padding=1)),
        )
        if self.out_channels == channels:
            self.skip_connection = nn.Identity()
        else:
            self.skip_connection = conv_nd(2, channels, self.out_channels, 1)

    def forward(self, x):
        if self.down:
            x = F.avg_pool2d(x, kernel_size=2, stride=2)
        h = self.in_layers(x)
        h = self.out_layers(h)
        return self.skip_connection(x) + h


class Net(nn.Module):
    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.device = device
        in_channels = in_shape[1]
        num_classes = out_shape[0]
        dropout = prm.get("dropout", 0.0)
        model_channels = 32
        channel_mult = (1, 2, 3)

        self.input_conv = conv_nd(2, in_channels, model_channels, 3, padding=1)
        blocks = []
        ch = model_channels
        for level, mult in enumerate(channel_mult):
            out_ch = model_channels * mult
            blocks.append(GNResUnit(ch, dropout, out_channels=out_ch, down=level > 0))
            blocks.append(GNResUnit(out_ch, dropout))
            ch = out_ch
        self.blocks = nn.Sequential(*blocks)
        self.out = nn.Sequential(
            normalization(ch),
            nn.SiLU(),
            nn.AdaptiveAvgPool2d((1, 1)),
            nn.Flatten(),
            nn.Linear(ch, num_classes),
        )
        self.to(device)

    def forward(self, x):
        h = self.input_conv(x)          # 32x32
        h = self.blocks(h)              # 32 -> 16 -> 8
        return self.out(h)

    def train_setup(self, prm):
        self.to(self.device)
        self.criteria = (nn.CrossEntropyLoss().to(self.device),)
        self.optimizer = torch.optim.SGD(self.parameters(), lr=prm["lr"], momentum=prm["momentum"])

    def learn(self, train_data):
        self.train()
        for inputs, labels in train_data:
            inputs, labels = inputs.to(self.device), labels.to(self.device)
            self.optimizer.zero_grad()
            outputs = self(inputs)
            loss = self.criteria[0](outputs, labels)
            loss.backward()
            nn.utils.clip_grad_norm_(self.parameters(), 1.0)
            self.optimizer.step()
