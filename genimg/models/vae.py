"""Convolutional VAE (and class-conditional CVAE) with a Bernoulli or Gaussian decoder.

Shapes for width w, C channels, K classes (0 when unconditional), s0 = 7 for 28×28 else 4:

    encoder                                   decoder
    image (B, C [+ K planes], S, S) in [0,1]  z (B, latent [+ K one-hot])
    (B, w, S/2, S/2)                          (B, 2ᵏ⁻¹w, s0, s0)  linear + reshape
    ... ÷2 size, ×2 channels ...              ... ×2 size, ÷2 channels ...
    (B, 2ᵏ⁻¹w, s0, s0) → flatten              (B, C, S, S) logits
    mean, log-variance (B, latent) each       mean image = sigmoid(logits), in [0, 1]

The loss is the negative ELBO, in nats per image:
    −ELBO(x) = E_q[−log p(x|z)] + KL(q(z|x) ‖ N(0, I))
Bernoulli: −log p(x|z) = Σ BCE(x, sigmoid(logits)) over pixels, the usual choice for MNIST-like
data with grey levels in [0, 1] (not a normalised density for non-binary x; reported as the field does).
Gaussian: −log p(x|z) = Σ ½((x − μ)/σ)² + log σ + ½ log 2π with one learned σ for all pixels
(σ-VAE, Rybkin et al. 2021): it balances reconstruction against KL by itself, which suits colour
images where a Bernoulli decoder blurs. The seed article's "VAE" lives in seed.py.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from genimg.config import ModelConfig, Recipe
from genimg.models.base import GenerativeModel, foldable, project_and_normalise
from genimg.models.dcgan import batch_norm, refine_layers, start_size, upsampling_steps
from genimg.models.registry import Capabilities, ModelKind, register

LOG_2PI = math.log(2 * math.pi)


def gaussian_kl(mean: torch.Tensor, log_variance: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, exp(log_variance)) ‖ N(0, I)) per image, in nats: (B, latent) → (B,)."""
    return 0.5 * (mean.pow(2) + log_variance.exp() - 1.0 - log_variance).sum(dim=1)


# Scales of the inverse multiquadratic kernel, as multiples of the latent size (Tolstikhin et al. 2018 use 2·d·s).
MMD_SCALES = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)


def prior_mmd(codes: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
    """Squared maximum mean discrepancy between a batch of codes and draws from the prior, both (B, latent) with
    B ≥ 2: the unbiased estimate with an inverse multiquadratic kernel C / (C + ‖a − b‖²), C = 2·latent·s, summed
    over MMD_SCALES (WAE-MMD, Tolstikhin et al. 2018; InfoVAE, Zhao et al. 2019). Near 0 (it can dip below) when the
    codes are distributed as the prior; larger the more they pile up or leave holes in it."""
    count, size = codes.shape
    if count < 2 or prior.shape != codes.shape:
        raise ValueError(f"prior_mmd needs two (B, latent) batches of the same shape with B ≥ 2, got "
                         f"{tuple(codes.shape)} and {tuple(prior.shape)}")

    def kernel(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        squared = torch.cdist(a, b).pow(2)
        return sum(2 * size * scale / (2 * size * scale + squared) for scale in MMD_SCALES)

    off_diagonal = 1.0 - torch.eye(count, device=codes.device, dtype=codes.dtype)
    within = ((kernel(codes, codes) + kernel(prior, prior)) * off_diagonal).sum() / (count * (count - 1))
    return within - 2 * kernel(codes, prior).mean()


class VAEBase(GenerativeModel):
    """What every genimg VAE shares: sampling, the likelihood and the ELBO terms.

    Subclasses define `encode(images, labels) → (mean, log_variance)` and
    `decode_input(inputs (B, latent + K)) → logits (B, C, S, S)`.
    """

    latent_dim: int
    num_classes: int
    likelihood: str

    def _init_likelihood(self, likelihood: str) -> None:
        self.likelihood = likelihood
        # log σ of the Gaussian decoder; unused (and left at 0) for a Bernoulli decoder.
        self.log_sigma = nn.Parameter(torch.zeros(())) if likelihood == "gaussian" else None

    def _one_hot(self, labels: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor | None:
        if not self.num_classes:
            return None
        if labels is None:
            raise ValueError("this VAE is class-conditional: pass labels (B,) in [0, num_classes)")
        return F.one_hot(labels, self.num_classes).to(dtype)

    @staticmethod
    def reparameterize(mean: torch.Tensor, log_variance: torch.Tensor,
                       noise: torch.Tensor | None = None) -> torch.Tensor:
        """z = mean + σ·ε with ε ~ N(0, I): a sample that gradients can flow through. (B, latent)."""
        if noise is None:
            noise = torch.randn_like(mean)
        return mean + (0.5 * log_variance).exp() * noise

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """images (B, C, S, S) in [0, 1] → (logits (B, C, S, S), mean (B, latent), log_variance (B, latent))."""
        mean, log_variance = self.encode(images, labels)
        z = self.reparameterize(mean, log_variance)
        return self.decode(z, labels), mean, log_variance

    def reconstruction_nll(self, logits: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
        """−log p(images | z) per image, in nats: (B, C, S, S) twice → (B,)."""
        if self.likelihood == "bernoulli":
            per_pixel = F.binary_cross_entropy_with_logits(logits, images, reduction="none")
        else:
            log_sigma = self.log_sigma.clamp(-6.0, 2.0)
            mean = torch.sigmoid(logits)
            per_pixel = 0.5 * ((images - mean) / log_sigma.exp()).pow(2) + log_sigma + 0.5 * LOG_2PI
        return per_pixel.flatten(1).sum(dim=1)

    def loss_terms(self, images: torch.Tensor, labels: torch.Tensor | None = None,
                   beta: float = 1.0, mmd_weight: float = 0.0) -> dict[str, torch.Tensor]:
        """Batch means of: loss = rec + β·KL + λ·MMD (what is minimised), reconstruction, kl, neg_elbo = rec + KL,
        mmd; and the encoder's mean and log-variance (B, latent), for health signals that need no second encoder
        pass.

        mmd_weight λ > 0 adds prior_mmd between the batch's codes z ~ q(z|x) (those decoded) and as many draws from
        N(0, I): the KL term matches each image's code to the prior, which leaves the codes of all images together
        free to crowd some regions and leave holes where samples from the prior decode to nothing recognisable;
        the MMD term pulls the codes of the whole batch towards the prior (InfoVAE). The ELBO is unchanged."""
        mean, log_variance = self.encode(images, labels)
        z = self.reparameterize(mean, log_variance)
        logits = self.decode(z, labels)
        reconstruction = self.reconstruction_nll(logits.float(), images.float()).mean()
        kl = gaussian_kl(mean.float(), log_variance.float().clamp(-30.0, 20.0)).mean()
        loss = reconstruction + beta * kl
        mmd = torch.zeros((), device=kl.device)
        if mmd_weight > 0 and z.shape[0] >= 2:
            codes = z.float()
            mmd = prior_mmd(codes, torch.randn_like(codes))
            loss = loss + mmd_weight * mmd
        return {"loss": loss, "reconstruction": reconstruction, "kl": kl, "neg_elbo": reconstruction + kl,
                "mmd": mmd, "mean": mean, "log_variance": log_variance}

    def decode(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """z (B, latent) [+ labels (B,)] → logits (B, C, S, S); sigmoid(logits) is the mean image."""
        return self.decode_input(self.condition(z, labels))

    def decode_input(self, inputs: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} must define decode_input")

    def generate_from_input(self, inputs: torch.Tensor) -> torch.Tensor:
        """Decode inputs (B, latent + K) to mean images (B, C, S, S) in [0, 1]."""
        return torch.sigmoid(self.decode_input(inputs))


class ConvVAE(VAEBase):
    """A DCGAN-shaped convolutional VAE; conditional (CVAE) when num_classes > 0."""

    def __init__(self, latent_dim: int = 16, image_size: int = 28, channels: int = 1, num_classes: int = 0,
                 width: int = 32, likelihood: str = "bernoulli", depth: int = 0) -> None:
        super().__init__()
        self.latent_dim, self.num_classes = latent_dim, num_classes
        self._init_likelihood(likelihood)
        steps = upsampling_steps(image_size)
        first = start_size(image_size)
        features = width
        encoder: list[nn.Module] = [
            nn.Conv2d(channels + num_classes, features, 4, 2, 1),  # (B, w, S/2, S/2)
            nn.LeakyReLU(0.2, inplace=True),
        ]
        for _ in range(steps - 1):
            encoder += [
                nn.Conv2d(features, features * 2, 4, 2, 1, bias=False),  # (B, 2F, s/2, s/2)
                nn.BatchNorm2d(features * 2),
                nn.LeakyReLU(0.2, inplace=True),
            ]
            features *= 2
            leaky = lambda: nn.LeakyReLU(0.2, inplace=True)  # noqa: E731
            encoder += refine_layers(features, depth, batch_norm, leaky)  # same shape
        self.encoder = nn.Sequential(*encoder, nn.Flatten())  # (B, F·s0·s0)
        flat = features * first * first
        self.to_mean = nn.Linear(flat, latent_dim)  # (B, latent)
        self.to_log_variance = nn.Linear(flat, latent_dim)  # (B, latent)

        self.decoder_input = nn.Linear(latent_dim + num_classes, flat)  # (B, F·s0·s0)
        self.decoder_shape = (features, first, first)
        decoder: list[nn.Module] = [nn.BatchNorm2d(features), nn.ReLU(inplace=True)]  # (B, F, s0, s0)
        decoder += refine_layers(features, depth, batch_norm, lambda: nn.ReLU(inplace=True))  # same shape
        for _ in range(steps - 1):
            decoder += [
                nn.ConvTranspose2d(features, features // 2, 4, 2, 1, bias=False),  # (B, F/2, 2s, 2s)
                nn.BatchNorm2d(features // 2),
                nn.ReLU(inplace=True),
            ]
            features //= 2
            decoder += refine_layers(features, depth, batch_norm, lambda: nn.ReLU(inplace=True))  # same shape
        decoder.append(nn.ConvTranspose2d(features, channels, 4, 2, 1))  # (B, C, S, S) logits
        self.decoder = nn.Sequential(*decoder)

    def encode(self, images: torch.Tensor, labels: torch.Tensor | None = None
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """images (B, C, S, S) in [0, 1] → mean, log_variance, each (B, latent)."""
        one_hot = self._one_hot(labels, images.dtype)
        if one_hot is not None:  # class as K constant planes: (B, C + K, S, S)
            planes = one_hot[:, :, None, None].expand(-1, -1, images.shape[2], images.shape[3])
            images = torch.cat([images, planes], dim=1)
        hidden = self.encoder(images)  # (B, F·s0·s0)
        return self.to_mean(hidden), self.to_log_variance(hidden)

    def decode_input(self, inputs: torch.Tensor) -> torch.Tensor:
        """The decoder's input (B, latent + K) → logits (B, C, S, S); sigmoid(logits) is the mean image."""
        hidden = self.decoder_input(inputs).view(-1, *self.decoder_shape)  # (B, F, s0, s0)
        return self.decoder(hidden)

    def first_features(self, inputs: torch.Tensor) -> torch.Tensor:
        """The decoder's first block (linear → batch norm → ReLU) for inputs (B, latent + K): (B, F·s0·s0)."""
        norm = self.decoder[0]
        if foldable(norm):
            spatial = self.decoder_shape[1] * self.decoder_shape[2]
            linear = self.decoder_input
            return project_and_normalise(inputs, linear.weight.T, linear.bias, norm, spatial).relu_()
        hidden = self.decoder_input(inputs).view(-1, *self.decoder_shape)  # (B, F, s0, s0)
        return self.decoder[:2](hidden).flatten(1)


def build_conv_vae(config: ModelConfig) -> ConvVAE:
    return ConvVAE(config.latent_dim, image_size=config.image_size, channels=config.channels,
                   num_classes=config.num_classes, width=config.width, likelihood=config.likelihood,
                   depth=config.depth)


register(ModelKind(
    name="vae", family="vae", title="convolutional VAE", build=build_conv_vae, image_sizes=(28, 32, 64),
    capabilities=Capabilities(encoder=True), options=frozenset({"likelihood", "depth"}),
    recipe=Recipe(latent_dim=16, width=32, learning_rate=1e-3, adam_beta1=0.9)))
