"""RunView: a scripted run of typed events gives the curves, replay grids, step, ETA, status and health alarms
the Train tab shows; curves and grids stay within their caps and still span the run; the view deep-copies
(Gradio keeps it in gr.State)."""

from __future__ import annotations

import copy
import itertools

import numpy as np
import pytest

from genimg.config import ModelConfig, TrainConfig
from genimg.training.engine import (
    CheckpointSaved,
    Diverged,
    EpochEnd,
    Finished,
    Progress,
    Samples,
    Started,
    Stopped,
)
from genimg.training.health import PERSISTENCE, WARMUP_STEPS
from genimg.training.runview import (
    MAX_GRIDS,
    MAX_POINTS,
    ReplayGrid,
    RunView,
    append_thinned,
    ema_smooth,
    eta_seconds,
)
from genimg.training.worker import WorkerFailed, WorkerWarning

CONFIG = TrainConfig(model=ModelConfig(kind="dcgan", image_size=32, channels=3, latent_dim=8, width=8),
                     dataset="shapes", steps=2000, batch_size=32, max_seconds=60.0)


def started(step: int = 0, config: TrainConfig = CONFIG, resumed_from: str | None = None) -> Started:
    return Started(step=step, total_steps=config.steps, device="cpu", precision="fp32", parameters=12_345,
                   dataset="shapes", dataset_size=3_000, resumed_from=resumed_from, config=config)


def progress(step: int, *, speed: float = 3200.0, elapsed: float = 1.0, **losses: float) -> Progress:
    values = losses or {"generator": 1.0, "discriminator": 1.2, "d_real": 0.6, "d_fake": 0.4}
    return Progress(step=step, epoch=0, losses=values, images_per_second=speed, elapsed_seconds=elapsed,
                    total_steps=CONFIG.steps, signals={"generator_grad_norm": 1.0})


def samples(step: int, diversity: float | None = 0.8, value: int = 0) -> Samples:
    return Samples(step=step, grid=np.full((10, 12, 3), value, np.uint8), columns=8, diversity=diversity)


def fresh_view(**fields) -> RunView:
    view = RunView(run="/tmp/run-1", family="gan", **fields)
    view.begin_session(CONFIG)
    return view


# ------------------------------------------------------------------------------------------- a whole run
def test_a_scripted_run_fills_curves_grids_and_status_in_order():
    view = fresh_view()
    assert view.monitor is not None and view.total == 2000 and view.batch == 32 and view.time_limit_seconds == 60.0
    view.apply(started())
    assert view.title == "shapes"  # no title given: the dataset's name
    assert view.status.key == "started"
    assert view.status.values == {"title": "shapes", "parameters": 12_345, "images": 3_000, "device": "cpu",
                                  "precision": "fp32"}
    view.apply(progress(5, elapsed=0.5))
    view.apply(samples(5, value=7))
    view.apply(progress(10, elapsed=1.5, generator=0.9, discriminator=1.1))
    view.apply(CheckpointSaved(step=10, path="/tmp/run-1"))
    view.apply(EpochEnd(step=10, epoch=1))
    view.apply(WorkerWarning("step 10 could not be kept for replay: disk full"))
    assert [point.step for point in view.rows] == [5, 10]
    assert view.rows[1].values == {"generator": 0.9, "discriminator": 1.1}
    assert view.step == 10 and view.saved_step == 10 and view.elapsed_seconds == 1.5
    assert view.status.key == "training" and view.status.values["speed"] == 3200.0
    assert [(grid.step, grid.elapsed_seconds) for grid in view.grids] == [(5, 0.5)]  # the time of its report
    assert view.grids[0].image.dtype == np.uint8 and int(view.grids[0].image.max()) == 7
    assert view.warning is not None and "disk full" in view.warning
    assert not view.ended

    view.apply(Finished(step=2000, path="/tmp/run-1", elapsed_seconds=61.0))
    assert view.ended and view.step == 2000
    assert view.status.key == "ended" and view.status.values == {"why": "finished", "step": 2000, "elapsed": 61.0}
    assert view.eta() is None


def test_a_given_title_is_kept_when_the_run_starts():
    view = fresh_view(title="DCGAN on Shapes")
    view.apply(started())
    assert view.title == "DCGAN on Shapes" and view.status.values["title"] == "DCGAN on Shapes"


@pytest.mark.parametrize("reason, why", [("stopped by the user", "by_user"),
                                         ("time limit of 60 s reached", "time_limit")])
def test_a_stopped_run_says_why(reason, why):
    view = fresh_view()
    view.apply(started())
    view.apply(progress(40))
    view.apply(Stopped(step=42, path="/tmp/run-1", reason=reason, elapsed_seconds=12.5))
    assert view.ended and view.step == 42
    assert view.status.key == "ended" and view.status.values == {"why": why, "step": 42, "elapsed": 12.5}


@pytest.mark.parametrize("scope, key, values", [("disk", "disk_full", {"quota": "300"}),
                                                 ("budget", "budget_full", {"budget": "2048"})])
def test_a_run_stopped_because_the_disk_is_full_says_so_not_the_time_limit(scope, key, values):
    """The worker stops a run whose next checkpoint would pass the workspace's share or the server's budget; its
    reason starts with STOPPED_FOR_DISK / STOPPED_FOR_BUDGET, and the page used to call it the time limit."""
    from genimg.store.workspace import STOPPED_FOR_BUDGET, STOPPED_FOR_DISK

    view = fresh_view()
    view.quota_mb, view.budget_mb = 300.0, 2048.0
    view.apply(started())
    view.apply(progress(40))
    reason = {"disk": STOPPED_FOR_DISK, "budget": STOPPED_FOR_BUDGET}[scope] + ": the workspace holds 301 MB"
    view.apply(Stopped(step=42, path="/tmp/run-1", reason=reason, elapsed_seconds=12.5))
    assert view.ended and view.step == 42
    assert view.status.key == key and view.status.values == {**values, "step": 42, "elapsed": 12.5}


def test_divergence_names_the_loss_keeps_the_last_checkpoint_and_raises_the_alarm():
    view = fresh_view()
    view.apply(started())
    view.apply(CheckpointSaved(step=25, path="/tmp/run-1"))
    view.apply(Diverged(step=31, loss_name="generator", value=float("nan"), path="/tmp/run-1"))
    assert view.ended and view.status.key == "diverged"
    assert view.status.values["loss"] == "generator" and view.status.values["step"] == 31
    assert view.status.values["kept"] == 25
    assert [alarm.key for alarm in view.monitor.alarms] == ["divergence"]

    nothing_saved = fresh_view()
    nothing_saved.apply(Diverged(step=3, loss_name="kl", value=float("inf"), path=None))
    assert nothing_saved.status.values["kept"] is None


def test_a_resumed_run_counts_its_starting_checkpoint_as_kept():
    view = RunView(run="/tmp/run-1")
    view.begin_session(CONFIG, family="gan", elapsed_before=30.0)
    view.apply(started(step=500, resumed_from="/tmp/run-1"))
    assert view.saved_step == 500


def test_a_failed_worker_ends_the_session_with_its_message():
    view = fresh_view()
    view.apply(WorkerFailed("not a zip file"))
    assert view.ended and view.status.key == "failed" and view.status.values == {"error": "not a zip file"}


def test_anything_but_an_event_is_refused_by_name():
    with pytest.raises(TypeError, match="dict"):
        fresh_view().apply({"type": "Progress", "step": 1})


# ---------------------------------------------------------------------------------------------- thinning
def test_append_thinned_keeps_the_first_and_newest_and_halves_the_rest():
    items: list[int] = []
    for number in range(11):
        append_thinned(items, number, 10)
    assert items == [0, 2, 4, 6, 8, 10]  # 11 > 10: every other older item dropped
    for number in range(11, 100):
        append_thinned(items, number, 10)
        assert len(items) <= 10 and items[0] == 0 and items[-1] == number


def test_curves_and_grids_are_thinned_at_their_caps_and_still_span_the_run():
    view = fresh_view()
    for step in range(1, MAX_POINTS + 1):
        view.apply(progress(step))
    assert len(view.rows) == MAX_POINTS  # at the cap, nothing dropped yet
    view.apply(progress(MAX_POINTS + 1))
    steps = [point.step for point in view.rows]
    assert len(steps) == MAX_POINTS // 2 + 1 and steps[0] == 1 and steps[-1] == MAX_POINTS + 1
    assert len({later - earlier for earlier, later in itertools.pairwise(steps)}) == 1  # evenly spaced

    for step in range(1, MAX_GRIDS + 2):
        view.apply(samples(step, diversity=None))
    grid_steps = [grid.step for grid in view.grids]
    assert len(grid_steps) == MAX_GRIDS // 2 + 1 and grid_steps[0] == 1 and grid_steps[-1] == MAX_GRIDS + 1


# --------------------------------------------------------------------------------------------------- ETA
def test_eta_is_steps_left_times_batch_over_speed():
    assert eta_seconds(1_000, 32, 3_200.0) == pytest.approx(10.0)
    assert eta_seconds(1_000, 32, 3_200.0, time_left=4.0) == pytest.approx(4.0)   # the time limit comes first
    assert eta_seconds(1_000, 32, 3_200.0, time_left=30.0) == pytest.approx(10.0)
    assert eta_seconds(1_000, 32, 3_200.0, time_left=-2.0) == 0.0                 # past the limit: about now
    assert eta_seconds(1_000, 32, 0.0) is None                                    # no speed yet


def test_the_view_estimates_its_eta_from_its_latest_report_and_its_time_limit():
    view = fresh_view()
    assert view.eta() is None  # before the first report
    view.apply(started())
    view.apply(progress(1_000, speed=3_200.0, elapsed=20.0))  # 1,000 of 2,000 steps left at batch 32
    assert view.eta() == pytest.approx(10.0)
    view.apply(progress(1_000, speed=3_200.0, elapsed=55.0))  # 5 s before the 60 s limit
    assert view.eta() == pytest.approx(5.0)

    # A resumed session brings 100 s of earlier training: its own 60 s limit counts from there.
    resumed = RunView(run="/tmp/run-1")
    resumed.begin_session(CONFIG, family="gan", elapsed_before=100.0)
    resumed.apply(started(step=900, resumed_from="/tmp/run-1"))
    resumed.apply(progress(1_000, speed=3_200.0, elapsed=150.0))
    assert resumed.eta() == pytest.approx(10.0)
    resumed.apply(progress(1_000, speed=3_200.0, elapsed=157.0))
    assert resumed.eta() == pytest.approx(3.0)


def test_the_eta_moves_smoothly_through_noisy_speeds_and_converges_to_the_time_left():
    """Report speeds swing ±40 % around the true speed (grids, checkpoints, data loading); halfway the true
    speed halves (another run starts on the machine). The ETA shown at each update must move by a bounded
    fraction (the raw per-report ETA would jump by far more), and settle near the true time left."""
    config = CONFIG.replace(steps=100_000, max_seconds=None)
    view = RunView(run="/tmp/run-1", family="gan")
    view.begin_session(config)
    view.apply(started(config=config))
    generator = np.random.default_rng(12)
    shown, raw, truth = [], [], []
    for report in range(1, 801):
        step = 5 * report  # far from the end: the steps left shrink by at most a few per cent over the test
        true_speed = 3_000.0 if report <= 400 else 1_500.0
        speed = true_speed * generator.uniform(0.6, 1.4)
        view.apply(progress(step, speed=speed, elapsed=float(report)))
        steps_left = config.steps - step
        shown.append(view.eta())
        raw.append(eta_seconds(steps_left, config.batch_size, speed))
        truth.append(steps_left * config.batch_size / true_speed)

    def largest_relative_change(etas: list[float]) -> float:
        return max(abs(after - before) / before for before, after in itertools.pairwise(etas))

    assert largest_relative_change(raw) > 0.5  # the noise the ETA used to show
    assert largest_relative_change(shown) < 0.1
    # Settled: within 20 % of the true time left once ~60 reports have passed since the start and the slowdown.
    for window in (range(60, 400), range(460, 800)):
        for index in window:
            assert abs(shown[index] - truth[index]) / truth[index] < 0.2, index
    assert np.mean([shown[index] / truth[index] for index in range(460, 800)]) == pytest.approx(1.0, abs=0.05)


def test_a_new_session_starts_its_speed_afresh():
    """A resumed session on another machine must not go by the last session's speed."""
    view = fresh_view()
    view.apply(started())
    view.apply(progress(100, speed=10_000.0))
    view.begin_session(CONFIG)
    view.apply(started(step=100))
    view.apply(progress(1_000, speed=3_200.0, elapsed=20.0))
    assert view.eta() == pytest.approx(10.0)


# ------------------------------------------------------------------------------------------------ health
def test_health_alarms_are_raised_through_the_view():
    view = fresh_view()
    view.apply(progress(10))
    for step in range(WARMUP_STEPS, WARMUP_STEPS + 10 * PERSISTENCE, 10):
        view.apply(progress(step, d_real=0.99, d_fake=0.01))
    assert [alarm.key for alarm in view.monitor.alarms] == ["discriminator_wins"]
    view.apply(progress(WARMUP_STEPS + 100, d_real=0.6, d_fake=0.4))
    assert view.monitor.alarms == []

    view.apply(samples(50, diversity=0.9))
    view.apply(samples(WARMUP_STEPS + 200, diversity=0.1))
    view.apply(samples(WARMUP_STEPS + 210, diversity=0.1))
    assert [alarm.key for alarm in view.monitor.alarms] == ["mode_collapse"]


def test_a_vae_view_watches_for_posterior_collapse():
    view = RunView(run="/tmp/run-2")
    view.begin_session(CONFIG, family="vae")
    assert view.monitor.family == "vae"
    for step in range(WARMUP_STEPS, WARMUP_STEPS + 10 * PERSISTENCE, 10):
        view.apply(progress(step, neg_elbo=200.0, reconstruction=199.9, kl=0.1))
    assert [alarm.key for alarm in view.monitor.alarms] == ["posterior_collapse"]


def test_a_new_session_keeps_the_runs_history_but_not_its_ending():
    view = fresh_view()
    view.apply(progress(40, speed=900.0))
    view.apply(Stopped(step=40, path="/tmp/run-1", reason="stopped by the user", elapsed_seconds=9.0))
    monitor = view.monitor
    view.begin_session(CONFIG.replace(steps=60), elapsed_before=9.0)
    assert not view.ended and view.total == 60 and view.images_per_second == 0.0 and view.elapsed_seconds == 9.0
    assert [point.step for point in view.rows] == [40] and view.monitor is monitor
    view.begin_session(CONFIG, family="vae")  # another family: its own health checks
    assert view.monitor is not monitor and view.monitor.family == "vae"


def test_replay_grids_give_back_their_exact_pixels_in_less_memory():
    rng = np.random.default_rng(1)
    colour = rng.integers(0, 256, (34, 66, 3), dtype=np.uint8)
    colour[:, :40] = 48  # the grey gaps and black backgrounds of a real grid compress well
    grey = rng.integers(0, 256, (30, 30), dtype=np.uint8)
    for image in (colour, grey):
        grid = ReplayGrid.of(7, 1.5, image)
        assert grid.image.dtype == np.uint8 and grid.image.shape == image.shape
        assert np.array_equal(grid.image, image)
    assert len(ReplayGrid.of(7, 1.5, colour).compressed) < colour.nbytes
    with pytest.raises(ValueError, match="float32"):
        ReplayGrid.of(7, 1.5, np.zeros((4, 4), np.float32))


# ------------------------------------------------------------------------------------------- page helpers
def test_each_new_grid_is_reported_unshown_once():
    view = fresh_view()
    assert view.newest_grid_unshown() is False  # no grid at all
    view.apply(samples(3))
    assert view.newest_grid_unshown() is True
    assert view.newest_grid_unshown() is False
    view.apply(samples(6))
    assert view.newest_grid_unshown() is True


def test_replay_positions_are_clamped_to_the_grids_kept():
    view = fresh_view()
    assert view.grid_position(5) == 0
    for step in (1, 2, 3):
        view.apply(samples(step))
    assert [view.grid_position(index) for index in (-4, 0, 2, 99)] == [0, 0, 2, 2]


def test_the_view_deep_copies_into_an_independent_view():
    view = fresh_view(title="DCGAN on Shapes")
    view.apply(started())
    view.apply(progress(120, d_real=0.99, d_fake=0.01))
    view.apply(samples(120, value=9))
    copied = copy.deepcopy(view)
    assert copied.title == view.title and copied.status == view.status and copied.rows == view.rows
    assert np.array_equal(copied.grids[0].image, view.grids[0].image)
    assert copied.monitor == view.monitor and copied.monitor is not view.monitor
    copied.apply(progress(130))
    copied.apply(samples(130))
    assert len(view.rows) == 1 and len(view.grids) == 1 and view.step == 120


def test_smoothing_averages_the_curve_without_pulling_its_start_to_zero():
    noisy = [10.0 + (3.0 if index % 2 else -3.0) for index in range(40)]  # 7, 13, 7, 13, …: mean 10
    assert ema_smooth(noisy, 0.0) == noisy
    smoothed = ema_smooth(noisy, 0.9)
    assert len(smoothed) == len(noisy) and smoothed[0] == noisy[0]  # debiased: starts at the first value
    assert max(abs(value - 10.0) for value in smoothed[20:]) < 1.0  # the swing of ±3 is mostly gone
    assert ema_smooth([1.0, 3.0], 0.5) == pytest.approx([1.0, 7 / 3])
    assert np.isnan(ema_smooth([2.0, float("nan"), 2.0], 0.5)[1])  # NaN kept
    assert ema_smooth([2.0, float("nan"), 2.0], 0.5)[2] == pytest.approx(2.0)  # and does not poison the rest
    for weight in (-0.1, 1.0, 5.0):
        with pytest.raises(ValueError, match="smoothing weight"):
            ema_smooth([1.0], weight)
