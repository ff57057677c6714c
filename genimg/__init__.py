"""genimg: a latent-space lab for generative image models (DCGAN family and VAEs)."""

__version__ = "0.1.0"
