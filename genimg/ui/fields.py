"""Number fields whose value reaches the handler as the page sent it: the handler checks it and answers in the visitor's language.

Gradio's gr.Number and gr.Slider check their bounds before any handler runs and refuse in English, titled "Error"
("Value -3 is less than minimum value 0.", "Value 5000 is greater than maximum value 1000."; an OverflowError for
1e400). A slider's number box accepts any typed number, and any client can send any value, so those checks fire on
real pages. Every tab uses these instead and validates in its handler: a refused seed reads "种子必须是…" on a
Chinese page, a slider typed past its range is drawn at the nearest end with a note. They look exactly like
gr.Number and gr.Slider in the page. What is still refused before a handler (a forged dropdown value) is answered
by genimg/ui/guard.py.
"""

from __future__ import annotations

from typing import Any

import gradio as gr


class LenientSlider(gr.Slider):
    """A gr.Slider that passes what the page sends to the handler unchecked (a number, or anything a client sends)."""

    def get_block_name(self) -> str:
        return "slider"  # drawn by gr.Slider's frontend

    def preprocess(self, payload: Any) -> Any:
        return payload


class LenientNumber(gr.Number):
    """A gr.Number whose value reaches the handler as typed (None, or a float): no bounds check, no rounding."""

    def get_block_name(self) -> str:
        return "number"  # drawn by gr.Number's frontend

    def preprocess(self, payload: Any) -> Any:
        return payload


__all__ = ["LenientNumber", "LenientSlider"]
