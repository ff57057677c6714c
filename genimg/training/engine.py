"""The training loop as a generator of typed events; the CLI, the app and the tests all consume it.

    for event in train(TrainConfig(...)):
        if isinstance(event, Progress): print(event.step, event.losses, event.images_per_second)

Each model kind's family (genimg.models.registry) picks the step: GANs train with the non-saturating (or
hinge) loss, two Adam optimisers and the settings of their recipe; VAEs minimise reconstruction + β·KL and
report the negative ELBO in nats per image; flows minimise the flow-matching loss (genimg.models.flow). A run saves checkpoints into
`config.out` at intervals and at its end, resumes from one with the same step count, optimiser and
random-number state, and ends with a Diverged event (keeping the last good checkpoint) when a loss
stops being finite.

Under torchrun (genimg.training.distributed) the same loop runs on every rank with DistributedDataParallel: each
rank trains on its block of every global batch (config.batch_size) and of the noise drawn for it, gradients are
averaged across ranks, logged losses are averaged too, and rank 0 alone samples and writes checkpoints. The
data order, noise and random state stay global, so a checkpoint resumes with any number of ranks.
"""

from __future__ import annotations

import contextlib
import copy
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from genimg.config import ConfigError, ModelConfig, TrainConfig
from genimg.data.datasets import BatchStream, ImageData, load_dataset, to_float
from genimg.data.imaging import grid_columns, grid_image, png_bytes
from genimg.models import build_model, count_parameters, registry
from genimg.models.latent import class_labels, seeded_latents
from genimg.models.loading import resolve_device, resolve_precision
from genimg.store.checkpoint import (
    CheckpointError,
    load_checkpoint,
    load_weights_into,
    save_checkpoint,
    write_file_atomic,
)
from genimg.training import distributed

SAMPLE_COUNT = 64
# A flow's losses on each third of the path from noise (t = 0) to picture (t = 1), reported beside its loss.
FLOW_THIRDS = ("loss_near_noise", "loss_middle", "loss_near_picture")
GRID_TIME_SHARE = 0.2  # the most of a run's time its timed sample grids may take (see grid_interval)
FLOW_CLASS_DROP = 0.1  # the share of a conditional flow's rows trained without their class (guidance)
STOPPED_BY_USER = "stopped by the user"  # Stopped.reason when the stop signal was set (else the time limit)
# Room left for what a checkpoint writes besides its tensors: config.json, samples.png, torch.save's framing.
SAVE_OVERHEAD_BYTES = 64 * 1024


# ----------------------------------------------------------------------------------------------- events
@dataclass(frozen=True)
class Event:
    """Base class of everything `train` yields."""

    step: int


@dataclass(frozen=True)
class Started(Event):
    total_steps: int
    device: str
    precision: str
    parameters: int
    dataset: str
    dataset_size: int
    resumed_from: str | None
    config: TrainConfig
    # The live network that samples come from (the EMA copy when one is kept), for tools that watch a run
    # (bench digits copies its weights as it trains). Not part of the event's value.
    sampling_network: nn.Module | None = field(default=None, repr=False, compare=False)
    # Processes training together (torchrun's WORLD_SIZE; 1 without it), each on its share of the global batch.
    world_size: int = 1


@dataclass(frozen=True)
class Progress(Event):
    """Losses averaged over the steps since the last Progress event, and the throughput over them."""

    epoch: int
    losses: dict[str, float]
    images_per_second: float
    elapsed_seconds: float
    total_steps: int
    # Health signals measured at this step (see genimg/training/health.py): for a GAN the generator's gradient norm;
    # for a VAE the KL per latent dimension's count of active dimensions.
    signals: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class EpochEnd(Event):
    epoch: int


@dataclass(frozen=True)
class Samples(Event):
    """A grid of samples from the run's fixed latents: uint8 (H, W) for grey or (H, W, 3) for colour."""

    grid: np.ndarray
    columns: int
    # Mean pairwise distance between the samples ÷ the same between real images (1 ≈ as varied as the
    # data; near 0 = every latent gives the same picture, a collapsed generator).
    diversity: float | None = None


@dataclass(frozen=True)
class CheckpointSaved(Event):
    path: str


@dataclass(frozen=True)
class Finished(Event):
    path: str | None
    elapsed_seconds: float


@dataclass(frozen=True)
class Stopped(Event):
    path: str | None
    reason: str
    elapsed_seconds: float


@dataclass(frozen=True)
class Diverged(Event):
    """A loss became NaN or infinite; nothing was saved after it, so `path` holds the last good state."""

    loss_name: str
    value: float
    path: str | None


# ------------------------------------------------------------------------------------------ training
class _Run:
    """Mutable state of one training run; `train` drives it and turns what happens into events."""

    def __init__(self, config: TrainConfig, data: ImageData | None, resume: str | Path | None) -> None:
        checkpoint = None
        if resume is not None:
            checkpoint = load_checkpoint(resume, with_training_state=True)
            if checkpoint.training_state is None:
                raise CheckpointError(f"{Path(resume).name}: this checkpoint holds no training state, so it cannot be "
                                      "resumed (shipped models keep weights only); start a new run instead")
            saved_model = ModelConfig.from_dict(checkpoint.model_config)
            if saved_model != config.model:
                config = config.replace(model=saved_model)  # a resumed run keeps the network it was built with
            if checkpoint.step >= config.steps:
                raise ConfigError(f"steps = {config.steps} is not accepted: the checkpoint in {Path(resume).name} is already "
                                  f"at step {checkpoint.step}; ask for more steps to continue training")
        self.config = config
        self.model_config = config.model
        self.ranks = distributed.current()
        if config.batch_size % self.ranks.world_size:
            raise ConfigError(f"batch_size = {config.batch_size} cannot be split across {self.ranks.world_size} "
                              f"processes: the global batch must be a multiple of the world size "
                              f"({self.ranks.world_size}); choose for example "
                              f"{self.ranks.world_size * max(1, round(config.batch_size / self.ranks.world_size))}")
        # One GPU per rank (cuda:LOCAL_RANK) under torchrun; config.device is kept as asked for the saved config.
        self.device = resolve_device(distributed.device_for_rank(config.device) if self.ranks.distributed
                                     else config.device)
        self.autocast_dtype = resolve_precision(config.precision, self.device)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True

        if data is None:
            data = load_dataset(config.dataset, root=config.data_root, split="train",
                                image_size=self.model_config.image_size, channels=self.model_config.channels,
                                limit=config.data_limit)
        self._check_data(data)
        self.data = data

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            self.model = build_model(self.model_config)
        self.model.to(self.device).train()
        self.family = registry.kind_of(self.model).family  # picks the training step and the optimisers
        if self.family not in ("gan", "vae", "flow"):
            raise ConfigError(f"model kind {self.model_config.kind!r}: the engine has no training step for its "
                              f"family {self.family!r}")
        self.sampler: nn.Module = self.model.sampling_network()
        self.ema: nn.Module | None = None
        if config.ema_decay > 0:
            self.ema = copy.deepcopy(self.sampler).eval().requires_grad_(False)

        betas = (config.adam_beta1, config.adam_beta2)
        if self.family == "gan":
            self.optimizers = {
                "generator": torch.optim.Adam(self.model.generator.parameters(), config.lr_generator, betas),
                "discriminator": torch.optim.Adam(self.model.discriminator.parameters(), config.lr_discriminator, betas),
            }
        else:  # "vae" (encoder and decoder) or "flow" (the velocity network): one optimiser
            self.optimizers = {self.family: torch.optim.Adam(self.model.parameters(), config.lr_generator, betas)}

        self.stream = BatchStream(data, config.batch_size, self.device, seed=config.seed, binarise=config.binarise,
                                  part=(self.ranks.rank, self.ranks.world_size))
        self.noise = torch.Generator(device=self.device)
        self.noise.manual_seed(config.seed + 1)
        self.step = 0
        self.elapsed_before = 0.0
        self.resumed_from: str | None = None
        if checkpoint is not None:
            self._restore(checkpoint)
            self.resumed_from = str(resume)

        classes = self.model_config.num_classes
        count = SAMPLE_COUNT
        self.grid_columns = grid_columns(count, classes)
        count = self.grid_columns * math.ceil(count / self.grid_columns)
        self.fixed_latents = seeded_latents(config.seed, count, self.model_config.latent_dim, self.device)
        self.fixed_labels = class_labels(count, classes, self.device)
        self.last_losses: dict[str, float] = {}
        self.last_images_per_second = 0.0
        self.last_grid: np.ndarray | None = None
        self.last_diversity: float | None = None
        self.last_posterior: tuple[torch.Tensor, torch.Tensor] | None = None  # a VAE's last (mean, log-variance)
        self.real_spread = _mean_pairwise_distance(to_float(data.images[:count], "unit").float())
        self._wrap_for_ranks()

    def _wrap_for_ranks(self) -> None:
        """Under torchrun, the DistributedDataParallel wrappers the steps call (self.model stays the plain network:
        its state dict, saved by rank 0, has no "module." prefixes). GAN: G and D separately; VAE and flow: the
        network's loss, so DDP sees the forward that the backward follows. On CUDA, BatchNorm becomes SyncBatchNorm
        (statistics over the global batch); gloo on the CPU has no SyncBatchNorm, so there each rank normalises
        with its own share's statistics. Buffers are not broadcast: training uses batch statistics, and rank 0's
        running statistics are the ones saved."""
        self.wrapped: dict[str, nn.Module] = {}
        if not self.ranks.distributed:
            return
        distributed.share_random_state(self.ranks, self.device)  # (after a resume every rank holds it already)
        if self.device.type == "cuda":  # in place: the parameters (which the optimisers hold) are kept
            nn.SyncBatchNorm.convert_sync_batchnorm(self.model)
        device_ids = [self.device.index] if self.device.type == "cuda" else None

        def wrap(network: nn.Module) -> nn.Module:
            return DistributedDataParallel(network, device_ids=device_ids, forward_sync_buffers=False)

        if self.family == "gan":
            self.wrapped = {"generator": wrap(self.model.generator), "discriminator": wrap(self.model.discriminator)}
        else:
            self.wrapped = {"loss": wrap(_LossOf(self.model))}

    def _global_draw(self, draw: Callable[[int], torch.Tensor], count: int) -> torch.Tensor:
        """This rank's rows of `draw(count · world_size)`: noise for the whole global batch comes from the same
        generator on every rank, so a run on N ranks sees the noise of a single process. (count,) + rest."""
        world_size = self.ranks.world_size
        if world_size == 1:
            return draw(count)
        return draw(count * world_size)[self.ranks.part(count * world_size)]

    # -- setup helpers
    def _check_data(self, data: ImageData) -> None:
        model = self.model_config
        if data.channels != model.channels or data.image_size != model.image_size:
            raise ConfigError(f"the dataset {data.name} gives {data.channels}×{data.image_size}×{data.image_size} "
                              f"images but the model expects {model.channels}×{model.image_size}×{model.image_size}")
        if model.num_classes:
            if data.labels is None:
                raise ConfigError(f"num_classes = {model.num_classes}: a conditional model needs labels, and the "
                                  f"dataset {data.name} has none; train an unconditional model (num_classes 0)")
            if data.num_classes != model.num_classes:
                raise ConfigError(f"num_classes = {model.num_classes} does not match the dataset {data.name}, "
                                  f"which has {data.num_classes} classes")
        if self.config.batch_size > len(data):
            raise ConfigError(f"batch_size = {self.config.batch_size} is larger than the dataset {data.name} "
                              f"({len(data)} images); choose at most {len(data)}")

    def _restore(self, checkpoint: Any) -> None:
        state = checkpoint.training_state
        source = Path(checkpoint.path) / str(checkpoint.config.get("training_state"))
        try:
            load_weights_into(self.model, state["model"], source=source)
            for name, optimizer in self.optimizers.items():
                optimizer.load_state_dict(state["optimizers"][name])
            if self.ema is not None and state.get("ema") is not None:
                load_weights_into(self.ema, state["ema"], source=source)
            elif self.ema is not None:
                self.ema.load_state_dict(self.sampler.state_dict())
            self.stream.load_state_dict(state["data"])
            self.noise.set_state(state["rng"]["noise"])
            torch.set_rng_state(state["rng"]["torch"])
            if self.device.type == "cuda" and state["rng"].get("cuda") is not None:
                torch.cuda.set_rng_state(state["rng"]["cuda"], self.device)
            self.step = int(state["step"])
            self.elapsed_before = float(state.get("elapsed_seconds", 0.0))
        except CheckpointError:
            raise
        except (KeyError, TypeError, ValueError, RuntimeError) as error:
            raise CheckpointError(f"{source}: the training state cannot be resumed: {error}") from None
        for optimizer in self.optimizers.values():  # optimiser tensors follow the model onto the device
            for values in optimizer.state.values():
                for key, value in values.items():
                    if isinstance(value, torch.Tensor) and key != "step":
                        values[key] = value.to(self.device)

    # -- one optimisation step; returns detached loss tensors (no device sync)
    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast_dtype)

    def gan_step(self, images: torch.Tensor, labels: torch.Tensor | None) -> dict[str, torch.Tensor]:
        generator, discriminator = self.model.generator, self.model.discriminator
        real = to_float(images, "signed")
        z = self._global_draw(lambda count: torch.randn(count, self.model_config.latent_dim, device=self.device,
                                                        generator=self.noise), real.shape[0])
        hinge = self.config.gan_loss == "hinge"
        if self.wrapped:
            return self._gan_step_distributed(real, z, labels, hinge)
        with self._autocast():
            fake = generator(z, labels)
            real_logits = discriminator(real, labels).float()
            fake_logits = discriminator(fake.detach(), labels).float()
            if hinge:
                loss_d = F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()
            else:  # −log D(x) − log(1 − D(G(z))), written with softplus for stability
                loss_d = F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()
        optimizer_d = self.optimizers["discriminator"]
        optimizer_d.zero_grad(set_to_none=True)
        loss_d.backward()
        optimizer_d.step()

        with self._autocast():
            generated_logits = discriminator(fake, labels).float()
            # non-saturating: maximise log D(G(z)) rather than minimise log(1 − D(G(z)))
            loss_g = -generated_logits.mean() if hinge else F.softplus(-generated_logits).mean()
        optimizer_g = self.optimizers["generator"]
        optimizer_g.zero_grad(set_to_none=True)
        loss_g.backward()
        optimizer_g.step()
        return {"generator": loss_g.detach(), "discriminator": loss_d.detach(),
                "d_real": torch.sigmoid(real_logits.detach()).mean(),
                "d_fake": torch.sigmoid(fake_logits.detach()).mean()}

    def _gan_step_distributed(self, real: torch.Tensor, z: torch.Tensor, labels: torch.Tensor | None,
                              hinge: bool) -> dict[str, torch.Tensor]:
        """gan_step on one rank's share. D still sees the real and the fake batch in two forward passes (its
        BatchNorm normalises each on its own, as in one process), but DDP accepts one backward per forward: the
        real half's gradient accumulates locally under no_sync() and the fake half's backward averages the sum
        across ranks, which is the gradient of the same loss_d."""
        generator, discriminator = self.wrapped["generator"], self.wrapped["discriminator"]
        optimizer_d = self.optimizers["discriminator"]
        optimizer_d.zero_grad(set_to_none=True)
        with self._autocast():
            fake = generator(z, labels)
        with discriminator.no_sync():
            with self._autocast():
                real_logits = discriminator(real, labels).float()
                loss_real = F.relu(1 - real_logits).mean() if hinge else F.softplus(-real_logits).mean()
            loss_real.backward()
        with self._autocast():
            fake_logits = discriminator(fake.detach(), labels).float()
            loss_fake = F.relu(1 + fake_logits).mean() if hinge else F.softplus(fake_logits).mean()
        loss_fake.backward()
        optimizer_d.step()
        loss_d = loss_real.detach() + loss_fake.detach()

        with self._autocast():
            # The plain D: its gradients here are thrown away (zeroed before its next step), so none are averaged.
            generated_logits = self.model.discriminator(fake, labels).float()
            loss_g = -generated_logits.mean() if hinge else F.softplus(-generated_logits).mean()
        optimizer_g = self.optimizers["generator"]
        optimizer_g.zero_grad(set_to_none=True)
        loss_g.backward()
        optimizer_g.step()
        return {"generator": loss_g.detach(), "discriminator": loss_d,
                "d_real": torch.sigmoid(real_logits.detach()).mean(),
                "d_fake": torch.sigmoid(fake_logits.detach()).mean()}

    def vae_step(self, images: torch.Tensor, labels: torch.Tensor | None) -> dict[str, torch.Tensor]:
        config = self.config
        beta = config.beta
        if config.kl_warmup_steps:
            beta *= min(1.0, (self.step + 1) / config.kl_warmup_steps)
        # The MMD weight is passed only when it is set, so a VAE kind whose loss_terms has no such option still trains.
        options = {"beta": beta, **({"mmd_weight": config.mmd_weight} if config.mmd_weight > 0 else {})}
        with self._autocast():
            if self.wrapped:
                with _global_reparameterisation(self.model, self.ranks, images.shape[0] * self.ranks.world_size):
                    terms = self.wrapped["loss"](to_float(images, "unit"), labels, **options)
            else:
                terms = self.model.loss_terms(to_float(images, "unit"), labels, **options)
        optimizer = self.optimizers["vae"]
        optimizer.zero_grad(set_to_none=True)
        terms["loss"].backward()
        optimizer.step()
        self.last_posterior = (terms["mean"].detach(), terms["log_variance"].detach())
        logged = {"neg_elbo": terms["neg_elbo"].detach(), "reconstruction": terms["reconstruction"].detach(),
                  "kl": terms["kl"].detach()}
        if config.mmd_weight > 0:
            logged["mmd"] = terms["mmd"].detach()
        return logged

    def flow_step(self, images: torch.Tensor, labels: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """Flow matching on the straight path from noise to the batch. Times are stratified (one per equal slice
        of [0, 1], shuffled), so each third of the path holds a row in every batch of 6 or more (each third then
        covers a whole slice): the loss per third is a health signal (near the noise it stays highest: there the
        picture the path leads to is least determined). Smaller batches report the loss alone."""
        pictures = to_float(images, "signed")
        count = pictures.shape[0]  # this rank's rows; the global batch has count · world_size
        world_size = self.ranks.world_size
        global_count = count * world_size
        rows = self.ranks.part(global_count)
        # Drawn for the global batch in a single process's order, then this rank's rows taken (all rows alone).
        noise = torch.randn((global_count, *pictures.shape[1:]), device=self.device, generator=self.noise)[rows]
        offsets = torch.rand(global_count, device=self.device, generator=self.noise)
        order = torch.randperm(global_count, device=self.device, generator=self.noise)
        global_times = (order.float() + offsets) / global_count
        times = global_times[rows]
        drop = None
        if self.model_config.num_classes:
            drop = (torch.rand(global_count, device=self.device, generator=self.noise) < FLOW_CLASS_DROP)[rows]
        with self._autocast():
            if self.wrapped:
                terms = self.wrapped["loss"](pictures, labels, noise, times, drop)
            else:
                terms = self.model.loss_terms(pictures, labels, noise, times, drop)
        optimizer = self.optimizers["flow"]
        optimizer.zero_grad(set_to_none=True)
        terms["loss"].backward()
        optimizer.step()
        per_image = terms["per_image"].detach()
        thirds = (times * 3).long().clamp(max=2)
        global_thirds = (global_times * 3).long().clamp(max=2)
        losses = {"loss": terms["loss"].detach()}
        if global_count >= 2 * len(FLOW_THIRDS):  # a third (width 1/3) then contains a whole slice (width 1/count)
            for index, name in enumerate(FLOW_THIRDS):
                chosen = thirds == index
                # ÷ the global batch's rows in this third ÷ world_size: the ranks' mean is then the global mean
                losses[name] = (per_image * chosen).sum() / ((global_thirds == index).sum() / world_size)
        return losses

    def ema_decay(self) -> float:
        """The EMA decay for this step, warmed up as min(decay, (1 + t) / (10 + t)): a plain 0.999 would keep
        most of the random initial weights for the first few thousand steps."""
        return min(self.config.ema_decay, (1 + self.step) / (10 + self.step))

    def learning_rate_factor(self) -> float:
        """The share of its base rate each learning rate has for the next update (step index `self.step`): 1, or
        after `lr_decay_from` a straight line to zero at `steps` (the last update still moves, by 1/(steps − from))."""
        start, total = self.config.lr_decay_from, self.config.steps
        if start is None or self.step < start:
            return 1.0
        return max(total - self.step, 0) / (total - start)

    def set_learning_rates(self) -> None:
        """Each optimiser's rate for the next update: its configured base rate × learning_rate_factor()."""
        factor = self.learning_rate_factor()
        for name, optimizer in self.optimizers.items():
            base = self.config.lr_discriminator if name == "discriminator" else self.config.lr_generator
            for group in optimizer.param_groups:
                group["lr"] = base * factor

    @torch.no_grad()
    def update_ema(self) -> None:
        if self.ema is None:
            return
        decay = self.ema_decay()
        for average, current in zip(self.ema.parameters(), self.sampler.parameters()):
            average.lerp_(current, 1 - decay)
        for average, current in zip(self.ema.buffers(), self.sampler.buffers()):
            average.copy_(current)

    @torch.no_grad()
    def signals(self) -> dict[str, float]:
        """Health signals at a logging step, from the last step's gradients or encoder outputs (a few reductions)."""
        if self.family == "gan":
            gradients = [p.grad for p in self.model.generator.parameters() if p.grad is not None]
            if not gradients:
                return {}
            norm = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(gradients)))
            return {"generator_grad_norm": float(norm)}
        if self.last_posterior is None:
            return {}
        mean, log_variance = (tensor.float() for tensor in self.last_posterior)
        kl_per_dimension = 0.5 * (mean.pow(2) + log_variance.exp() - 1.0 - log_variance).mean(dim=0)
        # A dimension is active when the encoder's mean moves with the input (Burda et al.: Var_x E[z|x] > 0.01).
        active = int((mean.var(dim=0) > 0.01).sum()) if mean.shape[0] > 1 else 0
        return {"active_dims": float(active), "latent_dim": float(mean.shape[1]),
                "max_dim_kl": float(kl_per_dimension.max())}

    # -- outputs
    @torch.inference_mode()
    def sample_grid(self) -> np.ndarray:
        network = self.ema if self.ema is not None else self.sampler
        was_training = network.training
        network.eval()
        with self.model.previewing(network):
            images = self.model.generate_with(network, self.fixed_latents, self.fixed_labels).float()
        network.train(was_training)
        spread = _mean_pairwise_distance(images)
        self.last_diversity = spread / self.real_spread if self.real_spread > 0 else None
        return grid_image(images, columns=self.grid_columns)

    def sampling_weights(self) -> dict[str, torch.Tensor]:
        """The weights Explore should use: the model's, with the EMA copy in place of the sampler if kept."""
        weights = self.model.state_dict()
        if self.ema is not None:
            prefix = self.model.sampling_prefix()
            for name, tensor in self.ema.state_dict().items():
                weights[prefix + name] = tensor
        return weights

    def save_bytes(self) -> int:
        """About how many bytes the next save writes: every tensor it holds, plus SAVE_OVERHEAD_BYTES."""
        optimizers = [optimizer.state_dict() for optimizer in self.optimizers.values()]
        ema = self.ema.state_dict() if self.ema is not None else {}
        return (SAVE_OVERHEAD_BYTES + _tensor_bytes(self.sampling_weights()) + _tensor_bytes(self.model.state_dict())
                + _tensor_bytes(optimizers) + _tensor_bytes(ema))

    def save(self, elapsed: float) -> str:
        config = self.config
        assert config.out is not None
        cuda_state = torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else None
        training_state = {
            "step": self.step,
            "elapsed_seconds": elapsed,
            "model": self.model.state_dict(),
            "optimizers": {name: optimizer.state_dict() for name, optimizer in self.optimizers.items()},
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "data": self.stream.state_dict(),
            "rng": {"noise": self.noise.get_state(), "torch": torch.get_rng_state(), "cuda": cuda_state},
        }
        metrics = {"train_" + name: value for name, value in self.last_losses.items()}
        metrics["images_per_second"] = round(self.last_images_per_second, 1)
        path = save_checkpoint(
            config.out, model_config=self.model_config.to_dict(), weights=self.sampling_weights(), step=self.step,
            training_state=training_state, training=config.to_dict(), dataset=self.data.name, metrics=metrics,
            extra={"device": str(self.device),
                   "elapsed_seconds": round(elapsed, 1), "dataset_size": len(self.data)})
        grid = self.last_grid if self.last_grid is not None else self.sample_grid()
        write_file_atomic(Path(path) / "samples.png", png_bytes(grid))
        return str(path)


class _LossOf(nn.Module):
    """A model whose forward is its `loss_terms`, so that DistributedDataParallel sees the forward pass whose
    backward it must average (DDP hooks only `forward`). Holds the model itself, parameters shared."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        return self.model.loss_terms(*args, **kwargs)


@contextlib.contextmanager
def _global_reparameterisation(model: nn.Module, ranks: distributed.Ranks, global_count: int) -> Iterator[None]:
    """While the block runs, the VAE's reparameterisation draws ε ~ N(0, I) for the whole global batch (global_count
    rows, from the device's default generator as a single process does with randn_like) and uses this rank's rows,
    so N ranks see the ε of one process. A model without `reparameterize` is left as it is."""
    original = getattr(type(model), "reparameterize", None)
    if original is None:
        yield
        return

    def reparameterize(mean: torch.Tensor, log_variance: torch.Tensor,
                       noise: torch.Tensor | None = None) -> torch.Tensor:
        if noise is None:
            noise = torch.randn((global_count, *mean.shape[1:]), dtype=mean.dtype,
                                device=mean.device)[ranks.part(global_count)]
        return original(mean, log_variance, noise)

    model.reparameterize = reparameterize  # this instance only, for this block
    try:
        yield
    finally:
        del model.reparameterize


def _tensor_bytes(value: Any) -> int:
    """Bytes of every tensor in a nested dict / list / tuple."""
    if isinstance(value, torch.Tensor):
        return value.numel() * value.element_size()
    if isinstance(value, dict):
        return sum(_tensor_bytes(item) for item in value.values())
    if isinstance(value, (list, tuple)):
        return sum(_tensor_bytes(item) for item in value)
    return 0


# Called with the bytes a checkpoint is about to write: None lets it write, a sentence stops the run instead.
DiskGuard = Callable[[int], str | None]


def _mean_pairwise_distance(images: torch.Tensor) -> float:
    """Mean Euclidean distance between every pair of images (B, C, H, W) in [0, 1]."""
    flat = images.flatten(1).float().cpu()
    if flat.shape[0] < 2:
        return 0.0
    distances = torch.cdist(flat, flat)
    count = flat.shape[0]
    return float(distances.sum() / (count * (count - 1)))


StopSignal = Callable[[], bool] | threading.Event | None


def grid_interval(every_seconds: float, grid_seconds: float) -> float:
    """Seconds from the end of one timed sample grid to the next: `every_seconds`, or longer when a grid is slow to
    draw, so that drawing takes at most GRID_TIME_SHARE of the run's time. A GAN's grid takes milliseconds and comes
    every `every_seconds`; a conditional flow's is an ODE of 64 × 20 network calls (about 0.7 s on 2 CPU cores), which
    every 1.5 s took almost half of the Train tab's run (267 images/s against 594 from the command line)."""
    return max(every_seconds, grid_seconds * (1 - GRID_TIME_SHARE) / GRID_TIME_SHARE)


def _stop_requested(stop: StopSignal) -> bool:
    if stop is None:
        return False
    if isinstance(stop, threading.Event):
        return stop.is_set()
    return bool(stop())


# Called as hook(step, model) before each optimisation step; see before_each_step.
StepHook = Callable[[int, nn.Module], None]
_step_hooks: list[StepHook] = []


@contextlib.contextmanager
def before_each_step(hook: StepHook) -> Iterator[None]:
    """While the block runs, every training run in this process calls `hook(step, model)` just before
    optimisation step `step` (counted from 1), in the thread that trains, with the whole network.

    A seam for fault injection: `python -m genimg bench faults` turns a run's weights to NaN through it
    to check the divergence alarm end to end. Normal training registers nothing here.
    """
    _step_hooks.append(hook)
    try:
        yield
    finally:
        _step_hooks.remove(hook)


def train(config: TrainConfig, *, data: ImageData | None = None, resume: str | Path | None = None,
          stop: StopSignal = None, prepare_model: Callable[[nn.Module], None] | None = None,
          disk_guard: DiskGuard | None = None) -> Iterator[Event]:
    """Train `config.model`, yielding Started, then Progress / Samples / EpochEnd / CheckpointSaved
    events, and last one of Finished, Stopped or Diverged.

    data: images to train on instead of loading `config.dataset` (the app passes uploads this way).
    resume: a checkpoint folder to continue from (same step count, optimiser and random state).
    stop: a threading.Event or a callable; when it turns true the run saves and yields Stopped.
    prepare_model: called once with the network, built (or resumed) on its device, before the first
    step. It may change the network in place but must keep its parameter objects, which the optimisers
    hold: `bench train` tries channels_last memory format and torch.compile on the engine's own step this way.
    disk_guard: asked before each checkpoint is written, with about how many bytes it will write; when it
    answers a sentence instead of None, nothing is written and the run ends with Stopped(reason=that sentence)
    and the last checkpoint that was written (the workspace quota and the disk budget, checked while it writes).
    Closing the generator early (a closed browser tab) also saves a checkpoint when `config.out` is set.
    Setup problems raise ConfigError, DatasetError or CheckpointError before the first event.

    Under torchrun (a process group of several ranks, see genimg.training.distributed) every rank calls `train`
    with the same config: each yields the same events with losses averaged over the ranks, except that Samples
    and CheckpointSaved come from rank 0 alone, which writes the checkpoints (the other ranks' paths are None).
    """
    run = _Run(config, data, resume)
    ranks = run.ranks
    if prepare_model is not None:
        prepare_model(run.model)
    config = run.config
    started_at = time.perf_counter()
    yield Started(step=run.step, total_steps=config.steps, device=str(run.device),
                  precision=str(run.autocast_dtype or "fp32").replace("torch.", ""),
                  parameters=count_parameters(run.model), dataset=run.data.name, dataset_size=len(run.data),
                  resumed_from=run.resumed_from, config=config,
                  sampling_network=run.ema if run.ema is not None else run.sampler, world_size=ranks.world_size)

    saved_step, saved_path = -1, None
    if run.resumed_from is not None:
        saved_step = run.step

    def elapsed() -> float:
        return run.elapsed_before + time.perf_counter() - started_at

    refused: str | None = None  # why the disk guard refused a save, which ends the run

    def save(together: bool = True) -> str | None:
        """Rank 0 writes; with `together` (every rank calls it at the same step) the ranks wait for the write and
        learn whether the disk guard refused it. Alone, after an error on some rank, only rank 0 writes."""
        nonlocal saved_step, saved_path, refused
        if config.out is None or saved_step == run.step or refused is not None:
            return saved_path
        if ranks.is_main and disk_guard is not None:
            refused = disk_guard(run.save_bytes())
        if together and distributed.any_rank(ranks, refused is not None, run.device) and refused is None:
            refused = "rank 0 could not write the checkpoint"
        if refused is not None:
            return saved_path
        if ranks.is_main:
            saved_path = run.save(elapsed())
        saved_step = run.step
        if together:
            distributed.barrier(ranks)  # no rank runs ahead of a checkpoint that is being written
        return saved_path

    sums: dict[str, torch.Tensor] = {}
    window_steps, window_start = 0, time.perf_counter()
    sync = torch.cuda.synchronize if run.device.type == "cuda" else (lambda: None)
    step_function = {"gan": run.gan_step, "vae": run.vae_step, "flow": run.flow_step}[run.family]
    finished_normally = False
    last_sample_at = time.perf_counter()
    grid_seconds = 0.0  # how long the last sample grid took to draw
    try:
        while run.step < config.steps:
            epoch_before = run.stream.epoch
            images, labels = run.stream.next()
            for hook in tuple(_step_hooks):  # none in normal training (see before_each_step)
                hook(run.step + 1, run.model)
            run.set_learning_rates()
            losses = step_function(images, labels)
            run.update_ema()
            run.step += 1
            window_steps += 1
            for name, value in losses.items():
                sums[name] = sums[name] + value if name in sums else value.float().clone()

            last = run.step == config.steps
            due_sample = run.step % config.sample_every == 0 or last or run.step == 1
            # (by the clock only in one process: ranks must agree on the steps they log at, and clocks differ)
            if config.sample_every_seconds is not None and not due_sample and not ranks.distributed:
                due_sample = (time.perf_counter() - last_sample_at
                              >= grid_interval(config.sample_every_seconds, grid_seconds))
            due_checkpoint = run.step % config.checkpoint_every == 0 or last
            if run.step % config.log_every == 0 or due_sample or due_checkpoint:
                sync()
                now = time.perf_counter()
                sums = distributed.average(ranks, sums)  # the global batch's losses
                means = {name: float(total) / window_steps for name, total in sums.items()}
                for name, value in means.items():
                    if not math.isfinite(value):
                        yield Diverged(step=run.step, loss_name=name, value=value, path=saved_path)
                        finished_normally = True
                        return
                run.last_losses = means
                run.last_images_per_second = window_steps * config.batch_size / max(now - window_start, 1e-9)
                yield Progress(step=run.step, epoch=run.stream.epoch, losses=means,
                               images_per_second=run.last_images_per_second, elapsed_seconds=elapsed(),
                               total_steps=config.steps, signals=run.signals())
                sums, window_steps = {}, 0
                if due_sample and ranks.is_main:
                    drawing_started = time.perf_counter()
                    run.last_grid = run.sample_grid()
                    last_sample_at = time.perf_counter()
                    grid_seconds = last_sample_at - drawing_started
                    yield Samples(step=run.step, grid=run.last_grid, columns=run.grid_columns,
                                  diversity=run.last_diversity)
                if due_checkpoint and config.out is not None:
                    path = save()
                    if refused is not None:
                        break
                    if ranks.is_main:
                        yield CheckpointSaved(step=run.step, path=str(path))
                window_start = time.perf_counter()
            if run.stream.epoch != epoch_before:
                yield EpochEnd(step=run.step, epoch=run.stream.epoch)

            reason = None
            if _stop_requested(stop):
                reason = STOPPED_BY_USER
            elif config.max_seconds is not None and time.perf_counter() - started_at >= config.max_seconds:
                reason = f"time limit of {config.max_seconds:g} s reached"
            # Under torchrun every rank stops at the same step when one of them (its clock or its signal) says so.
            if (ranks.distributed and (stop is not None or config.max_seconds is not None)
                    and distributed.any_rank(ranks, reason is not None, run.device) and reason is None):
                reason = (f"time limit of {config.max_seconds:g} s reached" if config.max_seconds is not None
                          else STOPPED_BY_USER)
            if reason is not None and run.step < config.steps:
                if window_steps:  # make the saved metrics and the final Progress reflect the last steps
                    sync()
                    sums = distributed.average(ranks, sums)
                    means = {name: float(total) / window_steps for name, total in sums.items()}
                    if all(math.isfinite(value) for value in means.values()):
                        run.last_losses = means
                finished_normally = True
                path = save()
                yield Stopped(step=run.step, path=path, reason=refused or reason, elapsed_seconds=elapsed())
                return
        finished_normally = True
        path = save()
        if refused is not None:  # nothing was written: the last checkpoint written is the one kept
            yield Stopped(step=run.step, path=path, reason=refused, elapsed_seconds=elapsed())
            return
        yield Finished(step=run.step, path=path, elapsed_seconds=elapsed())
    finally:
        if not finished_normally and config.out is not None and run.step > max(saved_step, 0):
            # The consumer went away (closed tab, Ctrl-C): keep what was learned, unless it diverged.
            with contextlib.suppress(Exception):
                if all(math.isfinite(float(value)) for value in sums.values()):
                    save(together=False)  # the other ranks may be gone: rank 0 writes what it holds
