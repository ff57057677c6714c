"""The training engine: events in order, every model kind learns a little, resume, stop, divergence."""

import math
import threading

import pytest
import torch

from genimg.config import ConfigError
from genimg.models.latent import seeded_latents
from genimg.models.loading import load_model
from genimg.store.checkpoint import CheckpointError, load_checkpoint
from genimg.training.engine import (
    CheckpointSaved,
    Diverged,
    EpochEnd,
    Finished,
    Progress,
    Samples,
    Started,
    Stopped,
    train,
)
from tests.helpers import blob_data, tiny_config

KINDS = [("dcgan", 28, 1), ("vae", 28, 1), ("seed-gan", 32, 3), ("seed-vae", 28, 1)]


@pytest.mark.parametrize("kind,size,channels", KINDS)
@pytest.mark.parametrize("num_classes", [0, 4])
def test_every_kind_trains(tmp_path, kind, size, channels, num_classes):
    data = blob_data(64, size, channels, num_classes)
    config = tiny_config(kind, image_size=size, channels=channels, num_classes=num_classes, steps=6,
                         out=str(tmp_path / "run"))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        before = {name: tensor.clone() for name, tensor in
                  load_initial_state(config).items()}
    events = list(train(config, data=data))
    assert isinstance(events[0], Started) and isinstance(events[-1], Finished)
    progress = [event for event in events if isinstance(event, Progress)]
    assert [event.step for event in progress] == sorted(event.step for event in progress)
    for event in progress:
        assert all(torch.isfinite(torch.tensor(value)) for value in event.losses.values())
        assert event.images_per_second > 0
    expected = {"generator", "discriminator", "d_real", "d_fake"} if "gan" in kind else {"neg_elbo", "reconstruction", "kl"}
    assert set(progress[-1].losses) == expected
    samples = [event for event in events if isinstance(event, Samples)]
    assert samples and samples[-1].grid.dtype.name == "uint8"
    model, _, saved = load_model(tmp_path / "run")
    assert saved["step"] == 6
    changed = [name for name, tensor in model.state_dict().items()
               if name in before and tensor.dtype.is_floating_point and not torch.equal(tensor, before[name])]
    assert changed, "training changed no parameter"
    assert (tmp_path / "run" / "samples.png").stat().st_size > 0


def load_initial_state(config):
    from genimg.models import build_model
    torch.manual_seed(config.seed)
    return build_model(config.model).state_dict()


def test_vae_reports_elbo_in_nats_and_improves():
    data = blob_data(128, 28, 1)
    config = tiny_config("vae", steps=60, log_every=10, sample_every=1000, checkpoint_every=1000,
                         lr_generator=3e-3, adam_beta1=0.9)
    progress = [event for event in train(config, data=data) if isinstance(event, Progress)]
    first, last = progress[0].losses, progress[-1].losses
    assert last["neg_elbo"] == pytest.approx(last["reconstruction"] + last["kl"], rel=1e-4)
    assert last["neg_elbo"] < first["neg_elbo"]


def test_a_vae_trained_with_the_mmd_term_logs_it_and_one_without_logs_none():
    data = blob_data(64, 28, 1)
    settings = dict(steps=12, log_every=4, sample_every=1000, checkpoint_every=1000, lr_generator=3e-3,
                    adam_beta1=0.9)
    weighted = [event.losses for event in train(tiny_config("vae", mmd_weight=300.0, **settings), data=data)
                if isinstance(event, Progress)]
    plain = [event.losses for event in train(tiny_config("vae", **settings), data=data) if isinstance(event, Progress)]
    assert all("mmd" in losses and math.isfinite(losses["mmd"]) for losses in weighted)
    assert all("mmd" not in losses for losses in plain)  # the page's runs show no new curve


def test_events_in_order_with_checkpoints(tmp_path):
    config = tiny_config("dcgan", steps=7, out=str(tmp_path / "run"), log_every=2, sample_every=3,
                         checkpoint_every=3)
    events = list(train(config, data=blob_data(32)))
    kinds = [type(event).__name__ for event in events]
    assert kinds[0] == "Started" and kinds[-1] == "Finished"
    saved_steps = [event.step for event in events if isinstance(event, CheckpointSaved)]
    assert saved_steps == [3, 6, 7]
    assert any(isinstance(event, EpochEnd) for event in events)  # 32 images / batch 16 = 2 steps an epoch
    assert events[-1].path == str(tmp_path / "run")


def test_resume_continues_step_optimizer_and_data_order(tmp_path):
    data = blob_data(64)
    full = tiny_config("dcgan", steps=8, out=str(tmp_path / "full"), checkpoint_every=4)
    list(train(full, data=data))
    half = tiny_config("dcgan", steps=4, out=str(tmp_path / "half"), checkpoint_every=4)
    list(train(half, data=data))
    resumed = list(train(half.replace(steps=8), data=data, resume=tmp_path / "half"))
    assert resumed[0].step == 4 and resumed[0].resumed_from is not None
    assert resumed[-1].step == 8
    straight = load_checkpoint(tmp_path / "full").weights
    continued = load_checkpoint(tmp_path / "half").weights
    for name in straight:
        assert torch.allclose(straight[name], continued[name], atol=1e-5), name
    state = load_checkpoint(tmp_path / "half", with_training_state=True).training_state
    assert state["step"] == 8
    assert state["optimizers"]["generator"]["state"]


def rates_per_update(config, data, monkeypatch, resume=None) -> list[tuple[float, ...]]:
    """Each update's learning rates, one per optimiser in the order they stepped, read as Adam steps."""
    seen: list[float] = []
    original = torch.optim.Adam.step

    def step(self, *args, **kwargs):
        seen.append(self.param_groups[0]["lr"])
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", step)
    list(train(config, data=data, resume=resume))
    monkeypatch.setattr(torch.optim.Adam, "step", original)
    per_update = len(seen) // (config.steps - (load_checkpoint(resume).step if resume else 0))
    return [tuple(seen[index:index + per_update]) for index in range(0, len(seen), per_update)]


def test_learning_rates_fall_linearly_to_zero_after_lr_decay_from(monkeypatch, tmp_path):
    data = blob_data(64)
    vae = rates_per_update(tiny_config("vae", steps=6, lr_generator=1e-3, lr_decay_from=2), data, monkeypatch)
    assert [rates[0] for rates in vae] == pytest.approx([1e-3, 1e-3, 1e-3, 0.75e-3, 0.5e-3, 0.25e-3])
    # a GAN's two rates keep their ratio (D steps first, then G)
    gan = rates_per_update(tiny_config("dcgan", steps=4, lr_generator=2e-4, lr_discriminator=4e-4, lr_decay_from=0),
                           data, monkeypatch)
    assert gan == [pytest.approx((4e-4 * share, 2e-4 * share)) for share in (1, 0.75, 0.5, 0.25)]
    constant = rates_per_update(tiny_config("vae", steps=3, lr_generator=1e-3), data, monkeypatch)
    assert constant == [(1e-3,)] * 3
    # a run trained at constant rates is annealed by resuming it with a later total and a start: the saved (constant)
    # rate is the base, the decay runs from the start to the new total
    list(train(tiny_config("vae", steps=4, lr_generator=1e-3, out=str(tmp_path / "run")), data=data))
    annealed = rates_per_update(tiny_config("vae", steps=8, lr_generator=1e-3, lr_decay_from=4), data, monkeypatch,
                                resume=tmp_path / "run")
    assert [rates[0] for rates in annealed] == pytest.approx([1e-3, 0.75e-3, 0.5e-3, 0.25e-3])


def test_resume_refuses_when_already_done(tmp_path):
    config = tiny_config("vae", steps=3, out=str(tmp_path / "run"))
    list(train(config, data=blob_data(32)))
    with pytest.raises(ConfigError, match="already at step 3"):
        list(train(config, data=blob_data(32), resume=tmp_path / "run"))


def test_stop_event_saves_and_reports(tmp_path):
    stop = threading.Event()
    config = tiny_config("dcgan", steps=1000, out=str(tmp_path / "run"), checkpoint_every=500)
    events = []
    for event in train(config, data=blob_data(32), stop=stop):
        events.append(event)
        if isinstance(event, Progress) and event.step >= 4:
            stop.set()
    assert isinstance(events[-1], Stopped) and "user" in events[-1].reason
    assert load_checkpoint(tmp_path / "run").step == events[-1].step < 1000


def test_time_limit_stops_the_run():
    config = tiny_config("vae", steps=100_000, max_seconds=0.5, sample_every=10_000, checkpoint_every=10_000)
    events = list(train(config, data=blob_data(32)))
    assert isinstance(events[-1], Stopped) and "time limit" in events[-1].reason


def test_closing_the_generator_keeps_a_checkpoint(tmp_path):
    config = tiny_config("dcgan", steps=1000, out=str(tmp_path / "run"), checkpoint_every=500)
    stream = train(config, data=blob_data(32))
    for event in stream:
        if isinstance(event, Progress) and event.step >= 4:
            break
    stream.close()  # what a closed browser tab does to a streaming handler
    assert load_checkpoint(tmp_path / "run").step >= 4


def test_divergence_ends_the_run_and_keeps_the_last_good_checkpoint(tmp_path):
    from genimg.training import engine

    def poison(step, model):  # the discriminator's weights turn to NaN before step 6
        if step == 6:
            with torch.no_grad():
                for parameter in model.discriminator.parameters():
                    parameter.fill_(float("nan"))

    config = tiny_config("dcgan", steps=50, out=str(tmp_path / "run"), log_every=1, checkpoint_every=3)
    with engine.before_each_step(poison):
        events = list(train(config, data=blob_data(32)))
    assert isinstance(events[-1], Diverged)
    # both losses pass through the poisoned discriminator; the first one the step reports is named
    assert events[-1].loss_name == "generator" and math.isnan(events[-1].value) and events[-1].step == 6
    assert events[-1].path == str(tmp_path / "run")
    assert load_checkpoint(tmp_path / "run").step == 3


def test_runs_are_reproducible_for_a_seed():
    data = blob_data(32)
    config = tiny_config("dcgan", steps=4)
    first = [event.losses for event in train(config, data=data) if isinstance(event, Progress)]
    second = [event.losses for event in train(config, data=data) if isinstance(event, Progress)]
    assert first == second


def test_seeded_latents_are_device_independent_and_stable():
    a = seeded_latents(42, 4, 8)
    b = seeded_latents(42, 4, 8)
    assert torch.equal(a, b)
    assert not torch.equal(a, seeded_latents(43, 4, 8))
    assert torch.equal(seeded_latents(42, 2, 8), a[:2])  # the first images of a grid do not depend on its size
    with pytest.raises(ValueError, match="seed"):
        seeded_latents(-1, 1, 8)


@pytest.mark.parametrize("settings,needle", [
    ({"steps": 0}, "steps"), ({"steps": 10**12}, "steps"), ({"batch_size": 0}, "batch_size"),
    ({"lr_generator": -1.0}, "lr_generator"), ({"lr_discriminator": 0.0}, "lr_discriminator"),
    ({"lr_generator": float("nan")}, "lr_generator"), ({"beta": -1.0}, "beta"),
    ({"ema_decay": 1.0}, "ema_decay"), ({"precision": "fp8"}, "precision"), ({"gan_loss": "wgan"}, "gan_loss"),
    ({"lr_decay_from": 6}, "lr_decay_from"), ({"lr_decay_from": -1}, "lr_decay_from"),
    ({"lr_decay_from": 2.5}, "lr_decay_from"),
])
def test_absurd_settings_are_refused(settings, needle):
    with pytest.raises(ConfigError, match=needle):
        tiny_config("dcgan", **settings)


def test_batch_larger_than_data_is_refused():
    with pytest.raises(ConfigError, match="batch_size = 16 is larger"):
        list(train(tiny_config("dcgan"), data=blob_data(8)))


def test_conditional_model_needs_labels():
    with pytest.raises(ConfigError, match="needs labels"):
        list(train(tiny_config("dcgan", num_classes=4), data=blob_data(32)))


def test_tampered_checkpoint_gives_a_clear_error(tmp_path):
    list(train(tiny_config("vae", steps=3, out=str(tmp_path / "run")), data=blob_data(32)))
    weights = next((tmp_path / "run").glob("weights-*.safetensors"))
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(CheckpointError, match=str(weights.name)):
        load_model(tmp_path / "run")


def test_ema_warms_up_and_tracks_the_weights():
    from genimg.training.engine import _Run

    run = _Run(tiny_config("dcgan", ema_decay=0.999), blob_data(32), None)
    decays = []
    for step in (0, 10, 100, 1000, 100_000):
        run.step = step
        decays.append(run.ema_decay())
    assert decays[0] == pytest.approx(0.1) and decays == sorted(decays) and decays[-1] == 0.999
    with torch.no_grad():  # move the weights; after 200 warmed-up updates the average is close to them
        for parameter in run.sampler.parameters():
            parameter.add_(1.0)
    for step in range(200):
        run.step = step
        run.update_ema()
    gaps = [(average - current).abs().max().item()
            for average, current in zip(run.ema.parameters(), run.sampler.parameters())]
    assert max(gaps) < 0.05


def test_progress_carries_health_signals_from_the_training_step():
    """GANs report the generator's gradient norm; VAEs their active latent dimensions, from the step's own
    encoder outputs."""
    from genimg.training.engine import Progress, train

    for kind, key in (("dcgan", "generator_grad_norm"), ("vae", "active_dims")):
        events = [event for event in train(tiny_config(kind, steps=4), data=blob_data(64))
                  if isinstance(event, Progress)]
        assert events and all(key in event.signals for event in events)
        if kind == "vae":
            assert all(event.signals["latent_dim"] == 8 and 0 <= event.signals["active_dims"] <= 8
                       for event in events)
        else:
            assert all(event.signals[key] > 0 for event in events)


def test_a_refused_save_stops_the_run_and_keeps_the_last_checkpoint(tmp_path):
    """The disk guard is asked before every checkpoint, with at least what the save writes; once it refuses,
    nothing more is written and the run ends Stopped with its reason and the last checkpoint intact."""
    from genimg.store.workspace import folder_size

    out = tmp_path / "run"
    asked: list[int] = []

    def guard(needed_bytes: int) -> str | None:
        asked.append(needed_bytes)
        return None if len(asked) == 1 else "stopped: the workspace's disk share is full"

    config = tiny_config("dcgan", steps=12, checkpoint_every=3, out=str(out))
    events = list(train(config, data=blob_data(64, 28, 1, 0), disk_guard=guard))
    ending = events[-1]
    assert isinstance(ending, Stopped) and ending.reason == "stopped: the workspace's disk share is full"
    assert ending.path == str(out) and ending.step == 6 and len(asked) == 2
    assert [event.step for event in events if isinstance(event, CheckpointSaved)] == [3]
    checkpoint = load_checkpoint(out, with_training_state=True)
    assert checkpoint.step == 3 and checkpoint.training_state is not None
    assert asked[0] >= folder_size(out)  # the estimate covers everything the save wrote


def test_slow_sample_grids_are_spaced_so_drawing_takes_at_most_a_fifth_of_the_run():
    from genimg.training.engine import GRID_TIME_SHARE, grid_interval

    assert grid_interval(1.5, 0.005) == 1.5  # a GAN's grid: as often as asked
    slow = grid_interval(1.5, 0.7)  # a conditional flow's grid on 2 CPU cores
    assert slow > 1.5 and 0.7 / (0.7 + slow) == pytest.approx(GRID_TIME_SHARE)
    assert grid_interval(1.5, 0.0) == 1.5
