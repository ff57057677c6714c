"""Draw one playground view as a crisp square picture (PIL at 2× size, each 2×2 block averaged), with no text in it.

Layers, bottom to top: heat map, faint axes, mesh, trajectories, ellipses, arrows, real points, generated points, marked
points. The page labels the picture itself (in the user's language); colours: real = blue, generated = orange,
D's heat map from orange (says "generated") through white to blue (says "real").
"""

from __future__ import annotations

import math

import numpy
import torch
from PIL import Image, ImageDraw

from genimg.playground.distributions import PLOT_LIMIT
from genimg.playground.views import Arrows, Ellipses

SUPERSAMPLE = 2
DEFAULT_SIZE = 420
BACKGROUND = (255, 255, 255)
AXIS_COLOUR = (0, 0, 0, 28)
REAL_COLOUR = (31, 119, 180, 150)
GENERATED_COLOUR = (230, 110, 20, 200)
MESH_COLOUR = (90, 90, 90, 120)
ARROW_COLOUR = (60, 60, 60, 220)
TRAJECTORY_COLOUR = (120, 120, 120, 70)
# Distinct colours for chosen points and their posterior ellipses (Okabe-Ito, readable with colour-blindness).
MARK_COLOURS = [(0, 114, 178), (213, 94, 0), (0, 158, 115), (204, 121, 167), (86, 180, 233), (230, 159, 0),
                (0, 0, 0), (240, 228, 66)]
HEAT_LOW = numpy.array([250, 200, 155], dtype=numpy.float32)  # D(x) = 0: "generated"
HEAT_MID = numpy.array([255, 255, 255], dtype=numpy.float32)
HEAT_HIGH = numpy.array([160, 200, 235], dtype=numpy.float32)  # D(x) = 1: "real"
ARROW_FRACTION = 0.08  # unscaled arrows: the longest is this share of the plot's width


def _heat_colours(heatmap: torch.Tensor) -> numpy.ndarray:
    """(R, R) values in [0, 1] → (R, R, 3) uint8 on the orange-white-blue scale."""
    values = heatmap.detach().float().clamp(0, 1).numpy()[..., None]
    low_half = HEAT_LOW + (HEAT_MID - HEAT_LOW) * (values * 2)
    high_half = HEAT_MID + (HEAT_HIGH - HEAT_MID) * (values * 2 - 1)
    return numpy.where(values < 0.5, low_half, high_half).round().astype(numpy.uint8)


def render_view(
    *,
    size: int = DEFAULT_SIZE,
    limit: float = PLOT_LIMIT,
    heatmap: torch.Tensor | None = None,
    mesh: torch.Tensor | None = None,
    trajectories: torch.Tensor | None = None,
    ellipses: Ellipses | None = None,
    arrows: Arrows | None = None,
    arrow_scale: float | None = None,
    real: torch.Tensor | None = None,
    generated: torch.Tensor | None = None,
    marked: torch.Tensor | None = None,
    prior_circles: bool = False,
) -> Image.Image:
    """A size × size RGB picture of [-limit, limit]² with the given layers (all optional, plot coordinates).

    heatmap (R, R) in [0, 1], row 0 at the top; mesh (rows, columns, 2), neighbours joined along both axes;
    trajectories (steps + 1, N, 2); ellipses drawn at 1σ and 2σ; arrows drawn as directions × arrow_scale, or when
    arrow_scale is None scaled so the longest is ARROW_FRACTION of the width; real, generated and marked points (N, 2),
    marked points in MARK_COLOURS order (matching the ellipses); prior_circles: the N(0, I) prior's 1σ and 2σ circles.
    """
    if isinstance(size, bool) or not isinstance(size, int) or not 64 <= size <= 2048:
        raise ValueError(f"size {size!r} is not accepted: a whole number of pixels from 64 to 2048")
    canvas_size = size * SUPERSAMPLE
    scale = canvas_size / (2 * limit)

    def to_pixels(points: torch.Tensor) -> numpy.ndarray:
        """(..., 2) plot coordinates → (..., 2) canvas pixels, y pointing down."""
        array = points.detach().float().numpy()
        return numpy.stack([(array[..., 0] + limit) * scale, (limit - array[..., 1]) * scale], axis=-1)

    if heatmap is not None:
        image = Image.fromarray(_heat_colours(heatmap)).resize((canvas_size, canvas_size), Image.Resampling.BILINEAR)
    else:
        image = Image.new("RGB", (canvas_size, canvas_size), BACKGROUND)
    draw = ImageDraw.Draw(image, "RGBA")
    middle = canvas_size / 2
    draw.line([(0, middle), (canvas_size, middle)], fill=AXIS_COLOUR, width=SUPERSAMPLE)
    draw.line([(middle, 0), (middle, canvas_size)], fill=AXIS_COLOUR, width=SUPERSAMPLE)
    if prior_circles:
        for radius in (1.0, 2.0):
            pixels = radius * scale
            draw.ellipse([middle - pixels, middle - pixels, middle + pixels, middle + pixels],
                         outline=AXIS_COLOUR, width=SUPERSAMPLE)

    if mesh is not None:
        grid = to_pixels(mesh)
        polylines = [grid[row] for row in range(grid.shape[0])]
        if grid.shape[0] > 1:
            polylines += [grid[:, column] for column in range(grid.shape[1])]
        for polyline in polylines:
            draw.line([tuple(point) for point in polyline], fill=MESH_COLOUR, width=SUPERSAMPLE, joint="curve")

    if trajectories is not None:
        paths = to_pixels(trajectories)  # (steps + 1, N, 2)
        for particle in range(paths.shape[1]):
            draw.line([tuple(point) for point in paths[:, particle]], fill=TRAJECTORY_COLOUR, width=SUPERSAMPLE)
        _dots(draw, paths[0], 1.5 * SUPERSAMPLE, (120, 120, 120, 140))

    if ellipses is not None:
        centres, spreads = to_pixels(ellipses.centres), ellipses.stds.detach().float().numpy() * scale
        for index, ((x, y), (spread_x, spread_y)) in enumerate(zip(centres, spreads)):
            red, green, blue = MARK_COLOURS[index % len(MARK_COLOURS)]
            for sigmas, alpha in ((2, 50), (1, 110)):
                box = [x - sigmas * spread_x, y - sigmas * spread_y, x + sigmas * spread_x, y + sigmas * spread_y]
                draw.ellipse(box, fill=(red, green, blue, alpha // 2), outline=(red, green, blue, alpha + 60),
                             width=SUPERSAMPLE)

    if arrows is not None:
        _arrows(draw, arrows, arrow_scale, to_pixels, scale, canvas_size)
    if real is not None:
        _dots(draw, to_pixels(real), 2.0 * SUPERSAMPLE, REAL_COLOUR)
    if generated is not None:
        _dots(draw, to_pixels(generated), 2.0 * SUPERSAMPLE, GENERATED_COLOUR)
    if marked is not None:
        for index, (x, y) in enumerate(to_pixels(marked)):
            radius = 4.5 * SUPERSAMPLE
            draw.ellipse([x - radius, y - radius, x + radius, y + radius],
                         fill=MARK_COLOURS[index % len(MARK_COLOURS)], outline=(255, 255, 255), width=SUPERSAMPLE)
    # Averaging each 2×2 block is the exact supersampling filter; LANCZOS looked the same and cost 8-15 ms a frame.
    return image.reduce(SUPERSAMPLE)


def _dots(draw: ImageDraw.ImageDraw, pixels: numpy.ndarray, radius: float, colour: tuple) -> None:
    for x, y in pixels:
        draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=colour)


def _arrows(draw: ImageDraw.ImageDraw, arrows: Arrows, arrow_scale: float | None, to_pixels, scale: float,
            canvas_size: int) -> None:
    directions = arrows.directions.detach().float()
    if arrow_scale is None:
        longest = float(directions.norm(dim=1).max()) if len(directions) else 0.0
        arrow_scale = ARROW_FRACTION * canvas_size / scale / longest if longest > 0 else 0.0
    starts = to_pixels(arrows.origins)
    ends = to_pixels(arrows.origins + directions * arrow_scale)
    for (x0, y0), (x1, y1) in zip(starts, ends):
        length = math.hypot(x1 - x0, y1 - y0)
        if length < SUPERSAMPLE:
            continue
        draw.line([(x0, y0), (x1, y1)], fill=ARROW_COLOUR, width=SUPERSAMPLE)
        head = min(4.0 * SUPERSAMPLE, 0.4 * length)
        unit_x, unit_y = (x1 - x0) / length, (y1 - y0) / length
        left = (x1 - head * (unit_x - 0.5 * unit_y), y1 - head * (unit_y + 0.5 * unit_x))
        right = (x1 - head * (unit_x + 0.5 * unit_y), y1 - head * (unit_y - 0.5 * unit_x))
        draw.polygon([(x1, y1), left, right], fill=ARROW_COLOUR)
