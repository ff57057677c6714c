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
from genimg.ui.i18n import message, t

DEFAULT = Sampling()
MAX_GUIDANCE = 10


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        return math.nan


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


def sampling_note(sampling: Sampling | None, language: str) -> str:
    """One line under the controls: steps and network calls per image ("" for a model without an ODE)."""
    if sampling is None:
        return ""
    guided = message("samples.flow_guided", language) if sampling.guidance != 1.0 else ""
    return message("samples.flow_note", language, steps=sampling.steps, calls=sampling.network_calls, guided=guided)


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
        # No minimum or maximum on the page: the handler says what is wrong in the visitor's language.
        steps = gr.Slider(1, MAX_STEPS, value=count, step=1, label=t("samples.steps"), elem_id=f"{prefix}-steps")
        solver = gr.Radio([(t(f"samples.solver.{name}"), name) for name in SOLVERS], value=DEFAULT.solver,
                          label=t("samples.solver"), elem_id=f"{prefix}-solver")
        guidance = gr.Slider(0, MAX_GUIDANCE, value=DEFAULT.guidance, step=0.25, label=t("samples.guidance"),
                             visible=bool(ode and entry.num_classes), elem_id=f"{prefix}-guidance")
        note = gr.Markdown(sampling_note(sampling_for(entry, count), "en") if ode else "", elem_id=f"{prefix}-flow-note")
    return FlowControls(group, steps, solver, guidance, note)


def shown_for(entry: ModelEntry | None, steps: Any, solver: Any, guidance: Any, language: str) -> list[Any]:
    """Updates for FlowControls.outputs: shown for a flow (guidance only when it is conditional), with its note."""
    ode = entry is not None and entry.capabilities.ode
    try:
        note = sampling_note(sampling_for(entry, steps, solver, guidance, language), language)
    except gr.Error:
        note = ""  # the drawing handler says what is wrong
    return [gr.update(visible=ode), gr.update(visible=bool(ode and entry.num_classes)), note]
