# undefined: ShuffleV2Block, channel_shuffle
import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        in_channels = in_shape[1]
        num_classes = out_shape[0]
        self.stage_repeats = [4, 8, 4]
        self.stage_out_channels = [-1, 24, 116, 232, 464, 1024]

        # two-branch stem, mixed with a channel shuffle
        input_channel = self.stage_out_channels[1]
        half = input_channel // 2
        self.stem3 = nn.Sequential(
            nn.Conv2d(in_channels, half, 3, 1, 1, bias=False),
            nn.BatchNorm2d(half),
            nn.ReLU(inplace=True),
        )
        self.stem5 = nn.Sequential(
            nn.Conv2d(in_channels, half, 5, 1, 2, bias=False),
            nn.BatchNorm2d(half),
            nn.ReLU(inplace=True),
        )

        self.features = []
        for idxstage in range(len(self.stage_repeats)):
            numrepeat = self.stage_repeats[idxstage]
            output_channel = self.stage_out_channels[idxstage + 2]
            for i in range(numrepeat):
                if i == 0:
                    self.features.append(ShuffleV2Block(input_channel, output_channel,
                                                        mid_channels=output_channel // 2, ksize=3, stride=2))
                else:
                    self.features.append(ShuffleV2Block(input_channel // 2, output_channel,
                                                        mid_channels=output_channel // 2, ksize=3, stride=1))
                input_channel = output_channel
        self.features = nn.Sequential(*self.features)

        self.conv_last = nn.Sequential(
            nn.Conv2d(input_channel, self.stage_out_channels[-1], 1, 1, 0, bias=False),
            nn.BatchNorm2d(self.stage_out_channels[-1]),
            nn.ReLU(inplace=True),
        )
        self.globalpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(prm.get("dropout", 0.1))
        self.classifier = nn.Linear(self.stage_out_channels[-1], num_classes, bias=False)
        self.to(device)

    def forward(self, x):
        x = torch.cat([self.stem3(x), self.stem5(x)], dim=1)
        x = channel_shuffle(x, 2)
        x = self.features(x)
        x = self.conv_last(x)
        x = self.globalpool(x)
        x = self.dropout(x)
        x = x.contiguous().view(-1, self.stage_out_channels[-1])
        return self.classifier(x)
