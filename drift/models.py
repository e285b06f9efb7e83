"""Small students that size themselves from the data: `MLP`, `CNN` and `TransformerClassifier`.

Each takes (feature_shape, num_classes), so `MODELS[name](data.feature_shape, data.num_classes)`
builds a student for any tensors: the MLP flattens any feature shape; the CNN reads (L,) features
as 1-D signals (MNIST-1D) and (H, W) or (C, H, W) as images (digits); the Transformer reads (L,)
integer token ids (the "tokens" data set).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from contextlib import contextmanager
from typing import Callable

import torch
from torch import Tensor, nn

from . import inputs


class MLP(nn.Sequential):
    """Flatten -> [Linear -> ReLU] * len(hidden) -> Linear: (N, *feature_shape) -> (N, C)."""

    def __init__(
        self, feature_shape: tuple[int, ...], num_classes: int, hidden: tuple[int, ...] = (128, 128)
    ):
        sizes = (math.prod(feature_shape), *hidden)
        layers: list[nn.Module] = [nn.Flatten()]
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(n_in, n_out), nn.ReLU()]
        super().__init__(*layers, nn.Linear(sizes[-1], num_classes))


class CNN(nn.Module):
    """Three conv layers (the last two with stride 2) and a linear head:
    (N, *feature_shape) -> (N, C).

    Features (L,) are 1-D signals (MNIST-1D), (H, W) and (C, H, W) images (digits); sides >= 4.
    """

    def __init__(self, feature_shape: tuple[int, ...], num_classes: int, channels: int = 32):
        super().__init__()
        if len(feature_shape) not in (1, 2, 3) or min(feature_shape[-2:]) < 4:
            raise ValueError(
                "model='cnn' needs features of shape (L,), (H, W) or (C, H, W) with sides >= 4; "
                f"got {tuple(feature_shape)}: use model='mlp' or pass your own nn.Module"
            )
        self.spatial = tuple(feature_shape[-2:]) if len(feature_shape) > 1 else tuple(feature_shape)
        in_channels = feature_shape[0] if len(feature_shape) == 3 else 1
        conv = nn.Conv2d if len(self.spatial) == 2 else nn.Conv1d
        self.features = nn.Sequential(
            conv(in_channels, channels, 3, padding=1),
            nn.ReLU(),
            conv(channels, channels, 3, stride=2, padding=1),
            nn.ReLU(),
            conv(channels, channels, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Flatten(),
        )
        with torch.no_grad():
            n_features = self.features(torch.zeros(1, in_channels, *self.spatial)).shape[1]
        self.head = nn.Linear(n_features, num_classes)

    def forward(self, x):
        x = x.reshape(x.shape[0], -1, *self.spatial)  # (N, channels, *spatial)
        return self.head(self.features(x))


class TransformerClassifier(nn.Module):
    """A small Transformer encoder over token ids: (N, L) long -> (N, C) logits.

    Token and learned position embeddings (d_model), `num_layers` pre-norm
    `nn.TransformerEncoderLayer`s, mean pooling over the L positions and a linear head.
    Ids must lie in [0, vocab_size); for a larger vocabulary pass a factory such as
    `functools.partial(TransformerClassifier, vocab_size=1000)`.
    """

    def __init__(
        self,
        feature_shape: tuple[int, ...],
        num_classes: int,
        *,
        vocab_size: int = 64,
        d_model: int = 32,
        nhead: int = 2,
        num_layers: int = 1,
        dim_feedforward: int = 64,
        dropout: float = 0.0,
    ):
        super().__init__()
        if len(feature_shape) != 1:
            raise ValueError(
                "model='transformer' needs token ids of shape (N, L), i.e. feature_shape (L,); "
                f"got {tuple(feature_shape)}: use model='mlp'/'cnn' for other inputs"
            )
        self.vocab_size = vocab_size
        self.tokens = nn.Embedding(vocab_size, d_model)
        self.positions = nn.Parameter(0.02 * torch.randn(feature_shape[0], d_model))  # (L, d_model)
        layer = nn.TransformerEncoderLayer(
            d_model,
            nhead,
            dim_feedforward,
            dropout,
            batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, num_classes)

    def forward(self, x):
        if x.is_floating_point():
            raise TypeError(
                f"TransformerClassifier reads integer token ids; got {x.dtype} inputs (use .long())"
            )
        if x.numel() and (x.min() < 0 or x.max() >= self.vocab_size):
            raise ValueError(
                f"token ids must lie in [0, {self.vocab_size}); got "
                f"{int(x.min())}..{int(x.max())}: pass "
                "functools.partial(drift.TransformerClassifier, vocab_size=...) as the model"
            )
        h = self.encoder(self.tokens(x) + self.positions)  # (N, L, d_model)
        return self.head(self.norm(h.mean(dim=1)))  # (N, C)


@contextmanager
def eval_mode(module: nn.Module):
    """Put every submodule in eval mode, then restore each one's own mode (frozen parts stay
    frozen)."""
    modes = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        yield module
    finally:
        for m, training in modes:
            m.training = training


def _find_logits(output):
    if isinstance(output, Tensor):
        return output
    if isinstance(output, Mapping):
        return output.get("logits")
    return getattr(output, "logits", None)


def logits_of(output) -> Tensor:
    """The logits (N, C) in a model's output: the output itself when it is a tensor, else its
    "logits" entry (a dict, e.g. a Hugging Face `ModelOutput`) or `.logits` attribute."""
    logits = _find_logits(output)
    if not isinstance(logits, Tensor):
        raise TypeError(
            "a model's output must be a tensor of logits, a dict with 'logits' or an object with "
            f"a .logits tensor; got {type(output).__name__}"
        )
    return logits


def check_output(model: nn.Module, x: inputs.Inputs, num_classes: int) -> None:
    """One probe forward pass of `model` on x (N, ...) (a tensor, or a dict passed as
    `model(**x)`): its logits must be floating point of shape (N, num_classes), else ValueError
    naming the model, what it gave and what is expected.

    Runs in eval mode (modes restored; BatchNorm statistics untouched), without gradient, with
    torch's generators forked (whatever the model draws, the caller's random stream is unmoved)."""
    n, device = inputs.num_rows(x), inputs.device_of(x)
    with (
        torch.no_grad(),
        torch.random.fork_rng(devices=[device] if device.type == "cuda" else []),
        eval_mode(model),
    ):
        output = inputs.forward(model, x)
    logits = _find_logits(output)
    if (
        isinstance(logits, Tensor)
        and logits.is_floating_point()
        and tuple(logits.shape) == (n, num_classes)
    ):
        return
    got = (
        f"{logits.dtype} logits of shape {tuple(logits.shape)}"
        if isinstance(logits, Tensor)
        else (f"a {type(output).__name__} without logits")
    )
    raise ValueError(
        f"model {type(model).__name__} gave {got} for {n} examples; expected floating-point logits "
        f"of shape ({n}, {num_classes}), one per class (num_classes={num_classes}), as a tensor, a "
        "dict with 'logits' or an object with a .logits tensor"
    )


MODELS: dict[str, Callable[..., nn.Module]] = {
    "mlp": MLP,
    "cnn": CNN,
    "transformer": TransformerClassifier,
}


def build_model(
    model, feature_shape: tuple[int, ...] | dict[str, tuple[int, ...]], num_classes: int
) -> nn.Module:
    """A student from a name in `MODELS`, an `nn.Module` (used as is) or a factory
    `factory(feature_shape, num_classes) -> nn.Module`. For dict inputs feature_shape is a dict
    {name: shape}, which only a factory reads (named models take one tensor)."""
    if isinstance(model, nn.Module):
        return model
    if isinstance(model, str):
        if model not in MODELS:
            raise ValueError(
                f"model must be one of {', '.join(MODELS)}, an nn.Module or a factory; got "
                f"{model!r}"
            )
        if isinstance(feature_shape, dict):
            raise ValueError(
                f"model={model!r} reads one tensor, but the inputs are a dict "
                f"({', '.join(feature_shape)}): pass your "
                "own nn.Module or a factory(feature_shape, num_classes), called as model(**x)"
            )
        model = MODELS[model]
    if not callable(model):
        raise TypeError(
            f"model must be a name ({', '.join(MODELS)}), an nn.Module or a factory; got "
            f"{type(model).__name__}"
        )
    student = model(
        dict(feature_shape) if isinstance(feature_shape, dict) else tuple(feature_shape),
        num_classes,
    )
    if not isinstance(student, nn.Module):
        raise TypeError(f"the model factory must return an nn.Module; got {type(student).__name__}")
    return student
