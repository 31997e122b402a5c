class Net(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.blocks = nn.ModuleList([nn.Conv2d(3 if i == 0 else 16, 16, 3, padding=1) for i in range(3)])
        self.scale = math.sqrt(16)
        self.fc = nn.Linear(16, num_classes)
        self.act = partial(F.leaky_relu, negative_slope=0.1)

    def forward(self, x):
        for b in self.blocks:
            x = self.act(b(x)) / self.scale
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))
