"""Time to recognisable digits *in the page*: press Start on the Train tab's handler, judge what it saved.

The clock starts when Start is pressed (the handler is called), with a worker process already warmed
up as the page does on load. So it counts what a class waits through: handing the job to the worker,
loading MNIST, building the model, training, and the page's own overhead (worker process, event
stream, checkpoints, replay snapshots). Each replay snapshot the run saves is judged afterwards on
256 samples from fixed latents; the time of a snapshot is when the page heard about it, an upper
bound on when those weights existed.

    python -m genimg bench page-digits [--budget 45] [--data-root ../shared/data]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from .config import TrainConfig
from .digits_clock import Snapshot, judge_snapshots
from .engine import load_model
from .judge import load_judge
from .models import GAN
from .render import SHIPPED_DIR, Renderer
from .ui.context import ExploreContext
from .ui.train_tab import PRESETS, Limits, TrainHandlers
from .workspace import Workspaces, new_token


def page_time_to_digits(*, data_root: str | None, budget_seconds: float = 45.0, threshold: float = 0.85,
                        judge_path: str | Path = SHIPPED_DIR / "mnist-judge", model_key: str = "dcgan",
                        steps: int | None = None, threads: int | None = None) -> dict[str, Any]:
    preset = PRESETS[model_key]
    root = Path(tempfile.mkdtemp(prefix="genimg-page-bench-"))
    workspaces = Workspaces(root)
    context = ExploreContext(Renderer("cpu"), [], workspaces=workspaces)
    limits = Limits.from_environment(on_gpu=False)
    if threads:
        limits = Limits(limits.max_steps, limits.max_seconds, limits.slots, threads)
    # More saved steps than the page's 20 (a saved step every ~40 steps, ~0.5–1 s here), so the time of the
    # first recognisable step is known to about a second; each save costs the run a few milliseconds.
    trainer = TrainHandlers(context, workspaces, limits=limits, data_root=data_root, checkpoints=100)
    trainer.pool.warm(wait_seconds=120)  # the page warms its worker when it loads, before anyone presses Start
    # More steps than the budget allows (~75 steps/s here): the run ends when the bench presses Stop.
    steps = steps or int(budget_seconds * 100)
    request = SimpleNamespace(session_hash="bench")
    heard: dict[int, float] = {}
    speeds: list[float] = []
    view: dict[str, Any] = {}
    alarms: set[str] = set()  # health alarms raised at any moment (a healthy run should raise none)
    started = time.perf_counter()
    stopped = False
    for output in trainer.start(model_key, "mnist", None, preset.latent_dim, steps, preset.batch_size,
                                preset.lr_generator, preset.lr_discriminator, 1.0, preset.gan_loss,
                                new_token(), None, request):
        now = time.perf_counter() - started
        if isinstance(output[-1], dict) and "rows" in output[-1]:
            view = output[-1]
            if view.get("saved_step") and view["saved_step"] not in heard:
                heard[view["saved_step"]] = now
            if view.get("speed"):
                speeds.append(view["speed"])
            if view.get("monitor") is not None:
                alarms.update(view["monitor"].raised)
        if now >= budget_seconds and not stopped:
            trainer.stop(request)
            stopped = True
    trainer.pool.shutdown()
    run = Path(view["run"])
    config = TrainConfig.from_dict(load_model(run)[2]["training"])
    snapshots = []
    for folder in sorted((run / "steps").glob("step-*")):
        step = int(folder.name.split("-")[1])
        if step not in heard:
            continue
        model, _, _ = load_model(folder)
        network = model.generator if isinstance(model, GAN) else model
        weights = {name: tensor.detach().clone() for name, tensor in network.state_dict().items()}
        snapshots.append(Snapshot(heard[step], step, step * config.batch_size, weights))
    judge, _ = load_judge(judge_path)
    points = judge_snapshots(config, snapshots, judge)
    def good(point: dict[str, Any]) -> bool:
        return point["mean_confidence"] >= threshold and point["classes_present"] == judge.num_classes

    reached = next((point for point in points if good(point)), None)
    # From when on every later saved step stays recognisable (the first crossing can dip back for a while).
    steady = next((point for index, point in enumerate(points) if all(good(later) for later in points[index:])),
                  None)
    return {"points": points, "seconds_to_threshold": reached["seconds"] if reached else None,
            "seconds_steady": steady["seconds"] if steady else None,
            "step_at_threshold": reached["step"] if reached else None, "threshold": threshold,
            "page_images_per_second": statistics.median(speeds) if speeds else None,
            "status": view.get("status"), "threads": limits.threads, "alarms": sorted(alarms),
            "config": config.to_dict()}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m genimg bench page-digits",
                                     description="time from pressing Start in the Train tab to digits the judge "
                                                 "recognises")
    parser.add_argument("--data-root", default=None, help="where MNIST lives (default $GENIMG_DATA, else ./data)")
    parser.add_argument("--budget", type=float, default=45.0, help="seconds to train before pressing Stop")
    parser.add_argument("--threshold", type=float, default=0.85)
    parser.add_argument("--threads", type=int, default=None, help="the worker's CPU threads (default: all cores)")
    parser.add_argument("--model", choices=["dcgan", "cdcgan"], default="dcgan",
                        help="the Train tab's preset (cdcgan: conditional, one class per sample in turn)")
    args = parser.parse_args(argv[1:] if argv[:1] == ["page-digits"] else argv)
    result = page_time_to_digits(data_root=args.data_root, budget_seconds=args.budget, threshold=args.threshold,
                                 threads=args.threads, model_key=args.model)
    print("| seconds since Start | step | mean confidence | classes |\n|---|---|---|---|")
    for point in result["points"]:
        print(f"| {point['seconds']:.1f} | {point['step']} | {point['mean_confidence']:.3f} | "
              f"{point['classes_present']} |")
    reached = result["seconds_to_threshold"]
    print(f"\ntime to mean confidence ≥ {result['threshold']} with all 10 classes: "
          + (f"{reached:.1f} s (step {result['step_at_threshold']})" if reached is not None else "not reached")
          + (f", and every later saved step from {result['seconds_steady']:.1f} s" if result["seconds_steady"]
             else "")
          + f"; throughput shown in the page: {result['page_images_per_second'] or 0:,.0f} images/s "
          f"({result['threads']} threads); health alarms raised: {', '.join(result['alarms']) or 'none'}")
    return 0 if reached is not None else 1
