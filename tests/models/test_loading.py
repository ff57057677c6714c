"""load_model rebuilds a checkpoint through the registry; precision follows the device."""

import json

import pytest
import torch

from genimg.config import ConfigError, ModelConfig
from genimg.models import build_model
from genimg.models.loading import load_model, resolve_device, resolve_precision
from genimg.store.checkpoint import CheckpointError, save_checkpoint


def save(folder, config):
    torch.manual_seed(0)
    model = build_model(config).eval()
    save_checkpoint(folder, model_config=config.to_dict(), weights=model.state_dict(), step=3, dataset="shapes")
    return model


@pytest.mark.parametrize("kind", ["dcgan", "vae"])
def test_a_saved_model_loads_with_the_same_weights_and_kind(tmp_path, kind):
    config = ModelConfig(kind=kind, latent_dim=4, width=8, num_classes=3)
    saved = save(tmp_path / "model", config)
    model, loaded_config, raw = load_model(tmp_path / "model")
    assert loaded_config == config and raw["step"] == 3
    assert model.kind == kind and not model.training
    z, labels = torch.randn(2, 4), torch.tensor([0, 2])
    with torch.no_grad():
        assert torch.equal(model.generate(z, labels), saved.generate(z, labels))


def test_a_checkpoint_of_an_unknown_kind_names_the_file_and_the_kinds(tmp_path):
    save(tmp_path / "model", ModelConfig(kind="vae", latent_dim=4, width=8))
    config_path = tmp_path / "model" / "config.json"
    config = json.loads(config_path.read_text())
    config["model"]["kind"] = "ddpm"
    config_path.write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=r"config.json.*'ddpm' is not accepted: expected one of dcgan"):
        load_model(tmp_path / "model")



def test_load_errors_name_the_model_folder_not_the_server_path(tmp_path):
    """Messages reach a page's visitors: the model's folder name, never where the server keeps it."""
    save(tmp_path / "model", ModelConfig(kind="vae", latent_dim=4, width=8))
    config_path = tmp_path / "model" / "config.json"
    config = json.loads(config_path.read_text())
    config["model"]["latent_dim"] = 0
    config_path.write_text(json.dumps(config))
    with pytest.raises(CheckpointError) as invalid_settings:
        load_model(tmp_path / "model")
    config_path.write_text("[" * 100_000)
    with pytest.raises(CheckpointError) as too_deep:
        load_model(tmp_path / "model")
    for raised in (invalid_settings, too_deep):
        assert "model/config.json" in str(raised.value)
        assert str(tmp_path) not in str(raised.value)


def test_a_checkpoint_asking_for_a_size_its_kind_cannot_draw_is_refused(tmp_path):
    save(tmp_path / "model", ModelConfig(kind="dcgan", latent_dim=4, width=8))
    config_path = tmp_path / "model" / "config.json"
    config = json.loads(config_path.read_text())
    config["model"]["kind"] = "seed-gan"  # the seed GAN draws 32 or 64 px, not 28
    config_path.write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="image_size = 28"):
        load_model(tmp_path / "model")


def test_precision():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert resolve_precision("fp32", cuda) is None
    assert resolve_precision("bf16", cpu) is torch.bfloat16
    assert resolve_precision("auto", cuda) is torch.bfloat16
    assert resolve_precision("auto", cpu) is None


def test_device_resolution(monkeypatch):
    """'auto' picks CUDA, then MPS, then the CPU; an explicit device that is absent or unknown is refused by name."""
    assert resolve_device("cpu") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    for name, words in (("cuda", "no CUDA GPU"), ("cuda:1", "no CUDA GPU"), ("mps", "MPS is not available"),
                        ("tpu", "not accepted"), ("meta", "not accepted")):  # meta: a torch device, not ours
        with pytest.raises(ConfigError, match=words) as refused:
            resolve_device(name)
        assert f"device = {name!r}" in str(refused.value)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("mps") and resolve_device("mps") == torch.device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("auto") == torch.device("cuda")  # CUDA before MPS
    assert resolve_device("cuda:1") == torch.device("cuda:1")
    with pytest.raises(ConfigError, match="only 2 CUDA device"):
        resolve_device("cuda:2")
