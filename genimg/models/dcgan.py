"""DCGAN generator and discriminator for 28×28, 32×32 and 64×64 images, optionally class-conditional.

Shapes for width w and C image channels (B = batch, s0 = 7 for 28×28, else 4):

    generator                           discriminator
    z (B, latent [+ classes])           image (B, C, S, S)
    (B, 2ᵏ⁻¹w, s0, s0)  project         (B, w, S/2, S/2)
    ... ×2 size, ÷2 channels ...        ... ÷2 size, ×2 channels ...
    (B, w, S/2, S/2)                    (B, 2ᵏ⁻¹w, s0, s0)
    (B, C, S, S) tanh, in [-1, 1]       (B,) one logit: real > 0 > fake

with k = number of ×2 steps (2 for 28×28, 3 for 32×32, 4 for 64×64). For 28×28 and w = 64:
z (B, 100) → (B, 128, 7, 7) → (B, 64, 14, 14) → (B, 1, 28, 28). With depth d, each feature map of either
network passes through d more shape-preserving 3×3 convolutions (more capacity per scale, about 1 + d times the
compute); d = 0 is Radford et al.'s network. A conditional generator reads the
class as a one-hot vector appended to z; a conditional discriminator adds a projection term
⟨embed(y), features⟩ to its logit (Miyato & Koyama 2018), which tells D *which* digit to expect.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as apply_spectral_norm

from genimg.config import ModelConfig, Recipe
from genimg.models.base import foldable, project_and_normalise
from genimg.models.gan import GAN
from genimg.models.registry import Capabilities, ModelKind, register


def start_size(image_size: int) -> int:
    """Side of the first feature map: 7 for 28×28 images, 4 for 32×32 and 64×64."""
    return 7 if image_size == 28 else 4


def upsampling_steps(image_size: int) -> int:
    """How many ×2 steps lead from the first feature map to the image."""
    steps = math.log2(image_size / start_size(image_size))
    if steps != int(steps) or steps < 1:
        raise ValueError(f"image_size {image_size} is not supported: expected 28, 32 or 64")
    return int(steps)


def init_dcgan_weights(module: nn.Module) -> None:
    """DCGAN initialisation: conv and embedding weights ~ N(0, 0.02), batch-norm scale ~ N(1, 0.02), biases 0."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            weight = getattr(layer, "parametrizations", None)
            target = layer.parametrizations.weight.original if weight is not None else layer.weight
            nn.init.normal_(target, 0.0, 0.02)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
        elif isinstance(layer, nn.BatchNorm2d):
            nn.init.normal_(layer.weight, 1.0, 0.02)
            nn.init.zeros_(layer.bias)
        elif isinstance(layer, nn.Embedding):  # class projection: start small so it cannot swamp the logit
            nn.init.normal_(layer.weight, 0.0, 0.02)


def batch_norm(size: int) -> list[nn.Module]:
    """The normalisation of a refining layer in networks without spectral norm (see refine_layers)."""
    return [nn.BatchNorm2d(size)]


def refine_layers(features: int, depth: int, normalise: Callable[[int], list[nn.Module]],
            activation: Callable[[], nn.Module], wrap: Callable[[nn.Module], nn.Module] = lambda layer: layer,
            ) -> list[nn.Module]:
    """`depth` shape-preserving 3×3 convolutions (B, F, s, s) → (B, F, s, s), each normalised and activated."""
    layers: list[nn.Module] = []
    for _ in range(depth):
        norm = normalise(features)
        layers += [wrap(nn.Conv2d(features, features, 3, 1, 1, bias=not norm)), *norm, activation()]
    return layers


class Generator(nn.Module):
    """z (B, latent_dim) [+ labels (B,)] → images (B, channels, image_size, image_size) in [-1, 1]."""

    def __init__(self, latent_dim: int = 100, image_size: int = 28, channels: int = 1,
                 num_classes: int = 0, width: int = 64, depth: int = 0) -> None:
        super().__init__()
        self.latent_dim, self.num_classes = latent_dim, num_classes
        steps = upsampling_steps(image_size)
        features = width * 2 ** (steps - 1)
        first = start_size(image_size)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(latent_dim + num_classes, features, first, 1, 0, bias=False),  # (B, F, s0, s0)
            nn.BatchNorm2d(features),
            nn.ReLU(inplace=True),
        ]
        relu = lambda: nn.ReLU(inplace=True)  # noqa: E731
        layers += refine_layers(features, depth, batch_norm, relu)  # same shape
        for _ in range(steps - 1):
            layers += [
                nn.ConvTranspose2d(features, features // 2, 4, 2, 1, bias=False),  # (B, F/2, 2s, 2s)
                nn.BatchNorm2d(features // 2),
                nn.ReLU(inplace=True),
            ]
            features //= 2
            layers += refine_layers(features, depth, batch_norm, relu)  # same shape
        layers += [
            nn.ConvTranspose2d(features, channels, 4, 2, 1),  # (B, C, S, S)
            nn.Tanh(),
        ]
        self.net = nn.Sequential(*layers)
        init_dcgan_weights(self)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.num_classes:
            if labels is None:
                raise ValueError("this generator is class-conditional: pass labels (B,) in [0, num_classes)")
            z = torch.cat([z, F.one_hot(labels, self.num_classes).to(z.dtype)], dim=1)  # (B, latent + K)
        return self.forward_input(z)

    def forward_input(self, inputs: torch.Tensor) -> torch.Tensor:
        """The input (B, latent + K) — z with a one-hot or soft class vector — → images (B, C, S, S) in [-1, 1]."""
        return self.net(inputs[:, :, None, None])  # (B, latent + K, 1, 1) → (B, C, S, S)

    def first_features(self, inputs: torch.Tensor) -> torch.Tensor:
        """The first block (transposed conv → batch norm → ReLU) for inputs (B, latent + K), flattened: (B, F·s0·s0).

        For an eval-mode network the 1×1 → s0×s0 transposed convolution and its batch norm are one matrix product
        (≈ 50× faster on a CPU for thousands of rows than the convolution and a separate normalisation pass).
        """
        project, norm = self.net[0], self.net[1]
        simple = (project.stride, project.padding, project.output_padding, project.groups) == ((1, 1), (0, 0),
                                                                                               (0, 0), 1)
        if simple and foldable(norm):
            kernel = project.kernel_size[0] * project.kernel_size[1]
            return project_and_normalise(inputs, project.weight.flatten(1), project.bias, norm, kernel).relu_()
        return self.net[:3](inputs[:, :, None, None]).flatten(1)  # (B, F, s0, s0) → (B, F·s0·s0)


class Discriminator(nn.Module):
    """images (B, channels, S, S) in [-1, 1] [+ labels (B,)] → logits (B,); a high logit means "real"."""

    def __init__(self, image_size: int = 28, channels: int = 1, num_classes: int = 0, width: int = 64,
                 spectral_norm: bool = False, depth: int = 0) -> None:
        super().__init__()
        self.num_classes = num_classes
        steps = upsampling_steps(image_size)
        wrap = apply_spectral_norm if spectral_norm else (lambda layer: layer)
        features = width
        layers: list[nn.Module] = [
            wrap(nn.Conv2d(channels, features, 4, 2, 1)),  # (B, w, S/2, S/2)
            nn.LeakyReLU(0.2, inplace=True),
        ]
        normalise = (lambda size: []) if spectral_norm else batch_norm
        leaky = lambda: nn.LeakyReLU(0.2, inplace=True)  # noqa: E731
        layers += refine_layers(features, depth, normalise, leaky, wrap)  # same shape
        for _ in range(steps - 1):
            layers.append(wrap(nn.Conv2d(features, features * 2, 4, 2, 1, bias=spectral_norm)))  # (B, 2F, s/2, s/2)
            if not spectral_norm:
                layers.append(nn.BatchNorm2d(features * 2))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            features *= 2
            layers += refine_layers(features, depth, normalise, leaky, wrap)  # same shape
        self.features = nn.Sequential(*layers)  # (B, F_last, s0, s0)
        first = start_size(image_size)
        self.head = wrap(nn.Conv2d(features, 1, first, 1, 0))  # (B, 1, 1, 1)
        self.feature_size = features * first * first
        self.class_projection = nn.Embedding(num_classes, self.feature_size) if num_classes else None
        init_dcgan_weights(self)

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        hidden = self.features(images)  # (B, F_last, s0, s0)
        logits = self.head(hidden).flatten()  # (B,)
        if self.class_projection is not None:
            if labels is None:
                raise ValueError("this discriminator is class-conditional: pass labels (B,) in [0, num_classes)")
            logits = logits + (self.class_projection(labels) * hidden.flatten(1)).sum(dim=1)  # (B,)
        return logits


def build_dcgan(config: ModelConfig) -> GAN:
    sizes = dict(image_size=config.image_size, channels=config.channels, num_classes=config.num_classes,
                 width=config.width, depth=config.depth)
    return GAN(Generator(config.latent_dim, **sizes), Discriminator(**sizes, spectral_norm=config.spectral_norm))


register(ModelKind(
    name="dcgan", family="gan", title="DCGAN", build=build_dcgan, image_sizes=(28, 32, 64),
    capabilities=Capabilities(discriminator=True), options=frozenset({"spectral_norm", "depth"}),
    # Radford et al.'s settings: Adam(2e-4, β1 = 0.5), z of 100, width 64.
    recipe=Recipe(latent_dim=100, width=64, learning_rate=2e-4, adam_beta1=0.5)))
