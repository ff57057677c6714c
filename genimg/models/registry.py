"""The model-kind registry: every kind of model genimg can build registers here once, and everything else asks here.

A kind is a name stored in each checkpoint's config.json ("dcgan", "vae", ...). Registering it says, in one place:
its family (which training step and which health alarms apply), its builder, the image sizes it can draw, the
settings it reads, what the Explore tabs can do with it (its capabilities) and its default training recipe.
No other module guesses a family from a kind's name or tests a model's class.

Adding a kind: write its network in a module under genimg/models/ (a `GenerativeModel`, see base.py; a GAN's
generator and discriminator, see gan.py) and call `register(ModelKind(...))` at the bottom of that module; import
the module in genimg/models/__init__.py. Explore, the command line, model cards and the kind contract in the tests
pick it up from here; a line in genimg/recipes.py offers it in the Train tab's model menu.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from genimg.config import ConfigError, ModelConfig, Recipe
from genimg.models.base import GenerativeModel

FAMILIES = ("gan", "vae", "flow")  # each has a training step in genimg.training.engine and health rules
FAMILY_NAMES = {"gan": "GAN", "vae": "VAE", "flow": "flow"}
# ModelConfig settings that only some kinds read, with their defaults; a kind lists the ones it reads in `options`.
# A non-default `depth` on a kind that ignores it is refused (it changes the network's shape, so a config claiming
# it would describe a different network); `likelihood` and `spectral_norm` are ignored where unused, as they always
# were, so every checkpoint written before keeps loading.
OPTIONAL_SETTINGS = {"likelihood": "bernoulli", "spectral_norm": False, "depth": 0}
REFUSED_WHEN_UNUSED = ("depth",)


@dataclass(frozen=True)
class Capabilities:
    """What the Explore tabs can do with a kind.

    encoder: q(z|x) exists: encode a picture, reconstruct it, latent maps, the ELBO and its terms.
    discriminator: D(x) exists: the discriminator's verdict; inversion then optimises z through the generator.
    class_mixing: a conditional model accepts a soft class vector in place of the one-hot one that `condition`
        appends to z (the Interpolate tab's class-to-class path); a kind whose `condition` does something else
        sets it False.
    ode: it draws by integrating an ODE from its latent (a flow): how (steps, solver, guidance) can be chosen per
        call with genimg.models.flow.drawing, and `model.invert(images, labels)` runs the ODE backwards to the
        latents that draw the pictures, with no encoder and no optimisation.
    """

    encoder: bool = False
    discriminator: bool = False
    class_mixing: bool = True
    ode: bool = False

    @property
    def inversion(self) -> str:
        """How a picture is put into latent space: "encoder" (one pass of q(z|x)), "ode" (a flow's ODE run
        backwards) or "optimise" (gradient descent on z so that the generator redraws the picture)."""
        if self.encoder:
            return "encoder"
        return "ode" if self.ode else "optimise"


@dataclass(frozen=True)
class ModelKind:
    """One registered kind.

    name: stored in config.json; aliases: older names that still load as this kind.
    family: "gan" or "vae" (see FAMILIES): picks the training step and the health alarms.
    title: what cards and the page call it ("DCGAN").
    build: ModelConfig → a freshly initialised GenerativeModel.
    image_sizes: the image sides it can draw.
    options: the optional ModelConfig settings (see OPTIONAL_SETTINGS) it reads.
    recipe: default training settings (the command line's defaults; a Train tab preset starts here).
    latent_size: for a kind whose latent is fixed by the picture's shape (a flow's is a noise image),
        (image_size, channels) → latent_dim; None when latent_dim is a free choice.
    """

    name: str
    family: str
    title: str
    build: Callable[[ModelConfig], GenerativeModel]
    image_sizes: tuple[int, ...]
    recipe: Recipe
    capabilities: Capabilities = field(default_factory=Capabilities)
    options: frozenset[str] = frozenset()
    aliases: tuple[str, ...] = ()
    latent_size: Callable[[int, int], int] | None = None

    def check(self, config: ModelConfig) -> None:
        """Raise ConfigError, naming the setting, when `config` asks for something this kind cannot build."""
        if config.image_size not in self.image_sizes:
            raise ConfigError(f"image_size = {config.image_size!r} is not accepted: expected one of "
                              f"{self.image_sizes} for {self.name}")
        fixed = self.fixed_latent_dim(config.image_size, config.channels)
        if fixed is not None and config.latent_dim != fixed:
            raise ConfigError(f"latent_dim = {config.latent_dim!r} is not accepted: a {self.name}'s latent is its "
                              f"noise image, {config.channels}×{config.image_size}×{config.image_size} = {fixed} "
                              "numbers")
        for setting in REFUSED_WHEN_UNUSED:
            default = OPTIONAL_SETTINGS[setting]
            if setting not in self.options and getattr(config, setting) != default:
                raise ConfigError(f"{setting} = {getattr(config, setting)!r} is not accepted: {self.name} does not "
                                  f"use it (leave it at {default!r})")

    def fixed_latent_dim(self, image_size: int, channels: int) -> int | None:
        """The latent size pictures of this shape fix for this kind, or None when it is a free choice."""
        return self.latent_size(image_size, channels) if self.latent_size is not None else None

    def fit_image_size(self, size: int) -> int:
        """The image side this kind draws for data of side `size`: `size` itself, or the next larger side it
        can draw (data is resized), or its largest."""
        larger = [side for side in sorted(self.image_sizes) if side >= size]
        return larger[0] if larger else max(self.image_sizes)

    @property
    def family_name(self) -> str:
        return FAMILY_NAMES[self.family]


_KINDS: dict[str, ModelKind] = {}
_ALIASES: dict[str, str] = {}


def register(kind: ModelKind) -> ModelKind:
    """Add `kind`; a name (or alias) already taken, or an unknown family, raises ValueError."""
    if kind.family not in FAMILIES:
        raise ValueError(f"model kind {kind.name!r}: family {kind.family!r} is not one of {FAMILIES}")
    for name in (kind.name, *kind.aliases):
        if name in _KINDS or name in _ALIASES:
            raise ValueError(f"model kind {name!r} is already registered")
    _KINDS[kind.name] = kind
    _ALIASES.update({alias: kind.name for alias in kind.aliases})
    return kind


def unregister(name: str) -> None:
    """Remove a kind and its aliases (for tests that register a throwaway kind)."""
    kind = _KINDS.pop(name)
    for alias in kind.aliases:
        _ALIASES.pop(alias, None)


def get(name: str) -> ModelKind:
    """The kind called `name` (or an alias of it); ConfigError naming the registered kinds otherwise."""
    if isinstance(name, str):
        found = _KINDS.get(_ALIASES.get(name, name))
        if found is not None:
            return found
    shown = repr(name) if len(repr(name)) <= 40 else repr(name)[:36] + "…"
    raise ConfigError(f"model kind = {shown} is not accepted: expected one of {', '.join(names())}")


def names() -> tuple[str, ...]:
    return tuple(_KINDS)


def kinds() -> tuple[ModelKind, ...]:
    return tuple(_KINDS.values())


def kind_of(model: GenerativeModel | ModelConfig) -> ModelKind:
    """The registered kind of a built model or of its settings."""
    return get(model.kind)


def check(config: ModelConfig) -> ModelKind:
    """Check `config` against its kind's own rules; returns the kind. Raises ConfigError naming the setting."""
    kind = get(config.kind)
    kind.check(config)
    return kind


def build_model(config: ModelConfig) -> GenerativeModel:
    """A freshly initialised model for `config`, checked against its kind first.

    Every model offers `generate(z, labels) → images in [0, 1]`, `latent_dim` and `num_classes` (see base.py).
    """
    kind = check(config)
    model = kind.build(config)
    model.kind = kind.name
    return model
