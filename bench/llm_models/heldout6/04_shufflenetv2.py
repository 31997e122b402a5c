# undefined: ShuffleUnit, channel_shuffle
import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        in_channels = in_shape[1]
        num_classes = out_shape[0]
        stage_repeats = [3, 7, 3]
        stage_out_channels = [24, 116, 232, 464, 1024]

        self.conv1 = nn.Sequential(
            nn.Conv2d(in_channels, stage_out_channels[0], 3, 1, 1, bias=False),
            nn.BatchNorm2d(stage_out_channels[0]),
            nn.ReLU(inplace=True),
        )
        input_channel = stage_out_channels[0]
        self.stages = nn.ModuleList()
        for idx, repeats in enumerate(stage_repeats):
            output_channel = stage_out_channels[idx + 1]
            units = [ShuffleUnit(input_channel, output_channel, 2)]
            for _ in range(repeats - 1):
                units.append(ShuffleUnit(output_channel, output_channel, 1))
            self.stages.append(nn.Sequential(*units))
            input_channel = output_channel

        self.mix_conv = nn.Conv2d(input_channel, input_channel, 1, groups=4, bias=False)
        self.conv_last = nn.Sequential(
            nn.Conv2d(input_channel, stage_out_channels[-1], 1, 1, 0, bias=False),
            nn.BatchNorm2d(stage_out_channels[-1]),
            nn.ReLU(inplace=True),
        )
        self.dropout = nn.Dropout(prm.get("dropout", 0.2))
        self.fc = nn.Linear(stage_out_channels[-1], num_classes)
        self.to(device)

    def forward(self, x):
        x = self.conv1(x)
        for stage in self.stages:
            x = stage(x)
        # extra grouped mixing followed by a channel shuffle
        x = channel_shuffle(self.mix_conv(x), 4)
        x = self.conv_last(x)
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        x = self.dropout(x)
        return self.fc(x)
