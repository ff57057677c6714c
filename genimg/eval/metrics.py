"""Quality numbers for trained models: classifier FD, confidence, mode coverage, ELBO and IWAE in nats, and
(on request) precision/recall, memorisation and the classification accuracy score (genimg.eval.fidelity).

Every number is deterministic for a seed: samples come from CPU-seeded latents and the VAE's
posterior noise from a seeded generator.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from genimg.data.datasets import ImageData, binarised_copy, load_dataset, to_float
from genimg.eval.fidelity import (
    MEMORISATION_PERCENTILE,
    FidelityOptions,
    NearestPair,
    classification_accuracy_score,
    memorisation,
    precision_recall,
)
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
    # With memorisation on: the samples nearest to a training image, closest first (for side-by-side views).
    nearest_pairs: list[NearestPair] = field(default_factory=list)
    # Seconds each measurement took, by stage name (see EVALUATION_STAGES).
    stage_seconds: dict[str, float] = field(default_factory=dict)
    from_cache: bool = False  # read back by genimg.eval.evaluation_cache rather than measured now
    # A flow's judged quality against its ODE steps (see steps_curve); [] for models that draw in one pass.
    steps_curve: list[dict[str, float]] = field(default_factory=list)

    def table(self) -> str:
        labels = {
            "classifier_fd": "classifier FD, samples vs test (lower is better)",
            "classifier_fd_floor": "classifier FD floor, train vs test",
            "classifier_fd_ratio": "classifier FD ÷ floor (judge-independent scale)",
            "mean_confidence": "judge's mean top-class confidence on samples",
            "min_class_share": "smallest class share among samples",
            "classes_covered": "classes present among samples (≥ 1%)",
            "blank_tiles": (f"blank tiles among the first {self.metrics.get('blank_tile_samples', 0):,} samples "
                            f"(nothing drawn: every pixel within {BLANK_TILE_RANGE:.0%} of the range)"),
            "blank_share": "  share of all samples that are blank",
            "conditional_accuracy": "samples judged as the requested class",
            "test_neg_elbo": "test negative ELBO, nats per image",
            "test_reconstruction": "  of which reconstruction −log p(x|z)",
            "test_kl": "  of which KL(q(z|x) ‖ p(z))",
            "test_iwae_nll": (f"importance-weighted NLL bound, nats (first {self.metrics.get('iwae_images', 0):,} "
                              f"test images, k = {self.metrics.get('iwae_samples', 0)})"),
            "test_neg_elbo_binarised": "binarised test set: negative ELBO, nats per image",
            "test_reconstruction_binarised": "  of which reconstruction −log p(x|z)",
            "test_kl_binarised": "  of which KL(q(z|x) ‖ p(z))",
            "test_iwae_nll_binarised": (f"binarised test set: importance-weighted NLL bound, nats (first "
                                        f"{self.metrics.get('iwae_images', 0):,} test images, "
                                        f"k = {self.metrics.get('iwae_samples', 0)})"),
            "active_dimensions": "active latent dimensions (Cov_x E[z|x] > 0.01)",
            "judge_test_accuracy": "judge's accuracy on the test set",
            "precision": (f"precision: samples inside the test images' manifold "
                          f"(k = {self.metrics.get('precision_recall_k', 3)})"),
            "recall": "recall: test images inside the samples' manifold",
            "memorisation_share": (f"samples closer to a training image than {100 - MEMORISATION_PERCENTILE:g}% of "
                                   f"test images are (first {self.metrics.get('memorisation_samples', 0):,} samples)"),
            "memorisation_baseline": "  expected for a model that does not copy",
            "memorisation_threshold": (f"  threshold: test images' {MEMORISATION_PERCENTILE:g}th-percentile pixel "
                                       f"distance"),
            "nearest_training_distance_median": "median pixel distance, sample to nearest training image",
            "test_nearest_training_distance_median": "median pixel distance, test image to nearest training image",
            "cas_accuracy": (f"classification accuracy score: recogniser trained on "
                             f"{self.metrics.get('cas_images', 0):,} samples, tested on real"),
            "cas_real_accuracy": "  the same recogniser trained on as many real images",
            "cas_ratio": "  generated ÷ real (1 = as useful as real data)",
            "sampling_steps": "ODE steps each sample was drawn in",
            "network_calls": "  network calls per sample (NFE; guidance doubles them)",
            "sampling_guidance": "  classifier-free guidance (1 = none)",
            "sampling_heun": "  Heun's solver (1) or Euler's (0)",
        }
        rows = [(labels.get(name, name), _format(value)) for name, value in self.metrics.items()
                if not name.startswith("iwae_") and name not in HIDDEN_IN_TABLE]
        if self.class_shares:
            shares = " ".join(f"{name}:{share:.1%}" for name, share in zip(self.class_names, self.class_shares))
            rows.append(("class shares among samples", shares))
        for row in self.steps_curve:
            accuracy = (f", requested class {row['conditional_accuracy']:.1%}" if "conditional_accuracy" in row
                        else "")
            rows.append((f"  at {row['steps']} ODE steps", f"confidence {row['mean_confidence']:.3f}{accuracy}, "
                                                           f"{1000 * row['seconds_per_image']:.1f} ms per image"))
        width = max(len(label) for label, _ in rows)
        return "\n".join(f"{label.ljust(width)}  {value}" for label, value in rows)


# Sizes that the table names inside other rows' labels instead of printing on rows of their own.
HIDDEN_IN_TABLE = ("samples", "blank_tile_samples", "elbo_images", "precision_recall_k", "memorisation_samples", "cas_images",
                   "cas_epochs")

# What `evaluate` reports to its progress callback: stage name → what runs (English; a UI translates the name).
EVALUATION_STAGES = {
    "loading": "loading the test and training images",
    "judging": "generating samples and judging them",
    "precision_recall": "precision and recall in the judge's features",
    "memorisation": "searching the training images nearest to samples",
    "cas": "training recognisers on generated and on real images",
    "likelihood": "test ELBO and importance-weighted bound",
    "steps": "judging samples drawn in more and more ODE steps",
    "done": "finished",
}
# A flow's quality against its ODE steps: the step counts measured, each on a tenth of the evaluation's samples
# (at least 100, at most STEPS_CURVE_SAMPLES): 88 network calls a sample over the six counts with Heun, twice that
# with guidance, so the curve costs about as much as the main judgement's 20 guided Heun steps at a tenth of the samples ×
# 4.4; on 2 CPU cores with a width-48 flow, 500 samples take about 2.5 minutes.
STEPS_CURVE = (1, 2, 5, 10, 20, 50)
STEPS_CURVE_SAMPLES = 1_000


def steps_curve_samples(sample_count: int) -> int:
    return min(STEPS_CURVE_SAMPLES, max(100, sample_count // 10))
ProgressCallback = Callable[[float, str], None]
# The seed of the one binarisation of a test set that binarised models are scored on: fixed, so numbers compare.
BINARISED_TEST_SEED = 0


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


# A tile is blank when its brightest and darkest pixels differ by less than this share of the pixel range: a flat
# picture with no stroke or shape in it (the all-black tiles a collapsed generator draws). BLANK_TILE_SAMPLES is the
# Samples tab's grid at seed 0 (the first samples of the evaluation are drawn from the same latents).
BLANK_TILE_RANGE = 0.1
BLANK_TILE_SAMPLES = 64


def blank_tiles(images: torch.Tensor, count: int = BLANK_TILE_SAMPLES) -> dict[str, float]:
    """How many of the first `count` uint8 samples (N, C, S, S) are blank (see BLANK_TILE_RANGE), and the blank share
    of all of them (a rare failure the first grid may not show)."""
    flat = images.reshape(len(images), -1)
    blank = (flat.amax(dim=1).float() - flat.amin(dim=1).float()) < BLANK_TILE_RANGE * 255  # (N,)
    first = blank[:count]
    return {"blank_tiles": int(first.sum().item()), "blank_tile_samples": len(first),
            "blank_share": int(blank.sum().item()) / len(blank)}


def sampling_settings(model: GenerativeModel) -> dict[str, float]:
    """How a flow's samples above were drawn: its ODE steps, network calls per image (NFE, guidance counted) and
    guidance (1 = none)."""
    sampling = model.current_sampling
    guided = bool(model.num_classes) and sampling.guidance != 1.0
    return {"sampling_steps": sampling.steps, "network_calls": sampling.network_calls * (2 if guided else 1),
            "sampling_guidance": float(sampling.guidance) if model.num_classes else 1.0,
            "sampling_heun": 1 if sampling.solver == "heun" else 0}


@torch.inference_mode()
def steps_curve(model: GenerativeModel, judge: Judge, seed: int = 0,
                progress: Callable[[float], None] | None = None,
                samples: int = STEPS_CURVE_SAMPLES) -> list[dict[str, float]]:
    """A flow's judged quality against its ODE steps: for each count in STEPS_CURVE, `samples` samples drawn with the
    model's solver and guidance → {steps, mean_confidence, conditional_accuracy (conditional models),
    seconds_per_image, samples}. The same latents at every count, so only the steps differ."""
    from genimg.models.flow import Sampling, drawing

    own = model.current_sampling
    rows = []
    for index, steps in enumerate(STEPS_CURVE):
        started = time.perf_counter()
        with drawing(Sampling(steps=steps, solver=own.solver, guidance=own.guidance)):
            images, requested = generate_samples(model, samples, seed)
        seconds = (time.perf_counter() - started) / samples
        probabilities, _ = predict(judge, images)
        row = {"steps": steps, "mean_confidence": round(probabilities.max(dim=1).values.mean().item(), 4),
               "seconds_per_image": round(seconds, 5), "samples": samples}
        if requested is not None:
            row["conditional_accuracy"] = round((probabilities.argmax(dim=1) == requested).float().mean().item(), 4)
        rows.append(row)
        if progress is not None:
            progress((index + 1) / len(STEPS_CURVE))
    return rows


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


# Rows one decoder pass of the IWAE bound sees at most: with k samples per image the k·B decoder inputs are cut
# into passes of this many, so memory grows with this number, not with k (k = 1000 or 5000 needs no more than
# k = 20 at 50 images a batch). On 1 CPU thread 1024 rows ran as fast as 4096 or 16384 (k = 1000, 100 images).
IWAE_DECODE_ROWS = 1024


@torch.inference_mode()
def iwae_bound(model: VAEBase, data: ImageData, samples: int = 128, seed: int = 0, batch_size: int = 50,
               decode_rows: int = IWAE_DECODE_ROWS) -> float:
    """Mean importance-weighted bound on −log p(x) in nats (Burda et al. 2016) with `samples` = k per image.

    −log p(x) ≤ −log (1/k) Σᵢ p(x|zᵢ) p(zᵢ) / q(zᵢ|x), zᵢ ~ q(z|x); tighter than −ELBO as k grows (k = 1 is −ELBO).
    The k latents of a batch of B images are drawn at once, (k, B, latent), and decoded `decode_rows` rows at a
    time (k is cut into chunks of max(1, decode_rows // B) samples): the log weights (k, B) are the same for any
    chunking, so memory stays bounded whatever k is. Images are scored as they are stored (to_float "unit"), so a
    binarised set (see genimg.data.datasets.binarised_copy) gives the bound on binary pixels.
    """
    if samples < 1:
        raise ValueError(f"samples = {samples!r}: the IWAE bound needs at least one importance sample per image")
    if decode_rows < 1:
        raise ValueError(f"decode_rows = {decode_rows!r}: expected a positive number of decoder rows per pass")
    generator = torch.Generator().manual_seed(seed)
    device = next(model.parameters()).device
    total = 0.0
    for start in range(0, len(data), batch_size):
        images = to_float(data.images[start:start + batch_size], "unit").to(device)  # (B, C, S, S)
        count = images.shape[0]
        labels = data.labels[start:start + batch_size].to(device) if model.num_classes else None
        mean, log_variance = model.encode(images, labels)  # (B, D) each
        mean, log_variance = mean.float(), log_variance.float()
        noise = torch.randn((samples, *mean.shape), generator=generator).to(device)  # (k, B, D)
        log_weights = torch.empty(samples, count, device=device)  # (k, B)
        chunk = max(1, decode_rows // count)
        for first in range(0, samples, chunk):
            part = noise[first:first + chunk]  # (c, B, D)
            drawn = part.shape[0]
            z = mean + (0.5 * log_variance).exp() * part  # (c, B, D)
            repeated = images.repeat(drawn, 1, 1, 1)  # (c·B, C, S, S), sample-major like z.reshape
            repeated_labels = labels.repeat(drawn) if labels is not None else None
            logits = model.decode(z.reshape(drawn * count, -1), repeated_labels).float()
            log_likelihood = -model.reconstruction_nll(logits, repeated).view(drawn, count)  # (c, B)
            log_prior = -0.5 * (z.pow(2) + LOG_2PI).sum(dim=2)  # (c, B)
            log_posterior = -0.5 * (part.pow(2) + LOG_2PI + log_variance).sum(dim=2)  # (c, B)
            log_weights[first:first + drawn] = log_likelihood + log_prior - log_posterior
        bound = torch.logsumexp(log_weights, dim=0) - math.log(samples)  # (B,)
        total += -bound.sum().item()
    return total / len(data)


# The judge's view of real images, kept per judge weights and image bytes: every evaluation against one data set
# needs the same test and training features (two thirds of a small evaluation's time), so a page evaluating model
# after model, or the test suite, computes them once. A few entries: each holds probabilities and features only.
_REAL_FEATURES: OrderedDict[tuple[str, str], tuple[torch.Tensor, torch.Tensor]] = OrderedDict()
_REAL_FEATURES_KEPT = 6
_REAL_FEATURES_LOCK = threading.Lock()


def _fingerprint(tensors: Iterable[torch.Tensor]) -> str:
    digest = hashlib.sha256()
    for tensor in tensors:
        digest.update(f"{tensor.dtype}{tuple(tensor.shape)}".encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def judged_real_images(judge: Judge, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """predict(judge, images) for real images, computed once per judge weights and image content."""
    key = (_fingerprint(judge.state_dict().values()), _fingerprint([images]))
    with _REAL_FEATURES_LOCK:
        if key in _REAL_FEATURES:
            _REAL_FEATURES.move_to_end(key)
            return _REAL_FEATURES[key]
    found = predict(judge, images)
    with _REAL_FEATURES_LOCK:
        _REAL_FEATURES[key] = found
        while len(_REAL_FEATURES) > _REAL_FEATURES_KEPT:
            _REAL_FEATURES.popitem(last=False)
    return found


def judge_samples(judge: Judge, images: torch.Tensor, requested: torch.Tensor | None,
                  reference_features: torch.Tensor, predictions: tuple[torch.Tensor, torch.Tensor] | None = None
                  ) -> tuple[dict[str, float], list[float]]:
    """Classifier FD against reference features, mean confidence, class shares and conditional accuracy.

    predictions: the judge's (probabilities, features) for `images` when the caller has them already.
    """
    probabilities, features = predictions if predictions is not None else predict(judge, images)
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


def _stage_weights(judged: bool, fidelity: FidelityOptions, conditional: bool, encoder: bool,
                   ode: bool = False) -> dict[str, float]:
    """Rough shares of the run's time per stage (measured on 2 CPU cores), so the progress fraction moves evenly."""
    weights = {"loading": 1.0}
    if judged:
        weights["judging"] = 20.0 if ode else 2.0  # a flow draws each sample in tens of network calls
        if ode:
            weights["steps"] = 10.0
        if fidelity.precision_recall:
            weights["precision_recall"] = 1.0
        if fidelity.memorisation:
            weights["memorisation"] = 4.0
        if fidelity.cas and conditional:
            weights["cas"] = 20.0
    if encoder:
        weights["likelihood"] = 6.0
    return weights


def evaluate(model: GenerativeModel, dataset: str, judge: Judge | None, *, data_root: str | Path | None = None,
             sample_count: int = 10_000, seed: int = 0, iwae_samples: int = 128, iwae_images: int | None = 2_000,
             binarised: bool = False,
             image_size: int | None = None, channels: int | None = None, fidelity: FidelityOptions | None = None,
             progress: ProgressCallback | None = None, test_data: ImageData | None = None,
             train_data: ImageData | None = None) -> Evaluation:
    """All quality numbers for one model against the test split of `dataset` (see Evaluation.table).

    fidelity: which of precision/recall, memorisation and the classification accuracy score to add (they
        need the judge; CAS runs for conditional models only). None: none of them.
    progress: called as progress(fraction done in [0, 1], stage name from EVALUATION_STAGES) as the run goes.
    iwae_images: the first N test images the IWAE bound scores; None: the whole test set.
    binarised: the model was trained on dynamically binarised data (TrainConfig.binarise): its −ELBO and IWAE bound
        are measured on one fixed binarisation of the test set (seed BINARISED_TEST_SEED) and stored as
        test_neg_elbo_binarised, test_iwae_nll_binarised, ... — nats comparable with the binarised-MNIST papers.
    test_data, train_data: the splits already in memory (a caller that evaluates many models loads them once);
        None loads them by name. The FD floor uses as many training images as there are test images.
    """
    fidelity = fidelity or FidelityOptions()
    started = time.perf_counter()
    result = Evaluation()
    encoder = registry.kind_of(model).capabilities.encoder
    ode = registry.kind_of(model).capabilities.ode
    conditional = bool(getattr(model, "num_classes", 0))
    weights = _stage_weights(judge is not None, fidelity, conditional, encoder, ode)
    total_weight = sum(weights.values())
    done_weight = 0.0
    stage_started = time.perf_counter()

    def begin(stage: str) -> None:
        nonlocal stage_started
        stage_started = time.perf_counter()
        report(stage, 0.0)

    def report(stage: str, fraction: float) -> None:
        if progress is not None:
            progress(min((done_weight + weights[stage] * fraction) / total_weight, 1.0), stage)

    def finish(stage: str) -> None:
        nonlocal done_weight
        result.stage_seconds[stage] = time.perf_counter() - stage_started
        done_weight += weights[stage]
        if progress is not None:
            progress(min(done_weight / total_weight, 1.0), stage)

    begin("loading")
    test = test_data if test_data is not None else load_dataset(dataset, root=data_root, split="test",
                                                                image_size=image_size, channels=channels)
    train = train_data
    if judge is not None and train is None:
        # The whole training split when memorisation searches it or CAS compares with it; else as many as the test set.
        wants_all = fidelity.memorisation or (fidelity.cas and conditional)
        train = load_dataset(dataset, root=data_root, split="train", image_size=image_size, channels=channels,
                             limit=None if wants_all else len(test))
    finish("loading")
    if judge is not None:
        begin("judging")
        test_probabilities, test_features = judged_real_images(judge, test.images)
        _, train_features = judged_real_images(judge, train.images[:len(test)])
        result.metrics["judge_test_accuracy"] = (test_probabilities.argmax(dim=1) == test.labels).float().mean().item()
        result.metrics["classifier_fd_floor"] = frechet_distance(train_features, test_features)
        images, requested = generate_samples(model, sample_count, seed)
        sample_predictions = predict(judge, images)  # (probabilities, features), also for precision/recall
        judged, shares = judge_samples(judge, images, requested, test_features, sample_predictions)
        result.metrics.update(judged)
        result.metrics.update(blank_tiles(images))
        floor = result.metrics["classifier_fd_floor"]
        result.metrics["classifier_fd_ratio"] = judged["classifier_fd"] / floor if floor > 0 else float("nan")
        result.metrics["samples"] = sample_count
        result.class_shares, result.class_names = shares, test.class_names
        finish("judging")
        if ode:
            begin("steps")
            result.metrics.update(sampling_settings(model))
            result.steps_curve = steps_curve(model, judge, seed, lambda fraction: report("steps", fraction),
                                             samples=steps_curve_samples(sample_count))
            finish("steps")
        if fidelity.precision_recall:
            begin("precision_recall")
            result.metrics.update(precision_recall(test_features, sample_predictions[1], fidelity.neighbours))
            result.metrics["precision_recall_k"] = fidelity.neighbours
            finish("precision_recall")
        if fidelity.memorisation:
            begin("memorisation")
            count = min(fidelity.memorisation_samples, sample_count)
            found, result.nearest_pairs = memorisation(
                images[:count], train.images, test.images[:fidelity.memorisation_references], pairs=fidelity.pairs,
                progress=lambda fraction: report("memorisation", fraction))
            result.metrics.update(found)
            result.metrics["memorisation_samples"] = count
            finish("memorisation")
        if fidelity.cas and conditional:
            begin("cas")
            if sample_count >= fidelity.cas_images:  # the first N samples are the same latents and classes
                cas_images, cas_requested = images[:fidelity.cas_images], requested[:fidelity.cas_images]
            else:
                cas_images, cas_requested = generate_samples(model, fidelity.cas_images, seed)
            result.metrics.update(classification_accuracy_score(
                cas_images, cas_requested, train, test, epochs=fidelity.cas_epochs, width=fidelity.cas_width,
                batch_size=fidelity.cas_batch_size, seed=seed, progress=lambda fraction: report("cas", fraction)))
            finish("cas")
    if encoder:  # the ELBO and its terms need q(z|x)
        begin("likelihood")
        # A model trained on binarised data is scored on one fixed binarisation of the test set (the same for every
        # evaluation and every model: its own seed), under keys that say so; others on the grey test images.
        scored = binarised_copy(test, BINARISED_TEST_SEED) if binarised else test
        suffix = "_binarised" if binarised else ""
        terms = vae_test_terms(model, scored, seed)
        result.metrics.update({f"test_neg_elbo{suffix}": terms["neg_elbo"],
                               f"test_reconstruction{suffix}": terms["reconstruction"],
                               f"test_kl{suffix}": terms["kl"], "active_dimensions": terms["active_dimensions"]})
        if iwae_samples:
            count = len(scored) if iwae_images is None else iwae_images
            subset = ImageData(images=scored.images[:count], class_names=scored.class_names, name=scored.name,
                               labels=scored.labels[:count] if scored.labels is not None else None)
            result.metrics[f"test_iwae_nll{suffix}"] = iwae_bound(model, subset, iwae_samples, seed)
            result.metrics["iwae_samples"] = iwae_samples
            result.metrics["iwae_images"] = len(subset)
        finish("likelihood")
    result.seconds = time.perf_counter() - started
    if progress is not None:
        progress(1.0, "done")
    return result
