"""Script for the page's <head>: Gradio's own English tooltips and screen-reader labels read in Chinese on a Chinese page
(and, in every language, a checkbox's tooltip says what its label says rather than the choice's internal value, and a
slider moved with the keyboard sends `release` as a drag does).

Gradio picks the language of every label from the browser (`navigator.language`, read before any `head=` script
runs, so a page cannot change it). Some of Gradio's own words are written into its components in English with no translation key: the tooltips and
screen-reader labels of icon buttons ("Fullscreen", "Reset to default value"), a slider's "number input for …".
On a Chinese page a MutationObserver rewrites those attributes (aria-label, title, placeholder) and the few visible
texts of that kind from the table below as Gradio adds them. Exact strings only, so nothing genimg writes is touched.
"""

from __future__ import annotations

import json

# Gradio's English words that have no translation key, as they appear in the page → Chinese.
GRADIO_WORDS_ZH = {
    # the heading Gradio writes on its toasts itself, whatever title a gr.Error carries
    "Error": "出错了",
    "Warning": "提示",
    "Info": "提示",
    "Fullscreen": "全屏",
    "Exit fullscreen mode": "退出全屏",
    "Exit fullscreen": "退出全屏",
    "Reset to default value": "恢复默认值",
    "Click to upload or drop files": "点击上传或拖放文件",
    "Download": "下载",
    "Share": "分享",
    "Clear": "清除",
    "Undo": "撤销",
    "Redo": "重做",
    "Copy": "复制",
    "Copied": "已复制",
    "Close": "关闭",
    "Remove Image": "移除图像",
    "Pan": "平移",
    "Zoom in": "放大",
    "Zoom out": "缩小",
    "Brush": "画笔",
    "Eraser": "橡皮擦",
    "Color": "颜色",
    "Size": "大小",
    "Layers": "图层",
    "Upload": "上传",
    "Export": "导出",
    "undo": "撤销",
    "redo": "重做",
    "Clear canvas": "清空画布",
    "Erase": "擦除",
    "Brush Size": "画笔大小",
    "Brush Color": "画笔颜色",
    "Empty value": "空",
    "Vega visualization": "图表",
    "processing": "处理中",
    "processing |": "处理中 |",
    "copy": "复制",  # Gradio's progress line: "processing |" then the time as its own text
}
# Gradio's (and its charts') English sentences around words the page gives, as (regular expression, Chinese with
# $1, $2… for the captured parts): "number input for 种子" → "种子：数字输入", "queue: 2/5 |" → "排队：2/5 |".
GRADIO_TEMPLATES_ZH = [
    (r"^number input for (.+)$", "$1：数字输入"),
    (r"^range slider for (.+)$", "$1：滑块"),
    (r"^queue: (\d+)/(\d*) \|$", "排队：$1/$2 |"),
    (r"^([XY])-axis titled '(.*)' for a (\w+) scale with values from (.+) to (.+)$", "$1 轴“$2”，取值 $4 到 $5"),
    (r"^([XY])-axis for a (\w+) scale with values from (.+) to (.+)$", "$1 轴，取值 $3 到 $4"),
    (r"^Line mark container$", "折线"),
    (r"^Symbol legend titled '(.*)' for (?:stroke )?colou?r with (\d+) values?: (.*)$", "图例“$1”，$2 项：$3"),
    (r"^Symbol legend for (?:stroke )?colou?r with (\d+) values?: (.*)$", "图例，$1 项：$2"),
    # a chart point's description names the data's column ("帧: 3; 移动向量的长度: 9.2; method: lerp")
    (r"^(.*); method: (.*)$", "$1; 路径: $2"),
]

SCRIPT_TEMPLATE = """
<script>
(() => {
  // Every language: a slider moved with the keyboard (arrows, Home, End, Page Up/Down) ends its move as a drag does.
  // Gradio sends a slider's `release` on pointerup only, so what a tab draws when a move ends (the Latent tab's
  // strips, a flow's full picture after its quick preview) never came for keyboard users.
  const KEYS = new Set(["ArrowLeft", "ArrowRight", "ArrowUp", "ArrowDown", "Home", "End", "PageUp", "PageDown"]);
  document.addEventListener("keyup", (event) => {
    const target = event.target;
    if (KEYS.has(event.key) && target instanceof HTMLInputElement && target.type === "range") {
      target.dispatchEvent(new PointerEvent("pointerup", { bubbles: true }));
    }
  }, true);
})();
(() => {
  // Every language: Gradio gives each box of a CheckboxGroup the choice's internal value as its tooltip (title),
  // e.g. "precision_recall"; the tooltip should say what the box's label says.
  const retitle = (input) => {
    const text = (input.closest("label") || {}).innerText;
    if (text && text.trim() && input.getAttribute("title") !== text.trim()) input.setAttribute("title", text.trim());
  };
  const sweep = (root) => {
    if (!root || root.nodeType !== Node.ELEMENT_NODE) return;
    if (root.matches("input[type=checkbox][title]")) retitle(root);
    for (const input of root.querySelectorAll("input[type=checkbox][title]")) retitle(input);
  };
  new MutationObserver((changes) => {
    for (const change of changes) {
      const target = change.target.nodeType === Node.ELEMENT_NODE ? change.target : change.target.parentElement;
      sweep(target && (target.closest("label") || target));
      for (const node of change.addedNodes || []) sweep(node);
    }
  }).observe(document.documentElement, { subtree: true, childList: true, characterData: true, attributes: true,
                                         attributeFilter: ["title"] });
})();
(() => {
  if (!(navigator.language || "").toLowerCase().startsWith("zh")) return;
  const words = __WORDS__;
  const templates = __TEMPLATES__;
  const translate = (text) => {
    if (typeof text !== "string") return null;
    if (Object.prototype.hasOwnProperty.call(words, text)) return words[text];
    for (const [pattern, chinese] of templates) {
      const expression = new RegExp(pattern);
      if (expression.test(text)) return text.replace(expression, chinese);
    }
    return null;
  };
  const ATTRIBUTES = ["aria-label", "title", "placeholder"];
  const fix = (element) => {
    for (const name of ATTRIBUTES) {
      const chinese = translate(element.getAttribute && element.getAttribute(name));
      if (chinese !== null) element.setAttribute(name, chinese);
    }
  };
  const fixText = (node) => {
    const chinese = translate(node.nodeValue && node.nodeValue.trim());
    if (chinese !== null) node.nodeValue = chinese;
  };
  const sweep = (root) => {
    if (root.nodeType === Node.TEXT_NODE) { fixText(root); return; }
    if (root.nodeType !== Node.ELEMENT_NODE) return;
    fix(root);
    for (const element of root.querySelectorAll("[aria-label],[title],[placeholder]")) fix(element);
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) fixText(node);
  };
  new MutationObserver((changes) => {
    for (const change of changes) {
      if (change.type === "attributes") fix(change.target);
      else if (change.type === "characterData") fixText(change.target);
      else for (const node of change.addedNodes) sweep(node);
    }
  }).observe(document.documentElement, { subtree: true, childList: true, characterData: true,
                                         attributes: true, attributeFilter: ATTRIBUTES });
})();
</script>
"""


def head() -> str:
    """The <script> to pass as launch(head=...)."""
    return (SCRIPT_TEMPLATE.replace("__WORDS__", json.dumps(GRADIO_WORDS_ZH, ensure_ascii=False))
            .replace("__TEMPLATES__", json.dumps(GRADIO_TEMPLATES_ZH, ensure_ascii=False)))


__all__ = ["GRADIO_WORDS_ZH", "head"]
