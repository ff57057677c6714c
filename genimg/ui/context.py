"""What every tab receives: the shared renderer, the models it can show, and each user's own models."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genimg.config import ConfigError
from genimg.explore.catalog import ModelEntry, Renderer, describe
from genimg.store.checkpoint import CheckpointError
from genimg.store.workspace import Workspace, Workspaces


def proxy_hops() -> int:
    """How many reverse proxies in front of the page append to X-Forwarded-For: GENIMG_PROXY_HOPS, else 1 on a
    Hugging Face Space (SPACE_ID is set; its proxy connects from an internal address), else 0."""
    text = os.environ.get("GENIMG_PROXY_HOPS", "").strip()
    if not text:
        return 1 if os.environ.get("SPACE_ID") else 0
    if not text.isdigit():
        raise ValueError(f"GENIMG_PROXY_HOPS={text!r} is not accepted: a whole number of proxies, 0 or more")
    return int(text)


def client_address(request: Any) -> str:
    """The address a page request came from, for limits per visitor ("unknown" for a direct call).

    Behind `proxy_hops()` proxies it is the X-Forwarded-For entry the outermost of them appended, counted from
    the right: entries further left were written by the visitor and could say anything."""
    hops = proxy_hops()
    if hops:
        headers = getattr(request, "headers", None)
        forwarded = (headers.get("x-forwarded-for") if headers is not None else None) or ""
        entries = [entry.strip() for entry in forwarded.split(",") if entry.strip()]
        if len(entries) >= hops:
            return entries[-hops]
    host = getattr(getattr(request, "client", None), "host", None)
    return str(host) if host else "unknown"


@dataclass
class ExploreContext:
    renderer: Renderer
    entries: list[ModelEntry]
    problems: list[str] = field(default_factory=list)  # checkpoint folders that could not be offered, and why
    # Where the Train tab keeps each user's models; their folders are offered to that user's dropdowns only.
    workspaces: Workspaces | None = None
    # Every model dropdown of the Explore tabs, with its filter, so the Train tab can add a saved model to all.
    dropdowns: list[tuple[Any, dict[str, Any], tuple[tuple[str, str], ...]]] = field(default_factory=list)
    # What the page measured of a model, as Markdown for its card in a language ("" if nothing): set by the
    # Evaluate tab, read by the model card under "About this model".
    measured: Any = None
    dropdowns_taken: bool = False  # set by taken_dropdowns()
    _described: dict[tuple[str, int], ModelEntry | None] = field(default_factory=dict)

    def choices(self, *, needs: str | None = None, latent_dim: int | None = None,
                conditional: bool | None = None, extra: list[ModelEntry] | tuple = ()) -> list[tuple[str, str]]:
        """(label, folder path) pairs for a gr.Dropdown, filtered by a capability the tab needs ("encoder",
        "discriminator"; see genimg.models.registry.Capabilities), latent size and conditioning;
        `extra` (a user's own models) come first."""
        chosen = []
        for entry in [*extra, *self.entries]:
            if needs is not None and not getattr(entry.capabilities, needs):
                continue
            if latent_dim is not None and entry.latent_dim != latent_dim:
                continue
            if conditional is not None and bool(entry.num_classes) != conditional:
                continue
            chosen.append((entry.label, str(entry.path)))
        return chosen

    def entry(self, path: str | None) -> ModelEntry | None:
        """The entry for a dropdown value (a folder path); None for anything not offered by the page.

        Shipped models are matched exactly; a user's model is accepted only from inside the workspaces
        folder, by a path that names its workspace (a random id, unguessable)."""
        for entry in self.entries:
            if str(entry.path) == path:
                return entry
        if not isinstance(path, str) or self.workspaces is None or not self.workspaces.is_inside(path):
            return None
        folder = Path(path).resolve()
        try:
            stamp = (folder / "config.json").stat().st_mtime_ns
        except OSError:
            return None
        key = (str(folder), stamp)
        if key not in self._described:
            try:
                found = describe(folder)
            except (CheckpointError, ConfigError, KeyError, TypeError, OSError):
                found = None
            if found is not None:
                found = dataclasses.replace(found, path=Path(path), owned=True)  # keeps the card's numbers too
            self._described[key] = found
        return self._described[key]

    def user_entries(self, workspace: Workspace | None) -> list[ModelEntry]:
        """The models a user saved in the Train tab, newest name order."""
        if workspace is None:
            return []
        found = []
        for folder in workspace.model_folders():
            entry = self.entry(str(folder))
            if entry is not None:
                found.append(entry)
        return found

    def register(self, dropdown: Any, *, first: tuple[tuple[str, str], ...] = (), **filters: Any) -> None:
        """Remember a model dropdown and its filter (`first`: fixed choices shown before the models)."""
        if self.dropdowns_taken:
            raise RuntimeError("a model list was registered after the Train tab took the page's model lists; make it "
                               "first (gr.Dropdown(render=False), rendered later) so the Train tab updates it too")
        self.dropdowns.append((dropdown, filters, first))

    def taken_dropdowns(self) -> list[Any]:
        """Every registered model dropdown, for a tab whose events update them all (the Train tab's load and save):
        its outputs are fixed now, so a later registration would be left out and is refused (see `register`)."""
        self.dropdowns_taken = True
        return [dropdown for dropdown, _, _ in self.dropdowns]

    def dropdown_updates(self, extra: list[ModelEntry]) -> list[dict]:
        """New choices for every registered dropdown: the user's models, then the shipped ones."""
        import gradio as gr

        return [gr.update(choices=[*first, *self.choices(extra=extra, **filters)])
                for _, filters, first in self.dropdowns]
