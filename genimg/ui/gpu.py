"""GPU work on a ZeroGPU Space: functions Hugging Face lends a GPU to, one call at a time.

On a ZeroGPU Space (genimg.models.loading.on_zerogpu) the page's own process keeps every model on the CPU: CUDA is only
allowed inside functions decorated with `spaces.GPU(duration=...)`, which run in another process, must finish within
their duration, and must hand back CPU values (a picture, numbers). The drawing functions here are such functions:
each loads the model it needs onto the GPU it is lent, draws, and returns a uint8 picture. Everywhere else (a local
machine, a CPU or GPU Space) they are plain functions run by the caller, and nothing changes.

    grid = draw_grid(path, seed, count, label, sampling)   # (H, W) or (H, W, 3) uint8, on any machine
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np
import torch

from genimg.explore.catalog import Renderer
from genimg.models.flow import Sampling, drawing
from genimg.models.loading import on_zerogpu

# Seconds each call may hold the GPU (ZeroGPU's default is 60; a shorter duration gets visitors a GPU sooner). A
# 64-sample grid of the slowest model here (a flow at 100 guided Heun steps: 400 network calls) takes about a second
# on a GPU; loading its weights, a fraction of one.
GRID_SECONDS = 20


def lent_gpu(duration: int) -> Callable[[Callable], Callable]:
    """`spaces.GPU(duration=duration)` on a ZeroGPU Space; elsewhere the function unchanged."""
    def decorate(function: Callable) -> Callable:
        if not on_zerogpu():
            return function
        import spaces  # present on every ZeroGPU Space

        return spaces.GPU(duration=duration)(function)
    return decorate


_renderers: dict[str, Renderer] = {}
_lock = threading.Lock()


def _renderer() -> Renderer:
    """A renderer on the device this process may use now: CUDA inside a lent GPU's process, else the CPU."""
    device = "cuda" if torch.cuda.is_available() else "cpu"
    with _lock:
        if device not in _renderers:
            _renderers[device] = Renderer(device)
        return _renderers[device]


def _draw_grid(path: str, seed: int, count: int, label: int | None, sampling: Sampling | None) -> np.ndarray:
    """The Samples tab's grid, drawn where this process may draw; a uint8 picture (CPU memory, picklable)."""
    with drawing(sampling):
        return _renderer().sample_grid(path, seed, count, label, scale=4)


_lent: dict[str, Callable] = {}


def draw_grid(path: str, seed: int, count: int, label: int | None, sampling: Sampling | None) -> np.ndarray:
    """The Samples tab's grid: on a ZeroGPU Space in a function lent the GPU for GRID_SECONDS (decorated on first
    use, so a page that never draws never asks `spaces` for anything); elsewhere drawn here."""
    with _lock:
        if "grid" not in _lent:
            _lent["grid"] = lent_gpu(GRID_SECONDS)(_draw_grid)
        function = _lent["grid"]
    return function(path, seed, count, label, sampling)
