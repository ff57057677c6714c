"""Latent vectors: seeded on CPU so a seed means the same image on every device, and paths between them."""

from __future__ import annotations

from typing import Any

import torch

MAX_SEED = 2**63 - 1


def parse_seed(value: Any) -> int | None:
    """A seed as a page sends it (an int, a whole float, or a numeric string) → int in [0, MAX_SEED];
    None when it is not one (booleans, fractions, NaN, infinities, negatives, out of range, other types)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        try:
            value = int(text)
        except ValueError:
            try:
                value = float(text)
            except ValueError:
                return None
    if isinstance(value, float):
        if not value.is_integer():  # also NaN and ±inf
            return None
        value = int(value)
    if not isinstance(value, int) or not 0 <= value <= MAX_SEED:
        return None
    return value


def seeded_latents(seed: int, count: int, latent_dim: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """(count, latent_dim) standard-normal latents from a CPU generator seeded with `seed`, then moved.

    Drawing on the CPU is what makes a seed portable: CUDA's and MPS's generators give other numbers.
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed <= MAX_SEED:
        raise ValueError(f"seed = {seed!r} is not accepted: expected an integer from 0 to 2**63 - 1")
    generator = torch.Generator(device="cpu").manual_seed(seed)
    return torch.randn(count, latent_dim, generator=generator).to(device)


def class_labels(count: int, num_classes: int, device: torch.device | str = "cpu") -> torch.Tensor | None:
    """Labels 0, 1, …, K−1, 0, 1, … for a grid with one class per column; None when unconditional."""
    if not num_classes:
        return None
    return (torch.arange(count) % num_classes).to(device)


def lerp(start: torch.Tensor, end: torch.Tensor, fractions: torch.Tensor) -> torch.Tensor:
    """Straight line: (D,), (D,), (N,) → (N, D)."""
    fractions = fractions.to(start.dtype)[:, None]
    return (1 - fractions) * start + fractions * end


def slerp(start: torch.Tensor, end: torch.Tensor, fractions: torch.Tensor) -> torch.Tensor:
    """Great-circle path, norms interpolated linearly: (D,), (D,), (N,) → (N, D).

    A Gaussian latent of dimension D concentrates near the sphere of radius √D; a straight line between
    two such points cuts through the low-norm interior, which the generator rarely saw in training.
    """
    start_norm, end_norm = start.norm(), end.norm()
    unit_start, unit_end = start / start_norm.clamp_min(1e-12), end / end_norm.clamp_min(1e-12)
    angle = torch.arccos((unit_start * unit_end).sum().clamp(-1.0, 1.0))
    fractions = fractions.to(start.dtype)[:, None]
    if angle.abs() < 1e-4:  # nearly parallel: the sphere path is the straight one
        return lerp(start, end, fractions[:, 0])
    sin_angle = torch.sin(angle)
    direction = (torch.sin((1 - fractions) * angle) * unit_start + torch.sin(fractions * angle) * unit_end) / sin_angle
    norms = (1 - fractions) * start_norm + fractions * end_norm
    return direction * norms
