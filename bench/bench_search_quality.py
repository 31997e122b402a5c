"""Search quality of the store's embeddings: does a cheaper embedding retrieve as well?

Every block of a built store is embedded again under each configuration (token window of
the embedder), then three query sets are searched in vector-only and hybrid mode (the
store's own FAISS + lexical fusion), scoring MRR@10, hit@1 and hit@10 (a hit: a block with
the expected class name):

- ``nl``: hand-written natural-language descriptions (``QUERIES`` below), each with the
  set of block names that answer it; written without the class names;
- ``doc``: the first sentence of 150 sampled docstrings (seed 0) -> that block;
- ``code``: up to 12 lines of 150 sampled ``forward`` bodies (seed 0) -> that block (the
  suggest-at-cursor path searches with code windows like these).

The first configuration is the baseline, measured in the same run; CPU seconds to embed
all block texts are reported per configuration.

    .venv/bin/python bench/bench_search_quality.py --store ~/.cache/nnrag/bench/index_store
    .venv/bin/python bench/bench_search_quality.py --store DIR --windows 256 192 128

Writes bench/results/search_quality.json and prints a rich table.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import time
from pathlib import Path

from _env import REPO  # noqa: F401  (offline hub, one thread, repo on sys.path)

import faiss  # noqa: E402
import numpy as np  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from indexer.embed import MAX_TOKENS, Embedder, _class_code, block_text  # noqa: E402
from indexer.store import BlockStore  # noqa: E402
from nnrag.settings import get_settings  # noqa: E402

# natural-language queries -> the block names that answer them (hand-written, without the class names)
QUERIES: list[tuple[str, set[str]]] = [
    ("channel attention that squeezes spatial dims and rescales channels", {"SqueezeExcitation", "SEModule", "SqueezeExcite", "EffectiveSEModule", "EffectiveSqueezeExcite", "QuantizableSqueezeExcitation", "SqueezeExciteCl", "EseModule"}),
    ("randomly drop whole residual paths during training", {"DropPath", "StochasticDepth", "ResidualDrop"}),
    ("split an image into patches and project them to embeddings", {"PatchEmbed", "PatchEmbedding", "ConvPatchEmbed", "OverlapPatchEmbed", "HieraPatchEmbed", "PatchEmbedWithSize", "HybridEmbed", "Gemma4PatchEmbed", "Patchify", "PatchEmbed3d"}),
    ("recurrent network with long short-term memory cells", {"LSTM", "LSTMCell", "LSTM2d"}),
    ("mobile inverted residual block with depthwise convolution", {"InvertedResidual", "MBConv", "QuantizableInvertedResidual", "UniversalInvertedResidual", "MbConvBlock", "_InvertedResidual", "DepthwiseSeparableConv", "EdgeResidual", "FusedMBConv"}),
    ("efficient channel attention with a 1d convolution across channels", {"EcaModule", "CecaModule", "EfficientChannelAttn", "CircularEfficientChannelAttn"}),
    ("spatial and channel attention module convolutional block attention", {"CbamModule", "LightCbamModule", "SpatialAttn", "ChannelAttn", "LightChannelAttn", "LightSpatialAttn"}),
    ("shifted window self attention for vision transformers", {"ShiftedWindowAttention", "ShiftedWindowAttentionV2", "ShiftedWindowAttention3d", "WindowAttention", "SwinTransformerBlock", "SwinTransformerBlockV2", "SwinTransformerV2Block", "SwinTransformerV2CrBlock", "WindowMultiHeadAttention"}),
    ("atrous spatial pyramid pooling for semantic segmentation", {"ASPP", "ASPPConv", "ASPPPooling", "DeepLabHead"}),
    ("feature pyramid network combining multi-scale features top-down", {"FeaturePyramidNetwork", "BackboneWithFPN", "ExtraFPNBlock", "LastLevelMaxPool", "LastLevelP6P7"}),
    ("region proposal network for object detection", {"RegionProposalNetwork", "RPNHead"}),
    ("convolution followed by batch normalization and an activation", {"ConvNormAct", "ConvBnAct", "Conv2dNormActivation", "ConvBNAct", "ConvNormActivation", "BasicConv2d", "ConvBN", "ConvNorm", "ConvNormActAa", "Conv2dNorm", "LightConvBNAct", "ConvLayer", "Conv3dNormActivation", "ConvBlock"}),
    ("multi layer perceptron with gelu and dropout used in transformers", {"Mlp", "MLP", "MLPBlock", "FFN", "GluMlp", "GatedMlp", "SwiGLU", "ConvMlp", "LevitMlp", "RepVitMlp", "NormMlp", "SpatialMlp", "Gemma4GatedMlp", "GeGluMlp"}),
    ("gated linear unit feed forward with swish activation", {"SwiGLU", "GluMlp", "GatedMlp", "Gemma4GatedMlp", "GeGluMlp", "GLU"}),
    ("layer normalization over the channel dimension of NCHW tensors", {"LayerNorm2d", "LayerNorm2dFp32", "LayerNorm2dNoBias", "LayerNormAct2d", "LayerNormExp2d", "LayerNormAct2dFp32", "GroupNorm1"}),
    ("root mean square normalization", {"RMSNorm", "RmsNorm", "RmsNorm2d", "RmsNormFp32", "RmsNormAct", "RmsNormAct2d", "RmsNorm2dFp32", "RmsNormAct2dFp32", "RmsNormActFp32", "SimpleNorm"}),
    ("batch norm with frozen statistics and affine parameters", {"FrozenBatchNorm2d", "FrozenBatchNormAct2d"}),
    ("learnable per-channel scaling of the residual branch", {"LayerScale", "LayerScale2d", "Scale", "Affine"}),
    ("rotary position embedding for attention queries and keys", {"RotaryEmbedding", "RotaryEmbeddingCat", "RotaryEmbeddingDinoV3", "RotaryEmbeddingMixed", "RotaryEmbeddingMRope", "Gemma4RotaryEmbedding2D", "_RotaryEmbeddingBase", "AttentionRope"}),
    ("relative position bias table for window attention", {"RelPosBias", "RelativePositionBias", "RelPosBiasTf", "RelPosMlp", "PosEmbedRel", "RelPosAttention"}),
    ("residual bottleneck block with 1x1 3x3 1x1 convolutions", {"Bottleneck", "BottleneckBlock", "ResBottleneckBlock", "PreActBottleneck", "SEResNetBottleneck", "QuantizableBottleneck", "DlaBottleneck", "BottleneckTransform", "ResNestBottleneck", "SEBottleneck", "Bottle2neck", "SelectiveKernelBottleneck"}),
    ("two 3x3 convolutions with an identity shortcut", {"BasicBlock", "QuantizableBasicBlock", "PreActBasic", "SEResNetBlock", "ResBlock", "SelectiveKernelBasic", "DlaBasic", "ResidualBlock"}),
    ("dense connectivity where each layer receives all previous feature maps", {"DenseBlock", "DenseLayer", "_DenseBlock", "_DenseLayer", "DenseNet", "DenseStage", "DenseTransition"}),
    ("inception module with parallel branches of different kernel sizes", {"Inception", "InceptionA", "InceptionB", "InceptionC", "InceptionD", "InceptionE", "QuantizableInception", "QuantizableInceptionA", "QuantizableInceptionB", "QuantizableInceptionC", "QuantizableInceptionD", "QuantizableInceptionE", "Mixed_5b", "Mixed_6a", "Mixed_7a", "Mixed3a", "Mixed4a", "Mixed5a", "InceptionDWConv2d", "Block35", "Block17", "Block8", "ReductionA", "ReductionB"}),
    ("shuffle channels between groups", {"ChannelShuffle", "ShuffleNetV2", "QuantizableShuffleNetV2", "Shuffle"}),
    ("ghost module generating more feature maps from cheap operations", {"GhostModule", "GhostModuleV2", "GhostModuleV3", "GhostBottleneck", "GhostBottleneckV3", "GhostNet", "RepGhostModule", "RepGhostBottleneck"}),
    ("structural reparameterization merging branches into one convolution at inference", {"RepVggBlock", "MobileOneBlock", "RepVggDw", "ReparamLargeKernelConv", "RepMixer", "RepConditionalPosEnc", "RepCPE", "RepGhostModule", "RepDepthwiseSeparable", "RepViTBlock"}),
    ("global average pooling and a linear classifier head", {"ClassifierHead", "NormMlpClassifierHead", "ClNormMlpClassifierHead", "MlpClassifierHead", "ClsHead", "MlpHead", "TestTimePoolHead", "SelectAdaptivePool2d"}),
    ("adaptive pooling concatenating average and max", {"AdaptiveCatAvgMaxPool2d", "AdaptiveAvgMaxPool2d", "FastAdaptiveCatAvgMaxPool", "FastAdaptiveAvgMaxPool", "SelectAdaptivePool2d"}),
    ("convolution with tensorflow style same padding", {"Conv2dSame", "Conv2dSameExport", "ScaledStdConv2dSame", "StdConv2dSame", "MaxPool2dSame", "AvgPool2dSame"}),
    ("weight standardized convolution", {"StdConv2d", "StdConv2dSame", "ScaledStdConv2d", "ScaledStdConv2dSame"}),
    ("anti-aliased downsampling with a blur filter", {"BlurPool2d", "ConvNormActAa"}),
    ("drop contiguous regions of feature maps as regularization", {"DropBlock2d", "DropBlock3d"}),
    ("label smoothing cross entropy loss", {"LabelSmoothingCrossEntropy", "SoftTargetCrossEntropy", "CrossEntropyLoss", "JsdCrossEntropy"}),
    ("asymmetric loss for multi-label classification", {"AsymmetricLossMultiLabel", "AsymmetricLossSingleLabel", "MultiLabelSoftMarginLoss", "MultiLabelMarginLoss", "TwoWayLoss"}),
    ("hard swish activation function", {"HardSwish", "Hardswish", "HardSwishMe", "HardSwishAutoFn"}),
    ("mish activation x times tanh of softplus", {"Mish", "MishMe", "MishAutoFn", "HardMish", "HardMishMe"}),
    ("cross attention from one token sequence to another", {"CrossAttention", "CrossAttentionBlock", "ClassAttn", "ClassAttention", "TransformerDecoderLayer", "MultiheadAttention"}),
    ("attention pooling with a learned latent query", {"AttentionPoolLatent", "AttentionPool2d", "RotAttentionPool2d", "AttentionPoolPrr", "MLDecoder"}),
    ("transformer encoder layer with self attention and feed forward", {"TransformerEncoderLayer", "TransformerEncoder", "Block", "TransformerBlock", "EncoderBlock", "ResPostBlock", "Encoder", "TransformerLayer", "Transformer"}),
    ("vision transformer image classifier with class token", {"VisionTransformer", "VisionTransformerDistilled", "VisionTransformerRelPos", "Beit", "Eva", "Cait", "Xcit", "Deit", "ConVit", "VisionTransformerSAM"}),
    ("depthwise separable convolution: depthwise then pointwise", {"DepthwiseSeparableConv", "SeparableConv2d", "SeparableConvNormAct", "SeparableConvBnAct", "DSConv", "BranchSeparables", "RepDepthwiseSeparable", "PreSeparableConv2d"}),
    ("upsample feature maps by rearranging channels into space", {"PixelShuffle", "DepthToSpace", "PixelUnshuffle", "SpaceToDepth"}),
    ("patch merging downsampling in hierarchical transformers", {"PatchMerging", "PatchMergingV2", "Qwen3VitPatchMerger", "Downsample", "Downsampling"}),
    ("mixing tokens with an MLP across the spatial dimension", {"MixerBlock", "MlpMixer", "SpatialGatingUnit", "SpatialGatingBlock", "ResBlock", "SpatialMlp"}),
    ("non local self attention over all spatial positions", {"NonLocalAttn", "BatNonLocalAttn", "GlobalContext", "SelfAttnBlock"}),
    ("selective kernel convolution with branch attention", {"SelectiveKernel", "SelectiveKernelAttn", "SelectiveKernelBasic", "SelectiveKernelBottleneck", "SplitAttn"}),
    ("split attention across radix groups", {"SplitAttn", "RadixSoftmax", "ResNestBottleneck"}),
    ("condition convolution kernels on the input with mixture of experts", {"CondConv2d", "CondConvResidual"}),
    ("coordinate attention encoding position along height and width", {"CoordAttn", "SimpleCoordAttn"}),
    ("random crop and resize data augmentation", {"RandomResizedCrop", "RandomResizedCropVideo", "RandomResizedCropToSequence", "RandomCrop", "ScaleJitter", "RandomIoUCrop"}),
    ("mixup and cutmix of batches", {"MixUp", "CutMix", "_BaseMixUpCutMix"}),
    ("exponential moving average of model weights", {"ModelEmaV2", "ModelEmaV3"}),
    ("object detection head predicting classes and boxes per anchor", {"RetinaNetHead", "RetinaNetClassificationHead", "RetinaNetRegressionHead", "SSDHead", "SSDLiteHead", "FCOSHead", "FCOSClassificationHead", "FCOSRegressionHead", "SSDClassificationHead", "SSDRegressionHead", "SSDLiteClassificationHead", "SSDLiteRegressionHead", "FastRCNNPredictor", "RPNHead"}),
    ("region of interest align pooling of box features", {"RoIAlign", "MultiScaleRoIAlign", "PSRoIAlign", "RoIPool", "PSRoIPool"}),
    ("deformable convolution with learned offsets", {"DeformConv2d"}),
    ("optical flow estimation with correlation volumes and recurrent updates", {"RAFT", "CorrBlock", "UpdateBlock", "ConvGRU", "MotionEncoder", "FlowHead", "FeatureEncoder"}),
    ("3d convolution for video split into spatial and temporal parts", {"Conv2Plus1D", "R2Plus1dStem", "Conv3DNoTemporal", "TemporalSeparableConv", "SepInceptionBlock3D", "Conv3DSimple", "VideoResNet", "S3D"}),
    ("evolving normalization activation layers", {"EvoNorm2dB0", "EvoNorm2dB1", "EvoNorm2dB2", "EvoNorm2dS0", "EvoNorm2dS0a", "EvoNorm2dS1", "EvoNorm2dS1a", "EvoNorm2dS2", "EvoNorm2dS2a"}),
    ("filter response normalization with thresholded linear unit", {"FilterResponseNormTlu2d", "FilterResponseNormAct2d"}),
    ("dual path network combining residual and dense paths", {"DualPathBlock", "DPN"}),
    ("focal modulation instead of self attention", {"FocalModulation", "FocalNetBlock", "FocalNet", "FocalNetStage"}),
    ("metaformer block with pooling token mixer", {"MetaFormerBlock", "MetaFormer", "Pooling", "MetaFormerStage", "MetaBlock1d", "MetaBlock2d"}),
    ("squeeze excitation bottleneck for resnext", {"SEResNeXtBottleneck", "SEResNetBottleneck", "SEBottleneck"}),
]
SAMPLE = 150
K = 10


def first_sentence(doc: str) -> str:
    doc = " ".join(doc.split())
    return re.split(r"(?<=[.!?])\s", doc)[0][:300]


def query_sets(blocks: list) -> dict[str, list[tuple[str, set[str]]]]:
    rng = random.Random(0)
    with_doc = [b for b in blocks if len(first_sentence(b.docstring or "").split()) >= 6]
    doc = [(first_sentence(b.docstring), {b.name}) for b in rng.sample(with_doc, min(SAMPLE, len(with_doc)))]
    code: list[tuple[str, set[str]]] = []
    order = list(range(len(blocks)))
    rng.shuffle(order)
    for i in order:
        cls = _class_code(blocks[i])
        m = re.search(r"^    def forward\(", cls, flags=re.M)
        if not m:
            continue
        body = [line.strip() for line in cls[m.start():].splitlines()[1:13] if line.strip() and not line.strip().startswith(("#", '"""', "'''"))]
        if len(body) >= 3:
            code.append(("\n".join(body)[:400], {blocks[i].name}))
        if len(code) >= SAMPLE:
            break
    names = {b.name for b in blocks}
    nl = [(q, rel & names) for q, rel in QUERIES if rel & names]
    return {"nl": nl, "doc": doc, "code": code}


def score(store: BlockStore, names: list[str], queries: list[tuple[str, set[str]]], vectors: np.ndarray, mode: str) -> dict[str, float]:
    rr, hit1, hit10 = [], 0, 0
    for (query, relevant), vector in zip(queries, vectors):
        ids = [i for i, _, _ in store.search_ids(query, k=K, vector=vector, mode=mode)]
        rank = next((r + 1 for r, i in enumerate(ids) if names[i] in relevant), None)
        rr.append(1.0 / rank if rank else 0.0)
        hit1 += rank == 1
        hit10 += rank is not None
    n = max(1, len(queries))
    return {"mrr": round(float(np.mean(rr)) if rr else 0.0, 4), "hit1": round(hit1 / n, 3), "hit10": round(hit10 / n, 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", type=Path, default=get_settings().home / "bench" / "index_store")
    ap.add_argument("--windows", type=int, nargs="+", default=[256, MAX_TOKENS], help="token windows; the first is the baseline")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "search_quality.json")
    args = ap.parse_args()
    store = BlockStore(args.store)
    blocks = store._blocks(list(range(len(store))))
    names = [b.name for b in blocks]
    sets = query_sets(blocks)
    texts = [block_text(b) for b in blocks]
    results: dict = {"store": str(args.store), "blocks": len(blocks), "queries": {k: len(v) for k, v in sets.items()}, "configs": {}}
    for window in args.windows:
        embedder = Embedder(max_tokens=window)
        t0 = time.process_time()
        vectors = embedder.encode(texts)
        cpu = time.process_time() - t0
        index = faiss.IndexFlatIP(vectors.shape[1])
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
        store._index = index  # search this configuration's vectors with the store's own ranking
        row: dict = {"embedder_version": embedder.version, "embed_cpu_s": round(cpu, 1), "texts_per_cpu_s": round(len(texts) / max(cpu, 1e-9), 1)}
        for set_name, queries in sets.items():
            qv = embedder.encode([q for q, _ in queries])
            for mode in ("vector", "hybrid"):
                row[f"{set_name}_{mode}"] = score(store, names, queries, qv, mode)
        results["configs"][str(window)] = row
        Console().print(f"window {window}: {json.dumps(row)}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print_table(results)


def print_table(results: dict) -> None:
    table = Table(title=f"search quality on {results['blocks']} blocks (MRR@{K}; queries {results['queries']})")
    table.add_column("window")
    table.add_column("embed CPU-s")
    for set_name in ("nl", "doc", "code"):
        for mode in ("vector", "hybrid"):
            table.add_column(f"{set_name} {mode}", justify="right")
    base = next(iter(results["configs"].values()))
    for window, row in results["configs"].items():
        cells = [window, f"{row['embed_cpu_s']:.0f} ({row['embed_cpu_s'] / max(base['embed_cpu_s'], 1e-9):.2f}x)"]
        for set_name in ("nl", "doc", "code"):
            for mode in ("vector", "hybrid"):
                m = row[f"{set_name}_{mode}"]["mrr"]
                cells.append(f"{m:.3f} ({m - base[f'{set_name}_{mode}']['mrr']:+.3f})")
        table.add_row(*cells)
    Console().print(table)


if __name__ == "__main__":
    main()
