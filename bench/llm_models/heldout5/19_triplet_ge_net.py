# undefined: TripletAttention, GatherExcite
import torch
import torch.nn as nn
import torch.nn.functional as F


class AttnResBlock(nn.Module):
    def __init__(self, in_ch, out_ch, stride=1, attn="triplet"):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        if attn == "triplet":
            self.attn = TripletAttention(out_ch)
        else:
            self.attn = GatherExcite(out_ch, extent=0, use_mlp=True, rd_ratio=1.0 / 16)
        self.shortcut = nn.Identity()
        if stride != 1 or in_ch != out_ch:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_ch, out_ch, 1, stride, bias=False),
                nn.BatchNorm2d(out_ch),
            )

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)
        out = self.bn2(self.conv2(out))
        out = self.attn(out)
        return F.relu(out + self.shortcut(x), inplace=True)


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        self.stem = nn.Sequential(
            nn.Conv2d(in_shape[1], 32, 3, 1, 1, bias=False),
            nn.BatchNorm2d(32),
            nn.ReLU(inplace=True),
        )
        # (out_ch, stride, attention type): triplet attention early, gather-excite late
        stage_cfg = [(32, 1, "triplet"), (64, 2, "triplet"), (128, 2, "ge"), (256, 2, "ge")]
        blocks = []
        in_ch = 32
        for out_ch, s, attn in stage_cfg:
            blocks.append(AttnResBlock(in_ch, out_ch, s, attn))
            blocks.append(AttnResBlock(out_ch, out_ch, 1, attn))
            in_ch = out_ch
        self.blocks = nn.Sequential(*blocks)
        self.dropout = nn.Dropout(prm.get("dropout", 0.1))
        self.fc = nn.Linear(in_ch, out_shape[0])
        self.to(device)

    def forward(self, x):
        x = self.stem(x)
        x = self.blocks(x)
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.fc(self.dropout(x))
