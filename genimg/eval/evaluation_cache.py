"""Evaluations kept per model in a folder the caller names, so a page shows a model's numbers again without rerunning.

The model's folder is not written (shipped models may sit on a read-only disk). A result is found again
by a key made of the model's weights and settings, the judge's weights and the evaluation options: a
retrained model, another judge or other options never reuse an old result.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from genimg.config import SHIPPED_DIR
from genimg.data.datasets import ImageData
from genimg.eval.fidelity import FidelityOptions, NearestPair
from genimg.eval.judge import Judge, load_judge
from genimg.eval.metrics import Evaluation, ProgressCallback, evaluate
from genimg.models import registry
from genimg.models.loading import load_model
from genimg.store.checkpoint import write_file_atomic

# Raised when the stored format changes, so that old files are recomputed rather than misread.
CACHE_VERSION = 1


class EvaluationError(ValueError):
    """A model that cannot be evaluated as asked (no judge for its data, a judge for other images)."""


@dataclass(frozen=True)
class EvaluationOptions:
    """Everything that changes an evaluation's numbers (see genimg.eval.metrics.evaluate)."""

    sample_count: int = 10_000
    seed: int = 0
    iwae_samples: int = 128
    iwae_images: int = 2_000
    fidelity: FidelityOptions = field(default_factory=FidelityOptions)


def _hash_weights(digest: Any, module: torch.nn.Module) -> None:
    """Feed every tensor of a module's state dict (name, dtype, shape, bytes) into a hashlib digest."""
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())


def evaluation_key(model: torch.nn.Module, model_config: dict, dataset: str, judge: Judge | None,
                   options: EvaluationOptions) -> str:
    """SHA-256 (hex) of the model's weights and settings, its dataset, the judge's weights and the options."""
    digest = hashlib.sha256(f"genimg evaluation {CACHE_VERSION}".encode())
    _hash_weights(digest, model)
    digest.update(json.dumps({"model": model_config, "dataset": dataset, "options": asdict(options)},
                             sort_keys=True).encode())
    if judge is not None:
        _hash_weights(digest, judge)
    return digest.hexdigest()


def _image_to_json(image: torch.Tensor) -> dict:
    return {"shape": list(image.shape), "bytes": base64.b64encode(image.contiguous().numpy().tobytes()).decode()}


def _image_from_json(stored: dict) -> torch.Tensor:
    raw = bytearray(base64.b64decode(stored["bytes"], validate=True))
    return torch.frombuffer(raw, dtype=torch.uint8).reshape(stored["shape"]).clone()


def evaluation_to_json(result: Evaluation) -> dict:
    """A JSON-ready dict of an Evaluation (pairs' images as base64 uint8 with their shape)."""
    return {
        "version": CACHE_VERSION,
        "metrics": result.metrics,
        "class_shares": result.class_shares,
        "class_names": result.class_names,
        "seconds": result.seconds,
        "stage_seconds": result.stage_seconds,
        "steps_curve": result.steps_curve,
        "nearest_pairs": [{"sample": _image_to_json(pair.sample), "training": _image_to_json(pair.training),
                           "distance": pair.distance, "sample_index": pair.sample_index,
                           "training_index": pair.training_index} for pair in result.nearest_pairs],
    }


def evaluation_from_json(stored: dict) -> Evaluation:
    """The Evaluation that evaluation_to_json wrote; ValueError (or KeyError, TypeError) when it is not one."""
    if stored.get("version") != CACHE_VERSION:
        raise ValueError(f"cache version {stored.get('version')!r}; this genimg writes {CACHE_VERSION}")
    pairs = [NearestPair(sample=_image_from_json(pair["sample"]), training=_image_from_json(pair["training"]),
                         distance=float(pair["distance"]), sample_index=int(pair["sample_index"]),
                         training_index=int(pair["training_index"])) for pair in stored["nearest_pairs"]]
    return Evaluation(metrics=dict(stored["metrics"]), class_shares=list(stored["class_shares"]),
                      class_names=list(stored["class_names"]), seconds=float(stored["seconds"]),
                      nearest_pairs=pairs, stage_seconds=dict(stored["stage_seconds"]),
                      steps_curve=[dict(row) for row in stored.get("steps_curve", [])])


def default_judge_dir(dataset: str) -> Path:
    """Where the shipped judge of a dataset lives: checkpoints/<dataset>-judge."""
    return SHIPPED_DIR / f"{dataset}-judge"


def cached_evaluation(model_dir: str | os.PathLike, options: EvaluationOptions, cache_dir: str | os.PathLike, *,
                      judge_dir: str | os.PathLike | None = None, data_root: str | os.PathLike | None = None,
                      progress: ProgressCallback | None = None, recompute: bool = False,
                      test_data: ImageData | None = None, train_data: ImageData | None = None) -> Evaluation:
    """The evaluation of the model in `model_dir` with `options`, from `cache_dir` when it was run before.

    Returns the Evaluation (its `from_cache` says whether it was read back). A run's result is written to
    cache_dir/<key>.json (see evaluation_key); an unreadable cache file is recomputed and replaced.
    judge_dir: the judge classifier (default: checkpoints/<dataset>-judge when present).
    progress: as for evaluate; a cached result reports (1.0, "done") once.
    recompute: run again even when a cached result exists, and replace it.
    test_data, train_data: the dataset's splits when the caller holds them already (see evaluate); the key
        names the dataset, not these images, so pass the model's own dataset's splits only.
    Raises EvaluationError when the model cannot be judged, CheckpointError for a broken model folder,
    DatasetError when its data is missing.
    """
    model, model_config, config = load_model(model_dir, "cpu")
    dataset = config.get("dataset")
    if not dataset:
        raise EvaluationError(f"{Path(model_dir).name}/config.json names no dataset to evaluate against")
    judge_path = Path(judge_dir) if judge_dir is not None else default_judge_dir(dataset)
    encoder = registry.get(model_config.kind).capabilities.encoder
    judge = None
    if judge_dir is not None or judge_path.exists():
        judge, _ = load_judge(judge_path)
        if (judge.channels, judge.image_size) != (model_config.channels, model_config.image_size):
            raise EvaluationError(f"the judge {judge_path.name} judges {judge.channels}×{judge.image_size}² images; "
                                  f"the model makes {model_config.channels}×{model_config.image_size}²")
    elif not encoder:
        raise EvaluationError(f"no judge classifier for {dataset!r} ({judge_path.name}); train one with "
                              f"`python -m genimg train-judge --dataset {dataset} --out {judge_path.name}`")
    key = evaluation_key(model, model_config.to_dict(), dataset, judge, options)
    path = Path(cache_dir) / f"{key}.json"
    if not recompute and path.is_file():
        try:
            result = evaluation_from_json(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError, RuntimeError):
            result = None  # a damaged or older file: measure again below and replace it
        if result is not None:
            if progress is not None:
                progress(1.0, "done")
            result.from_cache = True
            return result
    result = evaluate(model, dataset, judge, data_root=data_root, sample_count=options.sample_count,
                      seed=options.seed, iwae_samples=options.iwae_samples if encoder else 0,
                      iwae_images=options.iwae_images, image_size=model_config.image_size,
                      binarised=bool((config.get("training") or {}).get("binarise", False)),
                      channels=model_config.channels, fidelity=options.fidelity, progress=progress,
                      test_data=test_data, train_data=train_data)
    Path(cache_dir).mkdir(parents=True, exist_ok=True)
    write_file_atomic(path, json.dumps(evaluation_to_json(result)).encode("utf-8"))
    return result
