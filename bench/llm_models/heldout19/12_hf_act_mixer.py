# undefined: get_activation
import torch
import torch.nn as nn


class MixerMlp(nn.Module):
    def __init__(self, in_features, hidden_features, hidden_act="gelu_new", dropout=0.0):
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.act = get_activation(hidden_act)
        self.fc2 = nn.Linear(hidden_features, in_features)
        self.drop = nn.Dropout(dropout)

    def forward(self, x):
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class MixerLayer(nn.Module):
    def __init__(self, num_patches, hidden_size, token_dim, channel_dim, hidden_act, layer_norm_eps):
        super().__init__()
        self.norm1 = nn.LayerNorm(hidden_size, eps=layer_norm_eps)
        self.token_mixing = MixerMlp(num_patches, token_dim, hidden_act)
        self.norm2 = nn.LayerNorm(hidden_size, eps=layer_norm_eps)
        self.channel_mixing = MixerMlp(hidden_size, channel_dim, hidden_act)

    def forward(self, hidden_states):
        y = self.norm1(hidden_states).transpose(1, 2)
        hidden_states = hidden_states + self.token_mixing(y).transpose(1, 2)
        hidden_states = hidden_states + self.channel_mixing(self.norm2(hidden_states))
        return hidden_states


class Net(nn.Module):
    """MLP-Mixer written in HuggingFace style: activations are looked up by name
    from a config string (hidden_act), like `config.hidden_act` in transformers."""

    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        config = {
            "patch_size": 4,
            "hidden_size": 128,
            "num_hidden_layers": 4,
            "token_dim": 64,
            "channel_dim": 256,
            "hidden_act": prm.get("hidden_act", "gelu_new"),
            "layer_norm_eps": 1e-6,
        }
        num_patches = (in_shape[2] // config["patch_size"]) * (in_shape[3] // config["patch_size"])
        self.stem = nn.Conv2d(in_shape[1], config["hidden_size"], config["patch_size"], config["patch_size"])
        self.layers = nn.ModuleList([
            MixerLayer(num_patches, config["hidden_size"], config["token_dim"], config["channel_dim"],
                       config["hidden_act"], config["layer_norm_eps"])
            for _ in range(config["num_hidden_layers"])
        ])
        self.norm = nn.LayerNorm(config["hidden_size"], eps=config["layer_norm_eps"])
        self.pooler_act = get_activation("tanh")
        self.pooler = nn.Linear(config["hidden_size"], config["hidden_size"])
        self.classifier = nn.Linear(config["hidden_size"], out_shape[0])

    def forward(self, pixel_values):
        x = self.stem(pixel_values).flatten(2).transpose(1, 2)
        for layer in self.layers:
            x = layer(x)
        x = self.norm(x).mean(dim=1)
        x = self.pooler_act(self.pooler(x))
        return self.classifier(x)
