"""Conversions between model tensors and displayable uint8 images: grids, upscaling, PNG bytes."""

from __future__ import annotations

import io
import math

import numpy as np
import torch
from PIL import Image
from torchvision.utils import make_grid


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Float images in [0, 1], (B, C, H, W) → uint8 (B, C, H, W) on CPU, rounded and clamped."""
    return images.detach().float().clamp(0.0, 1.0).mul(255.0).round().to(torch.uint8).cpu()


def grid_image(images: torch.Tensor, columns: int = 8, padding: int = 2) -> np.ndarray:
    """Images (B, C, H, W), float in [0, 1] or uint8 → one grid as uint8 (H', W') or (H', W', 3).

    Grey images give a 2-D array; colour images an (H', W', 3) array. Gaps between cells are dark grey
    so that a black background still shows where each image ends.
    """
    if images.dtype != torch.uint8:
        images = to_uint8(images)
    columns = max(1, min(columns, images.shape[0]))
    grid = make_grid(images.cpu(), nrow=columns, padding=padding, pad_value=48)  # (3, H', W') uint8
    if images.shape[1] == 1:
        return grid[0].numpy()
    return grid.permute(1, 2, 0).contiguous().numpy()


def upscale(image: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour upscaling of an (H, W) or (H, W, C) uint8 array by an integer factor: crisp pixels."""
    if factor <= 1:
        return image
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)


def png_bytes(image: np.ndarray) -> bytes:
    """An (H, W) or (H, W, 3) uint8 array encoded as PNG."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def grid_columns(count: int, num_classes: int = 0) -> int:
    """Columns for a sample grid: 8 for unconditional models, one class per column for conditional ones."""
    if num_classes and num_classes <= 16:
        return num_classes * max(1, 8 // num_classes)
    return max(1, min(8, math.ceil(math.sqrt(count))))
