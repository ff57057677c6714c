"""Walks between two latent codes (or two classes) with lerp and slerp: frames, path norms, GIFs, frame strips.

Everything here is plain PyTorch/NumPy/PIL so the Interpolate tab, lesson bundles and tests share one engine.
Both methods' frames come from one batched forward pass under `torch.inference_mode()`.

Class interpolation: every genimg generator reads the class as a one-hot vector appended to z. To pass a
*mixture* of classes, `generate_mixed` builds that concatenated input itself and calls the network's inner
layers; with exact one-hot weights it gives the same images as `model.generate(z, labels)`.
"""

from __future__ import annotations

import io
import math
import os
import tempfile
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from genimg.data.imaging import grid_image, to_uint8
from genimg.data.pictures import ImageInputError, load_user_image, to_model_input
from genimg.explore.latent import model_device
from genimg.models import GenerativeModel, registry
from genimg.models.latent import lerp, slerp

METHODS = ("lerp", "slerp")
MIN_FRAMES, MAX_FRAMES = 2, 64
GIF_TARGET_SIDE = 192  # GIF frames are upscaled (nearest) to about this many pixels a side
STRIP_COLUMNS = 8
GIF_LEVELS = 64  # grey levels in the page's GIFs: see grey_levels


class InterpolationError(ValueError):
    """A request the interpolation cannot serve; the message names the bad value and what is accepted."""


class ClassMixingUnsupported(InterpolationError):
    """This network's class input cannot be fed a mixture of classes."""


# ------------------------------------------------------------------------------------------ paths
def check_frames(frames: Any) -> int:
    """`frames` as an int in [MIN_FRAMES, MAX_FRAMES], or InterpolationError."""
    if isinstance(frames, bool) or not isinstance(frames, (int, float)) or not float(frames).is_integer() \
            or not MIN_FRAMES <= frames <= MAX_FRAMES:
        raise InterpolationError(f"frames = {frames!r} is not accepted: expected a whole number from "
                                 f"{MIN_FRAMES} to {MAX_FRAMES}")
    return int(frames)


def latent_path(start: torch.Tensor, end: torch.Tensor, frames: int, method: str = "slerp") -> torch.Tensor:
    """`frames` points from `start` to `end` inclusive, (D,), (D,) → (frames, D), by "lerp" or "slerp"."""
    if method not in METHODS:
        raise InterpolationError(f"method = {method!r} is not accepted: expected one of {', '.join(METHODS)}")
    fractions = torch.linspace(0.0, 1.0, frames, device=start.device)
    path = (lerp if method == "lerp" else slerp)(start, end, fractions)
    path[0], path[-1] = start, end  # exact endpoints, whatever the rounding of sin/cos
    return path


def one_hot(index: int, num_classes: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """Class `index` as a (num_classes,) float one-hot vector."""
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < num_classes:
        raise InterpolationError(f"class {index!r} is not accepted: this model knows classes 0 to {num_classes - 1}")
    vector = torch.zeros(num_classes, device=device)
    vector[index] = 1.0
    return vector


# ------------------------------------------------------------------------------------------ generation
def supports_class_mixing(model: GenerativeModel) -> bool:
    """Whether `generate_mixed` can feed this conditional model a soft class vector."""
    return bool(model.num_classes) and registry.kind_of(model).capabilities.class_mixing


def generate_mixed(model: GenerativeModel, z: torch.Tensor, class_weights: torch.Tensor | None) -> torch.Tensor:
    """z (B, D) and class weights (B, K) (a one-hot row = one class) → images (B, C, S, S) in [0, 1].

    Unconditional models take `class_weights=None`. A conditional model reads its class as a one-hot vector
    appended to z, so a soft vector [z, weights] goes through the same layers its forward() uses.
    """
    if not model.num_classes:
        return model.generate(z, None)
    if class_weights is None:
        raise InterpolationError("this model is class-conditional: pass class weights (B, num_classes)")
    if not supports_class_mixing(model):
        raise ClassMixingUnsupported(f"{model.kind or type(model).__name__} cannot mix classes")
    inputs = torch.cat([z, class_weights.to(z.dtype)], dim=1)  # (B, D + K)
    return model.generate_from_input(inputs)


def to_frames(images: torch.Tensor) -> np.ndarray:
    """Images (N, C, H, W) in [0, 1] → uint8 (N, H, W) for grey, (N, H, W, 3) for colour."""
    pixels = to_uint8(images)
    if pixels.shape[1] == 1:
        return pixels[:, 0].numpy()
    return pixels.permute(0, 2, 3, 1).contiguous().numpy()


@dataclass
class Interpolation:
    """The result of one walk, per method.

    frames: method → uint8 (N, H, W) or (N, H, W, 3).
    norms: method → (N,) float64, the Euclidean norm along the path of what moves: z, or in a pure
        class walk (same z at both ends) the class vector.
    reference_norm: the norm that path "should" keep: √D for z (a D-dimensional standard normal sample
        has norm ≈ √D), 1 for a class vector (a one-hot vector).
    moving: "z" or "class".
    """

    frames: dict[str, np.ndarray]
    norms: dict[str, np.ndarray]
    reference_norm: float
    moving: str
    latent_dim: int

    @property
    def count(self) -> int:
        return len(next(iter(self.frames.values())))


@torch.inference_mode()
def interpolate(model: GenerativeModel, z0: torch.Tensor, z1: torch.Tensor, frames: int = 32,
                methods: tuple[str, ...] = METHODS, class_a: int | None = None,
                class_b: int | None = None) -> Interpolation:
    """Walk from (z0, class_a) to (z1, class_b) with each method, all frames in one forward pass.

    z0, z1: (D,) latents. class_a, class_b: class indices for a conditional model (class_b defaults to
    class_a); the class vector moves from one-hot(class_a) to one-hot(class_b) by the same method as z.
    """
    frames = check_frames(frames)
    latent_dim = model.latent_dim
    device = model_device(model)
    z0, z1 = z0.reshape(-1).float().to(device), z1.reshape(-1).float().to(device)
    if z0.numel() != latent_dim or z1.numel() != latent_dim:
        raise InterpolationError(f"latents of size {z0.numel()} and {z1.numel()} do not fit a model with "
                                 f"latent_dim {latent_dim}")
    if not methods:
        raise InterpolationError("choose at least one method: lerp or slerp")
    z_paths = [latent_path(z0, z1, frames, method) for method in methods]
    class_paths: list[torch.Tensor] | None = None
    if model.num_classes:
        if class_a is None:
            raise InterpolationError("this model is class-conditional: choose class A (and B)")
        class_b = class_a if class_b is None else class_b
        c0, c1 = one_hot(class_a, model.num_classes, device), one_hot(class_b, model.num_classes, device)
        if class_a != class_b and not supports_class_mixing(model):
            raise ClassMixingUnsupported(f"{model.kind or type(model).__name__} cannot mix classes")
        class_paths = [latent_path(c0, c1, frames, method) for method in methods]
    elif class_a is not None and class_b is not None and class_a != class_b:
        raise InterpolationError("this model is not class-conditional: it has no classes to interpolate")
    images = generate_mixed(model, torch.cat(z_paths), None if class_paths is None else torch.cat(class_paths))
    all_frames = to_frames(images)
    class_walk = class_paths is not None and bool(torch.equal(z0, z1)) and class_a != class_b
    moving_paths = class_paths if class_walk else z_paths
    return Interpolation(
        frames={method: all_frames[index * frames:(index + 1) * frames] for index, method in enumerate(methods)},
        norms={method: path.norm(dim=1).double().cpu().numpy() for method, path in zip(methods, moving_paths)},
        reference_norm=1.0 if class_walk else math.sqrt(latent_dim),
        moving="class" if class_walk else "z",
        latent_dim=latent_dim,
    )


def interpolation_frames(model: GenerativeModel, z0: torch.Tensor, z1: torch.Tensor, frames: int = 32,
                         method: str = "slerp", class_a: int | None = None, class_b: int | None = None) -> np.ndarray:
    """One method's frames, uint8 (N, H, W) or (N, H, W, 3): frame 0 is (z0, class_a), frame N−1 (z1, class_b)."""
    return interpolate(model, z0, z1, frames, (method,), class_a, class_b).frames[method]


# ------------------------------------------------------------------------------------------ pictures
def frame_duration_ms(count: int) -> int:
    """A comfortable per-frame delay: one pass of about 2.4 s, 40–500 ms a frame, in GIF's 10 ms units."""
    return int(min(500, max(40, round(2400 / max(count, 1) / 10) * 10)))


def gif_scale(image_side: int) -> int:
    """Nearest-neighbour factor that brings a frame to about GIF_TARGET_SIDE pixels (28 → 6, 64 → 3)."""
    return max(1, GIF_TARGET_SIDE // max(image_side, 1))


_GREY_PALETTE = np.repeat(np.arange(256, dtype=np.uint8), 3).tobytes()


def grey_levels(frames: np.ndarray, levels: int) -> np.ndarray:
    """Round grey values to `levels` evenly spaced ones (black and white stay exact); 256 = unchanged.

    A generator's faint background noise (values 1, 2, 3, ...) defeats GIF's LZW compression; 64 levels
    (an error of at most 2/255, invisible) make the file about a third smaller and faster to write.
    """
    if not 2 <= levels <= 256:
        raise InterpolationError(f"levels = {levels!r} is not accepted: expected 2 to 256")
    if levels == 256:
        return frames
    steps = levels - 1
    table = np.round(np.round(np.arange(256) * steps / 255) * 255 / steps).astype(np.uint8)
    return table[frames]


def _palette_frames(frames: np.ndarray, levels: int) -> tuple[np.ndarray, bytes]:
    """uint8 frames → (palette indices (N, H, W), one shared 256-colour palette)."""
    if frames.ndim == 3:
        return grey_levels(frames, levels), _GREY_PALETTE
    count, height, width, _ = frames.shape
    mosaic = Image.fromarray(np.ascontiguousarray(frames.reshape(count * height, width, 3)), "RGB")
    quantised = mosaic.quantize(256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    palette = bytes(quantised.getpalette() or [])[:768].ljust(768, b"\0")
    return np.asarray(quantised).reshape(count, height, width), palette


def gif_bytes(frames: np.ndarray, duration_ms: int | None = None, *, scale: int = 1, ping_pong: bool = True,
              end_pause_ms: int | None = None, levels: int = 256) -> bytes:
    """uint8 frames (N, H, W) or (N, H, W, 3) → a looping animated GIF.

    ping_pong: play forward then back (2N − 2 frames), so the loop has no jump. scale: integer
    nearest-neighbour upscaling (crisp pixels). duration_ms: per frame (default `frame_duration_ms(N)`);
    the two endpoint frames stay `end_pause_ms` (default max(duration, 400)). levels: grey levels kept
    (256 = exact; see `grey_levels`). One shared palette, no dithering, no optimisation pass: fast. Note
    that PIL merges consecutive identical frames (their durations add up).
    """
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim not in (3, 4) or (frames.ndim == 4 and frames.shape[3] != 3) \
            or len(frames) < 1:
        raise InterpolationError(f"frames must be uint8 (N, H, W) or (N, H, W, 3), got {frames.dtype} {frames.shape}")
    count = len(frames)
    duration = frame_duration_ms(count) if duration_ms is None else int(duration_ms)
    pause = max(duration, 400) if end_pause_ms is None else int(end_pause_ms)
    indices, palette = _palette_frames(frames, levels)
    order = list(range(count)) + (list(range(count - 2, 0, -1)) if ping_pong else [])
    pictures, durations = [], []
    for position in order:
        pixels = indices[position]
        if scale > 1:
            pixels = np.repeat(np.repeat(pixels, scale, axis=0), scale, axis=1)
        picture = Image.fromarray(np.ascontiguousarray(pixels), "P")
        picture.putpalette(palette)
        pictures.append(picture)
        durations.append(pause if position in (0, count - 1) else duration)
    buffer = io.BytesIO()
    pictures[0].save(buffer, format="GIF", save_all=True, append_images=pictures[1:], duration=durations,
                     loop=0, optimize=False, disposal=1)
    return buffer.getvalue()


def frame_strip(frames: np.ndarray, columns: int = STRIP_COLUMNS, scale: int = 2) -> np.ndarray:
    """uint8 frames (N, H, W[, 3]) → one grid image, `columns` frames a row, in reading order, upscaled."""
    frames = np.asarray(frames)
    tensor = torch.from_numpy(np.ascontiguousarray(frames))
    tensor = tensor[:, None] if frames.ndim == 3 else tensor.permute(0, 3, 1, 2)
    grid = grid_image(tensor, columns=min(columns, len(frames)))
    return np.repeat(np.repeat(grid, scale, axis=0), scale, axis=1) if scale > 1 else grid


# ------------------------------------------------------------------------------------------ drawings
@torch.inference_mode()
def encode_drawing(model: GenerativeModel, value: Any, channels: int, image_size: int,
                   label: int | None = None) -> torch.Tensor:
    """A drawing → the VAE encoder's mean, (D,).

    value: a Sketchpad dict (its "composite"), a numpy array or a PIL image. File paths are refused on
    purpose: nothing a user sends may name a file the server reads. Raises genimg.data.pictures.ImageInputError
    (a ValueError with a user-facing message and a translation key) for empty canvases and non-images.
    """
    if isinstance(value, dict):
        if not isinstance(value.get("composite"), (np.ndarray, Image.Image, type(None))):
            raise ImageInputError("image.bad_type", kind=type(value.get("composite")).__name__)
    elif value is not None and not isinstance(value, (np.ndarray, Image.Image)):
        raise ImageInputError("image.bad_type", kind=type(value).__name__)
    if not registry.kind_of(model).capabilities.encoder:
        raise InterpolationError(f"{model.kind or type(model).__name__} has no encoder to put a drawing into its latent "
                                 "space: pick a model with one (a VAE) to interpolate between drawings")
    device = model_device(model)
    image = to_model_input(load_user_image(value), channels, image_size).to(device)  # (1, C, S, S)
    labels = None
    if model.num_classes:
        if label is None:
            raise InterpolationError("this VAE is class-conditional: choose the class of each drawing")
        one_hot(label, model.num_classes)  # validates the index
        labels = torch.tensor([label], device=device)
    mean, _ = model.encode(image, labels)
    return mean[0]


# ------------------------------------------------------------------------------------------ temp files
class GifFolder:
    """Writes GIFs under a folder of the app's own with unique names, keeping only the newest `keep`."""

    def __init__(self, folder: str | Path | None = None, keep: int = 200) -> None:
        self.folder = Path(folder) if folder is not None else Path(tempfile.gettempdir()) / "genimg-gifs"
        self.keep = keep
        self._lock = threading.Lock()

    def save(self, data: bytes) -> str:
        """Write `data` to a new file and return its path; older files beyond `keep` are deleted."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"interpolation-{uuid.uuid4().hex}.gif"
        partial = path.with_suffix(".part")
        partial.write_bytes(data)
        os.replace(partial, path)  # a reader never sees half a GIF
        self.prune()
        return str(path)

    def prune(self) -> None:
        with self._lock:
            files = []
            for path in self.folder.glob("interpolation-*.gif"):
                try:
                    files.append((path.stat().st_mtime_ns, path))
                except FileNotFoundError:
                    continue
            files.sort(reverse=True)
            for _, path in files[self.keep:]:
                path.unlink(missing_ok=True)
