"""Explore latency: `python -m genimg bench explore` times the page's handlers the way a browser calls them.

Handlers are called directly (no HTTP), after a warm-up, with one CPU thread as the app uses; p50 and
p95 over many calls. `--with-training` repeats the run while a training process uses the CPU, as in a
class where the teacher trains a model while students explore.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genimg.config import SHIPPED_DIR
from genimg.explore.catalog import Renderer, discover


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)
    return {"p50": statistics.median(ordered), "p95": ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))],
            "n": len(ordered)}


def time_calls(function: Callable[[int], object], repeats: int, warmup: int = 5) -> dict[str, float]:
    for index in range(warmup):
        function(index)
    samples = []
    for index in range(repeats):
        started = time.perf_counter()
        function(index)
        samples.append((time.perf_counter() - started) * 1000)
    return percentiles(samples)


def sketch_of_a_one() -> dict:
    """A Sketchpad value as the browser sends it: white strokes on black, 280×280."""
    canvas = np.zeros((280, 280, 3), np.uint8)
    canvas[60:220, 130:150] = 255
    return {"background": None, "layers": [], "composite": canvas}


@dataclass
class ExploreHandlerSet:
    """The Explore tabs' handlers on the shipped MNIST GAN and VAE, as the page builds them (no browser)."""

    gan: str
    vae: str
    latent: Any
    interpolate: Any
    encode: Any
    samples: Any
    flow: str | None = None  # a flow model's path, when the folder has one


def explore_handlers(folder: Path, command: str) -> ExploreHandlerSet:
    """Build the handlers `bench explore` and `bench load` call; `command` names the caller in errors."""
    import gradio as gr

    from genimg.ui.context import ExploreContext
    from genimg.ui.encode_tab import build_encode_tab
    from genimg.ui.explore import ExploreHandlers
    from genimg.ui.interpolate_tab import build_interpolate_tab
    from genimg.ui.latent_tab import build_latent_tab

    context = ExploreContext(Renderer(), discover(folder))
    by_name = {entry.name: str(entry.path) for entry in context.entries}
    gan, vae = by_name.get("mnist-dcgan"), by_name.get("mnist-vae")
    if gan is None or vae is None:
        raise SystemExit(f"bench {command} needs mnist-dcgan and mnist-vae in {folder}")
    with gr.Blocks():
        latent = build_latent_tab(context)
        interpolate = build_interpolate_tab(context)
        encode = build_encode_tab(context)
    flow = by_name.get("mnist-cflow") or next((str(entry.path) for entry in context.entries
                                               if entry.capabilities.ode), None)
    return ExploreHandlerSet(gan, vae, latent, interpolate, encode, ExploreHandlers(context), flow)


def explore_suite(folder: Path, repeats: int) -> list[tuple[str, dict[str, float]]]:
    from genimg.ui.explore import EVERY_CLASS

    handlers = explore_handlers(folder, "explore")
    gan, vae, latent, interpolate = handlers.gan, handlers.vae, handlers.latent, handlers.interpolate
    encode, samples = handlers.encode, handlers.samples
    results = []
    state = latent.state(gan, 7, None, 0, 0.0, 1.0, None, [], language="en")
    sliders = list(state["sliders"])

    def slider_move(index: int) -> None:
        moved = list(sliders)
        moved[0] = round(-3 + (index % 600) * 0.01, 2)
        latent.render(gan, 7, None, 0, 0.0, 1.0, None, moved)

    results.append(("slider move → new 28×28 image (DCGAN, z 100)", time_calls(slider_move, repeats)))
    results.append(("direction strength move (GANSpace PC1)",
                    time_calls(lambda i: latent.render(gan, 7, None, 0, -5 + (i % 100) * 0.1, 1.0, None, sliders),
                               repeats)))
    results.append(("new seed → 16-sample grid (DCGAN)",
                    time_calls(lambda i: samples.samples(gan, i, 16, EVERY_CLASS), repeats)))
    results.append(("32-frame lerp + slerp interpolation with both GIFs",
                    time_calls(lambda i: interpolate.compute(gan, "seeds", i, i + 1, None, None, 32),
                               max(10, repeats // 10))))
    sketch = sketch_of_a_one()
    results.append(("encode a drawing (VAE): prepare, encode, decode, chart",
                    time_calls(lambda i: encode.encode(vae, None, None, "draw", sketch, None), max(10, repeats // 5))))
    if handlers.flow is not None:  # a flow draws in many network calls: its drag preview, and the full picture
        flow = handlers.flow
        flow_sliders = list(latent.state(flow, 7, None, 0, 0.0, 1.0, None, [], language="en")["sliders"])

        def flow_move(index: int, preview: bool) -> None:
            moved = list(flow_sliders)
            moved[0] = round(-3 + (index % 600) * 0.01, 2)
            latent.render(flow, 7, None, 0, 0.0, 1.0, None, moved, preview=preview)

        results.append(("flow slider drag → preview (10 Euler steps)",
                        time_calls(lambda i: flow_move(i, True), max(10, repeats // 5))))
        results.append(("flow slider release → full picture (own steps)",
                        time_calls(lambda i: flow_move(i, False), max(10, repeats // 10))))
        results.append(("new seed → 16-sample grid (flow, own steps)",
                        time_calls(lambda i: samples.samples(flow, i, 16, EVERY_CLASS), max(10, repeats // 10))))
    return results


def run_explore(folder: Path, repeats: int, with_training: bool) -> str:
    torch.set_num_threads(int(os.environ.get("GENIMG_THREADS", "1")))
    lines = [f"genimg bench explore — {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
             f"torch {torch.__version__}, {torch.get_num_threads()} thread(s) per request", ""]
    phases = [("idle", False)] + ([("while a training run uses the CPU", True)] if with_training else [])
    for title, training in phases:
        process = None
        if training:
            out = Path(os.environ.get("TMPDIR", "/tmp")) / f"genimg-bench-run-{os.getpid()}"
            process = subprocess.Popen(
                [sys.executable, "-m", "genimg", "train", "--model", "dcgan", "--dataset", "shapes", "--image-size",
                 "28", "--channels", "1", "--steps", "1000000", "--max-seconds", "600", "--quiet", "--out", str(out)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(8)  # let it load its data and start stepping
        try:
            results = explore_suite(folder, repeats)
        finally:
            if process is not None:
                process.terminate()
                process.wait(timeout=60)
        lines.append(f"{title}:")
        lines.append(f"  {'handler':56s} {'p50 ms':>8s} {'p95 ms':>8s} {'calls':>6s}")
        for name, stats in results:
            lines.append(f"  {name:56s} {stats['p50']:8.2f} {stats['p95']:8.2f} {stats['n']:6d}")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """`python -m genimg bench explore [--models DIR] [--repeats N] [--with-training]`: the table on stdout."""
    parser = argparse.ArgumentParser(prog="python -m genimg bench explore",
                                     description="times the Explore handlers the way a browser calls them")
    parser.add_argument("--models", default=str(SHIPPED_DIR), help="folder of checkpoints (default: shipped)")
    parser.add_argument("--repeats", type=int, default=300)
    parser.add_argument("--with-training", action="store_true", help="repeat while a training run uses the CPU")
    args = parser.parse_args(argv)
    print(run_explore(Path(args.models), args.repeats, args.with_training))
    return 0
