# undefined: InvertedResidual, channel_shuffle
import torch
import torch.nn as nn
import torch.nn.functional as F


class ShuffleStem(nn.Module):
    """3x3 conv followed by a grouped 1x1 conv whose groups are mixed with a channel shuffle."""

    def __init__(self, in_channels, out_channels, groups=4):
        super().__init__()
        self.groups = groups
        self.conv = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, 1, 1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )
        self.gconv = nn.Sequential(
            nn.Conv2d(out_channels, out_channels, 1, 1, 0, groups=groups, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )

    def forward(self, x):
        x = self.conv(x)
        x = self.gconv(x)
        return channel_shuffle(x, self.groups)


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        self.device = device
        stages_repeats = [3, 5, 3]
        stages_out_channels = [24, 116, 232, 464, 1024]

        input_channels = in_shape[1]
        output_channels = stages_out_channels[0]
        self.conv1 = ShuffleStem(input_channels, output_channels)
        input_channels = output_channels

        stage_names = [f"stage{i}" for i in [2, 3, 4]]
        for name, repeats, output_channels in zip(stage_names, stages_repeats, stages_out_channels[1:]):
            seq = [InvertedResidual(input_channels, output_channels, 2)]
            for _ in range(repeats - 1):
                seq.append(InvertedResidual(output_channels, output_channels, 1))
            setattr(self, name, nn.Sequential(*seq))
            input_channels = output_channels

        output_channels = stages_out_channels[-1]
        self.conv5 = nn.Sequential(
            nn.Conv2d(input_channels, output_channels, 1, 1, 0, bias=False),
            nn.BatchNorm2d(output_channels),
            nn.ReLU(inplace=True),
        )
        self.dropout = nn.Dropout(prm.get('dropout', 0.2))
        self.fc = nn.Linear(output_channels, out_shape[0])

    def forward(self, x):
        x = self.conv1(x)      # 32x32
        x = self.stage2(x)     # 16x16
        x = self.stage3(x)     # 8x8
        x = self.stage4(x)     # 4x4
        x = self.conv5(x)
        x = x.mean([2, 3])
        return self.fc(self.dropout(x))
