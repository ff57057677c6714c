"""Training benchmark: `python -m genimg bench train` puts genimg's engine beside a PyTorch-examples-style baseline.

For each shipped model kind it measures training images/s of

* the **baseline**, written the way pytorch/examples' dcgan and vae `main.py` are: torchvision's MNIST
  dataset with a per-image `ToTensor()` (+ `Normalize` for GANs) transform, a `DataLoader` with
  `shuffle=True`, fp32, BCE on a sigmoid output, glibc's default malloc, and the same genimg network;
* **genimg's engine** (`genimg.engine.train`): uint8 batches gathered in memory, with the allocator
  settings that `python -m genimg train` applies;

and then one lever at a time (allocator off, bf16 autocast, batch size, channels_last, torch.compile).
Every measurement runs in a fresh interpreter with a controlled environment and thread count, so one
cannot warm the caches or the allocator of the next; warm-up steps are excluded from the timing.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from genimg.config import PROJECT_ROOT, SHIPPED_DIR, ModelConfig, TrainConfig

RESULT_PREFIX = "GENIMG-BENCH-RESULT "
SHAPES_LIMIT = 4096
MALLOC_VARIABLES = ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_ARENA_MAX")


# ------------------------------------------------------------------------------------------- what to measure
@dataclass(frozen=True)
class BenchModel:
    """One model kind as shipped: its network, the data it trains on and its batch size."""

    name: str
    title: str
    dataset: str
    model: dict[str, Any]
    batch_size: int
    training: dict[str, Any] = field(default_factory=dict)


# Used when a shipped checkpoint is missing: the same settings its config.json records.
FALLBACK_MODELS = {
    "mnist-dcgan": ("DCGAN 28×28", "mnist", ModelConfig(kind="dcgan", latent_dim=100, width=64), 64),
    "mnist-cdcgan": ("conditional DCGAN 28×28", "mnist",
                     ModelConfig(kind="dcgan", latent_dim=100, width=64, num_classes=10), 64),
    "mnist-vae": ("VAE 28×28 (z 32, width 64, depth 1)", "mnist",
                  ModelConfig(kind="vae", latent_dim=32, width=64, depth=1), 128),
    "mnist-cvae": ("conditional VAE 28×28 (z 16, width 32)", "mnist",
                   ModelConfig(kind="vae", latent_dim=16, width=32, num_classes=10), 128),
    "shapes-dcgan": ("DCGAN 32×32 colour (shapes)", "shapes",
                     ModelConfig(kind="dcgan", image_size=32, channels=3, latent_dim=100, width=64), 64),
}
# Training settings that only concern bookkeeping; the benchmark sets its own.
_BOOKKEEPING = ("steps", "out", "device", "precision", "log_every", "sample_every", "checkpoint_every",
                "max_seconds", "data_root", "data_limit", "batch_size", "model", "dataset")


def bench_models(folder: Path = SHIPPED_DIR) -> dict[str, BenchModel]:
    """The shipped models' settings, read from their config.json (falling back to the recorded defaults)."""
    from genimg.store.checkpoint import CheckpointError, read_config

    models = {}
    for name, (title, dataset, model, batch_size) in FALLBACK_MODELS.items():
        training: dict[str, Any] = {}
        try:
            config = read_config(folder / name)
            model = ModelConfig.from_dict(config["model"])
            training = dict(config.get("training") or {})
            batch_size = int(training.get("batch_size", batch_size))
        except (CheckpointError, ValueError, KeyError):
            pass
        kept = {key: value for key, value in training.items() if key not in _BOOKKEEPING}
        models[name] = BenchModel(name, title, dataset, model.to_dict(), batch_size, kept)
    return models


def tiny_bench_models() -> dict[str, BenchModel]:
    """Small networks for the smoke test: the same code paths in a fraction of a second."""
    tiny = {"kind": "dcgan", "image_size": 28, "channels": 1, "latent_dim": 8, "num_classes": 0, "width": 8,
            "likelihood": "bernoulli", "spectral_norm": False, "depth": 0}
    return {
        "tiny-dcgan": BenchModel("tiny-dcgan", "tiny DCGAN 28×28", "synthetic", tiny, 16),
        "tiny-cvae": BenchModel("tiny-cvae", "tiny conditional VAE 28×28", "synthetic",
                                {**tiny, "kind": "vae", "num_classes": 10}, 16),
    }


@dataclass(frozen=True)
class Measurement:
    """One measurement, run in its own process: `mode` says which loop, the rest how."""

    mode: str  # "baseline", "engine", "standalone", "inference", "peak"
    model: BenchModel | None = None
    batch_size: int | None = None
    precision: str = "fp32"
    allocator: bool = True
    channels_last: bool = False
    compile_mode: str | None = None  # torch.compile mode, e.g. "default" or "reduce-overhead" (CUDA graphs)
    device: str = "cpu"
    threads: int = 2
    seconds: float = 5.0
    warmup_steps: int = 10
    loader_workers: int = 0
    data_root: str | None = None
    synthetic: bool = False
    inference_models: tuple[BenchModel, ...] = ()

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Measurement:
        values = json.loads(text)
        if values.get("model") is not None:
            values["model"] = BenchModel(**values["model"])
        values["inference_models"] = tuple(BenchModel(**model) for model in values.get("inference_models", ()))
        return cls(**values)


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


def synchronizer(device: torch.device) -> Callable[[], None]:
    return torch.cuda.synchronize if device.type == "cuda" else (lambda: None)


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

    from genimg.models import GAN, build_model

    assert measurement.model is not None
    device = torch.device(measurement.device)
    model_config = ModelConfig.from_dict(measurement.model.model)
    batch_size = measurement.batch_size or measurement.model.batch_size
    torch.manual_seed(0)
    model = build_model(model_config).to(device).train()
    is_gan = isinstance(model, GAN)
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


def run_engine(measurement: Measurement) -> Timing:
    """genimg.training.engine.train as the CLI and the page run it; images/s from its own Progress events' clock."""
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
    with sampling_utilisation(device) as utilisation:
        events = train(config, data=data)
        try:
            for event in events:
                if not isinstance(event, Progress):
                    continue
                now = time.perf_counter()  # Progress follows a device sync, so the clock is honest
                if start is None:
                    if event.step >= measurement.warmup_steps:
                        start = (event.step, now)
                        utilisation.clear()
                elif now - start[1] >= measurement.seconds:
                    steps, elapsed = event.step - start[0], now - start[1]
                    return Timing(steps * batch_size / elapsed, steps, elapsed, mean_or_none(utilisation))
        finally:
            events.close()
    raise RuntimeError("the training run ended before the measurement did")


def run_standalone(measurement: Measurement) -> Timing:
    """The engine's step written out, so that levers the engine does not offer (channels_last, compile) can be tried."""
    import torch.nn.functional as F

    from genimg.data.datasets import BatchStream, to_float
    from genimg.models import GAN, build_model

    assert measurement.model is not None
    device = torch.device(measurement.device)
    model_config = ModelConfig.from_dict(measurement.model.model)
    batch_size = measurement.batch_size or measurement.model.batch_size
    data = load_images(measurement, model_config)
    torch.manual_seed(0)
    model = build_model(model_config).to(device).train()
    memory_format = torch.channels_last if measurement.channels_last else torch.contiguous_format
    model = model.to(memory_format=memory_format)
    stream = BatchStream(data, batch_size, device)
    autocast_dtype = torch.bfloat16 if measurement.precision == "bf16" else None

    def autocast() -> contextlib.AbstractContextManager:
        if autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device.type, dtype=autocast_dtype)

    def compiled(function: Callable) -> Callable:
        return torch.compile(function, mode=measurement.compile_mode) if measurement.compile_mode else function

    if isinstance(model, GAN):
        generator, discriminator = compiled(model.generator), compiled(model.discriminator)
        optimizer_d = torch.optim.Adam(model.discriminator.parameters(), 2e-4, (0.5, 0.999))
        optimizer_g = torch.optim.Adam(model.generator.parameters(), 2e-4, (0.5, 0.999))

        def step() -> None:
            images, labels = stream.next()
            real = to_float(images, "gan").contiguous(memory_format=memory_format)
            z = torch.randn(batch_size, model_config.latent_dim, device=device)
            with autocast():
                fake = generator(z, labels)
                real_logits = discriminator(real, labels).float()
                fake_logits = discriminator(fake.detach(), labels).float()
                loss_d = F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()
            optimizer_d.zero_grad(set_to_none=True)
            loss_d.backward()
            optimizer_d.step()
            with autocast():
                loss_g = F.softplus(-discriminator(fake, labels).float()).mean()
            optimizer_g.zero_grad(set_to_none=True)
            loss_g.backward()
            optimizer_g.step()
    else:
        loss_terms = compiled(model.loss_terms)
        optimizer = torch.optim.Adam(model.parameters(), 1e-3)

        def step() -> None:
            images, labels = stream.next()
            with autocast():
                loss = loss_terms(to_float(images, "vae").contiguous(memory_format=memory_format), labels)["loss"]
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

    return time_steps(step, measurement, batch_size, device)


# ------------------------------------------------------------------------------------------- workers
def run_measurement(measurement: Measurement) -> dict[str, Any]:
    """Run one measurement in this process (the worker's body); returns plain JSON."""
    torch.set_num_threads(measurement.threads)
    if measurement.mode in ("inference", "peak"):
        from genimg.bench.inference import run_inference_measurement

        return run_inference_measurement(measurement)
    loops = {"baseline": run_baseline, "engine": run_engine, "standalone": run_standalone}
    timing = loops[measurement.mode](measurement)
    return asdict(timing)


def worker_environment(measurement: Measurement) -> dict[str, str]:
    from genimg.config import ALLOCATOR_SETTINGS

    environment = {name: value for name, value in os.environ.items() if name not in MALLOC_VARIABLES}
    environment.update(OMP_NUM_THREADS=str(measurement.threads), MKL_NUM_THREADS=str(measurement.threads),
                       GENIMG_KEEP_MALLOC="1", PYTHONWARNINGS="ignore")
    if measurement.allocator:
        environment.update(ALLOCATOR_SETTINGS)
    return environment


def measure(measurement: Measurement, *, isolate: bool = True, timeout: float = 300) -> dict[str, Any]:
    """Run a measurement in a fresh interpreter (or in this one when `isolate` is false, for tests).

    Returns its result dict, or {"error": "..."} when it failed or ran past `timeout` seconds.
    """
    if not isolate:
        try:
            return run_measurement(measurement)
        except Exception as error:  # noqa: BLE001 -- any failure becomes a "failed" cell, as in a worker
            return {"error": f"{type(error).__name__}: {error}"}
    command = [sys.executable, "-m", "genimg.bench.explore.train", "--worker", measurement.to_json()]
    root = PROJECT_ROOT
    try:
        finished = subprocess.run(command, check=False, capture_output=True, text=True, timeout=timeout, cwd=root,
                                  env=worker_environment(measurement))
    except subprocess.TimeoutExpired:
        return {"error": f"did not finish within {timeout:.0f} s"}
    for line in reversed(finished.stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX):])
    last_lines = " | ".join(finished.stderr.strip().splitlines()[-3:])
    return {"error": f"exit status {finished.returncode}: {last_lines or 'no output'}"}


# ------------------------------------------------------------------------------------------- the suite
@dataclass(frozen=True)
class Plan:
    """What one `bench train` run measures; `quick` trims it to a smoke run."""

    models: dict[str, BenchModel]
    seconds: float
    warmup_steps: int
    threads: int
    device: str
    data_root: str | None
    synthetic: bool
    levers: bool
    compile_timeout: float
    loader_workers: int

    def measurement(self, mode: str, model: BenchModel, **changes: Any) -> Measurement:
        base = Measurement(mode=mode, model=model, device=self.device, threads=self.threads, seconds=self.seconds,
                           warmup_steps=self.warmup_steps, data_root=self.data_root, synthetic=self.synthetic,
                           loader_workers=self.loader_workers)
        return replace(base, **changes)


def format_rate(result: dict[str, Any]) -> str:
    if "error" in result:
        return "–" if result["error"].startswith("not measured") else "failed"
    return f"{result['images_per_second']:,.0f}"


def ratio(numerator: dict[str, Any], denominator: dict[str, Any]) -> str:
    if "error" in numerator or "error" in denominator or not denominator.get("images_per_second"):
        return "–"
    return f"{numerator['images_per_second'] / denominator['images_per_second']:.2f}×"


def machine_line(device: str, threads: int) -> str:
    if device.startswith("cuda") and torch.cuda.is_available():
        where = f"{torch.cuda.get_device_name(torch.device(device))}, CUDA {torch.version.cuda}"
    else:
        where = f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, {threads} thread(s)"
    return f"{where}, torch {torch.__version__}, Python {platform.python_version()}"


def run_train_bench(plan: Plan, *, isolate: bool = True, progress: Callable[[str], None] = lambda text: None) -> str:
    """Measure every model of `plan` and the levers; returns the Markdown report."""
    on_gpu = plan.device.startswith("cuda")
    lines = [f"### Training images/s — {machine_line(plan.device, plan.threads)}", "",
             (f"Each figure: a fresh process, {plan.warmup_steps} warm-up steps excluded, then "
             f"{plan.seconds:g} s of steps. Baseline: pytorch/examples style (torchvision dataset, per-image "
             f"transforms, DataLoader with {plan.loader_workers} worker(s), fp32, default malloc). genimg: "
             "`genimg.engine.train`, uint8 batches in memory, allocator settings of `python -m genimg train`."), ""]
    engine_precision = "bf16" if on_gpu else "fp32"
    header = ("| model (batch) | baseline img/s | genimg img/s | ratio | genimg bf16 img/s | bf16 vs fp32 |"
              if not on_gpu else
              "| model (batch) | baseline img/s | genimg fp32 img/s | genimg bf16 img/s | ratio (bf16 ÷ baseline) | GPU busy % |")
    lines += [header, "|---|---|---|---|---|---|"]
    engine_results: dict[str, dict[str, Any]] = {}
    for model in plan.models.values():
        progress(f"{model.name}: baseline")
        baseline = measure(plan.measurement("baseline", model, allocator=False), isolate=isolate)
        progress(f"{model.name}: genimg")
        fp32 = measure(plan.measurement("engine", model, precision="fp32"), isolate=isolate)
        bf16 = {"error": "not measured in a quick run"}
        if plan.levers or on_gpu:
            progress(f"{model.name}: genimg bf16")
            bf16 = measure(plan.measurement("engine", model, precision="bf16"), isolate=isolate)
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
    rows: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
    progress("levers: genimg default")
    default = measure(plan.measurement("engine", model, precision=precision), isolate=isolate)
    if not on_gpu and sys.platform.startswith("linux"):
        progress("levers: default malloc")
        rows.append(("glibc's default malloc (no allocator settings)",
                     measure(plan.measurement("engine", model, precision=precision, allocator=False), isolate=isolate),
                     default))
    larger = model.batch_size * (8 if on_gpu else 2)
    progress(f"levers: batch {larger}")
    rows.append((f"batch {larger} instead of {model.batch_size}",
                 measure(plan.measurement("engine", model, precision=precision, batch_size=larger), isolate=isolate),
                 default))
    progress("levers: standalone step")
    standalone = measure(plan.measurement("standalone", model, precision=precision), isolate=isolate)
    rows.append(("the engine's step written out (reference for the two below)", standalone, default))
    progress("levers: channels_last")
    rows.append(("channels_last memory format",
                 measure(plan.measurement("standalone", model, precision=precision, channels_last=True),
                         isolate=isolate), standalone))
    compile_modes = ["default", "reduce-overhead"] if on_gpu else ["default"]
    for mode in compile_modes:
        if not isolate:
            break  # compiling takes minutes: never in the in-process smoke run
        progress(f"levers: torch.compile {mode}")
        result = measure(plan.measurement("standalone", model, precision=precision, compile_mode=mode,
                                          warmup_steps=max(plan.warmup_steps, 3)), timeout=plan.compile_timeout)
        name = "torch.compile" + (" (CUDA graphs)" if mode == "reduce-overhead" else "")
        if "compile_seconds" in result and result["compile_seconds"] is not None:
            name += f", compiled in {result['compile_seconds']:.0f} s"
        rows.append((name, result, standalone))
    title = f"{model.title}, batch {model.batch_size}, {precision}"
    lines = [f"Levers, one at a time ({title}; genimg default {format_rate(default)} img/s):", "",
             "| lever | img/s | against |", "|---|---|---|"]
    for name, result, reference in rows:
        note = result["error"] if "error" in result else ratio(result, reference)
        against = "the standalone step" if reference is standalone else "genimg default"
        lines.append(f"| {name} | {format_rate(result)} | {note} of {against} |")
    return lines


def make_plan(args: argparse.Namespace) -> Plan:
    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.synthetic:
        models = tiny_bench_models()
    else:
        models = bench_models(Path(args.models))
        if args.quick:
            models = {name: models[name] for name in ("mnist-dcgan", "mnist-cvae")}
        elif args.kinds:
            models = {name: models[name] for name in args.kinds}
    data_root = args.data_root
    if not args.synthetic and not mnist_available(data_root):
        print(f"genimg bench: MNIST not found under {data_root or 'the data root'}; measuring shapes models only "
              "(give --data-root)", file=sys.stderr)
        models = {name: model for name, model in models.items() if model.dataset != "mnist"}
    return Plan(models=models, seconds=args.seconds or (1.5 if args.quick else 5.0),
                warmup_steps=3 if args.quick else 10, threads=args.threads, device=device, data_root=data_root,
                synthetic=args.synthetic, levers=not args.no_levers and not args.quick,
                compile_timeout=args.compile_timeout, loader_workers=args.loader_workers)


def mnist_available(root: str | None) -> bool:
    from genimg.data.datasets import resolve_data_root

    raw = Path(resolve_data_root(root)) / "MNIST" / "raw"
    return (raw / "train-images-idx3-ubyte").exists() or (raw / "train-images-idx3-ubyte.gz").exists()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="a ~30 s smoke run: two models, short windows, no levers")
    parser.add_argument("--seconds", type=float, default=None, help="timed seconds per measurement (default 5)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads per measurement (default 2)")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    parser.add_argument("--data-root", default=None, help="where MNIST lives (default $GENIMG_DATA, else ./data)")
    parser.add_argument("--kinds", nargs="+", choices=sorted(FALLBACK_MODELS), default=None,
                        help="only these models")
    parser.add_argument("--no-levers", action="store_true", help="skip the one-lever-at-a-time table")
    parser.add_argument("--compile-timeout", type=float, default=150.0,
                        help="give torch.compile at most this many seconds, compilation included")
    parser.add_argument("--loader-workers", type=int, default=0,
                        help="baseline DataLoader workers (default 0: on 2 cores, workers compete with training)")
    parser.add_argument("--synthetic", action="store_true", help="tiny models on random data (no download)")
    parser.add_argument("--models", default=str(SHIPPED_DIR),
                        help="folder of checkpoints whose settings are measured (default: shipped)")


def main(argv: list[str]) -> int:
    """`python -m genimg bench train|inference|all [options]`; the report goes to stdout and to --out."""
    suite = argv[0]
    parser = argparse.ArgumentParser(prog=f"python -m genimg bench {suite}",
                                     description="genimg training and inference benchmarks")
    add_arguments(parser)
    parser.add_argument("--out", default=None, help="also write the Markdown report to this file")
    if suite == "all":
        parser.add_argument("--repeats", type=int, default=300, help="explore: calls per handler")
    args = parser.parse_args(argv[1:])
    plan = make_plan(args)
    if not plan.models:
        print("genimg bench: nothing to measure", file=sys.stderr)
        return 2

    def progress(text: str) -> None:
        print(f"  measuring {text} ...", file=sys.stderr, flush=True)

    started = time.perf_counter()
    sections = []
    if suite == "all":
        from genimg.bench.explore import run_explore

        sections.append("```\n" + run_explore(SHIPPED_DIR, args.repeats, with_training=False) + "\n```")
    if suite in ("train", "all"):
        sections.append(run_train_bench(plan, progress=progress))
    if suite in ("inference", "all"):
        from genimg.bench.inference import run_inference_bench

        progress("generator inference")
        sections.append(run_inference_bench(plan))
    if suite == "all" and not plan.synthetic and mnist_available(args.data_root):
        from genimg.bench.page import format_report, page_time_to_digits

        progress("the Train tab's time to recognisable digits")
        sections.append(format_report(page_time_to_digits(data_root=args.data_root, budget_seconds=40.0)))
    command = "python -m genimg bench " + " ".join(argv)
    report = "\n\n".join(sections) + f"\n\nCommand: `{command}` ({time.perf_counter() - started:.0f} s).\n"
    print(report)
    if args.out:
        Path(args.out).write_text(report, encoding="utf-8")
    return 0


def worker_main(argv: list[str]) -> int:
    measurement = Measurement.from_json(argv[1])
    result = run_measurement(measurement)
    print(RESULT_PREFIX + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        sys.exit(worker_main(sys.argv[1:]))
    sys.exit("use python -m genimg bench train")
