"""The networks genimg builds, and the registry of model kinds that says how to build each one.

Importing this package registers the built-in kinds (dcgan, vae, flow, seed-gan, seed-vae); `build_model(config)` builds
any registered kind (genimg.models.registry).
"""

from __future__ import annotations

from torch import nn

# Each of these modules registers its kinds when imported.
from genimg.models import dcgan, seed, vae  # noqa: F401  (in this order: the order kinds are listed in)
from genimg.models import flow  # noqa: F401, I001
from genimg.models.base import GenerativeModel
from genimg.models.gan import GAN
from genimg.models.registry import build_model
from genimg.models.vae import VAEBase

__all__ = ["GAN", "GenerativeModel", "VAEBase", "build_model", "count_parameters"]


def count_parameters(module: nn.Module) -> int:
    return sum(parameter.numel() for parameter in module.parameters())
