"""`bench load --abuser` for a few seconds: the honest users see no error, every attack of the abusive client is
refused at least once and none of its uploads or forged tokens gets through, the workspaces stay within their
disk budget, and the honest Train-tab user is never behind more than the one run holding the slot.

No latency is asserted here (the machine is shared); `python -m genimg bench load --side-by-side` measures it."""

from __future__ import annotations

import pytest

from genimg.bench.load import (
    ATTACKS,
    AbuserSettings,
    LoadReport,
    comparison_lines,
    p95_ratios,
    run_load,
)


@pytest.mark.slow  # ~1 min, most of it loading the shipped models the honest users explore; CI runs it
def test_the_abuser_is_refused_while_honest_users_see_no_error(monkeypatch):
    monkeypatch.setenv("GENIMG_UPLOAD_MB", "1")  # a 1 MiB cap keeps the over-cap files small
    # Two writes fill a workspace's share, and the address gets enough fresh workspaces to pass the budget
    # several times over: only evicting the longest unused keeps the disk within it.
    settings = AbuserSettings(budget_megabytes=3, share_megabytes=1, chunk_megabytes=0.5, attempts_per_second=10,
                              issue_burst=24, run_seconds=30, model_width=8, http_every_seconds=0.5)
    report = run_load(users=3, seconds=4, abuser=settings)
    abuse = report.abuse
    shown = "\n".join(report.lines(flat_megabytes=5.0))
    assert report.error_count == 0, shown
    assert not abuse.failures, shown
    for attack in ATTACKS:
        assert abuse.count(attack, admitted=False) >= 1, f"no {attack} refused:\n{shown}"
    assert abuse.count("uploads", admitted=False) >= 3, shown  # oversized and bomb through load_zip, the POST
    assert {outcome for (attack, outcome) in abuse.outcomes if attack == "uploads"} >= {
        "refused by load_zip: over the upload cap", "refused by load_zip: zip bomb",
        "refused by the upload route: HTTP 413"}, shown
    assert abuse.count("uploads", admitted=True) == 0, shown
    assert abuse.count("forged tokens", admitted=True) == 0, shown
    assert abuse.count("training Starts", admitted=True) >= 1, shown  # the flood did reach the queue
    assert abuse.count("disk writes", admitted=True) >= 1, shown  # and the disk
    assert abuse.evicted_workspaces >= 1, shown  # the fresh workspaces did press on the budget
    assert 0 < abuse.disk_peak_bytes and abuse.disk_end_bytes <= abuse.budget_bytes, shown
    assert abuse.honest_refused is None and abuse.honest_worst_position in (0, 1), shown


def test_the_side_by_side_ratio_is_per_action_and_says_when_it_passes_the_target():
    alone = LoadReport(20, 60.0, latencies={"slider move": [10.0] * 100, "sample grid": [100.0] * 100})
    beside = LoadReport(20, 60.0, latencies={"slider move": [30.0] * 100, "sample grid": [150.0] * 100})
    ratios = p95_ratios(alone, beside)
    assert ratios["slider move"] == (10.0, 30.0, 3.0)
    assert ratios["sample grid"] == (100.0, 150.0, 1.5)
    assert ratios["all handlers"] == (100.0, 150.0, 1.5)
    assert "3.00×: OVER the 2× target" in comparison_lines(alone, beside)[-1]
    assert "1.00×: within the 2× target" in comparison_lines(alone, alone)[-1]
