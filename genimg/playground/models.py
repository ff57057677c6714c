"""Tiny MLP GAN, VAE and flow-matching trainers on a 2-D distribution, stepped one update at a time for the playground.

Each trainer owns its networks, optimizers and a seeded CPU torch.Generator: the same seed and settings give the same
weights, losses and samples on every run, and nothing touches torch's global random state after construction.
`step()` is exactly one update (what that is per family is in each class's docstring); `samples(n)` draws n points
from fixed noise, so the points glide from frame to frame instead of flickering.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from typing import Literal

import torch
from torch import nn
from torch.nn import functional

from genimg.playground.distributions import Distribution

FAMILIES = ("gan", "vae", "flow")
Family = Literal["gan", "vae", "flow"]
MAX_SAMPLES = 20_000
DISPLAY_SEED_OFFSET = 1_000_003  # the fixed display noise comes from seed + this, apart from the training noise


def _check_range(settings: object, name: str, low: float, high: float, whole: bool = False) -> None:
    value = getattr(settings, name)
    kind_ok = isinstance(value, int) if whole else isinstance(value, (int, float))
    if isinstance(value, bool) or not kind_ok or not (math.isfinite(value) and low <= value <= high):
        accepted = f"a whole number from {low} to {high}" if whole else f"a number from {low:g} to {high:g}"
        raise ValueError(f"{name} = {value!r} is not accepted: {accepted}")


def mlp(input_size: int, output_size: int, width: int, depth: int) -> nn.Sequential:
    """input_size → `depth` hidden layers of `width` (LeakyReLU 0.2) → output_size, a linear last layer."""
    layers: list[nn.Module] = []
    size = input_size
    for _ in range(depth):
        layers += [nn.Linear(size, width), nn.LeakyReLU(0.2)]
        size = width
    layers.append(nn.Linear(size, output_size))
    return nn.Sequential(*layers)


# ----------------------------------------------------------------------------------------------------------- settings
@dataclass(frozen=True)
class GanSettings:
    """A GAN's settings. pack_size > 1 is the mode-collapse fix (PacGAN): D judges packs of pack_size samples at once,
    concatenated into one (2·pack_size)-vector, so a generator that puts every sample on one mode is easy to spot."""

    noise_dim: int = 2
    width: int = 64
    depth: int = 3
    generator_learning_rate: float = 1e-3
    discriminator_learning_rate: float = 1e-3
    discriminator_steps: int = 1
    batch_size: int = 256
    pack_size: int = 1
    adam_beta1: float = 0.5

    def __post_init__(self) -> None:
        _check_range(self, "noise_dim", 1, 16, whole=True)
        _check_range(self, "width", 4, 512, whole=True)
        _check_range(self, "depth", 1, 6, whole=True)
        _check_range(self, "generator_learning_rate", 1e-6, 0.1)
        _check_range(self, "discriminator_learning_rate", 1e-6, 0.1)
        _check_range(self, "discriminator_steps", 1, 10, whole=True)
        _check_range(self, "batch_size", 8, 2048, whole=True)
        _check_range(self, "pack_size", 1, 8, whole=True)
        _check_range(self, "adam_beta1", 0.0, 0.99)
        if self.batch_size % self.pack_size:
            raise ValueError(
                f"batch_size = {self.batch_size} is not accepted with pack_size = {self.pack_size}: "
                "a multiple of pack_size"
            )


@dataclass(frozen=True)
class VaeSettings:
    """A VAE's settings: a 1-D or 2-D latent, β weighting the KL term, and the decoder's σ learned or fixed."""

    latent_dim: int = 2
    width: int = 64
    depth: int = 3
    learning_rate: float = 5e-3
    beta: float = 1.0
    learn_decoder_std: bool = False
    decoder_std: float = 0.1  # the fixed σ, or the learned σ's starting value
    batch_size: int = 256

    def __post_init__(self) -> None:
        _check_range(self, "latent_dim", 1, 2, whole=True)
        _check_range(self, "width", 4, 512, whole=True)
        _check_range(self, "depth", 1, 6, whole=True)
        _check_range(self, "learning_rate", 1e-6, 0.1)
        _check_range(self, "beta", 0.0, 100.0)
        _check_range(self, "decoder_std", 0.01, 2.0)
        _check_range(self, "batch_size", 8, 2048, whole=True)
        if not isinstance(self.learn_decoder_std, bool):
            raise ValueError(f"learn_decoder_std = {self.learn_decoder_std!r} is not accepted: True or False")


@dataclass(frozen=True)
class FlowSettings:
    """A flow-matching model's settings; sampler and sample_steps say how samples(n) integrates dx/dt = v(x, t)."""

    width: int = 64
    depth: int = 3
    learning_rate: float = 5e-3
    batch_size: int = 256
    time_frequencies: int = 4
    sampler: str = "heun"
    sample_steps: int = 20

    def __post_init__(self) -> None:
        _check_range(self, "width", 4, 512, whole=True)
        _check_range(self, "depth", 1, 6, whole=True)
        _check_range(self, "learning_rate", 1e-6, 0.1)
        _check_range(self, "batch_size", 8, 2048, whole=True)
        _check_range(self, "time_frequencies", 1, 16, whole=True)
        _check_range(self, "sample_steps", 1, 200, whole=True)
        if self.sampler not in ("euler", "heun"):
            raise ValueError(f"sampler = {self.sampler!r} is not accepted: 'euler' or 'heun'")


Settings = GanSettings | VaeSettings | FlowSettings
SETTINGS_CLASSES: dict[str, type] = {"gan": GanSettings, "vae": VaeSettings, "flow": FlowSettings}

# Mode collapse on gaussians8: G learns 10× faster than D, so G keeps piling onto whichever mode D rates "real"
# before D can answer: 0-1 of 8 modes covered at updates 500, 1000 and 1500, seeds 0-5. The fix, packs of 2
# (PacGAN), covers 4-8 of 8 at those updates and seeds, 8 of 8 at update 1000 for seeds 0, 1, 2 and 5
# (seed 0: 7 of 8 with torch 2.14.1).
# Packs of 4 did worse (2-8 by update 2000). More D steps help too, at 3-5× the D work per update: 3 per G step
# covered 7-8 of 8 at update 1000 (seeds 0-3), 5 per G step 6-7. tests/playground/test_quality.py checks seed 0.
MODE_COLLAPSE_PRESET = GanSettings(generator_learning_rate=3e-3, discriminator_learning_rate=3e-4)
MODE_COLLAPSE_FIX = replace(MODE_COLLAPSE_PRESET, pack_size=2)


# ----------------------------------------------------------------------------------------------------------- trainers
@dataclass
class _History:
    """Loss per update, one list per named loss, index i = update i + 1."""

    losses: dict[str, list[float]] = field(default_factory=dict)

    def add(self, **values: float) -> None:
        for name, value in values.items():
            self.losses.setdefault(name, []).append(value)


class Trainer:
    """What every family's trainer shares: seed, distribution, update count, loss history, reset."""

    family: str = ""

    def __init__(self, distribution: Distribution, settings: Settings, seed: int = 0) -> None:
        if not isinstance(distribution, Distribution):
            raise ValueError(f"distribution {distribution!r:.60} is not accepted: a playground Distribution")
        expected = SETTINGS_CLASSES[self.family]
        if not isinstance(settings, expected):
            raise ValueError(f"settings {settings!r:.80} are not accepted for the {self.family}: a {expected.__name__}")
        self.distribution = distribution
        self.settings = settings
        self.reset(seed)

    def reset(self, seed: int | None = None) -> None:
        """Fresh networks and optimizers from `seed` (the current seed when None); update count and history cleared."""
        if seed is not None:
            if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**31:
                raise ValueError(f"seed {seed!r} is not accepted: a whole number from 0 to {2**31 - 1}")
            self.seed = seed
        self.generator = torch.Generator().manual_seed(self.seed)
        # Initial weights from the seed without disturbing (or depending on) the global random state.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            self._build()
        self.update_count = 0
        self._history = _History()

    @property
    def loss_history(self) -> dict[str, list[float]]:
        """Each loss's value at every update so far: {"name": [value after update 1, 2, ...]}."""
        return self._history.losses

    def _real_batch(self, count: int) -> torch.Tensor:
        return self.distribution.sample(count, self.generator)

    def display_generator(self, seed: int | None = None) -> torch.Generator:
        """A fresh generator for the display noise: the same every call for a given trainer seed (or `seed`)."""
        return torch.Generator().manual_seed(self.seed + DISPLAY_SEED_OFFSET if seed is None else seed)

    @staticmethod
    def _check_sample_count(count: int) -> None:
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_SAMPLES:
            raise ValueError(f"sample count {count!r} is not accepted: a whole number from 1 to {MAX_SAMPLES}")

    def _build(self) -> None:
        raise NotImplementedError

    def step(self) -> dict[str, float]:
        raise NotImplementedError

    def samples(self, count: int, seed: int | None = None) -> torch.Tensor:
        raise NotImplementedError


class GanTrainer(Trainer):
    """G: noise (noise_dim) → point (2); D: pack of points (2·pack_size) → logit. Non-saturating loss.

    One update = `discriminator_steps` D optimizer steps (each on a fresh real and a fresh generated batch), then one
    G optimizer step on a fresh noise batch. Losses recorded: "discriminator" (the last D step's) and "generator".
    """

    family = "gan"
    settings: GanSettings

    def _build(self) -> None:
        s = self.settings
        self.generator_network = mlp(s.noise_dim, 2, s.width, s.depth)
        self.discriminator_network = mlp(2 * s.pack_size, 1, s.width, s.depth)
        self.generator_optimizer = torch.optim.Adam(
            self.generator_network.parameters(), lr=s.generator_learning_rate, betas=(s.adam_beta1, 0.999)
        )
        self.discriminator_optimizer = torch.optim.Adam(
            self.discriminator_network.parameters(), lr=s.discriminator_learning_rate, betas=(s.adam_beta1, 0.999)
        )

    def noise(self, count: int, generator: torch.Generator) -> torch.Tensor:
        """(count, noise_dim) standard normal noise."""
        return torch.randn(count, self.settings.noise_dim, generator=generator)

    def discriminate(self, points: torch.Tensor) -> torch.Tensor:
        """D's logits for points (N, 2), N a multiple of pack_size: consecutive pack_size points form one pack → (N / pack_size,)."""
        packed = points.reshape(-1, 2 * self.settings.pack_size)
        return self.discriminator_network(packed).squeeze(1)

    def generator_loss(self, generated: torch.Tensor) -> torch.Tensor:
        """Non-saturating G loss for generated points (N, 2): mean softplus(-D) = -log D(G(z))."""
        return functional.softplus(-self.discriminate(generated)).mean()

    def step(self) -> dict[str, float]:
        s = self.settings
        for _ in range(s.discriminator_steps):
            real = self._real_batch(s.batch_size)
            with torch.no_grad():
                fake = self.generator_network(self.noise(s.batch_size, self.generator))
            discriminator_loss = (
                functional.softplus(-self.discriminate(real)).mean() + functional.softplus(self.discriminate(fake)).mean()
            )
            self.discriminator_optimizer.zero_grad(set_to_none=True)
            discriminator_loss.backward()
            self.discriminator_optimizer.step()
        generator_loss = self.generator_loss(self.generator_network(self.noise(s.batch_size, self.generator)))
        self.generator_optimizer.zero_grad(set_to_none=True)
        generator_loss.backward()
        self.generator_optimizer.step()
        self.update_count += 1
        losses = {"discriminator": float(discriminator_loss.detach()), "generator": float(generator_loss.detach())}
        self._history.add(**losses)
        return losses

    @torch.no_grad()
    def samples(self, count: int, seed: int | None = None) -> torch.Tensor:
        """G's points for `count` fixed noise vectors (the same for a given trainer seed, or `seed`): (count, 2)."""
        self._check_sample_count(count)
        return self.generator_network(self.noise(count, self.display_generator(seed)))


class VaeTrainer(Trainer):
    """Encoder: point (2) → latent mean and log-variance (latent_dim each); decoder: latent → point mean (2), with σ.

    One update = one Adam step on a fresh batch's negative ELBO per point:
    |x - decoder(z)|² / (2σ²) + 2·log σ + β·KL(q(z|x) ‖ N(0, I)), z = mean + exp(log_variance / 2)·ε.
    Losses recorded: "loss" (that sum), "reconstruction" and "kl" (unweighted).
    """

    family = "vae"
    settings: VaeSettings

    def _build(self) -> None:
        s = self.settings
        self.encoder = mlp(2, 2 * s.latent_dim, s.width, s.depth)
        self.decoder = mlp(s.latent_dim, 2, s.width, s.depth)
        self.log_decoder_std = nn.Parameter(torch.tensor(math.log(s.decoder_std)), requires_grad=s.learn_decoder_std)
        parameters = [*self.encoder.parameters(), *self.decoder.parameters()]
        if s.learn_decoder_std:
            parameters.append(self.log_decoder_std)
        self.optimizer = torch.optim.Adam(parameters, lr=s.learning_rate)

    def encode(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """points (N, 2) → (mean, log_variance) of q(z|x), each (N, latent_dim)."""
        mean, log_variance = self.encoder(points).chunk(2, dim=1)
        return mean, log_variance.clamp(-12, 6)  # keeps exp() finite even at absurd learning rates

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """latents (N, latent_dim) → the decoder's mean point (N, 2)."""
        return self.decoder(latents)

    @property
    def decoder_std(self) -> float:
        """The decoder's σ (learned or fixed), in plot units."""
        return float(self.log_decoder_std.detach().exp())

    def step(self) -> dict[str, float]:
        s = self.settings
        points = self._real_batch(s.batch_size)
        mean, log_variance = self.encode(points)
        latents = mean + torch.exp(0.5 * log_variance) * torch.randn(mean.shape, generator=self.generator)
        reconstructed = self.decode(latents)
        variance = torch.exp(2 * self.log_decoder_std)
        reconstruction = ((points - reconstructed).square().sum(dim=1) / (2 * variance) + 2 * self.log_decoder_std).mean()
        kl = (0.5 * (mean.square() + log_variance.exp() - 1 - log_variance).sum(dim=1)).mean()
        loss = reconstruction + s.beta * kl
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.update_count += 1
        losses = {"loss": float(loss.detach()), "reconstruction": float(reconstruction.detach()), "kl": float(kl.detach())}
        self._history.add(**losses)
        return losses

    @torch.no_grad()
    def samples(self, count: int, seed: int | None = None) -> torch.Tensor:
        """decoder(z) + σ·ε for fixed z ~ N(0, I) and ε (the same for a given trainer seed, or `seed`): (count, 2)."""
        self._check_sample_count(count)
        generator = self.display_generator(seed)
        latents = torch.randn(count, self.settings.latent_dim, generator=generator)
        return self.decode(latents) + self.decoder_std * torch.randn(count, 2, generator=generator)


class FlowTrainer(Trainer):
    """Flow matching: velocity v(x, t) (MLP on x and sin/cos features of t) along x_t = (1 - t)·x0 + t·x1, x0 ~ N(0, I).

    One update = one Adam step on a fresh batch's mean |v(x_t, t) - (x1 - x0)|², t ~ U[0, 1]. Loss recorded: "loss".
    Samples integrate dx/dt = v(x, t) from t = 0 (noise) to t = 1 (data) with Euler or Heun steps.
    """

    family = "flow"
    settings: FlowSettings

    def _build(self) -> None:
        s = self.settings
        self.velocity_network = mlp(2 + 2 * s.time_frequencies, 2, s.width, s.depth)
        self.optimizer = torch.optim.Adam(self.velocity_network.parameters(), lr=s.learning_rate)
        self._frequencies = math.pi * 2.0 ** torch.arange(s.time_frequencies, dtype=torch.float32)

    def velocity(self, points: torch.Tensor, time: torch.Tensor | float) -> torch.Tensor:
        """v(x, t) for points (N, 2) at time t (a number or (N,) in [0, 1]) → (N, 2)."""
        times = torch.as_tensor(time, dtype=torch.float32).expand(len(points))
        angles = times[:, None] * self._frequencies  # (N, time_frequencies)
        return self.velocity_network(torch.cat([points, torch.sin(angles), torch.cos(angles)], dim=1))

    def step(self) -> dict[str, float]:
        s = self.settings
        data = self._real_batch(s.batch_size)
        noise = torch.randn(data.shape, generator=self.generator)
        times = torch.rand(s.batch_size, generator=self.generator)
        between = (1 - times[:, None]) * noise + times[:, None] * data
        loss = (self.velocity(between, times) - (data - noise)).square().sum(dim=1).mean()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.update_count += 1
        losses = {"loss": float(loss.detach())}
        self._history.add(**losses)
        return losses

    @torch.no_grad()
    def integrate(self, start: torch.Tensor, steps: int | None = None, sampler: str | None = None) -> torch.Tensor:
        """Carry points (N, 2) from t = 0 to t = 1: the path (steps + 1, N, 2), start first, samples last."""
        steps = self.settings.sample_steps if steps is None else steps
        sampler = self.settings.sampler if sampler is None else sampler
        FlowSettings(sample_steps=steps, sampler=sampler)  # validates both
        path = [start]
        points, size = start, 1.0 / steps
        for index in range(steps):
            time = index * size
            slope = self.velocity(points, time)
            if sampler == "heun":
                guess = points + size * slope
                slope = 0.5 * (slope + self.velocity(guess, time + size))
            points = points + size * slope
            path.append(points)
        return torch.stack(path)

    def samples(self, count: int, seed: int | None = None) -> torch.Tensor:
        """The flow's end points for `count` fixed noise points (the same for a given trainer seed, or `seed`): (count, 2)."""
        self._check_sample_count(count)
        return self.integrate(torch.randn(count, 2, generator=self.display_generator(seed)))[-1]


TRAINER_CLASSES: dict[str, type[Trainer]] = {"gan": GanTrainer, "vae": VaeTrainer, "flow": FlowTrainer}


def make_trainer(family: str, distribution: Distribution, settings: Settings | None = None, seed: int = 0) -> Trainer:
    """A fresh trainer of `family` ("gan", "vae" or "flow") on `distribution`, default settings when None."""
    if family not in TRAINER_CLASSES:
        raise ValueError(f"family {family!r} is not accepted: one of {', '.join(FAMILIES)}")
    return TRAINER_CLASSES[family](distribution, settings if settings is not None else SETTINGS_CLASSES[family](), seed)


def settings_from_dict(family: str, values: dict) -> Settings:
    """Settings of `family` from a plain dict (e.g. the page's controls); unknown names are rejected, not ignored."""
    if family not in SETTINGS_CLASSES:
        raise ValueError(f"family {family!r} is not accepted: one of {', '.join(FAMILIES)}")
    settings_class = SETTINGS_CLASSES[family]
    known = {item.name for item in fields(settings_class)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"setting {unknown[0]!r} is not accepted for the {family}: one of {', '.join(sorted(known))}")
    return settings_class(**values)
