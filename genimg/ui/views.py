"""Shareable views: how a tab says which of its settings go into the page's address, and how it puts them back.

A tab that can be shared builds a `TabView` and attaches it to the handlers object its build function returns
(`handlers.view = TabView(...)`). genimg.ui.share collects the views of all tabs and does the rest: while the
tab is open, the address bar holds `?view=<tab>&<key>=<value>…` (plus `lang` when the page has it); a page opened
with such an address selects that tab and calls its `restore`; a lesson bundle stores one query per tab and loads
them back the same way. A tab never imports share.py and this module imports no tab, so genimg/ui stays acyclic.

Example, a tab with a model dropdown, a seed box and an image:

    from genimg.ui.views import LanguageRequest, TabView, UrlKey, model_path, whole_number

    def restore(query: dict[str, str], language: str) -> list | None:
        path = model_path(handlers.context, query.get("model"))
        seed = whole_number(query.get("seed", "0"), 0, 2**63 - 1)
        if path is None or seed is None:
            return None                                   # unusable: the tab's default view stays, no error
        request = LanguageRequest(language)               # for handlers that take the page's request
        return [gr.update(value=path), gr.update(value=seed), handlers.render(path, seed, request)]

    handlers.view = TabView(
        tab="encode",                                     # the gr.Tab's id in app.py
        title_key="encode.tab",                           # its name, for the share panel's text
        keys=(UrlKey("model", model, kind="path"),        # a folder path goes out as its folder name
              UrlKey("seed", seed)),
        trigger=image,                                    # its .change rewrites the address (while the tab is open)
        restore=restore,
        outputs=[model, seed, image],                     # what `restore`'s list updates, in this order
    )

Kinds of key: "text" (the value as text), "path" (a checkpoint folder path → its folder name; restore resolves it
with `model_path` against the models the page offers, so an address never names a path), "numbers" (several
components → "0.12,-1.00,…", for sliders). `omit`: the value left out of the address (e.g. a default strength
"0"). A value that is empty (None, "") is always left out. Restore functions receive only the view's own keys,
each value a string of at most MAX_VALUE_CHARS characters, and must check every one: addresses are typed and
edited by hand. `whole_number` and `finite_number` parse with limits and return None for anything else. A restore
that raises gr.Error counts as None. The gr.Tab must have elem_id "tab-<tab>" (app.py's convention): the address is
written from the trigger only while that panel is shown, and only once the page has restored the view its own
address named. Outputs that are components of "path" keys (model pickers) are set one step after the rest, so a
picker's .change handler reads the tab's other controls already restored (Gradio hands a change event the values
from before the update that caused it).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

KINDS = ("text", "path", "numbers")
MAX_VALUE_CHARS = 2000  # 16 sliders as "-3.00," take 96; anything far longer is not from this page
TAB_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
RESERVED_KEYS = ("view", "lang")  # the page's own: which tab, which language


@dataclass(frozen=True)
class UrlKey:
    """One query key and the input component(s) whose value it carries (several only for kind "numbers")."""

    name: str
    components: Any  # a component, or a sequence of them for "numbers"
    kind: str = "text"
    omit: str | None = None  # this value (compared as text, or as a number when both are numbers) is left out

    def __post_init__(self) -> None:
        if not KEY_PATTERN.match(self.name) or self.name in RESERVED_KEYS:
            raise ValueError(f"URL key {self.name!r} must be lower-case letters, digits and _ (not view or lang)")
        if self.kind not in KINDS:
            raise ValueError(f"URL key kind {self.kind!r} is not one of {', '.join(KINDS)}")
        if self.kind != "numbers" and isinstance(self.components, (list, tuple)):
            raise ValueError(f"URL key {self.name!r}: only kind 'numbers' takes several components")

    @property
    def inputs(self) -> list[Any]:
        return list(self.components) if isinstance(self.components, (list, tuple)) else [self.components]


def _no_restore(query: dict[str, str], language: str) -> list[Any]:
    return []


@dataclass
class TabView:
    """A tab's shareable view. `restore(query, language)` → gr.updates for `outputs` (same order and length), or
    None when the query cannot be used (the page then opens the tab's default view and shows no error).
    A tab whose view is only "this tab is open" (Learn, Train) gives no keys, no trigger and no outputs."""

    tab: str
    title_key: str
    keys: Sequence[UrlKey] = ()
    # the component (or a tuple of them) whose .change rewrites the address; None: only selecting the tab does
    trigger: Any = None
    restore: Callable[[dict[str, str], str], list[Any] | None] = _no_restore
    outputs: list[Any] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not TAB_PATTERN.match(self.tab):
            raise ValueError(f"tab id {self.tab!r} must be lower-case letters, digits, - and _")
        names = [key.name for key in self.keys]
        if len(names) != len(set(names)):
            raise ValueError(f"view {self.tab!r} names a URL key twice: {names}")

    @property
    def inputs(self) -> list[Any]:
        """The components whose values `query` and `script` read, flattened in key order."""
        return [component for key in self.keys for component in key.inputs]

    def query(self, *values: Any) -> dict[str, str]:
        """The view's query keys for the values of `inputs` (the same text the page's script writes), without
        `view` and `lang`. Used for lesson bundles, which store every tab's view."""
        if len(values) != len(self.inputs):
            raise ValueError(f"view {self.tab!r} takes {len(self.inputs)} values, got {len(values)}")
        query: dict[str, str] = {}
        position = 0
        for key in self.keys:
            count = len(key.inputs)
            text = encode(key.kind, values[position:position + count])
            position += count
            if text and not _omitted(text, key.omit):
                query[key.name] = text
        return query

    def own_keys(self, query: dict[str, Any]) -> dict[str, str]:
        """The part of a query this view reads: its keys (string values). ValueError when one of them is longer
        than MAX_VALUE_CHARS or not text: the view is then unusable as a whole, not restored without it."""
        names = {key.name for key in self.keys}
        own = {name: value for name, value in query.items() if name in names}
        for name, value in own.items():
            if not isinstance(value, str) or len(value) > MAX_VALUE_CHARS:
                raise ValueError(f"the address key {name!r} is not text of at most {MAX_VALUE_CHARS} characters")
        return own

    def script(self, only_when_open: bool = False) -> str:
        """Browser code `(...values of inputs)` that writes the view into the address bar with
        history.replaceState (no reload, no history entry), keeping the page's `lang`. `only_when_open`: write
        only while the tab's panel (the gr.Tab with elem_id "tab-<tab>") is shown — for `trigger.change`, which
        also fires when a lesson fills a tab that is not open."""
        spec = [[key.name, key.kind, len(key.inputs), key.omit] for key in self.keys]
        guard = (f'const panel = document.getElementById({json.dumps("tab-" + self.tab)});\n'
                 '  if (!panel || panel.offsetParent === null) return [];') if only_when_open else ""
        return (_SCRIPT.replace("__TAB__", json.dumps(self.tab)).replace("__SPEC__", json.dumps(spec))
                .replace("__GUARD__", guard).replace("__FLAG__", RESTORED_FLAG))


_SCRIPT = """
(...values) => {
  if (!window.__FLAG__) return [];
  __GUARD__
  const spec = __SPEC__;
  const params = new URLSearchParams();
  params.set("view", __TAB__);
  let position = 0;
  for (const [name, kind, count, omit] of spec) {
    const part = values.slice(position, position + count);
    position += count;
    let text = "";
    if (kind === "numbers") {
      text = part.map((value) => Number(value || 0).toFixed(2)).join(",");
    } else {
      const value = part[0];
      if (value === null || value === undefined || value === "") continue;
      if (typeof value === "number" && !Number.isFinite(value)) continue;
      text = kind === "path" ? String(value).split(/[\\\\/]/).pop() : String(value);
    }
    if (!text) continue;
    if (omit !== null && (text === omit ||
        (omit !== "" && text !== "" && !isNaN(Number(omit)) && !isNaN(Number(text)) && Number(text) === Number(omit))))
      continue;
    params.set(name, text);
  }
  const lang = new URLSearchParams(window.location.search).get("lang");
  if (lang) params.set("lang", lang);
  window.history.replaceState(null, "", window.location.pathname + "?" + params.toString());
  return [];
}
"""


# The page reads its address when it opens (demo.load) and restores the view it names; until then nothing may
# rewrite the address: a trigger's .change fires as the page first fills in, and its address would be read as the
# visitor's (a default Samples view replacing a shared one, or selecting Samples after the visitor clicked another
# tab). genimg.ui.share sets this flag after that load, and writes the open tab's view then.
RESTORED_FLAG = "genimgViewRestored"


def encode(kind: str, values: Sequence[Any]) -> str:
    """One key's text for its components' values, as the browser script writes it ("" = leave the key out)."""
    if kind == "numbers":
        parts = []
        for value in values:
            try:
                number = float(value or 0)
            except (TypeError, ValueError):
                number = 0.0
            parts.append(f"{number if math.isfinite(number) else 0.0:.2f}")
        return ",".join(parts)
    value = values[0] if values else None
    if value is None or value == "" or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    if kind == "path":
        return re.split(r"[\\/]", str(value))[-1]
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # JavaScript writes 3.0 as "3"
    return str(value)


def _omitted(text: str, omit: str | None) -> bool:
    if omit is None:
        return False
    if text == omit:
        return True
    try:
        return float(text) == float(omit)
    except ValueError:
        return False


class LanguageRequest:
    """What genimg.ui.i18n.request_language reads from a page's request: for calling a tab's handlers from a
    `restore` function, which gets the visitor's language but no request."""

    def __init__(self, language: str) -> None:
        self.query_params = {"lang": language}
        self.headers: dict[str, str] = {}


def query_of(request: Any) -> dict[str, str]:
    """The page address's query as a dict (empty without a request)."""
    try:
        params = request.query_params if request is not None else None
    except AttributeError:
        params = None
    return {str(key): str(value) for key, value in dict(params or {}).items()}


def whole_number(text: Any, low: int, high: int) -> int | None:
    """A whole number from `low` to `high` written as plain decimal digits (an optional sign; "7.0" is 7), else None.
    The length is checked before parsing, so a 400-digit seed costs nothing."""
    if isinstance(text, bool):
        return None
    if isinstance(text, int):
        return text if low <= text <= high else None
    if isinstance(text, float):
        return int(text) if math.isfinite(text) and text.is_integer() and low <= text <= high else None
    if not isinstance(text, str) or len(text.strip()) > max(len(str(low)), len(str(high))) + 3:
        return None
    text = text.strip()
    text = text.removesuffix(".0")
    if not re.fullmatch(r"[+-]?[0-9]+", text):  # ASCII digits only: int() would also read "٣" as 3
        return None
    number = int(text)
    return number if low <= number <= high else None


def finite_number(text: Any, low: float, high: float) -> float | None:
    """A finite number from `low` to `high` (text of at most 32 characters, or a number), else None."""
    if isinstance(text, bool):
        return None
    if isinstance(text, str):
        if len(text) > 32:
            return None
        try:
            number = float(text)
        except ValueError:
            return None
    elif isinstance(text, (int, float)):
        try:
            number = float(text)
        except OverflowError:
            return None
    else:
        return None
    return number if math.isfinite(number) and low <= number <= high else None


def model_path(context: Any, name: Any) -> str | None:
    """The folder path of the model the page offers under the folder name `name`, or None."""
    if not isinstance(name, str) or not name:
        return None
    for entry in getattr(context, "entries", ()):
        if entry.name == name:
            return str(entry.path)
    return None


__all__ = [
    "MAX_VALUE_CHARS",
    "RESTORED_FLAG",
    "LanguageRequest",
    "TabView",
    "UrlKey",
    "encode",
    "finite_number",
    "model_path",
    "query_of",
    "whole_number",
]
