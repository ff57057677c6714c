"""Quality numbers for trained models: classifier FD, confidence, mode coverage, ELBO and IWAE in nats.

Every number is deterministic for a seed: samples come from CPU-seeded latents and the VAE's
posterior noise from a seeded generator.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from genimg.data.datasets import ImageData, load_dataset, to_float
from genimg.eval.judge import Judge, frechet_distance, predict
from genimg.models import GenerativeModel, VAEBase, registry
from genimg.models.latent import class_labels, seeded_latents
from genimg.models.vae import LOG_2PI


@dataclass
class Evaluation:
    """What `evaluate` measured; `table()` prints it, `metrics` is what goes into config.json."""

    metrics: dict[str, float] = field(default_factory=dict)
    class_shares: list[float] = field(default_factory=list)
    class_names: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def table(self) -> str:
        labels = {
            "classifier_fd": "classifier FD, samples vs test (lower is better)",
            "classifier_fd_floor": "classifier FD floor, train vs test",
            "classifier_fd_ratio": "classifier FD ÷ floor (judge-independent scale)",
            "mean_confidence": "judge's mean top-class confidence on samples",
            "min_class_share": "smallest class share among samples",
            "classes_covered": "classes present among samples (≥ 1%)",
            "conditional_accuracy": "samples judged as the requested class",
            "test_neg_elbo": "test negative ELBO, nats per image",
            "test_reconstruction": "  of which reconstruction −log p(x|z)",
            "test_kl": "  of which KL(q(z|x) ‖ p(z))",
            "test_iwae_nll": (f"importance-weighted NLL bound, nats (first {self.metrics.get('iwae_images', 0):,} "
                              f"test images, k = {self.metrics.get('iwae_samples', 0)})"),
            "active_dimensions": "active latent dimensions (Cov_x E[z|x] > 0.01)",
            "judge_test_accuracy": "judge's accuracy on the test set",
        }
        rows = [(labels.get(name, name), _format(value)) for name, value in self.metrics.items()
                if not name.startswith("iwae_") and name not in ("samples", "elbo_images")]
        if self.class_shares:
            shares = " ".join(f"{name}:{share:.1%}" for name, share in zip(self.class_names, self.class_shares))
            rows.append(("class shares among samples", shares))
        width = max(len(label) for label, _ in rows)
        return "\n".join(f"{label.ljust(width)}  {value}" for label, value in rows)


def _format(value: float) -> str:
    if isinstance(value, int) or float(value).is_integer() and abs(value) >= 1:
        return f"{int(value)}"
    if abs(value) < 1:
        return f"{value:.4f}"
    return f"{value:.2f}"


@torch.inference_mode()
def generate_samples(model: GenerativeModel, count: int, seed: int = 0, batch_size: int = 500
                     ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """`count` samples as uint8 (N, C, S, S) on CPU from seed-derived latents; labels cycle 0..K−1 if conditional."""
    latents = seeded_latents(seed, count, model.latent_dim)
    labels = class_labels(count, model.num_classes)
    device = next(model.parameters()).device
    chunks = []
    for start in range(0, count, batch_size):
        z = latents[start:start + batch_size].to(device)
        y = labels[start:start + batch_size].to(device) if labels is not None else None
        chunks.append(model.generate(z, y).float().clamp(0, 1).mul(255).round().to(torch.uint8).cpu())
    return torch.cat(chunks), labels


@torch.inference_mode()
def vae_test_terms(model: VAEBase, data: ImageData, seed: int = 0, batch_size: int = 500) -> dict[str, float]:
    """Test-set means of −ELBO, reconstruction and KL in nats (one posterior sample per image), and active dims."""
    generator = torch.Generator().manual_seed(seed)
    device = next(model.parameters()).device
    totals = {"neg_elbo": 0.0, "reconstruction": 0.0, "kl": 0.0}
    means = []
    for start in range(0, len(data), batch_size):
        images = to_float(data.images[start:start + batch_size], "unit").to(device)
        labels = data.labels[start:start + batch_size].to(device) if model.num_classes else None
        mean, log_variance = model.encode(images, labels)
        noise = torch.randn(mean.shape, generator=generator).to(device)
        z = model.reparameterize(mean, log_variance, noise)
        reconstruction = model.reconstruction_nll(model.decode(z, labels).float(), images)
        kl = 0.5 * (mean.pow(2) + log_variance.exp() - 1 - log_variance).sum(dim=1)
        totals["reconstruction"] += reconstruction.sum().item()
        totals["kl"] += kl.sum().item()
        totals["neg_elbo"] += (reconstruction + kl).sum().item()
        means.append(mean.float().cpu())
    result = {name: value / len(data) for name, value in totals.items()}
    all_means = torch.cat(means)
    result["active_dimensions"] = int((all_means.var(dim=0) > 0.01).sum().item())
    return result


@torch.inference_mode()
def iwae_bound(model: VAEBase, data: ImageData, samples: int = 128, seed: int = 0, batch_size: int = 50) -> float:
    """Mean importance-weighted bound on −log p(x) in nats (Burda et al. 2016) with `samples` per image.

    −log p(x) ≤ −log (1/k) Σᵢ p(x|zᵢ) p(zᵢ) / q(zᵢ|x), zᵢ ~ q(z|x); tighter than −ELBO as k grows.
    """
    generator = torch.Generator().manual_seed(seed)
    device = next(model.parameters()).device
    total = 0.0
    for start in range(0, len(data), batch_size):
        images = to_float(data.images[start:start + batch_size], "unit").to(device)
        count = images.shape[0]
        labels = data.labels[start:start + batch_size].to(device) if model.num_classes else None
        mean, log_variance = model.encode(images, labels)
        noise = torch.randn((samples, *mean.shape), generator=generator).to(device)  # (k, B, D)
        z = mean + (0.5 * log_variance).exp() * noise
        repeated = images.repeat(samples, 1, 1, 1)  # (k·B, C, S, S)
        repeated_labels = labels.repeat(samples) if labels is not None else None
        logits = model.decode(z.reshape(samples * count, -1), repeated_labels).float()
        log_likelihood = -model.reconstruction_nll(logits, repeated).view(samples, count)
        log_prior = -0.5 * (z.pow(2) + LOG_2PI).sum(dim=2)
        log_posterior = -0.5 * (noise.pow(2) + LOG_2PI + log_variance).sum(dim=2)
        log_weights = log_likelihood + log_prior - log_posterior  # (k, B)
        bound = torch.logsumexp(log_weights, dim=0) - math.log(samples)
        total += -bound.sum().item()
    return total / len(data)


def judge_samples(judge: Judge, images: torch.Tensor, requested: torch.Tensor | None,
                  reference_features: torch.Tensor) -> tuple[dict[str, float], list[float]]:
    """Classifier FD against reference features, mean confidence, class shares and conditional accuracy."""
    probabilities, features = predict(judge, images)
    predicted = probabilities.argmax(dim=1)
    shares = torch.bincount(predicted, minlength=judge.num_classes).float() / len(predicted)
    metrics = {
        "classifier_fd": frechet_distance(features, reference_features),
        "mean_confidence": probabilities.max(dim=1).values.mean().item(),
        "min_class_share": shares.min().item(),
        "classes_covered": int((shares >= 0.01).sum().item()),
    }
    if requested is not None:
        metrics["conditional_accuracy"] = (predicted == requested).float().mean().item()
    return metrics, shares.tolist()


def evaluate(model: GenerativeModel, dataset: str, judge: Judge | None, *, data_root: str | Path | None = None,
             sample_count: int = 10_000, seed: int = 0, iwae_samples: int = 128, iwae_images: int = 2_000,
             image_size: int | None = None, channels: int | None = None) -> Evaluation:
    """All quality numbers for one model against the test split of `dataset` (see Evaluation.table)."""
    started = time.perf_counter()
    result = Evaluation()
    test = load_dataset(dataset, root=data_root, split="test", image_size=image_size, channels=channels)
    if judge is not None:
        train = load_dataset(dataset, root=data_root, split="train", image_size=image_size, channels=channels,
                             limit=len(test))
        test_probabilities, test_features = predict(judge, test.images)
        _, train_features = predict(judge, train.images)
        result.metrics["judge_test_accuracy"] = (test_probabilities.argmax(dim=1) == test.labels).float().mean().item()
        result.metrics["classifier_fd_floor"] = frechet_distance(train_features, test_features)
        images, requested = generate_samples(model, sample_count, seed)
        judged, shares = judge_samples(judge, images, requested, test_features)
        result.metrics.update(judged)
        floor = result.metrics["classifier_fd_floor"]
        result.metrics["classifier_fd_ratio"] = judged["classifier_fd"] / floor if floor > 0 else float("nan")
        result.metrics["samples"] = sample_count
        result.class_shares, result.class_names = shares, test.class_names
    if registry.kind_of(model).capabilities.encoder:  # the ELBO and its terms need q(z|x)
        terms = vae_test_terms(model, test, seed)
        result.metrics.update({"test_neg_elbo": terms["neg_elbo"], "test_reconstruction": terms["reconstruction"],
                               "test_kl": terms["kl"], "active_dimensions": terms["active_dimensions"]})
        if iwae_samples:
            subset = ImageData(images=test.images[:iwae_images], class_names=test.class_names, name=test.name,
                               labels=test.labels[:iwae_images] if test.labels is not None else None)
            result.metrics["test_iwae_nll"] = iwae_bound(model, subset, iwae_samples, seed)
            result.metrics["iwae_samples"] = iwae_samples
            result.metrics["iwae_images"] = len(subset)
    result.seconds = time.perf_counter() - started
    return result
