"""A small image classifier that judges generators: its verdicts and its 128-d features score samples.

Inception weights cannot be downloaded everywhere genimg runs, so genimg trains its own judge per
dataset (MNIST digits, the built-in shapes) and ships it in checkpoints/. Its penultimate layer
(128 features) is what the classifier Fréchet distance compares; its softmax gives confidence,
class shares and, for conditional models, whether a sample shows the class that was asked for.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from genimg.config import JUDGE_KIND
from genimg.data.datasets import ImageData, to_float
from genimg.store.checkpoint import (
    CheckpointError,
    load_checkpoint,
    load_weights_into,
    save_checkpoint,
)

FEATURES = 128


class Judge(nn.Module):
    """images (B, C, S, S) in [0, 1], S 28 or 32 → (logits (B, K), features (B, 128))."""

    def __init__(self, channels: int = 1, image_size: int = 28, num_classes: int = 10, width: int = 32) -> None:
        super().__init__()
        self.channels, self.image_size, self.num_classes, self.width = channels, image_size, num_classes, width
        self.convolutions = nn.Sequential(
            nn.Conv2d(channels, width, 3, 1, 1), nn.ReLU(inplace=True),  # (B, w, S, S)
            nn.Conv2d(width, width, 3, 1, 1), nn.ReLU(inplace=True),  # (B, w, S, S)
            nn.MaxPool2d(2),  # (B, w, S/2, S/2)
            nn.Conv2d(width, 2 * width, 3, 1, 1), nn.ReLU(inplace=True),  # (B, 2w, S/2, S/2)
            nn.Conv2d(2 * width, 2 * width, 3, 1, 1), nn.ReLU(inplace=True),  # (B, 2w, S/2, S/2)
            nn.MaxPool2d(2),  # (B, 2w, S/4, S/4)
            nn.Flatten(),  # (B, 2w·(S/4)²)
        )
        side = image_size // 4
        self.to_features = nn.Sequential(nn.Linear(2 * width * side * side, FEATURES), nn.ReLU(inplace=True))  # (B, 128)
        self.dropout = nn.Dropout(0.3)
        self.to_logits = nn.Linear(FEATURES, num_classes)  # (B, K)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.to_features(self.convolutions((images - 0.5) / 0.5))
        return self.to_logits(self.dropout(features)), features

    def config(self) -> dict:
        return {"kind": JUDGE_KIND, "channels": self.channels, "image_size": self.image_size,
                "num_classes": self.num_classes, "width": self.width}


@dataclass(frozen=True)
class JudgeProgress:
    epoch: int
    step: int
    loss: float
    test_accuracy: float | None
    seconds: float


def _shift(images: torch.Tensor, generator: torch.Generator, pixels: int = 2) -> torch.Tensor:
    """Random translations by up to ±pixels (zero padded): cheap augmentation. (B, C, S, S) → same."""
    size = images.shape[-1]
    padded = F.pad(images, (pixels,) * 4)
    dx, dy = torch.randint(0, 2 * pixels + 1, (2,), generator=generator).tolist()
    return padded[..., dy:dy + size, dx:dx + size]


@torch.inference_mode()
def predict(judge: Judge, images: torch.Tensor, batch_size: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
    """Float images (N, C, S, S) in [0, 1] or uint8 → (probabilities (N, K), features (N, 128)), on CPU."""
    judge.eval()
    probabilities, features = [], []
    device = next(judge.parameters()).device
    for start in range(0, images.shape[0], batch_size):
        batch = images[start:start + batch_size].to(device)
        batch = to_float(batch, "unit") if batch.dtype == torch.uint8 else batch.float()
        logits, feature = judge(batch)
        probabilities.append(logits.softmax(dim=1).cpu())
        features.append(feature.cpu())
    return torch.cat(probabilities), torch.cat(features)


def train_judge(train_data: ImageData, test_data: ImageData, *, epochs: int = 3, batch_size: int = 128,
                seed: int = 0, out: str | Path | None = None, width: int = 32,
                report_every: int = 100) -> Iterator[JudgeProgress]:
    """Train a Judge on labelled data, yielding progress; saves a checkpoint (with test accuracy) to `out`.

    width: channels of the first convolutions (the shipped judges use 32; a quick recogniser fewer).
    report_every: steps between progress reports (each epoch's end reports too, with the test accuracy).
    """
    if train_data.labels is None or test_data.labels is None:
        raise ValueError(f"the judge needs labelled data; {train_data.name} has no labels")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        judge = Judge(train_data.channels, train_data.image_size, train_data.num_classes, width)
    optimizer = torch.optim.Adam(judge.parameters(), 1e-3)
    steps_per_epoch = len(train_data) // batch_size
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, 3e-3, total_steps=epochs * steps_per_epoch)
    generator = torch.Generator().manual_seed(seed)
    started = time.perf_counter()
    step = 0
    accuracy = None
    for epoch in range(1, epochs + 1):
        judge.train()
        order = torch.randperm(len(train_data), generator=generator)
        for index in range(steps_per_epoch):
            chosen = order[index * batch_size:(index + 1) * batch_size]
            images = _shift(to_float(train_data.images[chosen], "unit"), generator)
            logits, _ = judge(images)
            loss = F.cross_entropy(logits, train_data.labels[chosen])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            step += 1
            if step % report_every == 0:
                yield JudgeProgress(epoch, step, loss.item(), None, time.perf_counter() - started)
        probabilities, _ = predict(judge, test_data.images)
        accuracy = (probabilities.argmax(dim=1) == test_data.labels).float().mean().item()
        yield JudgeProgress(epoch, step, loss.item(), accuracy, time.perf_counter() - started)
    if out is not None:
        save_checkpoint(out, model_config=judge.config(), weights=judge.state_dict(), step=step,
                        dataset=train_data.name, metrics={"test_accuracy": round(accuracy, 5)},
                        training={"epochs": epochs, "batch_size": batch_size, "seed": seed},
                        extra={"class_names": train_data.class_names,
                               "elapsed_seconds": round(time.perf_counter() - started, 1)})


def load_judge(path: str | Path) -> tuple[Judge, dict]:
    """A trained judge from its checkpoint folder, in eval mode on CPU, and its config.json."""
    checkpoint = load_checkpoint(path)
    settings = checkpoint.model_config
    if settings.get("kind") != JUDGE_KIND:
        raise CheckpointError(f"{Path(path) / 'config.json'}: model kind {settings.get('kind')!r} is not a judge "
                              f"classifier (expected {JUDGE_KIND!r})")
    try:
        judge = Judge(int(settings["channels"]), int(settings["image_size"]), int(settings["num_classes"]),
                      int(settings.get("width", 32)))
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"{Path(path) / 'config.json'}: bad judge settings: {error}") from None
    load_weights_into(judge, checkpoint.weights, source=Path(path) / checkpoint.config["weights"])
    return judge.eval(), checkpoint.config


def frechet_distance(features_a: torch.Tensor, features_b: torch.Tensor) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (N, D) and (M, D).

    ‖μa − μb‖² + tr(Σa) + tr(Σb) − 2·tr((Σa^½ Σb Σa^½)^½), in float64, with symmetric
    eigendecompositions (no SciPy needed).
    """
    a, b = features_a.double(), features_b.double()
    mean_a, mean_b = a.mean(dim=0), b.mean(dim=0)
    covariance_a, covariance_b = torch.cov(a.T), torch.cov(b.T)
    values, vectors = torch.linalg.eigh(covariance_a)
    root_a = (vectors * values.clamp_min(0).sqrt()) @ vectors.T
    middle = root_a @ covariance_b @ root_a
    trace_root = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp_min(0).sqrt().sum()
    distance = (mean_a - mean_b).pow(2).sum() + covariance_a.trace() + covariance_b.trace() - 2 * trace_root
    return max(float(distance), 0.0) if math.isfinite(float(distance)) else float("nan")
