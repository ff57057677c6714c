"""What the playground page draws for each family, as plain tensors in plot coordinates (render.py turns them into pictures).

GAN: D's output on a grid, G's gradient arrows on its samples, G's image of a latent grid ("manifold").
VAE: posterior ellipses of chosen points in the latent plane, the decoder's image of a latent grid.
Flow: the velocity field at a time t, particles' trajectories from noise to data.
Every function runs without gradients into the trainer's weights and leaves the trainer's state untouched.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from genimg.playground.distributions import PLOT_LIMIT
from genimg.playground.models import FlowTrainer, GanTrainer, Trainer, VaeTrainer

LATENT_LIMIT = 2.5  # latent grids span [-2.5, 2.5] per axis: ±2.5σ of the N(0, I) prior


def _check_whole(name: str, value: int, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} = {value!r} is not accepted: a whole number from {low} to {high}")


def plane_grid(resolution: int, limit: float = PLOT_LIMIT) -> torch.Tensor:
    """The centres of a resolution × resolution grid of cells over [-limit, limit]²: (resolution, resolution, 2).

    Row 0 is the top (largest y), column 0 the left (smallest x), as a picture is laid out; [..., 0] is x, [..., 1] y.
    """
    _check_whole("resolution", resolution, 2, 512)
    centres = (torch.arange(resolution, dtype=torch.float32) + 0.5) / resolution * 2 * limit - limit
    y, x = torch.meshgrid(centres.flip(0), centres, indexing="ij")
    return torch.stack([x, y], dim=2)


def _latent_lattice(lines: int, latent_dim: int, total_dim: int) -> torch.Tensor:
    """A lattice over [-LATENT_LIMIT, LATENT_LIMIT] in the first latent_dim axes, the others 0: (rows, lines, total_dim).

    2-D: rows = lines (row i is the line at the i-th value of axis 1); 1-D: one row.
    """
    axis = torch.linspace(-LATENT_LIMIT, LATENT_LIMIT, lines)
    lattice = torch.zeros(lines if latent_dim >= 2 else 1, lines, total_dim)
    lattice[..., 0] = axis
    if latent_dim >= 2:
        lattice[..., 1] = axis[:, None]
    return lattice


@dataclass(frozen=True)
class Arrows:
    """Arrows from origins (N, 2) along directions (N, 2), both in plot units (render scales the directions)."""

    origins: torch.Tensor
    directions: torch.Tensor


@dataclass(frozen=True)
class Ellipses:
    """Axis-aligned posterior ellipses in the latent plane: centres (K, 2) and standard deviations (K, 2).

    For a 1-D latent the second coordinate is the chosen point's index spread over [-1, 1] and its σ is 0, so the
    posteriors stack as horizontal bars, one per point.
    """

    centres: torch.Tensor
    stds: torch.Tensor


# ---------------------------------------------------------------------------------------------------------------- GAN
@torch.no_grad()
def discriminator_heatmap(trainer: GanTrainer, resolution: int = 64) -> torch.Tensor:
    """D's probability "real" on plane_grid(resolution): (resolution, resolution) in [0, 1], row 0 at the top.

    With packing (pack_size > 1), each grid point is judged as a pack of pack_size copies of itself.
    """
    points = plane_grid(resolution).reshape(-1, 2)
    packs = points.repeat_interleave(trainer.settings.pack_size, dim=0)
    return torch.sigmoid(trainer.discriminate(packs)).reshape(resolution, resolution)


def generator_gradients(trainer: GanTrainer, count: int = 64) -> Arrows:
    """G's samples (the first `count` of samples()) and -∂(G loss)/∂(sample) on each: where the G loss pushes them.

    The directions are scaled by the batch size, so they do not shrink as more samples share the mean loss.
    """
    _check_whole("count", count, trainer.settings.pack_size, 4096)
    count -= count % trainer.settings.pack_size
    generated = trainer.samples(count).requires_grad_(True)
    loss = trainer.generator_loss(generated)
    (gradient,) = torch.autograd.grad(loss, generated)
    return Arrows(generated.detach(), -gradient * (count / trainer.settings.pack_size))


@torch.no_grad()
def generator_manifold(trainer: GanTrainer, lines: int = 17) -> torch.Tensor:
    """G's image of a latent lattice over the first two noise axes (others 0): (rows, lines, 2), rows = lines, or 1
    for a 1-D noise. Neighbours along a row or a column are joined to draw the warped mesh."""
    _check_whole("lines", lines, 2, 64)
    lattice = _latent_lattice(lines, min(trainer.settings.noise_dim, 2), trainer.settings.noise_dim)
    return trainer.generator_network(lattice.reshape(-1, lattice.shape[-1])).reshape(*lattice.shape[:2], 2)


# ---------------------------------------------------------------------------------------------------------------- VAE
@torch.no_grad()
def posterior_ellipses(trainer: VaeTrainer, points: torch.Tensor) -> Ellipses:
    """q(z|x) for points (K, 2): centres and σ in the latent plane (see Ellipses for a 1-D latent)."""
    if points.ndim != 2 or points.shape[1] != 2 or not 1 <= len(points) <= 256:
        raise ValueError(f"points of shape {tuple(points.shape)} are not accepted: 1 to 256 points, shape (K, 2)")
    mean, log_variance = trainer.encode(points.float())
    std = torch.exp(0.5 * log_variance)
    if trainer.settings.latent_dim == 1:
        rows = torch.linspace(-1, 1, len(points)) if len(points) > 1 else torch.zeros(1)
        return Ellipses(torch.cat([mean, rows[:, None]], dim=1), torch.cat([std, torch.zeros_like(std)], dim=1))
    return Ellipses(mean, std)


@torch.no_grad()
def decoder_mesh(trainer: VaeTrainer, lines: int = 17) -> torch.Tensor:
    """The decoder's mean for a latent lattice: (rows, lines, 2), rows = lines for a 2-D latent, 1 for a 1-D latent."""
    _check_whole("lines", lines, 2, 64)
    lattice = _latent_lattice(lines, trainer.settings.latent_dim, trainer.settings.latent_dim)
    return trainer.decode(lattice.reshape(-1, lattice.shape[-1])).reshape(*lattice.shape[:2], 2)


# --------------------------------------------------------------------------------------------------------------- flow
@torch.no_grad()
def velocity_field(trainer: FlowTrainer, time: float, resolution: int = 17) -> Arrows:
    """v(x, t) at the centres of plane_grid(resolution), flattened: origins and velocities (resolution², 2)."""
    if not isinstance(time, (int, float)) or not 0 <= time <= 1:
        raise ValueError(f"time {time!r} is not accepted: a number from 0 (noise) to 1 (data)")
    points = plane_grid(resolution).reshape(-1, 2)
    return Arrows(points, trainer.velocity(points, float(time)))


def trajectories(trainer: FlowTrainer, count: int = 32, steps: int | None = None, sampler: str | None = None) -> torch.Tensor:
    """The first `count` display particles (the same noise as samples()) carried from noise to data: (steps + 1, count, 2)."""
    _check_whole("count", count, 1, 1024)
    start = torch.randn(count, 2, generator=trainer.display_generator())
    return trainer.integrate(start, steps, sampler)


# ------------------------------------------------------------------------------------------------- the main view
def main_view(trainer: Trainer, real: torch.Tensor, sample_count: int = 500, trajectory_count: int = 32,
              time: float = 0.5) -> dict:
    """Each family's main picture while training, as render_view's keyword arguments: real (N, 2) and
    `sample_count` generated points, plus for a GAN D's heat map, the manifold and G's arrows; for a VAE the decoder's
    mesh; for a flow the velocity field at `time` and the paths of the first `trajectory_count` samples."""
    if isinstance(trainer, FlowTrainer):
        _check_whole("trajectory_count", trajectory_count, 1, sample_count)
        # One integration serves both: the trajectories are the first particles of the samples' own paths.
        paths = trajectories(trainer, count=sample_count)
        return {"real": real, "generated": paths[-1], "arrows": velocity_field(trainer, time),
                "trajectories": paths[:, :trajectory_count]}
    layers: dict = {"real": real, "generated": trainer.samples(sample_count)}
    if isinstance(trainer, GanTrainer):
        layers.update(heatmap=discriminator_heatmap(trainer), mesh=generator_manifold(trainer),
                      arrows=generator_gradients(trainer))
    elif isinstance(trainer, VaeTrainer):
        layers.update(mesh=decoder_mesh(trainer))
    else:
        raise ValueError(f"trainer {trainer!r:.60} is not accepted: a GAN, VAE or flow trainer")
    return layers
