"""The model-kind registry: registration rules, look-ups, aliases, per-kind checks and image sizes."""

import pytest

from genimg.config import ConfigError, ModelConfig, Recipe
from genimg.models import build_model, registry

RECIPE = Recipe(latent_dim=2, width=8, learning_rate=1e-3, adam_beta1=0.5)


def kind(name="test-kind", **changes):
    values = dict(name=name, family="vae", title="test kind", build=registry.get("vae").build, image_sizes=(28,),
                  recipe=RECIPE, capabilities=registry.Capabilities(encoder=True), options=frozenset({"likelihood"}))
    values.update(changes)
    return registry.ModelKind(**values)


@pytest.fixture
def registered():
    added = []

    def add(model_kind):
        registry.register(model_kind)
        added.append(model_kind.name)
        return model_kind

    yield add
    for name in added:
        registry.unregister(name)


def test_a_name_or_alias_is_registered_once(registered):
    registered(kind("test-kind", aliases=("old-test-kind",)))
    for taken in ("test-kind", "old-test-kind", "dcgan"):
        with pytest.raises(ValueError, match=f"'{taken}' is already registered"):
            registry.register(kind("another", aliases=(taken,)))
    assert "another" not in registry.names()  # a refused registration leaves nothing behind


def test_an_unknown_family_is_refused():
    with pytest.raises(ValueError, match="family 'flowish'"):
        registry.register(kind(family="flowish"))
    assert "test-kind" not in registry.names()


def test_aliases_load_as_their_kind(registered):
    model_kind = registered(kind("test-kind", aliases=("old-test-kind",)))
    assert registry.get("old-test-kind") is model_kind
    model = build_model(ModelConfig(kind="old-test-kind", latent_dim=2, width=8))
    assert model.kind == "test-kind" and registry.kind_of(model) is model_kind
    registry.unregister("test-kind")
    with pytest.raises(ConfigError):
        registry.get("old-test-kind")
    registry.register(model_kind)  # the fixture unregisters it


@pytest.mark.parametrize("name", ["ddpm", "", None, 3, "x" * 500])
def test_an_unknown_kind_names_the_registered_ones(name):
    with pytest.raises(ConfigError, match="expected one of dcgan, vae, seed-gan, seed-vae, flow") as raised:
        registry.get(name)
    assert len(str(raised.value)) < 200  # an enormous name is shortened


def test_kind_of_a_model_or_its_settings():
    config = ModelConfig(kind="seed-vae", latent_dim=3, width=8)
    assert registry.kind_of(config) is registry.get("seed-vae")
    assert registry.kind_of(build_model(config)).family == "vae"


def test_capabilities_say_how_a_picture_is_inverted():
    assert registry.get("vae").capabilities.inversion == "encoder"
    assert registry.get("dcgan").capabilities.inversion == "optimise"
    assert registry.get("dcgan").capabilities.discriminator and not registry.get("vae").capabilities.discriminator


@pytest.mark.parametrize("name,size,expected", [("dcgan", 28, 28), ("seed-gan", 28, 32), ("seed-gan", 64, 64),
                                                ("seed-gan", 100, 64), ("vae", 8, 28)])
def test_fit_image_size_picks_the_next_side_the_kind_draws(name, size, expected):
    assert registry.get(name).fit_image_size(size) == expected


def test_family_names():
    assert [registry.get(name).family_name for name in ("dcgan", "vae")] == ["GAN", "VAE"]
