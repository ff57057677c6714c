"""Training health alarms in plain words: what went wrong in a run, read from its events, and what to try.

The monitor reads what the engine reports (losses, D(x) and D(G(z)), the generator's gradient norm,
sample diversity, the VAE's KL and active latent dimensions) and raises an alarm only when a
symptom persists over several reports, so one noisy batch does not cry wolf. It works on plain
dicts, so the page (which receives events from a worker process) and tests can feed it alike.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

# A symptom must be seen this many reports in a row before it becomes an alarm.
PERSISTENCE = 4
# The first steps of every run look unhealthy (random weights); alarms wait for this many steps.
WARMUP_STEPS = 100


@dataclass(frozen=True)
class Alarm:
    key: str         # mode_collapse | discriminator_wins | vanishing_gradients | posterior_collapse | divergence
    title: str
    explanation: str
    advice: str

    def markdown(self) -> str:
        return f"**⚠ {self.title}.** {self.explanation} *Try:* {self.advice}"


ALARMS = {
    "mode_collapse": Alarm(
        "mode_collapse", "Mode collapse",
        "The samples are becoming alike: different latent vectors give nearly the same picture, so the "
        "generator has found a few images that fool the discriminator and stopped covering the data.",
        "lower the learning rates (e.g. 1e-4), use the hinge loss, or resume from an earlier step in the replay."),
    "discriminator_wins": Alarm(
        "discriminator_wins", "The discriminator is winning",
        "D(x) stays near 1 and D(G(z)) near 0: the discriminator tells real from generated images every time, "
        "so it gives the generator little to learn from.",
        "lower the discriminator's learning rate or raise the generator's; the hinge loss also helps."),
    "vanishing_gradients": Alarm(
        "vanishing_gradients", "Vanishing generator gradients",
        "The generator's gradient has shrunk to a tiny fraction of its early size, so its weights barely "
        "change and the samples stop improving.",
        "keep the non-saturating loss, lower the discriminator's learning rate, or restart with another seed."),
    "posterior_collapse": Alarm(
        "posterior_collapse", "Posterior collapse",
        "The KL term is near zero and few latent dimensions are in use: the decoder ignores the latent code, "
        "so samples and encodings carry little information about the input.",
        "lower β, lengthen the KL warm-up, or use a smaller latent size."),
    "divergence": Alarm(
        "divergence", "Training diverged",
        "A loss became NaN or infinite; the run stopped and the last good checkpoint was kept.",
        "lower the learning rates (e.g. by 10×) and resume, or start again."),
}


# The families whose symptoms this module knows (genimg.models.registry.FAMILIES).
FAMILY_RULES = ("gan", "vae", "flow")  # a flow has one loss to watch: only divergence applies to it


@dataclass
class HealthMonitor:
    """Feed it every report of a run; `alarms` holds the ones currently raised (in a stable order)."""

    family: str  # "gan", "vae" or "flow"
    streaks: dict[str, int] = field(default_factory=dict)
    raised: dict[str, Alarm] = field(default_factory=dict)
    early_grad_norm: float = 0.0
    peak_diversity: float = 0.0

    def __post_init__(self) -> None:
        if self.family not in FAMILY_RULES:
            raise ValueError(f"no health rules for the {self.family!r} family; known: {', '.join(FAMILY_RULES)}")

    def _observe(self, key: str, symptom: bool) -> None:
        self.streaks[key] = self.streaks.get(key, 0) + 1 if symptom else 0
        if self.streaks[key] >= PERSISTENCE:
            self.raised[key] = ALARMS[key]
        elif not symptom:
            self.raised.pop(key, None)

    def progress(self, step: int, losses: dict[str, float], signals: dict[str, float] | None = None) -> None:
        """A Progress report: mean losses since the last one, and the engine's health signals."""
        signals = signals or {}
        if any(not math.isfinite(value) for value in losses.values()):
            self.diverged()
            return
        if self.family == "gan":
            norm = signals.get("generator_grad_norm")
            if norm is not None and step <= 4 * WARMUP_STEPS:
                self.early_grad_norm = max(self.early_grad_norm, norm)
            if step < WARMUP_STEPS:
                return
            d_real, d_fake = losses.get("d_real"), losses.get("d_fake")
            if d_real is not None and d_fake is not None:
                self._observe("discriminator_wins", d_real > 0.95 and d_fake < 0.05)
            if norm is not None and self.early_grad_norm > 0:
                self._observe("vanishing_gradients", norm < 0.01 * self.early_grad_norm)
        elif self.family == "vae":
            if step < WARMUP_STEPS:
                return
            kl = losses.get("kl")
            active, latent = signals.get("active_dims"), signals.get("latent_dim")
            few_active = active is not None and latent is not None and latent >= 2 and active <= max(1, latent // 8)
            self._observe("posterior_collapse", (kl is not None and kl < 0.5) or few_active)

    def samples(self, step: int, diversity: float | None) -> None:
        """A Samples report: the samples' diversity relative to real images."""
        if self.family != "gan" or diversity is None:
            return
        self.peak_diversity = max(self.peak_diversity, diversity)
        if step < WARMUP_STEPS:
            return
        # Collapsed samples are far less varied than the data, and less varied than this run once drew.
        collapsed = diversity < 0.35 and diversity < 0.6 * self.peak_diversity
        # Samples report less often than losses: two in a row are enough.
        self.streaks["mode_collapse"] = self.streaks.get("mode_collapse", 0) + 1 if collapsed else 0
        if self.streaks["mode_collapse"] >= 2:
            self.raised["mode_collapse"] = ALARMS["mode_collapse"]
        elif not collapsed:
            self.raised.pop("mode_collapse", None)

    def diverged(self) -> None:
        self.raised["divergence"] = ALARMS["divergence"]

    @property
    def alarms(self) -> list[Alarm]:
        return [ALARMS[key] for key in ALARMS if key in self.raised]

    def markdown(self) -> str:
        """The raised alarms as Markdown, or a one-line all-clear."""
        if not self.raised:
            return "✓ No health alarms: the losses, gradients and samples look normal for this stage."
        return "\n\n".join(alarm.markdown() for alarm in self.alarms)
