"""Share and reproduce: the Latent-space view lives in the URL, and lesson bundles go out and come back in.

A teacher moves sliders; the address bar follows (`?view=latent&model=mnist-dcgan&seed=7&z=…`), so the
link opens the same view for a student. "Export lesson" writes a zip (lesson.json + the interpolation
GIF); "Load lesson" puts a bundle's views back on the page. Models are named by folder name only.
"""

from __future__ import annotations

import json
import tempfile
import uuid
from pathlib import Path
from typing import Any

import gradio as gr

from genimg.store.lessons import Lesson, LessonError, bundle_bytes, read_bundle
from genimg.ui.context import ExploreContext
from genimg.ui.i18n import message, register, request_language, t
from genimg.ui.interpolate_tab import InterpolateHandlers
from genimg.ui.latent_tab import LatentHandlers

ENGLISH = {
    "share.title": "Share this view",
    "share.intro": "The address bar always holds this tab's view (model, seed, sliders, direction, truncation): copy "
                   "it to send a student the exact same picture. A **lesson bundle** also keeps the Interpolate tab's "
                   "settings, its GIF and a note; load it back here to restore both views.",
    "share.note": "Note for the lesson (optional)",
    "share.export": "Export lesson",
    "share.bundle": "Lesson bundle",
    "share.load": "Load a lesson bundle (.zip or lesson.json)",
    "share.status": "Lesson",
    "share.exported": "Lesson saved: {model}, seed {seed}. Download it above.",
    "share.loaded": "Loaded the lesson for {model}, seed {seed}, made {created}. {note}",
    "share.unknown_model": "This lesson uses the model '{model}', which this page does not have.",
    "share.no_models": "There is no model to share yet.",
    "share.bad_upload": "That upload could not be read.",
    "lesson.too_big": "The file is larger than {limit} MB; a lesson bundle is much smaller.",
    "lesson.no_json": "The zip holds no lesson.json, so it is not a genimg lesson.",
    "lesson.bad_zip": "The zip file is damaged or uses a format genimg cannot read.",
    "lesson.bad_json": "lesson.json is not valid JSON.",
    "lesson.not_lesson": "This file is not a genimg lesson (no 'genimg_lesson' field).",
    "lesson.version": "This lesson was made by a newer genimg (format {version}); this one reads format {supported}.",
    "lesson.bad_field": "The lesson's {field} is not valid.",
}
CHINESE = {
    "share.title": "分享这个视图",
    "share.intro": "地址栏始终保存本页的视图（模型、种子、滑块、方向、截断）：复制它发给学生，就能看到完全相同的画面。"
                   "**课程包**还会保存“插值”页的设置、它的 GIF 和一段说明；在这里载入即可恢复两个视图。",
    "share.note": "课程说明（可选）",
    "share.export": "导出课程",
    "share.bundle": "课程包",
    "share.load": "载入课程包（.zip 或 lesson.json）",
    "share.status": "课程",
    "share.exported": "课程已保存：{model}，种子 {seed}。请在上方下载。",
    "share.loaded": "已载入课程：{model}，种子 {seed}，创建于 {created}。{note}",
    "share.unknown_model": "这个课程使用的模型“{model}”在本页面中不存在。",
    "share.no_models": "目前还没有可以分享的模型。",
    "share.bad_upload": "无法读取上传的文件。",
    "lesson.too_big": "文件超过 {limit} MB；课程包应当小得多。",
    "lesson.no_json": "压缩包里没有 lesson.json，所以它不是 genimg 课程。",
    "lesson.bad_zip": "压缩包已损坏，或使用了 genimg 无法读取的格式。",
    "lesson.bad_json": "lesson.json 不是有效的 JSON。",
    "lesson.not_lesson": "这个文件不是 genimg 课程（缺少 “genimg_lesson” 字段）。",
    "lesson.version": "这个课程由更新版本的 genimg 制作（格式 {version}）；当前版本只能读取格式 {supported}。",
    "lesson.bad_field": "课程中的 {field} 无效。",
}
register(ENGLISH, CHINESE)

URL_KEYS = ("model", "seed", "z", "dir", "strength", "psi", "class", "compare")
# Runs in the browser whenever the Latent-space image changes: mirror the view into the address bar.
URL_SCRIPT = """
(model, seed, label, direction, strength, truncation, compare, ...sliders) => {
  const name = (path) => (typeof path === "string" && path) ? path.split(/[\\\\/]/).pop() : "";
  const params = new URLSearchParams();
  params.set("view", "latent");
  params.set("model", name(model));
  params.set("seed", String(seed));
  params.set("z", sliders.map((v) => Number(v).toFixed(2)).join(","));
  if (direction !== null && direction !== undefined && direction !== "") params.set("dir", String(direction));
  if (Number(strength)) params.set("strength", String(strength));
  if (Number(truncation) !== 1) params.set("psi", String(truncation));
  if (label !== null && label !== undefined && label !== "") params.set("class", String(label));
  if (compare && name(compare)) params.set("compare", name(compare));
  const lang = new URLSearchParams(window.location.search).get("lang");
  if (lang) params.set("lang", lang);
  window.history.replaceState(null, "", window.location.pathname + "?" + params.toString());
  return [];
}
"""


class ShareHandlers:
    """URL state and lesson bundles; testable without a browser."""

    def __init__(self, context: ExploreContext, latent: LatentHandlers, interpolate: InterpolateHandlers,
                 folder: str | Path | None = None, keep: int = 200) -> None:
        self.context, self.latent, self.interpolate = context, latent, interpolate
        self.folder = Path(folder) if folder else Path(tempfile.gettempdir()) / "genimg-lessons"
        self.keep = keep

    # -- names ↔ paths: a bundle or a URL names a model by its folder name, never by a path
    def path_for(self, name: Any) -> str | None:
        for entry in self.context.entries:
            if entry.name == name:
                return str(entry.path)
        return None

    def name_for(self, path: Any) -> str | None:
        entry = self.context.entry(path) if isinstance(path, str) else None
        return entry.name if entry is not None else None

    def _with_paths(self, state: dict, language: str) -> dict:
        state = dict(state)
        path = self.path_for(state.get("model"))
        if path is None:
            raise gr.Error(message("share.unknown_model", language, model=state.get("model")))
        state["model"] = path
        if state.get("compare"):
            state["compare"] = self.path_for(state["compare"])
        return state

    # -- export
    def export(self, note: str | None, *values: Any, request: gr.Request | None = None) -> tuple[str, str]:
        """values: the Latent tab's state inputs, then the Interpolate tab's (model, mode, seed_a, seed_b,
        class_a, class_b, frames). Returns (bundle path, status)."""
        language = request_language(request)
        if not self.context.entries:
            raise gr.Error(message("share.no_models", language))
        latent_values, interpolation_values = values[:-7], values[-7:]
        latent = self.latent.state(*latent_values[:7], list(latent_values[7:]), language=language)
        interpolation = self.interpolate.state(*interpolation_values)
        view = self.interpolate.compute(interpolation["model"], interpolation["mode"], interpolation["seed_a"],
                                        interpolation["seed_b"], interpolation["class_a"], interpolation["class_b"],
                                        interpolation["frames"], language=language)
        model_name = self.name_for(latent["model"])
        latent_named = {**latent, "model": model_name, "compare": self.name_for(latent.get("compare"))}
        interpolation_named = {**interpolation, "model": self.name_for(interpolation["model"])}
        lesson = Lesson(model=model_name, latent=latent_named, interpolation=interpolation_named,
                        note=(note or "")[:2000])
        path = self._write(bundle_bytes(lesson, view.gifs.get("slerp")), model_name)
        return path, message("share.exported", language, model=model_name, seed=latent["seed"])

    def _write(self, data: bytes, model_name: str) -> str:
        self.folder.mkdir(parents=True, exist_ok=True)
        old = sorted(self.folder.glob("lesson-*.zip"), key=lambda path: path.stat().st_mtime)
        for stale in old[: max(0, len(old) - self.keep + 1)]:
            stale.unlink(missing_ok=True)
        folder = self.folder / uuid.uuid4().hex[:12]
        folder.mkdir()
        path = folder / f"lesson-{model_name}.zip"
        path.write_bytes(data)
        return str(path)

    # -- import
    def load(self, upload: Any, request: gr.Request | None = None) -> list[Any]:
        """An uploaded bundle → updates for the Latent tab (its state outputs), the Interpolate tab's inputs
        (model, mode, seed_a, seed_b, class_a, class_b, frames) and outputs, and a status line."""
        language = request_language(request)
        data = self._read_upload(upload, language)
        try:
            lesson, _ = read_bundle(data)
        except LessonError as error:
            raise gr.Error(message(error.key, language, **error.values)) from None
        latent = self._with_paths({**lesson.latent, "model": lesson.model}, language)
        latent_updates = self.latent.apply_state(latent, language)
        interpolation = lesson.interpolation or {}
        if interpolation.get("model"):
            interpolation = self._with_paths(interpolation, language)
        else:
            interpolation = {**interpolation, "model": latent["model"]}
        interpolation = {**self.interpolate.default_state(interpolation["model"]), **interpolation}
        outputs = self.interpolate.run_from_state(interpolation, request)
        inputs = [gr.update(value=interpolation[key]) for key in
                  ("model", "mode", "seed_a", "seed_b", "class_a", "class_b", "frames")]
        note = lesson.note.strip()
        status = message("share.loaded", language, model=lesson.model, seed=latent.get("seed"),
                         created=lesson.created or "?", note=note)
        return [*latent_updates, *inputs, *outputs, status]

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

    # -- URL
    def state_from_query(self, query: dict[str, str], language: str) -> dict | None:
        """The Latent tab's state from URL parameters, or None when the URL holds no (usable) view."""
        path = self.path_for(query.get("model"))
        if path is None:
            return None
        state: dict[str, Any] = {"model": path, "seed": 0}
        try:
            if "seed" in query:
                state["seed"] = int(query["seed"])
            if query.get("z"):
                state["sliders"] = [float(value) for value in query["z"].split(",")[:16]]
            if query.get("dir", "") != "":
                state["direction"] = int(query["dir"])
            if "strength" in query:
                state["strength"] = float(query["strength"])
            if "psi" in query:
                state["truncation"] = float(query["psi"])
            if query.get("class", "") != "":
                state["label"] = int(query["class"])
            if query.get("compare"):
                state["compare"] = self.path_for(query["compare"])
        except ValueError:
            return None
        return state

    def from_url(self, request: gr.Request | None = None) -> list[Any]:
        """demo.load: when the URL names a view, select the Latent tab and put the view on it."""
        count = len(self.latent.components["state_outputs"])
        language = request_language(request)
        query = dict(request.query_params) if request is not None and request.query_params is not None else {}
        state = self.state_from_query({key: query[key] for key in URL_KEYS if key in query}, language)
        if state is None:
            return [gr.update()] * (count + 1)
        try:
            updates = self.latent.apply_state(state, language)
        except gr.Error:
            return [gr.update()] * (count + 1)  # a stale or edited link opens the default view
        return [gr.Tabs(selected="latent"), *updates]


def build_share_panel(context: ExploreContext, latent: LatentHandlers, interpolate: InterpolateHandlers
                      ) -> ShareHandlers:
    """The panel under the Latent-space tab: export / load a lesson bundle. URL wiring is done by wire_url."""
    handlers = ShareHandlers(context, latent, interpolate)
    with gr.Accordion(t("share.title"), open=False, elem_id="share"):
        gr.Markdown(t("share.intro"))
        with gr.Row():
            with gr.Column():
                note = gr.Textbox(label=t("share.note"), lines=2, max_length=2000, elem_id="share-note")
                export = gr.Button(t("share.export"), elem_id="share-export")
                bundle = gr.File(label=t("share.bundle"), interactive=False, elem_id="share-bundle")
            with gr.Column():
                upload = gr.File(label=t("share.load"), file_types=[".zip", ".json"], type="filepath",
                                 elem_id="share-load")
                status = gr.Markdown(elem_id="share-status")
    interpolation_inputs = [interpolate.components[key] for key in
                            ("model", "mode", "seed_a", "seed_b", "class_a", "class_b", "frames")]
    latent_inputs = latent.components["state_inputs"]

    def export_event(request: gr.Request, note_text, *values):
        return handlers.export(note_text, *values, request=request)

    export.click(export_event, [note, *latent_inputs, *interpolation_inputs], [bundle, status],
                 api_visibility="private")
    upload.upload(handlers.load, upload,
                  [*latent.components["state_outputs"], *interpolation_inputs, *interpolate.outputs, status],
                  api_visibility="private")
    return handlers


def wire_url(demo: gr.Blocks, tabs: gr.Tabs, handlers: ShareHandlers) -> None:
    """Read the view from the URL when the page opens; write it back whenever the Latent image changes."""
    latent = handlers.latent.components
    demo.load(handlers.from_url, None, [tabs, *latent["state_outputs"]], api_visibility="private")
    image = latent.get("image") or latent["state_outputs"][-2]
    image.change(None, latent["state_inputs"], None, js=URL_SCRIPT, api_visibility="private")


def lesson_json(bundle_path: str) -> dict:
    """The lesson.json of a bundle on disk (for tests and tools)."""
    import zipfile

    with zipfile.ZipFile(bundle_path) as archive:
        return json.loads(archive.read("lesson.json"))


__all__ = ["ShareHandlers", "build_share_panel", "wire_url", "lesson_json"]
