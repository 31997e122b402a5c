# undefined: EncoderRNN, BahdanauAttention
# input: 2,16 int64
import torch
import torch.nn as nn
import torch.nn.functional as F


class AttnGRUClassifier(nn.Module):
    """Sequence classifier: GRU encoder from the PyTorch seq2seq tutorial + additive attention pooling."""

    def __init__(self, vocab_size=100, hidden_size=64, num_classes=10, dropout_p=0.1):
        super().__init__()
        self.encoder = EncoderRNN(vocab_size, hidden_size, dropout_p=dropout_p)
        self.attention = BahdanauAttention(hidden_size)
        self.out = nn.Linear(2 * hidden_size, num_classes)

    def forward(self, input):
        encoder_outputs, encoder_hidden = self.encoder(input)
        query = encoder_hidden.permute(1, 0, 2)
        context, attn_weights = self.attention(query, encoder_outputs)
        feats = torch.cat((context.squeeze(1), query.squeeze(1)), dim=-1)
        return self.out(F.relu(feats))
