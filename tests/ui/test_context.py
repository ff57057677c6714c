"""ExploreContext: which models a tab offers (by capability, latent size, conditioning) and which paths it accepts."""

import pytest
import torch

from genimg.config import ModelConfig
from genimg.explore.catalog import Renderer, discover
from genimg.models import build_model
from genimg.store.checkpoint import save_checkpoint
from genimg.store.workspace import Workspaces
from genimg.ui.context import ExploreContext


def save(folder, kind, latent_dim=4, num_classes=0, metrics=None):
    config = ModelConfig(kind=kind, latent_dim=latent_dim, width=8, num_classes=num_classes)
    torch.manual_seed(0)
    return save_checkpoint(folder, model_config=config.to_dict(), weights=build_model(config).state_dict(), step=1,
                           dataset="mnist", metrics=metrics)


def test_choices_follow_capabilities_latent_size_and_conditioning(tmp_path):
    save(tmp_path / "gan", "dcgan")
    save(tmp_path / "cvae", "vae", num_classes=10)
    save(tmp_path / "vae2d", "vae", latent_dim=2)
    context = ExploreContext(Renderer("cpu"), discover(tmp_path))
    names = lambda **filters: [label.split(" · ")[0] for label, _ in context.choices(**filters)]  # noqa: E731
    assert names() == ["gan", "vae2d", "cvae"]
    assert names(needs="encoder") == ["vae2d", "cvae"]
    assert names(needs="discriminator") == ["gan"]
    assert names(needs="encoder", latent_dim=2, conditional=False) == ["vae2d"]


def test_a_users_model_is_accepted_from_its_workspace_only_and_keeps_its_card(tmp_path):
    workspaces = Workspaces(tmp_path / "workspaces")
    workspace = workspaces.issue("127.0.0.1")
    mine = save(workspace.models / "mine", "vae", metrics={"test_neg_elbo": 101.5})
    elsewhere = save(tmp_path / "elsewhere", "vae")
    context = ExploreContext(Renderer("cpu"), [], workspaces=workspaces)
    entry = context.entry(str(mine))
    assert entry is not None and entry.owned and entry.path == mine
    assert entry.metric("test_neg_elbo") == 101.5  # a ★ model ranks by its card's numbers like a shipped one
    assert context.entry(str(elsewhere)) is None  # a folder the page did not offer is never read
    assert context.entry(None) is None and context.entry(str(tmp_path)) is None


def test_a_model_list_registered_after_the_train_tab_took_them_is_refused():
    """The Train tab's load and save events update every model list registered when it was built; one registered
    later would be missing from their outputs (Gradio then drops a value and the page's load fails), so it is refused
    at build time with what to do instead."""
    from genimg.explore.catalog import Renderer
    from genimg.ui.context import ExploreContext

    context = ExploreContext(Renderer("cpu"), [])
    context.register("first list")
    assert context.taken_dropdowns() == ["first list"]
    with pytest.raises(RuntimeError, match="registered after the Train tab"):
        context.register("late list")
