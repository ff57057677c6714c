"""What every genimg generative model offers the rest of the library, whatever its family.

The Explore tabs, the engine and the metrics only ever call these methods; each network says for itself how it
turns a latent into pixels, so nothing outside `genimg.models` needs to know a concrete class:

    inputs = model.condition(z, labels)            # (B, D) [+ one-hot (B, K)] → (B, D + K)
    images = model.generate_from_input(inputs)     # (B, D + K) → (B, C, S, S) in [0, 1]
    images = model.generate(z, labels)             # the two above in one call
    features = model.first_features(inputs)        # (B, D + K) → (B, F): what GANSpace directions are found in

A conditional model's class enters as a one-hot vector appended to z, so a *soft* class vector (a blend of two
classes) is just another input row: that is how the Interpolate tab moves between classes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn


class GenerativeModel(nn.Module):
    """Base class of every model genimg builds; subclasses define `generate_from_input`.

    `kind` is the registered kind's name (set by `genimg.models.registry.build_model`; "" for a network built by
    hand). `latent_dim` and `num_classes` (0 = unconditional) describe the input.
    """

    kind: str = ""
    latent_dim: int
    num_classes: int

    def condition(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """z (B, D) and labels (B,) → the generator's input (B, D + K): z with the class as a one-hot vector."""
        if not self.num_classes:
            return z
        if labels is None:
            raise ValueError("this model is class-conditional: pass labels (B,) in [0, num_classes)")
        return torch.cat([z, F.one_hot(labels, self.num_classes).to(z.dtype)], dim=1)

    def generate_from_input(self, inputs: torch.Tensor) -> torch.Tensor:
        """The generator's input (B, D + K) → images (B, C, S, S) in [0, 1]."""
        raise NotImplementedError(f"{type(self).__name__} must define generate_from_input")

    def generate(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """z (B, D) [+ labels (B,)] → images (B, C, S, S) in [0, 1]."""
        return self.generate_from_input(self.condition(z, labels))

    def first_features(self, inputs: torch.Tensor) -> torch.Tensor:
        """The generator's first hidden activations for inputs (B, D + K), flattened to (B, F).

        Principal directions of these activations are the latent space's most-used directions (GANSpace).
        This default uses the output pixels, which any model has; networks override it with their first block.
        """
        return self.generate_from_input(inputs).flatten(1)

    def sampling_network(self) -> nn.Module:
        """The part of the model that draws samples: what an EMA averages and what a sample grid runs.
        A kind that overrides it overrides `generate_with` too."""
        return self

    def sampling_prefix(self) -> str:
        """The sampling network's prefix in this model's state dict ("" when it is the whole model)."""
        network = self.sampling_network()
        name = next(name for name, module in self.named_modules() if module is network)
        return f"{name}." if name else ""

    @contextlib.contextmanager
    def previewing(self, network: nn.Module) -> Iterator[None]:
        """Inside it, `generate_with(network, …)` may draw a faster, rougher picture (`network`: this model's
        `sampling_network()` or a copy of it): what a training run's frequent sample grids use. Most models draw in
        one pass and change nothing; a flow takes fewer ODE steps."""
        yield

    def generate_with(self, network: nn.Module, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Images (B, C, S, S) in [0, 1] drawn by `network`, a copy of `sampling_network()` (an EMA of its
        weights, say) — the model's own `generate`, run with other weights."""
        return network.generate(z, labels)


# ------------------------------------------------------------------------------ batch-norm folding
def foldable(norm: nn.Module) -> bool:
    """Whether `norm` is an eval-mode affine batch norm whose statistics can be folded into the layer before it."""
    return isinstance(norm, (nn.BatchNorm1d, nn.BatchNorm2d)) and not norm.training and norm.track_running_stats \
        and norm.affine


def project_and_normalise(inputs: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, norm: nn.Module,
                          spatial: int) -> torch.Tensor:
    """(inputs @ weight + bias) followed by an eval-mode batch norm, as one matrix product.

    inputs (B, I), weight (I, O·spatial) laid out channel-major, norm over O channels → (B, O·spatial). Folding the
    norm's scale and shift into the product avoids three passes over a (B, O·spatial) tensor; the Latent tab
    finds directions this way on every model switch.
    """
    scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)  # (O,)
    shift = norm.bias - norm.running_mean * scale
    scale, shift = scale.repeat_interleave(spatial), shift.repeat_interleave(spatial)  # (O·spatial,)
    if bias is not None:
        shift = shift + bias * scale
    return torch.addmm(shift, inputs, weight * scale)
