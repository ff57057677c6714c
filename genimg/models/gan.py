"""The GAN family's model: a generator and its discriminator under one module, so one checkpoint holds both."""

from __future__ import annotations

import torch
from torch import nn

from genimg.models.base import GenerativeModel


def to_unit(images: torch.Tensor) -> torch.Tensor:
    """A generator's tanh output in [-1, 1] → pixels in [0, 1], what every genimg model draws."""
    return (images + 1.0) * 0.5


class GAN(GenerativeModel):
    """A generator and a discriminator; the GAN family's training step trains them against each other.

    The generator network must set `latent_dim` and `num_classes` and define `forward(z, labels)` and
    `forward_input(inputs (B, D + K))`, both giving images in [-1, 1] (tanh); it may define `first_features(inputs)`.
    The discriminator maps images in [-1, 1] (and labels, if conditional) to logits (B,): real > 0 > fake.
    """

    def __init__(self, generator: nn.Module, discriminator: nn.Module) -> None:
        super().__init__()
        missing = [name for name in ("latent_dim", "num_classes", "forward_input") if not hasattr(generator, name)]
        if missing:
            raise TypeError(f"a GAN's generator must have {', '.join(missing)} (see genimg/models/gan.py); "
                            f"{type(generator).__name__} has not")
        self.generator = generator
        self.discriminator = discriminator
        self.latent_dim: int = generator.latent_dim
        self.num_classes: int = generator.num_classes

    def generate(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """z (B, latent) → images (B, C, S, S) in [0, 1] (the generator's tanh output rescaled)."""
        return self.generate_with(self.generator, z, labels)

    def generate_with(self, network: nn.Module, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return to_unit(network(z, labels))

    def generate_from_input(self, inputs: torch.Tensor) -> torch.Tensor:
        return to_unit(self.generator.forward_input(inputs))

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

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.generate(z, labels)
