"""genimg.ui.cards_view: a Chinese visitor's model card is written from config.json through translated templates;
the English README stays as it is on disk."""

import json
import re
import shutil

import pytest

from genimg.explore.catalog import discover
from genimg.ui.cards_view import card_for_page, translated_card
from genimg.ui.i18n import message

ENGLISH_SENTENCES = ("trained on", "Evaluation", "Reproduce", "draws", "class-conditional", "dimensional latent")


@pytest.fixture(scope="module")
def entry(tiny_models, tmp_path_factory):
    """A tiny conditional GAN whose config.json holds evaluation numbers and whose README has notes."""
    folder = tmp_path_factory.mktemp("cards") / "cgan"
    shutil.copytree(tiny_models["cgan"], folder)
    config = json.loads((folder / "config.json").read_text())
    config["metrics"].update({"classifier_fd": 21.82476, "classes_covered": 10, "test_kl": 5.7,
                              "class_shares": [0.1] * 10})
    config.update({"elapsed_seconds": 125.4, "dataset_size": 60000, "device": "cpu", "dataset": "mnist"})
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "README.md").write_text("# cgan\n\nA DCGAN trained on **mnist**.\n\n![samples](samples.png)\n\n"
                                      "`python -m genimg eval --checkpoint checkpoints/cgan --data-root data` (took 3 s):"
                                      "\n\n## Notes\n\n<!-- notes:start -->\nFD met its goal.\n<!-- notes:end -->\n")
    (found,) = discover(folder.parent)
    return found


def test_the_chinese_card_comes_from_config_json(entry):
    card = card_for_page(entry, "zh-CN")
    assert card.startswith("# cgan\n")
    config = json.loads((entry.path / "config.json").read_text())
    # the numbers of config.json, in Chinese sentences
    assert f"{config['step']:,} 步" in card and "2 分 5 秒" in card and "（60,000 张训练图像）" in card
    assert "MNIST 手写数字" in card and "按类别条件生成" in card
    assert f"隐维度为 {config['model']['latent_dim']}" in card
    assert f"| {message('card.metric.classifier_fd', 'zh-CN')} | 21.82 |" in card
    assert f"| {message('card.metric.classes_covered', 'zh-CN')} | 10 |" in card
    assert "## 评估" in card and "## 复现" in card and "--latent-dim" in card
    # a bar inside a label does not split the table's cell
    kl_row = next(line for line in card.splitlines() if "KL(q(z" in line)
    assert len(re.findall(r"(?<!\\)\|", kl_row)) == 3
    # what has no structured source: the eval command as run, and the notes, said to be in English
    assert "`python -m genimg eval --checkpoint checkpoints/cgan --data-root data`" in card
    assert message("card.notes_english", "zh-CN") in card and "FD met its goal." in card
    assert not [sentence for sentence in ENGLISH_SENTENCES if sentence in card]
    assert "![" not in card


def test_the_english_card_is_the_readme(entry):
    card = card_for_page(entry, "en")
    assert "A DCGAN trained on **mnist**." in card and "![" not in card and "评估" not in card


def test_an_unreadable_config_falls_back_to_the_readme_and_says_so(entry, tmp_path):
    folder = tmp_path / "cgan"
    shutil.copytree(entry.path, folder)
    (folder / "config.json").write_text("[" * 100_000)
    broken = entry.__class__(**{**entry.__dict__, "path": folder})
    card = card_for_page(broken, "zh-CN")
    assert card.startswith(message("card.unreadable", "zh-CN", model="cgan")) and "trained on **mnist**" in card


def test_missing_numbers_leave_their_rows_out(entry):
    config = json.loads((entry.path / "config.json").read_text())
    config["metrics"] = {"classifier_fd": "21", "classes_covered": True}
    config.pop("elapsed_seconds")
    card = translated_card(entry, config, "zh-CN")
    assert "## 评估" not in card and "未知时长" in card
