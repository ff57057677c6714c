"""Every registered model kind passes the same contract: model, catalog, Explore tabs and command line."""

import pytest

from genimg.models import registry
from tests.kind_contract import check_catalog, check_cli, check_explore, check_model, check_tools

BUILT_IN = registry.names()


def test_the_built_in_kinds_are_registered_with_their_families():
    families = {name: registry.get(name).family for name in BUILT_IN}
    assert {"dcgan": "gan", "seed-gan": "gan", "vae": "vae", "seed-vae": "vae"}.items() <= families.items()


@pytest.mark.parametrize("name", BUILT_IN)
def test_model(name):
    check_model(name)


@pytest.mark.parametrize("name", BUILT_IN)
def test_catalog(name, tmp_path):
    check_catalog(name, tmp_path)


@pytest.mark.parametrize("name", BUILT_IN)
def test_explore(name, tmp_path):
    check_explore(name, tmp_path)


@pytest.mark.parametrize("name", BUILT_IN)
def test_tools(name, tmp_path):
    check_tools(name, tmp_path)


@pytest.mark.parametrize("name", BUILT_IN)
def test_cli(name, tmp_path):
    check_cli(name, tmp_path)
