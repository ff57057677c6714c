"""The load test, shortened: simulated users on the Explore handlers while a model trains (run with `-m slow`)."""

from __future__ import annotations

import pytest

from genimg.bench.load import run_load


@pytest.mark.slow  # about a minute: CI runs it in its `pytest -m slow` step
def test_users_and_a_training_run_get_no_errors_and_memory_stays_flat():
    report = run_load(users=5, seconds=10, with_training=True, min_requests=1000)
    assert report.error_count == 0, report.lines(flat_megabytes=5.0)
    assert report.requests >= 1000
    assert "throughout" in report.training
    first, last, _ = report.memory_after_warmup()
    # Generous: glibc's per-thread arenas settle slowly; a leak of even 50 kB a request would show up as 50 MB.
    assert last - first < 40, report.lines(flat_megabytes=5.0)
