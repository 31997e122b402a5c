# undefined: pad_same, get_same_padding
import torch
import torch.nn as nn
import torch.nn.functional as F


class Conv2dSame(nn.Conv2d):
    """TensorFlow 'SAME' padding conv, for weights ported from TF NAS checkpoints."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, dilation=1, groups=1, bias=True):
        super().__init__(in_channels, out_channels, kernel_size, stride, 0, dilation, groups, bias)

    def forward(self, x):
        x = pad_same(x, self.kernel_size, self.stride, self.dilation)
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class MaxPool2dSame(nn.MaxPool2d):
    def __init__(self, kernel_size, stride):
        super().__init__(kernel_size, stride, 0)

    def forward(self, x):
        k, s = (self.kernel_size,) * 2, (self.stride,) * 2
        x = pad_same(x, k, s, value=-float('inf'))
        return F.max_pool2d(x, self.kernel_size, self.stride, 0)


class SepBlock(nn.Module):
    def __init__(self, c_in, c_out, k, stride):
        super().__init__()
        self.dw = Conv2dSame(c_in, c_in, k, stride, groups=c_in, bias=False)
        self.bn1 = nn.BatchNorm2d(c_in, eps=1e-3)
        self.pw = nn.Conv2d(c_in, c_out, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out, eps=1e-3)
        self.act = nn.ReLU6(inplace=True)

    def forward(self, x):
        return self.act(self.bn2(self.pw(self.act(self.bn1(self.dw(x))))))


class TFSameNet(nn.Module):
    def __init__(self, num_classes=10, img_size=32):
        super().__init__()
        self.stem = Conv2dSame(3, 32, 3, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(32, eps=1e-3)
        # static "SAME" padding for the pooling stage, computed once for the known input size
        feat = (img_size + 1) // 2
        p = get_same_padding(feat, 3, 2, 1)
        self.pool_pad = nn.ZeroPad2d((p // 2, p - p // 2, p // 2, p - p // 2))
        self.blocks = nn.Sequential(
            SepBlock(32, 64, 3, 1), SepBlock(64, 96, 5, 2), MaxPool2dSame(3, 1), SepBlock(96, 160, 3, 2))
        self.head = nn.Linear(160, num_classes)

    def forward(self, x):
        x = F.relu6(self.bn(self.stem(x)))
        x = F.avg_pool2d(self.pool_pad(x), 3, 2)
        x = self.blocks(x)
        return self.head(x.mean((2, 3)))
