"""genimg.ui.cards_view: a Chinese visitor's model card is written from config.json through translated templates;
the English README stays as it is on disk. The notes people wrote are shown in Chinese when the card has a Chinese
translation of them, and in English, said to be English, when it has none."""

import json
import re
import shutil

import pytest

from genimg.config import SHIPPED_DIR
from genimg.eval.cards import NOTES_ZH_END, NOTES_ZH_START
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


CHINESE_NOTES = (f"\n\n<details>\n<summary>说明（中文）</summary>\n\n{NOTES_ZH_START}\nFD 达到了目标，**已达成**。\n"
                 f"{NOTES_ZH_END}\n\n</details>\n")


@pytest.fixture()
def translated_entry(entry, tmp_path):
    """The same model, its README carrying a Chinese translation of the notes after the English ones."""
    folder = tmp_path / "cgan"
    shutil.copytree(entry.path, folder)
    card = (folder / "README.md").read_text()
    (folder / "README.md").write_text(card.rstrip("\n") + CHINESE_NOTES)
    (found,) = discover(tmp_path)
    return found


def test_the_chinese_card_shows_the_chinese_notes_when_the_card_has_them(translated_entry):
    card = card_for_page(translated_entry, "zh-CN")
    assert "FD 达到了目标，**已达成**。" in card and "## 说明" in card
    assert message("card.notes_english", "zh-CN") not in card and "FD met its goal." not in card
    assert "<details>" not in card and NOTES_ZH_START not in card


def test_the_chinese_card_falls_back_to_the_english_notes_and_says_so(entry):
    card = card_for_page(entry, "zh-CN")
    notes = card[card.index("## 说明"):]
    assert notes == f"## 说明\n\n{message('card.notes_english', 'zh-CN')}\n\nFD met its goal."


def test_english_visitors_see_the_readme_without_the_chinese_notes(entry, translated_entry):
    assert card_for_page(translated_entry, "en") == card_for_page(entry, "en")


GENERATORS = ["mnist-cdcgan", "mnist-cflow", "mnist-flow", "mnist-cvae", "mnist-dcgan", "mnist-vae-2d", "mnist-vae",
              "mnist-vae-binarised", "shapes-dcgan",
              "shapes-vae"]
# Names, acronyms and notation the Chinese notes may keep in Latin letters; any other word is English left untranslated.
KEPT_IN_LATIN = {"FD", "EMA", "ELBO", "IWAE", "CAS", "Burda", "KL", "GPU", "CPU", "MNIST", "GAN", "DCGAN", "VAE", "CVAE", "Adam", "genimg", "Heun",
                 "Euler", "MMD", "InfoVAE", "G", "D", "min", "log", "t", "k", "x", "y", "p", "N", "I"}
# G, D: the networks' symbols; the rest: formulas (N(0, I) the prior)


@pytest.mark.parametrize("name", GENERATORS)
def test_every_shipped_generator_has_chinese_notes_with_no_english_words(name):
    (entry,) = [found for found in discover(SHIPPED_DIR) if found.name == name]
    card = card_for_page(entry, "zh-CN")
    assert message("card.notes_english", "zh-CN") not in card
    notes = card[card.index("## 说明"):]
    prose = re.sub(r"`[^`]*`", "", notes)  # commands in backticks are typed as written
    words = re.findall(r"[A-Za-z]+", re.sub(r"\d+e-?\d+", "", prose))  # a rate such as 1e-3 is a number
    assert not set(words) - KEPT_IN_LATIN
    english_numbers = re.findall(r"\d[\d,.]*", re.sub(r"`[^`]*`", "", entry.card.split("<!-- notes:start -->")[1]
                                                      .split("<!-- notes:end -->")[0]))
    chinese_numbers = re.findall(r"\d[\d,.]*", prose)
    # the same numbers, each as often, as the English notes (a translation changes words, not figures)
    assert sorted(n.rstrip(".,") for n in chinese_numbers) == sorted(n.rstrip(".,") for n in english_numbers)


def test_a_flows_card_lists_its_steps_and_the_quality_at_each_step_count_in_both_languages():
    from types import SimpleNamespace

    from genimg.ui.cards_view import _metric_rows

    metrics = {"sampling_steps": 20, "network_calls": 80, "sampling_guidance": 2.0,
               "steps_curve": [{"steps": 1, "mean_confidence": 0.41, "conditional_accuracy": 0.5,
                                "seconds_per_image": 0.0004},
                               {"steps": 20, "mean_confidence": 0.987, "seconds_per_image": 0.012},
                               {"steps": "many"}]}  # a hand-edited row is left out
    english = dict(_metric_rows(metrics, SimpleNamespace(class_names=()), "en"))
    assert english["ODE steps each sample was drawn in"] == "20"
    assert english["at 1 ODE steps"] == "confidence 0.410, requested class 50.0%, 0.4 ms per image"
    assert english["at 20 ODE steps"] == "confidence 0.987, 12.0 ms per image" and len(english) == 5
    chinese = dict(_metric_rows(metrics, SimpleNamespace(class_names=()), "zh-CN"))
    assert chinese["1 步 ODE 时"] == "置信度 0.410，请求类别的准确率 50.0%，每张图 0.4 毫秒"
