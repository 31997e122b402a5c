import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self, num_classes=10, stages_repeats=(3, 5, 3), stages_out_channels=(24, 48, 96, 192, 512)):
        super().__init__()
        input_channels = 3
        output_channels = stages_out_channels[0]
        # no max-pool and stride 1 stem for 32x32 inputs
        self.conv1 = nn.Sequential(
            nn.Conv2d(input_channels, output_channels, 3, 1, 1, bias=False),
            nn.BatchNorm2d(output_channels),
            nn.ReLU(inplace=True),
        )
        input_channels = output_channels
        stages = []
        for repeats, output_channels in zip(stages_repeats, stages_out_channels[1:4]):
            seq = [InvertedResidual(input_channels, output_channels, 2)]
            for _ in range(repeats - 1):
                seq.append(InvertedResidual(output_channels, output_channels, 1))
            stages.append(nn.Sequential(*seq))
            input_channels = output_channels
        self.stages = nn.ModuleList(stages)
        output_channels = stages_out_channels[-1]
        self.conv5 = nn.Sequential(
            nn.Conv2d(input_channels, output_channels, 1, 1, 0, bias=False),
            nn.BatchNorm2d(output_channels),
            nn.ReLU(inplace=True),
        )
        self.fc = nn.Linear(output_channels, num_classes)

    def forward(self, x):
        x = self.conv1(x)
        for stage in self.stages:
            x = stage(x)
        x = channel_shuffle(x, 2)  # extra channel mixing before the 1x1 head
        x = self.conv5(x)
        x = x.mean([2, 3])
        return self.fc(x)
