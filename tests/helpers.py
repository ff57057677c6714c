"""Small data and configs that the tests build themselves (no download, a few seconds at most)."""

from __future__ import annotations

import torch

from genimg.config import ModelConfig, TrainConfig
from genimg.data.datasets import ImageData


def blob_data(count: int = 64, image_size: int = 28, channels: int = 1, num_classes: int = 0,
              seed: int = 0) -> ImageData:
    """Blurry class-dependent blobs: learnable in a few steps, uint8 (N, C, S, S)."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(count) % max(num_classes, 1)
    grid = torch.linspace(-1, 1, image_size)
    y, x = torch.meshgrid(grid, grid, indexing="ij")
    centres = torch.rand(count, 2, generator=generator) * 1.0 - 0.5
    if num_classes:
        centres[:, 0] = (labels.float() / max(num_classes - 1, 1)) - 0.5
    distance = (x[None] - centres[:, 0, None, None]) ** 2 + (y[None] - centres[:, 1, None, None]) ** 2
    images = (torch.exp(-distance / 0.08) * 255).round().to(torch.uint8)[:, None].repeat(1, channels, 1, 1)
    return ImageData(images=images.contiguous(), labels=labels if num_classes else None,
                     class_names=[str(index) for index in range(num_classes)], name="blobs")


def tiny_config(kind: str = "dcgan", *, image_size: int = 28, channels: int = 1, num_classes: int = 0,
                steps: int = 6, out: str | None = None, **train_settings) -> TrainConfig:
    model = ModelConfig(kind=kind, image_size=image_size, channels=channels, latent_dim=8, num_classes=num_classes,
                        width=8, likelihood="bernoulli" if channels == 1 else "gaussian")
    settings = dict(model=model, dataset="blobs", steps=steps, batch_size=16, log_every=2, sample_every=3,
                    checkpoint_every=3, out=out, device="cpu", precision="fp32")
    settings.update(train_settings)
    return TrainConfig(**settings)


def load_all(folders: dict) -> dict:
    """name → (model, ModelConfig) for checkpoint folders (e.g. the `tiny_models` fixture), loaded in eval mode."""
    from genimg.models.loading import load_model

    loaded = {}
    for name, folder in folders.items():
        model, config, _ = load_model(folder)
        loaded[name] = (model, config)
    return loaded


def decode_gif(data: bytes) -> list:
    """Every frame of a GIF as a grey uint8 array (H, W)."""
    import io

    import numpy as np
    from PIL import Image

    image = Image.open(io.BytesIO(data))
    frames = []
    for index in range(image.n_frames):
        image.seek(index)
        frames.append(np.asarray(image.convert("L")))
    return frames
