# undefined: simam_module, TripletAttention, ContextBlock
import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        in_channels = in_shape[1]
        num_classes = out_shape[0]
        # (channels, attention type) per stage; every stage halves the resolution
        cfg = [(64, "simam"), (128, "triplet"), (256, "gc"), (256, "simam")]
        self.stages = nn.ModuleList()
        c_in = in_channels
        for ch, attn in cfg:
            if attn == "simam":
                att = simam_module(e_lambda=1e-4)
            elif attn == "triplet":
                att = TripletAttention(ch, 16)
            else:
                att = ContextBlock(ch, ratio=1. / 4)
            self.stages.append(nn.Sequential(
                nn.Conv2d(c_in, ch, 3, padding=1, bias=False),
                nn.BatchNorm2d(ch),
                nn.ReLU(inplace=True),
                nn.Conv2d(ch, ch, 3, padding=1, bias=False),
                nn.BatchNorm2d(ch),
                nn.ReLU(inplace=True),
                att,
                nn.MaxPool2d(2),
            ))
            c_in = ch
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(prm.get("dropout", 0.3)),
            nn.Linear(c_in * 2 * 2, 256),
            nn.ReLU(inplace=True),
            nn.Linear(256, num_classes),
        )
        self.to(device)

    def forward(self, x):
        for stage in self.stages:
            x = stage(x)
        return self.head(x)
