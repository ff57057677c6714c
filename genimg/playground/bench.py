"""How fast the playground trains and draws on one CPU thread: updates per second and milliseconds per rendered frame.

For `python -m genimg bench` (genimg/bench routes here); the page needs ≥ 10 frames a second while training.
"""

from __future__ import annotations

import math
import time
from typing import Callable

import torch
from PIL import Image

from genimg.playground import views
from genimg.playground.distributions import get_distribution
from genimg.playground.models import FAMILIES, Trainer, make_trainer
from genimg.playground.render import render_view

FRAME_SAMPLES = 500  # points per frame, real and generated each


def family_frame(trainer: Trainer, real: torch.Tensor) -> Image.Image:
    """One picture of the family's main view (views.main_view): its views computed and rendered."""
    return render_view(**views.main_view(trainer, real, FRAME_SAMPLES))


def _median_milliseconds(action: Callable[[], object], repeats: int) -> float:
    durations = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        durations.append(time.perf_counter() - start)
    return 1000 * sorted(durations)[len(durations) // 2]


def updates_per_second(family: str, distribution: str = "moons", seconds: float = 2.0, frames: int = 11) -> dict:
    """Train `family` on `distribution` for about `seconds` on one thread; then time `frames` frames.

    Returns {"family", "distribution", "updates_per_second", "frame_ms" (views + picture, median),
    "render_ms" (the picture alone from ready views, median)}.
    """
    if family not in FAMILIES:
        raise ValueError(f"family {family!r} is not accepted: one of {', '.join(FAMILIES)}")
    if not (isinstance(seconds, (int, float)) and math.isfinite(seconds) and 0 < seconds <= 600):
        raise ValueError(f"seconds {seconds!r} is not accepted: a number above 0 and up to 600")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        trainer = make_trainer(family, get_distribution(distribution))
        trainer.step()  # the first update pays one-off costs
        updates, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            trainer.step()
            updates += 1
        rate = updates / (time.perf_counter() - start)
        real = trainer.distribution.sample(FRAME_SAMPLES, torch.Generator().manual_seed(0))
        family_frame(trainer, real)
        frame_ms = _median_milliseconds(lambda: family_frame(trainer, real), frames)
        layers = views.main_view(trainer, real, FRAME_SAMPLES)
        render_ms = _median_milliseconds(lambda: render_view(**layers), frames)
    finally:
        torch.set_num_threads(threads)
    return {"family": family, "distribution": distribution, "updates_per_second": rate, "frame_ms": frame_ms,
            "render_ms": render_ms}
