"""What every tab receives: the shared renderer and the models it can show."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..render import ModelEntry, Renderer


@dataclass
class ExploreContext:
    renderer: Renderer
    entries: list[ModelEntry]
    problems: list[str] = field(default_factory=list)  # checkpoint folders that could not be offered, and why

    def choices(self, *, gans: bool = True, vaes: bool = True, latent_dim: int | None = None,
                conditional: bool | None = None) -> list[tuple[str, str]]:
        """(label, folder path) pairs for a gr.Dropdown, filtered by family, latent size and conditioning."""
        chosen = []
        for entry in self.entries:
            is_gan = "gan" in entry.kind
            if (is_gan and not gans) or (not is_gan and not vaes):
                continue
            if latent_dim is not None and entry.latent_dim != latent_dim:
                continue
            if conditional is not None and bool(entry.num_classes) != conditional:
                continue
            chosen.append((entry.label, str(entry.path)))
        return chosen

    def entry(self, path: str | None) -> ModelEntry | None:
        """The entry for a dropdown value (a folder path); None for anything not offered by the page."""
        for entry in self.entries:
            if str(entry.path) == path:
                return entry
        return None
