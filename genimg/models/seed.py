"""The seed article's two Keras models, ported to PyTorch and corrected so that they train.

The article's layer plans, and what genimg changed (see also the README):

GAN generator: Dense 256 → Dense 5·5·256 → reshape → three stride-2 transposed convolutions.
    Broken: 5 → 10 → 20 → 40 gives 40×40 images, while its discriminator expects 64×64.
    Fixed: the second Dense layer makes an (S/8)·(S/8)·256 map, so the same three stride-2
    transposed convolutions land exactly on S×S (8 → 64, 4 → 32); tanh output in [-1, 1].
GAN discriminator: stride-2 convolutions down to a 4×4 map.
    Broken: it ended in a 4×4 map of scores rather than one logit per image.
    Fixed: flatten the last 4×4 feature map and one Dense layer → one logit.
"VAE": convolutional encoder → Dense code → decoder, i.e. a plain autoencoder.
    Broken: no mean / log-variance heads and no sampling, so there is no ELBO and no way to sample.
    Fixed: two Dense heads (mean, log-variance) on the encoder's output, the reparameterisation
    trick, and the KL term; the decoder is unchanged. Kernel sizes stay the article's 5 (GAN) and 3 (VAE).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from genimg.config import ModelConfig, Recipe
from genimg.models.dcgan import init_dcgan_weights
from genimg.models.gan import GAN
from genimg.models.registry import Capabilities, ModelKind, register
from genimg.models.vae import VAEBase


def _same_up(in_channels: int, out_channels: int, kernel: int, bias: bool = True) -> nn.ConvTranspose2d:
    """Keras' Conv2DTranspose(strides=2, padding="same"): exactly doubles height and width."""
    return nn.ConvTranspose2d(in_channels, out_channels, kernel, 2, kernel // 2, output_padding=1, bias=bias)


class SeedGenerator(nn.Module):
    """z (B, latent) [+ labels] → images (B, C, S, S) in [-1, 1], S a multiple of 8."""

    def __init__(self, latent_dim: int = 100, image_size: int = 64, channels: int = 3, num_classes: int = 0,
                 width: int = 64) -> None:
        super().__init__()
        if image_size % 8:
            raise ValueError(f"the seed GAN needs image_size divisible by 8, got {image_size}")
        self.latent_dim, self.num_classes = latent_dim, num_classes
        self.first = image_size // 8
        self.top = 4 * width  # 256 for the article's width 64
        self.dense = nn.Sequential(
            nn.Linear(latent_dim + num_classes, 256),  # (B, 256)
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(256, self.top * self.first * self.first, bias=False),  # (B, 256·(S/8)²)
        )
        self.convolutions = nn.Sequential(
            nn.BatchNorm2d(self.top),
            nn.LeakyReLU(0.2, inplace=True),  # (B, 256, S/8, S/8)
            _same_up(self.top, 2 * width, 5, bias=False),  # (B, 128, S/4, S/4)
            nn.BatchNorm2d(2 * width),
            nn.LeakyReLU(0.2, inplace=True),
            _same_up(2 * width, width, 5, bias=False),  # (B, 64, S/2, S/2)
            nn.BatchNorm2d(width),
            nn.LeakyReLU(0.2, inplace=True),
            _same_up(width, channels, 5),  # (B, C, S, S)
            nn.Tanh(),
        )
        init_dcgan_weights(self)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.num_classes:
            if labels is None:
                raise ValueError("this generator is class-conditional: pass labels (B,) in [0, num_classes)")
            z = torch.cat([z, F.one_hot(labels, self.num_classes).to(z.dtype)], dim=1)
        return self.forward_input(z)

    def forward_input(self, inputs: torch.Tensor) -> torch.Tensor:
        """The input (B, latent + K) → images (B, C, S, S) in [-1, 1]."""
        hidden = self.dense(inputs).view(-1, self.top, self.first, self.first)  # (B, 256, S/8, S/8)
        return self.convolutions(hidden)

    def first_features(self, inputs: torch.Tensor) -> torch.Tensor:
        """Dense layers → batch norm → LeakyReLU for inputs (B, latent + K), flattened: (B, 256·(S/8)²)."""
        hidden = self.dense(inputs).view(-1, self.top, self.first, self.first)
        return self.convolutions[:2](hidden).flatten(1)


class SeedDiscriminator(nn.Module):
    """images (B, C, S, S) [+ labels] → logits (B,): stride-2 convolutions to 4×4, then one Dense logit."""

    def __init__(self, image_size: int = 64, channels: int = 3, num_classes: int = 0, width: int = 64,
                 spectral_norm: bool = False) -> None:
        super().__init__()
        self.num_classes = num_classes
        steps = int(math.log2(image_size // 4))  # 4 for 64×64, 3 for 32×32
        wrap = nn.utils.parametrizations.spectral_norm if spectral_norm else (lambda layer: layer)
        layers: list[nn.Module] = []
        features, incoming = width, channels
        for _ in range(steps):
            layers += [wrap(nn.Conv2d(incoming, features, 5, 2, 2)),  # (B, F, s/2, s/2)
                       nn.LeakyReLU(0.2, inplace=True)]
            incoming, features = features, min(features * 2, 8 * width)
        self.features = nn.Sequential(*layers, nn.Flatten())  # (B, F_last·4·4)
        self.feature_size = incoming * 16
        self.head = wrap(nn.Linear(self.feature_size, 1))  # (B, 1): the fix, one logit per image
        self.class_projection = nn.Embedding(num_classes, self.feature_size) if num_classes else None
        init_dcgan_weights(self)

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        hidden = self.features(images)  # (B, F_last·16)
        logits = self.head(hidden).flatten()  # (B,)
        if self.class_projection is not None:
            if labels is None:
                raise ValueError("this discriminator is class-conditional: pass labels (B,) in [0, num_classes)")
            logits = logits + (self.class_projection(labels) * hidden).sum(dim=1)
        return logits


class SeedVAE(VAEBase):
    """The article's conv autoencoder made a VAE: encoder → (mean, log-variance) → sample → decoder."""

    def __init__(self, latent_dim: int = 16, image_size: int = 28, channels: int = 1, num_classes: int = 0,
                 width: int = 32, likelihood: str = "bernoulli") -> None:
        super().__init__()
        if image_size % 4:
            raise ValueError(f"the seed VAE needs image_size divisible by 4, got {image_size}")
        self.latent_dim, self.num_classes = latent_dim, num_classes
        self._init_likelihood(likelihood)
        self.first = image_size // 4
        self.top = 2 * width
        flat = self.top * self.first * self.first
        self.encoder = nn.Sequential(
            nn.Conv2d(channels + num_classes, width, 3, 2, 1),  # (B, 32, S/2, S/2)
            nn.ReLU(inplace=True),
            nn.Conv2d(width, self.top, 3, 2, 1),  # (B, 64, S/4, S/4)
            nn.ReLU(inplace=True),
            nn.Flatten(),  # (B, 64·(S/4)²)
            nn.Linear(flat, 16 * width // 2),  # (B, 256): the article's Dense code layer
            nn.ReLU(inplace=True),
        )
        self.to_mean = nn.Linear(16 * width // 2, latent_dim)  # (B, latent): added
        self.to_log_variance = nn.Linear(16 * width // 2, latent_dim)  # (B, latent): added
        self.decoder_input = nn.Sequential(nn.Linear(latent_dim + num_classes, flat), nn.ReLU(inplace=True))
        self.decoder = nn.Sequential(
            _same_up(self.top, self.top, 3),  # (B, 64, S/2, S/2)
            nn.ReLU(inplace=True),
            _same_up(self.top, width, 3),  # (B, 32, S, S)
            nn.ReLU(inplace=True),
            nn.Conv2d(width, channels, 3, 1, 1),  # (B, C, S, S) logits
        )

    def encode(self, images: torch.Tensor, labels: torch.Tensor | None = None
               ) -> tuple[torch.Tensor, torch.Tensor]:
        one_hot = self._one_hot(labels, images.dtype)
        if one_hot is not None:
            planes = one_hot[:, :, None, None].expand(-1, -1, images.shape[2], images.shape[3])
            images = torch.cat([images, planes], dim=1)
        hidden = self.encoder(images)
        return self.to_mean(hidden), self.to_log_variance(hidden)

    def decode_input(self, inputs: torch.Tensor) -> torch.Tensor:
        """The decoder's input (B, latent + K) → logits (B, C, S, S)."""
        hidden = self.decoder_input(inputs).view(-1, self.top, self.first, self.first)  # (B, 64, S/4, S/4)
        return self.decoder(hidden)

    def first_features(self, inputs: torch.Tensor) -> torch.Tensor:
        """The decoder's dense layer and its ReLU: (B, latent + K) → (B, 64·(S/4)²)."""
        return self.decoder_input(inputs)


def build_seed_gan(config: ModelConfig) -> GAN:
    sizes = dict(image_size=config.image_size, channels=config.channels, num_classes=config.num_classes,
                 width=config.width)
    return GAN(SeedGenerator(config.latent_dim, **sizes),
               SeedDiscriminator(**sizes, spectral_norm=config.spectral_norm))


def build_seed_vae(config: ModelConfig) -> SeedVAE:
    return SeedVAE(config.latent_dim, image_size=config.image_size, channels=config.channels,
                   num_classes=config.num_classes, width=config.width, likelihood=config.likelihood)


register(ModelKind(
    name="seed-gan", family="gan", title="seed-article GAN (corrected)", build=build_seed_gan,
    image_sizes=(32, 64),  # three ×2 steps from S/8: 28×28 data is drawn at 32×32
    capabilities=Capabilities(discriminator=True), options=frozenset({"spectral_norm"}),
    recipe=Recipe(latent_dim=100, width=64, learning_rate=2e-4, adam_beta1=0.5)))
register(ModelKind(
    name="seed-vae", family="vae", title="seed-article VAE (corrected)", build=build_seed_vae,
    image_sizes=(28, 32, 64), capabilities=Capabilities(encoder=True), options=frozenset({"likelihood"}),
    recipe=Recipe(latent_dim=16, width=32, learning_rate=1e-3, adam_beta1=0.9)))
