"""A fuzz sweep over every route of the page: no hostile value may end in a bare "Error" or a hang.

A public page answers any client, and a client is not bound to the page's own widgets: it can call every event the
page wires (the private ones too, by their index in the queue) with any JSON it likes. For every event with a Python
handler, the sweep replaces one input at a time with a hostile value (wrong type, absurd number, NaN, a path outside
the app, a huge string, a forged workspace token…), and then all inputs at once, and runs the event the way
Gradio's queue does (`Blocks.process_api`: the components' preprocessing, the handler, postprocessing; a streaming
handler's first chunk). Each call must either answer, or refuse with a `gr.Error` that carries a sentence of genimg's
own — not Gradio's English validation text, not an absolute server path — and finish within PATIENCE_SECONDS.
The page's guard (genimg/ui/guard.py) answers a component's refusal of a forged value with its own sentence
(acceptable) and a handler's crash with another (a failure here: the handler must validate that input itself); any
other exception is what the visitor would see as a bare "Error".

The whole sweep is bounded: one pass over every input of every event (about 400 calls on today's page), run on tiny
models and a tiny-network Train tab.
"""

from __future__ import annotations

import asyncio
import math
import re
import threading
from dataclasses import dataclass
from typing import Any

import gradio as gr
import pytest

from genimg.ui.guard import HandlerFailed, RefusedInput

# Values a hostile client sends in place of a widget's value. Each kind of widget gets every one of them over the
# sweep (the value is chosen by the input's position, so the same page always gets the same sweep).
HOSTILE: list[Any] = [
    None,
    -3,
    1e308,
    math.nan,
    "1" * 401,                    # a 401-digit number as text
    "../../../../etc/passwd",
    {"path": "/etc/passwd", "meta": {"_type": "gradio.FileData"}},
    [[[[1]]]],
    "x" * 200_000,
    "forged-token.0000000000000000000000000000000000",
    -(2**70),
    {"nested": {"deeper": [None, math.inf]}},
    "",
    True,
    "\x00\ud800",
]
PATIENCE_SECONDS = 20.0
# Gradio's own English refusals, which a visitor on a Chinese page cannot read and which name no fix.
GRADIO_WORDS = re.compile(r"less than minimum|greater than maximum|not in the list of choices|Value: .* is not|"
                          r"Cannot process|Invalid value", re.IGNORECASE)
SERVER_PATH = re.compile(r"(?<![\w.])/(?:tmp|work|home|root|usr|etc|proc|var)/")


@dataclass
class Outcome:
    event: str
    position: int | None
    value: Any
    problem: str

    def __str__(self) -> str:
        shown = repr(self.value)
        where = "all inputs" if self.position is None else f"input {self.position}"
        return f"{self.event} [{where} = {shown[:40]}]: {self.problem}"


@pytest.fixture(scope="module")
def page(tiny_models, tmp_path_factory):
    """The page on tiny models, with a Train tab that builds 8-wide networks and allows 5 steps per run."""
    import app
    from genimg.explore.catalog import Renderer, discover
    from genimg.store.workspace import Workspaces
    from genimg.ui.context import ExploreContext
    from genimg.ui.train_tab import Limits, TrainHandlers

    folder = str(next(iter(tiny_models.values())).parent)
    workspaces = Workspaces(tmp_path_factory.mktemp("fuzz-workspaces"))
    context = ExploreContext(Renderer("cpu"), discover(folder), workspaces=workspaces)
    trainer = TrainHandlers(context, workspaces, limits=Limits(5, 30.0, 1, 1), width=8)
    demo = app.build_demo([folder], trainer=trainer)
    # Launched, as on a Space: Gradio then refuses file paths a visitor did not upload (it checks only once launched).
    app.launch(demo, server_name="127.0.0.1", prevent_thread_lock=True, quiet=True)
    yield demo
    demo.close()
    trainer.pool.shutdown()


def event_name(index: int, block_fn: Any) -> str:
    name = getattr(block_fn, "api_name", None) or getattr(block_fn, "name", None) or "event"
    return f"#{index} {name}"


def call(demo: gr.Blocks, block_fn: Any, inputs: list[Any]) -> BaseException | None:
    """Run one event as the queue would; the exception it raised, or None. Raises TimeoutError past the patience."""
    outcome: dict[str, BaseException | None] = {"error": None}

    async def run() -> None:
        from gradio.state_holder import SessionState

        result = await demo.process_api(block_fn, list(inputs), state=SessionState(demo), request=None)
        iterator = result.get("iterator")
        if iterator is not None and hasattr(iterator, "aclose"):
            await iterator.aclose()

    def target() -> None:
        try:
            asyncio.run(run())
        except BaseException as error:  # noqa: BLE001 - every kind is classified by the caller
            outcome["error"] = error

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(PATIENCE_SECONDS)
    if thread.is_alive():
        raise TimeoutError
    return outcome["error"]


def judge(error: BaseException | None) -> str | None:
    """What a visitor would see wrong, or None when the answer is acceptable. A component's refusal of a value no
    widget sends (the page's guard answers it with its own sentence) is acceptable; a handler that crashed is not,
    even though the guard turns the crash into a sentence: that handler needs its own validation."""
    if error is None or isinstance(error, RefusedInput):
        return None
    if isinstance(error, HandlerFailed):
        return f"the handler crashed ({error.cause[:120]})"
    if not isinstance(error, gr.Error):
        return f"bare Error ({type(error).__name__}: {str(error)[:120]})"
    text = str(getattr(error, "message", error) or "")
    if not text.strip():
        return "an Error with no sentence"
    if GRADIO_WORDS.search(text):
        return f"Gradio's own English text: {text[:120]!r}"
    if SERVER_PATH.search(text):
        return f"a server path in the message: {text[:120]!r}"
    return None


def default_inputs(block_fn: Any) -> list[Any]:
    """Each input component's value as the page first shows it (Gradio's wire format)."""
    return [getattr(component, "value", None) for component in block_fn.inputs]


def test_no_route_answers_a_hostile_value_with_a_bare_error(page):
    demo = page
    problems: list[Outcome] = []
    calls = 0
    for index, block_fn in demo.fns.items():
        if block_fn.fn is None:  # runs in the browser only
            continue
        name = event_name(index, block_fn)
        base = default_inputs(block_fn)
        trials: list[tuple[int | None, list[Any], Any]] = []
        for position in range(len(base)):
            value = HOSTILE[(index + position) % len(HOSTILE)]
            trials.append((position, [*base[:position], value, *base[position + 1:]], value))
        value = HOSTILE[index % len(HOSTILE)]
        trials.append((None, [value] * len(base), value))
        for position, inputs, value in trials:
            calls += 1
            try:
                problem = judge(call(demo, block_fn, inputs))
            except TimeoutError:
                problem = f"no answer within {PATIENCE_SECONDS:.0f} s"
            if problem:
                problems.append(Outcome(name, position, value, problem))
    assert calls >= len(demo.fns) // 2, f"the sweep ran only {calls} calls"
    report = "\n".join(str(outcome) for outcome in problems[:60])
    assert not problems, f"{len(problems)} of {calls} calls went wrong:\n{report}"


def test_the_sweep_notices_a_bare_error():
    """The judge itself: a handler's own exception is a bare Error; a gr.Error with a sentence is not."""
    assert judge(ValueError("boom")) is not None
    assert judge(gr.Error("Value -3 is less than minimum value 0.")) is not None
    assert judge(gr.Error("Could not read /tmp/gradio/abc/file.png")) is not None
    assert judge(gr.Error("")) is not None
    assert judge(gr.Error("种子必须是 0 到 2^63 之间的整数。")) is None
    assert judge(None) is None
    assert judge(RefusedInput("The page received a value it does not accept.")) is None
    crashed = HandlerFailed("Something went wrong.")
    crashed.cause = "KeyError: 'x'"
    assert "KeyError" in judge(crashed)
