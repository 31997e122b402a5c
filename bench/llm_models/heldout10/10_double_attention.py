# undefined: DoubleAttention
import torch
import torch.nn as nn


def supported_hyperparameters():
    return {"lr", "momentum", "dropout"}


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        self.device = device
        channels = in_shape[1]
        num_classes = out_shape[0]
        dropout = prm.get("dropout", 0.25)

        def conv_block(cin, cout):
            return nn.Sequential(
                nn.Conv2d(cin, cout, kernel_size=3, padding=1, bias=False),
                nn.BatchNorm2d(cout),
                nn.ReLU(inplace=True),
                nn.Conv2d(cout, cout, kernel_size=3, padding=1, bias=False),
                nn.BatchNorm2d(cout),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
            )

        self.block1 = conv_block(channels, 48)
        self.block2 = conv_block(48, 96)
        # A^2-Nets double attention: gather (c_m features) then distribute (c_n attention maps)
        self.a2 = DoubleAttention(96, 64, 64, reconstruct=True)
        self.block3 = conv_block(96, 192)
        self.a2_2 = DoubleAttention(192, 128, 64)
        self.classifier = nn.Sequential(
            nn.AdaptiveAvgPool2d((1, 1)),
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(192, num_classes),
        )

    def forward(self, x):
        x = self.block1(x)
        x = self.block2(x)
        x = x + self.a2(x)
        x = self.block3(x)
        x = x + self.a2_2(x)
        return self.classifier(x)
