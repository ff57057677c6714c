"""genimg: a latent-space lab for generative image models (DCGANs, VAEs and flow matching)."""

__version__ = "0.1.0"
