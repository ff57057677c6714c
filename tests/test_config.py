"""genimg.config: settings round-trip through plain dicts, and every out-of-range value is refused by name.

Which model kinds and image sizes exist is the model registry's business (tests/models), not tested here.
"""

import dataclasses
import json
import math
import os
import sys

import pytest

from genimg import config as config_module
from genimg.config import (
    ALLOCATOR_SETTINGS,
    MAX_BATCH_SIZE,
    MAX_CLASSES,
    MAX_LATENT_DIM,
    MAX_STEPS,
    MAX_WIDTH,
    ConfigError,
    ModelConfig,
    TrainConfig,
    reexec_with_allocator_settings,
)

UNUSUAL_MODEL = {"kind": "vae", "image_size": 32, "channels": 3, "latent_dim": 17, "num_classes": 10, "width": 12,
                 "likelihood": "gaussian", "spectral_norm": True, "depth": 2}
UNUSUAL_TRAINING = {"dataset": "shapes", "data_root": "/data", "data_limit": 500, "steps": 1234, "batch_size": 7,
                    "lr_generator": 3e-4, "lr_discriminator": 1e-4, "adam_beta1": 0.0, "adam_beta2": 0.9,
                    "gan_loss": "hinge", "beta": 4.0, "kl_warmup_steps": 100, "ema_decay": 0.999, "seed": 2**40,
                    "device": "cpu", "precision": "bf16", "log_every": 5, "sample_every": 50,
                    "checkpoint_every": 500, "max_seconds": 90.5, "out": "runs/x", "sample_every_seconds": 2.0}


def refused(setting: str, value, build) -> ConfigError:
    """The error `build()` raises; it must name the setting and the value it was given."""
    with pytest.raises(ConfigError) as error:
        build()
    assert str(error.value).startswith(f"{setting} = {value!r} is not accepted"), str(error.value)
    return error.value


# ------------------------------------------------------------------------------------------------ round trip
def test_model_config_round_trips_through_json():
    model = ModelConfig(**UNUSUAL_MODEL)
    values = model.to_dict()
    assert values == UNUSUAL_MODEL  # every field, nothing else
    assert ModelConfig.from_dict(json.loads(json.dumps(values))) == model
    assert model.conditional and not ModelConfig(**{**UNUSUAL_MODEL, "num_classes": 0}).conditional


def test_train_config_round_trips_through_json_with_its_model():
    training = TrainConfig(model=ModelConfig(**UNUSUAL_MODEL), **UNUSUAL_TRAINING)
    values = training.to_dict()
    assert values["model"] == UNUSUAL_MODEL and {key: values[key] for key in UNUSUAL_TRAINING} == UNUSUAL_TRAINING
    assert set(values) == {field.name for field in dataclasses.fields(TrainConfig)}
    restored = TrainConfig.from_dict(json.loads(json.dumps(values)))
    assert restored == training and isinstance(restored.model, ModelConfig)
    # a plain dict for the nested model (as read from config.json) becomes a ModelConfig
    assert TrainConfig(model=dict(UNUSUAL_MODEL)).model == ModelConfig(**UNUSUAL_MODEL)


def test_defaults_are_valid_and_settings_are_frozen():
    training = TrainConfig.from_dict({})
    assert training == TrainConfig() and TrainConfig.from_dict(training.to_dict()) == training
    with pytest.raises(dataclasses.FrozenInstanceError):
        training.steps = 5  # type: ignore[misc]
    changed = training.replace(steps=training.steps + 1)  # a new object; the original is unchanged
    assert changed.steps == training.steps + 1 and training == TrainConfig()
    refused("steps", 0, lambda: training.replace(steps=0))  # replace checks like the constructor


# ------------------------------------------------------------------------------------------------ unknown keys
def test_unknown_settings_are_refused_naming_them():
    with pytest.raises(ConfigError, match=r"unknown model setting\(s\) \['colour', 'layers'\]") as error:
        ModelConfig.from_dict({"kind": "dcgan", "colour": 3, "layers": 5})
    assert "latent_dim" in str(error.value)  # and the known settings are listed
    with pytest.raises(ConfigError, match=r"unknown training setting\(s\) \['stepz'\]"):
        TrainConfig.from_dict({"stepz": 3})
    with pytest.raises(ConfigError, match=r"unknown model setting\(s\) \['depht'\]"):  # inside the nested model
        TrainConfig.from_dict({"model": {"kind": "vae", "depht": 1}})
    for not_an_object in ([], "dcgan", None, 3):
        with pytest.raises(ConfigError, match="must be a JSON object"):
            ModelConfig.from_dict(not_an_object)
        with pytest.raises(ConfigError, match="must be a JSON object"):
            TrainConfig.from_dict({"model": not_an_object})


# ------------------------------------------------------------------------------------------------ range checks
MODEL_REFUSALS = [
    ("channels", 2), ("channels", 4), ("channels", 1.0),
    ("latent_dim", 0), ("latent_dim", MAX_LATENT_DIM + 1), ("latent_dim", 8.0), ("latent_dim", "8"),
    ("num_classes", 1), ("num_classes", -1), ("num_classes", MAX_CLASSES + 1), ("num_classes", 10.0),
    ("width", 3), ("width", MAX_WIDTH + 1), ("width", None),
    ("likelihood", "poisson"), ("likelihood", None),
    ("spectral_norm", 1), ("spectral_norm", "yes"),
    ("depth", -1), ("depth", 5), ("depth", 1.0),
]


@pytest.mark.parametrize(("setting", "value"), MODEL_REFUSALS)
def test_model_settings_out_of_range_are_refused(setting, value):
    refused(setting, value, lambda: ModelConfig(**{**UNUSUAL_MODEL, setting: value}))
    refused(setting, value, lambda: ModelConfig.from_dict({**UNUSUAL_MODEL, setting: value}))


def test_model_settings_at_their_limits_are_accepted():
    for setting, value in [("latent_dim", 1), ("latent_dim", MAX_LATENT_DIM), ("num_classes", 0),
                           ("num_classes", 2), ("num_classes", MAX_CLASSES), ("width", 4), ("width", MAX_WIDTH),
                           ("channels", 1), ("depth", 0), ("depth", 4), ("likelihood", "bernoulli")]:
        assert getattr(ModelConfig(**{**UNUSUAL_MODEL, setting: value}), setting) == value


TRAINING_REFUSALS = [
    ("dataset", ""), ("dataset", None),
    ("data_limit", 0), ("data_limit", -5), ("data_limit", 2.5),
    ("steps", 0), ("steps", MAX_STEPS + 1), ("steps", 10.0), ("steps", "100"),
    ("batch_size", 0), ("batch_size", MAX_BATCH_SIZE + 1), ("batch_size", 16.0),
    ("lr_generator", 0), ("lr_generator", -1e-4), ("lr_generator", 1.5), ("lr_generator", math.nan),
    ("lr_generator", math.inf), ("lr_discriminator", 0.0), ("lr_discriminator", "2e-4"),
    ("adam_beta1", 1.0), ("adam_beta1", -0.1), ("adam_beta1", math.nan), ("adam_beta2", 1.0), ("adam_beta2", 2),
    ("gan_loss", "wgan"), ("gan_loss", None),
    ("beta", -1.0), ("beta", 1000.5), ("beta", math.nan), ("beta", math.inf),
    ("kl_warmup_steps", -1), ("kl_warmup_steps", 1.5),
    ("mmd_weight", -1.0), ("mmd_weight", 100_001), ("mmd_weight", math.nan), ("mmd_weight", math.inf),
    ("mmd_weight", "300"),
    ("ema_decay", 1.0), ("ema_decay", -0.1), ("ema_decay", math.nan),
    ("seed", -1), ("seed", 2**63), ("seed", 3.0), ("seed", "7"),
    ("device", ""), ("device", None),
    ("precision", "fp16"), ("precision", "FP32"), ("precision", None),
    ("log_every", 0), ("sample_every", 0), ("checkpoint_every", -1), ("checkpoint_every", 2.0),
    ("max_seconds", 0), ("max_seconds", -1.0), ("max_seconds", math.inf), ("max_seconds", math.nan),
    ("sample_every_seconds", 0), ("sample_every_seconds", 86_401), ("sample_every_seconds", math.nan),
]


@pytest.mark.parametrize(("setting", "value"), TRAINING_REFUSALS)
def test_training_settings_out_of_range_are_refused(setting, value):
    refused(setting, value, lambda: TrainConfig(**{**UNUSUAL_TRAINING, setting: value}))
    refused(setting, value, lambda: TrainConfig.from_dict({**UNUSUAL_TRAINING, setting: value}))


def test_training_settings_at_their_limits_are_accepted():
    for setting, value in [("steps", 1), ("steps", MAX_STEPS), ("batch_size", 1), ("batch_size", MAX_BATCH_SIZE),
                           ("lr_generator", 1.0), ("lr_discriminator", 1e-9), ("adam_beta1", 0.0),
                           ("adam_beta2", 0.0), ("beta", 0.0), ("beta", 1000), ("kl_warmup_steps", 0),
                           ("mmd_weight", 0.0), ("mmd_weight", 100_000),
                           ("ema_decay", 0.0), ("seed", 0), ("seed", 2**63 - 1), ("precision", "fp32"),
                           ("precision", "auto"), ("max_seconds", None), ("max_seconds", 1e-3),
                           ("sample_every_seconds", None), ("sample_every_seconds", 86_400), ("data_limit", None),
                           ("data_limit", 1), ("log_every", 1)]:
        assert getattr(TrainConfig(**{**UNUSUAL_TRAINING, setting: value}), setting) == value


@pytest.mark.parametrize("setting", ["steps", "batch_size", "seed", "log_every", "sample_every", "checkpoint_every",
                                     "kl_warmup_steps", "data_limit", "lr_generator", "beta", "mmd_weight",
                                     "max_seconds"])
def test_booleans_are_not_numbers_in_training_settings(setting):
    for flag in (True, False):
        refused(setting, flag, lambda flag=flag: TrainConfig(**{**UNUSUAL_TRAINING, setting: flag}))


@pytest.mark.parametrize("setting", ["latent_dim", "num_classes", "width", "channels", "depth"])
def test_booleans_are_not_numbers_in_model_settings(setting):
    for flag in (True, False):  # True == 1 and False == 0 in Python: plausible values they must not pass as
        refused(setting, flag, lambda flag=flag: ModelConfig(**{**UNUSUAL_MODEL, setting: flag}))


def test_model_must_be_a_model_config():
    with pytest.raises(ConfigError, match="model = 'dcgan' is not accepted"):
        TrainConfig(model="dcgan")


# ------------------------------------------------------------------------------------------------ allocator
@pytest.fixture
def execve_calls(monkeypatch) -> list:
    """Every os.execve the code under test attempts (none is carried out)."""
    calls = []
    monkeypatch.setattr(config_module.os, "execve", lambda *arguments: calls.append(arguments))
    monkeypatch.setattr(config_module.sys, "platform", "linux")
    monkeypatch.delenv("GENIMG_KEEP_MALLOC", raising=False)
    for name in ALLOCATOR_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    return calls


def test_reexec_restarts_once_with_the_allocator_settings(execve_calls, monkeypatch):
    monkeypatch.setattr(config_module.sys, "argv", ["genimg", "train", "--steps", "3"])
    reexec_with_allocator_settings()
    assert len(execve_calls) == 1
    executable, arguments, environment = execve_calls[0]
    assert executable == sys.executable and arguments == [sys.executable, "-m", "genimg", "train", "--steps", "3"]
    assert {name: environment[name] for name in ALLOCATOR_SETTINGS} == ALLOCATOR_SETTINGS
    assert environment["GENIMG_KEEP_MALLOC"] == "1"  # so the restarted process does not restart again
    assert all(environment[name] == value for name, value in os.environ.items())  # the rest is passed on


def test_reexec_does_nothing_when_told_to_keep_the_allocator(execve_calls, monkeypatch):
    monkeypatch.setenv("GENIMG_KEEP_MALLOC", "1")
    reexec_with_allocator_settings()
    assert execve_calls == []


def test_reexec_does_nothing_when_the_settings_are_already_there(execve_calls, monkeypatch):
    for name, value in ALLOCATOR_SETTINGS.items():
        monkeypatch.setenv(name, value)
    reexec_with_allocator_settings()
    assert execve_calls == []
    monkeypatch.delenv(next(iter(ALLOCATOR_SETTINGS)))  # one missing is enough to restart
    reexec_with_allocator_settings()
    assert len(execve_calls) == 1


def test_reexec_does_nothing_off_linux(execve_calls, monkeypatch):
    monkeypatch.setattr(config_module.sys, "platform", "darwin")
    reexec_with_allocator_settings()
    assert execve_calls == []


def test_a_failed_reexec_carries_on(execve_calls, monkeypatch):
    def failing(*arguments):
        execve_calls.append(arguments)
        raise OSError("exec format error")

    monkeypatch.setattr(config_module.os, "execve", failing)
    reexec_with_allocator_settings({"GENIMG_TEST_SETTING": "1"})
    assert len(execve_calls) == 1 and execve_calls[0][2]["GENIMG_TEST_SETTING"] == "1"
