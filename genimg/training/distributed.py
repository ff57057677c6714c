"""Training on several processes with torchrun: the process group, who this rank is, and the collectives the engine needs.

`torchrun --nproc_per_node=N -m genimg train ...` starts N copies of the command line with WORLD_SIZE, RANK and
LOCAL_RANK in their environment. `session` joins them into one process group (nccl on CUDA GPUs, gloo on the
CPU) and leaves it again, also on errors; the engine asks `current()` whether it trains alone or as one rank of
several, and then splits each global batch across the ranks (genimg.training.engine).
Without torchrun (WORLD_SIZE absent or 1) nothing here changes anything: `current()` answers a single rank.
"""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.distributed as dist

from genimg.config import ConfigError


@dataclass(frozen=True)
class Ranks:
    """Where this process stands: `rank` of `world_size` processes, `local_rank` on its machine."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0 alone prints, samples and writes checkpoints."""
        return self.rank == 0

    def part(self, count: int) -> slice:
        """This rank's rows of a global batch of `count` rows (count divisible by world_size): rank r takes the
        r-th of world_size equal consecutive blocks, so the ranks' parts joined in rank order are the whole batch."""
        size = count // self.world_size
        return slice(self.rank * size, (self.rank + 1) * size)


SINGLE = Ranks()


def launched_by_torchrun() -> bool:
    """True when the environment names a world of more than one process (torchrun sets WORLD_SIZE)."""
    return _environment_int("WORLD_SIZE", 1) > 1


def _environment_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"the environment variable {name}={value!r} is not an integer; torchrun sets it to one") from None


def current() -> Ranks:
    """This process's place in the process group, or a single rank when no group with more than one process is up."""
    if not (dist.is_available() and dist.is_initialized()):
        return SINGLE
    world_size = dist.get_world_size()
    if world_size <= 1:
        return SINGLE
    return Ranks(rank=dist.get_rank(), world_size=world_size, local_rank=_environment_int("LOCAL_RANK", 0),
                 backend=str(dist.get_backend()))


def device_for_rank(device: str) -> str:
    """The device a rank trains on: with CUDA ('auto' on a CUDA machine, 'cuda' or 'cuda:N') the GPU LOCAL_RANK
    of this machine, one GPU per process; anything else (the CPU) unchanged."""
    from genimg.models.loading import resolve_device

    resolved = resolve_device(device)
    if resolved.type != "cuda":
        return str(resolved)
    local_rank = _environment_int("LOCAL_RANK", 0)
    count = torch.cuda.device_count()
    if local_rank >= count:
        raise ConfigError(f"LOCAL_RANK {local_rank}: this machine has {count} CUDA device(s); start at most {count} "
                          "processes per machine (torchrun --nproc_per_node)")
    return f"cuda:{local_rank}"


@contextlib.contextmanager
def session(device: str) -> Iterator[Ranks]:
    """Join torchrun's process group for the block and leave it afterwards (also after an error or Ctrl-C).

    device: the device every rank trains on, as `device_for_rank` answers it; 'cuda:N' → backend nccl (and this
    process's current CUDA device N), anything else → gloo. Not launched by torchrun: yields a single rank and
    starts nothing.
    """
    if not launched_by_torchrun():
        yield SINGLE
        return
    if not dist.is_available():
        raise ConfigError("WORLD_SIZE > 1 asks for distributed training, but this PyTorch build has no "
                          "torch.distributed; run without torchrun")
    on_cuda = torch.device(device).type == "cuda"
    if on_cuda:
        torch.cuda.set_device(torch.device(device))
    backend = "nccl" if on_cuda else "gloo"
    started_here = not dist.is_initialized()
    if started_here:
        dist.init_process_group(backend=backend, device_id=torch.device(device) if on_cuda else None)
    finished = False
    try:
        yield current()
        finished = True
    finally:
        if started_here and dist.is_initialized():
            # DistributedDataParallel wrappers sit in reference cycles; free them while their process group still
            # exists (freed after it, at exit, gloo's threads can abort the process).
            gc.collect()
            if finished:  # every rank got here: leave together (after an error the others may be gone)
                dist.barrier()
            dist.destroy_process_group()


# ----------------------------------------------------------------------------------------------- collectives
def barrier(ranks: Ranks) -> None:
    """Wait until every rank gets here (nothing for a single rank)."""
    if ranks.distributed:
        dist.barrier()


def average(ranks: Ranks, values: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The mean over ranks of each scalar tensor, in one all_reduce (the values unchanged for a single rank)."""
    if not ranks.distributed or not values:
        return values
    names = list(values)  # every rank holds the same names in the same order
    stacked = torch.stack([values[name].detach().float().reshape(()) for name in names])
    dist.all_reduce(stacked, op=dist.ReduceOp.SUM)
    stacked /= ranks.world_size
    return {name: stacked[index] for index, name in enumerate(names)}


def total(ranks: Ranks, value: torch.Tensor) -> torch.Tensor:
    """The sum over ranks of a tensor (a copy; the value itself for a single rank)."""
    if not ranks.distributed:
        return value
    summed = value.detach().clone()
    dist.all_reduce(summed, op=dist.ReduceOp.SUM)
    return summed


def any_rank(ranks: Ranks, flag: bool, device: torch.device) -> bool:
    """True on every rank when `flag` is true on at least one (so all ranks stop at the same step)."""
    if not ranks.distributed:
        return flag
    value = torch.tensor([1 if flag else 0], dtype=torch.int32, device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def share_random_state(ranks: Ranks, device: torch.device) -> None:
    """Give every rank rank 0's state of torch's global generators (the CPU one and, on CUDA, the device's): PyTorch
    seeds them afresh in each process, and a VAE draws its reparameterisation noise from them, for the whole global
    batch on every rank (genimg.training.engine), so the ranks must agree on it as a single process would."""
    if not ranks.distributed:
        return
    carrier = device if ranks.backend == "nccl" else torch.device("cpu")  # nccl moves CUDA tensors only
    states = [torch.get_rng_state()]
    if device.type == "cuda":
        states.append(torch.cuda.get_rng_state(device))
    shared = []
    for state in states:
        moved = state.to(carrier)
        dist.broadcast(moved, src=0)
        shared.append(moved.cpu())
    torch.set_rng_state(shared[0])
    if device.type == "cuda":
        torch.cuda.set_rng_state(shared[1], device)


def gather_ints(ranks: Ranks, value: int, device: torch.device) -> list[int]:
    """Every rank's `value`, in rank order (a one-element list for a single rank)."""
    if not ranks.distributed:
        return [value]
    mine = torch.tensor([value], dtype=torch.int64, device=device)
    every = [torch.zeros_like(mine) for _ in range(ranks.world_size)]
    dist.all_gather(every, mine)
    return [int(item.item()) for item in every]
