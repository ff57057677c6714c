"""The playground bench entry runs and reports its figures (no speed is asserted: the machine's load decides them)."""

import pytest

from genimg.playground.bench import updates_per_second


@pytest.mark.parametrize("family", ["gan", "vae", "flow"])
def test_bench_reports_updates_and_frame_times(family):
    figures = updates_per_second(family, "gaussians8", seconds=0.2, frames=1)
    assert figures["family"] == family and figures["distribution"] == "gaussians8"
    assert figures["updates_per_second"] > 0 and figures["frame_ms"] > 0 and figures["render_ms"] > 0


def test_bench_rejects_bad_arguments():
    with pytest.raises(ValueError, match="family 'gans'"):
        updates_per_second("gans")
    with pytest.raises(ValueError, match="seconds"):
        updates_per_second("gan", seconds=0)
