"""Principal directions in latent space (GANSpace, Härkönen et al. 2020): the few ways a generator varies most.

Recipe, the same for a GAN's generator and a VAE's decoder:

1. Draw N seeded latents z (N, D) from the prior N(0, I) (on the CPU, so the result is the same everywhere; none
   of them is a seed's own z, see principal_directions).
2. Run only the network's first block — the projection of z and its normalisation and activation — and
   flatten what comes out: activations Y (N, F). This is where the network first spreads z over its features.
3. PCA of Y: the top K axes V (K, F) and how much of Y's variance each explains.
4. PCA coordinates X = (Y − mean) Vᵀ (N, K); least squares z ≈ X U gives U (K, D): row k is the direction
   in z-space that moves the activations along axis k. Normalised to unit length, these are the directions.

A step z' = z + α·v_k then changes the image in the way the network varies most (PC1), second most (PC2), ...

Why the decoder for a VAE, rather than PCA of the codes the encoder gives real images (the aggregate
posterior): (a) it needs no data set — a hosted page may have only the checkpoint; (b) a well-trained VAE's
aggregate posterior is pushed towards N(0, I) by its KL term, so PCA of z itself is close to isotropic and
its axes are arbitrary, whereas the decoder's first layer shows which mixtures of z it actually uses;
(c) GAN and VAE are then analysed by one method, so a student comparing them compares the models, not
two methods. Conditional models: activations are centred per class before PCA, so the components describe
variation *within* a class (style: slant, thickness) instead of which class is drawn — z cannot change that.
"""

from __future__ import annotations

import hashlib
import json
import threading
import weakref
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from genimg.data.imaging import grid_image
from genimg.explore.latent import class_tensor, model_device
from genimg.models.base import GenerativeModel
from genimg.models.latent import seeded_latents
from genimg.store.checkpoint import CheckpointError, read_model_file, write_file_atomic

DEFAULT_COUNT = 10
STRIP_STEPS = (-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0)  # α of each image in a direction strip (z is unit-variance)
DEFAULT_SAMPLES = 4096
# The activation matrix is N × F floats; larger first layers (a 64×64 seed GAN has F = 16,384) get fewer
# samples so that it stays near 128 MB.
MAX_ACTIVATION_VALUES = 32 * 1024 * 1024
MIN_SAMPLES = 512
# A model's directions saved beside its weights (`save_directions`), so that a page need not find them again: a
# flow's take a network run per analysed latent (about 7 s for mnist-flow and 15 s for mnist-cflow on one busy CPU
# thread), a GAN's a fraction of a second.
DIRECTIONS_FILE = "directions.safetensors"
MAX_DIRECTIONS_BYTES = 4 * 1024 * 1024  # 64 directions of a 64×64 colour flow's 12,288 numbers take 3.1 MB
DIRECTIONS_FORMAT = "1"


@dataclass(frozen=True)
class Directions:
    """Unit directions in z-space, strongest first.

    vectors: (K, latent_dim) float32 on the CPU, each row of length 1.
    explained_variance: (K,) share of the first layer's activation variance along each principal axis,
        in (0, 1], non-increasing.
    samples: how many latents were used; seed: the seed they were drawn from; features: F, the size of
        the flattened first-layer activation that was analysed.
    """

    vectors: torch.Tensor
    explained_variance: torch.Tensor
    samples: int
    seed: int
    features: int

    def __len__(self) -> int:
        return self.vectors.shape[0]


def first_layer_activations(model: GenerativeModel, z: torch.Tensor, labels: torch.Tensor | None = None
                            ) -> torch.Tensor:
    """The output of the generator's first block after z's projection, flattened: z (B, D) → (B, F).

    Each network says what its first block is (`first_features`: for a DCGAN generator transposed conv →
    batch norm → ReLU; for the seed GAN dense layers → batch norm → LeakyReLU; for a VAE its decoder's first layer).
    """
    return model.first_features(model.condition(z, labels))


def _orthonormal(block: torch.Tensor) -> torch.Tensor:
    """Orthonormal columns spanning block (M, r), from the eigendecomposition of its r × r Gram matrix in float64;
    directions that hold almost nothing (λ < 10⁻¹² λ_max) are dropped, so it may return fewer than r columns.

    Used instead of a QR decomposition: on a busy two-core machine a multi-threaded LAPACK QR of a tall matrix
    stalled for up to a second at its thread barriers; two matrix products and a tiny eigh do not.
    """
    wide = block.double()
    values, vectors = torch.linalg.eigh(wide.T @ wide)  # ascending
    keep = values > values[-1].clamp_min(1e-300) * 1e-12
    return (wide @ (vectors[:, keep] / values[keep].sqrt())).to(block.dtype)


def _top_axes(centred: torch.Tensor, count: int, generator: torch.Generator, oversample: int = 30,
              iterations: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """Randomised SVD (Halko et al. 2011) of centred (N, F): the top singular values (≤ count,) and the PCA
    coordinates of every row along those axes (N, ≤ count).

    Eight passes over the matrix instead of an exact decomposition (tens of seconds for 4096 × 6272 on two
    cores). A first layer's spectrum is flat (each of the top ten axes explains 1–2% for a trained 28×28
    DCGAN), which is the hard case for this method: with 30 extra probe vectors and 3 power iterations the top
    ten directions matched those of an exact eigendecomposition to |cos| ≥ 0.98 (PC1–7 ≥ 0.999). Two independent
    4096-sample draws agree far less (|cos| ≈ 0.9 for PC1–4, 0.3–0.6 beyond), so more accuracy would not mean
    more truth."""
    rank = min(count + oversample, *centred.shape)
    probe = torch.randn(centred.shape[1], rank, generator=generator).to(centred.device)  # seeded, on CPU
    basis = _orthonormal(centred @ probe)  # (N, r)
    for _ in range(iterations):
        basis = _orthonormal(centred.T @ basis)  # (F, r)
        basis = _orthonormal(centred @ basis)  # (N, r)
    # Rayleigh–Ritz: basisᵀ·centred = U S Vᵀ, from the eigendecomposition of its small Gram matrix
    small = (basis.T @ centred).double()  # (r, F)
    values, left = torch.linalg.eigh(small @ small.T)  # ascending
    values, left = values.flip(0)[:count].clamp_min(0.0), left.flip(1)[:, :count]
    singular = values.sqrt()
    coordinates = basis.double() @ (left * singular)  # (N, count) = centred · axesᵀ
    return singular.to(centred.dtype), coordinates.to(centred.dtype)


@torch.no_grad()
def principal_directions(model: GenerativeModel, *, count: int = DEFAULT_COUNT, samples: int = DEFAULT_SAMPLES,
                         seed: int = 0) -> Directions:
    """GANSpace directions of `model` (see the module docstring): deterministic for a given seed.

    count: how many directions, at most latent_dim (a D-dimensional z has no more independent ones).
    samples: how many prior latents to analyse (reduced for very wide first layers, and to the model's own
        `direction_samples` where it has one: a flow's features cost a network run per sample).
    """
    latent_dim, num_classes = model.latent_dim, model.num_classes
    if not 1 <= count:
        raise ValueError(f"count = {count} is not accepted: expected a positive number of directions")
    device = model_device(model)
    probe = first_layer_activations(model, torch.zeros(1, latent_dim, device=device),
                                     torch.zeros(1, dtype=torch.long, device=device) if num_classes else None)
    features = probe.shape[1]
    # a model whose features cost a whole network run per sample (a flow) says how many it can afford
    samples = min(samples, getattr(model, "direction_samples", samples))
    samples = max(MIN_SAMPLES, min(samples, MAX_ACTIVATION_VALUES // features))
    groups = max(num_classes, 1)
    samples -= samples % groups  # the same number of samples in every class
    # (N, D) on CPU, the same numbers on every device. The draw's first row is seed `seed`'s own z (the page's default
    # seed): it is left out, since least squares fits the latents it is given, and a seed among them would get
    # inflated coordinates along the directions (a flow's 1,000 latents in 784 dimensions gave seed 0 coordinates of
    # 2.4 to 3.0 on 4 of its first 10, where N(0, 1) puts about 2% beyond 2.3).
    latents = seeded_latents(seed, samples + 1, latent_dim)[1:]
    labels = (torch.arange(samples) % num_classes).to(device) if num_classes else None
    activations = first_layer_activations(model, latents.to(device), labels).float()  # (N, F)
    # Centre; per class for a conditional model (labels cycle 0, 1, …, K−1): what is left is variation
    # within a class, the only kind z controls.
    by_class = activations.view(-1, groups, features)  # (N/K, K, F)
    by_class -= by_class.mean(dim=0)
    flat = activations.view(-1)
    total = torch.dot(flat, flat)  # ‖Y − mean‖², without a temporary copy
    if not total > 1e-30:  # a dead layer: every z gives the same activations (the randomised SVD needs variance)
        raise ValueError("the first layer's activations do not vary with z, so there are no directions to find")
    count = min(count, latent_dim)
    singular, coordinates = _top_axes(activations, count, torch.Generator().manual_seed(seed))
    explained = (singular.pow(2) / total.clamp_min(1e-30)).cpu()
    keep = int((explained > 1e-9).sum())  # a dead layer has no variance to explain
    if keep == 0:
        raise ValueError("the first layer's activations do not vary with z, so there are no directions to find")
    # PCA coordinates (N, K), centred and mutually orthogonal; least squares z ≈ X·U gives U (K, D)
    mapping = torch.linalg.lstsq(coordinates[:, :keep].cpu().double(), latents.double()).solution
    vectors = mapping / mapping.norm(dim=1, keepdim=True).clamp_min(1e-30)
    # An axis has no sign of its own; pick the one whose largest entry is positive, so that results repeat.
    largest = vectors.abs().argmax(dim=1)
    signs = torch.sign(vectors.gather(1, largest[:, None]))
    vectors = (vectors * signs).float().contiguous()
    return Directions(vectors=vectors, explained_variance=explained[:keep].float(), samples=samples, seed=seed,
                      features=features)


def weights_digest(model: nn.Module) -> str:
    """SHA-256 of a model's state (every tensor's name, shape, dtype and bytes, by name): what saved directions
    belong to. The same for the same weights on any device; any retraining changes it."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        plain = tensor.detach().cpu().contiguous().reshape(-1)
        digest.update(f"{name}|{tuple(tensor.shape)}|{tensor.dtype}|".encode())
        digest.update(plain.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _settings(count: int, samples: int, seed: int) -> dict[str, str]:
    return {"count": str(count), "samples": str(samples), "seed": str(seed)}


def save_directions(folder: str | Path, model: nn.Module, found: Directions, *, count: int, samples: int,
                    seed: int) -> Path:
    """Write `found` (principal_directions(model, count=, samples=, seed=)) into folder/DIRECTIONS_FILE, marked with
    those settings and the model's weights_digest; load_directions gives them back for that model only."""
    import safetensors.torch  # the checkpoint layer's dependency; imported here, where files are written

    metadata = {"format": DIRECTIONS_FORMAT, "weights_sha256": weights_digest(model),
                "analysed": str(found.samples), "features": str(found.features), **_settings(count, samples, seed)}
    data = safetensors.torch.save({"vectors": found.vectors.float().contiguous().cpu(),
                                   "explained_variance": found.explained_variance.float().contiguous().cpu()},
                                  metadata=metadata)
    target = Path(folder) / DIRECTIONS_FILE
    write_file_atomic(target, data)
    return target


def load_directions(folder: str | Path, model: nn.Module, *, count: int, samples: int, seed: int
                    ) -> Directions | None:
    """The directions saved in folder/DIRECTIONS_FILE if they were found for exactly this model's weights with these
    settings, else None (no file, another model's or older weights, other settings, or anything malformed: a link,
    an oversized or truncated file, wrong shapes, NaN, rows not of unit length, shares out of order). None means
    "find them again", never an error: the file only saves time."""
    import safetensors.torch

    try:
        data = read_model_file(Path(folder) / DIRECTIONS_FILE, max_bytes=MAX_DIRECTIONS_BYTES,
                               what="directions file")
    except (FileNotFoundError, CheckpointError, OSError):
        return None
    try:
        header_size = int.from_bytes(data[:8], "little")
        if len(data) < 8 or not 0 < header_size <= len(data) - 8:
            return None
        metadata = json.loads(data[8:8 + header_size]).get("__metadata__") or {}
        tensors = safetensors.torch.load(data)
    except Exception:  # safetensors reports a malformed file with its own exception types
        return None
    expected = {"format": DIRECTIONS_FORMAT, **_settings(count, samples, seed)}
    if not isinstance(metadata, dict) or any(metadata.get(key) != value for key, value in expected.items()):
        return None
    if set(tensors) != {"vectors", "explained_variance"} or metadata.get("weights_sha256") != weights_digest(model):
        return None
    vectors, explained = tensors["vectors"], tensors["explained_variance"]
    latent_dim = getattr(model, "latent_dim", None)
    kept = vectors.shape[0] if vectors.ndim == 2 else 0
    if (vectors.dtype != torch.float32 or explained.dtype != torch.float32 or vectors.ndim != 2
            or not 1 <= kept <= min(count, latent_dim or 0) or vectors.shape[1] != latent_dim
            or explained.shape != (kept,)):
        return None
    if not (torch.isfinite(vectors).all() and torch.isfinite(explained).all()):
        return None
    if (vectors.norm(dim=1) - 1).abs().max() > 1e-4 or not ((explained > 0) & (explained <= 1)).all():
        return None
    if kept > 1 and (explained[1:] > explained[:-1] * (1 + 1e-6)).any():
        return None
    try:
        analysed, features = int(metadata.get("analysed", "")), int(metadata.get("features", ""))
    except ValueError:
        return None
    if not (0 < analysed <= samples and 0 < features < 2**40):
        return None
    return Directions(vectors=vectors.contiguous(), explained_variance=explained.contiguous(), samples=analysed,
                      seed=seed, features=features)


class DirectionCache:
    """Directions computed once per loaded model and shared by every request; thread-safe.

    Keyed by the model object itself (weakly): when the renderer drops a model, its directions go too, and a
    model loaded again gets fresh ones. Two requests for the same model compute once; other models wait for
    nothing. Given the model's checkpoint folder, directions saved there for these weights and settings
    (save_directions) are read instead of found again.
    """

    def __init__(self, count: int = DEFAULT_COUNT, samples: int = DEFAULT_SAMPLES, seed: int = 0) -> None:
        self.count, self.samples, self.seed = count, samples, seed
        self._results: weakref.WeakKeyDictionary[nn.Module, Directions] = weakref.WeakKeyDictionary()
        self._locks: weakref.WeakKeyDictionary[nn.Module, threading.Lock] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def get(self, model: GenerativeModel, folder: str | Path | None = None) -> Directions:
        with self._lock:
            found = self._results.get(model)
            if found is not None:
                return found
            model_lock = self._locks.setdefault(model, threading.Lock())
        with model_lock:
            with self._lock:
                found = self._results.get(model)
            if found is None and folder is not None:
                found = load_directions(folder, model, count=self.count, samples=self.samples, seed=self.seed)
            if found is None:
                found = principal_directions(model, count=self.count, samples=self.samples, seed=self.seed)
                with self._lock:
                    self._results[model] = found
            return found

    def peek(self, model: GenerativeModel) -> Directions | None:
        """The directions if already computed, else None (never computes)."""
        with self._lock:
            return self._results.get(model)


@torch.inference_mode()
def direction_strips(model: GenerativeModel, z: torch.Tensor, vectors: torch.Tensor,
                     steps: tuple[float, ...] = STRIP_STEPS, label: int | None = None) -> torch.Tensor:
    """Images along each direction around z, as GANSpace shows them: row k, column j is G(z + steps[j]·v_k).

    z: (1, D) or (D,), the current latent; vectors: (K, D) unit directions (Directions.vectors); label: the class a
    conditional model draws (ValueError outside its classes). Returns float images (K·S, C, H, W) in [0, 1], row
    by row, from one batched forward pass (70 images for 10 directions × 7 steps).
    """
    latent = z.reshape(1, -1).float().cpu()
    if vectors.ndim != 2 or vectors.shape[1] != latent.shape[1]:
        raise ValueError(f"directions of shape {tuple(vectors.shape)} are not accepted: expected (K, "
                         f"{latent.shape[1]}), one row per direction in this z's space")
    if not steps:
        raise ValueError("steps = () is not accepted: expected at least one strength α")
    alphas = torch.tensor(steps, dtype=torch.float32)  # (S,)
    moved = latent + alphas[None, :, None] * vectors.float().cpu()[:, None, :]  # (K, S, D)
    batch = moved.reshape(-1, latent.shape[1]).to(model_device(model))
    return model.generate(batch, class_tensor(model, label, batch.shape[0]))


def strip_grid(images: torch.Tensor, steps: int, scale: int = 1) -> np.ndarray:
    """direction_strips' images (K·S, C, H, W) as one picture, a row per direction and a column per step, uint8
    (H', W') or (H', W', 3), upscaled by a whole `scale` (nearest neighbour, crisp)."""
    grid = grid_image(images, columns=steps, padding=2)
    if scale > 1:
        grid = np.repeat(np.repeat(grid, scale, axis=0), scale, axis=1)
    return grid
