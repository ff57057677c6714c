"""`bench page-digits` end to end on real MNIST: the served Train tab trains, and its saved steps are judged."""

import pytest

pytestmark = pytest.mark.slow


def test_page_digits_judges_the_steps_a_served_run_saved(shared_data_root):
    from genimg.bench.page import page_time_to_digits

    result = page_time_to_digits(data_root=str(shared_data_root), budget_seconds=12, model_key="cdcgan")
    points = result["points"]
    assert len(points) >= 3
    assert [point["step"] for point in points] == sorted(point["step"] for point in points)
    assert all(0 < point["seconds"] < 60 for point in points)
    assert points[-1]["mean_confidence"] > points[0]["mean_confidence"]  # it learns
    assert "stopped by the user" in result["status"] and result["page_images_per_second"] > 0
