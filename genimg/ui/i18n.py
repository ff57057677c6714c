"""English and Simplified Chinese for the whole page: labels, explanations and the messages handlers return.

Each tab module registers its own table at import time:

    register({"encode.title": "Encode your drawing"}, {"encode.title": "编码你的手绘"})

Layout code uses `t("encode.title")` (the browser translates it by its language); handlers return
`message("encode.empty", language)` with the language from `request_language(request)`, because text a
handler returns is not translated by the browser.
"""

from __future__ import annotations

import gradio as gr
from gradio.i18n import I18nData

LANGUAGES = ("en", "zh-CN")
# Markdown with $inline$ and $$display$$ formulas
LATEX = [{"left": "$$", "right": "$$", "display": True}, {"left": "$", "right": "$", "display": False}]
_TABLES: dict[str, dict[str, str]] = {language: {} for language in LANGUAGES}


def register(english: dict[str, str], chinese: dict[str, str]) -> None:
    """Add one module's strings; both languages must have the same keys, and keys must be new."""
    if set(english) != set(chinese):
        missing = sorted(set(english) ^ set(chinese))
        raise ValueError(f"translation keys differ between English and Chinese: {missing}")
    for key in english:
        if key in _TABLES["en"] and (_TABLES["en"][key], _TABLES["zh-CN"][key]) != (english[key], chinese[key]):
            raise ValueError(f"translation key {key!r} is registered twice with different text")
    _TABLES["en"].update(english)
    _TABLES["zh-CN"].update(chinese)


def t(key: str) -> I18nData:
    """A label or text that the browser shows in its own language."""
    if key not in _TABLES["en"]:
        raise KeyError(f"no translation registered for {key!r}")
    return I18nData(key)


def message(key: str, language: str = "en", **values: object) -> str:
    """Text a handler returns, in `language`, with {placeholders} filled from `values`."""
    table = _TABLES.get(language, _TABLES["en"])
    template = table.get(key) or _TABLES["en"].get(key)
    if template is None:
        raise KeyError(f"no translation registered for {key!r}")
    return template.format(**values)


def request_language(request: gr.Request | None) -> str:
    """'zh-CN' when the browser prefers Chinese (Accept-Language or ?lang=zh-CN), else 'en'."""
    if request is None:
        return "en"
    try:
        chosen = request.query_params.get("lang") if request.query_params is not None else None
    except AttributeError:
        chosen = None
    if chosen:
        return "zh-CN" if chosen.lower().startswith("zh") else "en"
    header = ""
    try:
        header = request.headers.get("accept-language", "") or ""
    except AttributeError:
        header = ""
    first = header.split(",")[0].strip().lower()
    return "zh-CN" if first.startswith("zh") else "en"


def build_i18n() -> gr.I18n:
    """The gr.I18n to pass to demo.launch(i18n=...) once every tab module is imported."""
    return gr.I18n(en=dict(_TABLES["en"]), **{"zh-CN": dict(_TABLES["zh-CN"])})


def table(language: str) -> dict[str, str]:
    """A copy of one language's strings (tests check that both languages are complete)."""
    return dict(_TABLES[language])
