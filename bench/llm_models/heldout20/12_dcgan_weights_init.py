# undefined: weights_init
import torch
import torch.nn as nn


class DiscriminatorClassifier(nn.Module):
    """DCGAN-discriminator backbone reused as a CIFAR-10 classifier, initialised like the DCGAN tutorial."""

    def __init__(self, nc=3, ndf=32, num_classes=10):
        super().__init__()
        self.main = nn.Sequential(
            # input is (nc) x 32 x 32
            nn.Conv2d(nc, ndf, 4, 2, 1, bias=False),
            nn.LeakyReLU(0.2, inplace=True),
            # state size. (ndf) x 16 x 16
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ndf * 2),
            nn.LeakyReLU(0.2, inplace=True),
            # state size. (ndf*2) x 8 x 8
            nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ndf * 4),
            nn.LeakyReLU(0.2, inplace=True),
            # state size. (ndf*4) x 4 x 4
        )
        self.fc = nn.Linear(ndf * 4 * 4 * 4, num_classes)
        self.apply(weights_init)

    def forward(self, input):
        x = self.main(input)
        return self.fc(torch.flatten(x, 1))
