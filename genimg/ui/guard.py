"""The page's last line of defence: every failure reaches the visitor as a sentence in their language, never a bare "Error".

Handlers validate their own inputs and raise `gr.Error(message(...))` with a precise sentence. Two kinds of failure
escape that, and both would otherwise show Gradio's modal titled "Error" with nothing useful in it, or worse:
- Gradio's components refuse a value before any handler runs ("Value: x is not in the list of choices: [<every
  model's server path>]", "Value -3 is less than minimum value 0."): English on a Chinese page, and a list of server
  paths for anyone who sends a forged value.
- A handler raises something other than gr.Error (a bug, or an input nobody thought of).

`GuardedBlocks` is gr.Blocks whose `process_api` (what Gradio's queue calls for every event, the private ones too)
turns the first into `RefusedInput` ("the page received a value it does not accept") and the second into
`HandlerFailed` ("something went wrong … the page still works"), both in the visitor's language, with the full
traceback kept in the server's log. Every gr.Error's modal title is translated too. Tests tell the two apart by type:
a `HandlerFailed` in tests/test_fuzz_routes.py is a handler that needs its own validation.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from typing import Any

import gradio as gr

from genimg.ui.i18n import message, register, request_language

LOG = logging.getLogger("genimg.page")

register(
    {"guard.title": "Error",
     "guard.refused": "The page received a value it does not accept for this action. Reload the page and try again.",
     "guard.failed": "Something went wrong on the server while doing that. The page still works: try again, or "
                     "choose other settings."},
    {"guard.title": "出错了",
     "guard.refused": "页面收到了一个这个操作不接受的值。请刷新页面后再试。",
     "guard.failed": "服务器在执行这个操作时出了问题。页面仍然可以使用：请再试一次，或换一些设置。"},
)


class RefusedInput(gr.Error):
    """A component refused a value before any handler ran (the visitor sees guard.refused)."""


class HandlerFailed(gr.Error):
    """A handler raised something other than gr.Error (the visitor sees guard.failed; the log has the traceback)."""

    cause: str = ""


class _Preprocessing(Exception):
    """Marks an exception raised while Gradio's components preprocessed the inputs."""


class GuardedBlocks(gr.Blocks):
    """gr.Blocks whose every event answers failures with a sentence in the visitor's language (see module doc)."""

    async def preprocess_data(self, block_fn: Any, inputs: list[Any], state: Any, explicit_call: bool = False):
        try:
            return await super().preprocess_data(block_fn, inputs, state, explicit_call)
        except Exception as error:  # any refusal by a component, Gradio's gr.Error included
            raise _Preprocessing() from error

    async def process_api(self, block_fn: Any, inputs: list[Any], state: Any = None, request: Any = None,
                          *args: Any, **kwargs: Any) -> dict[str, Any]:
        language = request_language(request if isinstance(request, gr.Request) else None)
        try:
            return await super().process_api(block_fn, inputs, state, request, *args, **kwargs)
        except _Preprocessing as error:
            LOG.info("refused an input for %s: %s", _name(block_fn), error.__cause__)
            raise RefusedInput(message("guard.refused", language),
                               title=message("guard.title", language)) from None
        except gr.Error as error:
            if error.title == "Error":  # Gradio's default; a handler's own title stays
                error.title = message("guard.title", language)
            raise
        except Exception as error:  # the point: nothing reaches the visitor as a bare "Error"
            LOG.exception("the handler of %s failed", _name(block_fn))
            failure = HandlerFailed(message("guard.failed", language), title=message("guard.title", language))
            failure.cause = f"{type(error).__name__}: {error}"[:300]  # for the log and tests, never shown
            raise failure from None


def in_words(key: str = "guard.failed", title_key: str = "guard.title") -> Callable[[Callable], Callable]:
    """Decorate a handler (plain or streaming) whose failures deserve a sentence of its own tab ("The image could not
    be drawn (…)") rather than the page's general one: its own gr.Error passes unchanged; anything else becomes a
    `HandlerFailed` with the sentence `key` ({detail}: the exception, shortened) and title `title_key`, in the
    language of the handler's `language` argument or of its `request`, and the traceback goes to the server's log.

    One mechanism for every tab, and a `HandlerFailed` all the same: the fuzz sweep (tests/test_fuzz_routes.py) still
    sees a crash as a crash, however well it is worded. Gradio reads the wrapped signature (functools.wraps), so the
    request is still handed over."""
    def decorate(handler: Callable) -> Callable:
        signature = inspect.signature(handler)

        def failed(error: Exception, args: tuple, kwargs: dict) -> HandlerFailed:
            try:
                arguments = signature.bind_partial(*args, **kwargs).arguments
            except TypeError:
                arguments = {}
            language = arguments.get("language")
            if language not in ("en", "zh-CN"):
                language = request_language(arguments.get("request"))
            LOG.log(logging.ERROR, "the handler %s failed", getattr(handler, "__qualname__", handler), exc_info=error)
            detail = str(error) or type(error).__name__
            detail = detail if len(detail) <= 120 else detail[:119] + "…"
            failure = HandlerFailed(message(key, language, detail=detail), title=message(title_key, language))
            failure.cause = f"{type(error).__name__}: {error}"[:300]
            return failure

        if inspect.isgeneratorfunction(handler):
            @functools.wraps(handler)
            def streaming(*args: Any, **kwargs: Any) -> Any:
                try:
                    yield from handler(*args, **kwargs)
                except gr.Error:
                    raise
                except Exception as error:  # the point: whatever went wrong, the visitor reads a sentence
                    raise failed(error, args, kwargs) from error
            return streaming

        @functools.wraps(handler)
        def plain(*args: Any, **kwargs: Any) -> Any:
            try:
                return handler(*args, **kwargs)
            except gr.Error:
                raise
            except Exception as error:  # the point: whatever went wrong, the visitor reads a sentence
                raise failed(error, args, kwargs) from error
        return plain
    return decorate


def _name(block_fn: Any) -> str:
    return str(getattr(block_fn, "api_name", None) or getattr(block_fn, "name", None) or block_fn)


__all__ = ["GuardedBlocks", "HandlerFailed", "RefusedInput", "in_words"]
