"""Model and training settings as frozen dataclasses that round-trip through plain dicts (JSON)."""

from __future__ import annotations

import dataclasses
import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LIKELIHOODS = ("bernoulli", "gaussian")
GAN_LOSSES = ("nonsaturating", "hinge")
PROJECT_ROOT = Path(__file__).resolve().parents[1]  # the folder holding app.py and genimg/
SHIPPED_DIR = PROJECT_ROOT / "checkpoints"  # the trained models the page opens on
DEVICES_HINT = "'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'"

# Hard limits that keep a typo from turning into a week-long run or an out-of-memory crash.
MAX_LATENT_DIM = 3 * 64 * 64  # a flow's latent is its noise image: 3×64×64 at most
MAX_WIDTH = 512
MAX_IMAGE_SIZE = 1024
# The kind stored by the judge classifier's checkpoints: a classifier beside the generators, not a model kind.
JUDGE_KIND = "judge"
MAX_CLASSES = 1000
MAX_STEPS = 10_000_000
MAX_BATCH_SIZE = 65_536
MAX_MMD_WEIGHT = 100_000


class ConfigError(ValueError):
    """A setting is out of range; the message names the setting, the value and what is accepted."""


def _check(condition: bool, name: str, value: Any, accepted: str) -> None:
    if not condition:
        raise ConfigError(f"{name} = {value!r} is not accepted: expected {accepted}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)) and math.isfinite(value)


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a network; stored in every checkpoint's config.json.

    kind: a registered model kind ("dcgan", "vae", "seed-gan", "seed-vae", ...; see genimg.models.registry,
        which also checks the settings each kind reads and the image sizes it can draw).
    image_size: side of the square images (28, 32 or 64 for the built-in kinds).
    channels: 1 (grey) or 3 (colour).
    latent_dim: size of z.
    num_classes: 0 for an unconditional model, else the number of classes it is conditioned on.
    width: base feature count; layers use width, 2·width, 4·width, ...
    likelihood: decoder distribution of kinds with an encoder, "bernoulli" (pixels in [0, 1], MNIST-like) or
        "gaussian" (a learned global standard deviation; suits colour photos).
    spectral_norm: spectral normalisation in a discriminator instead of batch norm.
    depth: extra 3×3 convolution layers at each resolution of a VAE's encoder and decoder or of a DCGAN's generator
        and discriminator (0 = the plain DCGAN-shaped networks); more capacity per scale, at more compute.

    Only settings that hold for every kind are checked here; `genimg.models.registry.check` adds each kind's own.
    """

    kind: str = "dcgan"
    image_size: int = 28
    channels: int = 1
    latent_dim: int = 100
    num_classes: int = 0
    width: int = 64
    likelihood: str = "bernoulli"
    spectral_norm: bool = False
    depth: int = 0

    def __post_init__(self) -> None:
        _check(isinstance(self.kind, str) and 0 < len(self.kind) <= 64, "model kind", self.kind,
               "the name of a registered model kind, such as 'dcgan' or 'vae'")
        _check(_is_int(self.image_size) and 8 <= self.image_size <= MAX_IMAGE_SIZE, "image_size", self.image_size,
               f"an integer from 8 to {MAX_IMAGE_SIZE}")
        _check(self.channels in (1, 3) and _is_int(self.channels), "channels", self.channels, "1 or 3")
        _check(_is_int(self.latent_dim) and 1 <= self.latent_dim <= MAX_LATENT_DIM, "latent_dim",
               self.latent_dim, f"an integer from 1 to {MAX_LATENT_DIM}")
        _check(_is_int(self.num_classes) and 0 <= self.num_classes <= MAX_CLASSES and self.num_classes != 1,
               "num_classes", self.num_classes, f"0 (unconditional) or an integer from 2 to {MAX_CLASSES}")
        _check(_is_int(self.width) and 4 <= self.width <= MAX_WIDTH, "width", self.width,
               f"an integer from 4 to {MAX_WIDTH}")
        _check(self.likelihood in LIKELIHOODS, "likelihood", self.likelihood, f"one of {LIKELIHOODS}")
        _check(isinstance(self.spectral_norm, bool), "spectral_norm", self.spectral_norm, "true or false")
        _check(_is_int(self.depth) and 0 <= self.depth <= 4, "depth", self.depth, "an integer from 0 to 4")

    @property
    def conditional(self) -> bool:
        return self.num_classes > 0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ModelConfig:
        return _from_dict(cls, values, "model")


@dataclass(frozen=True)
class TrainConfig:
    """One training run: model, data, optimisation and bookkeeping.

    lr_generator / lr_discriminator apply to GANs; a VAE uses lr_generator for its single optimiser.
    beta weighs the KL term of a VAE (β-VAE); kl_warmup_steps ramps it linearly from 0. mmd_weight > 0 adds that
    multiple of the MMD between the batch's codes and the prior to a VAE's loss (genimg.models.vae.prior_mmd).
    ema_decay > 0 keeps an exponential moving average of the generator (or VAE) weights, used for
    samples and saved as the model's weights.
    precision: "fp32", "bf16" (autocast) or "auto" (bf16 autocast on CUDA, fp32 elsewhere).
    binarise: dynamically binarised training data: every pixel of every batch drawn becomes 1 with probability
    equal to its grey level (a fresh draw each time, seeded by `seed`); the setting of the likelihood papers'
    "binarised MNIST", and what tells an evaluation to score the model on a binarised test set.
    lr_decay_from: from this step on, every learning rate falls linearly to zero at `steps` (annealing the end of a
    run); None keeps them constant.
    """

    model: ModelConfig = field(default_factory=ModelConfig)
    dataset: str = "mnist"
    data_root: str | None = None
    data_limit: int | None = None
    binarise: bool = False
    steps: int = 2000
    batch_size: int = 64
    lr_generator: float = 2e-4
    lr_discriminator: float = 2e-4
    adam_beta1: float = 0.5
    adam_beta2: float = 0.999
    gan_loss: str = "nonsaturating"
    beta: float = 1.0
    kl_warmup_steps: int = 0
    mmd_weight: float = 0.0
    ema_decay: float = 0.0
    lr_decay_from: int | None = None
    seed: int = 0
    device: str = "auto"
    precision: str = "fp32"
    log_every: int = 10
    sample_every: int = 200
    checkpoint_every: int = 1000
    max_seconds: float | None = None
    out: str | None = None
    # Also sample whenever this many seconds passed since the last grid (the page's live view), or None.
    sample_every_seconds: float | None = None

    def __post_init__(self) -> None:
        if isinstance(self.model, dict):  # tolerate a plain dict (from JSON) for the nested model
            object.__setattr__(self, "model", ModelConfig.from_dict(self.model))
        _check(isinstance(self.model, ModelConfig), "model", self.model, "a ModelConfig")
        _check(isinstance(self.dataset, str) and bool(self.dataset), "dataset", self.dataset,
               "a dataset name such as 'mnist', 'shapes' or 'folder:PATH'")
        _check(self.data_limit is None or (_is_int(self.data_limit) and self.data_limit >= 1), "data_limit",
               self.data_limit, "a positive integer or none")
        _check(isinstance(self.binarise, bool), "binarise", self.binarise, "true or false")
        _check(_is_int(self.steps) and 1 <= self.steps <= MAX_STEPS, "steps", self.steps,
               f"an integer from 1 to {MAX_STEPS:,}")
        _check(_is_int(self.batch_size) and 1 <= self.batch_size <= MAX_BATCH_SIZE, "batch_size",
               self.batch_size, f"an integer from 1 to {MAX_BATCH_SIZE}")
        for name in ("lr_generator", "lr_discriminator"):
            value = getattr(self, name)
            _check(_is_number(value) and 0 < value <= 1, name, value, "a number in (0, 1], typically 1e-4 to 1e-3")
        _check(self.lr_decay_from is None or (_is_int(self.lr_decay_from) and 0 <= self.lr_decay_from < self.steps),
               "lr_decay_from", self.lr_decay_from, f"none, or a step from 0 to steps − 1 ({self.steps - 1:,})")
        for name in ("adam_beta1", "adam_beta2"):
            value = getattr(self, name)
            _check(_is_number(value) and 0 <= value < 1, name, value, "a number in [0, 1)")
        _check(self.gan_loss in GAN_LOSSES, "gan_loss", self.gan_loss, f"one of {GAN_LOSSES}")
        _check(_is_number(self.beta) and 0 <= self.beta <= 1000, "beta", self.beta, "a number from 0 to 1000")
        _check(_is_int(self.kl_warmup_steps) and self.kl_warmup_steps >= 0, "kl_warmup_steps",
               self.kl_warmup_steps, "a non-negative integer")
        _check(_is_number(self.mmd_weight) and 0 <= self.mmd_weight <= MAX_MMD_WEIGHT, "mmd_weight", self.mmd_weight,
               f"0 (off) or a number up to {MAX_MMD_WEIGHT:,}, typically 100 to 1,000")
        _check(_is_number(self.ema_decay) and 0 <= self.ema_decay < 1, "ema_decay", self.ema_decay,
               "0 (off) or a number in (0, 1), typically 0.999")
        _check(_is_int(self.seed) and 0 <= self.seed < 2**63, "seed", self.seed, "a non-negative integer")
        _check(isinstance(self.device, str) and bool(self.device), "device", self.device, DEVICES_HINT)
        _check(self.precision in ("fp32", "bf16", "auto"), "precision", self.precision, "'fp32', 'bf16' or 'auto'")
        for name in ("log_every", "sample_every", "checkpoint_every"):
            value = getattr(self, name)
            _check(_is_int(value) and value >= 1, name, value, "a positive integer")
        _check(self.max_seconds is None or (_is_number(self.max_seconds) and self.max_seconds > 0), "max_seconds",
               self.max_seconds, "a positive number of seconds or none")
        _check(self.sample_every_seconds is None or (_is_number(self.sample_every_seconds)
                                                     and 0 < self.sample_every_seconds <= 86400),
               "sample_every_seconds", self.sample_every_seconds, "a number of seconds in (0, 86400] or none")

    def to_dict(self) -> dict[str, Any]:
        values = dataclasses.asdict(self)
        values["model"] = self.model.to_dict()
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        values = dict(values)
        if "model" in values:
            values["model"] = ModelConfig.from_dict(values["model"])
        return _from_dict(cls, values, "training")

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class Recipe:
    """A model kind's default training settings, written once where the kind registers
    (genimg.models.registry); `python -m genimg train` uses them for every flag not given, and the Train tab's
    presets (genimg.recipes) start from them.

    learning_rate: the generator's, or the single optimiser's for a kind without a discriminator;
    discriminator_learning_rate: None = the same as learning_rate.
    depth, kl_warmup_steps, likelihood: a VAE's extra 3×3 layers per resolution, β's ramp and its decoder
        (ModelConfig.depth, TrainConfig.kl_warmup_steps, ModelConfig.likelihood; None: the one for the pictures'
        channels); mmd_weight: the VAE's prior-matching term (TrainConfig.mmd_weight); binarise: train on dynamically binarised pictures (TrainConfig.binarise); lr_decay_from: the step
        where the learning rates start falling linearly to zero at `steps` (TrainConfig.lr_decay_from).
    """

    latent_dim: int
    width: int
    learning_rate: float
    adam_beta1: float
    discriminator_learning_rate: float | None = None
    steps: int = 2000
    batch_size: int = 64
    ema_decay: float = 0.0
    gan_loss: str = "nonsaturating"
    beta: float = 1.0
    depth: int = 0
    kl_warmup_steps: int = 0
    mmd_weight: float = 0.0
    likelihood: str | None = None
    binarise: bool = False
    lr_decay_from: int | None = None

    def replace(self, **changes: Any) -> Recipe:
        return dataclasses.replace(self, **changes)

    @property
    def lr_discriminator(self) -> float:
        return self.learning_rate if self.discriminator_learning_rate is None else self.discriminator_learning_rate


def _from_dict(cls: type, values: dict[str, Any], what: str) -> Any:
    if not isinstance(values, dict):
        raise ConfigError(f"{what} settings must be a JSON object, got {type(values).__name__}")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"unknown {what} setting(s) {unknown}; known settings: {sorted(known)}")
    try:
        return cls(**values)
    except TypeError as error:  # e.g. a list where a number belongs, caught before comparisons
        raise ConfigError(f"bad {what} settings: {error}") from None


# ------------------------------------------------------------------------------------ process settings
# glibc malloc settings for training processes (see genimg/__main__.py for the measurement behind them).
ALLOCATOR_SETTINGS = {"MALLOC_TRIM_THRESHOLD_": "1073741824", "MALLOC_MMAP_THRESHOLD_": "33554432"}
PAGE_ALLOCATOR_SETTINGS = {"MALLOC_ARENA_MAX": "2"}


def reexec_with_allocator_settings(settings: dict[str, str] = ALLOCATOR_SETTINGS) -> None:
    if not sys.platform.startswith("linux") or os.environ.get("GENIMG_KEEP_MALLOC"):
        return
    if all(os.environ.get(name) for name in settings):
        return
    environment = {**os.environ, **settings, "GENIMG_KEEP_MALLOC": "1"}
    try:
        os.execve(sys.executable, [sys.executable, "-m", "genimg", *sys.argv[1:]], environment)
    except OSError:
        return  # carry on with the default allocator
