"""Generator inference benchmark: batch-1 latency, batch-64 images/s, FLOPs per image and the distance from peak.

The peak is measured in the same run (a large fp32 and a bf16 matrix product), so the fraction of
peak compares figures taken on the same machine under the same load.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import replace
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


def load_generator(model: BenchModel, device: torch.device) -> tuple[Callable, ModelConfig, int]:
    """The model's `generate(z, labels)` in eval mode: the shipped weights when present (speed does not depend on them)."""
    from genimg.config import SHIPPED_DIR
    from genimg.models import build_model, count_parameters
    from genimg.models.loading import load_model
    from genimg.store.checkpoint import CheckpointError

    config = ModelConfig.from_dict(model.model)
    try:
        network, config, _ = load_model(SHIPPED_DIR / model.name, device)
    except CheckpointError:
        torch.manual_seed(0)
        network = build_model(config).to(device).eval()
    return network.generate, config, count_parameters(network.sampling_network())


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
        generate, config, parameters = load_generator(model, device)
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
                "latency_ms": latency_ms(one, sync, 300 if seconds >= 1 else 50),
                "images_per_second": rate(many, sync, THROUGHPUT_BATCH, seconds),
            }
            with torch.autocast(device.type, dtype=torch.bfloat16):
                figures["bf16_images_per_second"] = rate(many, sync, THROUGHPUT_BATCH, seconds)
        if device.type == "cuda":
            try:
                replay = cuda_graph_call(generate, *single)
                figures["cuda_graph_latency_ms"] = latency_ms(replay, sync, 300)
            except RuntimeError as error:  # capture fails on some drivers: report it, keep the rest
                figures["cuda_graph_error"] = f"{type(error).__name__}: {error}"
        result["models"][model.name] = figures
    return result


def run_inference_bench(plan: Plan, *, isolate: bool = True) -> str:
    """Measure every generator of `plan` with and without the allocator settings; returns the Markdown report."""
    on_gpu = plan.device.startswith("cuda")
    base = Measurement(mode="inference", device=plan.device, threads=plan.threads,
                       seconds=max(0.3, min(plan.seconds / 3, 1.5)), inference_models=tuple(plan.models.values()))
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
    for model in plan.models.values():
        figures, default_figures = tuned["models"][model.name], plain["models"][model.name]
        flops = figures["flops_per_image"]
        best = max(figures["images_per_second"], default_figures["images_per_second"])
        achieved = flops * best / 1e9
        single = flops / (figures["latency_ms"] / 1000) / 1e9
        title = model.title
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
    return "\n".join(lines)


def inference_sections(plan: Plan, args: argparse.Namespace, progress: Callable[[str], None]) -> list[str]:
    progress("generator inference")
    return [run_inference_bench(plan)]


def main(argv: list[str]) -> int:
    """`python -m genimg bench inference [options]`; the report goes to stdout and to --out."""
    return report_main("inference", argv, inference_sections, description="genimg generator inference benchmark: "
                       "batch-1 latency, batch-64 images/s, FLOPs per image and the distance from peak")


if __name__ == "__main__":  # a measurement's fresh interpreter (genimg.bench.measure.measure)
    sys.exit(worker_main(run_inference_measurement, sys.argv[1:]))
