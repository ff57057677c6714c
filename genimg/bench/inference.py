"""Generator inference benchmark: batch-1 latency, batch-64 images/s, FLOPs per image and the distance from peak;
for a model that draws by an ODE (a flow), sampling time against the number of steps and the solver.

The peak is measured in the same run (a large fp32 and a bf16 matrix product), so the fraction of
peak compares figures taken on the same machine under the same load. A flow's cost is its network's times the
network evaluations its ODE takes, which the visitor chooses (genimg.models.flow.Sampling): the steps table says
what each choice costs. Flows are measured from checkpoint folders: those found in --models and any --checkpoint.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from genimg.bench.measure import (
    BenchModel,
    Measurement,
    Plan,
    machine_line,
    measure,
    report_main,
    synchronizer,
    worker_main,
)
from genimg.config import ModelConfig

THROUGHPUT_BATCH = 64
ODE_STEPS = (1, 2, 5, 10, 20, 50)  # the steps table's rows, each with every solver
SMOKE_ODE_STEPS = (1, 2, 5)  # a smoke run's (--quick, tests): the same code paths in a fraction of the time


# ------------------------------------------------------------------------------------------- which checkpoints
def checkpoint_folder(model: BenchModel) -> Path:
    """Where a measured model's weights are: a shipped model's name under SHIPPED_DIR, or a checkpoint given by
    its path (`checkpoint_model`), whose name is that absolute path."""
    from genimg.config import SHIPPED_DIR

    return Path(model.name) if Path(model.name).is_absolute() else SHIPPED_DIR / model.name


def draws_by_ode(model: BenchModel | ModelConfig) -> bool:
    """Whether the model's kind draws by integrating an ODE (capability `ode`: a flow)."""
    from genimg.models import registry

    config = model if isinstance(model, ModelConfig) else ModelConfig.from_dict(model.model)
    return registry.get(config.kind).capabilities.ode


def checkpoint_model(folder: str | Path) -> BenchModel:
    """A checkpoint folder to measure, named by its absolute path and titled by its folder name and kind.
    CheckpointError (naming the folder) when it is not a checkpoint this installation can build."""
    from genimg.models import registry
    from genimg.store.checkpoint import CheckpointError, read_config

    folder = Path(folder).resolve()
    config = read_config(folder)
    try:
        model = ModelConfig.from_dict(config["model"])
        kind = registry.check(model)
    except (KeyError, TypeError, ValueError) as error:  # ConfigError is a ValueError
        raise CheckpointError(f"{folder.name}/config.json: the model settings are invalid: {error}") from None
    conditional = f", {model.num_classes} classes" if model.num_classes else ""
    title = f"{folder.name} ({kind.title} {model.image_size}×{model.image_size}, width {model.width}{conditional})"
    training = config.get("training") or {}
    return BenchModel(str(folder), title, str(training.get("dataset", "")), model.to_dict(),
                      int(training.get("batch_size", THROUGHPUT_BATCH)))


def ode_checkpoints(folder: Path) -> list[Path]:
    """The checkpoint folders directly inside `folder` whose kind draws by an ODE, by name; [] when there is none
    (or no such folder). Folders that are not checkpoints are passed over."""
    from genimg.store.checkpoint import CheckpointError

    found = []
    for child in sorted(folder.iterdir()) if folder.is_dir() else ():
        try:
            if child.is_dir() and draws_by_ode(checkpoint_model(child)):
                found.append(child.resolve())
        except CheckpointError:
            continue
    return found


def checkpoint_argument(text: str) -> Path:
    """--checkpoint's type: a checkpoint folder genimg can build, as an absolute path."""
    from genimg.store.checkpoint import CheckpointError

    try:
        return Path(checkpoint_model(text).name)
    except CheckpointError as error:
        raise argparse.ArgumentTypeError(f"{text}: {error}") from None


def add_inference_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", action="append", type=checkpoint_argument, default=[], metavar="FOLDER",
                        help="also measure this checkpoint folder (repeatable); a flow also gets the table of "
                             "sampling time against ODE steps. Flows in --models are measured without it, except "
                             "in --quick, --kinds and --synthetic runs")


def extra_checkpoints(args: argparse.Namespace) -> list[Path]:
    """The checkpoint folders measured besides the plan's models: the flows in --models (in a full run: --quick,
    --kinds and --synthetic measure only what they name), then each --checkpoint, each once."""
    found = [] if args.quick or args.kinds or args.synthetic else ode_checkpoints(Path(args.models))
    return list(dict.fromkeys([*found, *args.checkpoint]))


# ------------------------------------------------------------------------------------------- measuring
def load_generator(model: BenchModel, device: torch.device) -> tuple[Callable, ModelConfig, int, Any]:
    """The model's `generate(z, labels)` in eval mode, its settings, its sampling network's parameter count and the
    model: the checkpoint's weights when present (speed does not depend on them)."""
    from genimg.models import build_model, count_parameters
    from genimg.models.loading import load_model
    from genimg.store.checkpoint import CheckpointError

    config = ModelConfig.from_dict(model.model)
    try:
        network, config, _ = load_model(checkpoint_folder(model), device)
    except CheckpointError:
        torch.manual_seed(0)
        network = build_model(config).to(device).eval()
    return network.generate, config, count_parameters(network.sampling_network()), network


def flops_per_image(generate: Callable, z: torch.Tensor, labels: torch.Tensor | None) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter, torch.inference_mode():
        generate(z, labels)
    return counter.get_total_flops() / z.shape[0]


def inputs(config: ModelConfig, batch: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor | None]:
    z = torch.randn(batch, config.latent_dim, device=device)
    labels = torch.arange(batch, device=device) % config.num_classes if config.num_classes else None
    return z, labels


def latency_ms(call: Callable[[], object], sync: Callable[[], None], calls: int) -> float:
    """Median milliseconds of one call, each call waited for."""
    for _ in range(max(10, calls // 10)):
        call()
    sync()
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        call()
        sync()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def rate(call: Callable[[], object], sync: Callable[[], None], items: int, seconds: float) -> float:
    """Items per second over at least `seconds` of back-to-back calls (after a warm-up)."""
    for _ in range(5):
        call()
    sync()
    count, started = 0, time.perf_counter()
    while True:
        call()
        count += 1
        if count % 5 == 0:
            sync()
            elapsed = time.perf_counter() - started
            if elapsed >= seconds:
                return count * items / elapsed


def latency_within_ms(call: Callable[[], object], sync: Callable[[], None], seconds: float,
                      most: int = 300) -> float:
    """Median milliseconds of one call, each waited for: one warm-up, then calls for about `seconds` (at least 3, at
    most `most`). For calls too slow for `latency_ms`'s fixed count: a flow's 50 Heun steps on a CPU."""
    call()
    sync()
    samples: list[float] = []
    spent = 0.0
    while len(samples) < 3 or (spent < seconds and len(samples) < most):
        started = time.perf_counter()
        call()
        sync()
        samples.append((time.perf_counter() - started) * 1000)
        spent += samples[-1] / 1000
    return statistics.median(samples)


def rate_within(call: Callable[[], object], sync: Callable[[], None], items: int, seconds: float) -> float:
    """Items per second over back-to-back calls for at least `seconds` (at least one call), after one warm-up:
    `rate`'s five warm-up calls would take most of a slow call's budget."""
    call()
    sync()
    count, started = 0, time.perf_counter()
    while True:
        call()
        sync()
        count += 1
        elapsed = time.perf_counter() - started
        if elapsed >= seconds:
            return count * items / elapsed


def network_evaluations(sampling: Any, config: ModelConfig) -> int:
    """Velocity evaluations per image of a flow drawing with `sampling`: its steps' calls, twice over when
    classifier-free guidance runs a conditional flow with and without its class."""
    guided = bool(config.num_classes) and sampling.guidance != 1.0
    return sampling.network_calls * (2 if guided else 1)


def ode_steps_table(generate: Callable, config: ModelConfig, guidance: float, device: torch.device,
                    seconds: float, steps_counts: Sequence[int]) -> list[dict[str, Any]]:
    """For each step count × solver: batch-1 ms per image and batch-THROUGHPUT_BATCH images/s, drawing with
    `guidance` (the model's own), each cell within about `seconds` of timed calls."""
    from genimg.models.flow import SOLVERS, Sampling, drawing

    sync = synchronizer(device)
    single, batch = inputs(config, 1, device), inputs(config, THROUGHPUT_BATCH, device)
    rows = []
    for steps in steps_counts:
        for solver in SOLVERS:
            sampling = Sampling(steps=steps, solver=solver, guidance=guidance)
            with drawing(sampling):
                rows.append({"steps": steps, "solver": solver,
                             "network_evaluations": network_evaluations(sampling, config),
                             "latency_ms": latency_within_ms(lambda: generate(*single), sync, seconds),
                             "images_per_second": rate_within(lambda: generate(*batch), sync, THROUGHPUT_BATCH,
                                                              seconds)})
    return rows


def cuda_graph_call(generate: Callable, z: torch.Tensor, labels: torch.Tensor | None) -> Callable[[], torch.Tensor]:
    """The generator captured once as a CUDA graph: one launch per call instead of one per layer."""
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream), torch.no_grad():
        for _ in range(3):
            generate(z, labels)
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph), torch.no_grad():
        output = generate(z, labels)

    def replay() -> torch.Tensor:
        graph.replay()
        return output

    return replay


def peak_gflops(device: torch.device, dtype: torch.dtype, seconds: float) -> float:
    """GFLOP/s of a large square matrix product; a smaller one in smoke runs (it reads lower)."""
    size = 8192 if device.type == "cuda" else 2048 if seconds >= 1 else 512
    left = torch.randn(size, size, device=device, dtype=dtype)
    right = torch.randn(size, size, device=device, dtype=dtype)
    sync = synchronizer(device)
    products_per_second = rate(lambda: torch.mm(left, right), sync, 1, seconds)
    return products_per_second * 2 * size**3 / 1e9


def run_inference_measurement(measurement: Measurement) -> dict[str, Any]:
    """Body of an inference worker: the peak, then every generator of `inference_models`."""
    device = torch.device(measurement.device)
    sync = synchronizer(device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False  # the fp32 peak is plain fp32, not TF32
    seconds = measurement.seconds
    result: dict[str, Any] = {"peak_fp32_gflops": peak_gflops(device, torch.float32, seconds),
                              "peak_bf16_gflops": peak_gflops(device, torch.bfloat16, seconds), "models": {}}
    for model in measurement.inference_models:
        generate, config, parameters, network = load_generator(model, device)
        ode = draws_by_ode(config)
        single = inputs(config, 1, device)
        batch = inputs(config, THROUGHPUT_BATCH, device)
        def one(generate: Callable = generate, single: tuple = single) -> torch.Tensor:
            return generate(*single)

        def many(generate: Callable = generate, batch: tuple = batch) -> torch.Tensor:
            return generate(*batch)

        with torch.inference_mode():
            figures: dict[str, Any] = {
                "parameters": parameters,
                "flops_per_image": flops_per_image(generate, *batch),
            }
            # A flow makes tens of network calls an image: it is timed for about `seconds`, not a fixed count.
            if ode:
                figures["latency_ms"] = latency_within_ms(one, sync, seconds)
            else:
                figures["latency_ms"] = latency_ms(one, sync, 300 if seconds >= 1 else 50)
            throughput = rate_within if ode else rate
            figures["images_per_second"] = throughput(many, sync, THROUGHPUT_BATCH, seconds)
            with torch.autocast(device.type, dtype=torch.bfloat16):
                figures["bf16_images_per_second"] = throughput(many, sync, THROUGHPUT_BATCH, seconds)
            if ode:
                own = network.sampling
                figures["sampling"] = {"steps": own.steps, "solver": own.solver, "guidance": own.guidance,
                                       "network_evaluations": network_evaluations(own, config)}
                # Once per run: the default-malloc pass (CPU) repeats only the table every generator gets.
                if measurement.allocator:
                    figures["ode_steps"] = ode_steps_table(generate, config, own.guidance, device, seconds,
                                                           ODE_STEPS if seconds >= 1 else SMOKE_ODE_STEPS)
        if device.type == "cuda" and ode:
            # The ODE loop reads each step's time on the host, which a CUDA graph cannot capture.
            figures["cuda_graph_error"] = "not captured: a flow's ODE loop reads its step times on the host"
        elif device.type == "cuda":
            try:
                replay = cuda_graph_call(generate, *single)
                figures["cuda_graph_latency_ms"] = latency_ms(replay, sync, 300)
            except RuntimeError as error:  # capture fails on some drivers: report it, keep the rest
                figures["cuda_graph_error"] = f"{type(error).__name__}: {error}"
        result["models"][model.name] = figures
    return result


def ode_section_heading(name: str) -> str:
    """The heading of a flow's steps table (`name`: its checkpoint folder's name)."""
    return f"#### Sampling time against ODE steps — {name}"


def ode_section(model: BenchModel, figures: dict[str, Any]) -> list[str]:
    """A flow's steps table as Markdown lines: one row per step count × solver."""
    config = ModelConfig.from_dict(model.model)
    guidance = figures["sampling"]["guidance"]
    guided = (f"classifier-free guidance g = {guidance:g} (each step evaluates the network with and without the "
              "class)" if config.num_classes and guidance != 1.0 else
              "no guidance" if not config.num_classes else "guidance g = 1 (plain conditional)")
    lines = ["", ode_section_heading(checkpoint_folder(model).name), "",
             (f"{model.title}, {guided}. Euler takes one network evaluation a step, Heun two. Batch 1: median ms of "
              f"single-image calls; batch {THROUGHPUT_BATCH}: images/s."), "",
             f"| steps | solver | network evaluations / image | batch 1 ms / image | batch {THROUGHPUT_BATCH} img/s |",
             "|---|---|---|---|---|"]
    for row in figures["ode_steps"]:
        lines.append(f"| {row['steps']} | {row['solver']} | {row['network_evaluations']} | "
                     f"{row['latency_ms']:.3f} | {row['images_per_second']:,.1f} |")
    return lines


def run_inference_bench(plan: Plan, *, isolate: bool = True, checkpoints: Sequence[str | Path] = ()) -> str:
    """Measure every generator of `plan`, and every checkpoint folder in `checkpoints`, with and without the
    allocator settings; returns the Markdown report, with a steps table for each model that draws by an ODE."""
    on_gpu = plan.device.startswith("cuda")
    shipped = {checkpoint_folder(model).resolve() for model in plan.models.values()}
    extra = [checkpoint_model(folder) for folder in checkpoints]  # a shipped one given again is measured once
    models = {**plan.models, **{model.name: model for model in extra if Path(model.name) not in shipped}}
    base = Measurement(mode="inference", device=plan.device, threads=plan.threads,
                       seconds=max(0.3, min(plan.seconds / 3, 1.5)), inference_models=tuple(models.values()))
    tuned = measure(base, run_inference_measurement, isolate=isolate)
    # In-process (tests) the allocator cannot change, and on a GPU it does not matter: measure once.
    plain = tuned if on_gpu or not isolate else measure(replace(base, allocator=False), run_inference_measurement,
                                                        isolate=isolate)
    lines = [f"### Generator inference — {machine_line(plan.device, plan.threads)}", ""]
    for name, result in (("allocator settings", tuned), ("default malloc", plain)):
        if "error" in result:
            return "\n".join(lines + [f"The inference measurement ({name}) failed: {result['error']}"])
    fp32_peak, bf16_peak = tuned["peak_fp32_gflops"], tuned["peak_bf16_gflops"]
    lines += [(f"Measured peak in this run: fp32 matrix product {fp32_peak:,.0f} GFLOP/s, bf16 {bf16_peak:,.0f} "
               f"GFLOP/s. Throughput at batch {THROUGHPUT_BATCH}; latency is the median of single-image calls."), ""]
    if on_gpu:
        lines += [("| generator | parameters | MFLOP/image | batch 1 ms | batch 1 ms, CUDA graph | "
                   f"batch {THROUGHPUT_BATCH} img/s | bf16 img/s | GFLOP/s | % of fp32 peak |"),
                  "|---|---|---|---|---|---|---|---|---|"]
    else:
        lines += [("| generator | parameters | MFLOP/image | batch 1 ms | batch 1 % of peak | "
                   f"batch {THROUGHPUT_BATCH} img/s (default malloc) | img/s (allocator settings) | bf16 img/s | "
                   "GFLOP/s | % of fp32 peak |"),
                  "|---|---|---|---|---|---|---|---|---|---|"]
    steps_sections: list[str] = []
    for model in models.values():
        figures, default_figures = tuned["models"][model.name], plain["models"][model.name]
        flops = figures["flops_per_image"]
        best = max(figures["images_per_second"], default_figures["images_per_second"])
        achieved = flops * best / 1e9
        single = flops / (figures["latency_ms"] / 1000) / 1e9
        title = model.title
        if "sampling" in figures:  # a flow: the row is for the way it draws by default
            own = figures["sampling"]
            title += (f", {own['steps']} {own['solver'].capitalize()} steps "
                      f"({own['network_evaluations']} network evaluations / image)")
            steps_sections += ode_section(model, figures)
        if on_gpu:
            graph = figures.get("cuda_graph_latency_ms")
            lines.append(f"| {title} | {figures['parameters'] / 1e6:.2f} M | {flops / 1e6:.1f} | "
                         f"{figures['latency_ms']:.3f} | {f'{graph:.3f}' if graph is not None else '–'} | "
                         f"{figures['images_per_second']:,.0f} | {figures['bf16_images_per_second']:,.0f} | "
                         f"{achieved:,.0f} | {100 * achieved / fp32_peak:.1f}% |")
        else:
            lines.append(f"| {title} | {figures['parameters'] / 1e6:.2f} M | {flops / 1e6:.1f} | "
                         f"{figures['latency_ms']:.3f} | {100 * single / fp32_peak:.1f}% | "
                         f"{default_figures['images_per_second']:,.0f} | {figures['images_per_second']:,.0f} | "
                         f"{figures['bf16_images_per_second']:,.0f} | {achieved:,.0f} | "
                         f"{100 * achieved / fp32_peak:.1f}% |")
    return "\n".join(lines + steps_sections)


def inference_sections(plan: Plan, args: argparse.Namespace, progress: Callable[[str], None]) -> list[str]:
    progress("generator inference")
    return [run_inference_bench(plan, checkpoints=extra_checkpoints(args))]


def main(argv: list[str]) -> int:
    """`python -m genimg bench inference [options]`; the report goes to stdout and to --out."""
    return report_main("inference", argv, inference_sections, extra_arguments=add_inference_arguments,
                       description="genimg generator inference benchmark: batch-1 latency, batch-64 images/s, FLOPs "
                                   "per image and the distance from peak; for a flow, sampling time against ODE steps")


if __name__ == "__main__":  # a measurement's fresh interpreter (genimg.bench.measure.measure)
    sys.exit(worker_main(run_inference_measurement, sys.argv[1:]))
