"""How a flow model draws, as a tab's controls: ODE steps, the solver and (for a conditional flow) guidance.

Shown only while a model that draws by an ODE is picked (its kind's capability `ode`); a tab passes the values to
`sampling_for`, which checks them in the visitor's language, and draws inside `genimg.models.flow.drawing(...)`, so
one visitor's settings never change the shared model another visitor draws with.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import gradio as gr

from genimg.explore.catalog import ModelEntry
from genimg.models.flow import MAX_STEPS, SOLVERS, Sampling
from genimg.ui.fields import LenientSlider
from genimg.ui.i18n import message, register, t

DEFAULT = Sampling()
MAX_GUIDANCE = 10
# The most network work one drawing may ask for, in image × network calls: the Samples tab's full grid at the flow's
# own settings (64 images × 20 guided Heun steps = 64 × 80), about 2.5 s on 2 CPU cores for a width-48 flow. More
# steps are offered for fewer images (100 guided Heun steps: up to 12), so no visitor's request holds the server for
# long.
MAX_WORK = 64 * 80

register({
    "samples.flow_settings": "How the flow draws",
    "samples.steps": "ODE steps (more: finer, slower)",
    "samples.solver": "Solver",
    "samples.solver.euler": "Euler (1 network call a step)",
    "samples.solver.heun": "Heun (2 calls a step, more exact)",
    "samples.solver_name.euler": "Euler",
    "samples.solver_name.heun": "Heun",
    "samples.guidance": "Guidance (1 = none; higher: more typical of the class)",
    "samples.bad_steps": "The number of steps must be a whole number from 1 to {most}.",
    "samples.bad_solver": "{value} is not a solver this page offers: choose Euler or Heun.",
    "samples.bad_guidance": "The guidance must be a number from 0 to {most}.",
    "samples.flow_note": "ODE steps: **{steps}**, {calls} network calls per image{guided}. Fewer steps are faster "
                         "and rougher.",
    "samples.flow_guided": " (guidance doubles them)",
    "samples.too_much": "{count} images in {steps} {solver} steps is more than the page draws at once ({calls} network "
                        "calls each): at this setting choose at most {most} images, or fewer steps.",
}, {
    "samples.flow_settings": "流模型如何生成",
    "samples.steps": "ODE 步数（越多越精细，也越慢）",
    "samples.solver": "求解器",
    "samples.solver.euler": "Euler 法（每步 1 次网络调用）",
    "samples.solver.heun": "Heun 法（每步 2 次调用，更精确）",
    "samples.solver_name.euler": "Euler 法",
    "samples.solver_name.heun": "Heun 法",
    "samples.guidance": "引导强度（1 = 不引导；越高越像该类别的典型样子）",
    "samples.bad_steps": "步数必须是 1 到 {most} 之间的整数。",
    "samples.bad_solver": "{value} 不是本页提供的求解器：请选择 Euler 或 Heun。",
    "samples.bad_guidance": "引导强度必须是 0 到 {most} 之间的数字。",
    "samples.flow_note": "ODE 步数：**{steps}**，每张图 {calls} 次网络调用{guided}。步数越少越快，也越粗糙。",
    "samples.flow_guided": "（引导使其加倍）",
    "samples.too_much": "用 {solver}走 {steps} 步生成 {count} 张图，超出了本页一次生成的量（每张 {calls} 次网络调用）："
                        "在这个设置下最多选 {most} 张，或者减少步数。",
})


def _number(value: Any) -> float:
    if isinstance(value, bool):  # True is 1 to Python, not a step count a visitor chose
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        return math.nan


def network_calls(entry: ModelEntry, sampling: Sampling) -> int:
    """Network calls per image for `entry` drawn with `sampling`: steps × (2 for Heun) × (2 with guidance)."""
    guided = bool(entry.num_classes) and sampling.guidance != 1.0
    return sampling.network_calls * (2 if guided else 1)


def check_work(entry: ModelEntry, sampling: Sampling | None, count: int, language: str) -> None:
    """gr.Error in `language` when `count` images at `sampling` exceed MAX_WORK (nothing for a one-pass model)."""
    if sampling is None:
        return
    calls = network_calls(entry, sampling)
    if count * calls > MAX_WORK:
        raise gr.Error(message("samples.too_much", language, count=count, steps=sampling.steps, calls=calls,
                               solver=message(f"samples.solver_name.{sampling.solver}", language),
                               most=max(1, MAX_WORK // calls)))


def sampling_for(entry: ModelEntry | None, steps: Any = None, solver: Any = None, guidance: Any = None,
                 language: str = "en") -> Sampling | None:
    """The Sampling the controls ask for, for a model that draws by an ODE; None for any other model (the values
    are then ignored: they belong to controls that are hidden). Missing values take the flow's defaults; wrong
    ones raise gr.Error in `language`."""
    if entry is None or not entry.capabilities.ode:
        return None
    count = DEFAULT.steps if steps in (None, "") else _number(steps)
    if not (math.isfinite(count) and count == int(count) and 1 <= count <= MAX_STEPS):
        raise gr.Error(message("samples.bad_steps", language, most=MAX_STEPS))
    solver = DEFAULT.solver if solver in (None, "") else solver
    if solver not in SOLVERS:
        shown = repr(solver) if len(repr(solver)) <= 40 else repr(solver)[:36] + "…"
        raise gr.Error(message("samples.bad_solver", language, value=shown))
    strength = DEFAULT.guidance if guidance in (None, "") else _number(guidance)
    if not (math.isfinite(strength) and 0 <= strength <= MAX_GUIDANCE):
        raise gr.Error(message("samples.bad_guidance", language, most=MAX_GUIDANCE))
    return Sampling(steps=int(count), solver=solver, guidance=strength if entry.num_classes else 1.0)


def sampling_note(entry: ModelEntry | None, sampling: Sampling | None, language: str) -> str:
    """One line under the controls: steps and network calls per image, guidance counted ("" without an ODE)."""
    if entry is None or sampling is None:
        return ""
    calls = network_calls(entry, sampling)
    guided = message("samples.flow_guided", language) if calls != sampling.network_calls else ""
    return message("samples.flow_note", language, steps=sampling.steps, calls=calls, guided=guided)


@dataclass
class FlowControls:
    group: Any
    steps: Any
    solver: Any
    guidance: Any
    note: Any

    @property
    def inputs(self) -> list[Any]:
        return [self.steps, self.solver, self.guidance]

    @property
    def outputs(self) -> list[Any]:
        """What `shown_for` updates when the model changes."""
        return [self.group, self.guidance, self.note]


def build_flow_controls(prefix: str, entry: ModelEntry | None = None, steps: int = DEFAULT.steps) -> FlowControls:
    """The controls, inside the current layout; elem_ids `<prefix>-flow`, `<prefix>-steps`, `-solver`, `-guidance`.
    Visible from the start when `entry` (the first model shown) draws by an ODE; `steps`: the first step count."""
    ode = entry is not None and entry.capabilities.ode
    count = steps
    with gr.Group(visible=ode, elem_id=f"{prefix}-flow") as group:
        # Lenient: a number typed outside the range reaches the handler, which says what is wrong in the visitor's
        # language (a plain gr.Slider refuses it first, in Gradio's English).
        steps = LenientSlider(1, MAX_STEPS, value=count, step=1, label=t("samples.steps"), elem_id=f"{prefix}-steps")
        solver = gr.Radio([(t(f"samples.solver.{name}"), name) for name in SOLVERS], value=DEFAULT.solver,
                          label=t("samples.solver"), elem_id=f"{prefix}-solver")
        guidance = LenientSlider(0, MAX_GUIDANCE, value=DEFAULT.guidance, step=0.25, label=t("samples.guidance"),
                                 visible=bool(ode and entry.num_classes), elem_id=f"{prefix}-guidance")
        note = gr.Markdown(sampling_note(entry, sampling_for(entry, count), "en") if ode else "",
                           elem_id=f"{prefix}-flow-note")
    return FlowControls(group, steps, solver, guidance, note)


def shown_for(entry: ModelEntry | None, steps: Any, solver: Any, guidance: Any, language: str) -> list[Any]:
    """Updates for FlowControls.outputs: shown for a flow (guidance only when it is conditional), with its note."""
    ode = entry is not None and entry.capabilities.ode
    try:
        note = sampling_note(entry, sampling_for(entry, steps, solver, guidance, language), language)
    except gr.Error:
        note = ""  # the drawing handler says what is wrong
    return [gr.update(visible=ode), gr.update(visible=bool(ode and entry.num_classes)), note]
