"""A flow model's velocity field, seen on a flat picture: particles carried from noise to drawings, with arrows.

    field = velocity_field(model, seed, sampling, particles=40)
    field.times       (F,) the frames' times, 0, 0.1, …, 1
    field.positions   (F, N, 2) where each particle x_t is, in the plane of the drawings' two principal directions
    field.arrows      (F, N, 2) its velocity v(x_t, t) in that plane, times FRAME_STEP: where it would be one frame
                      later if it kept its speed
    field.pictures    (F, C, S, S) in [0, 1]: the first particle (the seed's own noise) at each frame
    picture = draw_field(field, frame)   an (H, W, 3) uint8 picture of one frame

The particles are the seed's first N drawings in the Samples tab (the same noise, and for a conditional flow the same
classes 0, 1, …, K−1, 0, …). The image space has C·S·S dimensions; the plane kept is the one in which the finished
drawings spread most (their first two principal directions), so the last frame shows their largest differences and
the first frame shows the noise as a round cloud of unit spread. Every point and arrow is a real x_t and v(x_t, t)
of the ODE, projected: nothing is evaluated off the particles' own paths.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

from genimg.explore.encode import CLASS_COLOURS, UNLABELLED_COLOUR, principal_axes
from genimg.models.flow import FlowModel, Sampling
from genimg.models.latent import class_labels, seeded_latents

FRAMES = 11  # t = 0, 0.1, …, 1
FRAME_STEP = 1 / (FRAMES - 1)
PARTICLES = 40
SIZE = 560  # the picture's side, in pixels
SUPERSAMPLE = 2  # drawn at twice the size and scaled down: smooth lines without blur
INSET = 4  # the first particle's picture, shown in a corner, is S·INSET pixels wide


@dataclass
class VelocityField:
    times: np.ndarray
    positions: np.ndarray
    arrows: np.ndarray
    labels: list[int] | None
    pictures: torch.Tensor
    explained: tuple[float, float]
    network_calls: int
    seconds: float

    @property
    def count(self) -> int:
        return self.positions.shape[1]


def calls_per_particle(sampling: Sampling, guided: bool) -> int:
    """Network calls one particle costs: its ODE (the steps spread over FRAMES − 1 stretches, at least one each) and
    one velocity per frame; guidance doubles both."""
    per_stretch = max(1, round(sampling.steps / (FRAMES - 1)))
    calls = (FRAMES - 1) * per_stretch * (2 if sampling.solver == "heun" else 1) + FRAMES
    return calls * (2 if guided else 1)


@torch.no_grad()
def velocity_field(model: FlowModel, seed: int, sampling: Sampling, particles: int = PARTICLES) -> VelocityField:
    """Carry the seed's first `particles` noises to drawings, frame by frame, and project the way onto a plane."""
    started = time.perf_counter()
    device = next(model.parameters()).device
    noise = seeded_latents(seed, particles, model.latent_dim).to(device)  # drawn on the CPU: the Samples tab's noise
    labels = class_labels(particles, model.num_classes, device)
    classes = F.one_hot(labels, model.num_classes).float() if labels is not None else None
    guidance = float(sampling.guidance) if classes is not None else 1.0
    stretch = Sampling(steps=max(1, round(sampling.steps / (FRAMES - 1))), solver=sampling.solver,
                       guidance=guidance)
    times = np.linspace(0.0, 1.0, FRAMES)
    x = noise.view(particles, *model.image_shape)
    states, velocities = [], []
    for frame, now in enumerate(times):
        t = torch.full((particles,), float(now), device=device)
        velocities.append(model.guided_velocity(x, t, classes, guidance).flatten(1).float().cpu())
        states.append(x.flatten(1).float().cpu())
        if frame + 1 < FRAMES:
            x = model.integrate(x, classes, float(now), float(times[frame + 1]), stretch)
    state = torch.stack(states).numpy().astype(np.float64)      # (F, N, D)
    velocity = torch.stack(velocities).numpy().astype(np.float64)
    axes, explained = principal_axes(state[-1])  # the finished drawings' two largest directions
    centre = state[-1].mean(axis=0)
    positions = (state - centre) @ axes                          # (F, N, 2)
    arrows = FRAME_STEP * (velocity @ axes)
    pictures = ((torch.from_numpy(state[:, 0]).float().view(FRAMES, *model.image_shape) + 1) / 2).clamp(0, 1)
    calls = particles * calls_per_particle(sampling, classes is not None and guidance != 1.0)
    return VelocityField(times=times, positions=positions, arrows=arrows,
                         labels=labels.tolist() if labels is not None else None, pictures=pictures,
                         explained=explained, network_calls=calls, seconds=time.perf_counter() - started)


def _rgb(colour: str, alpha: int = 255) -> tuple[int, int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16), alpha


def draw_field(field: VelocityField, frame: int) -> np.ndarray:
    """One frame as an (SIZE, SIZE, 3) uint8 picture: every particle's whole path faint, its place at this frame as
    a dot, its velocity as an arrow; the first particle ringed, and its picture at this frame in the top-left corner.
    The scale is the same in every frame and on both axes, so frames can be compared."""
    if not 0 <= frame < len(field.times):
        raise ValueError(f"frame = {frame!r}: expected 0 to {len(field.times) - 1}")
    big = SIZE * SUPERSAMPLE
    margin = 0.06 * big
    everything = np.concatenate([field.positions.reshape(-1, 2), (field.positions + field.arrows).reshape(-1, 2)])
    low, high = everything.min(axis=0), everything.max(axis=0)
    middle, span = (low + high) / 2, float((high - low).max()) or 1.0
    scale = (big - 2 * margin) / span

    def pixels(point: np.ndarray) -> tuple[float, float]:  # y grows upwards on the plot
        return (big / 2 + (point[0] - middle[0]) * scale, big / 2 - (point[1] - middle[1]) * scale)

    canvas = Image.new("RGBA", (big, big), (255, 255, 255, 255))
    layer = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    origin = pixels(np.zeros(2))  # the drawings' mean: where the axes cross
    draw.line([(margin / 2, origin[1]), (big - margin / 2, origin[1])], fill=(200, 200, 200, 255), width=2)
    draw.line([(origin[0], margin / 2), (origin[0], big - margin / 2)], fill=(200, 200, 200, 255), width=2)
    colours = [CLASS_COLOURS[label % len(CLASS_COLOURS)] if field.labels else UNLABELLED_COLOUR
               for label in (field.labels or [0] * field.count)]
    for particle in range(field.count):  # the paths, faint
        path = [pixels(point) for point in field.positions[:, particle]]
        draw.line(path, fill=_rgb(colours[particle], 70), width=3, joint="curve")
    canvas = Image.alpha_composite(canvas, layer)
    draw = ImageDraw.Draw(canvas)
    radius, head = 5 * SUPERSAMPLE, 7 * SUPERSAMPLE
    for particle in range(field.count):  # the arrows, then the dots over them
        start = np.array(pixels(field.positions[frame, particle]))
        end = np.array(pixels(field.positions[frame, particle] + field.arrows[frame, particle]))
        colour = _rgb(colours[particle])
        draw.line([tuple(start), tuple(end)], fill=colour, width=2 * SUPERSAMPLE)
        length = float(np.hypot(*(end - start)))
        if length > head:
            direction = (end - start) / length
            side = np.array([-direction[1], direction[0]])
            tip = [tuple(end), tuple(end - head * direction + 0.5 * head * side),
                   tuple(end - head * direction - 0.5 * head * side)]
            draw.polygon(tip, fill=colour)
    for particle in range(field.count):
        x, y = pixels(field.positions[frame, particle])
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=_rgb(colours[particle]),
                     outline=(255, 255, 255, 255), width=SUPERSAMPLE)
    x, y = pixels(field.positions[frame, 0])  # the seed's own particle, ringed
    ring = 3 * radius
    draw.ellipse((x - ring, y - ring, x + ring, y + ring), outline=(0, 0, 0, 255), width=2 * SUPERSAMPLE)
    picture = field.pictures[frame]  # (C, S, S) in [0, 1]
    side = picture.shape[-1] * INSET * SUPERSAMPLE
    inset = Image.fromarray((picture.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8).squeeze())
    inset = inset.convert("RGB").resize((side, side), Image.NEAREST)
    corner = int(margin / 2)
    draw.rectangle((corner - 6, corner - 6, corner + side + 6, corner + side + 6), outline=(0, 0, 0, 255),
                   width=2 * SUPERSAMPLE)
    canvas.paste(inset, (corner, corner))
    small = canvas.convert("RGB").resize((SIZE, SIZE), Image.LANCZOS)
    return np.asarray(small)


def frame_of(time_value: float) -> int:
    """The frame nearest a time in [0, 1]."""
    if not (isinstance(time_value, (int, float)) and math.isfinite(time_value)):
        raise ValueError(f"t = {time_value!r}: expected a number from 0 to 1")
    return int(round(min(1.0, max(0.0, float(time_value))) / FRAME_STEP))
