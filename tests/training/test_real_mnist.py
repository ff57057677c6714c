"""Real MNIST from ../shared/data: short training runs of a GAN and a VAE through the engine (slow)."""

import pytest
import torch

from genimg.config import ModelConfig, TrainConfig
from genimg.data.datasets import load_dataset, to_float
from genimg.models.loading import load_model
from genimg.training.engine import Finished, Progress, train

pytestmark = pytest.mark.slow


def test_vae_learns_mnist(shared_data_root, tmp_path):
    config = TrainConfig(model=ModelConfig(kind="vae", latent_dim=16, width=32), dataset="mnist",
                         data_root=str(shared_data_root), steps=400, batch_size=128, lr_generator=1e-3,
                         adam_beta1=0.9, device="cpu", out=str(tmp_path / "vae"), log_every=50,
                         sample_every=1000, checkpoint_every=1000)
    events = list(train(config))
    assert isinstance(events[-1], Finished)
    model, _, _ = load_model(tmp_path / "vae")
    test = load_dataset("mnist", root=shared_data_root, split="test", limit=2000)
    with torch.inference_mode():
        terms = model.loss_terms(to_float(test.images, "unit"))
    # an untrained decoder scores about 543 nats (784 · ln 2); a few hundred steps bring it well under 160
    assert terms["neg_elbo"].item() < 160


def test_dcgan_trains_on_mnist(shared_data_root):
    config = TrainConfig(model=ModelConfig(kind="dcgan"), dataset="mnist", data_root=str(shared_data_root),
                         data_limit=20000, steps=150, batch_size=64, device="cpu", log_every=25,
                         sample_every=1000, checkpoint_every=1000)
    progress = [event for event in train(config) if isinstance(event, Progress)]
    losses = progress[-1].losses
    assert all(torch.isfinite(torch.tensor(value)) for value in losses.values())
    assert 0 < losses["d_fake"] < losses["d_real"] < 1
