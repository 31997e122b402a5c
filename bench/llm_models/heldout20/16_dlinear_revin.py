# undefined: RevIN, series_decomp
# input: 2,16,32 float32
import torch
import torch.nn as nn


class RevDLinear(nn.Module):
    """DLinear forecaster (trend/seasonal split) wrapped in reversible instance normalisation."""

    def __init__(self, seq_len=16, pred_len=8, enc_in=32, moving_avg=5, individual=False):
        super().__init__()
        self.seq_len = seq_len
        self.pred_len = pred_len
        self.channels = enc_in
        self.individual = individual
        self.revin = RevIN(enc_in, eps=1e-5, affine=True)
        self.decompsition = series_decomp(moving_avg)
        if self.individual:
            self.Linear_Seasonal = nn.ModuleList([nn.Linear(seq_len, pred_len) for _ in range(enc_in)])
            self.Linear_Trend = nn.ModuleList([nn.Linear(seq_len, pred_len) for _ in range(enc_in)])
        else:
            self.Linear_Seasonal = nn.Linear(seq_len, pred_len)
            self.Linear_Trend = nn.Linear(seq_len, pred_len)

    def forward(self, x):
        # x: [Batch, Input length, Channel]
        x = self.revin(x, 'norm')
        seasonal_init, trend_init = self.decompsition(x)
        seasonal_init, trend_init = seasonal_init.permute(0, 2, 1), trend_init.permute(0, 2, 1)
        if self.individual:
            seasonal_output = torch.stack([self.Linear_Seasonal[i](seasonal_init[:, i, :])
                                           for i in range(self.channels)], dim=1)
            trend_output = torch.stack([self.Linear_Trend[i](trend_init[:, i, :])
                                        for i in range(self.channels)], dim=1)
        else:
            seasonal_output = self.Linear_Seasonal(seasonal_init)
            trend_output = self.Linear_Trend(trend_init)
        x = (seasonal_output + trend_output).permute(0, 2, 1)
        return self.revin(x, 'denorm')  # [Batch, Output length, Channel]
