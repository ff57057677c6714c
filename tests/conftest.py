"""Shared pytest fixtures and environment for the genimg test suite."""

import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# The Train tab's workspaces: never the checkout's own folder during tests.
os.environ.setdefault("GENIMG_WORKSPACES", tempfile.mkdtemp(prefix="genimg-test-workspaces-"))

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data_root() -> Path:
    """The MNIST files in ../shared/data, or skip the test when this checkout has none."""
    raw = SHARED_DATA / "MNIST" / "raw"
    if not (raw / "train-images-idx3-ubyte").exists() and not (raw / "train-images-idx3-ubyte.gz").exists():
        pytest.skip(f"real MNIST not present at {raw} (only the development machines have ../shared/data)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict[str, Path]:
    """Folders of tiny trained checkpoints, MNIST-shaped (1×28×28, 10 classes): gan, cgan, vae, vae2d, cvae.

    A few steps on generated blobs: they load and run like real models but draw nothing recognisable.
    """
    from genimg.training.engine import train
    from tests.helpers import blob_data, tiny_config

    folder = tmp_path_factory.mktemp("tiny-models")
    specs = {"gan": ("dcgan", 0, 8), "cgan": ("dcgan", 10, 8), "vae": ("vae", 0, 8), "vae2d": ("vae", 0, 2),
             "cvae": ("vae", 10, 8)}
    paths = {}
    for name, (kind, classes, latent_dim) in specs.items():
        config = tiny_config(kind, num_classes=classes, steps=3, out=str(folder / name))
        config = config.replace(model=config.model.__class__(**{**config.model.to_dict(), "latent_dim": latent_dim}))
        for _ in train(config, data=blob_data(64, 28, 1, num_classes=10)):
            pass
        paths[name] = folder / name
    return paths


@pytest.fixture(scope="module")
def wide_model(tmp_path_factory) -> Path:
    """An untrained 28×28 DCGAN with a 100-dimensional z (more dimensions than sliders or directions)."""
    import torch

    from genimg.config import ModelConfig
    from genimg.models import build_model
    from genimg.store.checkpoint import save_checkpoint

    torch.manual_seed(0)
    config = ModelConfig(kind="dcgan", latent_dim=100, width=8)
    model = build_model(config).eval()
    folder = tmp_path_factory.mktemp("wide") / "wide-gan"
    save_checkpoint(folder, model_config=config.to_dict(), weights=model.state_dict(), step=0, dataset="mnist")
    return folder


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models run fastest on one thread (and leave the other core to whatever else runs); a module opts in
    with `pytestmark = pytest.mark.usefixtures("one_thread")` or an autouse fixture of its own."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
