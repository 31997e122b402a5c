# undefined: init, Variable
import torch
import torch.nn as nn


class Net(nn.Module):
    """Reads the image row by row with a 2-layer bidirectional LSTM (classic sequential-MNIST style)."""

    def __init__(self, num_classes=10, in_channels=3, width=32, hidden_size=96, num_layers=2):
        super().__init__()
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.proj = nn.Linear(in_channels * width, hidden_size)
        self.lstm = nn.LSTM(hidden_size, hidden_size, num_layers=num_layers,
                            batch_first=True, bidirectional=True, dropout=0.1)
        self.fc = nn.Linear(2 * hidden_size, num_classes)
        self._init_weights()

    def _init_weights(self):
        for name, param in self.lstm.named_parameters():
            if 'weight_ih' in name:
                init.xavier_uniform_(param.data)
            elif 'weight_hh' in name:
                init.orthogonal_(param.data)
            elif 'bias' in name:
                init.constant_(param.data, 0)
                # forget gate bias = 1
                n = param.size(0)
                param.data[n // 4:n // 2].fill_(1.0)
        init.kaiming_normal_(self.proj.weight, mode='fan_in', nonlinearity='relu')
        init.constant_(self.proj.bias, 0)
        init.normal_(self.fc.weight, std=0.01)
        init.constant_(self.fc.bias, 0)

    def forward(self, x):
        b, c, h, w = x.size()
        seq = x.permute(0, 2, 1, 3).reshape(b, h, c * w)
        seq = torch.relu(self.proj(seq))
        h0 = Variable(torch.zeros(self.num_layers * 2, b, self.hidden_size)).to(x.device)
        c0 = Variable(torch.zeros(self.num_layers * 2, b, self.hidden_size)).to(x.device)
        out, _ = self.lstm(seq, (h0, c0))
        return self.fc(out[:, -1, :])
