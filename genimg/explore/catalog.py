"""The model catalog the page calls: finds checkpoints (`discover`), keeps loaded models in a shared cache and
makes images from them (`Renderer`).

Models are loaded once and shared by every browser session; anything per user lives in the page's state, not
here. The cache always loads outside inference mode, so one cached model serves sampling (forward passes under
`torch.inference_mode()`), GAN inversion and the discriminator's gradients alike, whichever tab loaded it first.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from genimg.config import JUDGE_KIND, ConfigError, ModelConfig
from genimg.data.imaging import grid_columns, grid_image, upscale
from genimg.models import GenerativeModel, registry
from genimg.models.latent import class_labels, seeded_latents
from genimg.models.loading import load_model, resolve_device
from genimg.store.checkpoint import (
    MAX_CARD_BYTES,
    CheckpointError,
    read_config,
    read_model_file,
)

MAX_SAMPLES = 256


@dataclass(frozen=True)
class ModelEntry:
    """One explorable checkpoint: where it is, what it is, and its card."""

    name: str
    path: Path
    kind: str
    dataset: str
    latent_dim: int
    num_classes: int
    class_names: tuple[str, ...]
    card: str
    owned: bool = False  # trained by this page's user (their workspace), not shipped
    # The numeric metrics of its model card (config.json "metrics"), as sorted (name, value) pairs.
    metrics: tuple[tuple[str, float], ...] = ()

    @property
    def model_kind(self) -> registry.ModelKind:
        """The registered kind (family, capabilities, title) of this checkpoint."""
        return registry.get(self.kind)

    @property
    def family(self) -> str:
        return self.model_kind.family

    @property
    def capabilities(self) -> registry.Capabilities:
        return self.model_kind.capabilities

    def metric(self, name: str) -> float | None:
        """One of the card's metrics (e.g. "test_neg_elbo"); None when it was not measured."""
        return dict(self.metrics).get(name)

    @property
    def label(self) -> str:
        """How model lists name it, the same in every language (a list's labels are fixed when the page is built,
        not per visitor): names and the usual notation only, e.g. "mnist-cdcgan · cGAN · mnist" (c: conditional)."""
        family = ("c" if self.num_classes else "") + self.model_kind.family_name
        mark = "★ " if self.owned else ""
        return f"{mark}{self.name} · {family} · {self.dataset}"


def discover(*folders: str | Path, problems: list[str] | None = None) -> list[ModelEntry]:
    """Every loadable generator checkpoint directly inside `folders`: MNIST first, GANs before VAEs.

    Broken folders are skipped; when `problems` is given, one line per skipped folder (or ignored card) says why,
    naming the folder by its name only (judge classifiers are not generators and are skipped without a word).
    Model folders may come from anywhere, so nothing in them is trusted: a folder or file that is a symbolic link
    is refused, and config.json and README.md are capped in size and depth before they are read (see
    genimg.store.checkpoint.read_model_file); a hostile folder costs one line, never the page.
    """
    entries = []
    for folder in folders:
        folder = Path(folder)
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            if path.is_symlink():
                if (path / "config.json").is_file() and problems is not None:
                    problems.append(f"{path.name}: the model folder is a symbolic link; genimg follows no links "
                                    "among model folders (copy the folder instead)")
                continue
            if not (path / "config.json").is_file() and not (path / "config.json").is_symlink():
                continue
            try:
                entry = describe(path, problems=problems)
            except (CheckpointError, ConfigError, KeyError, TypeError, ValueError) as error:
                if problems is not None:
                    problems.append(f"{path.name}: {_one_line(error)}")
                continue
            if entry is not None:
                entries.append(entry)
    # The order a newcomer meets them: MNIST first, GANs before VAEs, plain before conditional.
    families = {family: order for order, family in enumerate(registry.FAMILIES)}
    entries.sort(key=lambda entry: (entry.dataset != "mnist", families[entry.family], entry.num_classes > 0,
                                    entry.name))
    return entries


def describe(path: Path, problems: list[str] | None = None) -> ModelEntry | None:
    """The entry for one checkpoint folder; None for a judge classifier. Raises CheckpointError/ConfigError.

    A card that cannot be shown (a symbolic link, not a regular file, over MAX_CARD_BYTES) is left out: the entry's
    card is empty and, when `problems` is given, one line says why.
    """
    config = read_config(path)
    if isinstance(config.get("model"), dict) and config["model"].get("kind") == JUDGE_KIND:
        return None
    model = ModelConfig.from_dict(config["model"])
    kind = registry.check(model)  # an unknown kind or a setting it cannot build: ConfigError, the folder is skipped
    card = _read_card(path, problems)
    names = _class_names(str(config.get("dataset")), model.num_classes)
    return ModelEntry(path.name, path, kind.name, str(config.get("dataset")), model.latent_dim,
                      model.num_classes, names, card, metrics=_numeric_metrics(config.get("metrics")))


def _read_card(folder: Path, problems: list[str] | None) -> str:
    """The folder's README.md as text, or "" when it is absent or refused (a link, not a file, too large)."""
    try:
        data = read_model_file(folder / "README.md", max_bytes=MAX_CARD_BYTES, what="model card")
    except FileNotFoundError:
        return ""
    except CheckpointError as error:
        if problems is not None:
            problems.append(f"{folder.name}: its card is not shown: {_one_line(error)}")
        return ""
    return data.decode("utf-8", errors="replace")


def _one_line(error: BaseException, limit: int = 400) -> str:
    """An error's message on one line, shortened: a problem line is read in a list, not a report."""
    text = " ".join(str(error).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _numeric_metrics(metrics: object) -> tuple[tuple[str, float], ...]:
    """The finite numbers among a card's metrics (lists such as class shares and broken values are left out)."""
    if not isinstance(metrics, dict):
        return ()
    return tuple(sorted((str(name), float(value)) for name, value in metrics.items()
                        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)))


def rank_encoders(entries: Iterable[ModelEntry]) -> list[ModelEntry]:
    """The models with an encoder (VAEs), the one to encode a drawing with first; the Encode tab starts on it.

    The rule, in order:
    1. Data sets in the order given (discover puts MNIST first): −ELBO on different data is not comparable.
    2. Unconditional before conditional: a conditional VAE decodes whatever class the user picks rather than the one
       drawn, and its −ELBO bounds −log p(x|y), not −log p(x).
    3. Models whose card has a measured test −ELBO ("test_neg_elbo", nats per image; lower is a better fit of the
       test images), lowest first; then those without one.
    4. Then the larger latent space (more dimensions keep more of a drawing), then the name.
    So a 2-D VAE, whose 2 dimensions blur digits into each other (a drawn 7 comes back a 9), is chosen only when
    nothing better was trained; its place is the latent map.
    """
    encoders = [entry for entry in entries if entry.capabilities.encoder]
    datasets: dict[str, int] = {}
    for entry in encoders:
        datasets.setdefault(entry.dataset, len(datasets))

    def key(entry: ModelEntry) -> tuple:
        neg_elbo = entry.metric("test_neg_elbo")
        return (datasets[entry.dataset], entry.num_classes > 0, neg_elbo is None,
                neg_elbo if neg_elbo is not None else 0.0, -entry.latent_dim, entry.name)

    return sorted(encoders, key=key)


def rank_generators(entries: Iterable[ModelEntry], one_pass_first: bool = False) -> list[ModelEntry]:
    """Every model, the one whose samples look best first; the Samples tab (the page's landing) opens on it.

    one_pass_first: models that draw in one network pass come before those that draw in many ODE steps (a flow),
    whatever their numbers: on a CPU a flow's landing grid takes seconds, a GAN's milliseconds (the page passes it
    when it runs on a CPU).

    The rule, in order, on the numbers a model card carries (config.json "metrics", written by `genimg eval`):
    1. MNIST first (the data set a newcomer recognises), then the other data sets in the order given: the judge
       that measures a model is trained on its data set, so numbers on different data are not comparable.
    2. Models whose card has the judge's Fréchet distance between samples and test images ("classifier_fd";
       lower means samples closer to real ones in quality and variety), lowest first; then those without one.
    3. Then the judge's mean top-class confidence on samples ("mean_confidence"; higher means more recognisable
       samples), highest first, those without one after.
    4. Then the name, so the order never depends on the folder listing.
    Family and conditioning play no part (but for one_pass_first): a conditional model is chosen when its samples
    measure better.
    """
    entries = list(entries)
    datasets: dict[str, int] = {}
    for entry in entries:
        datasets.setdefault(entry.dataset, len(datasets))

    def key(entry: ModelEntry) -> tuple:
        distance = entry.metric("classifier_fd")
        confidence = entry.metric("mean_confidence")
        return (entry.dataset != "mnist", datasets[entry.dataset], one_pass_first and entry.capabilities.ode,
                distance is None, distance if distance is not None else 0.0,
                confidence is None, -confidence if confidence is not None else 0.0, entry.name)

    return sorted(entries, key=key)


def _class_names(dataset: str, count: int) -> tuple[str, ...]:
    from genimg.data.datasets import (
        FASHION_MNIST_CLASS_NAMES,
        MNIST_CLASS_NAMES,
        SHAPE_KINDS,
    )

    known = {"mnist": MNIST_CLASS_NAMES, "fashion-mnist": FASHION_MNIST_CLASS_NAMES, "shapes": SHAPE_KINDS}
    names = known.get(dataset)
    if names is not None and len(names) == count:
        return tuple(names)
    return tuple(str(index) for index in range(count))


class Renderer:
    """Loads models on first use and keeps the most recent few; thread-safe."""

    def __init__(self, device: str = "auto", capacity: int = 8) -> None:
        self.device = resolve_device(device)
        self.capacity = capacity
        self._models: OrderedDict[tuple[Path, int], tuple[GenerativeModel, ModelConfig]] = OrderedDict()
        self._lock = threading.Lock()

    def model(self, path: str | Path) -> tuple[GenerativeModel, ModelConfig]:
        """The model of a checkpoint folder and its settings, loaded on first use (shared, so only ever read).

        Its weights are ordinary tensors even when the caller is inside `torch.inference_mode()` (sample_grid
        is): weights created there would be inference tensors, and every later autograd use of the shared model
        (inverting the generator, a saliency map of the discriminator) would fail.
        """
        folder = Path(path).resolve()
        try:  # a model saved again under the same name (a page user's workspace) is loaded afresh
            stamp = (folder / "config.json").stat().st_mtime_ns
        except OSError:
            stamp = 0
        key = (folder, stamp)
        with self._lock:
            if key in self._models:
                self._models.move_to_end(key)
                return self._models[key]
        with torch.inference_mode(False):
            model, config, _ = load_model(folder, self.device)  # outside the lock: loading may take a moment
        with self._lock:
            self._models[key] = (model, config)
            self._models.move_to_end(key)
            while len(self._models) > self.capacity:
                self._models.popitem(last=False)
        return model, config

    @torch.inference_mode()
    def sample_grid(self, path: str | Path, seed: int, count: int = 16, label: int | None = None,
                    scale: int = 4) -> np.ndarray:
        """A grid of `count` samples from `seed` as uint8 (H, W) or (H, W, 3), upscaled `scale`× (nearest).

        label: the class for every sample of a conditional model; None gives one class per column.
        """
        if not 1 <= count <= MAX_SAMPLES:
            raise ValueError(f"count = {count} is not accepted: choose 1 to {MAX_SAMPLES} samples")
        model, config = self.model(path)
        classes = config.num_classes
        if label is not None and classes and not 0 <= label < classes:
            raise ValueError(f"class {label} is not accepted: this model knows classes 0 to {classes - 1}")
        latents = seeded_latents(seed, count, config.latent_dim, self.device)
        if classes and label is not None:
            labels = torch.full((count,), label, dtype=torch.long, device=self.device)
            columns = grid_columns(count)
        else:
            labels = class_labels(count, classes, self.device)
            columns = grid_columns(count, classes)
        images = model.generate(latents, labels)
        return upscale(grid_image(images, columns=columns), scale)
