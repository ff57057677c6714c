"""GAN tools: find the z behind a picture by optimisation (inversion), and ask the discriminator how real it looks.

A GAN has no encoder (its kind's capabilities say inversion = "optimise"), so the z behind a picture is found by
gradient descent through the shared generator (`invert_generator`). Its discriminator scores pictures with a logit
ℓ, read as σ(ℓ) "probability real" (`verdict`), best compared with its mean over the generator's own samples and
over real test images (`discriminator_reference`). The GAN tab (genimg/ui/gan_tab.py) only converts these values.
Shapes: images are (B, C, S, S) floats in [0, 1]; latents are (D,) or (B, D).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from genimg.data.datasets import ImageData
from genimg.explore.encode import sample_images
from genimg.explore.latent import (
    class_tensor,
    latent_distance,
    latent_norm,
    model_device,
)
from genimg.models import GAN, GenerativeModel
from genimg.models.latent import seeded_latents

MAX_INVERSION_STEPS = 1_000
MAX_RESTARTS = 16
REFERENCE_COUNT = 64  # samples (and real images) D's reference means are taken over
# A found z this far from the true one (in ‖·‖/√D) whose image error fell below this fraction of the starting
# error: the generator draws nearly the same image from two clearly different latents.
LOOKALIKE_DISTANCE = 0.25
LOOKALIKE_ERROR_FRACTION = 0.01


# ---------------------------------------------------------------------------------------------- inversion


@dataclass(frozen=True)
class InversionStep:
    """One report of invert_generator: the best restart so far.

    step: Adam steps done; loss = mse + prior_weight · ‖z‖²/D; mse: mean squared pixel error in [0, 1] units;
    z: (D,) the best latent; image: (1, C, S, S) G(z) in [0, 1]; done: the last report.
    """

    step: int
    loss: float
    mse: float
    z: torch.Tensor
    image: torch.Tensor
    done: bool = False

    @property
    def z_norm(self) -> float:
        """‖z‖/√D of the best latent: near 1 where the generator was trained (a sample of N(0, I))."""
        return latent_norm(self.z)


def invert_generator(model: GenerativeModel, target: torch.Tensor, label: int | None = None, *, steps: int = 200,
                     lr: float = 0.05, restarts: int = 4, candidates: int = 64, prior_weight: float = 1e-3,
                     seed: int = 0, report_every: int = 10, report_interval_s: float = 0.25,
                     max_seconds: float = 60.0) -> Iterator[InversionStep]:
    """Find z* = argmin_z ‖G(z) − x‖² (+ prior_weight · ‖z‖²/D) for a target x (1, C, S, S) in [0, 1], by Adam.

    `candidates` seeded latents are tried and the `restarts` best ones are optimised together as one batch;
    the best of them is reported at step 0, every `report_every` steps or `report_interval_s` seconds
    (whichever comes first, so a caller can stop it), and at the end (done=True), which is also reached after
    `max_seconds`. Gradients flow only to z: the shared generator's weights are neither changed nor given .grad.
    """
    if not 1 <= steps <= MAX_INVERSION_STEPS:
        raise ValueError(f"steps = {steps} is not accepted: expected 1 to {MAX_INVERSION_STEPS}")
    if not 1 <= restarts <= MAX_RESTARTS:
        raise ValueError(f"restarts = {restarts} is not accepted: expected 1 to {MAX_RESTARTS}")
    if not (math.isfinite(lr) and 0 < lr <= 1):
        raise ValueError(f"lr = {lr} is not accepted: expected a number in (0, 1]")
    if not (math.isfinite(prior_weight) and 0 <= prior_weight <= 10):
        raise ValueError(f"prior_weight = {prior_weight} is not accepted: expected 0 to 10")
    device = model_device(model)
    target = target.to(device=device, dtype=torch.float32)
    candidates = max(candidates, restarts)
    started = time.monotonic()

    def losses(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        images = model.generate(z, class_tensor(model, label, z.shape[0]))  # (R, C, S, S) in [0, 1]
        mse = (images - target).pow(2).flatten(1).mean(dim=1)  # (R,)
        return mse + prior_weight * z.pow(2).mean(dim=1), mse

    with torch.no_grad():  # (not inference_mode: z below must become a normal tensor that autograd can track)
        pool = seeded_latents(seed, candidates, model.latent_dim, device)
        first = losses(pool)[0]
    z = pool[first.argsort()[:restarts]].clone().requires_grad_(True)  # (R, D), a normal tensor again
    optimizer = torch.optim.Adam([z], lr=lr)
    best: InversionStep | None = None

    def report(step: int, done: bool) -> InversionStep:
        nonlocal best
        with torch.no_grad():
            total, mse = losses(z)
            index = int(total.argmin())
            if best is None or float(total[index]) < best.loss:
                image = model.generate(z[index:index + 1], class_tensor(model, label))
                best = InversionStep(step, float(total[index]), float(mse[index]), z[index].detach().cpu().clone(),
                                     image.float().cpu())
        return InversionStep(step, best.loss, best.mse, best.z, best.image, done)

    with torch.enable_grad():
        last_report = time.monotonic()
        yield report(0, False)
        step = 0
        for step in range(1, steps + 1):
            total, _ = losses(z)
            (gradient,) = torch.autograd.grad(total.sum(), z)  # restarts are independent: the sum splits
            z.grad = gradient
            optimizer.step()
            now = time.monotonic()
            if now - started > max_seconds:
                break
            if step < steps and (step % report_every == 0 or now - last_report >= report_interval_s):
                last_report = now
                yield report(step, False)
        yield report(step, True)


# ---------------------------------------------------------------------------------------------- the discriminator


@torch.inference_mode()
def discriminator_logits(gan: GAN, images: torch.Tensor,
                         label: int | torch.Tensor | None = None) -> torch.Tensor:
    """D's logits (B,) for images (B, C, S, S) in [0, 1], in one batched pass; σ(logit) is D's "probability real".

    label: a conditional model's class for every image (an int), or each image's own (a (B,) tensor); an
    unconditional model ignores it. `gan` must have a discriminator (its kind's capabilities.discriminator).
    """
    device = model_device(gan)
    images = images.to(device=device, dtype=torch.float32)
    if not gan.num_classes:
        labels = None
    elif isinstance(label, torch.Tensor):
        if label.shape != (images.shape[0],):
            raise ValueError(f"labels of shape {tuple(label.shape)} are not accepted: expected ({images.shape[0]},), "
                             "one class per image")
        if len(label) and not 0 <= int(label.min()) <= int(label.max()) < gan.num_classes:
            raise ValueError(f"classes {sorted(set(label.tolist()))} are not accepted: this model needs classes "
                             f"from 0 to {gan.num_classes - 1}")
        labels = label.to(device=device, dtype=torch.long)
    else:
        labels = class_tensor(gan, label, images.shape[0])
    return gan.discriminator_logits(images, labels).float().cpu()


def probability_real(logit: float) -> float:
    """σ(logit) = 1/(1 + e^−logit), computed without overflow for large |logit|."""
    if logit >= 0:
        return 1.0 / (1.0 + math.exp(-logit))
    return math.exp(logit) / (1.0 + math.exp(logit))


@dataclass(frozen=True)
class Verdict:
    """D's answer for one image: its logit ℓ and σ(ℓ), "probability real" (not a calibrated probability)."""

    logit: float
    probability: float


def verdict(gan: GAN, image: torch.Tensor, label: int | None = None) -> Verdict:
    """D's verdict on one image (1, C, S, S) in [0, 1] (label: a conditional model's class)."""
    logit = float(discriminator_logits(gan, image, label)[0])
    return Verdict(logit, probability_real(logit))


@dataclass(frozen=True)
class DiscriminatorReference:
    """D's mean logits to compare one verdict with: over `fake_count` of G's own samples and, when a labelled (or,
    for an unconditional model, any) test set was given, over `real_count` real images (real_logit None otherwise).
    """

    fake_logit: float
    fake_count: int
    real_logit: float | None = None
    real_count: int = 0

    @property
    def fake_probability(self) -> float:
        return probability_real(self.fake_logit)

    @property
    def real_probability(self) -> float | None:
        return None if self.real_logit is None else probability_real(self.real_logit)


def discriminator_reference(gan: GAN, label: int | None = None, count: int = REFERENCE_COUNT,
                            real: ImageData | None = None) -> DiscriminatorReference:
    """D's mean logit over `count` of G's seeded samples (seed 0) and over the first `count` real test images.

    label: a conditional model's class: every sample is drawn as it and only real images of it are used; None
    cycles the samples through the classes and scores real images with their own labels. real: uint8 test images
    (a conditional model needs their labels; without them no real mean is given).
    """
    images, labels = sample_images(gan, count, seed=0)
    if label is not None:
        labels = torch.full((count,), label)
    fake = float(discriminator_logits(gan, images, labels).mean())
    if real is None or (real.labels is None and gan.num_classes):
        return DiscriminatorReference(fake, count)
    real_images, real_labels = real.images, real.labels
    if label is not None and real_labels is not None:
        chosen = (real_labels == label).nonzero().flatten()[:count]
        real_images, real_labels = real_images[chosen], real_labels[chosen]
    real_images = real_images[:count].float() / 255.0
    real_labels = None if real_labels is None else real_labels[:count]
    if not len(real_images):
        return DiscriminatorReference(fake, count)
    real_logit = float(discriminator_logits(gan, real_images, real_labels).mean())
    return DiscriminatorReference(fake, count, real_logit, len(real_images))


# ---------------------------------------------------------------------------------------------- an inversion's outcome


@dataclass(frozen=True)
class InversionSummary:
    """What an inversion found, for its last report.

    step, mse, z_norm: the last report's; first_mse: the pixel error at step 0; improvement: first_mse / mse;
    verdict: D's verdict on G(z*); distance: ‖z* − z_true‖/√D when the target was drawn from a known z_true (else
    None); lookalike: that distance is clear while the error fell a hundredfold, so two latents draw nearly one image.
    """

    step: int
    mse: float
    first_mse: float
    improvement: float
    z_norm: float
    verdict: Verdict | None
    distance: float | None
    lookalike: bool


def summarise_inversion(last: InversionStep, first_mse: float, gan: GAN | None = None,
                        label: int | None = None, true_z: torch.Tensor | None = None) -> InversionSummary:
    """Summarise the final report of invert_generator; with `gan`, D's verdict on G(z*) (label: its class)."""
    distance = None if true_z is None else latent_distance(last.z, true_z)
    lookalike = distance is not None and distance > LOOKALIKE_DISTANCE and \
        last.mse < LOOKALIKE_ERROR_FRACTION * first_mse
    return InversionSummary(last.step, last.mse, first_mse, first_mse / max(last.mse, 1e-12), last.z_norm,
                            None if gan is None else verdict(gan, last.image, label), distance, lookalike)
