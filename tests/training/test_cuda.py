"""The CUDA path: training, bf16 autocast, resume and seed portability on a GPU (skipped without one)."""

import pytest
import torch

from genimg.data.datasets import BatchStream
from genimg.models.latent import seeded_latents
from genimg.models.loading import load_model
from genimg.store.checkpoint import load_checkpoint
from genimg.training.engine import Finished, Started, train
from tests.helpers import blob_data, tiny_config

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this machine")


@pytest.mark.parametrize("kind,size,channels", [("dcgan", 28, 1), ("vae", 28, 1), ("seed-gan", 32, 3),
                                                ("seed-vae", 28, 1)])
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_trains_on_cuda(tmp_path, kind, size, channels, precision):
    data = blob_data(64, size, channels, num_classes=4)
    config = tiny_config(kind, image_size=size, channels=channels, num_classes=4, steps=6, device="auto",
                         precision=precision, out=str(tmp_path / "run"))
    events = list(train(config, data=data))
    assert isinstance(events[0], Started) and events[0].device.startswith("cuda")
    assert isinstance(events[-1], Finished)
    resumed = list(train(config.replace(steps=9), data=data, resume=tmp_path / "run"))
    assert resumed[-1].step == 9 and load_checkpoint(tmp_path / "run").step == 9


def test_a_seed_gives_the_same_image_on_cpu_and_cuda(tmp_path):
    list(train(tiny_config("dcgan", steps=4, out=str(tmp_path / "run")), data=blob_data(32)))
    cpu_model, config, _ = load_model(tmp_path / "run", "cpu")
    cuda_model, _, _ = load_model(tmp_path / "run", "cuda")
    z = seeded_latents(11, 4, config.latent_dim)
    with torch.inference_mode():
        on_cpu = cpu_model.generate(z)
        on_cuda = cuda_model.generate(z.cuda()).cpu()
    assert torch.allclose(on_cpu, on_cuda, atol=2e-3)


def test_batches_are_made_on_the_device():
    stream = BatchStream(blob_data(32, num_classes=4), 8, "cuda")
    images, labels = stream.next()
    assert images.is_cuda and labels.is_cuda and images.dtype == torch.uint8
