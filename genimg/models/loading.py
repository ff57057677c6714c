"""Where a model runs and how it is rebuilt from a checkpoint folder: device choice, precision, load_model."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from genimg.config import ConfigError, ModelConfig
from genimg.models import GenerativeModel, build_model, registry
from genimg.store.checkpoint import CheckpointError, load_checkpoint, load_weights_into


ZEROGPU_VARIABLE = "SPACES_ZERO_GPU"  # set by Hugging Face on a ZeroGPU Space


def on_zerogpu() -> bool:
    """True on a ZeroGPU Space: there the main process sees `torch.cuda.is_available()` as True, but CUDA work is
    only allowed inside functions decorated with `spaces.GPU` (genimg/ui/gpu.py), which run in another process."""
    return bool(os.environ.get(ZEROGPU_VARIABLE))


def resolve_device(name: str = "auto") -> torch.device:
    """'auto' → CUDA if available, then Apple MPS, else CPU; an explicit name must be usable. On a ZeroGPU Space
    'auto' is the CPU: the GPU is only lent to `spaces.GPU` functions, which ask for 'cuda' themselves."""
    if name == "auto":
        if on_zerogpu():
            return torch.device("cpu")
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise ConfigError(f"device = {name!r} is not accepted: expected 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device = {name!r}: PyTorch sees no CUDA GPU here; use 'auto' or 'cpu'")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(f"device = {name!r}: only {torch.cuda.device_count()} CUDA device(s) are present")
    elif device.type == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise ConfigError(f"device = {name!r}: Apple MPS is not available here; use 'auto' or 'cpu'")
    elif device.type != "cpu":
        raise ConfigError(f"device = {name!r} is not accepted: expected 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'")
    return device


def resolve_precision(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype to train under, or None for plain fp32."""
    if precision == "bf16" or (precision == "auto" and device.type == "cuda"):
        return torch.bfloat16
    return None


def load_model(path: str | Path, device: torch.device | str = "cpu") -> tuple[GenerativeModel, ModelConfig, dict]:
    """Rebuild a trained model from a checkpoint folder, in eval mode on `device`.

    Returns (model, its ModelConfig, the checkpoint's config.json as a dict). Any problem with the
    folder raises CheckpointError naming the file.
    """
    checkpoint = load_checkpoint(path)
    try:
        model_config = ModelConfig.from_dict(checkpoint.model_config)
        registry.check(model_config)  # a kind this installation does not know, or a setting it cannot build
    except ConfigError as error:
        # The folder's name only: messages reach the page, and the server's paths are none of its visitors' business.
        shown = f"{Path(os.path.abspath(path)).name}/config.json"
        raise CheckpointError(f"{shown}: the model settings are invalid: {error}") from None
    model = build_model(model_config)
    load_weights_into(model, checkpoint.weights, source=Path(path) / checkpoint.config["weights"])
    return model.to(device).eval(), model_config, checkpoint.config
