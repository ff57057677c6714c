"""Training benchmark: `python -m genimg bench train` puts genimg's engine beside a PyTorch-examples-style baseline.

For each shipped model kind it measures training images/s of

* the **baseline**, written the way pytorch/examples' dcgan and vae `main.py` are: torchvision's MNIST
  dataset with a per-image `ToTensor()` (+ `Normalize` for GANs) transform, a `DataLoader` with
  `shuffle=True`, fp32, BCE on a sigmoid output, glibc's default malloc, and the same genimg network;
* **genimg's engine** (`genimg.training.engine.train`): uint8 batches gathered in memory, with the allocator
  settings that `python -m genimg train` applies;

and then one lever at a time (allocator off, bf16 autocast, batch size, and channels_last and torch.compile
applied to the engine's own step through `train(prepare_model=...)`). Every measurement runs in a fresh
interpreter with a controlled environment and thread count (genimg/bench/measure.py), so one cannot warm
the caches or the allocator of the next; warm-up steps are excluded from the timing.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from genimg.bench.measure import (
    Measurement,
    Plan,
    machine_line,
    measure,
    report_main,
    synchronizer,
    worker_main,
)
from genimg.config import ModelConfig, TrainConfig

SHAPES_LIMIT = 4096


# ------------------------------------------------------------------------------------------- data
def synthetic_data(model: ModelConfig, count: int = 512):
    """Random uint8 images with ten classes, shaped for `model`: no download, for smoke runs."""
    from genimg.data.datasets import ImageData

    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (count, model.channels, model.image_size, model.image_size),
                           dtype=torch.uint8, generator=generator)
    labels = torch.arange(count) % 10
    return ImageData(images=images, labels=labels, class_names=[str(index) for index in range(10)], name="synthetic")


def load_images(measurement: Measurement, model: ModelConfig):
    from genimg.data.datasets import load_dataset

    assert measurement.model is not None
    if measurement.synthetic or measurement.model.dataset == "synthetic":
        return synthetic_data(model)
    # The built-in shapes are drawn on the fly: a subset keeps start-up short, and throughput does not depend on it.
    limit = SHAPES_LIMIT if measurement.model.dataset == "shapes" else None
    return load_dataset(measurement.model.dataset, root=measurement.data_root, split="train",
                        image_size=model.image_size, channels=model.channels, download=False, limit=limit)


class PicturesAsExamplesReadThem(torch.utils.data.Dataset):
    """uint8 images handed out one PIL picture at a time through a transform, as torchvision's datasets do."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor | None, transform: Callable) -> None:
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        from PIL import Image

        array = self.images[index].permute(1, 2, 0).numpy()
        picture = Image.fromarray(array[:, :, 0], mode="L") if array.shape[2] == 1 else Image.fromarray(array)
        label = int(self.labels[index]) if self.labels is not None else 0
        return self.transform(picture), label


def baseline_dataset(measurement: Measurement, model: ModelConfig, is_gan: bool) -> torch.utils.data.Dataset:
    """MNIST through torchvision exactly as the examples load it; other data through the same per-image path."""
    from torchvision import transforms

    steps = [transforms.ToTensor()]
    if is_gan:  # the dcgan example normalises to [-1, 1] for its tanh generator; the vae example keeps [0, 1]
        steps.append(transforms.Normalize((0.5,) * model.channels, (0.5,) * model.channels))
    transform = transforms.Compose(steps)
    assert measurement.model is not None
    if measurement.model.dataset == "mnist" and not measurement.synthetic:
        from torchvision import datasets

        from genimg.data.datasets import resolve_data_root

        return datasets.MNIST(root=str(resolve_data_root(measurement.data_root)), train=True, download=False,
                              transform=transform)
    data = load_images(measurement, model)
    return PicturesAsExamplesReadThem(data.images, data.labels, transform)


# ------------------------------------------------------------------------------------------- timing
@dataclass
class Timing:
    images_per_second: float
    steps: int
    seconds: float
    gpu_utilisation: float | None = None
    compile_seconds: float | None = None


def read_gpu_utilisation() -> float | None:
    """The GPU's busy percentage now, from NVML through torch, else from nvidia-smi; None when neither answers."""
    try:
        return float(torch.cuda.utilization())
    except (ImportError, RuntimeError, ValueError):  # torch needs pynvml for this
        pass
    try:
        output = subprocess.run(["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits"],
                                check=False, capture_output=True, text=True, timeout=5).stdout
        return float(output.split()[0])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return None


@contextlib.contextmanager
def sampling_utilisation(device: torch.device) -> Iterator[list[float]]:
    """Samples the GPU's busy percentage every 0.2 s in the background while the block runs (CUDA only)."""
    samples: list[float] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.2):
            value = read_gpu_utilisation()
            if value is None:
                return
            samples.append(value)

    thread = threading.Thread(target=sample, daemon=True) if device.type == "cuda" else None
    if thread is not None:
        thread.start()
    try:
        yield samples
    finally:
        stop.set()
        if thread is not None:
            thread.join(timeout=10)


def mean_or_none(samples: list[float]) -> float | None:
    return round(statistics.mean(samples), 1) if samples else None


def time_steps(step: Callable[[], None], measurement: Measurement, batch_size: int, device: torch.device) -> Timing:
    """Run `warmup_steps` untimed, then steps for `seconds`; images/s over the timed steps."""
    sync = synchronizer(device)
    compile_started = time.perf_counter()
    for _ in range(measurement.warmup_steps):
        step()
    sync()
    compile_seconds = time.perf_counter() - compile_started if measurement.compile_mode else None
    steps = 0
    with sampling_utilisation(device) as utilisation:
        started = time.perf_counter()
        while True:
            step()
            steps += 1
            if steps % 5 == 0:  # a device sync every few steps keeps the queue honest without stalling it
                sync()
                if time.perf_counter() - started >= measurement.seconds:
                    break
        elapsed = time.perf_counter() - started
    return Timing(steps * batch_size / elapsed, steps, elapsed, mean_or_none(utilisation), compile_seconds)


# ------------------------------------------------------------------------------------------- the loops
def endless(loader: torch.utils.data.DataLoader) -> Iterator:
    while True:
        yield from loader


def run_baseline(measurement: Measurement) -> Timing:
    """The pytorch/examples loop (dcgan/main.py, vae/main.py) around the genimg network."""
    import torch.nn.functional as F
    from torch import nn

    from genimg.models import build_model, registry

    assert measurement.model is not None
    device = torch.device(measurement.device)
    model_config = ModelConfig.from_dict(measurement.model.model)
    batch_size = measurement.batch_size or measurement.model.batch_size
    torch.manual_seed(0)
    model = build_model(model_config).to(device).train()
    is_gan = registry.kind_of(model).family == "gan"
    dataset = baseline_dataset(measurement, model_config, is_gan)
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True,
                                         num_workers=measurement.loader_workers, drop_last=True,
                                         pin_memory=device.type == "cuda")
    batches = endless(loader)
    conditional = model_config.num_classes > 0

    if is_gan:
        net_g, net_d = model.generator, model.discriminator
        criterion = nn.BCELoss()
        optimizer_d = torch.optim.Adam(net_d.parameters(), lr=2e-4, betas=(0.5, 0.999))
        optimizer_g = torch.optim.Adam(net_g.parameters(), lr=2e-4, betas=(0.5, 0.999))
        real_label, fake_label = 1.0, 0.0

        def step() -> None:
            data, labels = next(batches)
            # (1) Update D network: maximize log(D(x)) + log(1 - D(G(z)))
            net_d.zero_grad()
            real_cpu = data.to(device)
            labels = labels.to(device) if conditional else None
            size = real_cpu.size(0)
            label = torch.full((size,), real_label, dtype=real_cpu.dtype, device=device)
            output = torch.sigmoid(net_d(real_cpu, labels))  # the examples' D ends in nn.Sigmoid
            error_d_real = criterion(output, label)
            error_d_real.backward()
            noise = torch.randn(size, model_config.latent_dim, device=device)
            fake = net_g(noise, labels)
            label.fill_(fake_label)
            output = torch.sigmoid(net_d(fake.detach(), labels))
            error_d_fake = criterion(output, label)
            error_d_fake.backward()
            optimizer_d.step()
            # (2) Update G network: maximize log(D(G(z)))
            net_g.zero_grad()
            label.fill_(real_label)
            output = torch.sigmoid(net_d(fake, labels))
            error_g = criterion(output, label)
            error_g.backward()
            optimizer_g.step()
    else:
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        pixels = model_config.channels * model_config.image_size ** 2

        def step() -> None:
            data, labels = next(batches)
            data = data.to(device)
            labels = labels.to(device) if conditional else None
            optimizer.zero_grad()
            logits, mu, logvar = model(data, labels)
            recon_batch = torch.sigmoid(logits)  # the example's decoder ends in a sigmoid
            bce = F.binary_cross_entropy(recon_batch.view(-1, pixels), data.view(-1, pixels), reduction="sum")
            kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
            loss = bce + kld
            loss.backward()
            optimizer.step()

    return time_steps(step, measurement, batch_size, device)


def apply_levers(measurement: Measurement) -> Callable[[nn.Module], None] | None:
    """The measurement's levers as the engine's `prepare_model`, or None when it asks for none.

    channels_last converts the network's weights in place (convolutions then run in that layout);
    torch.compile compiles each part of the network (a GAN's generator and discriminator, a VAE's encoder
    and decoder layers) in place, so the engine's optimisers keep the same parameters.
    """
    if not measurement.channels_last and not measurement.compile_mode:
        return None

    def prepare(model: nn.Module) -> None:
        if measurement.channels_last:
            model.to(memory_format=torch.channels_last)
        if measurement.compile_mode:
            for part in model.children():
                part.compile(mode=measurement.compile_mode)

    return prepare


def run_engine(measurement: Measurement) -> Timing:
    """genimg.training.engine.train as the CLI and the page run it, with the measurement's levers applied through
    its `prepare_model`; images/s from its own Progress events' clock."""
    from genimg.training.engine import Progress, train

    assert measurement.model is not None
    model_config = ModelConfig.from_dict(measurement.model.model)
    batch_size = measurement.batch_size or measurement.model.batch_size
    data = load_images(measurement, model_config)
    config = TrainConfig.from_dict({
        **measurement.model.training, "model": model_config.to_dict(), "dataset": data.name, "steps": 10_000_000,
        "batch_size": batch_size, "device": measurement.device, "precision": measurement.precision,
        "log_every": 5, "sample_every": 10_000_000, "checkpoint_every": 10_000_000, "out": None,
    })
    device = torch.device(measurement.device)
    start: tuple[int, float] | None = None
    began = time.perf_counter()
    compile_seconds = None
    with sampling_utilisation(device) as utilisation:
        events = train(config, data=data, prepare_model=apply_levers(measurement))
        try:
            for event in events:
                if not isinstance(event, Progress):
                    continue
                now = time.perf_counter()  # Progress follows a device sync, so the clock is honest
                if start is None:
                    if event.step >= measurement.warmup_steps:
                        start = (event.step, now)
                        utilisation.clear()
                        if measurement.compile_mode:  # the warm-up steps are where compilation happens
                            compile_seconds = now - began
                elif now - start[1] >= measurement.seconds:
                    steps, elapsed = event.step - start[0], now - start[1]
                    return Timing(steps * batch_size / elapsed, steps, elapsed, mean_or_none(utilisation),
                                  compile_seconds)
        finally:
            events.close()
    raise RuntimeError("the training run ended before the measurement did")


def run_train_measurement(measurement: Measurement) -> dict[str, Any]:
    """One training measurement (mode "baseline" or "engine") in this process; returns its Timing as plain JSON."""
    loops = {"baseline": run_baseline, "engine": run_engine}
    if measurement.mode not in loops:
        raise ValueError(f"mode {measurement.mode!r} is not a training measurement; expected one of {sorted(loops)}")
    return asdict(loops[measurement.mode](measurement))


# ------------------------------------------------------------------------------------------- the suite
def format_rate(result: dict[str, Any]) -> str:
    if "error" in result:
        return "–" if result["error"].startswith("not measured") else "failed"
    return f"{result['images_per_second']:,.0f}"


def ratio(numerator: dict[str, Any], denominator: dict[str, Any]) -> str:
    if "error" in numerator or "error" in denominator or not denominator.get("images_per_second"):
        return "–"
    return f"{numerator['images_per_second'] / denominator['images_per_second']:.2f}×"


def run_train_bench(plan: Plan, *, isolate: bool = True, progress: Callable[[str], None] = lambda text: None) -> str:
    """Measure every model of `plan` and the levers; returns the Markdown report."""
    on_gpu = plan.device.startswith("cuda")
    lines = [f"### Training images/s — {machine_line(plan.device, plan.threads)}", "",
             (f"Each figure: a fresh process, {plan.warmup_steps} warm-up steps excluded, then "
             f"{plan.seconds:g} s of steps. Baseline: pytorch/examples style (torchvision dataset, per-image "
             f"transforms, DataLoader with {plan.loader_workers} worker(s), fp32, default malloc). genimg: "
             "`genimg.training.engine.train`, uint8 batches in memory, allocator settings of `python -m genimg train`."), ""]
    engine_precision = "bf16" if on_gpu else "fp32"
    header = ("| model (batch) | baseline img/s | genimg img/s | ratio | genimg bf16 img/s | bf16 vs fp32 |"
              if not on_gpu else
              "| model (batch) | baseline img/s | genimg fp32 img/s | genimg bf16 img/s | ratio (bf16 ÷ baseline) | GPU busy % |")
    lines += [header, "|---|---|---|---|---|---|"]
    engine_results: dict[str, dict[str, Any]] = {}
    for model in plan.models.values():
        progress(f"{model.name}: baseline")
        baseline = measure(plan.measurement("baseline", model, allocator=False), run_train_measurement, isolate=isolate)
        progress(f"{model.name}: genimg")
        fp32 = measure(plan.measurement("engine", model, precision="fp32"), run_train_measurement, isolate=isolate)
        bf16 = {"error": "not measured in a quick run"}
        if plan.levers or on_gpu:
            progress(f"{model.name}: genimg bf16")
            bf16 = measure(plan.measurement("engine", model, precision="bf16"), run_train_measurement, isolate=isolate)
        engine_results[model.name] = bf16 if on_gpu else fp32
        title = f"{model.title} ({model.batch_size})"
        if on_gpu:
            busy = bf16.get("gpu_utilisation")
            lines.append(f"| {title} | {format_rate(baseline)} | {format_rate(fp32)} | {format_rate(bf16)} | "
                         f"{ratio(bf16, baseline)} | {busy if busy is not None else '–'} |")
        else:
            lines.append(f"| {title} | {format_rate(baseline)} | {format_rate(fp32)} | {ratio(fp32, baseline)} | "
                         f"{format_rate(bf16)} | {ratio(bf16, fp32)} |")
    failures = [f"{name}: {result['error']}" for name, result in engine_results.items() if "error" in result]
    if plan.levers:
        lines += ["", *lever_table(plan, engine_precision, isolate, progress)]
    if failures:
        lines += ["", "Failed: " + "; ".join(failures)]
    return "\n".join(lines)


def lever_table(plan: Plan, precision: str, isolate: bool, progress: Callable[[str], None]) -> list[str]:
    """Levers on the first model, one at a time against its default."""
    model = next(iter(plan.models.values()))
    on_gpu = plan.device.startswith("cuda")
    rows: list[tuple[str, dict[str, Any], dict[str, Any]]] = []  # (lever, result, what it is compared with)
    progress("levers: genimg default")
    default = measure(plan.measurement("engine", model, precision=precision), run_train_measurement, isolate=isolate)
    if not on_gpu and sys.platform.startswith("linux"):
        progress("levers: default malloc")
        rows.append(("glibc's default malloc (no allocator settings)",
                     measure(plan.measurement("engine", model, precision=precision, allocator=False), run_train_measurement, isolate=isolate),
                     default))
    larger = model.batch_size * (8 if on_gpu else 2)
    progress(f"levers: batch {larger}")
    rows.append((f"batch {larger} instead of {model.batch_size}",
                 measure(plan.measurement("engine", model, precision=precision, batch_size=larger), run_train_measurement, isolate=isolate),
                 default))
    progress("levers: channels_last")
    rows.append(("channels_last memory format",
                 measure(plan.measurement("engine", model, precision=precision, channels_last=True),
                         run_train_measurement, isolate=isolate), default))
    compile_modes = ["default", "reduce-overhead"] if on_gpu else ["default"]
    for mode in compile_modes:
        if not isolate:
            break  # compiling takes minutes: never in the in-process smoke run
        progress(f"levers: torch.compile {mode}")
        result = measure(plan.measurement("engine", model, precision=precision, compile_mode=mode,
                                          warmup_steps=max(plan.warmup_steps, 3)), run_train_measurement,
                         timeout=plan.compile_timeout)
        name = "torch.compile" + (" (CUDA graphs)" if mode == "reduce-overhead" else "")
        if "compile_seconds" in result and result["compile_seconds"] is not None:
            name += f", compiled in {result['compile_seconds']:.0f} s"
        rows.append((name, result, default))
    title = f"{model.title}, batch {model.batch_size}, {precision}"
    lines = [f"Levers, one at a time ({title}; genimg default {format_rate(default)} img/s):", "",
             "| lever | img/s | against |", "|---|---|---|"]
    for name, result, reference in rows:
        note = result["error"] if "error" in result else ratio(result, reference)
        lines.append(f"| {name} | {format_rate(result)} | {note} of genimg default |")
    return lines


def train_sections(plan: Plan, args: argparse.Namespace, progress: Callable[[str], None]) -> list[str]:
    return [run_train_bench(plan, progress=progress)]


def main(argv: list[str]) -> int:
    """`python -m genimg bench train [options]`; the report goes to stdout and to --out."""
    return report_main("train", argv, train_sections, description="genimg training benchmark: the engine "
                       "beside a PyTorch-examples-style baseline, then one lever at a time")


if __name__ == "__main__":  # a measurement's fresh interpreter (genimg.bench.measure.measure)
    sys.exit(worker_main(run_train_measurement, sys.argv[1:]))
