# undefined: NAFBlock, SimpleGate
import torch
import torch.nn as nn


class Net(nn.Module):
    """NAFNet-encoder (activation-free blocks) repurposed as an image classifier."""

    def __init__(self, num_classes=10, img_channel=3, width=16, enc_blk_nums=(1, 1, 2), head_hidden=128):
        super().__init__()
        self.intro = nn.Conv2d(img_channel, width, kernel_size=3, padding=1, stride=1, groups=1, bias=True)
        self.encoders = nn.ModuleList()
        self.downs = nn.ModuleList()
        chan = width
        for num in enc_blk_nums:
            self.encoders.append(nn.Sequential(*[NAFBlock(chan) for _ in range(num)]))
            self.downs.append(nn.Conv2d(chan, 2 * chan, 2, 2))
            chan = chan * 2
        self.middle_blks = nn.Sequential(NAFBlock(chan, DW_Expand=2, FFN_Expand=2, drop_out_rate=0.1))
        self.pool = nn.AdaptiveAvgPool2d(1)
        # gated MLP head: SimpleGate halves the hidden width
        self.head = nn.Sequential(
            nn.Linear(chan, head_hidden * 2),
            SimpleGate(),
            nn.Dropout(0.1),
            nn.Linear(head_hidden, num_classes),
        )

    def forward(self, inp):
        x = self.intro(inp)
        for encoder, down in zip(self.encoders, self.downs):
            x = encoder(x)
            x = down(x)
        x = self.middle_blks(x)
        return self.head(self.pool(x).flatten(1))
