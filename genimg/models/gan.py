"""The GAN family's model: a generator and its discriminator under one module, so one checkpoint holds both."""

from __future__ import annotations

import torch
from torch import nn

from genimg.models.base import GenerativeModel


class GAN(GenerativeModel):
    """generator(inputs) → images in [-1, 1] (tanh); discriminator(images in [-1, 1], labels) → logits (B,).

    The generator network defines `forward(z, labels)` and `forward_input(inputs (B, D + K))`, both in [-1, 1], and
    may define `first_features(inputs)`; the wrapper rescales its output to [0, 1] like every genimg model's.
    """

    def __init__(self, generator: nn.Module, discriminator: nn.Module) -> None:
        super().__init__()
        self.generator = generator
        self.discriminator = discriminator
        self.latent_dim: int = generator.latent_dim
        self.num_classes: int = generator.num_classes

    def generate(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """z (B, latent) → images (B, C, S, S) in [0, 1] (the generator's tanh output rescaled)."""
        return (self.generator(z, labels) + 1.0) * 0.5

    def generate_from_input(self, inputs: torch.Tensor) -> torch.Tensor:
        return (self.generator.forward_input(inputs) + 1.0) * 0.5

    def first_features(self, inputs: torch.Tensor) -> torch.Tensor:
        """The generator's first block where it names one (`first_features`), else the output pixels."""
        if hasattr(self.generator, "first_features"):
            return self.generator.first_features(inputs)
        return super().first_features(inputs)

    def discriminator_logits(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """images (B, C, S, S) in [0, 1] → the discriminator's logits (B,): real > 0 > fake for a trained D."""
        return self.discriminator(images * 2.0 - 1.0, labels)

    def sampling_network(self) -> nn.Module:
        return self.generator

    def sampling_prefix(self) -> str:
        return "generator."

    def generate_with(self, network: nn.Module, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return (network(z, labels) + 1.0) * 0.5

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.generate(z, labels)
