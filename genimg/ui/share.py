"""Share and reproduce: every tab's view lives in the page address, and lesson bundles carry them all.

Each tab declares its view with genimg.ui.views.TabView (Samples in explore.py; Latent space and Interpolate here,
from the state functions their handlers already have; Encode and GAN tools in their own modules; Learn and Train
just open). While a tab is open the address bar holds its view (`?view=samples&model=mnist-cdcgan&seed=7&count=60`,
plus `lang`), so the link opens the same tab with the same picture for a student. "Export lesson" writes a zip
(lesson.json with one query per tab and the tab that opens, and the interpolation GIF); "Load lesson" puts the
views back and opens that tab. Models are named by folder name only.
"""

from __future__ import annotations

import tempfile
import uuid
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gradio as gr

from genimg.explore.interpolate import MAX_FRAMES, MIN_FRAMES
from genimg.models.latent import MAX_SEED
from genimg.store.lessons import Lesson, LessonError, bundle_bytes, read_bundle
from genimg.ui.context import ExploreContext
from genimg.ui.i18n import message, register, request_language, t
from genimg.ui.interpolate_tab import InterpolateHandlers
from genimg.ui.latent_tab import SLIDER_COUNT, LatentHandlers
from genimg.ui.views import (
    RESTORED_FLAG,
    LanguageRequest,
    TabView,
    UrlKey,
    finite_number,
    model_path,
    query_of,
    whole_number,
)

ENGLISH = {
    # The two tabs' names (their modules register none); the page's tab bar and this panel use them.
    "latent.tab": "Latent space", "interp.tab": "Interpolate",
    "share.title": "Share this view",
    "share.intro": "The address bar always holds the open tab's view: copy it to send a student the exact same tab "
                   "and picture. A **lesson bundle** keeps the views of every tab below, a note and the Interpolate "
                   "tab's animation; load it back here to restore them and open the tab it was made on.",
    "share.covers": "Kept with their settings: {views}. Opened as they are: {tabs}.",
    "share.note": "Note for the lesson (optional)",
    "share.export": "Export lesson",
    "share.bundle": "Lesson bundle",
    "share.load": "Load a lesson bundle (.zip or lesson.json)",
    "share.status": "Lesson",
    "share.exported": "Lesson saved: it opens the {tab} tab and keeps the views of {views}. Download it above.",
    "share.loaded": "Loaded the lesson made {created}: the {tab} tab is open, with the views of {views}. {note}",
    "share.unknown_model": "This lesson uses the model '{model}', which this page does not have.",
    "share.bad_view": "The lesson's {tab} view has a setting this page cannot use (a number out of range, or a "
                      "choice the tab does not offer).",
    "share.no_models": "There is no model to share yet.",
    "share.bad_upload": "That upload could not be read.",
    "lesson.too_big": "The file is larger than {limit} MB; a lesson bundle is much smaller.",
    "lesson.too_deep": "lesson.json nests more than {limit} levels deep; a lesson nests 4.",
    "lesson.no_json": "The zip holds no lesson.json, so it is not a genimg lesson.",
    "lesson.bad_zip": "The zip file is damaged or uses a format genimg cannot read.",
    "lesson.bad_json": "lesson.json is not valid JSON.",
    "lesson.not_lesson": "This file is not a genimg lesson (no 'genimg_lesson' field).",
    "lesson.version": "This lesson was made by a newer genimg (format {version}); this one reads format {supported}.",
    "lesson.bad_field": "The lesson's {field} is not valid.",
}
CHINESE = {
    "latent.tab": "隐空间", "interp.tab": "插值",
    "share.title": "分享这个视图",
    "share.intro": "地址栏始终保存当前打开页面的视图：复制它发给学生，就能打开同一个页面、看到完全相同的画面。"
                   "**课程包**会保存下面列出的每个页面的视图、一段说明和“插值”页的动画；在这里载入即可恢复这些视图，"
                   "并打开制作课程时所在的页面。",
    "share.covers": "连同设置一起保存：{views}。只打开页面：{tabs}。",
    "share.note": "课程说明（可选）",
    "share.export": "导出课程",
    "share.bundle": "课程包",
    "share.load": "载入课程包（.zip 或 lesson.json）",
    "share.status": "课程",
    "share.exported": "课程已保存：它会打开“{tab}”页，并保存{views}的视图。请在上方下载。",
    "share.loaded": "已载入创建于 {created} 的课程：已打开“{tab}”页，并恢复了{views}的视图。{note}",
    "share.unknown_model": "这个课程使用的模型“{model}”在本页面中不存在。",
    "share.bad_view": "课程中“{tab}”页的视图有本页面无法使用的设置（数字超出范围，或该页没有的选项）。",
    "share.no_models": "目前还没有可以分享的模型。",
    "share.bad_upload": "无法读取上传的文件。",
    "lesson.too_big": "文件超过 {limit} MB；课程包应当小得多。",
    "lesson.too_deep": "lesson.json 的嵌套超过 {limit} 层；课程只有 4 层。",
    "lesson.no_json": "压缩包里没有 lesson.json，所以它不是 genimg 课程。",
    "lesson.bad_zip": "压缩包已损坏，或使用了 genimg 无法读取的格式。",
    "lesson.bad_json": "lesson.json 不是有效的 JSON。",
    "lesson.not_lesson": "这个文件不是 genimg 课程（缺少 “genimg_lesson” 字段）。",
    "lesson.version": "这个课程由更新版本的 genimg 制作（格式 {version}）；当前版本只能读取格式 {supported}。",
    "lesson.bad_field": "课程中的 {field} 无效。",
}
register(ENGLISH, CHINESE)

INTERPOLATION_KEYS = ("model", "mode", "seed_a", "seed_b", "class_a", "class_b", "frames")


# ---------------------------------------------------------------------------------------------- the two views
def latent_view(latent: LatentHandlers) -> TabView:
    """The Latent-space tab's view, from LatentHandlers.state/apply_state: model, seed, sliders, direction,
    strength, truncation (psi), class and compared model."""
    parts = latent.components
    context = latent.context

    def restore(query: dict[str, str], language: str) -> list[Any] | None:
        state = latent_state(context, query)
        if state is None:
            return None
        try:
            return latent.apply_state(state, language)
        except gr.Error:  # a value the tab refuses (a direction it lacks, a class out of range): the default view
            return None

    return TabView(
        tab="latent", title_key="latent.tab",
        keys=(UrlKey("model", parts["model"], kind="path"), UrlKey("seed", parts["seed"]),
              UrlKey("z", list(parts["sliders"]), kind="numbers"), UrlKey("dir", parts["direction"]),
              UrlKey("strength", parts["strength"], omit="0"), UrlKey("psi", parts["truncation"], omit="1"),
              UrlKey("class", parts["label"]), UrlKey("compare", parts["compare"], kind="path")),
        trigger=parts["image"], restore=restore, outputs=list(parts["state_outputs"]))


def latent_state(context: ExploreContext, query: dict[str, str]) -> dict[str, Any] | None:
    """The Latent tab's state (LatentHandlers.state's keys) from address keys, or None when one is unusable."""
    path = model_path(context, query.get("model"))
    seed = whole_number(query.get("seed", "0"), 0, MAX_SEED)
    if path is None or seed is None:
        return None
    state: dict[str, Any] = {"model": path, "seed": seed}
    if query.get("z"):
        values = [finite_number(value, -1e3, 1e3) for value in query["z"].split(",")[:SLIDER_COUNT]]
        if None in values:
            return None
        state["sliders"] = values
    for key, name, parse in (("dir", "direction", lambda text: whole_number(text, 0, 1000)),
                             ("strength", "strength", lambda text: finite_number(text, -1e3, 1e3)),
                             ("psi", "truncation", lambda text: finite_number(text, 0, 1)),
                             ("class", "label", lambda text: whole_number(text, 0, 100_000))):
        if query.get(key, "") != "":
            value = parse(query[key])
            if value is None:
                return None
            state[name] = value
    if query.get("compare"):
        state["compare"] = model_path(context, query["compare"])
        if state["compare"] is None:
            return None
    return state


def interpolate_view(interpolate: InterpolateHandlers) -> TabView:
    """The Interpolate tab's view, from InterpolateHandlers.state/run_from_state/default_state: model, endpoint
    mode (seeds or classes; drawings are not shared), both seeds, both classes, frames."""
    parts = interpolate.components
    drawings = interpolate.control_outputs[-1]  # the drawings column, shown in drawings mode only

    def restore(query: dict[str, str], language: str) -> list[Any] | None:
        state = interpolation_state(interpolate, query)
        if state is None:
            return None
        request = LanguageRequest(language)
        try:
            outputs = interpolate.run_from_state(state, request)
        except gr.Error:
            return None
        mode, seed_b, class_a, class_b, drawings = interpolate.controls(state["model"], state["mode"],
                                                                        state["class_a"], state["class_b"], request)
        return [gr.update(value=state["model"]), gr.update(value=state["seed_a"]),
                {**seed_b, "value": state["seed_b"]}, gr.update(value=state["frames"]), mode, class_a, class_b,
                drawings, *outputs]

    return TabView(
        tab="interpolate", title_key="interp.tab",
        keys=(UrlKey("model", parts["model"], kind="path"), UrlKey("mode", parts["mode"]),
              UrlKey("seed_a", parts["seed_a"]), UrlKey("seed_b", parts["seed_b"]),
              UrlKey("class_a", parts["class_a"]), UrlKey("class_b", parts["class_b"]),
              UrlKey("frames", parts["frames"])),
        trigger=parts["slerp_gif"], restore=restore,
        outputs=[parts["model"], parts["seed_a"], parts["seed_b"], parts["frames"], parts["mode"], parts["class_a"],
                 parts["class_b"], drawings, *interpolate.outputs])


def interpolation_state(interpolate: InterpolateHandlers, query: dict[str, str]) -> dict[str, Any] | None:
    """run_from_state's dict from address keys, or None when one is unusable."""
    path = model_path(interpolate.context, query.get("model"))
    if path is None:
        return None
    entry = interpolate.context.entry(path)
    state = interpolate.default_state(path)
    mode = query.get("mode", "seeds")
    if mode not in ("seeds", "classes") or (mode == "classes" and not entry.num_classes):
        return None
    state["mode"] = mode
    for key, low, high in (("seed_a", 0, MAX_SEED), ("seed_b", 0, MAX_SEED), ("frames", MIN_FRAMES, MAX_FRAMES)):
        if key in query:
            state[key] = whole_number(query[key], low, high)
            if state[key] is None:
                return None
    for key in ("class_a", "class_b"):
        if query.get(key, "") != "" and entry.num_classes:
            state[key] = whole_number(query[key], 0, entry.num_classes - 1)
            if state[key] is None:
                return None
    return state


# ---------------------------------------------------------------------------------------------- the page's views
class ShareHandlers:
    """Address and lesson bundles for every tab's view; testable without a browser.

    `views`: one TabView per tab of the page, in tab order (tabs without settings have no keys). `outputs`: every
    view's outputs once each, the order of the updates `from_url` and `load` return after (tabs, open tab).
    `interpolate`: the Interpolate tab's handlers when the page has it, for the GIF a bundle carries."""

    def __init__(self, context: ExploreContext, views: Sequence[TabView], interpolate: InterpolateHandlers | None = None,
                 folder: str | Path | None = None, keep: int = 200) -> None:
        self.context, self.interpolate = context, interpolate
        self.views = {view.tab: view for view in views}
        self.outputs: list[Any] = []
        self.positions: dict[str, list[int]] = {}
        for view in views:
            places = []
            for component in view.outputs:
                if not any(component is known for known in self.outputs):
                    self.outputs.append(component)
                places.append(next(index for index, known in enumerate(self.outputs) if known is component))
            self.positions[view.tab] = places
        self.inputs = [component for view in views for component in view.inputs]
        # Model pickers are set one step later than the rest: their change event (Samples, Interpolate) reads the
        # tab's other controls, and reads them as they were before the same update set them (measured: the
        # Interpolate tab reset a shared 'classes' view to 'seeds'). A separate, later event sees them set.
        late = {id(component) for view in views for key in view.keys if key.kind == "path" for component in key.inputs}
        self.late = [place for place, component in enumerate(self.outputs) if id(component) in late]
        self.folder = Path(folder) if folder else Path(tempfile.gettempdir()) / "genimg-lessons"
        self.keep = keep

    def tab_name(self, tab: str, language: str) -> str:
        view = self.views.get(tab)
        return message(view.title_key, language) if view is not None else tab

    def covers(self, request: gr.Request | None = None) -> str:
        """The share panel's line saying which tabs keep their settings and which just open, in the visitor's
        language."""
        language = request_language(request)
        with_keys = [self.tab_name(tab, language) for tab, view in self.views.items() if view.keys]
        without = [self.tab_name(tab, language) for tab, view in self.views.items() if not view.keys]
        separator = "、" if language == "zh-CN" else ", "
        return message("share.covers", language, views=separator.join(with_keys) or "-",
                       tabs=separator.join(without) or "-")

    def _updates(self, restored: dict[str, list[Any]]) -> list[Any]:
        """[held, *updates for `outputs`]: each restored view's updates in their places, nothing for the rest; the
        model pickers' updates (`late`) are held back, for `apply_late` to set one step later."""
        updates: list[Any] = [gr.update() for _ in self.outputs]
        for tab, values in restored.items():
            for place, value in zip(self.positions[tab], values, strict=True):
                updates[place] = value
        held = [updates[place] for place in self.late]
        for place in self.late:
            updates[place] = gr.update()
        return [held, *updates]

    def apply_late(self, held: Any) -> list[Any]:
        """The model pickers' held updates (see `late`); none when nothing is held."""
        if not isinstance(held, list) or len(held) != len(self.late):
            return [gr.update() for _ in self.late]
        return held

    @property
    def late_outputs(self) -> list[Any]:
        return [self.outputs[place] for place in self.late]

    def _restore(self, view: TabView, query: dict[str, Any], language: str) -> list[Any] | None:
        try:
            updates = view.restore(view.own_keys(query), language)
        except (gr.Error, ValueError, TypeError, KeyError, OverflowError):  # a hand-edited view: the default one
            return None
        if updates is None or len(updates) != len(view.outputs):
            return None
        return list(updates)

    # -- the address
    def from_url(self, request: gr.Request | None = None) -> list[Any]:
        """demo.load: when the address names a tab (`view=`), select it and restore its view; an unusable view
        leaves the tab's default one, and no error is shown. → [tabs, open tab, held, *outputs]."""
        language = request_language(request)
        query = query_of(request)
        view = self.views.get(query.get("view", ""))
        if view is None:
            return [gr.update(), gr.update(), *self._updates({})]
        updates = self._restore(view, query, language) if view.keys else []
        restored = {view.tab: updates} if updates is not None else {}
        return [gr.Tabs(selected=view.tab), view.tab, *self._updates(restored)]

    # -- export
    def export(self, open_tab: Any, note: str | None, *values: Any, request: gr.Request | None = None
               ) -> tuple[str, str]:
        """values: every view's inputs (`self.inputs`). Returns (bundle path, status)."""
        language = request_language(request)
        if not self.context.entries:
            raise gr.Error(message("share.no_models", language))
        if len(values) != len(self.inputs):
            raise gr.Error(message("share.bad_upload", language))
        views: dict[str, dict[str, str]] = {}
        position = 0
        for tab, view in self.views.items():
            count = len(view.inputs)
            if view.keys:
                views[tab] = view.query(*values[position:position + count])
            position += count
        tab = open_tab if isinstance(open_tab, str) and open_tab in self.views else next(iter(self.views))
        views.setdefault(tab, {})
        lesson = Lesson(views=views, tab=tab, note=(note or "")[:2000])
        path = self._write(bundle_bytes(lesson, self._gif(views.get("interpolate"), language)),
                           views[tab].get("model") or tab)
        return path, message("share.exported", language, tab=self.tab_name(tab, language),
                             views=self._names(views, language))

    def _names(self, views: dict[str, dict[str, str]], language: str) -> str:
        separator = "、" if language == "zh-CN" else ", "
        return separator.join(self.tab_name(tab, language) for tab in views if self.views.get(tab)
                              and self.views[tab].keys) or "-"

    def _gif(self, query: dict[str, str] | None, language: str) -> bytes | None:
        """The Interpolate view's slerp animation, or None (no such tab, or its view cannot be rendered)."""
        if self.interpolate is None or not query:
            return None
        state = interpolation_state(self.interpolate, query)
        if state is None:
            return None
        try:
            view = self.interpolate.compute(state["model"], state["mode"], state["seed_a"], state["seed_b"],
                                            state["class_a"], state["class_b"], state["frames"], language=language)
        except gr.Error:
            return None
        return view.gifs.get("slerp")

    def _write(self, data: bytes, name: str) -> str:
        """Each bundle in a folder of its own (its download name stays readable); the oldest folders go once
        `keep` exist."""
        self.folder.mkdir(parents=True, exist_ok=True)
        old = sorted(self.folder.glob("*/lesson-*.zip"), key=lambda path: path.stat().st_mtime)
        for stale in old[: max(0, len(old) - self.keep + 1)]:
            stale.unlink(missing_ok=True)
            try:
                stale.parent.rmdir()
            except OSError:  # something else is in it: leave the folder
                pass
        folder = self.folder / uuid.uuid4().hex[:12]
        folder.mkdir()
        safe = "".join(character for character in name if character.isalnum() or character in "-_.")[:60] or "view"
        path = folder / f"lesson-{safe}.zip"
        path.write_bytes(data)
        return str(path)

    # -- import
    def load(self, upload: Any, request: gr.Request | None = None) -> list[Any]:
        """An uploaded bundle → [tabs, open tab, held, *outputs, status]: every view it holds that this page has is
        restored and its tab opened. A model the page lacks or a view it cannot use is refused by name."""
        language = request_language(request)
        data = self._read_upload(upload, language)
        try:
            lesson, _ = read_bundle(data)
        except LessonError as error:
            raise gr.Error(message(error.key, language, **error.values)) from None
        restored: dict[str, list[Any]] = {}
        for tab, query in lesson.views.items():
            view = self.views.get(tab)
            if view is None or not view.keys:
                continue
            for key in view.keys:
                if key.kind == "path" and query.get(key.name) and model_path(self.context, query[key.name]) is None:
                    raise gr.Error(message("share.unknown_model", language, model=query[key.name][:200]))
            updates = self._restore(view, query, language)
            if updates is None:
                raise gr.Error(message("share.bad_view", language, tab=self.tab_name(tab, language)))
            restored[tab] = updates
        tab = lesson.tab if lesson.tab in self.views else next(iter(self.views))
        status = message("share.loaded", language, tab=self.tab_name(tab, language), created=_when(lesson.created),
                         views=self._names({tab: {} for tab in restored}, language), note=lesson.note.strip())
        return [gr.Tabs(selected=tab), tab, *self._updates(restored), status]

    def _read_upload(self, upload: Any, language: str) -> bytes:
        """Only the temporary file Gradio made for this upload is read."""
        path = upload if isinstance(upload, str) else getattr(upload, "name", None)
        if not isinstance(path, str):
            raise gr.Error(message("share.bad_upload", language))
        resolved = Path(path).resolve()
        uploads = Path(gr.utils.get_upload_folder()).resolve()
        if uploads not in resolved.parents or not resolved.is_file():
            raise gr.Error(message("share.bad_upload", language))
        if resolved.stat().st_size > 8 * 2**20:
            raise gr.Error(message("lesson.too_big", language, limit=8))
        return resolved.read_bytes()


def _when(created: str) -> str:
    """A lesson's creation time as people read it: "2026-12-02 04:27 UTC" for the ISO time genimg writes."""
    if len(created) >= 16 and created[10:11] == "T" and created.endswith("+00:00"):
        return created[:10] + " " + created[11:16] + " UTC"
    return created or "?"


def page_script(views: Sequence[TabView]) -> str:
    """Browser code `(...every view's inputs)`: marks the page's view as restored (genimg.ui.views.RESTORED_FLAG) and
    writes the open tab's view into the address — when the page has opened (so its address is a link to what it
    shows at once) and after a lesson is loaded (whose tab the server picked). The open tab is read from the tab bar
    (its button "tab-<id>-button" is aria-selected): a gr.State's value never reaches the browser."""
    writers, position = [], 0
    for view in views:
        count = len(view.inputs)
        writers.append(f'[{position}, {count}, {view.script().strip()}]')
        position += count
    table = ", ".join(f'"{view.tab}": {writer}' for view, writer in zip(views, writers, strict=True))
    return ("(...values) => {\n  window." + RESTORED_FLAG + " = true;\n  const writers = {" + table + "};\n"
            "  for (const [tab, writer] of Object.entries(writers)) {\n"
            "    const button = document.getElementById('tab-' + tab + '-button');\n"
            "    if (button && button.getAttribute('aria-selected') === 'true') {\n"
            "      writer[2](...values.slice(writer[0], writer[0] + writer[1]));\n      break;\n    }\n  }\n"
            "  return [];\n}")


def build_share_panel(handlers: ShareHandlers, tabs: gr.Tabs, tab_components: dict[str, Any],
                      after: Any = None) -> gr.State:
    """The panel under the tabs (it serves all of them), and the address wiring: the page opens on the tab and view
    its address names; a tab's trigger and selecting the tab write the view back. `after`: the last event of what
    the page does as it opens (the view is restored after it, so no default arrives later). Returns the open tab's
    state."""
    open_tab = gr.State(next(iter(handlers.views)))
    with gr.Accordion(t("share.title"), open=False, elem_id="share"):
        gr.Markdown(t("share.intro"))
        covers = gr.Markdown(elem_id="share-covers")
        with gr.Row():
            with gr.Column():
                note = gr.Textbox(label=t("share.note"), lines=2, max_length=2000, elem_id="share-note")
                export = gr.Button(t("share.export"), elem_id="share-export")
                bundle = gr.File(label=t("share.bundle"), interactive=False, elem_id="share-bundle")
            with gr.Column():
                upload = gr.File(label=t("share.load"), file_types=[".zip", ".json"], type="filepath",
                                 elem_id="share-load")
                status = gr.Markdown(elem_id="share-status")
    quiet: dict[str, Any] = {"api_visibility": "private"}

    def export_event(request: gr.Request, tab, note_text, *values):
        return handlers.export(tab, note_text, *values, request=request)

    export.click(export_event, [open_tab, note, *handlers.inputs], [bundle, status], **quiet)
    views = list(handlers.views.values())
    held = gr.State()
    restored = [tabs, open_tab, held, *handlers.outputs]
    upload.upload(handlers.load, upload, [*restored, status], **quiet).success(
        handlers.apply_late, held, handlers.late_outputs, **quiet).then(
        None, handlers.inputs, None, js=page_script(views), **quiet)
    root = gr.context.Context.root_block
    (after.then if after is not None else root.load)(handlers.from_url, None, restored, **quiet).then(
        handlers.apply_late, held, handlers.late_outputs, **quiet).then(
        None, handlers.inputs, None, js=page_script(views), **quiet)
    root.load(handlers.covers, None, covers, show_progress="hidden", **quiet)
    for view in views:
        triggers = view.trigger if isinstance(view.trigger, (list, tuple)) else [view.trigger]
        for trigger in (trigger for trigger in triggers if trigger is not None):
            trigger.change(None, view.inputs, None, js=view.script(only_when_open=True), **quiet)
        tab = tab_components.get(view.tab)
        if tab is not None:
            tab.select(None, view.inputs, None, js=view.script(), **quiet)
            tab.select(lambda name=view.tab: name, None, open_tab, show_progress="hidden", **quiet)
    return open_tab


def lesson_json(bundle_path: str) -> dict:
    """The lesson.json of a bundle on disk (for tests and tools)."""
    import json

    with zipfile.ZipFile(bundle_path) as archive:
        return json.loads(archive.read("lesson.json"))


__all__ = ["ShareHandlers", "build_share_panel", "interpolate_view", "latent_view", "lesson_json", "page_script"]
