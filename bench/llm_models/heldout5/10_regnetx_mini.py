# undefined: XBlock, conv_bn
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        # RegNetX-200MF-like configuration
        depths = [1, 1, 4, 7]
        widths = [24, 56, 152, 368]
        strides = [1, 2, 2, 2]
        group_width = 8
        bottleneck_ratio = 1.0
        stem_width = 32

        self.stem = nn.Sequential(
            conv_bn(in_shape[1], stem_width, kernel_size=3, stride=1),
            nn.ReLU(inplace=True),
        )

        stages = []
        in_ch = stem_width
        for d, w, s in zip(depths, widths, strides):
            blocks = []
            for i in range(d):
                blocks.append(
                    XBlock(
                        in_ch,
                        w,
                        stride=s if i == 0 else 1,
                        group_width=group_width,
                        bottleneck_ratio=bottleneck_ratio,
                    )
                )
                in_ch = w
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)

        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(prm.get("dropout", 0.1))
        self.fc = nn.Linear(in_ch, out_shape[0])
        self.to(device)

    def forward(self, x):
        x = self.stem(x)
        x = self.stages(x)
        x = self.avgpool(x).flatten(1)
        return self.fc(self.dropout(x))
