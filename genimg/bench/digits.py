"""Time to recognisable digits: train from scratch, snapshot the sampling weights as it goes, judge them afterwards."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from genimg.config import ConfigError, TrainConfig
from genimg.data.datasets import ImageData
from genimg.eval.judge import Judge, load_judge, predict
from genimg.models import build_model
from genimg.models.latent import class_labels, seeded_latents
from genimg.training.engine import Diverged, Progress, Started, train

SAMPLE_COUNT = 256


@dataclass(frozen=True)
class Snapshot:
    """The sampling weights (EMA when kept) at one moment of a run, on CPU."""

    seconds: float  # wall time since the clock started (before data loading and model building)
    step: int
    images_seen: int
    weights: dict[str, torch.Tensor]


def _copy_weights(network: nn.Module) -> dict[str, torch.Tensor]:
    return {name: tensor.detach().to("cpu", copy=True) for name, tensor in network.state_dict().items()}


def collect_snapshots(config: TrainConfig, *, budget_seconds: float, snapshot_every_seconds: float | None = 1.0,
                      snapshot_every_steps: int | None = None, data: ImageData | None = None,
                      clock_started: float | None = None) -> dict[str, Any]:
    """Train `config` for at most `budget_seconds` of wall time and copy the sampling weights on a schedule.

    The schedule is wall time (`snapshot_every_seconds`) or, when `snapshot_every_steps` is given, steps,
    which makes curves against images seen independent of how busy the machine is. Returns the snapshots,
    the startup time (data loading and model building) and the step count reached.
    """
    if snapshot_every_steps is None and not snapshot_every_seconds:
        raise ConfigError("give snapshot_every_seconds or snapshot_every_steps")
    # The clock needs control after every step (a Progress event costs microseconds) and no checkpoints on disk;
    # the run ends at the budget or at config.steps, whichever comes first.
    config = config.replace(log_every=1, out=None, max_seconds=min(budget_seconds, config.max_seconds or budget_seconds))
    started = time.perf_counter() if clock_started is None else clock_started
    snapshots: list[Snapshot] = []
    startup_seconds = None
    network: nn.Module | None = None
    last_snapshot_time = 0.0
    step = 0
    diverged = None
    events = train(config, data=data)
    try:
        for event in events:
            now = time.perf_counter() - started
            if isinstance(event, Started):
                startup_seconds = now
                network = event.sampling_network
                last_snapshot_time = now
            elif isinstance(event, Progress) and network is not None:
                step = event.step
                if snapshot_every_steps:
                    due = step % snapshot_every_steps == 0
                else:
                    due = now - last_snapshot_time >= snapshot_every_seconds
                if due:
                    snapshots.append(Snapshot(now, step, step * config.batch_size, _copy_weights(network)))
                    last_snapshot_time = now
            elif isinstance(event, Diverged):
                diverged = f"the {event.loss_name} loss became {event.value} at step {event.step}"
            if now >= budget_seconds:
                break
    finally:
        events.close()
    training_seconds = (snapshots[-1].seconds - startup_seconds) if snapshots and startup_seconds else None
    return {"snapshots": snapshots, "startup_seconds": startup_seconds, "steps": step, "diverged": diverged,
            "images_per_second": (snapshots[-1].images_seen / training_seconds) if training_seconds else None}


@torch.inference_mode()
def judge_snapshots(config: TrainConfig, snapshots: list[Snapshot], judge: Judge, *,
                    sample_count: int = SAMPLE_COUNT, sample_seed: int = 0) -> list[dict[str, Any]]:
    """Mean top-class confidence and the number of distinct predicted classes for each snapshot, on the
    same seeded latents every time."""
    model = build_model(config.model)
    if (judge.channels, judge.image_size) != (config.model.channels, config.model.image_size):
        raise ConfigError(f"the judge reads {judge.channels}×{judge.image_size}² images; the model makes "
                          f"{config.model.channels}×{config.model.image_size}²")
    network = model.sampling_network()
    latents = seeded_latents(sample_seed, sample_count, config.model.latent_dim)
    labels = class_labels(sample_count, config.model.num_classes)
    points = []
    for snapshot in snapshots:
        network.load_state_dict(snapshot.weights)
        model.eval()
        images = model.generate(latents, labels).float().clamp(0, 1)
        probabilities, _ = predict(judge, images)
        predicted = probabilities.argmax(dim=1)
        points.append({"seconds": snapshot.seconds, "step": snapshot.step, "images_seen": snapshot.images_seen,
                       "mean_confidence": probabilities.max(dim=1).values.mean().item(),
                       "classes_present": int(predicted.unique().numel())})
    return points


def time_to_digits(config: TrainConfig, *, judge_path: str | Path, threshold: float = 0.85,
                   budget_seconds: float = 60, snapshot_every_seconds: float = 1.0,
                   snapshot_every_steps: int | None = None, data: ImageData | None = None,
                   sample_count: int = SAMPLE_COUNT, sample_seed: int = 0) -> dict[str, Any]:
    """How long `config`, trained from scratch, takes until its samples are recognisable to the judge.

    The wall clock starts here, so data loading (unless `data` is given) and model building count. The
    run trains for `budget_seconds` (or until config.steps), copying the sampling weights every
    `snapshot_every_seconds` (or every `snapshot_every_steps` steps); only after it ends is each copy judged
    on `sample_count` samples from fixed seeded latents, so judging never slows the run it measures.
    A conditional model is judged on labels 0, 1, …, 9, 0, … as its sample grids show them.

    Returns curve [(seconds, mean_confidence, classes_present)], points (the same with step and images
    seen), seconds_to_threshold / images_to_threshold (the first snapshot with mean confidence ≥ threshold
    and every class predicted at least once; None if never), startup_seconds, steps, images_per_second.
    """
    judge, _ = load_judge(judge_path)
    started = time.perf_counter()
    result = collect_snapshots(config, budget_seconds=budget_seconds, snapshot_every_seconds=snapshot_every_seconds,
                               snapshot_every_steps=snapshot_every_steps, data=data, clock_started=started)
    points = judge_snapshots(config, result.pop("snapshots"), judge, sample_count=sample_count,
                             sample_seed=sample_seed)
    reached = next((point for point in points if point["mean_confidence"] >= threshold
                    and point["classes_present"] == judge.num_classes), None)
    return {**result, "threshold": threshold, "points": points,
            "curve": [(point["seconds"], point["mean_confidence"], point["classes_present"]) for point in points],
            "seconds_to_threshold": reached["seconds"] if reached else None,
            "images_to_threshold": reached["images_seen"] if reached else None,
            "config": config.to_dict()}


def _report(result: dict[str, Any], batch_size: int) -> str:
    lines = [f"  {'seconds':>8s} {'step':>7s} {'images':>9s} {'confidence':>10s} {'classes':>7s}"]
    for point in result["points"]:
        lines.append(f"  {point['seconds']:8.1f} {point['step']:7d} {point['images_seen']:9,d} "
                     f"{point['mean_confidence']:10.3f} {point['classes_present']:7d}")
    startup = result["startup_seconds"]
    speed = result["images_per_second"]
    lines.append(f"startup (data and model) {startup:.1f} s, {result['steps']} steps of {batch_size}, "
                 + (f"{speed:,.0f} img/s" if speed else "no snapshot taken"))
    if result["diverged"]:
        lines.append(f"training diverged: {result['diverged']}")
    if result["seconds_to_threshold"] is None:
        lines.append(f"not recognisable (confidence ≥ {result['threshold']:g}, every class) within the budget")
    else:
        lines.append(f"time to digits: {result['seconds_to_threshold']:.1f} s "
                     f"({result['images_to_threshold']:,} images seen)")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """`python -m genimg bench digits [--threads N] [--budget S] [train's recipe flags]`."""
    import argparse
    import json
    import os
    import sys

    from genimg.config import MAX_STEPS, SHIPPED_DIR, reexec_with_allocator_settings
    from genimg.data.datasets import DatasetError
    from genimg.recipes import add_recipe_options, train_config_from_options
    from genimg.store.checkpoint import CheckpointError

    if sys.argv[1:3] == ["bench", "digits"]:
        # Training speed is what is measured, so run with the allocator settings `train` runs with.
        reexec_with_allocator_settings()
    parser = argparse.ArgumentParser(
        prog="python -m genimg bench digits",
        description="Seconds of wall time (data loading and model building included) until a model trained from "
                    "scratch makes samples the judge recognises; any other flags are `train`'s recipe flags.")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for PyTorch")
    parser.add_argument("--budget", type=float, default=60.0, help="seconds of training at most (default 60)")
    parser.add_argument("--threshold", type=float, default=0.85, help="mean top-class confidence (default 0.85)")
    parser.add_argument("--judge", default=None, help="judge folder (default checkpoints/<dataset>-judge)")
    parser.add_argument("--snapshot-every", type=float, default=1.0, help="seconds between weight copies")
    parser.add_argument("--samples", type=int, default=SAMPLE_COUNT, help="samples judged per copy (default 256)")
    parser.add_argument("--json", default=None, help="also write the result to this JSON file")
    args, recipe = parser.parse_known_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    # The budget, not a step count, ends the run unless --steps is given.
    recipe_parser = argparse.ArgumentParser(prog="python -m genimg bench digits")
    add_recipe_options(recipe_parser)
    train_args = recipe_parser.parse_args(["--steps", str(MAX_STEPS), *recipe])
    try:
        config, _ = train_config_from_options(train_args)
        config = config.replace(out=None)
        judge_path = Path(args.judge) if args.judge else SHIPPED_DIR / f"{config.dataset}-judge"
        result = time_to_digits(config, judge_path=judge_path, threshold=args.threshold,
                                budget_seconds=args.budget, snapshot_every_seconds=args.snapshot_every,
                                sample_count=args.samples)
    except (ConfigError, DatasetError, CheckpointError, OSError) as error:
        print(f"genimg bench digits: error: {error}", file=sys.stderr)
        return 2
    print(f"genimg bench digits — {os.cpu_count()} CPUs, {torch.get_num_threads()} thread(s), "
          f"budget {args.budget:g} s, judge {judge_path}")
    print(_report(result, config.batch_size))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0
