# undefined: Tokenizer, TransformerEncoderLayer
import torch
import torch.nn as nn
import torch.nn.functional as F


def supported_hyperparameters():
    return {'lr', 'momentum', 'dropout'}


class Net(nn.Module):
    """Compact Convolutional Transformer (CCT-4/3x2) for CIFAR-10 with sequence pooling."""

    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.device = device
        embedding_dim, num_layers, num_heads, mlp_ratio = 128, 4, 2, 1.0
        dropout = prm['dropout']
        self.tokenizer = Tokenizer(n_input_channels=in_shape[1], n_output_channels=embedding_dim,
                                   kernel_size=3, stride=1, padding=1,
                                   pooling_kernel_size=3, pooling_stride=2, pooling_padding=1,
                                   max_pool=True, activation=nn.ReLU, n_conv_layers=2, conv_bias=False)
        seq_len = self.tokenizer.sequence_length(n_channels=in_shape[1], height=in_shape[2], width=in_shape[3])
        self.positional_emb = nn.Parameter(torch.zeros(1, seq_len, embedding_dim))
        nn.init.trunc_normal_(self.positional_emb, std=0.2)
        self.dropout = nn.Dropout(p=dropout)
        dpr = [x.item() for x in torch.linspace(0, 0.1, num_layers)]
        self.blocks = nn.ModuleList([
            TransformerEncoderLayer(d_model=embedding_dim, nhead=num_heads,
                                    dim_feedforward=int(embedding_dim * mlp_ratio), dropout=dropout,
                                    attention_dropout=0.1, drop_path_rate=dpr[i])
            for i in range(num_layers)])
        self.norm = nn.LayerNorm(embedding_dim)
        self.attention_pool = nn.Linear(embedding_dim, 1)
        self.fc = nn.Linear(embedding_dim, out_shape[0])

    def forward(self, x):
        x = self.tokenizer(x)                       # [B, N, C]
        x = self.dropout(x + self.positional_emb)
        for blk in self.blocks:
            x = blk(x)
        x = self.norm(x)
        # sequence pooling
        x = torch.matmul(F.softmax(self.attention_pool(x), dim=1).transpose(-1, -2), x).squeeze(-2)
        return self.fc(x)

    def train_setup(self, prm):
        self.to(self.device)
        self.criteria = (nn.CrossEntropyLoss(label_smoothing=0.1).to(self.device),)
        self.optimizer = torch.optim.SGD(self.parameters(), lr=prm['lr'], momentum=prm['momentum'],
                                         weight_decay=3e-2)

    def learn(self, train_data):
        self.train()
        for inputs, labels in train_data:
            inputs, labels = inputs.to(self.device), labels.to(self.device)
            self.optimizer.zero_grad()
            outputs = self(inputs)
            loss = self.criteria[0](outputs, labels)
            loss.backward()
            nn.utils.clip_grad_norm_(self.parameters(), 1.0)
            self.optimizer.step()
