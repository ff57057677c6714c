"""Latent vectors as the Explore tabs edit and draw them: the z the Latent tab's controls describe, norms, pictures.

The Latent space tab's controls describe one z: the seed's z with its first values set by the sliders, pulled
towards the centre by the truncation ψ and moved a strength α along a direction v, z' = ψ·z + α·v
(`edit_latent`). Where single coordinates mean nothing to look at (a flow, whose z is a whole noise image), the
sliders are z's coordinates along given axes instead, its principal directions (`axis_coordinates`). A compared
model draws that same z, or the seed's own z of its size with the same ψ (`compared_latent`). Also shared by the
other explore modules: a model's device, a class as the tensor a model takes, and a latent's size relative to the
prior's (‖z‖/√D). Shapes: z is (D,) or (1, D); pictures are uint8 (H, W) for grey images, (H, W, 3) for colour
ones.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from genimg.data.imaging import to_uint8
from genimg.models import GenerativeModel
from genimg.models.latent import seeded_latents


def model_device(model: torch.nn.Module) -> torch.device:
    """The device of a model's weights (where its inputs must be); the CPU for a model without weights."""
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


def class_tensor(model: GenerativeModel, label: int | None, count: int = 1) -> torch.Tensor | None:
    """(count,) labels for a conditional model, None for an unconditional one; checks the range."""
    classes = model.num_classes
    if not classes:
        return None
    if label is None or not 0 <= int(label) < classes:
        raise ValueError(f"class {label!r} is not accepted: this model needs a class from 0 to {classes - 1}")
    return torch.full((count,), int(label), dtype=torch.long, device=model_device(model))


def latent_norm(z: torch.Tensor) -> float:
    """‖z‖/√D for one latent (D,): about 1 for a sample of the prior N(0, I), so far from 1 means rarely trained."""
    return float(z.norm()) / z.shape[-1] ** 0.5


def latent_distance(first: torch.Tensor, second: torch.Tensor) -> float:
    """‖first − second‖/√D for two latents (D,): on the scale of latent_norm (two prior samples are about √2 apart)."""
    return latent_norm(first - second)


def axis_coordinates(z: torch.Tensor, axes: torch.Tensor) -> torch.Tensor:
    """z's coordinates along K axes: z (D,) or (1, D), axes A (K, D) of unit length, linearly independent, not
    necessarily orthogonal → s (K,) with z = sᵀA + r, r orthogonal to every axis (least squares: s = (A Aᵀ)⁻¹ A z).

    Moving one coordinate by δ moves z by δ along that axis exactly, as a step along a principal direction does. For
    z ~ N(0, I) each coordinate has variance [(A Aᵀ)⁻¹]ₖₖ: 1 for orthonormal axes (1.00-1.01 for the principal
    directions of the shipped models, whose pairwise |cos| is at most 0.08)."""
    rows = axes.double().cpu()
    gram = rows @ rows.T
    return torch.linalg.solve(gram, rows @ z.reshape(-1).double().cpu()).float()


def slider_values(seed: int, latent_dim: int, count: int, limit: float, axes: torch.Tensor | None = None
                  ) -> list[float]:
    """Where the Latent tab's sliders start for a seed, clamped to ±limit and rounded to 0.01: the first `count`
    values of the seed's z (D = latent_dim), or with `axes` (≥ count rows), its coordinates along the first `count`."""
    z = seeded_latents(seed, 1, latent_dim)[0]
    values = z[:count] if axes is None else axis_coordinates(z, axes[:count])
    return [round(min(max(value, -limit), limit), 2) for value in values.tolist()]


def edit_latent(z: torch.Tensor, sliders: Sequence[float] = (), truncation: float = 1.0,
                direction: torch.Tensor | None = None, strength: float = 0.0,
                axes: torch.Tensor | None = None) -> torch.Tensor:
    """The z a generator draws for the Latent tab's controls: z' = ψ·z + α·v, z's first K values being the sliders.

    z: (D,) or (1, D), the seed's latent (not changed); sliders: K ≤ D values that replace z's first K, or with
    `axes` (≥ K rows of (D,)), z's coordinates along the first K axes (axis_coordinates: z moves along each axis by
    the change in its value, and nothing else of z changes); truncation ψ scales the result (1 = unchanged, 0 = the
    centre of the prior); direction v: (D,), a step of `strength` α along it (ignored when None or when α = 0).
    Returns a new (1, D) float tensor on z's device.
    """
    latent = z.reshape(1, -1).clone()
    latent_dim = latent.shape[1]
    if len(sliders) > latent_dim:
        raise ValueError(f"{len(sliders)} slider values are not accepted: this z has {latent_dim} dimensions")
    if not math.isfinite(truncation):
        raise ValueError(f"truncation = {truncation!r} is not accepted: expected a finite number (0 to 1 on the page)")
    if len(sliders) and axes is not None:
        if axes.ndim != 2 or axes.shape[1] != latent_dim or axes.shape[0] < len(sliders):
            raise ValueError(f"axes of shape {tuple(axes.shape)} are not accepted for {len(sliders)} sliders: "
                             f"expected at least {len(sliders)} rows of {latent_dim} values")
        chosen = axes[:len(sliders)]
        change = torch.tensor(sliders, dtype=torch.float32) - axis_coordinates(latent, chosen)
        latent += (change @ chosen.float().cpu()).to(latent.device, latent.dtype)
    elif len(sliders):
        latent[0, :len(sliders)] = torch.tensor(sliders, dtype=latent.dtype)
    latent *= truncation
    if direction is not None and strength != 0.0:
        if direction.shape != (latent_dim,):
            raise ValueError(f"a direction of shape {tuple(direction.shape)} is not accepted: expected "
                             f"({latent_dim},), one value per dimension of z")
        latent += strength * direction.to(latent.device)
    return latent


def compared_latent(edited: torch.Tensor, seed: int, latent_dim: int, truncation: float) -> torch.Tensor:
    """The z (1, latent_dim) a second model draws beside the first: `edited` (1, D) itself when the sizes agree, else
    the seed's own z of the second model's size with the same truncation (sliders and directions belong to the first
    model's z and are not carried over)."""
    if edited.shape[-1] == latent_dim:
        return edited
    return edit_latent(seeded_latents(seed, 1, latent_dim), truncation=truncation)


@torch.inference_mode()
def latent_picture(model: GenerativeModel, z: torch.Tensor, label: int | None = None) -> np.ndarray:
    """One image of z (1, D) as uint8 (S, S) for a grey model or (S, S, 3) for a colour one, not upscaled.

    label: the class a conditional model draws (ValueError outside its classes); ignored by an unconditional one.
    """
    device = model_device(model)
    pixels = to_uint8(model.generate(z.to(device), class_tensor(model, label)))[0]  # (C, S, S)
    return pixels[0].numpy() if pixels.shape[0] == 1 else pixels.permute(1, 2, 0).contiguous().numpy()
