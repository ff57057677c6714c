"""A flow model's ODE as something to look at: a picture run backwards to its noise image and forwards again.

    trip = round_trip(model, picture (1, C, S, S) in [0, 1], label, Sampling(steps=50, solver="heun"))
    trip.noise      (1, C·S·S): the latent that draws the picture, found by integrating dx/dt = v(x, t) from t = 1 to 0
    trip.redrawn    (1, C, S, S) in [0, 1]: that latent drawn again, from t = 0 to 1
    trip.path       (frames, C, S, S) in [0, 1]: x_t on the way, from the noise (t = 0) to the redrawn picture (t = 1)
    trip.error      mean absolute difference between picture and redrawn (pixels in [0, 1]): the solver's error alone

No optimisation and no encoder: the inverse is exact up to the solver's steps (a GAN's inversion searches z by
gradient descent and only comes close; a VAE's encoder gives a code whose decoding blurs).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from genimg.models.flow import FlowModel, Sampling

PATH_FRAMES = 8


@dataclass
class RoundTrip:
    noise: torch.Tensor
    redrawn: torch.Tensor
    path: torch.Tensor
    error: float
    worst: float
    seconds: float
    network_calls: int


def noise_picture(noise: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """A latent (B, C·S·S) shown as pictures (B, C, S, S) in [0, 1]: ±3 standard deviations spread over black…white."""
    return ((noise.view(-1, *shape) + 3) / 6).clamp(0, 1)


@torch.no_grad()
def round_trip(model: FlowModel, picture: torch.Tensor, label: int | None, sampling: Sampling,
               frames: int = PATH_FRAMES) -> RoundTrip:
    """Invert `picture` (1, C, S, S) in [0, 1] with the ODE, redraw it, and keep `frames` views of the way back.
    `picture` may stray outside [0, 1] (a flow's own drawing before it is clipped for the screen): it is inverted as
    it is, so a flow's drawing goes back to the very noise that drew it."""
    started = time.perf_counter()
    picture = picture.to(next(model.parameters()).device)  # the model's device (a GPU on a GPU Space)
    labels = torch.tensor([label], device=picture.device) if label is not None else None
    noise = model.invert(picture, labels, sampling)  # (1, C·S·S)
    classes = F.one_hot(labels, model.num_classes).to(picture.dtype) if labels is not None else None
    states: list[torch.Tensor] = []
    start = noise.view(1, *model.image_shape)
    end = model.integrate(start, classes, 0.0, 1.0, sampling, states=states)
    redrawn = (end + 1) / 2  # unclipped: the error is the solver's, not the screen's range
    chosen = torch.linspace(0, len(states), frames).round().long().tolist()  # 0 = the noise itself
    every = [start, *states]
    path = torch.cat([((every[index] + 1) / 2).clamp(0, 1) for index in chosen])
    difference = (redrawn - picture).abs()
    calls = 2 * sampling.network_calls * (2 if classes is not None and sampling.guidance != 1.0 else 1)
    return RoundTrip(noise=noise.cpu(), redrawn=redrawn.clamp(0, 1).cpu(), path=path.cpu(), error=float(difference.mean()),
                     worst=float(difference.max()), seconds=time.perf_counter() - started, network_calls=calls)
