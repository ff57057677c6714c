"""The page with MCP on (issue 17): an assistant's client lists exactly the five tools, typed and documented, and calls
them; nothing else of the page (Train, Save, Delete) is a tool; refusals come back as sentences."""

from __future__ import annotations

import asyncio
import base64
import io

import gradio as gr
import numpy as np
import pytest
from PIL import Image

from genimg.explore.catalog import Renderer, discover
from genimg.ui.context import ExploreContext
from genimg.ui.explore import build_explore_tab
from genimg.ui.mcp_tools import TOOLS, AssistantTools, build_tools, hide_other_endpoints, mcp_requested

mcp = pytest.importorskip("mcp", reason="the MCP client package (gradio[mcp] in requirements.txt) is not installed")
pytestmark = pytest.mark.usefixtures("one_thread")


def test_mcp_is_off_unless_asked_for():
    assert not mcp_requested(["app.py"], {})
    assert mcp_requested(["app.py", "--mcp"], {})
    assert mcp_requested(["app.py"], {"GENIMG_MCP": "1"}) and mcp_requested(["app.py"], {"GENIMG_MCP": " True "})
    assert not mcp_requested(["app.py"], {"GENIMG_MCP": "0"}) and not mcp_requested(["app.py"], {"GENIMG_MCP": ""})


@pytest.fixture(scope="module")
def mcp_url(tiny_models):
    folders = [tiny_models[name].parent for name in ("gan", "vae")][:1]
    context = ExploreContext(Renderer("cpu"), discover(*folders))
    with gr.Blocks() as demo:
        build_explore_tab(context)  # the page's own endpoints ("samples") must not become tools
        build_tools(AssistantTools(context))
    hidden = hide_other_endpoints(demo)
    assert "samples" in hidden
    _, url, _ = demo.launch(mcp_server=True, prevent_thread_lock=True, quiet=True, server_name="127.0.0.1")
    yield url + "gradio_api/mcp/"
    demo.close()


def with_session(url: str, action):
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    async def run():
        async with streamable_http_client(url) as (read, write, _), ClientSession(read, write) as session:
            await session.initialize()
            return await action(session)

    return asyncio.run(run())


def png_base64(picture: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(picture).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def test_a_client_lists_exactly_the_tools_with_typed_documented_parameters(mcp_url):
    tools = {tool.name: tool for tool in with_session(mcp_url, lambda session: session.list_tools()).tools}
    assert set(tools) == set(TOOLS)
    sample = tools["sample"].inputSchema["properties"]
    assert sample["model"]["type"] == "string" and sample["count"]["type"] == "number"
    assert "list_models" in sample["model"]["description"] and "1 to 64" in sample["count"]["description"]
    assert tools["sample"].inputSchema["required"] == ["model"]
    assert "latent" in tools["interpolate"].description and "seed_b" in tools["interpolate"].inputSchema["properties"]


def test_a_client_calls_the_tools_and_gets_pictures_and_text(mcp_url):
    async def calls(session):
        listed = await session.call_tool("list_models", {})
        drawn = await session.call_tool("sample", {"model": "gan", "seed": 3, "count": 4, "image_class": ""})
        again = await session.call_tool("sample", {"model": "gan", "seed": 3, "count": 4, "image_class": ""})
        walk = await session.call_tool("interpolate", {"model": "vae", "seed_a": 1, "seed_b": 2, "frames": 5})
        digit = np.zeros((28, 28), np.uint8)
        digit[6:22, 12:16] = 255
        code = await session.call_tool("encode", {"model": "vae", "image": png_base64(digit), "image_class": ""})
        return listed, drawn, again, walk, code

    listed, drawn, again, walk, code = with_session(mcp_url, calls)
    text = listed.content[0].text
    assert "gan: GAN" in text and "vae: VAE" in text and "can encode pictures" in text, text
    assert not drawn.isError and drawn.content[0].type == "image" and drawn.content[0].mimeType == "image/png"
    assert drawn.content[0].data == again.content[0].data  # a seed draws the same pictures every time
    strip = Image.open(io.BytesIO(base64.b64decode(walk.content[0].data)))
    assert strip.width > 4 * strip.height  # five frames in a row
    assert not code.isError and code.content[0].type == "image"
    words = " ".join(part.text for part in code.content if part.type == "text")
    assert "KL" in words and "z1" in words, words  # the code's numbers come back as text


@pytest.mark.parametrize("arguments, words", [
    ({"model": "/etc/passwd", "seed": 1}, "No model is called '/etc/passwd'. The models here: cgan, cvae, gan"),
    ({"model": "gan", "seed": -4}, "seed"),
    ({"model": "gan", "seed": 1, "image_class": "7"}, None),  # an unconditional model ignores the class
])
def test_bad_arguments_come_back_as_sentences_and_the_server_stays_up(mcp_url, arguments, words):
    async def calls(session):
        return await session.call_tool("sample", arguments), await session.call_tool("list_models", {})

    result, still_up = with_session(mcp_url, calls)
    if words is None:
        assert not result.isError
    else:
        assert result.isError and words in result.content[0].text, result.content[0].text
    assert not still_up.isError and "gan" in still_up.content[0].text


def test_the_page_lists_only_the_tools_with_mcp_on_and_none_without(tiny_models, tmp_path):
    import app
    from genimg.store.workspace import Workspaces

    folder = [str(tiny_models["gan"].parent)]
    on = app.build_demo(folder, workspaces=Workspaces(tmp_path / "on"), mcp=True)
    assert set(on.get_api_info()["named_endpoints"]) == {f"/tool_{name}" for name in TOOLS}
    off = app.build_demo(folder, workspaces=Workspaces(tmp_path / "off"))
    endpoints = set(off.get_api_info()["named_endpoints"])
    assert "/samples" in endpoints and "/train" in endpoints and not any("/tool_" in name for name in endpoints)
