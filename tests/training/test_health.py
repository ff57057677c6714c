"""genimg.training.health: each alarm is raised only once its symptom lasts, never during warm-up, and clears again."""

import math

import pytest

from genimg.training.health import ALARMS, PERSISTENCE, WARMUP_STEPS, HealthMonitor

AFTER_WARMUP = WARMUP_STEPS * 5  # past the window in which a GAN's early gradient norm is measured
HEALTHY_GAN = ({"generator": 1.0, "discriminator": 1.2, "d_real": 0.6, "d_fake": 0.4}, {"generator_grad_norm": 1.0})
HEALTHY_VAE = ({"neg_elbo": 150.0, "kl": 20.0}, {"active_dims": 8.0, "latent_dim": 8.0})


def gan_monitor() -> HealthMonitor:
    """A GAN monitor that has seen one healthy early report (its reference gradient norm)."""
    monitor = HealthMonitor("gan")
    monitor.progress(1, *HEALTHY_GAN)
    return monitor


# Each symptom as the reports that show it, from a monitor that starts healthy.
SYMPTOMS = {
    "discriminator_wins": ("gan", {"d_real": 0.99, "d_fake": 0.01}, {"generator_grad_norm": 1.0}),
    "vanishing_gradients": ("gan", {"d_real": 0.6, "d_fake": 0.4}, {"generator_grad_norm": 1e-4}),
    "posterior_collapse": ("vae", {"neg_elbo": 190.0, "kl": 0.05}, {"active_dims": 8.0, "latent_dim": 8.0}),
}


def monitor_for(family: str) -> HealthMonitor:
    return gan_monitor() if family == "gan" else HealthMonitor("vae")


def keys(monitor: HealthMonitor) -> list[str]:
    return [alarm.key for alarm in monitor.alarms]


@pytest.mark.parametrize("key", sorted(SYMPTOMS))
def test_an_alarm_needs_the_symptom_to_last(key):
    family, losses, signals = SYMPTOMS[key]
    monitor = monitor_for(family)
    for report in range(PERSISTENCE - 1):
        monitor.progress(AFTER_WARMUP + report, losses, signals)
        assert key not in keys(monitor), f"raised after {report + 1} report(s)"
    monitor.progress(AFTER_WARMUP + PERSISTENCE, losses, signals)
    assert keys(monitor) == [key]
    assert ALARMS[key].title in monitor.markdown() and "*Try:*" in monitor.markdown()


@pytest.mark.parametrize("key", sorted(SYMPTOMS))
def test_an_interrupted_symptom_starts_counting_again(key):
    family, losses, signals = SYMPTOMS[key]
    healthy = HEALTHY_GAN if family == "gan" else HEALTHY_VAE
    monitor = monitor_for(family)
    step = AFTER_WARMUP
    for _ in range(3):
        for _ in range(PERSISTENCE - 1):
            step += 1
            monitor.progress(step, losses, signals)
        step += 1
        monitor.progress(step, *healthy)
    assert monitor.alarms == []


@pytest.mark.parametrize("key", sorted(SYMPTOMS))
def test_an_alarm_clears_when_the_symptom_goes(key):
    family, losses, signals = SYMPTOMS[key]
    monitor = monitor_for(family)
    for report in range(PERSISTENCE + 3):
        monitor.progress(AFTER_WARMUP + report, losses, signals)
    assert keys(monitor) == [key]
    monitor.progress(AFTER_WARMUP + 10 * PERSISTENCE, *(HEALTHY_GAN if family == "gan" else HEALTHY_VAE))
    assert monitor.alarms == [] and monitor.markdown().startswith("✓")


@pytest.mark.parametrize("key", sorted(SYMPTOMS))
def test_no_alarm_during_warm_up(key):
    family, losses, signals = SYMPTOMS[key]
    monitor = monitor_for(family)
    for step in range(2, WARMUP_STEPS, max(1, WARMUP_STEPS // (4 * PERSISTENCE))):
        monitor.progress(step, losses, signals)
    assert monitor.alarms == []


def test_posterior_collapse_also_shows_as_few_active_dimensions():
    """A healthy-looking KL with almost every latent dimension unused is still a collapse."""
    monitor = HealthMonitor("vae")
    for report in range(PERSISTENCE):
        monitor.progress(AFTER_WARMUP + report, {"neg_elbo": 150.0, "kl": 20.0},
                         {"active_dims": 1.0, "latent_dim": 32.0})
    assert keys(monitor) == ["posterior_collapse"]
    spread = HealthMonitor("vae")  # a 1-D latent in use is not "few of many"
    for report in range(PERSISTENCE):
        spread.progress(AFTER_WARMUP + report, {"neg_elbo": 150.0, "kl": 20.0},
                        {"active_dims": 1.0, "latent_dim": 1.0})
    assert spread.alarms == []


def test_vanishing_gradients_are_judged_against_the_runs_own_early_norm():
    """A small gradient is normal for a model whose early gradients were small too; without an early
    measurement nothing is raised."""
    small_from_the_start = HealthMonitor("gan")
    small_from_the_start.progress(1, HEALTHY_GAN[0], {"generator_grad_norm": 2e-4})
    never_measured = HealthMonitor("gan")
    for report in range(PERSISTENCE + 2):
        for monitor in (small_from_the_start, never_measured):
            monitor.progress(AFTER_WARMUP + report, HEALTHY_GAN[0], {"generator_grad_norm": 1e-4})
    assert small_from_the_start.alarms == [] and never_measured.alarms == []
    # a large norm seen only after the early window does not become the reference either
    late = HealthMonitor("gan")
    late.progress(AFTER_WARMUP, HEALTHY_GAN[0], {"generator_grad_norm": 1000.0})
    assert late.early_grad_norm == 0.0


@pytest.mark.parametrize("family", ["gan", "vae"])
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_a_non_finite_loss_raises_divergence_at_once_and_it_stays(family, bad):
    monitor = monitor_for(family)
    healthy = HEALTHY_GAN if family == "gan" else HEALTHY_VAE
    monitor.progress(2, {**healthy[0], next(iter(healthy[0])): bad}, healthy[1])  # even during warm-up
    assert keys(monitor) == ["divergence"]
    monitor.progress(AFTER_WARMUP, *healthy)
    assert keys(monitor) == ["divergence"]  # the run has stopped; a later report does not undo that


def test_mode_collapse_needs_two_low_sample_reports_below_the_runs_own_peak():
    monitor = HealthMonitor("gan")
    monitor.samples(10, 0.9)  # the run's peak diversity, during warm-up
    monitor.samples(AFTER_WARMUP, 0.1)
    assert monitor.alarms == []
    monitor.samples(AFTER_WARMUP + 1, 0.1)
    assert keys(monitor) == ["mode_collapse"]
    monitor.samples(AFTER_WARMUP + 2, None)  # no measurement changes nothing
    assert keys(monitor) == ["mode_collapse"]
    monitor.samples(AFTER_WARMUP + 3, 0.8)
    assert monitor.alarms == []


def test_mode_collapse_ignores_data_that_was_never_varied_and_warm_up():
    plain_data = HealthMonitor("gan")  # low diversity from the start: the data, not a collapse
    for step in (10, AFTER_WARMUP, AFTER_WARMUP + 1, AFTER_WARMUP + 2):
        plain_data.samples(step, 0.3)
    assert plain_data.alarms == []
    early = HealthMonitor("gan")
    early.samples(1, 0.9)
    for step in range(2, 2 + 2 * PERSISTENCE):
        early.samples(min(step, WARMUP_STEPS - 1), 0.05)
    assert early.alarms == []
    vae = HealthMonitor("vae")  # the diversity alarm is a GAN's
    for step in (10, AFTER_WARMUP, AFTER_WARMUP + 1, AFTER_WARMUP + 2):
        vae.samples(step, 0.9 if step == 10 else 0.01)
    assert vae.alarms == []


def test_alarms_are_listed_in_a_fixed_order_whatever_order_they_came_in():
    monitor = gan_monitor()
    monitor.samples(10, 0.9)
    monitor.samples(AFTER_WARMUP, 0.1)
    monitor.samples(AFTER_WARMUP + 1, 0.1)  # mode collapse first
    for report in range(PERSISTENCE):
        monitor.progress(AFTER_WARMUP + 2 + report, {"d_real": 0.99, "d_fake": 0.01}, {"generator_grad_norm": 1e-4})
    raised = keys(monitor)
    assert raised == [key for key in ALARMS if key in raised]
    assert set(raised) == {"mode_collapse", "discriminator_wins", "vanishing_gradients"}
    text = monitor.markdown()
    assert all(ALARMS[key].title in text for key in raised) and text.count("⚠") == len(raised)


def test_a_family_without_health_rules_is_refused():
    with pytest.raises(ValueError, match="no health rules for the 'diffusion' family"):
        HealthMonitor("diffusion")
