"""From images to latents and back: VAE codes and their KL, latent maps, manifold grids, arithmetic, pictures.

Everything here takes a loaded model (see catalog.Renderer.model) and tensors, and returns tensors, numbers or
uint8 pictures; the page (ui/encode_tab.py) only converts values. GAN inversion and the discriminator's verdict
are in genimg.explore.invert. Shapes: images are (B, C, S, S) floats in [0, 1]; latents are (D,) or (B, D).
"""

from __future__ import annotations

import functools
import math
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from genimg.data.datasets import DatasetError, ImageData, load_dataset
from genimg.data.imaging import grid_image
from genimg.explore.latent import class_tensor, model_device
from genimg.models import GenerativeModel, VAEBase
from genimg.models.latent import seeded_latents

MAP_DATASETS = ("mnist", "fashion-mnist", "cifar10", "shapes")  # a map can be drawn from their test split
MAP_LIMIT = 10_000  # test images encoded for a map
MAP_SAMPLES = 4_000  # model samples re-encoded when the data set cannot be had
ACTIVE_KL = 0.1  # nats: a dimension with less KL than this carries (almost) no information about the image
# matplotlib's "tab10": ten colours that stay apart, also for most colour-blind eyes
CLASS_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                 "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
UNLABELLED_COLOUR = "#4c566a"


# ---------------------------------------------------------------------------------------------- VAE codes


@dataclass(frozen=True)
class Encoding:
    """What a VAE's encoder says about one image, and the decoder's answer.

    image, reconstruction: (1, C, S, S) in [0, 1]; reconstruction = sigmoid(decode(mean)), the decoder's
    mean image for the most likely code. mean, log_variance: (D,) — q(z|x) = N(mean, diag(exp(log_variance))).
    """

    image: torch.Tensor
    mean: torch.Tensor
    log_variance: torch.Tensor
    reconstruction: torch.Tensor

    @property
    def sigma(self) -> torch.Tensor:
        """(D,) standard deviations σ = exp(½ · log-variance)."""
        return (0.5 * self.log_variance).exp()

    @property
    def kl_per_dimension(self) -> torch.Tensor:
        """(D,) KL(q(z_i|x) ‖ N(0, 1)) = ½(μ² + σ² − 1 − log σ²) in nats; ≈ 0 marks a dimension the code leaves unused."""
        return 0.5 * (self.mean.pow(2) + self.log_variance.exp() - 1.0 - self.log_variance)

    @property
    def kl(self) -> float:
        """KL(q(z|x) ‖ N(0, I)) in nats: the sum of kl_per_dimension, the ELBO's price for this image's code."""
        return float(self.kl_per_dimension.sum())

    def active_dimensions(self, threshold: float = ACTIVE_KL) -> int:
        """How many dimensions carry more than `threshold` nats of KL: the ones the code actually uses."""
        return int((self.kl_per_dimension > threshold).sum())


@torch.inference_mode()
def encode_image(model: VAEBase, image: torch.Tensor, label: int | None = None,
                 decode_label: int | None = None) -> Encoding:
    """Encode one image (1, C, S, S) in [0, 1] and decode its mean; `decode_label` (conditional models) decodes the
    same code as another class (default: `label`)."""
    device = model_device(model)
    image = image.to(device=device, dtype=torch.float32)
    mean, log_variance = model.encode(image, class_tensor(model, label))
    reconstruction = model.generate(mean, class_tensor(model, label if decode_label is None else decode_label))
    return Encoding(image.cpu(), mean[0].float().cpu(), log_variance[0].float().cpu(), reconstruction.float().cpu())


@torch.inference_mode()
def encode_means(model: VAEBase, images: torch.Tensor, labels: torch.Tensor | None = None,
                 batch_size: int = 500) -> torch.Tensor:
    """Encoder means of many images: uint8 or [0, 1] float (N, C, S, S) → (N, D) float32 on CPU, in batches."""
    device = model_device(model)
    codes = []
    for start in range(0, images.shape[0], batch_size):
        batch = images[start:start + batch_size].to(device)
        batch = batch.float() / 255.0 if batch.dtype == torch.uint8 else batch.float()
        batch_labels = None if labels is None else labels[start:start + batch_size].to(device)
        codes.append(model.encode(batch, batch_labels)[0].float().cpu())
    return torch.cat(codes)


@torch.inference_mode()
def decode(model: GenerativeModel, z: torch.Tensor, label: int | None = None) -> torch.Tensor:
    """Latents (D,) or (B, D) → images (B, C, S, S) in [0, 1] on CPU (a VAE's mean image, a GAN's sample)."""
    z = z.reshape(-1, model.latent_dim).to(device=model_device(model), dtype=torch.float32)
    return model.generate(z, class_tensor(model, label, z.shape[0])).float().cpu()


@torch.inference_mode()
def latent_arithmetic(model: GenerativeModel, z_a: torch.Tensor, z_b: torch.Tensor, z_c: torch.Tensor,
                      label: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """A − B + C: (images (4, C, S, S) of A, B, C and the result, in [0, 1]; the result's latent (D,))."""
    result = z_a - z_b + z_c
    latents = torch.stack([z_a, z_b, z_c, result]).float()
    return decode(model, latents, label), result


# ---------------------------------------------------------------------------------------------- latent map


@dataclass(frozen=True)
class MapView:
    """Where the square plot sits in the map picture: map coordinates (u right, v up) ↔ pixels (x right, y down).

    The plot shows u, v ∈ [−radius, radius]; its centre pixel is (0, 0). Pixel coordinates are continuous:
    pixel (i, j) covers [i, i + 1) × [j, j + 1), so a click on pixel (i, j) means (i + 0.5, j + 0.5).
    """

    left: int
    top: int
    size: int
    radius: float

    def to_pixels(self, coordinates: np.ndarray) -> np.ndarray:
        """(N, 2) map coordinates → (N, 2) pixel positions (x, y), floats."""
        coordinates = np.asarray(coordinates, dtype=np.float64).reshape(-1, 2)
        scale = self.size / (2 * self.radius)
        return np.stack([self.left + (coordinates[:, 0] + self.radius) * scale,
                         self.top + (self.radius - coordinates[:, 1]) * scale], axis=1)

    def to_coordinates(self, x: float, y: float) -> tuple[float, float] | None:
        """A pixel position → map coordinates (u, v); None outside the plot."""
        if not (self.left <= x <= self.left + self.size and self.top <= y <= self.top + self.size):
            return None
        scale = self.size / (2 * self.radius)
        return (x - self.left) / scale - self.radius, self.radius - (y - self.top) / scale


@dataclass(frozen=True)
class LatentMap:
    """The codes of many images, drawn in a plane of latent space, ready to be clicked.

    axes: (D, 2) orthonormal columns spanning the plane: the identity for a 2-D latent, else the first two
        principal axes of the codes (map coordinates = z @ axes; a clicked point is z = axes @ (u, v), the
        other directions held at the prior's mean 0).
    codes: (N, D) encoder means; points: (N, 2) their map coordinates; labels: (N,) int64 or None.
    explained: fraction of the codes' variance along each axis (1 for a 2-D latent).
    source: "test" (the model's data set, test split) or "samples" (the model's own samples, re-encoded);
    source_name: the data set's name; note: why the test set could not be used ("" otherwise).
    image: the rendered map, uint8 (H, W, 3); view: its pixel ↔ coordinate transform.
    """

    axes: np.ndarray
    codes: np.ndarray
    points: np.ndarray
    labels: np.ndarray | None
    class_names: tuple[str, ...]
    explained: tuple[float, float]
    source: str
    source_name: str
    note: str
    image: np.ndarray
    view: MapView

    @property
    def latent_dim(self) -> int:
        return int(self.axes.shape[0])

    def project(self, z: torch.Tensor | np.ndarray) -> np.ndarray:
        """(D,) or (N, D) latents → (N, 2) map coordinates."""
        return np.asarray(z, dtype=np.float64).reshape(-1, self.latent_dim) @ self.axes

    def to_latent(self, u: float, v: float) -> torch.Tensor:
        """Map coordinates → z (D,) in the map's plane."""
        return torch.from_numpy((self.axes @ np.array([u, v], dtype=np.float64)).astype(np.float32))

    def latent_at_pixel(self, x: float, y: float) -> torch.Tensor | None:
        """z (D,) under a pixel position of `image`; None outside the plot."""
        coordinates = self.view.to_coordinates(x, y)
        return None if coordinates is None else self.to_latent(*coordinates)

    def with_marker(self, z: torch.Tensor | np.ndarray, sigma: torch.Tensor | np.ndarray | None = None) -> np.ndarray:
        """A copy of `image` with a marker at z (D,) and, given σ (D,), the 1-σ ellipse of N(z, diag(σ²)) projected."""
        picture = Image.fromarray(self.image)
        draw = ImageDraw.Draw(picture)
        low, high = self.view.left, self.view.left + self.view.size
        centre = self.view.to_pixels(self.project(z))[0]
        x, y = np.clip(centre[0], low, high), np.clip(centre[1], self.view.top, self.view.top + self.view.size)
        if sigma is not None:
            covariance = self.axes.T @ np.diag(np.asarray(sigma, dtype=np.float64) ** 2) @ self.axes  # (2, 2)
            factor = np.linalg.cholesky(covariance + 1e-12 * np.eye(2))
            angles = np.linspace(0, 2 * math.pi, 73)
            ring = self.project(z)[0] + (factor @ np.stack([np.cos(angles), np.sin(angles)])).T
            pixels = self.view.to_pixels(ring)
            draw.line([tuple(point) for point in pixels], fill=(20, 20, 20), width=2)
        draw.ellipse((x - 12, y - 12, x + 12, y + 12), outline=(255, 255, 255), width=6)  # a halo, then the ring
        draw.ellipse((x - 10, y - 10, x + 10, y + 10), outline=(0, 0, 0), width=3)
        draw.ellipse((x - 3, y - 3, x + 3, y + 3), fill=(0, 0, 0))
        return np.asarray(picture)


def principal_axes(codes: np.ndarray) -> tuple[np.ndarray, tuple[float, float]]:
    """(N, D) codes → (D, 2) the first two principal axes (orthonormal), and the variance fraction along each."""
    centred = codes - codes.mean(axis=0)
    _, singular, right = np.linalg.svd(centred.astype(np.float64), full_matrices=False)
    variance = singular ** 2
    total = float(variance.sum()) or 1.0
    axes = right[:2].T.copy()
    for column in range(2):  # a deterministic sign: the largest entry of each axis is positive
        if axes[np.argmax(np.abs(axes[:, column])), column] < 0:
            axes[:, column] *= -1
    return axes, (float(variance[0] / total), float(variance[1] / total))


def build_latent_map(model: VAEBase, images: torch.Tensor, labels: torch.Tensor | None,
                     class_names: tuple[str, ...] | list[str], *, source: str = "test", source_name: str = "",
                     note: str = "") -> LatentMap:
    """Encode `images` (uint8 or [0, 1] float, (N, C, S, S)) and draw their means.

    labels (N,) colour the points (and condition a conditional encoder, which needs them); None draws grey.
    """
    if model.num_classes and labels is None:
        raise ValueError("a conditional VAE needs the images' labels to encode them")
    codes = encode_means(model, images, labels if model.num_classes else None).numpy()
    if model.latent_dim == 1:
        raise ValueError("a latent map needs at least 2 latent dimensions")
    if model.latent_dim == 2:
        axes, explained = np.eye(2), (1.0, 1.0)
    else:
        axes, explained = principal_axes(codes)
    points = codes.astype(np.float64) @ axes
    extent = float(np.quantile(np.abs(points).max(axis=1), 0.995)) if len(points) else 0.0
    radius = max(2.5, math.ceil(extent * 1.05 * 2) / 2)  # at least ±2.5, the prior's bulk; half-unit steps
    label_array = None if labels is None else labels.numpy().astype(np.int64)
    names = tuple(class_names) if label_array is not None else ()
    image, view = render_map(points, label_array, names, radius, pca=model.latent_dim > 2)
    return LatentMap(axes, codes, points, label_array, names, explained, source, source_name, note, image, view)


@functools.lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow built without FreeType: the small bitmap font
        return ImageFont.load_default()


def class_colours(count: int) -> list[tuple[int, int, int]]:
    """`count` distinct RGB colours: tab10 for up to ten classes, evenly spaced hues beyond."""
    if count <= len(CLASS_COLOURS):
        return [_rgb(colour) for colour in CLASS_COLOURS[:count]]
    import colorsys

    return [tuple(round(255 * channel) for channel in colorsys.hsv_to_rgb(index / count, 0.75, 0.85))
            for index in range(count)]


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def render_map(points: np.ndarray, labels: np.ndarray | None, class_names: tuple[str, ...], radius: float, *,
               pca: bool = False, size: int = 480) -> tuple[np.ndarray, MapView]:
    """A scatter plot of (N, 2) points as uint8 (H, W, 3): grid, axes, the prior's 1σ/2σ/3σ circles, a legend."""
    left, top, bottom, legend = 44, 46, 34, 120 if class_names else 12  # top: room for Gradio's label
    view = MapView(left, top, size, radius)
    width, height = left + size + legend, top + size + bottom
    picture = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(picture)
    draw.rectangle((left, top, left + size, top + size), fill=(248, 248, 246))
    font, small = _font(13), _font(11)
    step = 1.0 if radius <= 6 else float(math.ceil(radius / 5))
    ticks = np.arange(-math.floor(radius / step) * step, radius + 1e-9, step)
    for tick in ticks:
        x, y = view.to_pixels(np.array([[tick, tick]]))[0]
        shade = (205, 205, 200) if tick == 0 else (230, 230, 226)
        draw.line((x, top, x, top + size), fill=shade)
        draw.line((left, y, left + size, y), fill=shade)
        text = f"{tick:g}"
        draw.text((x, top + size + 4), text, fill=(80, 80, 80), font=small, anchor="mt")
        draw.text((left - 5, y), text, fill=(80, 80, 80), font=small, anchor="rm")
    centre = view.to_pixels(np.zeros((1, 2)))[0]
    for sigmas in (1, 2, 3):  # the prior N(0, I) (also its projection on orthonormal axes): where codes should go
        reach = sigmas * size / (2 * radius)
        if sigmas <= radius:
            angles = np.linspace(0, 2 * math.pi, 121)
            for start in range(0, 120, 2):  # dashed
                segment = [(centre[0] + reach * math.cos(angle), centre[1] - reach * math.sin(angle))
                           for angle in angles[start:start + 2]]
                draw.line(segment, fill=(150, 150, 150), width=1)
    x_name, y_name = ("PC 1", "PC 2") if pca else ("z1", "z2")
    draw.text((left + size / 2, height - 3), x_name, fill=(40, 40, 40), font=font, anchor="mb")
    draw.text((left, top - 6), y_name, fill=(40, 40, 40), font=font, anchor="lb")  # above the plot's corner

    canvas = np.asarray(picture).copy()
    pixels = view.to_pixels(points)
    inside = ((pixels[:, 0] >= left) & (pixels[:, 0] < left + size) & (pixels[:, 1] >= top)
              & (pixels[:, 1] < top + size))
    order = np.random.default_rng(0).permutation(len(points))  # no class hidden under another
    order = order[inside[order]]
    xs, ys = pixels[order, 0].astype(np.int64), pixels[order, 1].astype(np.int64)
    if labels is None:
        colours = np.tile(np.array(_rgb(UNLABELLED_COLOUR), np.uint8), (len(order), 1))
    else:
        palette = np.array(class_colours(len(class_names)), np.uint8)
        colours = palette[np.clip(labels[order], 0, len(palette) - 1)]
    dot = 2 if len(points) <= 5_000 else 1  # dots of 5×5 or 3×3 pixels (corners trimmed)
    for dy in range(-dot, dot + 1):
        for dx in range(-dot, dot + 1):
            if dot == 2 and abs(dx) == 2 and abs(dy) == 2:
                continue
            canvas[np.clip(ys + dy, top, top + size - 1), np.clip(xs + dx, left, left + size - 1)] = colours
    picture = Image.fromarray(canvas)
    draw = ImageDraw.Draw(picture)
    draw.rectangle((left, top, left + size, top + size), outline=(120, 120, 120))
    if class_names:
        for index, (name, colour) in enumerate(zip(class_names, class_colours(len(class_names)))):
            y = top + 8 + index * 20
            if y > top + size - 10:
                break
            draw.rectangle((left + size + 12, y, left + size + 24, y + 12), fill=colour)
            draw.text((left + size + 30, y + 6), str(name)[:12], fill=(30, 30, 30), font=font, anchor="lm")
    return np.asarray(picture), view


@torch.inference_mode()
def sample_images(model: GenerativeModel, count: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor | None]:
    """`count` of the model's own samples, (N, C, S, S) in [0, 1] on CPU, with their classes (cycled) or None."""
    latents = seeded_latents(seed, count, model.latent_dim)
    labels = (torch.arange(count) % model.num_classes) if model.num_classes else None
    images = []
    for start in range(0, count, 500):
        batch_labels = None if labels is None else labels[start:start + 500]
        images.append(decode_batch(model, latents[start:start + 500], batch_labels))
    return torch.cat(images), labels


def decode_batch(model: GenerativeModel, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
    device = model_device(model)
    return model.generate(z.to(device), None if labels is None else labels.to(device)).float().cpu()


@torch.inference_mode()
def manifold_grid(model: GenerativeModel, axes: np.ndarray | None = None, label: int | None = None,
                  steps: int = 20, padding: int = 0) -> np.ndarray:
    """Kingma & Welling's figure 4: decode a steps × steps grid over the prior's quantiles, as one uint8 picture.

    Grid point (row i, column j) is z = axes @ (Φ⁻¹((j + ½)/steps), Φ⁻¹(1 − (i + ½)/steps)): u grows to the
    right and v upwards, as on the latent map. axes: (D, 2) orthonormal (default: the first two dimensions).
    """
    if not 2 <= steps <= 40:
        raise ValueError(f"steps = {steps} is not accepted: expected 2 to 40")
    latent_dim = model.latent_dim
    if axes is None:
        axes = np.eye(latent_dim)[:, :2]
    quantiles = torch.special.ndtri((torch.arange(steps, dtype=torch.float64) + 0.5) / steps)
    u = quantiles.repeat(steps)  # column index fastest
    v = quantiles.flip(0).repeat_interleave(steps)
    latents = torch.stack([u, v], dim=1) @ torch.from_numpy(np.asarray(axes, dtype=np.float64)).T  # (steps², D)
    images = decode(model, latents.float(), label)
    return grid_image(images, columns=steps, padding=padding)


CHART_WIDTH = 320  # px of the μ/σ chart
CHART_FONT = 13  # px of its labels


def render_code_chart(mean: np.ndarray, sigma: np.ndarray, kl: np.ndarray | None = None, *, max_rows: int = 64,
                      reach: float = 4.0) -> tuple[np.ndarray, int]:
    """One row per latent dimension: μ as a dot, μ ± σ as a bar, over the prior's ±1 and ±2 bands; uint8 (H, W, 3).

    More than `max_rows` dimensions: the `max_rows` with the most KL are shown, in order. Returns (picture, rows
    shown). Values beyond ±reach are drawn at the edge with an arrow.
    """
    mean, sigma = np.asarray(mean, np.float64).ravel(), np.asarray(sigma, np.float64).ravel()
    rows = np.arange(len(mean))
    if len(rows) > max_rows:
        weights = np.asarray(kl, np.float64) if kl is not None else np.abs(mean)
        rows = np.sort(np.argsort(-weights, kind="stable")[:max_rows])
    # The top is left blank: Gradio lays the image's label over its top-left corner. CHART_WIDTH fits a phone's
    # column (390 px less the page's margins) so the chart is never shrunk there and its CHART_FONT px stay legible.
    left, right, top, row_height = 40, 14, 34, 18
    plot = CHART_WIDTH - left - right
    body = (top - 4, top + row_height * len(rows) + 4)
    width, height = CHART_WIDTH, body[1] + 22
    picture = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(picture)
    font = _font(CHART_FONT)

    def x_of(value: float) -> float:
        return left + (np.clip(value, -reach, reach) + reach) / (2 * reach) * plot

    draw.rectangle((x_of(-2), body[0], x_of(2), body[1]), fill=(240, 240, 238))
    draw.rectangle((x_of(-1), body[0], x_of(1), body[1]), fill=(222, 222, 218))
    for tick in range(-int(reach), int(reach) + 1):
        draw.line((x_of(tick), body[0], x_of(tick), body[1]), fill=(150, 150, 150) if tick == 0 else (210, 210, 205))
        draw.text((x_of(tick), body[1] + 4), f"{tick:g}", fill=(80, 80, 80), font=font, anchor="mt")
    bar, dot = (31, 119, 180), (10, 40, 90)
    for position, index in enumerate(rows):
        y = top + position * row_height + row_height / 2
        draw.text((left - 6, y), f"z{index + 1}", fill=(40, 40, 40), font=font, anchor="rm")
        low, high = mean[index] - sigma[index], mean[index] + sigma[index]
        draw.rectangle((x_of(low), y - 3, x_of(high), y + 3), fill=bar)
        x = x_of(mean[index])
        draw.ellipse((x - 4, y - 4, x + 4, y + 4), fill=dot, outline=(255, 255, 255))
        if abs(mean[index]) > reach:  # off the chart: an arrow at the edge
            edge = x_of(np.sign(mean[index]) * reach)
            direction = np.sign(mean[index])
            draw.polygon([(edge + 6 * direction, y), (edge - 2 * direction, y - 5), (edge - 2 * direction, y + 5)],
                         fill=(200, 40, 40))
    return np.asarray(picture), len(rows)


# ---------------------------------------------------------------------------------------------- map cache


class LatentMapCache:
    """Latent maps, one per loaded model (and per model object, so a reloaded model gets a new map); thread-safe.

    The test split of the model's data set is read from `data_root` (GENIMG_DATA or ./data; downloaded when
    `download`); when it cannot be had, the map shows MAP_SAMPLES of the model's own samples, re-encoded, and
    says why. A failed download is not retried for `retry_after_s` seconds.
    """

    def __init__(self, data_root: str | None = None, *, download: bool = True, limit: int = MAP_LIMIT,
                 sample_count: int = MAP_SAMPLES, retry_after_s: float = 600.0, capacity: int = 8) -> None:
        self.data_root, self.download, self.limit = data_root, download, limit
        self.sample_count, self.retry_after_s, self.capacity = sample_count, retry_after_s, capacity
        self._lock = threading.Lock()
        self._key_locks: dict[tuple, threading.Lock] = {}
        self._maps: dict[tuple, tuple[weakref.ref, LatentMap]] = {}
        self._datasets: dict[tuple, ImageData | tuple[float, str]] = {}

    def get(self, model: VAEBase, dataset: str, image_size: int, channels: int) -> LatentMap:
        key = (id(model), dataset, image_size, channels)
        with self._lock:
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:  # one computation per model at a time; others wait for it and share the result
            with self._lock:
                found = self._maps.get(key)
                if found is not None and found[0]() is model:
                    return found[1]
            latent_map = self._build(model, dataset, image_size, channels)
            with self._lock:
                self._maps[key] = (weakref.ref(model), latent_map)
                while len(self._maps) > self.capacity * 4:
                    oldest = next(iter(self._maps))
                    self._maps.pop(oldest)
                    self._key_locks.pop(oldest, None)
            return latent_map

    def memo(self, model: torch.nn.Module, key: tuple, compute: Callable[[], Any]) -> Any:
        """compute() once per (model object, key), e.g. a manifold grid per class; kept like the maps."""
        full_key = ("memo", id(model), *key)
        with self._lock:
            found = self._maps.get(full_key)
            if found is not None and found[0]() is model:
                return found[1]
        value = compute()  # outside the lock: two users may compute the same thing once each, harmlessly
        with self._lock:
            self._maps[full_key] = (weakref.ref(model), value)
            while len(self._maps) > self.capacity * 4:
                self._maps.pop(next(iter(self._maps)))
        return value

    def _build(self, model: VAEBase, dataset: str, image_size: int, channels: int) -> LatentMap:
        data, note = self.dataset(dataset, image_size, channels)
        if data is not None and (data.labels is not None or not model.num_classes):
            return build_latent_map(model, data.images, data.labels, data.class_names, source="test",
                                    source_name=dataset)
        if data is not None:
            note = "its test split has no labels, which a conditional VAE needs"
        images, labels = sample_images(model, self.sample_count, seed=0)
        names = tuple(str(index) for index in range(model.num_classes))
        return build_latent_map(model, images, labels, names, source="samples", source_name=dataset, note=note)

    def dataset(self, name: str, image_size: int, channels: int) -> tuple[ImageData | None, str]:
        """The test split of a data set, converted to the model's size (cached), or (None, why not)."""
        if name not in MAP_DATASETS:
            return None, f"the model was trained on {name!r}, which has no test split here"
        key = (name, image_size, channels)
        with self._lock:
            found = self._datasets.get(key)
        if isinstance(found, ImageData):
            return found, ""
        if found is not None and time.monotonic() - found[0] < self.retry_after_s:
            return None, found[1]
        try:
            data = load_dataset(name, root=self.data_root, split="test", image_size=image_size, channels=channels,
                                download=self.download, limit=self.limit)
        except (DatasetError, OSError, RuntimeError) as error:
            reason = str(error).splitlines()[0][:200]
            with self._lock:
                self._datasets[key] = (time.monotonic(), reason)
            return None, reason
        with self._lock:
            self._datasets[key] = data
        return data, ""


# ---------------------------------------------------------------------------------------------- pictures


def to_picture(images: torch.Tensor, scale: int = 8, columns: int | None = None) -> np.ndarray:
    """(B, C, S, S) in [0, 1] → one uint8 picture, each pixel a scale × scale block (no gaps for one image)."""
    from genimg.data.imaging import upscale

    padding = 0 if images.shape[0] == 1 else 2
    return upscale(grid_image(images, columns=columns or images.shape[0], padding=padding), scale)
