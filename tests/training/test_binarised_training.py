"""A run with binarise=True trains on binary pixels drawn afresh per batch, and says so in config.json."""

import json

import torch

from genimg.training.engine import Finished, train
from tests.helpers import blob_data, tiny_config


def seen_pixels(config, data) -> list[torch.Tensor]:
    """Train `config` on `data` and return every batch the VAE's loss saw, (B, 1, 28, 28) floats."""
    seen: list[torch.Tensor] = []

    def record(model) -> None:
        original = model.loss_terms

        def loss_terms(images, labels=None, beta=1.0):
            seen.append(images.detach().clone())
            return original(images, labels, beta=beta)

        model.loss_terms = loss_terms  # the same parameters: only the call is observed

    events = list(train(config, data=data, prepare_model=record))
    assert isinstance(events[-1], Finished)
    return seen


def test_a_binarised_run_sees_fresh_binary_pixels_and_records_the_setting(tmp_path):
    data = blob_data(32)
    out = tmp_path / "binarised"
    binary = seen_pixels(tiny_config("vae", steps=4, batch_size=32, out=str(out), binarise=True), data)
    assert all(set(batch.unique().tolist()) <= {0.0, 1.0} for batch in binary)
    # one batch is the whole set: the same images each step, in a new order, binarised anew
    assert not torch.equal(binary[0].sum(dim=0), binary[1].sum(dim=0))
    assert json.loads((out / "config.json").read_text())["training"]["binarise"] is True

    repeated = seen_pixels(tiny_config("vae", steps=4, batch_size=32, binarise=True), data)
    assert all(torch.equal(first, second) for first, second in zip(binary, repeated))  # the seed repeats them

    grey = seen_pixels(tiny_config("vae", steps=2, batch_size=32, out=str(tmp_path / "grey")), data)
    assert len(grey[0].unique()) > 2
    assert json.loads((tmp_path / "grey" / "config.json").read_text())["training"]["binarise"] is False
