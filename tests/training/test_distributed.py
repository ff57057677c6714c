"""torchrun training: `torchrun --nproc_per_node=2 -m genimg train` with gloo on the CPU matches one process.

For each family (GAN, VAE, flow) a tiny run trains 2 steps on 2 ranks and in one process with the same global batch;
the losses and weights after them must agree, the checkpoint must load in the page (Renderer), and a checkpoint
must resume with the other world size (2 → 1 and 1 → 2) and continue the step count.

Tolerances: the relative difference of each logged loss, measured on this machine for the right code and for
three deliberate bugs (every rank training on rank 0's rows of the data, or of the noise, or logging its own
losses instead of the ranks' mean); the bounds sit between them. From scratch, after 2 steps (global batch 16):

    kind    right     bugs (data / noise / own losses)   bound
    flow    1.2e-7    6.3e-3 / 5.0e-1 / 4.8e-1            1e-5
    dcgan   2.3e-3    1.7e-2 / 1.0e-2 / 1.2e-2            5e-3

Resumed from a single-process checkpoint at step 2, step 4 on two ranks against one process:

    flow                 6.4e-8    (as above)                          1e-5
    dcgan                1.2e-3    5.7e-3 / 2.4e-2 / 3.0e-2            3e-3
    vae neg_elbo, rec.   1.7e-5    4.8e-4 / 1.7e-4 / 4.3e-4            5e-5
    vae kl               4.4e-3    1.4e-1 / 2.6e-2 / 8.6e-2            5e-2

(the VAE's bug figures, and a right 7.4e-6 / 1.9e-2, come from another start: an unseeded checkpoint at step 2)

The flow has GroupNorm only: two ranks reproduce one process up to float rounding (gradients summed in another
order). dcgan and vae have BatchNorm, and gloo has no SyncBatchNorm, so each rank normalises its 8 rows with their
own statistics instead of the 16 rows' ones: that is their whole difference (the VAE's small KL term, about 1.5
nats, feels it most). A VAE from scratch is not compared: it draws ε from torch's global generator, which PyTorch
seeds afresh in every process, so two single-process runs already differ; a checkpoint holds that state.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from genimg import cli
from genimg.config import ConfigError
from genimg.data.datasets import BatchStream, DatasetError, ImageData
from genimg.explore.catalog import Renderer
from genimg.store.checkpoint import load_checkpoint
from genimg.training import distributed, engine
from tests.helpers import tiny_config

FAMILIES = {"dcgan": "gan", "vae": "vae", "flow": "flow"}
FROM_SCRATCH_TOLERANCE = {"flow": {"*": 1e-5}, "dcgan": {"*": 5e-3}}  # relative, each loss at step 2
RESUMED_TOLERANCE = {"flow": {"*": 1e-5}, "dcgan": {"*": 3e-3}, "vae": {"*": 5e-5, "train_kl": 5e-2}}  # at step 4
# The flow's weights after 2 steps, as ‖two ranks − one process‖ / ‖one process‖ (measured 1.0e-4): Adam's
# first steps move a weight by about the learning rate whatever its gradient's size, so a gradient near zero
# whose sign rounding flips moves that weight by twice the rate.
FLOW_WEIGHT_TOLERANCE = 1e-3


def options(kind: str, steps: int) -> list[str]:
    return ["--model", kind, "--dataset", "shapes", "--data-limit", "256", "--image-size", "28", "--width", "8",
            "--batch-size", "16", "--steps", str(steps), "--log-every", "1", "--checkpoint-every", "100",
            "--sample-every", "100", "--threads", "1", "--quiet"]


def torchrun(arguments: list[str], processes: int = 2) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items()
                   if key not in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
    environment.update(GRADIO_ANALYTICS_ENABLED="False", HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                           f"--nproc_per_node={processes}", "-m", "genimg", "train", *arguments],
                          capture_output=True, text=True, timeout=240, check=False, env=environment,
                          cwd=Path(__file__).resolve().parents[2])


def one_process(arguments: list[str]) -> int:
    """`python -m genimg train` in this process with one thread; this process's random state is left as it was."""
    threads = torch.get_num_threads()
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            return cli.main(["train", *arguments])
    finally:
        torch.set_num_threads(threads)


def losses(path: Path) -> dict[str, float]:
    metrics = json.loads((path / "config.json").read_text())["metrics"]
    return {name: value for name, value in metrics.items() if name.startswith("train_")}


def network_state(path: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(path, with_training_state=True).training_state["model"]


def assert_losses_close(first: dict[str, float], second: dict[str, float], bounds: dict[str, float],
                        what: str) -> None:
    """Each loss of `first` within its relative bound (bounds[name], else bounds["*"]) of `second`'s."""
    assert first and first.keys() == second.keys()
    differences = {name: abs(first[name] - second[name]) / max(abs(second[name]), 1e-6) for name in first}
    print(what, {name: f"{value:.1e}" for name, value in differences.items()})
    for name, difference in differences.items():
        assert difference <= bounds.get(name, bounds["*"]), (name, difference)


def relative_weight_difference(first: dict[str, torch.Tensor], second: dict[str, torch.Tensor]) -> float:
    """‖a − b‖ / ‖b‖ over the floating-point tensors of two state dicts with the same names."""
    assert first.keys() == second.keys()
    names = [name for name in first if second[name].is_floating_point()]
    difference = sum(float((first[name].float() - second[name].float()).pow(2).sum()) for name in names)
    size = sum(float(second[name].float().pow(2).sum()) for name in names)
    return (difference / size) ** 0.5


# Five torchrun and one-process runs per kind (about 20 s each kind on 2 cores): the flow's run in the default tests,
# the GAN's and the VAE's with the slow checks.
@pytest.fixture(scope="module", params=[kind if kind == "flow" else pytest.param(kind, marks=pytest.mark.slow)
                                        for kind in FAMILIES])
def runs(request, tmp_path_factory):
    """For one kind: 2 steps from scratch on 2 ranks and in one process; each of them resumed to step 4 by the other
    world size; and the single-process run resumed by one process (the reference for steps 3 and 4)."""
    kind = request.param
    folder = tmp_path_factory.mktemp(kind)
    paths = {name: folder / name for name in ("two", "one", "two_then_one", "one_then_two", "one_then_one")}
    two = torchrun([*options(kind, 2), "--out", str(paths["two"])])
    assert two.returncode == 0, two.stdout[-3000:] + two.stderr[-3000:]
    assert one_process([*options(kind, 2), "--out", str(paths["one"])]) == 0
    one_then_two = torchrun([*options(kind, 4), "--resume", str(paths["one"]), "--out", str(paths["one_then_two"])])
    assert one_then_two.returncode == 0, one_then_two.stdout[-3000:] + one_then_two.stderr[-3000:]
    assert one_process([*options(kind, 4), "--resume", str(paths["two"]), "--out", str(paths["two_then_one"])]) == 0
    assert one_process([*options(kind, 4), "--resume", str(paths["one"]), "--out", str(paths["one_then_one"])]) == 0
    return kind, paths, {"two": two.stdout, "one_then_two": one_then_two.stdout}


def test_both_ranks_train_every_step(runs):
    _, paths, printed = runs
    assert "2 processes (gloo), 8 images each per step" in printed["two"]
    assert "genimg: 2 ranks (gloo) trained to steps 2, 2" in printed["two"]
    assert printed["two"].count("genimg: finished") == 1  # rank 0 alone prints
    assert load_checkpoint(paths["two"]).step == 2


def test_first_steps_from_scratch_match_one_process(runs):
    kind, paths, _ = runs
    if kind == "vae":
        pytest.skip("a VAE draws ε from torch's global generator, which PyTorch seeds afresh in every process, so "
                    "two single-process runs from scratch already differ; its comparison starts from a checkpoint")
    assert_losses_close(losses(paths["two"]), losses(paths["one"]), FROM_SCRATCH_TOLERANCE[kind],
                        f"{kind}: step 2 from scratch, relative differences")
    distributed_state, single_state = network_state(paths["two"]), network_state(paths["one"])
    assert not any(name.startswith("module.") for name in distributed_state)  # the unwrapped network's names
    difference = relative_weight_difference(distributed_state, single_state)
    print(f"{kind}: weights at step 2 differ by {difference:.2e} (relative)")
    if kind == "flow":  # (with BatchNorm the weights follow the per-rank statistics; the losses are checked)
        assert difference <= FLOW_WEIGHT_TOLERANCE


def test_steps_on_two_ranks_after_resuming_match_one_process(runs):
    """From the same checkpoint (weights, optimiser, data position and random state), steps 3 and 4 on two ranks
    against one process: step 4's losses follow one averaged update."""
    kind, paths, printed = runs
    assert "resumed at step 2" in printed["one_then_two"]
    assert "genimg: 2 ranks (gloo) trained to steps 4, 4" in printed["one_then_two"]
    assert load_checkpoint(paths["one_then_two"]).step == 4
    assert_losses_close(losses(paths["one_then_two"]), losses(paths["one_then_one"]), RESUMED_TOLERANCE[kind],
                        f"{kind}: step 4 after resuming on two ranks, relative differences")


def test_a_two_rank_checkpoint_resumes_in_one_process(runs):
    kind, paths, _ = runs
    assert load_checkpoint(paths["two_then_one"]).step == 4
    if kind != "vae":  # (a VAE's two starts differ, see above) 2 steps on two ranks + 2 in one process ≈ 4 in one
        assert_losses_close(losses(paths["two_then_one"]), losses(paths["one_then_one"]), RESUMED_TOLERANCE[kind],
                            f"{kind}: step 4 of a two-rank checkpoint resumed in one process, relative differences")
    # The data stream's state is global: 16 images a step, whichever world size wrote it.
    for name, step in (("two", 2), ("two_then_one", 4), ("one_then_two", 4)):
        state = load_checkpoint(paths[name], with_training_state=True).training_state
        assert state["step"] == step and state["data"]["position"] == 16 * step
    assert all(math.isfinite(value) for value in losses(paths["two_then_one"]).values())


def test_checkpoint_of_two_ranks_loads_in_the_page(runs):
    kind, paths, _ = runs
    for name in ("two", "one_then_two"):
        model, model_config = Renderer("cpu").model(paths[name])
        assert model_config.kind == kind
        latents = torch.randn(2, model_config.latent_dim, generator=torch.Generator().manual_seed(0))
        with torch.inference_mode():
            images = model.generate(latents, None)
        assert images.shape == (2, 3, 28, 28) and torch.isfinite(images).all()


# ----------------------------------------------------------------------------------- in-process pieces
def test_ranks_batches_joined_are_the_single_process_batch():
    images = torch.arange(40 * 1 * 2 * 2, dtype=torch.int64).reshape(40, 1, 2, 2).remainder(256).to(torch.uint8)
    data = ImageData(images=images, labels=torch.arange(40) % 3, class_names=["a", "b", "c"], name="numbers")
    for binarise in (False, True):
        single = BatchStream(data, 8, seed=5, binarise=binarise)
        parts = [BatchStream(data, 8, seed=5, binarise=binarise, part=(rank, 2)) for rank in range(2)]
        for _ in range(7):  # over an epoch's end (5 batches an epoch)
            whole_images, whole_labels = single.next()
            pieces = [part.next() for part in parts]
            assert pieces[0][0].shape[0] == 4
            assert torch.equal(torch.cat([piece[0] for piece in pieces]), whole_images)
            assert torch.equal(torch.cat([piece[1] for piece in pieces]), whole_labels)
        assert all(part.state_dict()["position"] == single.state_dict()["position"] for part in parts)
        assert all(part.epoch == single.epoch for part in parts)
    with pytest.raises(DatasetError, match="batch_size=9 cannot be split evenly across 2"):
        BatchStream(data, 9, part=(0, 2))


def test_a_global_batch_that_does_not_split_is_refused(monkeypatch):
    config = tiny_config("flow", batch_size=15)
    monkeypatch.setattr(distributed, "current", lambda: distributed.Ranks(rank=0, world_size=2, backend="gloo"))
    with pytest.raises(ConfigError, match="batch_size = 15 cannot be split across 2 processes"):
        next(engine.train(config))


def test_not_under_torchrun_is_a_single_rank(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert not distributed.launched_by_torchrun()
    with distributed.session("cpu") as ranks:
        assert ranks == distributed.SINGLE and not torch.distributed.is_initialized()
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert not distributed.launched_by_torchrun()
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert distributed.launched_by_torchrun()
