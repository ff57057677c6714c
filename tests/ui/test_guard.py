"""genimg.ui.guard: a component's refusal and a handler's crash both reach the visitor as a sentence in their
language, with no server path, and the page answers the next request."""

from __future__ import annotations

import asyncio

import gradio as gr
import pytest

from genimg.ui.guard import GuardedBlocks, HandlerFailed, RefusedInput
from genimg.ui.i18n import message

SECRET_PATH = "/srv/models/secret-model"


def request(language: str) -> gr.Request:
    return gr.Request(headers={"accept-language": language}, query_params={})


@pytest.fixture(scope="module")
def page():
    with GuardedBlocks() as demo:
        model = gr.Dropdown([SECRET_PATH], value=SECRET_PATH)
        seed = gr.Number(0, minimum=0)
        out = gr.Textbox()
        gr.Button().click(lambda path, number: f"{path}:{number}", [model, seed], out, api_name="draw")
        gr.Button().click(lambda path, number: 1 / 0, [model, seed], out, api_name="crash")
        gr.Button().click(lambda path, number: (_ for _ in ()).throw(gr.Error("种子无效。")), [model, seed], out,
                          api_name="refuse")
    return demo


def run(demo: gr.Blocks, name: str, inputs: list, language: str = "en"):
    index = next(index for index, block_fn in demo.fns.items() if block_fn.api_name == name)
    return asyncio.run(demo.process_api(index, inputs, request=request(language)))


def test_a_good_call_answers(page):
    assert run(page, "draw", [SECRET_PATH, 3])["data"] == [f"{SECRET_PATH}:3"]


@pytest.mark.parametrize("inputs", [["forged", 1], [SECRET_PATH, -3], [SECRET_PATH, "abc"], [[1], {"a": 1}]])
@pytest.mark.parametrize("language", ["en", "zh-CN"])
def test_a_refused_value_gets_a_sentence_in_the_visitors_language_and_no_path(page, inputs, language):
    with pytest.raises(RefusedInput) as caught:
        run(page, "draw", inputs, language)
    assert caught.value.message == message("guard.refused", language)
    assert caught.value.title == message("guard.title", language)
    assert SECRET_PATH not in caught.value.message and "minimum" not in caught.value.message


@pytest.mark.parametrize("language", ["en", "zh-CN"])
def test_a_crash_is_a_sentence_not_a_bare_error(page, language):
    with pytest.raises(HandlerFailed) as caught:
        run(page, "crash", [SECRET_PATH, 1], language)
    assert caught.value.message == message("guard.failed", language)
    assert "division" not in caught.value.message
    assert run(page, "draw", [SECRET_PATH, 1])["data"] == [f"{SECRET_PATH}:1"]  # still answers


def test_a_handlers_own_refusal_keeps_its_sentence_and_gets_a_translated_title(page):
    with pytest.raises(gr.Error) as caught:
        run(page, "refuse", [SECRET_PATH, 1], "zh-CN")
    assert not isinstance(caught.value, (RefusedInput, HandlerFailed))
    assert caught.value.message == "种子无效。" and caught.value.title == "出错了"
