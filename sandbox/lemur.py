"""What LEMUR's trainer feeds a model of its contract, ``Net(in_shape, out_shape, prm, device)``, and what it expects back.

Why a module: the checker runs a LEMUR model's own ``train_setup`` / ``learn`` on synthetic batches shaped as LEMUR's
loaders shape them, and holds its output to what LEMUR's loss and accuracy read. Image classification gives
(images, class labels); segmentation (a per-pixel output) gives (images, masks of the image's size); text generation
(integer token ids in) gives (ids, next ids of the same shape). With class labels for all, every correct segmentation
and text-generation model failed ("only batches of spatial targets supported", "the output must be [2, 10]").
Detection and captioning models need targets this does not synthesise (boxes, captions).
"""

from __future__ import annotations

from dataclasses import dataclass, field
import torch
import torch.utils.data

from sandbox.soundness import UnsoundStage

CLASSES, MASKS, TOKENS = "classes", "masks", "tokens"  # the labels learn() gets, by what the model outputs


@dataclass
class LemurContract:
    """How a LEMUR-contract model was built, and the labels its trainer gives it (set once its output is seen)."""

    in_shape: tuple
    out_shape: tuple
    prm: dict = field(default_factory=dict)
    input_dtype: str = "float32"  # of the batches learn() gets: "int64" for token ids
    labels: str = CLASSES

    @property
    def takes_tokens(self) -> bool:
        return self.input_dtype.startswith(("int", "uint")) and len(self.in_shape) == 2


class LabelledData(torch.utils.data.TensorDataset):
    """(input, label) pairs with what torchvision's classification datasets also carry: ``targets`` and ``classes``
    (``class_to_idx``). Why: models weigh their loss by class counts from ``train_data.dataset.targets``, and failed
    on a plain TensorDataset with "object has no attribute 'targets'"."""

    def __init__(self, inputs: torch.Tensor, labels: torch.Tensor, classes: int) -> None:
        super().__init__(inputs, labels)
        self.targets = labels.tolist()
        self.classes = [str(c) for c in range(classes)]
        self.class_to_idx = {name: c for c, name in enumerate(self.classes)}


def trainer_batches(contract: LemurContract, batches: int, token_ids: int) -> torch.utils.data.DataLoader:
    """What LEMUR's trainer gives ``learn``: a DataLoader of ``batches`` batches of in_shape, with the labels the
    model's output calls for (``contract.labels``). Token ids (inputs and next-token labels) stay under
    ``token_ids`` and the vocabulary out_shape[0]. Why a DataLoader: models read ``train_data.dataset`` and
    ``train_data.batch_size``, which a list of batches lacks."""
    batch = int(contract.in_shape[0])
    count, classes = batches * batch, max(int(contract.out_shape[0]), 1)
    if contract.takes_tokens:
        bound = max(1, min(token_ids, classes))
        inputs = torch.randint(0, bound, (count, *contract.in_shape[1:]), dtype=getattr(torch, contract.input_dtype))
    else:
        inputs = torch.randn(count, *contract.in_shape[1:])
    label_shape = {CLASSES: (), MASKS: tuple(contract.in_shape[2:]), TOKENS: tuple(contract.in_shape[1:])}[contract.labels]
    labels = torch.randint(0, classes, (count, *label_shape))
    return torch.utils.data.DataLoader(LabelledData(inputs, labels, classes), batch_size=batch)


def labels_for_output(shapes: list[list[int]], contract: LemurContract) -> str:
    """The labels LEMUR's loss would pair with these outputs, or UnsoundStage when no output is one its trainer can score.

    The output must be (batch, *out_shape) (any one tensor of a tuple may be the logits: ``return logits, aux``);
    a (2, 100, 1, 1) output for out_shape (10,) trains without error but learns nothing LEMUR can score. A per-pixel
    map with the classes in dimension 1 and the image's height and width is segmentation (masks of the image's
    size); over token ids (batch, length), per-token logits (batch, length, vocabulary) or (batch * length,
    vocabulary) are text generation."""
    in_shape, out_shape = [int(d) for d in contract.in_shape], [int(d) for d in contract.out_shape]
    want = [in_shape[0], *out_shape]
    if want in shapes:
        return CLASSES
    if contract.takes_tokens and len(out_shape) == 1:
        per_token = ([in_shape[0], in_shape[1], out_shape[0]], [in_shape[0] * in_shape[1], out_shape[0]])
        if any(s in per_token for s in shapes):
            return TOKENS
    dense = [s for s in shapes if len(s) == len(want) + 2 and s[: len(want)] == want and s[-1] * s[-2] > 1]
    if dense and len(in_shape) == 4 and any(s[-2:] == in_shape[-2:] for s in dense):
        return MASKS
    if dense and len(in_shape) == 4:
        raise UnsoundStage("OutputShapeMismatch", f"LEMUR contract: a per-pixel output (segmentation) must have the image's "
                         f"height and width {in_shape[-2:]}, as LEMUR's masks do, got {dense[0]} for in_shape {in_shape}")
    raise UnsoundStage("OutputShapeMismatch", f"LEMUR contract: the output must be (batch, *out_shape) = {want} for in_shape "
                     f"{in_shape} and out_shape {out_shape}, got {shapes[0]}")

