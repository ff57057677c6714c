"""Model cards: a README.md per checkpoint with its data, training, evaluation and the command to reproduce it.

The card is regenerated from config.json by `python -m genimg eval`; the parts between the notes
markers are written by people and kept as they are: the English notes, and after them, when someone has
translated them, the Chinese notes that the page shows its Chinese visitors (genimg.ui.cards_view).
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from genimg.config import JUDGE_KIND, ConfigError, TrainConfig
from genimg.models import registry
from genimg.store.checkpoint import (
    MAX_CARD_BYTES,
    read_config,
    read_model_file,
    write_file_atomic,
)

NOTES_START, NOTES_END = "<!-- notes:start -->", "<!-- notes:end -->"
NOTES_ZH_START, NOTES_ZH_END = "<!-- notes-zh:start -->", "<!-- notes-zh:end -->"
# The Chinese notes sit in a closed <details> so that the card read on GitHub or a Space stays an English page
# with one fold at its end; Markdown inside <details> needs the blank lines around it.
NOTES_ZH_SUMMARY = "说明（中文）"
_CHINESE_NOTES_BLOCK = re.compile(r"\n*(?:<details>\s*<summary>[^<]*</summary>\s*)?" + re.escape(NOTES_ZH_START)
                                  + r".*?" + re.escape(NOTES_ZH_END) + r"(?:\s*</details>)?", re.DOTALL)
JUDGE_TITLE = "judge classifier"  # judges are classifiers, not registered generative kinds


def _title(kind: object) -> str:
    """What a card calls a kind: its registered title, "judge classifier", or the name as written."""
    if kind == JUDGE_KIND:
        return JUDGE_TITLE
    try:
        return registry.get(kind).title
    except ConfigError:
        return str(kind)


def train_command(training: dict, steps: int, out: str) -> str:
    """The `python -m genimg train ...` command that reproduces a run's settings, ending at `steps`."""
    config = TrainConfig.from_dict(training)
    model = config.model
    kind = registry.get(model.kind)
    parts = ["python", "-m", "genimg", "train", "--model", kind.name, "--dataset", config.dataset]
    if config.data_root:
        parts += ["--data-root", config.data_root]
    if config.data_limit:
        parts += ["--data-limit", str(config.data_limit)]
    if model.num_classes:
        parts.append("--conditional")
    parts += ["--image-size", str(model.image_size), "--channels", str(model.channels),
              "--latent-dim", str(model.latent_dim), "--width", str(model.width)]
    if "likelihood" in kind.options:
        parts += ["--likelihood", model.likelihood]
    if model.depth:
        parts += ["--depth", str(model.depth)]
    if model.spectral_norm:
        parts.append("--spectral-norm")
    parts += ["--steps", str(steps), "--batch-size", str(config.batch_size), "--lr", f"{config.lr_generator:g}"]
    if kind.family == "gan":
        parts += ["--lr-d", f"{config.lr_discriminator:g}", "--gan-loss", config.gan_loss]
    parts += ["--adam-beta1", f"{config.adam_beta1:g}"]
    if kind.family == "vae":
        parts += ["--beta", f"{config.beta:g}"]
        if config.kl_warmup_steps:
            parts += ["--kl-warmup", str(config.kl_warmup_steps)]
        if config.mmd_weight:
            parts += ["--mmd", f"{config.mmd_weight:g}"]
    if config.binarise:
        parts.append("--binarise")
    if config.ema_decay:
        parts += ["--ema", f"{config.ema_decay:g}"]
    if config.lr_decay_from is not None:
        parts += ["--lr-decay-from", str(config.lr_decay_from)]
    parts += ["--seed", str(config.seed), "--out", out]
    return " ".join(shlex.quote(part) for part in parts)


def notes_between(card: str, start: str, end: str) -> str | None:
    """The text people wrote between the markers `start` and `end` of a card, stripped; None when it has no markers."""
    match = re.search(re.escape(start) + r"\n?(.*?)\n?" + re.escape(end), card, re.DOTALL)
    return match.group(1).strip() if match else None


def without_chinese_notes(card: str) -> str:
    """The card as an English reader gets it: the Chinese notes block (and its <details> fold) left out."""
    return _CHINESE_NOTES_BLOCK.sub("", card, count=1)


def _duration(seconds: float | None) -> str:
    if not seconds:
        return "unknown time"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


def write_card(directory: str | Path, evaluation_table: str | None = None, eval_command: str | None = None,
               eval_seconds: float | None = None) -> Path:
    """(Re)write `directory`/README.md from config.json and an evaluation table; keeps the notes people wrote,
    English and Chinese (no Chinese block is added to a card that has none)."""
    directory = Path(directory)
    config = read_config(directory)
    card_path = directory / "README.md"
    notes = "Nothing to add yet."
    try:  # the old card, read as the page reads it: no link followed, capped in size (raises CheckpointError)
        old_card = read_model_file(card_path, max_bytes=MAX_CARD_BYTES, what="model card").decode("utf-8", "replace")
    except FileNotFoundError:
        old_card = ""
    written = notes_between(old_card, NOTES_START, NOTES_END)
    if written is not None:
        notes = written
    notes_chinese = notes_between(old_card, NOTES_ZH_START, NOTES_ZH_END)  # an empty block is dropped
    model = config["model"]
    kind = _title(model.get("kind"))
    conditional = ", class-conditional" if model.get("num_classes") else ""
    size = f"{model.get('channels')}×{model.get('image_size')}×{model.get('image_size')}"
    lines = [f"# {directory.name}", ""]
    description = f"A {kind}{conditional}"
    if "latent_dim" in model:
        description += f" with a {model['latent_dim']}-dimensional latent"
    description += f", for {size} images, trained on **{config.get('dataset')}**"
    if config.get("dataset_size"):
        description += f" ({config['dataset_size']:,} training images)"
    description += (f" for {config.get('step'):,} steps in {_duration(config.get('elapsed_seconds'))} on "
                    f"{config.get('device', 'cpu')}.")
    lines += [description, ""]
    if (directory / "samples.png").exists():
        lines += ["![samples from seed 0](samples.png)", "",
                  (f"`python -m genimg sample --checkpoint checkpoints/{directory.name} --seed 0 --out grid.png` "
                  "draws this grid."), ""]
    if evaluation_table:
        lines += ["## Evaluation", ""]
        if eval_command:
            timing = f" (took {eval_seconds:.0f} s)" if eval_seconds else ""
            lines += [f"`{eval_command}`{timing}:", ""]
        lines += ["```", evaluation_table, "```", ""]
    if config.get("training"):
        lines += ["## Reproduce", "", "```bash",
                  train_command(config["training"], int(config["step"]), f"runs/{directory.name}"), "```", ""]
        lines += [("On a CPU, add `--threads 1` to run two trainings side by side, as these were. "
                  "Shipped folders keep weights only; `python -m genimg export` strips a run's optimiser state."), ""]
    lines += ["## Notes", "", NOTES_START, notes, NOTES_END, ""]
    if notes_chinese:
        lines += ["<details>", f"<summary>{NOTES_ZH_SUMMARY}</summary>", "", NOTES_ZH_START, notes_chinese,
                  NOTES_ZH_END, "", "</details>", ""]
    write_file_atomic(card_path, "\n".join(lines))
    return card_path
